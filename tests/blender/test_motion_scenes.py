"""Temporal Coherence on the scenes where it used to fail (issue 45), rendered by Blender: a
plain-coloured shadowless sphere crossing a still set (ghost trails behind it; a clean render's
still parts must stay still), the same render noisy, a fast sphere (30 px a frame, then it
stops), a camera turning, trucking beside the sphere or moving in, and a turning textured
Suzanne. Each scene is rendered once through the add-on's own pass route; the engine-side
measurements are below and in scripts/animation_eval.py --scene."""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from harness import add_cube, add_object, addon_module, env, fact, lent_scene, scenario

bpy = pytest.importorskip("bpy")

SCENES = {  # name: (samples, clean, sphere travel in units (start, end, last frame), camera pan, Suzanne)
    "clean": (64, True, (-1.8, 1.8, 14), False, False),
    "noisy": (4, False, (-1.8, 1.8, 14), False, False),
    "fast": (64, True, (-3.2, 3.2, 8), False, False),
    "pan": (64, True, (-1.8, 1.8, 14), "turn", False),
    "truck": (64, True, (-1.8, 1.8, 14), "truck", False),
    "dolly": (64, True, (-1.8, 1.8, 14), "dolly", False),
    "turning": (64, True, None, False, True),
}
CAMERA_MOVES = ("pan", "truck", "dolly")    # the camera turns in place; travels sideways beside
                                            # the sphere; moves in towards the set
FRAMES = int(os.environ.get("NST_SCENE_FRAMES", "14"))     # more: the Suzanne turns on at its speed
SIZE = tuple(int(x) for x in os.environ.get("NST_SCENE_SIZE", "240x180").split("x"))
ONLY = os.environ.get("NST_SCENES", ",".join(SCENES)).split(",")
MOVER = 1                       # the moving object's pass index: its mask is the object footprint


def _material(name, color, image=None, repeat=1.0):
    m = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        m.use_nodes = True
    nodes = m.node_tree.nodes
    bsdf = nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = color
    bsdf.inputs["Roughness"].default_value = 0.8
    if image is not None:
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = bpy.data.images.load(str(image), check_existing=True)
        mapping = nodes.new("ShaderNodeMapping")
        mapping.inputs["Scale"].default_value = (repeat, repeat, 1)
        m.node_tree.links.new(nodes.new("ShaderNodeTexCoord").outputs["UV"], mapping.inputs["Vector"])
        m.node_tree.links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
        m.node_tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    return m


def _build(name, borrowed):
    samples, clean, travel, pan, suzanne = SCENES[name]
    scene, col = borrowed
    import bmesh
    textures = Path(env.style).parents[1] / "texture"
    scene.cycles.use_animated_seed = not clean
    scene.cycles.use_denoising = clean
    scene.frame_start, scene.frame_end = 1, FRAMES
    scene.world = bpy.data.worlds.new("NST sky")
    scene.world.color = (0.45, 0.55, 0.75)
    ground = add_cube(col, "NST ground", 1.0, (0, 0, -0.5))
    ground.scale = (30, 30, 1)
    ground.data.materials.append(_material("NST ground", (0.6, 0.5, 0.4, 1),
                                           textures / "ambientcg_PavingStones037_2K_Color.jpg", 12))
    block = add_cube(col, "NST block", 1.6, (1.2, 2.5, 0.8))
    block.data.materials.append(_material("NST block", (0.2, 0.35, 0.7, 1)))
    mesh = bpy.data.meshes.new("NST mover")
    bm = bmesh.new()
    bm.loops.layers.uv.new()               # for calc_uvs to fill
    if suzanne:
        from mathutils import Matrix
        bmesh.ops.create_monkey(bm, matrix=Matrix.Scale(1.1, 4), calc_uvs=True)
    else:
        bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=0.7, calc_uvs=True)
    for face in bm.faces:
        face.smooth = True
    bm.to_mesh(mesh)
    bm.free()
    mover = add_object(col, "NST mover", mesh, (0, 0, 0.9 if suzanne else 0.7))
    mover.pass_index = MOVER
    if suzanne:                 # turns half a turn about its vertical axis, in place
        mover.data.materials.append(_material("NST mover", (1, 1, 1, 1), textures / "red_peppers.jpg"))
        mover.rotation_euler = (0, 0, math.radians(-60))
        mover.keyframe_insert("rotation_euler", frame=1)
        mover.rotation_euler = (0, 0, math.radians(-60 + 120 * (FRAMES - 1) / 13))
        mover.keyframe_insert("rotation_euler", frame=FRAMES)
    else:                       # plain-coloured and casting no shadow: the ghost scene
        mover.data.materials.append(_material("NST mover", (0.9, 0.75, 0.1, 1)))
        mover.visible_shadow = False
        start, end, last = travel
        mover.location.x = start
        mover.keyframe_insert("location", frame=1)
        mover.location.x = end
        mover.keyframe_insert("location", frame=last)
    cam = add_object(col, "NST camera", bpy.data.cameras.new("NST camera"), (0, -8, 3.2),
                     (math.radians(72), 0, math.radians(5 if pan == "turn" else 0)))
    if pan == "turn":
        cam.keyframe_insert("rotation_euler", frame=1)
        cam.rotation_euler[2] = math.radians(-5)
        cam.keyframe_insert("rotation_euler", frame=FRAMES)
    elif pan == "truck":        # two thirds of the sphere's travel: the set comes in at the right edge
        cam.location.x = -1.2
        cam.keyframe_insert("location", frame=1)
        cam.location.x = -1.2 + 2.4 * (FRAMES - 1) / 13         # on at its speed past frame 14
        cam.keyframe_insert("location", frame=FRAMES)
    elif pan == "dolly":        # 3 units in along its view: the set grows out from the centre
        cam.keyframe_insert("location", frame=1)
        ahead = 3 * (FRAMES - 1) / 13
        cam.location.y, cam.location.z = -8 + ahead * math.sin(math.radians(72)), \
            3.2 - ahead * math.cos(math.radians(72))
        cam.keyframe_insert("location", frame=FRAMES)
    for curve in _curves(mover) + _curves(cam):     # at a steady speed, not eased in and out
        for key in curve.keyframe_points:
            key.interpolation = "LINEAR"
    sun = add_object(col, "NST sun", bpy.data.lights.new("NST sun", "SUN"), rotation=(0.7, 0.2, 0.5))
    sun.data.energy = 3
    scene.camera = cam
    return samples


