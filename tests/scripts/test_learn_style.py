"""scripts/learn_style.py: a new StyleBank style from one image, found by `nst` afterwards; and
`nst learn-style`, which needs no torch and says where training lives."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import nst_core
from conftest import DATA, ROOT, SCRIPTS

A = "vangogh_starry_night"


def _nst(*args, env=None):
    return subprocess.run([sys.executable, "-m", "nst_core", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})})


def _learn(*args, env=None):
    return subprocess.run([sys.executable, str(SCRIPTS / "learn_style.py"), *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_nst_learn_style_says_where_training_lives():
    r = _nst("learn-style", "x.jpg", "--name", "y")
    assert r.returncode == 2 and "scripts/learn_style.py" in r.stderr and "torch" in r.stderr
    assert "Traceback" not in r.stderr


def test_learn_style_makes_a_usable_bank(tmp_path):
    pytest.importorskip("torch")
    style = DATA / "style" / "candy.jpg"
    if not style.is_file() or not (ROOT / "build" / "weights" / "encoder5.pth").is_file():
        pytest.skip("../shared/data and the fetched weights are needed")
    env = {"NST_STYLES_DIR": str(tmp_path / "styles")}
    r = _learn(style, "--name", "candy_test", "--steps", "2", "--size", "64",
               "--batch", "1", "--device", "cpu", env=env)
    assert r.returncode == 0, r.stderr
    assert "step 2/2" in r.stderr and "s left" in r.stderr          # progress and time estimate
    assert (tmp_path / "styles" / "candy_test.npz").is_file()
    meta = json.loads(str(np.load(tmp_path / "styles" / "candy_test.npz")["meta"]))
    assert (meta["steps"], meta["lr"], meta["style_weight"]) == (2, 1e-3, 2.0)    # learn-style's recipe
    assert nst_core.load_image(tmp_path / "styles" / "candy_test.png").shape[:2] == (128, 128)
    r = _nst("styles", env=env)
    assert "candy_test" in r.stdout and "learned" in r.stdout
    r = _learn(style, "--name", A, "--steps", "1", env=env)
    assert r.returncode == 2 and "is a built-in style" in r.stderr
    r = _learn(style, "--name", "candy_test", "--steps", "1", env=env)
    assert r.returncode == 2 and "--overwrite" in r.stderr
