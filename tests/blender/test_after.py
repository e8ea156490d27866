"""addon/after.py: the nodes after the 'NST Style' node (a grade, a mix with the plain render, a
lens distortion, a File Output) are applied to the stylized frames Blender's own render writes,
as Blender's compositor applies them."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

from harness import (SHOT, addon_module, env, fact, frame_px, moving_cube_shot, near,
                     object_index, one_style, scenario, tree_of)

bpy = pytest.importorskip("bpy")


def _file_output(tree, folder: str):
    """The artist's own File Output node: 8-bit PNG frames named graded_ in ``folder``."""
    node = tree.nodes.new("CompositorNodeOutputFile")
    if hasattr(node.format, "media_type"):
        node.format.media_type = "IMAGE"
    node.format.file_format, node.format.color_mode = "PNG", "RGB"
    if hasattr(node, "file_output_items"):                 # Blender 5
        node.directory, node.file_name = folder, "graded_"
        node.file_output_items.clear()
        node.file_output_items.new("RGBA", "Image")
    else:                                                  # Blender 4.x
        node.base_path = folder + os.sep
    return node


def _in(node, *identifiers):
    """The input with the first of ``identifiers`` (Blender 5 and 4.x name some apart)."""
    return next(s for i in identifiers for s in node.inputs if s.identifier == i)


def _nodes_after(tree, source, plain) -> list:
    """After ``source``: a brightness keyframed per frame (a Value node: a value that comes
    into the nodes after from elsewhere), a third of the plain render ``plain`` mixed over it
    (a Render Layers pass), a lens distortion, then the output; a File Output node of the
    graded picture. Returns the nodes made."""
    v5 = hasattr(bpy.context.scene, "compositing_node_group")
    value = tree.nodes.new("ShaderNodeValue" if v5 else "CompositorNodeValue")
    for f, v in zip(SHOT, (-20.0, 0.0, 10.0, 25.0)):
        value.outputs[0].default_value = v
        value.outputs[0].keyframe_insert("default_value", frame=f)
    grade = tree.nodes.new("CompositorNodeBrightContrast")
    _in(grade, "Contrast").default_value = 15.0
    mix = tree.nodes.new("CompositorNodeAlphaOver")
    _in(mix, "Fac").default_value = 0.3
    lens = tree.nodes.new("CompositorNodeLensdist")
    lens.inputs["Distortion"].default_value = 0.08
    out = addon_module("passes").output_node(tree)
    tree.links.new(source, grade.inputs["Image"])
    tree.links.new(value.outputs[0], _in(grade, "Bright"))
    tree.links.new(grade.outputs[0], _in(mix, "Background", "Image"))
    tree.links.new(plain, _in(mix, "Foreground", "Image_001"))  # over it, by Fac
    tree.links.new(mix.outputs[0], lens.inputs["Image"])
    tree.links.new(lens.outputs[0], out.inputs[0])
    graded = _file_output(tree, os.path.join(env.work, "after_graded_live"))
    tree.links.new(grade.outputs[0], graded.inputs[0])
    return [value, grade, mix, lens, graded]


def _output_to(node, folder: str) -> None:
    if hasattr(node, "file_output_items"):      # Blender 5
        node.directory = folder
    else:
        node.base_path = folder + os.sep


def _pictures(folder: str) -> list[np.ndarray]:
    """A folder's frames, RGB, top row first: PNG as stored, OpenEXR display-encoded (sRGB)."""
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "*.*"))):
        px = np.clip(frame_px(path)[..., :3], 0.0, 1.0)
        out.append(px if path.endswith(".png") else
                   np.where(px <= 0.0031308, px * 12.92, 1.055 * px ** (1 / 2.4) - 0.055))
    return out


