"""addon/compositor.py: Apply Styles blends the style slots by weight and render-pass mask into
the node group 'NST Style', updates it in place, previews at a smaller size, and refuses an
empty style list or built-in styles with another method."""

from __future__ import annotations

import numpy as np
import pytest

from harness import (addon_module, compositor_scene, env, error_of, fact, object_index, pixels,
                     render_as_shown, render_file_output, scenario, tree_of)

bpy = pytest.importorskip("bpy")


@scenario(30)
def compositor():
    scene = bpy.context.scene
    nst = scene.nst
    bpy.ops.nst.slot_add()
    slot = nst.slots[0]
    slot.style_path, slot.mask_source, slot.mask_index = env.style, "OBJECT_INDEX", 3
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
    nst.work_size = 10
    too_small = error_of(lambda: bpy.ops.nst.compositor_apply())
    nst.work_size = 64                   # the 96×64 render runs at 64×43 and is scaled up
    r3 = bpy.ops.nst.compositor_apply()
    preview = pixels(bpy.data.images["NST Style Result"]).copy()
    nst.work_size = 0
    bpy.ops.nst.compositor_apply()
    result = pixels(bpy.data.images["NST Style Result"]).copy()
    group_node = next(n for n in tree.nodes if n.type == "GROUP")
    composited = render_file_output(scene, group_node.outputs[0], "styled")
    rl = next(n for n in tree.nodes if n.type == "R_LAYERS")
    plain = render_file_output(scene, rl.outputs["Image"], "plain")
    index = object_index(scene, "index")[..., 0]
    cube = np.abs(index - 3) < 0.5
    diff = np.abs(result[..., :3] - plain[..., :3]).max(axis=-1)
    preview_diff = np.abs(preview[..., :3] - plain[..., :3]).max(axis=-1)
    output_linked = any(link.from_node == group_node for link in tree.links)
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


def test_compositor_group_is_created_updated_and_rendered(facts):
    f = fact(facts, "compositor")
    assert f["result"] == ["FINISHED", "FINISHED"]
    assert f["groups"] == [["NST Style"], ["NST Style"]]          # updated in place
    assert f["instances"] == [["NST Style"], ["NST Style"]]
    assert f["output_linked"]
    assert f["update_changed"] > 0.001                            # strength change took effect
    assert f["composite_vs_result"] < 1e-3                        # the render outputs our pixels


def test_object_index_mask_changes_only_the_masked_object(facts):
    f = fact(facts, "compositor")
    assert f["cube_pixels"] > 100
    assert f["diff_inside"] > 0.05
    assert f["diff_outside_max"] < 1e-3


def test_compositor_preview_size(facts):
    f = fact(facts, "compositor")["preview"]
    assert f["too_small"].startswith("Error:") and "Preview Size 10 px is too small" in f["too_small"]
    assert f["result"] == ["FINISHED"] and f["shape"] == [64, 96, 4]
    assert f["diff_inside"] > 0.05 and f["vs_full"] > 0.005    # stylized, and not the full-size result
    assert f["diff_outside_max"] < 1e-3                         # outside the mask the render is untouched


@scenario(31)
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


def test_compositor_blends_builtin_styles(facts):
    f = fact(facts, "compositor_stylebank")
    assert "built-in styles need method StyleBank" in f["mixed"] and f["mixed"].startswith("Error:")
    assert f["result"] == ["FINISHED"] and f["changed"] > 0.01


@scenario(81)
def compositor_bad_input():
    bpy.context.scene.nst.slots.clear()
    return {"empty_styles": error_of(lambda: bpy.ops.nst.compositor_apply())}


def test_empty_style_list_is_a_report_not_a_traceback(facts):
    f = fact(facts, "compositor_bad_input")["empty_styles"]
    assert "style list is empty" in f and f.startswith("Error:") and "Traceback" not in f


