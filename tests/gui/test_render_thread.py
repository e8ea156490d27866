"""A render in a real Blender window (Debian's 4.3 under Xvfb, as test_gui.py) runs in a thread of
its own: the live node's capture must not change Blender data from it. thread_driver.py renders
60 F12 stills and 8 Ctrl+F12 (half cancelled with Esc, half with Lock Interface) with the
Compositor's node editor open and redrawn; the code that added the capture from the render's
thread crashed there at still 19 and still 4 (two runs; docs/farm.md)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE))
import chroot  # noqa: E402

STILLS, ANIMATIONS = 60, 8


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    style = DATA / "style" / "vangogh_starry_night.jpg"
    if not style.is_file():
        pytest.skip(f"{style} not available")
    root = chroot.ensure_or_skip("real Blender window")
    work = tmp_path_factory.mktemp("thread")
    (work / "out").mkdir()
    zip_path = chroot.extension_zip(work)
    shutil.copy2(HERE / "thread_driver.py", work / "thread_driver.py")
    shutil.copy2(style, work / "style.jpg")
    args = {"zip": f"/nst/{zip_path.name}", "style": "/nst/style.jpg", "out": "/nst/out",
            "stills": STILLS, "animations": ANIMATIONS}
    log = chroot.window_blender(root, work, "thread_driver.py", args, 96, timeout=1000)
    done = work / "out" / "renders.jsonl"
    lines = done.read_text().splitlines() if done.is_file() else []
    return {"rc": (work / "rc").read_text().strip() if (work / "rc").is_file() else None,
            "done": (work / "out" / "done").is_file(), "log": log[-3000:],
            "renders": [json.loads(line) for line in lines]}


def test_blender_renders_on_without_crashing(renders):
    """Blender ends every render and quits by itself (exit 0; a segmentation fault is 139)."""
    errors = [r["error"] for r in renders["renders"] if "error" in r]
    assert not errors, errors
    assert renders["rc"] == "0" and renders["done"], (renders["rc"], len(renders["renders"]),
                                                      renders["log"])
    assert len(renders["renders"]) == STILLS + ANIMATIONS


def test_each_render_is_stylized_and_its_capture_goes(renders):
    """Every still is shown stylized and every frame written stylized (up to Esc); afterwards no
    capture node is left and the view layer's passes are as the artist set them."""
    for r in renders["renders"]:
        if r["kind"] == "still":
            assert r["ended"] == ["complete"] and "stylized into image 'NST Render'" in r["report"], r
        else:
            frames = [f for f in r["files"] if f.endswith(".png")]
            assert r["ended"] == (["cancelled"] if r["i"] % 2 == 0 else ["complete"]), r
            assert frames and r["report"] == f"frames 1–{len(frames)} written stylized", r
        assert r["left"] == [] and r["passes_back"], r