@scenario(97)
def live_node_keeps_the_nodes_after_it():
    """Stylized frames rendered with nodes after the NST Style node, against Blender applying
    the same nodes to the stylized frames (rendered without them first, then fed to the nodes
    through an Image node in the NST Style node's place)."""
    scene = bpy.context.scene
    one_style(scene.nst, coherence=0.0)
    view = scene.view_settings.view_transform
    scene.view_settings.view_transform = "Standard"     # PNG frames back to scene-linear, exactly
    folders = {k: os.path.join(env.work, "after_" + k) for k in ("bare", "live", "blender",
                                                                 "live_exr", "blender_exr")}
    made, tree = [], None
    try:
        with moving_cube_shot(scene):
            scene.frame_set(1)
            bpy.ops.nst.compositor_apply()
            tree = tree_of(scene)
            group = next(n for n in tree.nodes if n.type == "GROUP" and n.node_tree.name == "NST Style")
            rl = next(n for n in tree.nodes if n.type == "R_LAYERS")
            scene.render.filepath = os.path.join(folders["bare"], "frame_")
            scene.render.image_settings.color_depth = "16"      # (the truth reads them: from
            bpy.ops.render.render(animation=True)       # 8 bits, graded near black, 5/255 off)
            scene.render.image_settings.color_depth = "8"       # the stylized frames, no node after
            made = _nodes_after(tree, group.outputs[0], rl.outputs["Image"])
            scene.render.filepath = os.path.join(folders["live"], "frame_")
            bpy.ops.render.render(animation=True)
            kept = sorted(s.name for s in bpy.data.scenes)
            _output_to(made[4], os.path.join(env.work, "after_graded_still"))
            scene.frame_set(3)                          # a still (F12 with Save, -f): its File
            scene.render.filepath = os.path.join(env.work, "after_still.png")   # Output named
            bpy.ops.render.render(write_still=True)     # as Blender names a still's files
            saved = os.path.join(env.work, "after_saved.blend")
            bpy.ops.wm.save_as_mainfile(filepath=saved, copy=True)
            after_save = sorted(s.name for s in bpy.data.scenes)
            frames = bpy.data.images.load(os.path.join(folders["bare"], f"frame_{SHOT[0]:04d}.png"))
            frames.source = "SEQUENCE"
            reader = tree.nodes.new("CompositorNodeImage")
            made.append(reader)
            reader.image, reader.frame_duration, reader.frame_start = frames, len(SHOT), SHOT[0]
            grade = made[1]
            tree.links.new(reader.outputs["Image"], grade.inputs["Image"])
            graded = made[4]
            _output_to(graded, os.path.join(env.work, "after_graded_blender"))
            group.mute = True
            scene.render.filepath = os.path.join(folders["blender"], "frame_")
            bpy.ops.render.render(animation=True)       # Blender's own compositor, throughout
            graded.mute = True
            scene.render.image_settings.file_format = "OPEN_EXR"    # scene-linear frames
            scene.render.filepath = os.path.join(folders["blender_exr"], "frame_")
            bpy.ops.render.render(animation=True)
            group.mute = False
            tree.links.new(group.outputs[0], grade.inputs["Image"])
            scene.render.filepath = os.path.join(folders["live_exr"], "frame_")
            bpy.ops.render.render(animation=True)
    finally:
        for node in made:
            tree.nodes.remove(node)
        if tree is not None:                            # the NST Style node last again
            tree.links.new(group.outputs[0], addon_module("passes").output_node(tree).inputs[0])
        scene.view_settings.view_transform = view
    px = {k: _pictures(folder) for k, folder in folders.items()}
    px["graded_live"] = _pictures(os.path.join(env.work, "after_graded_live"))
    px["graded_blender"] = _pictures(os.path.join(env.work, "after_graded_blender"))
    out = {"count": {k: len(v) for k, v in px.items()}, "scenes_kept": kept,
           "scenes_saved": after_save}
    still = _pictures(os.path.join(env.work, "after_graded_still"))
    out["still_files"] = sorted(os.listdir(os.path.join(env.work, "after_graded_still")))
    out["still_off"] = float(np.abs(still[0] - px["graded_live"][2]).max() * 255) if still else None
    for live, truth, graded_live, graded_truth, bare in zip(px["live"], px["blender"],
                                                              px["graded_live"], px["graded_blender"],
                                                              px["bare"]):
        err = np.abs(live - truth).max(-1) * 255
        out.setdefault("frame", []).append([float(np.percentile(err, q)) for q in (50, 99, 100)])
        err = np.abs(graded_live - graded_truth).max(-1) * 255
        out.setdefault("graded", []).append([float(np.percentile(err, q)) for q in (50, 99, 100)])
        out.setdefault("unapplied", []).append(float(np.median(np.abs(bare - truth).max(-1)) * 255))
        out.setdefault("brightness", []).append(float(truth.mean() * 255))
    for live, truth in zip(px["live_exr"], px["blender_exr"]):
        err = np.abs(live - truth).max(-1) * 255
        out.setdefault("exr", []).append([float(np.percentile(err, q)) for q in (50, 99, 100)])
    return out


