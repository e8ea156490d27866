"""addon/plates.py: Apply Styles, with Temporal Coherence, renders the shot's clean plate (the set
without what moves in it) into the .blend; renders start their still set's painting from it.
Its use by renders in other processes (a farm's chunks): tests/gui/test_farm.py."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import (addon_module, env, fact, moving_cube_shot, pixels, render_as_shown, scenario,
                     tree_of)

bpy = pytest.importorskip("bpy")

REOPEN = """
import sys
import bpy, numpy as np
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
image = bpy.data.images[sys.argv[2]]
buf = np.empty(len(image.pixels), np.float32)
image.pixels.foreach_get(buf)
np.save(sys.argv[3], buf)
"""


# the Flamenco job type's warm-up frames, as its submit panel evaluates them in Blender
WARM_UP = re.search(r'key: "warmup_frames".*?eval: "([^"]*)"', (
    Path(__file__).resolve().parents[2] / "scripts" / "flamenco" / "nst_stylized_render.js"
).read_text(), re.S).group(1)


@scenario(93)
def clean_plate_at_apply():
    scene = bpy.context.scene
    nst = scene.nst
    cube = bpy.data.objects["Cube"]
    nst.slots.clear()
    bpy.ops.nst.slot_add()
    nst.slots[0].style_path, nst.slots[0].mask_source = env.style, "NONE"
    nst.method, nst.strength, nst.work_size = "ADAIN", 1.0, 0
    out = {}
    with moving_cube_shot(scene):
        scene.frame_set(2)
        nst.temporal_coherence = 0.0
        bpy.ops.nst.compositor_apply()
        out["plate_at_0"] = nst.clean_plate is not None
        nst.temporal_coherence = 1.0
        out["applied"] = sorted(bpy.ops.nst.compositor_apply())
        plate = nst.clean_plate
        out["plate"] = None if plate is None else {
            "name": plate.name, "size": list(plate.size), "packed": plate.packed_file is not None,
            "fake_user": plate.use_fake_user}
        out["cube_renders_after"] = not cube.hide_render
        out["frame_after"] = scene.frame_current
        group = next(n for n in tree_of(scene).nodes if n.type == "GROUP")
        group.mute = True                   # the plain render (else Apply's picture at its frame)
        bpy.ops.render.render()
        with_cube = render_as_shown(scene)
        cube.hide_render = True
        bpy.ops.render.render()
        without_cube = render_as_shown(scene)
        cube.hide_render, group.mute = False, False
        px = pixels(plate)[::-1][..., :3]
        cube_px = np.abs(with_cube - without_cube).max(-1) > 8 / 255
        out["cube_share"] = float(cube_px.mean())
        out["plate_vs_without_cube"] = float(np.abs(px - without_cube).max())
        out["plate_vs_with_cube_on_cube"] = float(np.abs(px - with_cube)[cube_px].mean())
        blend = os.path.join(env.work, "plate.blend")
        bpy.ops.wm.save_as_mainfile(filepath=blend, copy=True)
        saved = os.path.join(env.work, "plate_reopened.npy")
        run = subprocess.run([sys.executable, "-c", REOPEN, blend, plate.name, saved],
                             capture_output=True, text=True, timeout=300)
        if run.returncode == 0:
            again = np.load(saved).reshape(px.shape[0], px.shape[1], -1)[::-1][..., :3]
            out["reopened_diff"] = float(np.abs(again - px).max())
        else:
            out["reopened_diff"] = run.stderr[-2000:]
        # renders that cannot take the plate say so: another size, a set changed since Apply
        scene.render.filepath = os.path.join(env.work, "plate_frames") + os.sep + "frame_"
        said = {}
        for case in ("size", "set", "set again"):   # (the last: the same Blender session)
            light = bpy.data.objects.get("Light") or next(o for o in scene.objects if o.type == "LIGHT")
            energy, percent = light.data.energy, scene.render.resolution_percentage
            if case == "size":
                scene.render.resolution_percentage = 50
            else:
                light.data.energy = energy * (3 if case == "set" else 0.3)
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    bpy.ops.render.render(animation=True)
            finally:
                light.data.energy, scene.render.resolution_percentage = energy, percent
            said[case] = [line for line in printed.getvalue().splitlines() if "clean plate" in line]
        out["said"] = said
        scene.render.resolution_percentage = 50     # changed while a render of Apply's size ran:
        out["plate_for_the_frame_rendered"] = addon_module("plates").clean(   # the plate fits
            scene, tuple(plate.size)) is not None                            # what was rendered
        scene.render.resolution_percentage = percent
        # the plate deleted by the artist: said; renamed scene: the old plate goes on Apply
        bpy.data.images.remove(nst.clean_plate)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            bpy.ops.render.render(animation=True)
        out["said_gone"] = [line for line in printed.getvalue().splitlines() if "clean plate" in line]
        scene.name = "Shot 10"
        bpy.ops.nst.compositor_apply()
        scene.name = "Scene"
        bpy.ops.nst.compositor_apply()
        out["plates_after_rename"] = sorted(i.name for i in bpy.data.images if "Clean Plate" in i.name)
        # a cone shown on frames 1-2 only (its render visibility keyframed): hidden in the plate
        bpy.ops.mesh.primitive_cone_add(radius1=0.6, depth=1.2, location=(2.0, 0.5, -0.4))
        cone = bpy.context.object
        cone.hide_render = False
        cone.keyframe_insert("hide_render", frame=2)
        cone.hide_render = True
        cone.keyframe_insert("hide_render", frame=3)
        scene.frame_set(1)
        try:
            bpy.ops.nst.compositor_apply()
            moving, whole = addon_module("plates").moving_objects(scene)
            out["moving_with_cone"] = (sorted(o.name for o in moving), whole)
            out["cone_vs_plate_before"] = float(np.abs(pixels(nst.clean_plate)[::-1][..., :3]
                                                       - px).max())
            out["cone_shown_after"] = not cone.hide_render
        finally:
            bpy.data.objects.remove(cone)
            scene.frame_set(2)
        # a light that turns over the shot: no plate, said
        light = next(o for o in scene.objects if o.type == "LIGHT")
        light.keyframe_insert("rotation_euler", frame=1)
        light.rotation_euler.x += 0.5
        light.keyframe_insert("rotation_euler", frame=4)
        try:
            reports = io.StringIO()
            with contextlib.redirect_stdout(reports):
                bpy.ops.nst.compositor_apply()
            out["light_plate"] = nst.clean_plate is not None
        finally:
            light.animation_data_clear()
            light.rotation_euler.x -= 0.5
        bpy.ops.nst.compositor_apply()
        # the camera moves over the shot: no plate (the one before goes)
        camera = scene.camera
        camera.keyframe_insert("location", frame=1)
        camera.location.x += 0.5
        camera.keyframe_insert("location", frame=4)
        try:
            bpy.ops.nst.compositor_apply()
            out["plate_camera_moves"] = nst.clean_plate is not None
            out["old_plate_left"] = out["plate"]["name"] in bpy.data.images
            out["no_plate"] = nst.get("no_plate")
            out["warm_up"] = eval(WARM_UP, {"C": bpy.context})     # the job type's setting
            for frame in (1, 3):        # a still of the shot's first frame; one mid-shot (-f 3)
                scene.frame_set(frame)
                printed = io.StringIO()
                with contextlib.redirect_stdout(printed):
                    bpy.ops.render.render(write_still=True)
                out[f"said_at_{frame}"] = [line for line in printed.getvalue().splitlines()
                                           if "mid-shot" in line]
            # a chunk in a new process (`-s 3 -e 4 -a`, which moves the scene's frame_start)
            addon_module("live")._CARRIED[:] = [None, None]
            start, end = scene.frame_start, scene.frame_end
            scene.frame_start, scene.frame_end = 3, 4
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    bpy.ops.render.render(animation=True)
            finally:
                scene.frame_start, scene.frame_end = start, end
            out["said_chunk"] = [line for line in printed.getvalue().splitlines() if "mid-shot" in line]
        finally:
            camera.animation_data_clear()
            camera.location.x -= 0.5
    nst.temporal_coherence = 0.0
    return out


def test_apply_renders_the_set_without_what_moves(facts):
    """With Temporal Coherence, Apply renders the clean plate: the frame without the moving cube
    (to the rounding of Blender's 8-bit PNG), the cube renders again afterwards, the frame is
    Apply's; packed and with a fake user, it reopens in a new Blender process with its pixels.
    Not at coherence 0, nor when the camera moves (where the plate made before goes)."""
    f = fact(facts, "clean_plate_at_apply")
    assert f["applied"] == ["FINISHED"] and f["plate_at_0"] is False, f
    assert f["plate"] and f["plate"]["packed"] and f["plate"]["fake_user"], f
    assert f["cube_renders_after"] and f["frame_after"] == 2, f
    assert 0.02 < f["cube_share"] < 0.5, f
    assert f["plate_vs_without_cube"] <= 1.5 / 255, f
    assert f["plate_vs_with_cube_on_cube"] > 0.05, f
    assert isinstance(f["reopened_diff"], float) and f["reopened_diff"] < 1e-3, f
    assert f["plate_camera_moves"] is False and f["old_plate_left"] is False, f


def test_a_shot_whose_camera_moves_says_its_chunks_need_their_seams_dissolved(facts):
    """No clean plate when the camera moves: Apply records why, the Flamenco job type's
    warm-up (evaluated as its submit panel does) is then 8 frames, which its seam tasks
    dissolve, and a render that starts mid-shot (a still, ``-f 3``; a chunk, ``-s 3 -e 4 -a``,
    in a new process) says on the console that it will not match the frames before it (an
    artist trial: a farm chunk of a pan popped 2.85×, however many frames it warmed up on);
    one of the shot's first frame does not."""
    f = fact(facts, "clean_plate_at_apply")
    assert f["no_plate"] == "the camera moves" and f["warm_up"] == 8, f
    assert f["said_at_1"] == [], f
    assert len(f["said_at_3"]) == 1 and "frame 3" in f["said_at_3"][0], f
    assert "one process" in f["said_at_3"][0], f
    assert len(f["said_chunk"]) == 1 and "frame 3" in f["said_chunk"][0], f    # (an artist trial:
                                                    # `-s 13` moved the scene's start, and it was silent)


def test_a_render_that_cannot_take_the_plate_says_so(facts):
    """A render at another size than Apply's, or of a set lit three times as bright: the frames
    are stylized with the still set learnt from the frames, and the console says why the plate
    was not taken and to apply again, once a render."""
    f = fact(facts, "clean_plate_at_apply")
    said = f["said"]
    assert len(said["size"]) == 1 and "48×32" in said["size"][0], said
    assert len(said["set"]) == 1 and "does not fit" in said["set"][0], said
    assert said["set again"] == said["set"], said      # (before: only a process's first render)
    assert len(f["said_gone"]) == 1 and "gone" in f["said_gone"][0], f["said_gone"]
    assert all("Apply Styles again" in lines[0] for lines in [*said.values(), f["said_gone"]])
    assert f["plate_for_the_frame_rendered"], f     # (the Output size changed as it rendered: an
                                                    # artist trial, the plate was dropped)


def test_what_changes_the_plate(facts):
    """An object whose render visibility is keyframed is hidden in the plate (it was baked in,
    and painted on after it vanished: an artist trial), and shown again afterwards; a light
    that turns makes no plate; a scene renamed and applied again leaves one plate, not two."""
    f = fact(facts, "clean_plate_at_apply")
    assert f["moving_with_cone"] == [["Cone", "Cube"], ""], f
    assert f["cone_vs_plate_before"] <= 1.5 / 255 and f["cone_shown_after"], f
    assert f["light_plate"] is False, f
    assert f["plates_after_rename"] == ["Scene NST Clean Plate"], f
