"""The Blender side of the extension's tests: scenarios run inside the real `bpy` module.

Each tests/blender/test_<module>.py holds its scenarios (functions marked ``@scenario(order)``
that drive Blender and return the facts they measured) beside the pytest assertions on those
facts. One Blender process (a temporary HOME) installs the built zip and runs every scenario of
every test file in ``order`` — later scenarios build on the scene earlier ones made — and prints
one JSON object; the ``facts`` fixture (conftest.py) starts it once per session:

    python harness.py ZIP STYLE_IMAGE WORKDIR test_init test_operators ...

A scenario that raises is recorded with its traceback as its "error". This file and the test
files import only the standard library, numpy, pytest and (in Blender) bpy.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import json
import os
import sys
import time
import traceback

import numpy as np

MODULE = "bl_ext.user_default.neural_style_transfer"
W, H = 96, 64
SCENARIOS: list[tuple[int, object]] = []


class Env:
    """Where the scenarios find the zip, the style image and a folder to write in."""

    zip = style = work = ""


env = Env()


def scenario(order: int):
    """Mark a function of a test file as a scenario; they run by ascending ``order``."""
    def mark(fn):
        SCENARIOS.append((order, fn))
        return fn
    return mark


def fact(facts: dict, name: str) -> dict:
    """The facts of scenario ``name`` (the pytest side); its error fails the test with it."""
    got = facts[name]
    assert "error" not in got, got.get("error")
    return got


# -- helpers for scenarios (Blender side) ----------------------------------------------------

def pixels(image) -> np.ndarray:
    buf = np.empty(len(image.pixels), np.float32)
    image.pixels.foreach_get(buf)
    return buf.reshape(image.size[1], image.size[0], image.channels)


def error_of(call) -> str:
    """The message an operator gives a Python caller for an error report ('' if none)."""
    try:
        call()
    except RuntimeError as exc:
        return str(exc)
    return ""


def addon_module(name: str):
    """A module of the installed extension, e.g. addon_module("styles")."""
    return importlib.import_module(f"{MODULE}.{name}")


def tree_of(scene):
    """The compositor tree: Blender 5's compositing_node_group, 4.x's node_tree."""
    return getattr(scene, "compositing_node_group", None) or scene.node_tree


def render_file_output(scene, socket, name):
    """Render with a File Output node fed by ``socket``; return the written pixels."""
    import bpy
    tree = tree_of(scene)
    fo = tree.nodes.new("CompositorNodeOutputFile")
    folder = os.path.join(env.work, "fo", name)
    if hasattr(fo, "file_output_items"):          # Blender 5
        fo.directory, fo.file_name = folder + os.sep, ""
        fo.format.media_type = "IMAGE"
        fo.file_output_items.new("RGBA", "out")
    else:                                         # Blender 4.x
        fo.base_path = folder + os.sep
        fo.file_slots.clear()
        fo.file_slots.new("out")
    fo.format.file_format, fo.format.color_depth = "OPEN_EXR", "32"
    tree.links.new(socket, fo.inputs[0])
    bpy.ops.render.render()
    tree.nodes.remove(fo)
    path = sorted(glob.glob(os.path.join(folder, "out*.exr")))[0]
    image = bpy.data.images.load(path)
    out = pixels(image).copy()
    bpy.data.images.remove(image)
    return out


def object_index(scene, name):
    """A render's Object Index pass as render_file_output gives it (the pass turned on for it
    and then back: the add-on leaves the view layer's passes as the artist set them)."""
    import bpy
    layer = bpy.context.view_layer
    was, layer.use_pass_object_index = layer.use_pass_object_index, True
    try:
        rl = next(n for n in tree_of(scene).nodes if n.type == "R_LAYERS")
        return render_file_output(scene, rl.outputs.get("Object Index") or rl.outputs.get("IndexOB"),
                                  name)
    finally:
        layer.use_pass_object_index = was


def render_as_shown(scene) -> np.ndarray:
    """The Render Result as the Render window shows it: Blender's own 8-bit PNG, no dither."""
    import bpy
    settings = scene.render.image_settings
    saved = (settings.file_format, settings.color_depth, settings.color_mode,
             scene.render.dither_intensity)
    settings.file_format, settings.color_depth, settings.color_mode = "PNG", "8", "RGB"
    scene.render.dither_intensity = 0.0
    path = os.path.join(env.work, "as_shown.png")
    try:
        bpy.data.images["Render Result"].save_render(path, scene=scene)
    finally:
        (settings.file_format, settings.color_depth, settings.color_mode,
         scene.render.dither_intensity) = saved
    image = bpy.data.images.load(path, check_existing=False)
    out = pixels(image)[::-1][..., :3].copy()
    bpy.data.images.remove(image)
    return out


