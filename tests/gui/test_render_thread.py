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
    (work / "enable.py").write_text(             # the file saved during Ctrl+F12, opened by a
        "import addon_utils\n"                   # new Blender with the extension enabled first
        "addon_utils.enable('bl_ext.user_default.neural_style_transfer', default_set=True)\n")
    (work / "report.py").write_text(
        "import bpy, json\nscene = bpy.context.scene\nlayer = scene.view_layers[0]\n"
        "print('REOPENED ' + json.dumps({'left': [n.name for n in scene.node_tree.nodes "
        "if n.label == 'NST temporary'], 'passes': [layer.use_pass_vector, layer.use_pass_z]}))\n")
    opened = chroot.run(root, work, "HOME=/nst/home blender -b --python /nst/enable.py "
                        "/nst/out/saved_mid_render.blend --python /nst/report.py", timeout=300)
    lines += [line.split(" ", 1)[1] for line in opened.stdout.splitlines()
              if line.startswith("REOPENED ")]
    return {"rc": (work / "rc").read_text().strip() if (work / "rc").is_file() else None,
            "done": (work / "out" / "done").is_file(), "log": log[-3000:],
            "renders": [json.loads(line) for line in lines]}


def test_blender_renders_on_without_crashing(renders):
    """Blender ends every render and quits by itself (exit 0; a segmentation fault is 139)."""
    errors = [r["error"] for r in renders["renders"] if "error" in r]
    assert not errors, errors
    assert renders["rc"] == "0" and renders["done"], (renders["rc"], len(renders["renders"]),
                                                      renders["log"])
    assert len([r for r in renders["renders"] if "kind" in r]) == STILLS + ANIMATIONS + 6


def _kind(renders, kind: str) -> dict:
    found = [r for r in renders["renders"] if r.get("kind") == kind]
    assert found, f"no '{kind}' in {[r.get('kind') for r in renders['renders']]}"
    return found[0]


def test_each_render_is_stylized_and_its_capture_goes(renders):
    """Every still is shown stylized and every frame written stylized (up to Esc); afterwards no
    capture node is left and the view layer's passes are as the artist set them."""
    for r in renders["renders"]:
        if r.get("kind") not in ("still", "animation"):
            continue
        if r["kind"] == "still":
            assert r["ended"] == ["complete"] and "stylized into image 'NST Render'" in r["report"], r
        else:
            frames = [f for f in r["files"] if f.endswith(".png")]
            assert r["ended"] == (["cancelled"] if r["i"] % 2 == 0 else ["complete"]), r
            assert frames and r["report"] == f"frames 1–{len(frames)} written stylized", r
        assert r["left"] == [] and r["passes_back"], r


def test_frames_go_into_the_files_blender_wrote_when_the_output_changes_after(renders):
    """The Output path changed as the render ends (to a folder of earlier frames): the frames
    are stylized into the files Blender wrote; the other folder is untouched (before: written
    over). The format changed: the frames keep Blender's plain render, and the report says why."""
    moved, changed = _kind(renders, "moved"), _kind(renders, "format")
    assert moved["report"] == "frames 1–3 written stylized" and moved["earlier_untouched"], moved
    assert len(moved["files"]) == 3 and moved["left"] == [] and moved["passes_back"], moved
    assert "frames 1–3 kept Blender's plain render: the Output properties changed" \
        in changed["report"] and changed["earlier_untouched"], changed


def test_a_file_saved_during_a_render_opens_without_its_capture(renders):
    """Saved while Ctrl+F12 ran, the file held the capture's File Output node and the passes it
    turned on (an artist trial: every later render wrote into its gone folder); reopened, both
    are gone, the passes as the artist set them."""
    saved = _kind(renders, "saved")
    reopened = [r for r in renders["renders"] if "kind" not in r and "left" in r]
    assert reopened, "the saved file was not opened"
    assert reopened[0]["left"] == [] and reopened[0]["passes"] == saved["passes_before"], reopened


def test_a_render_left_plain_says_so_in_the_window(renders):
    """F12 with Compositing off (the node not applied): the status bar and the Info log say the
    render is not stylized and why (an artist trial: it was said on the console only)."""
    off = _kind(renders, "compositing_off")
    assert off["ended"] == ["complete"] and "Compositing is off" in off["report"], off
    assert "this render is not stylized: Compositing is off" in _kind(renders, "saved")["info_log"]


def test_two_animation_renders_in_a_row_each_have_their_own_job(renders):
    """Ctrl+F12 again before the first's frames were stylized: each render's frames are stylized
    by a job of their own, which says what it did (before: one report, "frames 1, 2, 3, 1, 2, 3
    written stylized")."""
    twice = _kind(renders, "twice")
    assert twice["ended"] == ["complete", "complete"] and twice["files"] == [
        ["frame_0001.png", "frame_0002.png", "frame_0003.png"]] * 2, twice
    assert twice["report"] == "frames 1–3 written stylized", twice
    assert "1, 2, 3, 1" not in _kind(renders, "saved")["info_log"]


def test_esc_on_the_frames_job_says_what_each_frame_holds(renders):
    """Esc as the frames' job starts: the frames left keep what Blender wrote, which at the
    frame Apply Styles was made at (1) is Apply's picture, not the plain render (said before)."""
    said = _kind(renders, "job_esc")["report"]
    assert "cancelled" in said and "keep Blender's plain render (frame 1: Apply Styles' " \
        "picture)" in said, said


def test_the_last_frames_shown_are_one_image_data_block(renders):
    """Each Ctrl+F12 shows its last frame as written, all in one image read again from each
    render's file (an artist trial: one more data-block per render, frame_0003.png.001, ...)."""
    images = _kind(renders, "saved")["images"]
    assert [n for n, path in images.items() if path.startswith("/nst/out/")] \
        == ["NST Last Frame"], images


def test_no_capture_folder_is_left_behind(renders):
    """Every render's temporary capture folder is removed once its frames or still are
    stylized; two F12 in a row, the first not stylized in time, included (an artist trial: the
    first's folder stayed)."""
    assert _kind(renders, "saved")["capture_folders"] == [], _kind(renders, "saved")