@scenario(32)
def compositor_hdr_outside_masks():
    """An emissive sphere (strength 6.28) outside the only mask keeps its HDR values, bit for
    bit (it came out clipped to 1.0, a flat grey)."""
    scene = bpy.context.scene
    nst = scene.nst
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.45, location=(1.7, 0, 0.2))
    sphere = bpy.context.object
    glow = bpy.data.materials.new("Glow")
    if bpy.app.version < (5, 0, 0):
        glow.use_nodes = True
    nodes = glow.node_tree.nodes
    nodes.clear()
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Strength"].default_value = 6.28
    out = nodes.new("ShaderNodeOutputMaterial")
    glow.node_tree.links.new(emission.outputs[0], out.inputs["Surface"])
    sphere.data.materials.append(glow)
    nst.slots.clear()
    bpy.ops.nst.slot_add()
    slot = nst.slots[0]
    slot.style_path, slot.mask_source, slot.mask_index = env.style, "OBJECT_INDEX", 3
    nst.method, nst.strength, nst.work_size = "ADAIN", 1.0, 0
    r = bpy.ops.nst.compositor_apply()
    result = pixels(bpy.data.images["NST Style Result"]).copy()
    slot.mask_index = 99                    # no object has it: the mask covers nothing
    r_nothing = bpy.ops.nst.compositor_apply()
    said_nothing = addon_module("jobs").STATE.last_report
    nothing = pixels(bpy.data.images["NST Style Result"]).copy()
    tree = tree_of(scene)
    rl = next(n for n in tree.nodes if n.type == "R_LAYERS")
    plain = render_file_output(scene, rl.outputs["Image"], "plain_hdr")
    cube = np.abs(object_index(scene, "index_hdr")[..., 0] - 3) < 0.5
    bpy.data.objects.remove(sphere)
    nst.slots.clear()
    return {"result": sorted(r), "plain_peak_outside": float(plain[~cube][:, :3].max()),
            "result_peak_outside": float(result[~cube][:, :3].max()),
            "identical_outside": bool(np.array_equal(result[~cube], plain[~cube])),
            "changed_inside": float(np.abs(result[cube] - plain[cube]).mean()),
            "empty_mask": sorted(r_nothing), "empty_mask_identical": bool(np.array_equal(nothing, plain)),
            "empty_mask_said": said_nothing}


def test_hdr_outside_the_masks_is_bit_identical(facts):
    f = fact(facts, "compositor_hdr_outside_masks")
    assert f["result"] == ["FINISHED"] and f["plain_peak_outside"] > 2.0
    assert f["result_peak_outside"] == f["plain_peak_outside"] and f["identical_outside"]
    assert f["changed_inside"] > 0.01
    assert f["empty_mask"] == ["FINISHED"] and f["empty_mask_identical"]   # a mask on nothing,
    assert "mask of style slot 1 covers no pixel" in f["empty_mask_said"], f   # and Apply says so


@scenario(34)
def compositor_colour_management():
    """AgX with exposure 0.3, one slot everywhere: what the Render window shows after Apply
    Styles, against what it showed of the plain render (engine bypassed: the pixels given back
    unchanged) and against the stylized picture the engine made (WCT)."""
    scene = bpy.context.scene
    nst, view = scene.nst, scene.view_settings
    comp = addon_module("compositor")
    real = comp.engine.stylize
    saved = (view.view_transform, view.exposure)
    view.view_transform, view.exposure = "AgX", 0.3
    nst.slots.clear()
    bpy.ops.nst.slot_add()
    nst.slots[0].style_path, nst.slots[0].mask_source = env.style, "NONE"
    nst.method, nst.strength, nst.work_size = "WCT", 1.0, 0
    made = {}

    def bypassed(px, *args, **kwargs):
        return px.copy()

    def recorded(px, *args, **kwargs):
        made["styled"] = real(px, *args, **kwargs)
        return made["styled"]

    def apply_with(stylize):
        comp.engine.stylize = stylize
        try:
            result = bpy.ops.nst.compositor_apply()
        finally:
            comp.engine.stylize = real
        bpy.ops.render.render()
        return sorted(result), render_as_shown(scene)
    try:
        scene.render.use_compositing = False
        bpy.ops.render.render()
        before = render_as_shown(scene)
        scene.render.use_compositing = True
        r1, after_bypass = apply_with(bypassed)
        r2, after_styled = apply_with(recorded)
    finally:
        view.view_transform, view.exposure = saved
        nst.slots.clear()
    styled_off = np.abs(after_styled - made["styled"][..., :3]).max(axis=-1) * 255
    return {"result": r1 + r2,        # in steps of the 8-bit pictures compared
            "bypass_off_max": int(np.rint(np.abs(after_bypass - before) * 255).max()),
            "styled_off_mean": float(styled_off.mean()),
            "styled_within_1": float((styled_off <= 1.5).mean()),   # the engine's are floats
            "styled_vs_plain": float(np.abs(after_styled - before).mean() * 255)}


def test_apply_styles_is_colour_managed_like_the_render(facts):
    f = fact(facts, "compositor_colour_management")
    assert f["result"] == ["FINISHED", "FINISHED"]
    assert f["bypass_off_max"] <= 1.0, f          # the plain render comes back as it was shown
    assert f["styled_vs_plain"] > 5.0, f          # (the style did change the picture)
    # The stylized picture is shown as the engine made it, but for the few colours AgX cannot
    # show (the most saturated ones), which come as close as it can.
    assert f["styled_within_1"] >= 0.95 and f["styled_off_mean"] <= 1.0, f


