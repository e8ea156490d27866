"""addon/exr.py: with a multilayer OpenEXR output, the frames Blender's own render writes hold
the stylized frame as their composite and every pass as Blender rendered it; Blender reads the
rewritten files back as it reads its own."""

from __future__ import annotations

import contextlib
import glob
import io
import os

import numpy as np
import pytest

from harness import (SHOT, addon_module, compositor_scene, env, fact, moving_cube_shot, multilayer,
                     one_style, pixels, scenario, tree_of)

bpy = pytest.importorskip("bpy")

PASSES = (("ViewLayer.Combined", "RGBA"), ("ViewLayer.Depth", "Z"), ("ViewLayer.Normal", "XYZ"))


def _as_blender_reads(path: str, layer: str) -> np.ndarray:
    """The Combined pass of ``layer`` in the multilayer file at ``path``, as Blender's compositor
    reads it: an Image node in a scene of its own, written as a one-layer full-float OpenEXR."""
    main = bpy.context.scene
    image = bpy.data.images.load(path, check_existing=False)
    try:
        with compositor_scene(main.render.resolution_x, main.render.resolution_y) as (scene, tree,
                                                                                     out):
            node = tree.nodes.new("CompositorNodeImage")
            node.image, node.layer = image, layer
            tree.links.new(node.outputs.get("Combined") or node.outputs["Image"], out.inputs[0])
            settings = scene.render.image_settings
            settings.file_format, settings.color_depth, settings.exr_codec = "OPEN_EXR", "32", "NONE"
            scene.render.filepath = os.path.join(env.work, "exr_read.exr")
            bpy.ops.render.render(write_still=True, scene=scene.name)
        read = bpy.data.images.load(os.path.join(env.work, "exr_read.exr"), check_existing=False)
        px = pixels(read)[::-1].copy()
        bpy.data.images.remove(read)
        return px
    finally:
        bpy.data.images.remove(image)


@scenario(99)
def multilayer_exr_keeps_the_passes():
    """A moving cube stylized by the NST Style node into multilayer OpenEXR frames (ZIP, half
    float), beside the same frames as one-layer OpenEXR and Blender's plain multilayer frames
    (the node muted); then with a codec this module does not write (Blender 5: DWAA, its
    composite written again in ZIP; Blender 4.x: PIZ, the files written in ZIP, said, and the
    codec set back after the render)."""
    scene = bpy.context.scene
    one_style(scene.nst, coherence=0.0)
    slot = scene.nst.slots[0]                           # masked to the cube: the capture turns
    slot.mask_source, slot.mask_index = "OBJECT_INDEX", 3   # its Object Index pass on
    layer, settings = bpy.context.view_layer, scene.render.image_settings
    was = (layer.use_pass_z, layer.use_pass_normal, layer.use_pass_object_index)
    exr = addon_module("exr")
    other = "DWAA" if bpy.app.version >= (5, 0, 0) else "PIZ"
    folders = {k: os.path.join(env.work, "exr_" + k) for k in ("one", "multi", "plain", "other",
                                                               "other_plain", "one_graded",
                                                               "multi_graded")}
    with moving_cube_shot(scene):
        scene.frame_set(1)
        bpy.ops.nst.compositor_apply()
        group = next(n for n in tree_of(scene).nodes
                     if n.type == "GROUP" and n.node_tree.name == "NST Style")
        layer.use_pass_z = layer.use_pass_normal = True     # the artist's passes
        layer.use_pass_object_index = False
        grade = None
        try:
            for kind in folders:
                if kind == "one_graded":        # a node after the NST Style node (after.py)
                    grade = tree_of(scene).nodes.new("CompositorNodeBrightContrast")
                    next(s for s in grade.inputs if s.identifier == "Bright").default_value = 30.0
                    to = group.outputs[0].links[0].to_socket
                    tree_of(scene).links.new(group.outputs[0], grade.inputs["Image"])
                    tree_of(scene).links.new(grade.outputs[0], to)
                if kind.startswith("one"):
                    if hasattr(settings, "media_type"):
                        settings.media_type = "IMAGE"
                    settings.file_format, settings.color_depth = "OPEN_EXR", "16"
                    settings.exr_codec = "ZIP"      # (not the lossy DWAA of "other")
                else:
                    multilayer(settings, other if kind.startswith("other") else "ZIP", "16")
                group.mute = kind.endswith("plain")
                scene.render.filepath = os.path.join(folders[kind], "frame_")
                said = io.StringIO()
                with contextlib.redirect_stdout(said):
                    bpy.ops.render.render(animation=True)
                if kind == "other":                 # (a refused render would mute the node
                    out_muted = group.mute          # for its frames, and only for them)
                    other_said, codec_after = said.getvalue(), settings.exr_codec
        finally:
            if grade is not None:
                tree_of(scene).links.new(group.outputs[0], grade.outputs[0].links[0].to_socket)
                tree_of(scene).nodes.remove(grade)
            group.mute = False
            layer.use_pass_z, layer.use_pass_normal, layer.use_pass_object_index = was
            if hasattr(settings, "media_type"):
                settings.media_type = "IMAGE"
    files = {k: sorted(glob.glob(os.path.join(f, "*.exr"))) for k, f in folders.items()}
    with open(files["other"][0], "rb") as f:
        written = [exr.CODECS[p.codec()] for p in exr._headers(f.read())[1]]
    out = {"count": {k: len(v) for k, v in files.items()}, "other": other, "muted_after": out_muted,
           "other_said": other_said, "codec_after": codec_after, "other_written": written,
           "channels": {k: exr.channel_names(v[0]) for k, v in files.items() if k != "one"}}
    for i in range(min(out["count"].values())):
        image = bpy.data.images.load(files["one_graded"][i], check_existing=False)
        graded = exr.read(files["multi_graded"][i])
        out.setdefault("graded_vs_one_layer", []).append(float(np.abs(graded - pixels(image)[::-1]).max()))
        out.setdefault("graded_vs_ungraded", []).append(float(np.abs(
            graded - exr.read(files["multi"][i]))[..., :3].mean()))
        bpy.data.images.remove(image)
        one = exr.read(files["multi"][i], "Composite.Combined")
        image = bpy.data.images.load(files["one"][i], check_existing=False)
        truth = pixels(image)[::-1]
        bpy.data.images.remove(image)
        plain = exr.read(files["plain"][i], "Composite.Combined")
        multi, blender = files["multi"][i], _as_blender_reads(files["multi"][i], "Composite")
        out.setdefault("composite_vs_one_layer", []).append(float(np.abs(one - truth).max()))
        out.setdefault("composite_vs_plain", []).append(float(np.abs(one - plain)[..., :3].mean()))
        out.setdefault("blender_reads", []).append(float(np.abs(blender - one).max()))
        out.setdefault("passes_off", []).append(max(
            float(np.abs(exr.read(multi, name, chans) - exr.read(files["plain"][i], name, chans)).max())
            for name, chans in PASSES))
        other_composite = _as_blender_reads(files["other"][i], "Composite")
        out.setdefault("other_vs_one_layer", []).append(float(np.abs(other_composite - truth).max()))
        out.setdefault("other_vs_plain", []).append(float(np.abs(
            other_composite - _as_blender_reads(files["other_plain"][i], "Composite"))[..., :3].mean()))
        out.setdefault("other_render_off", []).append(float(np.abs(
            _as_blender_reads(files["other"][i], "ViewLayer")
            - _as_blender_reads(files["other_plain"][i], "ViewLayer")).max()))
    return out


