"""addon/pixels.py: the render is read as the Render window shows it, view transform included,
and written back so that the artist sees that picture."""

from __future__ import annotations

import os
import tempfile

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


@scenario(21.5)
def captured_as_shown():
    """A capture's image written as shown (the live node's: a 16-bit TIFF with the scene's
    colour management) against frames.as_shown of the same render's scene-linear EXR: a look,
    exposure and film transparent (pixels of no alpha and of some)."""
    passes, frames = addon_module("passes"), addon_module("frames")
    scene = bpy.context.scene
    view, r = scene.view_settings, scene.render
    saved = (view.view_transform, view.look, view.exposure, r.film_transparent)
    view.view_transform, view.look, view.exposure, r.film_transparent = "AgX", "AgX - Punchy", 0.7, True
    folders = [tempfile.mkdtemp(dir=env.work) for _ in range(2)]
    tree = passes.scene_tree(scene)
    added = []
    try:
        for folder, shown in zip(folders, (True, False)):
            added += passes.capture(scene, scene.view_layers[0], [], folder, shown=shown)
        passes.render(scene)
        shown = passes.read_captured(scene, folders[0], [], shown=True)[0]
        reference = frames.as_shown(scene, passes.read_captured(scene, folders[1], [])[0])
    finally:
        for node in added:
            tree.nodes.remove(node)
        view.view_transform, view.look, view.exposure, r.film_transparent = saved
    alpha = reference[..., 3]
    return {"off": float(np.abs(shown - reference).max() * 255),
            "clear": float((alpha <= 0).mean()), "partly": float(((alpha > 0) & (alpha < 1)).mean())}


def test_the_capture_writes_the_render_as_shown(facts):
    f = fact(facts, "captured_as_shown")
    assert f["off"] <= 0.1, f                       # 16 bits: well within 1/255
    assert f["clear"] > 0.01 and f["partly"] > 0, f    # both kinds of transparency were there


@scenario(22)
def png_packed_as_blender_writes():
    """A byte image's result packed as the PNG the worker encodes (``png_for``, results.keep)
    against the same pixels written by Blender (``write_image``) and packed by it: sRGB and a
    linear colour space, values over the whole range and beyond it."""
    px_mod, results = addon_module("pixels"), addon_module("results")
    rng = np.random.default_rng(22)
    px = rng.uniform(-0.1, 1.1, (37, 53, 4)).astype(np.float32)
    px[:2] = np.arange(256, dtype=np.float32)[None, :53, None] / 255 + np.float32(0.5 / 255)
    out = {}
    for space in ("sRGB", "Linear Rec.709"):
        like = bpy.data.images.new("like", 4, 4, alpha=True)
        like.colorspace_settings.name = space
        theirs = results.keep(px_mod.write_image(px, "blender's", like=like))
        ours = results.keep(px_mod.image_for("ours", 53, 37, False, like),
                            px_mod.png_for(px, px_mod.holds_linear(like)))
        out[space] = {"diff": float(np.abs(pixels(ours) - pixels(theirs)).max()),
                      "ours": [ours.source, ours.file_format, ours.packed_file is not None,
                               ours.is_dirty, ours.colorspace_settings.name]}
        for image in (like, theirs, ours):
            bpy.data.images.remove(image)
    return out


def test_a_packed_png_holds_what_blender_would(facts):
    """The bytes are Blender's own (0 difference), and the image is its packed PNG file."""
    f = fact(facts, "png_packed_as_blender_writes")
    for space, found in f.items():
        assert found["diff"] == 0.0, f
        assert found["ours"] == ["FILE", "PNG", True, False, space], f