@scenario(33)
def compositor_says_before_rendering():
    """What used to fail (or be ignored) only after a whole render is said before one starts."""
    scene = bpy.context.scene
    nst = scene.nst
    jobs = addon_module("jobs")
    renders = []

    def count(*_):
        renders.append(1)
    bpy.app.handlers.render_pre.append(count)
    out = {}
    try:
        nst.slots.clear()
        bpy.ops.nst.slot_add()
        slot = nst.slots[0]
        slot.style_path, nst.method, nst.work_size = env.style, "ADAIN", 0
        slot.mask_source = "IMAGE"
        out["no_mask_image"] = (error_of(lambda: bpy.ops.nst.compositor_apply()), len(renders))
        slot.mask_source, slot.mask_objects = "CRYPTOMATTE", "Cube, Nonesuch"
        out["unknown_crypto"] = (error_of(lambda: bpy.ops.nst.compositor_apply()), len(renders))
        slot.mask_source = "NONE"
        scene.render.use_compositing = False
        out["compositing_off"] = (error_of(lambda: bpy.ops.nst.compositor_apply()), len(renders))
        scene.render.use_compositing = True
        slot.weight = 0.0
        out["all_weights_zero"] = (error_of(lambda: bpy.ops.nst.compositor_apply()), len(renders))
        slot.weight = 1.0
        nst.work_size = 100000
        r = bpy.ops.nst.compositor_apply()
        out["huge_preview"] = (sorted(r), jobs.STATE.last_report, len(renders))
    finally:
        bpy.app.handlers.render_pre.remove(count)
        nst.work_size = 0
        nst.slots.clear()
    return out


@pytest.mark.parametrize("case,words", [
    ("no_mask_image", "choose the mask image"),
    ("unknown_crypto", "no object named 'Nonesuch'"),
    ("compositing_off", "Compositing is off"),
    ("all_weights_zero", "every style slot's weight is 0"),      # said "the list is empty"
])
def test_slot_errors_come_before_the_render(facts, case, words):
    said, renders = fact(facts, "compositor_says_before_rendering")[case]
    assert said.startswith("Error:") and words in said and renders == 0


def test_a_preview_size_above_the_render_says_full_resolution(facts):
    result, said, renders = fact(facts, "compositor_says_before_rendering")["huge_preview"]
    assert result == ["FINISHED"] and renders == 1
    assert "Preview Size 100000 px is not below the render's 96 px" in said


@scenario(35)
def apply_into_an_artists_tree():
    """The NST Style node put into a compositor that has the artist's grade between the render
    and the output (Render Layers → Invert → output), and into the default one."""
    nodegroup = addon_module("nodegroup")
    out = {}
    for case in ("graded", "default"):
        with compositor_scene(32, 24) as (scene, tree, output):
            rl = tree.nodes.new("CompositorNodeRLayers")
            rl.scene, rl.layer = scene, scene.view_layers[0].name
            viewer = tree.nodes.new("CompositorNodeViewer")
            tree.links.new(rl.outputs["Image"], viewer.inputs[0])
            if case == "graded":
                grade = tree.nodes.new("CompositorNodeInvert")
                tree.links.new(rl.outputs["Image"], grade.inputs["Color"])
                tree.links.new(grade.outputs[0], output.inputs[0])
            else:
                grade = rl
                tree.links.new(rl.outputs["Image"], output.inputs[0])
            group = nodegroup.ensure_group()
            nodegroup.insert_group(scene, group, scene.view_layers[0])
            names = {grade.name: "grade", rl.name: "render", output.name: "output",
                     viewer.name: "viewer", nodegroup.GROUP: "nst"}
            out[case] = sorted(f"{names[link.from_node.name]}>{names[link.to_node.name]}"
                               for link in tree.links)
            bpy.data.node_groups.remove(group)
    return out


def test_apply_puts_the_style_before_the_artists_grade(facts):
    """An artist trial: Apply Styles linked its node into the output, cutting the artist's grade
    (an Invert between the render and the output) out of the picture. The style now goes in
    right after the render, so the grade applies to the stylized frames (after.py); a Viewer
    of the render keeps the plain render."""
    f = fact(facts, "apply_into_an_artists_tree")
    assert f["graded"] == ["grade>output", "nst>grade", "render>nst", "render>viewer"], f
    assert f["default"] == ["nst>output", "render>nst", "render>viewer"], f
