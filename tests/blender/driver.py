"""Runs inside the real `bpy` module (a separate process with a temporary HOME): installs the
built extension zip, runs every scenario and prints one JSON object of measurements.

    python driver.py ZIP STYLE_IMAGE WORKDIR

Each scenario records facts (sizes, pixel differences, names, error messages); the assertions
live in test_extension.py. An exception in a scenario is recorded as its "error".
"""

from __future__ import annotations

import glob
import importlib
import json
import os
import sys
import traceback

import bpy
import numpy as np

ZIP, STYLE, WORK = sys.argv[1:4]
MODULE = "bl_ext.user_default.neural_style_transfer"
W, H = 96, 64
results: dict[str, dict] = {}


def scenario(fn):
    try:
        results[fn.__name__] = fn() or {}
    except Exception:
        results[fn.__name__] = {"error": traceback.format_exc()}
    return fn


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


def make_scene():
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


make_scene()       # factory settings first: they would unload add-ons enabled before


@scenario
def install():
    result = bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default",
                                                      enable_on_install=True)
    import addon_utils
    return {"result": sorted(result), "enabled": MODULE in bpy.context.preferences.addons,
            "operator": hasattr(bpy.types, "NST_OT_stylize_image"),
            "loaded": addon_utils.check(MODULE)[1]}


@scenario
def stylize_image():
    before = pixels(bpy.data.images["Tex"]).copy()
    r = bpy.ops.nst.stylize_image(image="Tex", style_path=STYLE, method="WCT")
    styled = bpy.data.images.get("Tex_styled")
    return {"result": sorted(r), "exists": styled is not None,
            "size": list(styled.size), "source_size": list(bpy.data.images["Tex"].size),
            "diff": float(np.abs(pixels(styled) - before).mean()),
            "original_changed": float(np.abs(pixels(bpy.data.images["Tex"]) - before).max())}


@scenario
def stylize_image_adain_seamless():
    r = bpy.ops.nst.stylize_image(image="Tex", style_path=STYLE, method="ADAIN", seamless=True,
                                  strength=0.8, preserve_color=True)
    styled = bpy.data.images["Tex_styled"]
    return {"result": sorted(r), "images_named_styled": sorted(
        i.name for i in bpy.data.images if i.name.startswith("Tex_styled"))}


@scenario
def stylize_image_stylebank():
    before = pixels(bpy.data.images["Tex"]).copy()
    r = bpy.ops.nst.stylize_image(image="Tex", method="STYLEBANK", style_name="vangogh_starry_night")
    styled = bpy.data.images["Tex_styled"]
    bridge = importlib.import_module(MODULE + ".bridge")
    return {"result": sorted(r), "size": list(styled.size), "source_size": list(bpy.data.images["Tex"].size),
            "diff": float(np.abs(pixels(styled) - before).mean()),
            "original_changed": float(np.abs(pixels(bpy.data.images["Tex"]) - before).max()),
            "names": bridge.style_names(),
            "search": bridge.search_style_names(None, None, "VANGOGH"),
            "preview": list(bridge.style_preview("vangogh_starry_night").image_size),
            "same_preview": bridge.style_preview("hokusai_great_wave") == bridge.style_preview("hokusai_great_wave"),
            "preview_unknown": bridge.style_preview("no_such_style") is None,
            "icon_unknown": bridge.style_icon("no_such_style")}


@scenario
def swap_node():
    mat = bpy.data.materials["Mat"]
    node = mat.node_tree.nodes.active
    with bpy.context.temp_override(active_object=bpy.data.objects["Plane"]):
        r = bpy.ops.nst.stylize_image(image="Tex", style_path=STYLE, method="ADAIN", swap_node=True)
    return {"result": sorted(r), "node_image": node.image.name,
            "original_in_file": "Tex" in bpy.data.images}


@scenario
def replace_and_restore():
    image = bpy.data.images["Rough"].copy()      # a colour copy to replace
    image.name = "Photo"
    image.colorspace_settings.name = "sRGB"
    y, x = np.mgrid[0:32, 0:32]
    image.pixels.foreach_set(np.stack([x / 32, y / 32, 0.5 + 0 * x, 1 + 0 * x], -1)
                             .astype(np.float32).ravel())
    before = pixels(image).copy()
    r = bpy.ops.nst.stylize_image(image="Photo", style_path=STYLE, method="WCT", replace=True)
    replaced = float(np.abs(pixels(image) - before).mean())
    r2 = bpy.ops.nst.restore_image(image="Photo")
    return {"result": sorted(r), "restore": sorted(r2), "replaced_diff": replaced,
            "restored_diff": float(np.abs(pixels(image) - before).max()),
            "backup_left": "Photo.nst_original" in bpy.data.images}


