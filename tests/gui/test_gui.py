"""The extension in a real Blender window (`make test-gui`, part of `make test`): Debian 13's
Blender 4.3 under Xvfb in a chroot (chroot.py), driven by driver.py, which records what happened
in facts.json and takes screenshots. Skipped, with the reason, where the chroot cannot be made
(no root, no debootstrap, no Debian mirror). Screenshots are kept in build/gui/ (NST_GUI_OUT),
full size and as the small JPEGs docs/gui/ shows."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(HERE))
import chroot  # noqa: E402

SIZE = 1024                         # the modal job: Stylize Image, WCT, SIZE² (the issue's)
REDRAW_GAP = 0.25                   # seconds the window may go without running its main loop
SHOTS = ("panel_image", "panel_shader", "panel_compositor", "preferences", "job", "job_done",
         "bad_input", "apply_done", "f12_done")


@pytest.fixture(scope="session")
def gui(tmp_path_factory):
    photo, style = DATA / "content" / "kodak_kodim23.png", DATA / "style" / "vangogh_starry_night.jpg"
    if not style.is_file() or not photo.is_file():
        pytest.skip(f"{DATA} not available")
    root = chroot.ensure_or_skip("real Blender window")
    work = tmp_path_factory.mktemp("gui")
    (work / "out").mkdir()
    zip_path = chroot.extension_zip(work)
    shutil.copy2(HERE / "driver.py", work / "driver.py")
    img = Image.open(photo).convert("RGB")
    side = min(img.size)
    box = ((img.width - side) // 2, (img.height - side) // 2)
    img.crop((*box, box[0] + side, box[1] + side)).resize((SIZE, SIZE), Image.LANCZOS).save(work / "photo.png")
    shutil.copy2(style, work / "style.jpg")
    args = {"zip": f"/nst/{zip_path.name}", "photo": "/nst/photo.png", "style": "/nst/style.jpg",
            "out": "/nst/out", "size": SIZE}
    log = chroot.window_blender(root, work, "driver.py", args, 97, timeout=700)
    facts_file = work / "out" / "facts.json"
    assert facts_file.is_file(), f"the driver wrote no facts; Blender's output:\n{log[-4000:]}"
    facts = json.loads(facts_file.read_text())
    keep = Path(os.environ.get("NST_GUI_OUT", ROOT / "build" / "gui"))
    keep.mkdir(parents=True, exist_ok=True)
    for png in (work / "out").glob("*.png"):      # full size, and small for docs/gui/
        shutil.copy2(png, keep / png.name)
        small = Image.open(png).convert("RGB")
        small.resize((960, 600), Image.LANCZOS).save(keep / f"{png.stem}.jpg", quality=82)
    (keep / "facts.json").write_text(json.dumps(facts, indent=1))
    (keep / "blender.log").write_text(log)
    facts["log"], facts["shots"] = log, work / "out"
    return facts


def test_extension_installs_in_debian_blender(gui):
    assert "error" not in gui, gui.get("error")
    assert gui["installed"].endswith("neural_style_transfer")
    assert gui["blender"].startswith("4.3") and gui["python"].startswith("3.13")


@pytest.mark.parametrize("panel", ["NST_PT_image", "NST_PT_shader", "NST_PT_compositor", "preferences"])
def test_panel_draws_without_error(gui, panel):
    assert not gui["draw_errors"].get(panel), gui["draw_errors"][panel]
    assert gui["draws"].get(panel, 0) > 0, f"{panel} never drew: {gui['draws']}"


def test_no_python_error_on_the_console(gui):
    assert "Traceback" not in gui["log"], gui["log"][-4000:]


def test_modal_job_shows_progress_and_keeps_the_window_live(gui):
    assert gui["job_started_by_click"] == "Stylize Image"
    progress = gui["job_progress"]
    assert len(set(progress)) >= 3 and progress == sorted(progress), progress
    assert gui["job_new_images"] == ["photo_styled"], gui["job_new_images"]
    assert gui["tick_gaps_max"] < REDRAW_GAP, gui["tick_gaps_max"]
    # Each new progress is on the screen within REDRAW_GAP (the sidebar redraws only on a change)
    assert gui["progress_values"] >= 3 and gui["draws_during_job"] >= 3, gui
    assert gui["draw_lag_max"] is not None and gui["draw_lag_max"] < REDRAW_GAP, (
        gui["draw_lag_worst"], gui["tick_gaps_worst"])


def test_second_job_is_refused_with_a_message(gui):
    assert "still running" in gui["second_job"], gui["second_job"]


def test_escape_cancels_and_nothing_is_written(gui):
    assert gui["cancel_invoke"] == ["RUNNING_MODAL"] and "escape_at" in gui
    assert "cancelled; nothing was changed" in gui["cancel_report"], gui["cancel_report"]
    assert gui["cancel_new_images"] == [] and gui["cancel_photo_unchanged"]


def test_bad_input_is_reported(gui):
    assert "style image not found: /nst/no_such_style.jpg" in gui["bad_input"], gui["bad_input"]
    assert gui["bad_input_new_images"] == []


@pytest.mark.parametrize("name", SHOTS)
def test_screenshot_shows_blender(gui, name):
    shot = np.asarray(Image.open(gui["shots"] / f"{name}.png").convert("RGB"), np.float32)
    assert shot.shape[:2] == (1000, 1600)
    assert shot.std() > 10, f"{name}.png is blank"


def test_apply_styles_runs_modally_into_the_compositor(gui):
    assert gui["apply_invoke"] == ["RUNNING_MODAL"], gui["apply_invoke"]
    assert "'NST Style' updated with 1 style(s)" in gui["apply_report"], gui["apply_report"]
    assert gui["apply_result_size"] == [160, 90] and gui["apply_group_in_tree"]


def test_apply_styles_renders_the_clean_plate_in_a_window(gui):
    """The cube moves over the shot: Apply Styles (modal, Temporal Coherence 1) rendered the set
    without it and packed it into the file: the plate is the world's grey all over, where frame
    2's plain render has the cube on it."""
    assert "clean plate rendered without what moves (Cube)" in gui["apply_report"], gui["apply_report"]
    assert gui["plate"] == {"name": "Scene NST Clean Plate", "size": [160, 90], "packed": True}, gui["plate"]
    plate = np.load(gui["shots"] / "plate.npy")[::-1, :, :3]
    frame2 = np.asarray(Image.open(gui["shots"] / "f12_plain.png").convert("RGB"), np.float32) / 255
    world = np.median(frame2.reshape(-1, 3), 0)             # the scene has no floor: the world
    cube = np.abs(frame2 - world).max(-1) > 0.01
    assert 0.02 < cube.mean() < 0.4, cube.mean()
    assert np.abs(plate - world).max() < 0.01, np.abs(plate - world).max()