def test_multilayer_exr_frames_hold_the_stylized_composite_and_blenders_passes(facts):
    """Each multilayer frame's composite is the stylized frame (as the one-layer OpenEXR holds
    it, half float), far from the plain composite; its passes (Combined, Depth, Normal) are the
    plain render's to the bit, and no others (the mask's Object Index pass, turned on for the
    render, is left out); Blender reads the composite back as written. Blender 5's DWAA: the
    composite stylized (in ZIP), the passes as Blender wrote them; Blender 4's PIZ: the file
    written in ZIP, said; the codec set back after."""
    f = fact(facts, "multilayer_exr_keeps_the_passes")
    assert set(f["count"].values()) == {len(SHOT)}, f
    assert max(f["composite_vs_one_layer"]) <= 1e-3, f      # (half floats: exact here)
    assert min(f["composite_vs_plain"]) > 0.02, f
    assert max(f["blender_reads"]) <= 1e-6, f
    assert max(f["graded_vs_one_layer"]) <= 1e-3 < min(f["graded_vs_ungraded"]), f    # a node after
    assert max(f["passes_off"]) == 0.0, f
    assert max(f["other_render_off"]) == 0.0 and not f["muted_after"], f
    # only the artist's passes: not the Object Index the capture turned on for the mask
    channels = f["channels"]
    assert channels["multi"] == channels["plain"] == channels["other"] == channels["other_plain"], f
    assert not any("Index" in c for c in channels["multi"]), f
    assert any(c.endswith("Depth.Z") for c in channels["multi"]), f
    assert max(f["other_vs_one_layer"]) <= 1e-3 and min(f["other_vs_plain"]) > 0.02, f
    assert f["codec_after"] == f["other"], f            # the artist's codec, set back
    if f["other"] == "DWAA":                            # Blender 5: each pass in its part
        assert "ZIP" in f["other_written"] and "DWAA" in f["other_written"], f
    else:                                               # Blender 4: one part, written in ZIP
        assert f["other_written"] == ["ZIP"], f
        assert "in ZIP (lossless) instead of PIZ" in f["other_said"], f["other_said"]