@scenario
def batch_textures():
    mat = bpy.data.materials["Mat"]
    for node in mat.node_tree.nodes:
        if node.type == "TEX_IMAGE" and node.image.name.startswith("Tex"):
            node.image = bpy.data.images["Tex"]
    styled = bpy.data.images.get("Tex_styled")
    if styled:
        bpy.data.images.remove(styled)
    messages = []
    r = bpy.ops.nst.stylize_textures(style_path=STYLE, method="ADAIN")
    images = {n.image.name for n in mat.node_tree.nodes if n.type == "TEX_IMAGE"}
    return {"result": sorted(r), "node_images": sorted(images),
            "rough_styled": "Rough_styled" in bpy.data.images, "messages": messages}


@scenario
def stylize_render():
    r = bpy.ops.nst.stylize_render(style_path=STYLE, method="ADAIN")
    image = bpy.data.images.get("Render_styled")
    return {"result": sorted(r), "size": list(image.size), "mean": float(pixels(image)[..., :3].mean())}


def tree_of(scene):
    """The compositor tree: Blender 5's compositing_node_group, 4.x's node_tree."""
    return getattr(scene, "compositing_node_group", None) or scene.node_tree


def render_file_output(scene, socket, name):
    """Render with a File Output node fed by ``socket``; return the written pixels."""
    tree = tree_of(scene)
    fo = tree.nodes.new("CompositorNodeOutputFile")
    folder = os.path.join(WORK, "fo", name)
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


@scenario
def compositor():
    scene = bpy.context.scene
    nst = scene.nst
    bpy.ops.nst.slot_add()
    slot = nst.slots[0]
    slot.style_path, slot.mask_source, slot.mask_index = STYLE, "OBJECT_INDEX", 3
    nst.method = "WCT"
    r1 = bpy.ops.nst.compositor_apply()
    tree = tree_of(scene)
    groups1 = [g.name for g in bpy.data.node_groups if g.name.startswith("NST Style")]
    instances1 = [n.name for n in tree.nodes if n.type == "GROUP"]
    first = pixels(bpy.data.images["NST Style Result"]).copy()
    nst.strength = 0.5
    r2 = bpy.ops.nst.compositor_apply()
    groups2 = [g.name for g in bpy.data.node_groups if g.name.startswith("NST Style")]
    instances2 = [n.name for n in tree.nodes if n.type == "GROUP"]
    result = pixels(bpy.data.images["NST Style Result"]).copy()
    nst.preview_size = 10
    too_small = error_of(lambda: bpy.ops.nst.compositor_apply())
    nst.preview_size = 64                   # the 96×64 render runs at 64×43 and is scaled up
    r3 = bpy.ops.nst.compositor_apply()
    preview = pixels(bpy.data.images["NST Style Result"]).copy()
    nst.preview_size = 0
    bpy.ops.nst.compositor_apply()
    result = pixels(bpy.data.images["NST Style Result"]).copy()
    group_node = next(n for n in tree.nodes if n.type == "GROUP")
    composited = render_file_output(scene, group_node.outputs[0], "styled")
    rl = next(n for n in tree.nodes if n.type == "R_LAYERS")
    plain = render_file_output(scene, rl.outputs["Image"], "plain")
    index_socket = rl.outputs.get("Object Index") or rl.outputs.get("IndexOB")   # 5.x / 4.x name
    index = render_file_output(scene, index_socket, "index")[..., 0]
    cube = np.abs(index - 3) < 0.5
    diff = np.abs(result[..., :3] - plain[..., :3]).max(axis=-1)
    preview_diff = np.abs(preview[..., :3] - plain[..., :3]).max(axis=-1)
    output_linked = any(l.from_node == group_node for l in tree.links)
    return {"result": sorted(r1) + sorted(r2), "groups": [groups1, groups2],
            "instances": [instances1, instances2], "output_linked": output_linked,
            "composite_vs_result": float(np.abs(composited[..., :3] - result[..., :3]).max()),
            "update_changed": float(np.abs(first - result).mean()),
            "cube_pixels": int(cube.sum()), "diff_inside": float(diff[cube].mean()),
            "diff_outside_max": float(diff[~cube].max()),
            "preview": {"result": sorted(r3), "too_small": too_small, "shape": list(preview.shape),
                        "vs_full": float(np.abs(preview - result)[cube].mean()),
                        "diff_inside": float(preview_diff[cube].mean()),
                        "diff_outside_max": float(preview_diff[~cube].max())}}