@contextlib.contextmanager
def lent_scene(name: str, w: int, h: int, samples: int):
    """The harness's scene lent out empty: its objects hidden from the render, a collection of
    our own, our camera, size and samples; all put back afterwards. (A second scene would not
    do: Blender evaluates the animation of the window's scene only.)"""
    import bpy
    scene = bpy.context.scene
    r, c = scene.render, scene.cycles
    saved = [(r, "resolution_x", r.resolution_x), (r, "resolution_y", r.resolution_y),
             (r, "resolution_percentage", r.resolution_percentage), (c, "samples", c.samples),
             (c, "use_animated_seed", c.use_animated_seed), (c, "use_denoising", c.use_denoising),
             (scene, "camera", scene.camera), (scene, "world", scene.world),
             (scene, "frame_start", scene.frame_start), (scene, "frame_end", scene.frame_end),
             (scene, "frame_current", scene.frame_current)]
    hidden = [o for o in scene.objects if not o.hide_render]
    for o in hidden:
        o.hide_render = True
    collection = bpy.data.collections.new(name)
    scene.collection.children.link(collection)
    r.resolution_x, r.resolution_y, r.resolution_percentage, c.samples = w, h, 100, samples
    bpy.context.preferences.edit.keyframe_new_interpolation_type = "LINEAR"
    try:
        yield scene, collection
    finally:
        for o in list(collection.objects):
            bpy.data.objects.remove(o)
        bpy.data.collections.remove(collection)
        for o in hidden:
            o.hide_render = False
        for owner, attr, value in saved:
            setattr(owner, attr, value)
        scene.frame_set(scene.frame_current)


def add_object(collection, name, data, location=(0, 0, 0), rotation=(0, 0, 0)):
    import bpy
    obj = bpy.data.objects.new(name, data)
    obj.location, obj.rotation_euler = location, rotation
    collection.objects.link(obj)
    return obj


def add_cube(collection, name, size, location):
    import bmesh
    import bpy
    mesh = bpy.data.meshes.new(name)
    bm = bmesh.new()
    bm.loops.layers.uv.new()               # for calc_uvs to fill
    bmesh.ops.create_cube(bm, size=size, calc_uvs=True)
    bm.to_mesh(mesh)
    bm.free()
    return add_object(collection, name, mesh, location)


def make_scene():
    """A small Cycles scene: a textured plane (pass index 1), a cube (3), camera and sun; a
    colour texture 'Tex' and a Non-Color map 'Rough' in the plane's material."""
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples, scene.cycles.device = 4, "CPU"
    scene.render.resolution_x, scene.render.resolution_y = W, H
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = 1, 2
    world = bpy.data.worlds.new("World")
    world.color = (0.05, 0.05, 0.08)
    scene.world = world
    bpy.ops.mesh.primitive_plane_add(size=8, location=(0, 0, -1))
    plane = bpy.context.object
    plane.pass_index = 1
    bpy.ops.mesh.primitive_cube_add(size=1.6, location=(0, 0, 0))
    cube = bpy.context.object
    cube.pass_index = 3
    bpy.ops.object.camera_add(location=(0, -6, 2.5), rotation=(1.2, 0, 0))
    scene.camera = bpy.context.object
    bpy.ops.object.light_add(type="SUN", location=(2, -2, 5))
    bpy.context.object.data.energy = 4

    # A colour texture (sRGB byte image with a pattern) and a Non-Color roughness map.
    tex = bpy.data.images.new("Tex", 80, 48, alpha=True)
    y, x = np.mgrid[0:48, 0:80]
    rgba = np.stack([(x % 16) / 16, (y % 12) / 12, ((x + y) % 20) / 20, np.ones_like(x)], -1)
    tex.pixels.foreach_set(rgba.astype(np.float32).ravel())
    rough = bpy.data.images.new("Rough", 32, 32, alpha=False)
    rough.colorspace_settings.name = "Non-Color"
    mat = bpy.data.materials.new("Mat")
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True                     # always on (and deprecated) in Blender 5
    nodes = mat.node_tree.nodes
    bsdf = nodes["Principled BSDF"]
    t1 = nodes.new("ShaderNodeTexImage")
    t1.image = tex
    t2 = nodes.new("ShaderNodeTexImage")
    t2.image = rough
    mat.node_tree.links.new(t1.outputs["Color"], bsdf.inputs["Base Color"])
    mat.node_tree.links.new(t2.outputs["Color"], bsdf.inputs["Roughness"])
    nodes.active = t1
    plane.data.materials.append(mat)
    cube_mat = bpy.data.materials.new("CubeMat")
    cube.data.materials.append(cube_mat)
    bpy.ops.object.select_all(action="DESELECT")
    plane.select_set(True)
    bpy.context.view_layer.objects.active = plane
    return scene


SHOT = (1, 2, 3, 4)                     # the frames of moving_cube_shot


def shot_frames(folder: str) -> list[np.ndarray]:
    """The RGB of ``folder``'s frame_####.png of SHOT, top row first."""
    import bpy
    out = []
    for f in SHOT:
        image = bpy.data.images.load(os.path.join(folder, f"frame_{f:04d}.png"), check_existing=False)
        out.append(pixels(image)[::-1][..., :3].copy())
        bpy.data.images.remove(image)
    return out


