"""scripts/flamenco/nst_stylized_render.js, the Flamenco job type, compiled by node against a
small stand-in of Flamenco's author API (flamenco_standin.js; Flamenco itself does not run
here). tests/gui/test_farm.py runs the Blender commands it authors, for real."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
JOB_TYPE = HERE.parent.parent / "scripts" / "flamenco" / "nst_stylized_render.js"
SETTINGS = {"frames": "1-10", "chunk_size": 4, "warmup_frames": 2, "shot_start": 1,
            "render_output_path": "/shots/s01/frames/######", "make_video": True,
            "blendfile": "/shots/s01/shot.blend", "fps": 24.0, "format": "PNG",
            "image_file_extension": ".png"}


def compile_job(settings: dict) -> dict:
    """The job type's tasks for ``settings`` (or its error), as the stand-in records them."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    r = subprocess.run(["node", str(HERE / "flamenco_standin.js"), str(JOB_TYPE), json.dumps(settings)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def blender_command(task: dict) -> list[str]:
    """The command line a Flamenco worker runs for a task's blender-render command ({blender}:
    the worker's Blender, {blenderArgs}: its default "-b -y")."""
    (command,) = task["commands"]
    assert command["type"] == "blender-render"
    p = command["parameters"]
    return ["blender", "-b", "-y", *p["argsBefore"], p["blendfile"], *p["args"]]


def seam_call(task: dict) -> str:
    """The Python a seam task's Blender runs (``--python-expr``), with ``--python-exit-code 1``
    and the chunks' format (the seam reads and writes the scene's)."""
    args = blender_command(task)[4:]
    assert args[:5] == ["--render-format", "PNG", "--python-exit-code", "1", "--python-expr"], args
    assert len(args) == 6, args
    return args[5]


def test_each_seam_is_dissolved_once_both_its_chunks_are_done():
    """Where a chunk's warm-up overlaps the chunk before it, a seam task (``nst.dissolve_seam``,
    tests/blender/test_seams.py) turns that chunk's frames into the later chunk's painting;
    it waits for both chunks, and the video waits for every seam."""
    tasks = {t["name"]: t for t in compile_job(SETTINGS)["tasks"]}
    assert list(tasks) == ["render-1-4", "render-5-8", "render-9-10", "seam-5", "seam-9", "video"]
    assert tasks["seam-5"]["dependencies"] == ["render-1-4", "render-5-8"]
    assert tasks["seam-9"]["dependencies"] == ["render-5-8", "render-9-10"]
    assert seam_call(tasks["seam-5"]) == (
        'import bpy; assert bpy.ops.nst.dissolve_seam(output="/shots/s01/frames/######", '
        'overlap="/shots/s01/frames/_nst_warmup/chunk_5/######", frame_start=3, frame_end=4) '
        "== {'FINISHED'}")
    assert "frame_start=7, frame_end=8" in seam_call(tasks["seam-9"])
    assert tasks["video"]["dependencies"] == list(tasks)[:-1]
    # a warm-up longer than the chunk before: only that chunk's frames are dissolved, so no two
    # seams rewrite one frame
    tasks = {t["name"]: t for t in compile_job({**SETTINGS, "warmup_frames": 6})["tasks"]}
    assert "frame_start=5, frame_end=8" in seam_call(tasks["seam-9"])
    assert blender_command(tasks["render-9-10"])[9:12] == ["3", "--frame-end", "8"]


def test_the_warm_up_is_longer_where_the_shot_has_no_clean_plate():
    """The submit panel's default, as Blender evaluates it: 8 frames for a shot whose camera
    or a light moves (Apply Styles stored why: ``no_plate``), else 2 (tests/blender/
    test_plates.py evaluates it in Blender)."""
    job_type = compile_job(SETTINGS)["job_type"]
    (warm,) = [s for s in job_type["settings"] if s["key"] == "warmup_frames"]

    class Scene:
        def __init__(self, nst):
            self.nst = nst

    class C:
        scene = Scene({"no_plate": "the camera moves"})
    assert eval(warm["eval"], {"C": C}) == 8
    C.scene = Scene({})
    assert eval(warm["eval"], {"C": C}) == 2


def test_chunks_warm_up_on_the_frames_before_them():
    tasks = compile_job(SETTINGS)["tasks"]
    assert [t["name"] for t in tasks][:3] == ["render-1-4", "render-5-8", "render-9-10"]
    first, second, third = (blender_command(t) for t in tasks[:3])
    # the shot's first chunk has nothing before it; the others render the 2 frames before them
    # into a scratch folder, then their own, in the same Blender process (the still set comes
    # from the clean plate in every chunk: the shot's first frame, rendered first until
    # 2026-12-05, gave the same frames)
    assert first[4:] == ["--render-output", "/shots/s01/frames/######", "--render-format", "PNG",
                         "--frame-start", "1", "--frame-end", "4", "--render-anim"]
    scratch = ["--render-output", "/shots/s01/frames/_nst_warmup/chunk_5/######", "--render-format", "PNG"]
    assert second[4:] == [*scratch, "--frame-start", "3", "--frame-end", "4", "--render-anim",
                          "--render-output", "/shots/s01/frames/######",
                          "--render-format", "PNG", "--frame-start", "5", "--frame-end", "8",
                          "--render-anim"]
    assert third[9:12] == ["7", "--frame-end", "8"]
    video = tasks[-1]
    assert video["type"] == "ffmpeg" and video["dependencies"][:3] == ["render-1-4", "render-5-8",
                                                                       "render-9-10"]
    assert video["commands"][0]["parameters"]["inputGlob"] == "/shots/s01/frames/*.png"


def test_no_warm_up_and_no_video_when_asked():
    tasks = compile_job({**SETTINGS, "warmup_frames": 0, "make_video": False})["tasks"]
    assert [t["name"] for t in tasks] == ["render-1-4", "render-5-8", "render-9-10"]
    assert all(blender_command(t).count("--render-anim") == 1 for t in tasks)


def test_warm_up_stops_at_the_shots_first_frame():
    tasks = compile_job({**SETTINGS, "frames": "2-5", "chunk_size": 2, "shot_start": 1,
                         "warmup_frames": 5})["tasks"]
    assert blender_command(tasks[0])[9:12] == ["1", "--frame-end", "1"]     # one frame: 1
    assert blender_command(tasks[1])[9:12] == ["1", "--frame-end", "3"]     # from the first
    assert blender_command(tasks[1]).count("--render-anim") == 2


@pytest.mark.parametrize("frames", ["1-4,8-9", "9-3", "all"])
def test_a_range_it_cannot_follow_is_refused_with_the_reason(frames):
    out = compile_job({**SETTINGS, "frames": frames})
    assert "error" in out and (f'"{frames}"' in out["error"])