def _curves(obj):
    """The F-curves of ``obj``'s action (Blender 5 keeps them in the action's channelbags)."""
    action = obj.animation_data.action if obj.animation_data else None
    if action is None:
        return []
    if hasattr(action, "fcurves"):
        return list(action.fcurves)
    return [c for layer in action.layers for strip in layer.strips for bag in strip.channelbags
            for c in bag.fcurves]


@scenario(75)
def motion_scenes():
    """Each scene rendered with its Vector and Depth passes and the mover's mask: an .npz per
    scene of frames (as Blender shows them), vectors, depths and masks."""
    passes, pixels, cameras = addon_module("passes"), addon_module("pixels"), addon_module("cameras")
    slot = SimpleNamespace(mask_source="OBJECT_INDEX", mask_index=MOVER)
    out = {}
    for name in (n for n in SCENES if n in ONLY):
        frames, vectors, depths, masks, views = [], [], [], [], []
        with lent_scene(f"NST {name}", *SIZE, SCENES[name][0]) as borrowed:
            _build(name, borrowed)
            scene = borrowed[0]
            for frame in range(1, FRAMES + 1):
                scene.frame_set(frame)
                raw, mask, vector, depth = passes.render_passes(scene, bpy.context.view_layer, [slot],
                                                                motion=True)
                frames.append(pixels.linear_to_straight_srgb(raw)[..., :3])
                vectors.append(vector)
                depths.append(depth)
                masks.append(mask[0])
                views.append(cameras.view(scene, frame))
            moving, whole = addon_module("plates").moving_objects(scene)
            plate = {}
            if not whole:                   # the clean plate, as Apply Styles renders it
                scene.frame_set(1)
                for obj in moving:
                    obj.hide_render = True
                raw, *_ = passes.render_passes(scene, bpy.context.view_layer, [])
                plate["clean"] = pixels.linear_to_straight_srgb(raw)[..., :3]
                for obj in moving:
                    obj.hide_render = False
            out.setdefault("moving", {})[name] = ([o.name for o in moving], whole)
        path = os.path.join(env.work, f"scene_{name}.npz")
        np.savez_compressed(path, frames=np.stack(frames), vectors=np.stack(vectors),
                            depths=np.stack(depths), masks=np.stack(masks), views=np.stack(views),
                            **plate)
        out[name] = path
    moving = out.pop("moving", {})
    return {"paths": out, "blender5": bpy.app.version >= (5, 0, 0), "moving": moving}


