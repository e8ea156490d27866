"""addon/shutter.py: Motion Blur with Temporal Coherence in Blender's own animation render. Blender
renders no motion vectors with Motion Blur on, so the render is made sharp with its vectors,
stylized coherently, and blurred after the style along the same vectors."""

from __future__ import annotations

import contextlib
import io
import os

import numpy as np
import pytest

from harness import (SHOT, env, fact, moving_cube_shot, near, object_index, one_style, scenario,
                     shot_frames)

bpy = pytest.importorskip("bpy")
SHUTTER = 1.0           # a whole frame: the cube smears as far as it moves


def _render(scene, name: str) -> tuple[list, str]:
    scene.render.filepath = os.path.join(env.work, "shutter", name) + os.sep + "frame_"
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        bpy.ops.render.render(animation=True)
    return shot_frames(os.path.dirname(scene.render.filepath)), said.getvalue()


def _smeared(sharp: np.ndarray, blurred: np.ndarray) -> int:
    """How many columns the blur changed (in 3 rows or more, by over 4/255): how far it smears."""
    return int(((np.abs(blurred - sharp).max(-1) > 4 / 255).sum(0) >= 3).sum())


@scenario(87)
def live_render_with_motion_blur():
    scene = bpy.context.scene
    nst, r = scene.nst, scene.render
    one_style(nst, coherence=1.0)
    nst.method = "ADAIN"
    with moving_cube_shot(scene):
        scene.frame_set(1)
        bpy.ops.nst.compositor_apply()
        tree = scene.compositing_node_group if hasattr(scene, "compositing_node_group") \
            else scene.node_tree
        group = next(n for n in tree.nodes if n.type == "GROUP" and n.node_tree.name == "NST Style")
        r.motion_blur_shutter = SHUTTER
        sharp, _ = _render(scene, "sharp")                  # Temporal Coherence, no blur
        r.use_motion_blur = True
        blurred, said = _render(scene, "blurred")
        kept = (r.use_motion_blur, "nst_held" in scene)
        r.use_multiview = True                  # a render the node cannot stylize (said, plain)
        r.filepath = os.path.join(env.work, "shutter", "stereo") + os.sep + "frame_"
        said_refused = io.StringIO()
        with contextlib.redirect_stdout(said_refused):
            bpy.ops.render.render(animation=True)
        refused = said_refused.getvalue()
        r.use_multiview = False
        kept_refused = (r.use_motion_blur, "nst_held" in scene)
        r.motion_blur_position = "START"                    # the shutter opens at the frame
        ahead, _ = _render(scene, "ahead")
        r.motion_blur_position = "CENTER"
        group.mute = True
        plain_blurred, _ = _render(scene, "plain_blurred")  # Blender's own blur, no style
        r.use_motion_blur = False
        plain, _ = _render(scene, "plain")
        cubes = []
        for f in SHOT:
            scene.frame_set(f)
            cubes.append(np.abs(object_index(scene, f"mb_index{f}")[::-1, :, 0] - 3) < 0.5)
        group.mute = False
        r.motion_blur_shutter = 0.5
    travels = [cubes[max(i - 1, 0)] | c | cubes[min(i + 1, len(cubes) - 1)]
               for i, c in enumerate(cubes)]        # where the blur may reach: the cube's way
    reach = [near(near(t)) for t in travels]
    return {
        "said": [line for line in said.splitlines() if "Motion Blur" in line or "Coherence" in line],
        "motion_blur_kept": list(kept), "motion_blur_kept_refused": list(kept_refused),
        "refused": "Stereoscopy is on" in refused,
        "far_from_the_cube": [float(np.abs(b - s)[~m].max()) for b, s, m in zip(blurred, sharp, reach)],
        "near_the_cube": [float(np.abs(b - s)[m].mean()) for b, s, m in zip(blurred, sharp, reach)],
        "smeared": [_smeared(s, b) for s, b in zip(sharp, blurred)],
        "middle": {name: [float(np.flatnonzero(np.abs(b - s).max(-1).max(0) > 4 / 255).mean())
                          for s, b in zip(sharp, frames)]
                   for name, frames in (("centred", blurred), ("ahead", ahead))},
        "smeared_by_blender": [_smeared(p, b) for p, b in zip(plain, plain_blurred)],
    }


