"""`make demo`'s script: every method runs on the example, StyleBank with a bank name."""

from __future__ import annotations

import numpy as np
import pytest

import demo
import nst_core
from conftest import DATA


def test_demo_writes_every_method(tmp_path):
    if not (DATA / demo.CONTENT).is_file():
        pytest.skip("../shared/data is needed for the demo's example")
    assert demo.main(["--data", str(DATA), "--out", str(tmp_path)]) == 0
    content = nst_core.load_image(DATA / demo.CONTENT)[..., :3]
    for method in nst_core.METHODS:
        out = nst_core.load_image(tmp_path / f"{method}.png")[..., :3]
        assert out.shape == content.shape
        assert np.abs(out - content).mean() > 0.02, method     # it did stylize
    assert (tmp_path / "strip.jpg").is_file() and (tmp_path / "gallery.jpg").is_file()
    assert demo.bank_for(demo.STYLE) == "vangogh_starry_night"  # the painting's own bank
