"""addon/pixels.py: the render is read as the Render window shows it, view transform included,
and written back so that the artist sees that picture."""

from __future__ import annotations

import os

import numpy as np
import pytest

from harness import addon_module, env, fact, pixels, render_as_shown, scenario

bpy = pytest.importorskip("bpy")


@scenario(21)
def render_colour_management():
    """AgX with some exposure: the reference is the PNG Blender itself saves of the render
    (what the Render window shows, no dither); compared with what Stylize Render reads, with
    what it writes back when the engine is bypassed, and with the old route (EXR, plain sRGB
    curve)."""
    px_mod, engine = addon_module("pixels"), addon_module("engine")
    scene = bpy.context.scene
    view = scene.view_settings
    settings = scene.render.image_settings
    saved = (view.view_transform, view.exposure, settings.file_format, settings.color_depth)
    view.view_transform, view.exposure = "AgX", 0.3
    try:
        bpy.ops.render.render()
        reference = render_as_shown(scene)
        read = px_mod.read_render_result(scene)[..., :3]
        back = px_mod.write_image(px_mod.read_render_result(scene), "NST colour check")
        back_shown = engine.linear_to_srgb(pixels(back)[::-1][..., :3])
        linear = _render_exr(scene, px_mod)
        old = np.clip(engine.linear_to_srgb(linear[..., :3]), 0, 1)
        view_as_render = back.use_view_as_render
        bpy.data.images.remove(back)
    finally:
        view.view_transform, view.exposure, settings.file_format, settings.color_depth = saved

    def off(a):
        return float(np.abs(a - reference).max() * 255)
    return {"read": off(read), "back": off(back_shown),
            "old_mean": float(np.abs(old - reference).mean() * 255),
            "view_as_render": view_as_render}


def _render_exr(scene, px_mod):
    path = os.path.join(env.work, "linear.exr")
    settings = scene.render.image_settings
    settings.file_format, settings.color_depth = "OPEN_EXR", "32"
    bpy.data.images["Render Result"].save_render(path, scene=scene)
    return px_mod.read_exr(path)


def test_render_is_read_and_written_back_as_the_render_window_shows_it(facts):
    f = fact(facts, "render_colour_management")
    assert f["read"] <= 1.0 and f["back"] <= 1.0, f           # within 1/255, AgX and exposure included
    assert not f["view_as_render"]                             # shown as it is, not transformed twice
    assert f["old_mean"] > 3.0, f                              # the old route was visibly off
