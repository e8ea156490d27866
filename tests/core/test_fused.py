"""The one-tile device path (nst_core/fused.py) against the tiled numpy path, run on the CPU.

On CUDA one-tile calls take the fused path; here both paths run on the CPU so the path a GPU
user gets is checked on every machine.
"""

from __future__ import annotations

import numpy as np
import pytest

import nst_core
from conftest import _load, styles_for
from nst_core import fused, pipeline

TOL = 0.5 / 255     # float32 statistics on the device vs float64 in numpy


@pytest.fixture
def calls(monkeypatch):
    """Counts the calls that took the fused path."""
    taken = []
    original = fused.run

    def spy(*args, **kwargs):
        taken.append(1)
        return original(*args, **kwargs)
    monkeypatch.setattr(fused, "run", spy)
    return taken


def _both(monkeypatch, calls, runtime, content, style, **kw):
    monkeypatch.setattr(pipeline, "FUSED_DEVICES", ())
    tiled = nst_core.stylize(content, style, runtime=runtime, **kw).image
    assert not calls
    monkeypatch.setattr(pipeline, "FUSED_DEVICES", (runtime.device.name,))
    device = nst_core.stylize(content, style, runtime=runtime, **kw).image
    assert len(calls) == 1, "the fused path was not taken"
    return tiled, device


@pytest.fixture(scope="module")
def rgba():
    """An RGBA image whose sides are off the 16-pixel grid (padding, cropping, alpha), large
    enough that level 5's 128-channel covariance has full rank (12×16 features). Below that,
    WCT's whitening magnifies float32 rounding along near-null directions: at 117×181 (8×12
    features) the two paths differed by 0.22-2.6/255 across six crops of three photos, at
    181×245 by 0.02-0.21/255."""
    h, w = 181, 245
    photo = _load("content/kodak_kodim23.png", (192, 256))[:h, :w]
    return np.concatenate([photo, np.linspace(0, 1, h * w).reshape(h, w, 1)], 2)


@pytest.mark.parametrize("method", nst_core.METHODS)
@pytest.mark.parametrize("options", [{}, {"alpha": 0.6, "preserve_color": True}, {"weights": [0.3, 0.7]}])
def test_fused_path_matches_tiled_path(monkeypatch, calls, runtime, rgba, painting, painting2,
                                       method, options):
    content = np.round(rgba * 255).astype(np.uint8)     # 8-bit
    a, b = styles_for(method, painting, painting2)
    style = [a, b] if "weights" in options else a
    tiled, device = _both(monkeypatch, calls, runtime, content, style, method=method, **options)
    assert device.shape == tiled.shape == rgba.shape
    np.testing.assert_array_equal(device[..., 3], tiled[..., 3])
    assert np.abs(device - tiled).max() <= TOL
    assert np.abs(device[..., :3] - rgba[..., :3]).mean() > 0.02      # it did stylize


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_fused_path_reads_every_accepted_dtype(monkeypatch, calls, runtime, photo, painting, dtype):
    content = (photo * 65535).astype(np.uint16) if dtype == np.uint16 else photo.astype(np.float32)
    tiled, device = _both(monkeypatch, calls, runtime, content, painting, method="adain")
    assert np.abs(device - tiled).max() <= TOL


def test_fused_path_not_taken_where_it_does_not_apply(monkeypatch, calls, runtime, photo, painting):
    monkeypatch.setattr(pipeline, "FUSED_DEVICES", (runtime.device.name,))
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[:, :96] = 1
    nst_core.stylize(photo, painting, "adain", masks=[mask], runtime=runtime)      # masks
    nst_core.stylize(photo, painting, "adain", tile_size=64, runtime=runtime)      # tiles
    nst_core.stylize(photo, painting, "adain", seamless=True, runtime=runtime)     # wrap-around
    nst_core.stylize(photo[..., 0], painting, "adain", runtime=runtime)            # grey
    assert not calls
    # under 32 px the path does not apply (stylize now runs such content scaled up to 32 px)
    assert not fused.usable(runtime, photo[:20], [None], False, False, 1)
    assert fused.usable(runtime, photo[:32], [None], False, False, 1)
    nst_core.stylize(photo, painting, "adain", runtime=runtime)
    assert len(calls) == 1
