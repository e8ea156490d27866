"""addon/compositor.py: Apply Styles blends the style slots by weight and render-pass mask into
the node group 'NST Style', updates it in place, previews at a smaller size, and refuses an
empty style list or built-in styles with another method."""

from __future__ import annotations

import numpy as np
import pytest

from harness import env, error_of, fact, pixels, render_file_output, scenario, tree_of

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