def near(mask: np.ndarray) -> np.ndarray:
    """``mask`` and one pixel around it (anti-aliased edges)."""
    near = mask.copy()
    near[1:] |= mask[:-1]
    near[:-1] |= mask[1:]
    near[:, 1:] |= mask[:, :-1]
    near[:, :-1] |= mask[:, 1:]
    return near


def one_style(nst, coherence=None) -> None:
    """One slot of the test's style over the whole frame: AdaIN, full strength and size."""
    import bpy
    nst.slots.clear()
    bpy.ops.nst.slot_add()
    nst.slots[0].style_path, nst.slots[0].mask_source = env.style, "NONE"
    nst.method, nst.strength, nst.work_size = "ADAIN", 1.0, 0
    if coherence is not None:
        nst.temporal_coherence = coherence


@contextlib.contextmanager
def moving_cube_shot(scene):
    """The cube moving across SHOT, the scene's range those frames, PNG RGB frames without
    Blender's dither (its writer adds noise, ours does not); all set back afterwards."""
    import bpy
    nst, settings, cube = scene.nst, scene.render.image_settings, bpy.data.objects["Cube"]
    start = cube.location.copy()
    for f, x in zip(SHOT, (-1.5, -0.5, 0.5, 1.5)):
        cube.location.x = x
        cube.keyframe_insert("location", frame=f)
    saved = (scene.frame_start, scene.frame_end, scene.render.filepath, settings.file_format,
             settings.color_mode, nst.temporal_coherence, scene.render.dither_intensity)
    scene.frame_start, scene.frame_end = SHOT[0], SHOT[-1]
    scene.render.dither_intensity = 0.0
    settings.file_format, settings.color_mode = "PNG", "RGB"
    try:
        yield
    finally:
        (scene.frame_start, scene.frame_end, scene.render.filepath, settings.file_format,
         settings.color_mode, nst.temporal_coherence, scene.render.dither_intensity) = saved
        cube.animation_data_clear()
        cube.location = start
        scene.frame_set(1)


@contextlib.contextmanager
def compositor_scene(width: int, height: int):
    """A scene of its own whose compositor has only what the caller adds (Blender renders no 3D
    for it), of ``width``×``height`` px; yields (scene, tree, output node), then removes it."""
    import bpy
    main = bpy.context.scene
    scene = bpy.data.scenes.new("compositor only")
    scene.camera = main.camera
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    if hasattr(scene, "compositing_node_group"):                # Blender 5
        tree = scene.compositing_node_group = bpy.data.node_groups.new("compositor only",
                                                                       "CompositorNodeTree")
    else:
        scene.use_nodes = True
        tree = scene.node_tree
        tree.nodes.clear()
    try:
        yield scene, tree, addon_module("passes").output_node(tree)
    finally:
        group = getattr(scene, "compositing_node_group", None)
        bpy.data.scenes.remove(scene)
        if group is not None:
            bpy.data.node_groups.remove(group)


def multilayer(settings, codec: str = "ZIP", depth: str = "32") -> None:
    """Image settings to multilayer OpenEXR (Blender 5: a media type; 4.x: a file format)."""
    if hasattr(settings, "media_type"):
        settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format, settings.exr_codec, settings.color_depth = "OPEN_EXR_MULTILAYER", codec, depth


def frame_px(path: str) -> np.ndarray:
    """A frame file's RGBA pixels, top row first, its colour premultiplied (RGB: as it is)."""
    import bpy
    image = bpy.data.images.load(path, check_existing=False)
    try:
        px = pixels(image)[::-1].copy()
        px[..., :3] *= px[..., 3:]
        return px
    finally:
        bpy.data.images.remove(image)


def main(argv: list[str]) -> None:
    env.zip, env.style, env.work = argv[:3]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    for name in argv[3:]:
        importlib.import_module(name)
    make_scene()       # factory settings first: they would unload add-ons enabled before
    results: dict[str, dict] = {}
    seconds: dict[str, float] = {}      # each scenario's, for sharing them out (extension.py)
    for _, fn in sorted(SCENARIOS, key=lambda item: item[0]):
        start = time.perf_counter()
        try:
            results[fn.__name__] = fn() or {}
        except Exception:
            results[fn.__name__] = {"error": traceback.format_exc()}
        seconds[f"{fn.__module__}.{fn.__name__}"] = round(time.perf_counter() - start, 1)
    print("NST-SECONDS " + json.dumps(seconds))
    print("NST-RESULTS " + json.dumps(results))


if __name__ == "__main__":
    # Run as a script, this file is __main__: the test files' `from harness import ...` must
    # find this same module (and its SCENARIOS), not a second copy.
    sys.modules["harness"] = sys.modules["__main__"]
    main(sys.argv[1:])
