"""addon/render.py: Stylize Render, stylizing after each still render, Stylize Animation."""

from __future__ import annotations

import os

import pytest

from harness import env, fact, pixels, scenario

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
    scene.nst.after_render, scene.nst.render_style_path, scene.nst.method = True, env.style, "ADAIN"
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
