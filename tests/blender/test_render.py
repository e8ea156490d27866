"""addon/render.py: Stylize Render, stylizing after each still render, Stylize Animation."""

from __future__ import annotations

import os

import pytest

from harness import addon_module, env, error_of, fact, pixels, scenario

bpy = pytest.importorskip("bpy")


@scenario(20)
def stylize_render():
    r = bpy.ops.nst.stylize_render(style_path=env.style, method="ADAIN")
    image = bpy.data.images.get("Render_styled")
    return {"result": sorted(r), "size": list(image.size), "mean": float(pixels(image)[..., :3].mean())}


def test_stylize_render(facts):
    f = fact(facts, "stylize_render")
    assert f["result"] == ["FINISHED"] and f["size"] == [96, 64] and f["mean"] > 0.01


@scenario(40)
def after_each_render():
    scene = bpy.context.scene
    old = bpy.data.images.get("Render_styled")
    if old is not None:
        bpy.data.images.remove(old)
    scene.nst.after_render, scene.nst.style_path, scene.nst.method = True, env.style, "ADAIN"
    bpy.ops.render.render()
    scene.nst.after_render = False
    image = bpy.data.images.get("Render_styled")
    return {"exists": image is not None, "size": list(image.size) if image else None}


def test_after_each_render(facts):
    f = fact(facts, "after_each_render")
    assert f["exists"] and f["size"] == [96, 64]


@scenario(41)
def animation():
    folder = os.path.join(env.work, "frames")
    r = bpy.ops.nst.stylize_animation(style_path=env.style, method="ADAIN", directory=folder + os.sep)
    return {"result": sorted(r), "files": sorted(os.listdir(folder)) if os.path.isdir(folder) else []}


def test_animation_writes_every_frame(facts):
    f = fact(facts, "animation")
    assert f["result"] == ["FINISHED"] and f["files"] == ["frame_0001.png", "frame_0002.png"]


@scenario(42)
def animation_unsaved_file():
    """The default folder //nst_frames/ is relative to a .blend file this scene does not have."""
    assert not bpy.data.filepath
    before = set(os.listdir(os.getcwd()))
    said = error_of(lambda: bpy.ops.nst.stylize_animation(style_path=env.style, method="ADAIN"))
    return {"said": said, "new_in_cwd": sorted(set(os.listdir(os.getcwd())) - before)}


def test_animation_in_an_unsaved_file_says_save_first(facts):
    f = fact(facts, "animation_unsaved_file")
    assert f["said"].startswith("Error:") and "not saved yet" in f["said"]
    assert f["new_in_cwd"] == []                  # no nst_frames/ in the working directory


@scenario(43)
def animation_cancelled():
    """Cancel while frame 2 of 1..3 is stylized: frame 1 stays whole, nothing else is left, and
    the report says so."""
    jobs = addon_module("jobs")
    folder = os.path.join(env.work, "cancelled")

    def cancel_at_two(scene, *_):       # after frame 2's render (the motion vectors' render
        if scene.frame_current == 2:    # visits frame 2 while it renders frame 1)
            jobs.STATE.cancel.set()
    bpy.app.handlers.render_post.append(cancel_at_two)
    try:
        r = bpy.ops.nst.stylize_animation(style_path=env.style, method="ADAIN", frame_start=1,
                                          frame_end=3, directory=folder + os.sep)
    finally:
        bpy.app.handlers.render_post.remove(cancel_at_two)
    files = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    first = bpy.data.images.load(os.path.join(folder, "frame_0001.png")) if "frame_0001.png" in files else None
    size = list(first.size) if first else None
    return {"result": sorted(r), "files": files, "report": jobs.STATE.last_report, "size": size}


def test_cancelled_animation_keeps_finished_frames_and_says_so(facts):
    f = fact(facts, "animation_cancelled")
    assert f["result"] == ["CANCELLED"]
    assert f["files"] == ["frame_0001.png"] and f["size"] == [96, 64]     # whole, nothing partial
    assert "frames 1–1 written to" in f["report"] and "stopped at 2" in f["report"]
    assert "nothing was changed" not in f["report"]