@scenario
def compositor_stylebank():
    scene = bpy.context.scene
    nst = scene.nst
    nst.slots.clear()
    for name, weight in (("vangogh_starry_night", 0.6), ("hokusai_great_wave", 0.4)):
        bpy.ops.nst.slot_add()
        slot = nst.slots[-1]
        slot.kind, slot.style_name, slot.weight = "BUILTIN", name, weight
    nst.method, nst.strength = "WCT", 1.0
    mixed = error_of(lambda: bpy.ops.nst.compositor_apply())
    nst.method = "STYLEBANK"
    before = pixels(bpy.data.images["NST Style Result"]).copy()
    r = bpy.ops.nst.compositor_apply()
    result = pixels(bpy.data.images["NST Style Result"]).copy()
    nst.slots.clear()
    nst.method = "WCT"
    return {"mixed": mixed, "result": sorted(r), "changed": float(np.abs(result - before).mean())}


@scenario
def after_each_render():
    scene = bpy.context.scene
    old = bpy.data.images.get("Render_styled")
    if old is not None:
        bpy.data.images.remove(old)
    scene.nst.after_render, scene.nst.render_style_path, scene.nst.method = True, STYLE, "ADAIN"
    bpy.ops.render.render()
    scene.nst.after_render = False
    image = bpy.data.images.get("Render_styled")
    return {"exists": image is not None, "size": list(image.size) if image else None}


@scenario
def animation():
    folder = os.path.join(WORK, "frames")
    r = bpy.ops.nst.stylize_animation(style_path=STYLE, method="ADAIN", directory=folder + os.sep)
    return {"result": sorted(r), "files": sorted(os.listdir(folder)) if os.path.isdir(folder) else []}


@scenario
def bad_input():
    not_image = os.path.join(WORK, "notes.txt")
    with open(not_image, "w") as f:
        f.write("not an image")
    empty_models = os.path.join(WORK, "no_models")
    os.makedirs(empty_models, exist_ok=True)
    scene = bpy.context.scene
    bpy.context.view_layer.objects.active = None      # no Image Editor, no active texture node
    out = {
        "no_image": error_of(lambda: bpy.ops.nst.stylize_image(style_path=STYLE)),
        "unknown_image": error_of(lambda: bpy.ops.nst.stylize_image(image="Nope", style_path=STYLE)),
        "non_color": error_of(lambda: bpy.ops.nst.stylize_image(image="Rough", style_path=STYLE)),
        "not_an_image": error_of(lambda: bpy.ops.nst.stylize_image(image="Tex", style_path=not_image)),
        "no_style": error_of(lambda: bpy.ops.nst.stylize_image(image="Tex")),
        "stylebank": error_of(lambda: bpy.ops.nst.stylize_image(image="Tex", method="STYLEBANK",
                                                                style_name="x")),
    }
    scene.nst.slots.clear()
    out["empty_styles"] = error_of(lambda: bpy.ops.nst.compositor_apply())
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.models_dir = empty_models
    before = set(bpy.data.images.keys())
    out["missing_models"] = error_of(lambda: bpy.ops.nst.stylize_image(image="Tex", style_path=STYLE))
    out["images_added_on_error"] = sorted(set(bpy.data.images.keys()) - before)
    prefs.models_dir = ""
    return out


@scenario
def reregister():
    bpy.ops.preferences.addon_disable(module=MODULE)
    after_disable = hasattr(bpy.types, "NST_OT_stylize_image") or hasattr(bpy.types.Scene, "nst")
    bpy.ops.preferences.addon_enable(module=MODULE)
    after_enable = hasattr(bpy.types, "NST_OT_stylize_image")
    bpy.ops.preferences.addon_disable(module=MODULE)
    bpy.ops.preferences.addon_enable(module=MODULE)
    r = bpy.ops.nst.stylize_image(image="Tex", style_path=STYLE, method="ADAIN")
    bpy.ops.preferences.addon_disable(module=MODULE)
    return {"registered_after_disable": after_disable, "after_enable": after_enable,
            "works_after_reenable": sorted(r),
            "disabled_cleanly": MODULE not in bpy.context.preferences.addons}


print("NST-RESULTS " + json.dumps(results))