def test_nodes_after_the_nst_node_are_applied_to_the_stylized_frames(facts):
    """Every written frame, and every file of a File Output node after the NST Style node, is
    what Blender's compositor makes of the stylized frame with those nodes: a keyframed grade
    (its value from another node), a mix with the plain render (a Render Layers pass), a lens
    distortion; within 8-bit rounding, where leaving them out is far off."""
    f = fact(facts, "live_node_keeps_the_nodes_after_it")
    assert set(f["count"].values()) == {len(SHOT)}, f
    assert min(f["unapplied"]) > 10, f                  # the nodes change the frames, a lot
    b = f["brightness"]
    assert b[0] < b[1] < b[2] < b[3], f                 # the grade's keyframes, frame by frame
    for kind in ("frame", "graded", "exr"):
        for median, p99, worst in f[kind]:
            assert median <= 1.01 and p99 <= 3.01 and worst <= 8.01, f
    assert len(f["still_files"]) == 1 and f["still_off"] <= 1.01, f     # a still's File Output:
    # one file, named by Blender, stylized (frame 3 of the animation's, to rounding)
    assert any(s.startswith("NST nodes after") for s in f["scenes_kept"]), f    # headless:
    assert not any(s.startswith("NST nodes after") for s in f["scenes_saved"]), f   # not saved


def _render(scene, folder: str) -> list[np.ndarray]:
    """Ctrl+F12 into ``folder``; its frames (RGBA as stored, top row first)."""
    scene.render.filepath = os.path.join(folder, "frame_")
    bpy.ops.render.render(animation=True)
    return [frame_px(path) for path in sorted(glob.glob(os.path.join(folder, "*.png")))]


