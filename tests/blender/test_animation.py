"""addon/animation.py and nst_core/temporal.py in Blender: the Vector pass's conventions, a
rendered sequence stylized with and without Temporal Coherence, and the animation operators."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from harness import (add_cube, add_object, addon_module, env, error_of, fact, lent_scene,
                     object_index, pixels, render_as_shown, scenario)

bpy = pytest.importorskip("bpy")

# scripts/animation_eval.py renders the same scene at other sizes through these
FRAMES = int(os.environ.get("NST_MOTION_FRAMES", 24))
SIZE = tuple(int(x) for x in os.environ.get("NST_MOTION_SIZE", "320x240").split("x"))


@scenario(70)
def vector_pass_convention():
    """A cube seen by an orthographic camera (10 px per unit) moves +1, +0.5 (right, up) from
    frame 1 to 2 and +2, 0 from frame 2 to 3: the flows at frame 2 say where it was and will be."""
    passes, motion = addon_module("passes"), addon_module("nst_core.motion")
    with lent_scene("NST vectors", 80, 60, 1) as (scene, col):
        cam = bpy.data.cameras.new("NST ortho")
        cam.type, cam.ortho_scale = "ORTHO", 8
        scene.camera = add_object(col, "NST ortho", cam, (0, 0, 10))
        cube = add_cube(col, "NST mover", 1.0, (0, 0, 0))
        for frame, x, y in ((1, 0, 0), (2, 1, 0.5), (3, 3, 0.5)):
            cube.location = (x, y, 0)
            cube.keyframe_insert("location", frame=frame)
        scene.frame_set(2)
        _, _, vector, depth = passes.render_passes(scene, bpy.context.view_layer, [], motion=True)
    backward, forward = motion.flows(vector)
    at = (30 - 5, 40 + 10)          # the cube's centre at frame 2, top row first
    return {"backward": backward[at].tolist(), "blender5": bpy.app.version >= (5, 0, 0),
            "forward": forward[at].tolist(),
            "still": backward[2, 2].tolist(), "depth": float(depth[at])}


def test_vector_pass_gives_where_each_pixel_was_and_will_be(facts):
    f = fact(facts, "vector_pass_convention")
    assert f["backward"] == pytest.approx([-10, 5], abs=0.01)     # was 10 px left, 5 px lower
    if f["blender5"]:
        assert f["forward"] == pytest.approx([20, 0], abs=0.01)
    else:                           # 4.x's compositor drops the 4th channel: x alone
        assert f["forward"] == pytest.approx([20], abs=0.01)
    assert f["still"] == [0, 0] and f["depth"] == pytest.approx(9.5, abs=0.01)


def _motion_scene(borrowed):
    """Camera pan (frames 1–12, then still) plus a sphere rolling across, Cycles with an
    animated seed, checker textures so the strokes have something to hold on to."""
    scene, col = borrowed
    scene.cycles.use_animated_seed = True
    scene.cycles.use_denoising = False
    scene.frame_start, scene.frame_end = 1, FRAMES
    scene.world = bpy.data.worlds.new("NST sky")
    scene.world.color = (0.5, 0.6, 0.8)

    def material(name, color, scale):
        m = bpy.data.materials.new(name)
        if bpy.app.version < (5, 0, 0):
            m.use_nodes = True
        nodes = m.node_tree.nodes
        tex = nodes.new("ShaderNodeTexChecker")
        tex.inputs["Scale"].default_value = scale
        tex.inputs["Color1"].default_value = color
        tex.inputs["Color2"].default_value = (0.9, 0.85, 0.7, 1)
        m.node_tree.links.new(tex.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
        return m
    ground = add_cube(col, "NST ground", 1.0, (0, 0, -0.5))
    ground.scale = (30, 30, 1)
    ground.data.materials.append(material("NST ground", (0.2, 0.5, 0.2, 1), 12))
    wall = add_cube(col, "NST wall", 1.0, (0, 6.5, 3))
    wall.scale = (30, 1, 8)
    wall.data.materials.append(material("NST wall", (0.3, 0.3, 0.6, 1), 20))
    for i, x in enumerate((-4, -1.5, 1.5, 4)):
        add_cube(col, f"NST box {i}", 1.2, (x, 3, 0.6)).data.materials.append(
            material(f"NST box {i}", (0.7, 0.2, 0.1, 1), 4))
    import bmesh
    mesh = bpy.data.meshes.new("NST ball")
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=0.8)
    for face in bm.faces:
        face.smooth = True
    bm.to_mesh(mesh)
    bm.free()
    sphere = add_object(col, "NST ball", mesh, (-3, 0, 0.8))
    sphere.data.materials.append(material("NST ball", (0.9, 0.8, 0.1, 1), 6))
    sphere.keyframe_insert("location", frame=1)
    sphere.location = (3, 0, 0.8)
    sphere.keyframe_insert("location", frame=FRAMES)
    sun = add_object(col, "NST sun", bpy.data.lights.new("NST sun", "SUN"), rotation=(0.6, 0.2, 0.3))
    sun.data.energy = 3
    cam = add_object(col, "NST camera", bpy.data.cameras.new("NST camera"), (-1, -9, 3.5),
               (math.radians(78), 0, math.radians(4)))
    scene.camera = cam
    cam.keyframe_insert("rotation_euler", frame=1)
    cam.rotation_euler[2] = math.radians(-4)
    cam.keyframe_insert("rotation_euler", frame=FRAMES // 2)


@scenario(71)
def motion_sequence():
    """Render the motion scene with its Vector and Depth passes (the add-on's own route) and
    keep the frames, as Blender shows them, for the engine-side measurements."""
    passes, pixels = addon_module("passes"), addon_module("pixels")
    frames, vectors, depths = [], [], []
    with lent_scene("NST motion", *SIZE, 16) as borrowed:
        _motion_scene(borrowed)
        scene = borrowed[0]
        for frame in range(1, FRAMES + 1):
            scene.frame_set(frame)
            raw, _, vector, depth = passes.render_passes(scene, bpy.context.view_layer, [], motion=True)
            frames.append(pixels.linear_to_straight_srgb(raw)[..., :3])
            vectors.append(vector)
            depths.append(depth)
    path = os.path.join(env.work, "motion_sequence.npz")
    np.savez_compressed(path, frames=np.stack(frames), vectors=np.stack(vectors), depths=np.stack(depths))
    return {"path": path}


@pytest.fixture(scope="module")
def sequence(facts):
    data = np.load(fact(facts, "motion_sequence")["path"])
    return list(data["frames"]), list(data["vectors"]), list(data["depths"])


@pytest.mark.parametrize("method", ["wct", "adain", "stylebank"])
def test_temporal_coherence_on_a_rendered_sequence(sequence, runtime, method):
    """At the default coherence: the warping error is at most 1.5× the render's (the issue's
    goal; also in Blender 4.2, whose compositor drops the forward y vector, so its validity is
    coarser) and falls by at least 30 %, the still regions flicker no more than 1.5× the
    render's own frame difference (without: more), and the style stays: each frame's style gain
    against that frame stylized alone drops by at most 0.05 on average and 0.1 at worst
    (docs/animation.md has the full figures)."""
    from conftest import DATA
    from nst_core import Settings, load_image, metrics, temporal
    frames, vectors, depths = sequence
    style = load_image(DATA / "style" / "vangogh_starry_night.jpg")[..., :3]
    styles = "vangogh_starry_night" if method == "stylebank" else style     # a bank of that painting
    runs = {}
    for strength in (0.0, 1.0):
        coherence = temporal.Coherence(strength)
        runs[strength] = [coherence.stylize(f, Settings(method, styles), vector=v, depth=d,
                                            runtime=runtime).image
                          for f, v, d in zip(frames, vectors, depths)]
    off = metrics.evaluate_frames(frames, runs[0.0], vectors, depths)
    on = metrics.evaluate_frames(frames, runs[1.0], vectors, depths)
    assert on["warping_ratio"] <= 1.5 and on["warping_ratio"] < 0.7 * off["warping_ratio"], (on, off)
    assert on["still_ratio"] <= 1.5 < off["still_ratio"], (on, off)
    drops = [metrics.evaluate(frames[t], style, runs[0.0][t], runtime=runtime).style_gain
             - metrics.evaluate(frames[t], style, runs[1.0][t], runtime=runtime).style_gain
             for t in range(2, len(frames), 3)]
    assert np.mean(drops) <= 0.05 and max(drops) <= 0.1, drops


@scenario(72)
def animation_with_coherence():
    scene = bpy.context.scene
    folder = os.path.join(env.work, "coherent")
    before = scene.view_layers[0].use_pass_vector
    r = bpy.ops.nst.stylize_animation(style_path=env.style, method="ADAIN", frame_start=1, frame_end=3,
                                      directory=folder + os.sep, temporal_coherence=1.0)
    return {"result": sorted(r), "files": sorted(os.listdir(folder)),
            "vector_pass": (before, scene.view_layers[0].use_pass_vector)}


def test_stylize_animation_with_temporal_coherence(facts):
    f = fact(facts, "animation_with_coherence")
    # the Vector pass it rendered with is set back: the artist's view layer is as it was
    assert f["result"] == ["FINISHED"] and f["vector_pass"] == [False, False], f
    assert f["files"] == ["frame_0001.png", "frame_0002.png", "frame_0003.png"]


@scenario(72)
def animation_across_a_camera_cut():
    """Two cameras bound to timeline markers (frames 1 and 3), Stylize Animation of frames 1-4
    with Temporal Coherence: when it starts afresh (Coherence.reset, recorded by frame)."""
    scene = bpy.context.scene
    first = scene.camera
    second = bpy.data.objects.new("NST second camera", bpy.data.cameras.new("NST second camera"))
    scene.collection.objects.link(second)
    second.location, second.rotation_euler = (-6, 5, 3), (1.2, 0, -2.3)
    marks = [scene.timeline_markers.new("NST A", frame=1), scene.timeline_markers.new("NST B", frame=3)]
    marks[0].camera, marks[1].camera = first, second
    coherence = addon_module("engine").Coherence
    resets, reset = [], coherence.reset

    def record(self, *args, **kwargs):
        resets.append(bpy.context.scene.frame_current)
        return reset(self, *args, **kwargs)
    coherence.reset = record
    try:
        r = bpy.ops.nst.stylize_animation(style_path=env.style, method="ADAIN", frame_start=1,
                                          frame_end=4, directory=os.path.join(env.work, "cut") + os.sep,
                                          temporal_coherence=1.0)
    finally:
        coherence.reset = reset
        for mark in marks:
            scene.timeline_markers.remove(mark)
        scene.camera = first
        bpy.data.objects.remove(second)
    return {"result": sorted(r), "resets": resets}


def test_temporal_coherence_starts_afresh_where_another_camera_takes_over(facts):
    """Blender's Vector pass is 0 at a switch between two cameras that stand still (measured),
    so the coherence would carry the first camera's painting and statistics into the second's
    view: it starts afresh at the frame the marker switches (and once as it is made)."""
    f = fact(facts, "animation_across_a_camera_cut")
    assert f["result"] == ["FINISHED"] and len(f["resets"]) == 2 and f["resets"][-1] == 3, f


@scenario(73)
def apply_styles_to_animation():
    """Frames are written as the Render window shows them (the scene's view transform, AgX by
    default), so outside the mask a frame is the render as the artist saw it."""
    scene = bpy.context.scene
    nst = scene.nst
    nst.slots.clear()
    nst.method = "ADAIN"
    bpy.ops.nst.slot_add()
    nst.slots[0].style_path = env.style
    nst.slots[0].mask_source, nst.slots[0].mask_index = "OBJECT_INDEX", 3
    folder = os.path.join(env.work, "styled")
    r = bpy.ops.nst.compositor_apply_animation(directory=folder + os.sep)
    files = sorted(os.listdir(folder))
    nst.slots.clear()
    scene.frame_set(1)
    cube = np.abs(object_index(scene, "frame1_index")[::-1][..., 0] - 3) < 0.5
    scene.render.use_compositing = False
    try:
        bpy.ops.render.render()
        shown = render_as_shown(scene)
    finally:
        scene.render.use_compositing = True
    frame = bpy.data.images.load(os.path.join(folder, "frame_0001.png"))
    written = pixels(frame)[::-1][..., :3].copy()
    bpy.data.images.remove(frame)
    steps = np.rint(np.abs(written - shown) * 255).max(axis=-1)
    return {"result": sorted(r), "files": files, "view": scene.view_settings.view_transform,
            "outside_max": int(steps[~cube].max()), "inside_mean": float(steps[cube].mean())}


def test_apply_styles_to_animation_writes_every_frame(facts):
    f = fact(facts, "apply_styles_to_animation")
    assert f["result"] == ["FINISHED"] and f["files"] == ["frame_0001.png", "frame_0002.png"]


def test_apply_styles_to_animation_writes_frames_as_the_render_window_shows_them(facts):
    f = fact(facts, "apply_styles_to_animation")
    assert f["view"] == "AgX" and f["outside_max"] <= 1, f
    assert f["inside_mean"] > 5, f