def test_f12_with_the_nst_style_node_shows_that_frame_stylized(gui):
    """F12 at frame 2 (Apply Styles ran at frame 1): the still is stylized after the render, as
    a job, and the Render window shows it; before, the window showed the plain render."""
    assert gui["f12_invoke"] == ["RUNNING_MODAL"], gui["f12_invoke"]
    assert "frame 2 stylized into image 'NST Render'" in gui["f12_report"], gui["f12_report"]
    assert gui["f12_image_size"] == [160, 90] and "NST Render" in gui["f12_shown"], gui["f12_shown"]
    assert gui["f12_off_plain"] > 10, gui["f12_off_plain"]


def test_ctrl_f12_writes_stylized_frames_and_esc_leaves_whole_ones(gui):
    """Blender's own animation render in a window, the NST Style node live: Esc once frame 2
    is written cancels the render as usual, and what is on disk is whole frames, stylized
    once the render ended, by a job (the window answers while a worker stylizes each in turn)."""
    assert gui["live_invoke"] == ["RUNNING_MODAL"], gui["live_invoke"]
    assert gui["live_ended"] == ["cancelled"], gui["live_ended"]
    files = gui["live_files"]
    assert files[:2] == ["frame_0001.png", "frame_0002.png"] and len(files) < 12, files
    assert files == [f"frame_{f:04d}.png" for f in range(1, len(files) + 1)], files
    assert all(f.endswith(".png") and "partial" not in f for f in files), files
    assert gui["live_frame2_off_plain"] > 10, gui["live_frame2_off_plain"]
    assert gui["live_shown"] == ["NST Last Frame", files[-1]], gui["live_shown"]  # the last one,
                                                                    # where the render was shown
    assert gui["live_jobs"] == ["Stylize the Rendered Frames"], gui["live_jobs"]
    assert gui["live_report"] == f"frames 1–{len(files)} written stylized", gui["live_report"]