def test_the_scenes_are_what_they_say(facts):
    """The clean render is clean (still parts change < 1.5/255 a frame), the noisy one is not,
    and the mover moves about as fast as the scene says."""
    from nst_core import metrics, motion
    paths = fact(facts, "motion_scenes")["paths"]
    still = {}
    for name, path in paths.items():
        data = np.load(path)
        frames, vectors, masks = list(data["frames"]), list(data["vectors"]), data["masks"]
        assert masks[:, :, :].max() == 1 and (masks.reshape(len(masks), -1).mean(1) > 0.005).all(), name
        still[name] = metrics.evaluate_frames(frames, frames, vectors)["still_difference_plain"]
        if name in ("clean", "fast"):
            last = SCENES[name][2][2]
            centres = [np.nonzero(m)[1].mean() for m in masks[:last]]
            speed = np.median(np.abs(np.diff(centres)))
            assert (9 <= speed <= 14) if name == "clean" else speed >= 25, (name, speed)
    assert still["clean"] < 1.5 < still["noisy"], still
    if "truck" in paths:    # the set travels across the picture, its depths at their own speeds
        truck = np.load(paths["truck"])
        for v, m, d in zip(truck["vectors"][1:], truck["masks"][1:], truck["depths"][1:]):
            x = np.abs(motion.flows(v)[0][..., 0][(m < 0.5) & (d < motion.FAR)])
            assert 5 <= np.median(x) <= 9 and np.percentile(x, 90) - np.percentile(x, 10) >= 4, \
                np.percentile(x, (10, 50, 90))
    if "dolly" in paths:    # every frame's set moves, though each component's median is ~0
        dolly = np.load(paths["dolly"])
        for v in dolly["vectors"][1:]:
            backward, forward = motion.flows(v)
            assert not motion.still_camera(backward, forward)
            assert np.abs(np.median(backward[::4, ::4].reshape(-1, 2), 0)).max() < 0.5
    # what plates.py hides for the clean plate: the mover, moved or turned; none with a pan
    moving = fact(facts, "motion_scenes")["moving"]
    for name, (objects, whole) in moving.items():
        assert (objects, whole) == (["NST mover"], "the camera moves" if name in CAMERA_MOVES else ""), \
            (name, moving)
        assert ("clean" in np.load(paths[name])) == (name not in CAMERA_MOVES), name


@pytest.fixture(scope="module")
def scenes(facts):
    got = fact(facts, "motion_scenes")
    return {name: dict(np.load(path)) for name, path in got["paths"].items()}, got["blender5"]


def _stylized(scene, runtime, method, strength, plate=False, cameras=True):
    from conftest import DATA
    from nst_core import Settings, load_image, temporal
    style = load_image(DATA / "style" / "vangogh_starry_night.jpg")[..., :3]
    settings = Settings(method, "vangogh_starry_night" if method == "stylebank" else style)
    coherence = temporal.Coherence(strength, clean=scene["clean"] if plate else None)
    views = scene["views"] if cameras else [None] * len(scene["frames"])
    return [coherence.stylize(f, settings, vector=v, depth=d, view=view, runtime=runtime).image[..., :3]
            for f, v, d, view in zip(scene["frames"], scene["vectors"], scene["depths"], views)]


@pytest.mark.parametrize("method", ["wct", "adain", "stylebank"])
def test_no_trail_behind_a_moving_object_and_a_clean_render_stays_still(scenes, runtime, method):
    """Temporal Coherence 1 on the clean render of a plain-coloured shadowless sphere crossing
    a still set (issue 45): the ghost ratio (how much more the result differs from each frame
    stylized alone where the sphere was 2-4 frames before than where it will be) is at most
    1.3, and the still set changes at most 1.5x as much as the render does from frame to frame,
    away from the sphere (at least 4 px) and over all its still pixels, its silhouette's ring
    and where it started included (before: ghost ratio 1.2-1.5, still parts 15-31x the render's
    change; then the ring and the start region 2.1-3.1x). docs/animation.md has the figures of
    every scene."""
    from nst_core import metrics
    by_name, blender5 = scenes
    scene = by_name["clean"]
    frames, vectors, depths = list(scene["frames"]), list(scene["vectors"]), list(scene["depths"])
    coherent = _stylized(scene, runtime, method, 1.0)
    alone = _stylized(scene, runtime, method, 0.0)
    ghost = metrics.ghost_ratio(coherent, alone, list(scene["masks"]))
    scores = metrics.evaluate_frames(frames, coherent, vectors, depths)
    assert ghost <= 1.3, ghost
    assert scores["clear_ratio"] <= 1.5, scores
    assert scores["still_ratio"] <= 1.5, scores