def test_motion_blur_is_made_after_the_style_with_temporal_coherence(facts):
    """Motion Blur on and Temporal Coherence 1: the frames are the coherent frames blurred along
    the cube's motion (before: Temporal Coherence was turned off for the render): away from the
    cube nothing changes; near it the blur spans about as many columns as Blender's own blur
    of the plain render (frames 2 and 3, where the cube moves fastest: 59 and 61 against 65 and
    66; at frames 1 and 4, where its keyframes ease in and out, 43 against 26 and 29: the
    vectors hold where it is a frame away, not how it eases); with the shutter's position Start
    on Frame the blur lies ahead of the cube; the render says so, and the scene's Motion Blur
    is on again after it."""
    f = fact(facts, "live_render_with_motion_blur")
    assert any("Motion Blur is made after the style" in line for line in f["said"]), f["said"]
    assert not any("Temporal Coherence is off" in line for line in f["said"]), f["said"]
    assert f["motion_blur_kept"] == [True, False], f
    assert f["refused"] and f["motion_blur_kept_refused"] == [True, False], f  # (before: off)
    assert max(f["far_from_the_cube"]) <= 2 / 255, f
    assert min(f["near_the_cube"]) >= 2 / 255, f
    for ours, blenders in list(zip(f["smeared"], f["smeared_by_blender"]))[1:3]:
        assert 0.7 * blenders <= ours <= 1.3 * blenders, f     # frames 2, 3: the cube at speed
    middle = f["middle"]                # Start on Frame: the blur lies ahead of the cube (right)
    assert all(a >= c + 2 for a, c in zip(middle["ahead"][1:3], middle["centred"][1:3])), middle


@scenario(88)
def stylize_animation_with_motion_blur():
    """Stylize Animation (its own renders, not Blender's animation render) of the moving cube
    with Temporal Coherence, Motion Blur off and on."""
    scene = bpy.context.scene
    r = scene.render
    folders = {name: os.path.join(env.work, "shutter_op", name) for name in ("sharp", "blurred")}
    with moving_cube_shot(scene):
        r.motion_blur_shutter = SHUTTER
        for name, on in (("sharp", False), ("blurred", True)):
            r.use_motion_blur = on
            said = io.StringIO()
            with contextlib.redirect_stdout(said):
                result = bpy.ops.nst.stylize_animation(
                    style_path=env.style, method="ADAIN", directory=folders[name] + os.sep,
                    temporal_coherence=1.0)
        kept = (r.use_motion_blur, "nst_held" in scene)
        r.use_motion_blur, r.motion_blur_shutter = False, 0.5
        cubes = []
        for f in SHOT:
            scene.frame_set(f)
            cubes.append(np.abs(object_index(scene, f"op_index{f}")[::-1, :, 0] - 3) < 0.5)
    sharp, blurred = shot_frames(folders["sharp"]), shot_frames(folders["blurred"])
    reach = [near(near(cubes[max(i - 1, 0)] | c | cubes[min(i + 1, len(cubes) - 1)]))
             for i, c in enumerate(cubes)]
    return {"result": sorted(result), "motion_blur_kept": list(kept),
            "said": [line for line in said.getvalue().splitlines() if "Motion Blur" in line],
            "far_from_the_cube": [float(np.abs(b - s)[~m].max()) for b, s, m in zip(blurred, sharp, reach)],
            "smeared": [_smeared(s, b) for s, b in zip(sharp, blurred)]}


def test_stylize_animation_blurs_after_the_style_too(facts):
    """Stylize Animation with Motion Blur on (before: refused, "turn Motion Blur off"): its
    frames are its coherent frames blurred along the cube's motion, as the render's are."""
    f = fact(facts, "stylize_animation_with_motion_blur")
    assert f["result"] == ["FINISHED"] and f["motion_blur_kept"] == [True, False], f
    assert any("Motion Blur is made after the style" in line for line in f["said"]), f
    assert max(f["far_from_the_cube"]) <= 2 / 255, f
    assert min(f["smeared"][1:3]) >= 40, f