@scenario(98)
def rgb_frames_as_blender_writes_them():
    """Partly transparent pixels written to an RGB file as Blender writes them (the
    premultiplied colour shown): a transparent film's edges outside a style's mask, and a Lens
    Distortion's border under a stamp (Burn Into Image) that is read from Blender's frame."""
    scene = bpy.context.scene
    one_style(scene.nst, coherence=0.0)
    slot = scene.nst.slots[0]
    slot.mask_source, slot.mask_index = "OBJECT_INDEX", 3
    r, settings = scene.render, scene.render.image_settings
    saved = (r.film_transparent, r.use_stamp, r.stamp_note_text, r.resolution_x, r.resolution_y,
             scene.view_settings.view_transform)
    stamped = {k: getattr(r, k) for k in dir(r) if k.startswith("use_stamp_")}
    out, lens, plane, made = {}, None, bpy.data.objects["Plane"], []
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(0.0, 1.5, 1.2))
    sphere = bpy.context.object         # (index 0: no style on it) its edges against the film
    scene.view_settings.view_transform = "Standard"     # PNG frames back to scene-linear, exactly
    try:
        with moving_cube_shot(scene):
            r.film_transparent, plane.hide_render = True, True
            scene.frame_set(1)
            bpy.ops.nst.compositor_apply()
            tree = tree_of(scene)
            group = next(n for n in tree.nodes if n.type == "GROUP" and n.node_tree.name == "NST Style")
            live = _render(scene, os.path.join(env.work, "rgb_live"))
            group.mute = True
            plain = _render(scene, os.path.join(env.work, "rgb_plain"))
            settings.color_mode = "RGBA"
            alpha = [f[..., 3] for f in _render(scene, os.path.join(env.work, "rgba_plain"))]
            settings.color_mode = "RGB"
            group.mute = False
            cubes = []
            for f in SHOT:
                scene.frame_set(f)
                cubes.append(near(np.abs(object_index(scene, f"rgb_index{f}")[::-1, :, 0] - 3) < 0.5))
            edges = [(a > 0) & (a < 1) & ~c for a, c in zip(alpha, cubes)]
            out["edge_px"] = [int(e.sum()) for e in edges]
            out["edge_off"] = [float(np.abs(a - b)[..., :3].max(-1)[e].max(initial=0) * 255)
                               for a, b, e in zip(live, plain, edges)]
            out["outside_off"] = [float(np.abs(a - b)[..., :3].max(-1)[~c & (t > 0)].max() * 255)
                                  for a, b, c, t in zip(live, plain, cubes, alpha)]
            out["faint_px"] = [int((~c & (t <= 0) & (b[..., :3].max(-1) > 2 / 255)).sum())
                               for b, c, t in zip(plain, cubes, alpha)]   # (see the test)
            r.film_transparent, slot.mask_source = False, "NONE"     # a Lens Distortion's
            r.resolution_x, r.resolution_y = 240, 135                 # border, under a stamp
            plane.hide_render = False
            bpy.ops.nst.compositor_apply()
            for k in stamped:
                setattr(r, k, k in ("use_stamp_frame", "use_stamp_note"))
            r.use_stamp, r.stamp_note_text = False, "NST"
            lens = tree.nodes.new("CompositorNodeLensdist")
            lens.inputs["Distortion"].default_value = 0.1
            output = addon_module("passes").output_node(tree)
            tree.links.new(group.outputs[0], lens.inputs["Image"])
            tree.links.new(lens.outputs[0], output.inputs[0])
            settings.color_depth = "16"
            tree.links.new(group.outputs[0], output.inputs[0])
            _render(scene, os.path.join(env.work, "lens_bare"))     # the stylized frames
            settings.color_depth = "8"
            tree.links.new(lens.outputs[0], output.inputs[0])
            r.use_stamp = True
            live = _render(scene, os.path.join(env.work, "lens_live"))
            frames = bpy.data.images.load(os.path.join(env.work, "lens_bare", "frame_0001.png"))
            frames.source = "SEQUENCE"
            reader = tree.nodes.new("CompositorNodeImage")
            reader.image, reader.frame_duration, reader.frame_start = frames, len(SHOT), SHOT[0]
            tree.links.new(reader.outputs["Image"], lens.inputs["Image"])
            group.mute = True
            truth = _render(scene, os.path.join(env.work, "lens_blender"))
            group.mute = False
            tree.nodes.remove(reader)
            err = [np.abs(a - b)[..., :3].max(-1) * 255 for a, b in zip(live, truth)]
            out["lens_stamp"] = [[float(np.percentile(e, q)) for q in (50, 99)] + [int((e > 3).sum())]
                                 for e in err]
            r.use_stamp = False                 # the NST Style node feeding only a Viewer (and
            viewer = tree.nodes.new("CompositorNodeViewer")     # a dangling node): not in the
            made.append(viewer)                 # frames Blender writes, so not written over them
            tree.links.new(group.outputs[0], viewer.inputs[0])
            tree.links.new(next(n for n in tree.nodes if n.type == "R_LAYERS").outputs["Image"],
                           output.inputs[0])
            shown = _render(scene, os.path.join(env.work, "viewer_live"))
            group.mute = True
            plain = _render(scene, os.path.join(env.work, "viewer_plain"))
            group.mute = False
            out["viewer_only_off"] = max(float(np.abs(a - b).max() * 255) for a, b in zip(shown, plain))
    finally:
        for node in made:
            tree.nodes.remove(node)
        if lens is not None:
            tree.nodes.remove(lens)
            tree.links.new(group.outputs[0], addon_module("passes").output_node(tree).inputs[0])
        (r.film_transparent, r.use_stamp, r.stamp_note_text, r.resolution_x, r.resolution_y,
         scene.view_settings.view_transform) = saved
        for k, v in stamped.items():
            setattr(r, k, v)
        slot.mask_source, plane.hide_render = "NONE", False
        bpy.data.objects.remove(sphere)
    return out


def test_rgb_frames_are_written_as_blender_writes_them(facts):
    """An RGB output with the film transparent: outside the style's mask each written frame is
    Blender's own frame, its edges against the film too (the display colour times alpha was
    up to 92/255 off there); a Lens Distortion after the node under a stamp: Blender's own
    stamped frame (its partly transparent border was taken for stamp: lines up to 204/255)."""
    f = fact(facts, "rgb_frames_as_blender_writes_them")
    assert min(f["edge_px"]) >= 10, f                   # edges against the transparent film
                                                        # (20-41 a frame measured)
    assert max(f["edge_off"]) <= 1.01 and max(f["outside_off"]) <= 1.01, f
    # Left: a few faint pixels whose alpha rounds to 0 in 8 bits, which Blender writes as up
    # to 26/255 (the premultiplied colour shown) and the capture as shown holds as black.
    assert max(f["faint_px"]) < 0.01 * 96 * 64, f
    for median, p99, off in f["lens_stamp"]:        # 2-4 of its 32,400 pixels off by 6-62 (a
        assert median <= 1.01 and p99 <= 1.01 and off <= 10, f     # glyph's edge over black)
    assert f["viewer_only_off"] == 0, f     # feeding only a Viewer: Blender's frames (a trial:
                                            # they were written stylized, 87-90/255 off)