@pytest.mark.parametrize("method", ["wct", "adain", "stylebank"])
def test_with_the_clean_plate_what_the_sphere_uncovers_was_painted_before(scenes, runtime, method):
    """The same with the shot's clean plate (the set rendered without the sphere, as Apply
    Styles renders it: plates.py): the still set is one painting from the first frame, so no
    trail (ghost ratio at most 1.0; measured 0.57-0.77) and the still parts change less than
    the render does (at most 0.6x, everywhere and in the worst pair; measured 0.24-0.29: the
    plate with the render's change, smoothed; learnt from the frames, 0.67-0.91 and worst
    pairs 1.36-2.12). Blender 4.2's render of the scene changes under and around the sphere
    (its light on the floor) where 5.0's does not: there the still parts change 0.80-1.03x
    (worst pair 0.93-1.81; learnt, WCT: 1.41, worst 2.41), checked against 1.2x."""
    from nst_core import metrics
    by_name, blender5 = scenes
    scene = by_name["clean"]
    frames, vectors, depths = list(scene["frames"]), list(scene["vectors"]), list(scene["depths"])
    coherent = _stylized(scene, runtime, method, 1.0, plate=True)
    alone = _stylized(scene, runtime, method, 0.0)
    ghost = metrics.ghost_ratio(coherent, alone, list(scene["masks"]))
    scores = metrics.evaluate_frames(frames, coherent, vectors, depths)
    print(f"PLATE {method} ghost {ghost:.2f} " + " ".join(
        f"{k} {scores[k]:.2f}" for k in ("clear_ratio", "still_ratio", "still_ratio_worst")
        if k in scores))
    assert ghost <= 1.0, ghost
    if blender5:
        assert max(scores[k] for k in ("clear_ratio", "still_ratio", "still_ratio_worst")) <= 0.6, scores
    else:
        assert max(scores[k] for k in ("clear_ratio", "still_ratio")) <= 1.2, scores


@pytest.mark.parametrize("method", ["wct", "adain", "stylebank"])
def test_a_turning_textured_object_carries_its_strokes_and_keeps_them_fine(scenes, runtime, method):
    """Temporal Coherence 1 with the clean plate on the turning Suzanne with an image texture
    (issue 45: a moving surface carries its strokes, without smearing them over the frames):
    its own warping ratio is at most 1.5 (measured 0.79 / 0.97 / 0.92 for AdaIN / StyleBank /
    WCT since its shadow shows the plate darkened, 0.89 / 1.08 / 1.18 before; each frame alone
    7.1 / 9.7 / 11.2), and its painting keeps at least 0.8 of the fine detail of the frames
    painted alone over the last 3 frames (measured 0.93 / 0.88 / 1.15, before 0.91 / 0.88 / 1.24;
    carried by Catmull-Rom alone, and the render filtered on what moves, 0.75 / 0.72 / 1.01)."""
    from nst_core import metrics, motion
    by_name, blender5 = scenes
    scene = by_name["turning"]
    frames, masks = list(scene["frames"]), [m > 0.5 for m in scene["masks"]]
    flows = [motion.flows(v)[0] for v in scene["vectors"][1:]]
    coherent = _stylized(scene, runtime, method, 1.0, plate=True)
    alone = _stylized(scene, runtime, method, 0.0)
    own = metrics.warping_error(coherent, flows, masks[1:]) / metrics.warping_error(frames, flows, masks[1:])
    sharp = metrics.sharpness_ratio(coherent, alone, masks)
    print(f"TURNING {method} own warping ratio {own:.2f} sharpness {sharp:.2f}")
    assert own <= 1.5, own
    assert sharp >= 0.8, sharp


def _turn(scene) -> list:
    """The flow of each frame's world background from the one before, by the cameras' views
    (add-on's cameras.py): every pixel taken as far."""
    from nst_core import motion
    views, (h, w) = scene["views"], scene["depths"].shape[1:]
    far = np.full((h, w), 1e10, np.float32)
    out = []
    for t in range(1, len(views)):
        flow = np.zeros((h, w, 2), np.float32)
        motion.background(flow, far, views[t], None, None, views[t - 1])
        out.append(flow)
    return out