def test_ctrl_f12_to_a_video_encodes_the_stylized_frames(gui):
    """Blender's own animation render in a window to an FFmpeg video: the job after the render
    stylizes its frames and the video file is encoded again with them (frame 2 decoded is not
    the plain render)."""
    assert gui["video_report"] == "frames 1–4 written stylized", gui["video_report"]
    assert gui["video_files"] == ["shot_0001-0004.mkv"], gui["video_files"]
    assert gui["video_frame2_off_plain"] > 10, gui["video_frame2_off_plain"]


def test_a_node_after_the_nst_node_is_in_the_frames_written_and_shown(gui):
    """A Flip X after the NST Style node: Ctrl+F12 in the window writes each frame stylized and
    flipped (frame 2 is the earlier render's frame 2 mirrored), and F12 shows 'NST Render'
    mirrored too: the nodes after the node apply to the stylized frame (addon/after.py)."""
    assert gui["after_report"] == "frames 1–2 written stylized", gui["after_report"]
    assert gui["after_files"] == ["frame_0001.png", "frame_0002.png"], gui["after_files"]
    assert gui["after_off_unflipped"] > 3, gui["after_off_unflipped"]     # (9.3 measured)
    assert gui["after_off_flipped"] < 1.0, gui["after_off_flipped"]       # (0.09)
    assert "frame 2 stylized into image 'NST Render'" in gui["after_f12_report"], gui
    assert gui["after_f12_off_flipped"] < 1.0, gui["after_f12_off_flipped"]


def test_escape_during_an_animation_keeps_the_finished_frames_and_says_so(gui):
    assert gui["animation_invoke"] == ["RUNNING_MODAL"], gui["animation_invoke"]
    said, files = gui["animation_report"], gui["animation_files"]
    match = re.search(r"cancelled; frames 1–(\d+) written to .*, stopped at (\d+)", said)
    assert match, said
    last, stopped = int(match.group(1)), int(match.group(2))
    assert stopped == last + 1 <= 4                         # it stopped before the end
    assert files == [f"frame_{i:04d}.png" for i in range(1, last + 1)], (said, files)
    assert gui["animation_sizes"] == [[160, 90]] * last     # each one whole


@pytest.mark.parametrize("case, words", [
    ("deleted", "was deleted while it was being stylized; nothing was written"),
    ("undone", "Undo or Redo changed the file"),
    ("file_opened", "cancelled because another file was opened; nothing was changed"),
])
def test_a_job_whose_world_changes_ends_clearly_and_the_next_one_runs(gui, case, words):
    """The target deleted, Ctrl+Z, another file opened mid-job: a clear message, nothing
    half-written, and the next job runs and finishes (the job system used to stay locked)."""
    assert gui[f"{case}_invoke"] == ["RUNNING_MODAL"], gui
    if case == "undone" and not gui["undone_undos_while_running"]:
        # Blender did not undo while the modal job ran (Ctrl+Z reached no undo step): the
        # job must then simply finish, whole
        words = "wrote image 'undone_styled'"
    assert words in gui[f"{case}_report"], gui[f"{case}_report"]
    if "wrote" not in words:
        assert gui[f"{case}_written"] == [], gui[f"{case}_written"]
    assert gui[f"{case}_next"] == ["RUNNING_MODAL"], gui[f"{case}_next"]
    assert gui[f"{case}_next_report"].startswith("wrote image"), gui[f"{case}_next_report"]