def test_the_cameras_view_moves_the_turning_cameras_set_as_blenders_vectors_do(scenes):
    """The pan's camera only turns, so every point of the still set moves as the world
    background would: the add-on's view of each frame's camera (cameras.py: the camera
    evaluated at the frame, Blender's sensor fit) gives Blender's own Vector pass there to a
    hundredth of a pixel (measured: 1e-4 px median)."""
    from nst_core import motion
    pan = scenes[0]["pan"]
    for t, flow in enumerate(_turn(pan), 1):
        blender = motion.flows(pan["vectors"][t])[0]
        still_set = (pan["depths"][t] < motion.FAR) & (pan["masks"][t] < 0.5)
        error = np.abs(flow - blender)[still_set]
        assert np.median(error) < 0.01 and np.percentile(error, 99) < 0.05, (t, np.median(error))


@pytest.mark.parametrize("method", ["wct", "adain", "stylebank"])
def test_a_turning_cameras_sky_keeps_its_strokes_on_the_sky(scenes, runtime, method):
    """Blender's Vector pass gives the world background no motion: while the pan's camera
    turns, the sky (17 % of the frame) kept its first strokes on the screen, and its warping
    error along the turn was 0.75 / 0.53 / 0.85 of each frame painted alone's (AdaIN / WCT /
    StyleBank, Blender 5.0). With each frame's camera the strokes follow the turn: 0.16 /
    0.08 / 0.15 of alone's and 0.22 / 0.16 / 0.17 of the fixed strokes', checked against 0.4
    of either."""
    from nst_core import metrics
    pan = scenes[0]["pan"]
    turn = _turn(pan)
    sky = [(pan["depths"][t] >= 1e9) & (pan["depths"][t - 1] >= 1e9) for t in range(1, len(turn) + 1)]

    def sky_error(strength, cameras):
        return metrics.warping_error(_stylized(pan, runtime, method, strength, cameras=cameras),
                                     turn, sky)
    followed = sky_error(1.0, True)
    fixed, alone = sky_error(1.0, False), sky_error(0.0, False)
    print(f"SKY {method} followed {followed:.5f} fixed {fixed:.5f} alone {alone:.5f}")
    assert followed < 0.4 * min(fixed, alone), (followed, fixed, alone)


@pytest.mark.parametrize("name", ["truck", "dolly"])
@pytest.mark.parametrize("method", ["wct", "adain", "stylebank"])
def test_a_moving_camera_keeps_the_style_and_flickers_less(scenes, runtime, method, name):
    """A camera trucking sideways beside the sphere (the set at its depths moving 3-7 px a
    frame across the picture, parallax against the networks' grid), or moving in along its
    view (the set growing out from the centre): Temporal Coherence 1 keeps the style of the
    frames alone (worst style-gain drop at most 0.05 on frames 2, 5, 8, 11; measured, WCT /
    AdaIN / StyleBank, truck 0.000 / 0.037 / 0.008, dolly -0.000 / 0.028 / -0.002; the truck
    with the statistics averaged over the frames and WCT's blend not halved off the grid 0.036 /
    0.055 / 0.057, over 24 frames 0.108 / 0.085 / 0.115: washed out, streaked; the dolly taken
    for a still camera 0.042 / 0.096 / 0.079: crescents of the sphere, straight-edged patches)
    and still flickers less (warping error along the motion at most 0.7 of the frames alone's;
    measured truck 0.26 / 0.26 / 0.52, dolly 0.36 / 0.31 / 0.62)."""
    from conftest import DATA
    from nst_core import load_image, metrics, motion
    shot = scenes[0][name]
    frames, vectors, depths = list(shot["frames"]), list(shot["vectors"]), list(shot["depths"])
    style = load_image(DATA / "style" / "vangogh_starry_night.jpg")[..., :3]
    coherent = _stylized(shot, runtime, method, 1.0)
    alone = _stylized(shot, runtime, method, 0.0)
    drops = [metrics.evaluate(frames[t], style, alone[t], runtime=runtime).style_gain
             - metrics.evaluate(frames[t], style, coherent[t], runtime=runtime).style_gain
             for t in range(2, len(frames), 3)]
    flows = [motion.flows(v)[0] for v in vectors[1:]]
    seen = [motion.valid(flows[t - 1], motion.flows(vectors[t - 1])[1], depths[t], depths[t - 1]) > 0
            for t in range(1, len(frames))]
    warping = metrics.warping_error(coherent, flows, seen) / metrics.warping_error(alone, flows, seen)
    print(f"{name.upper()} {method} worst gain drop {max(drops):.3f} warping against alone {warping:.2f}")
    assert max(drops) <= 0.05, drops
    assert warping <= 0.7, warping
