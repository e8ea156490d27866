"""The shot's clean plate: its set without the objects that move in it, rendered by Blender.

Apply Styles, with Temporal Coherence, renders the current frame a second time with the objects
that move over the scene's frame range (or appear or vanish) hidden, as the Render window shows
it, and keeps it in the .blend (``scene.nst.clean_plate``, packed); so do Stylize Animation and
Apply Styles to Animation before their first frame, for their range. Every render of the shot
then starts its still set's painting from it (nst_core/canvas.py) instead of learning the set
patch by patch as the objects uncover it, so the still set is the same painting in every process
that renders the shot, whichever frames it saw: a render farm's chunks meet without a seam.
Where the plate does not fit a frame (the set or the view changed since Apply), the canvas
learns the set from the frames, as without one, and the render says so.

What moves: an object whose place, turn or size changes over the range (sampled at up to
SAMPLES frames; parents and constraints included), or that an animated armature or animated
shape keys deform, or whose render visibility changes. A camera that moves or zooms, or a light
that moves or changes, makes no plate: the whole set changes.
"""

from __future__ import annotations

import numpy as np

import bpy

from . import jobs, pixels
from .frames import render_size
from .passes import render_passes
from .results import is_result, keep

SAMPLES = 24            # frames of the range whose objects' places are compared
RENDERED = {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME",
            "GPENCIL", "GREASEPENCIL"}


def _pose(ob) -> tuple:
    m = ob.matrix_world
    return tuple(round(v, 5) for row in m for v in row)


def _view(camera) -> tuple:
    if camera is None:
        return ()
    d = camera.data
    return _pose(camera) + tuple(round(v, 5) for v in (d.lens, d.ortho_scale, d.shift_x, d.shift_y))


def _animated(id_) -> bool:
    return id_ is not None and id_.animation_data is not None and (
        id_.animation_data.action is not None or len(id_.animation_data.drivers) > 0)


def _light(ob) -> tuple:
    d = ob.data
    return _pose(ob) + (round(d.energy, 5), tuple(round(c, 5) for c in d.color))


def moving_objects(scene, frames: range | None = None) -> tuple[list, str]:
    """The rendered objects that move over ``frames`` (the scene's range), or whose render
    visibility changes, and what else changes the whole set ("" when nothing): the camera
    (its place, turn, lens or shift), or a light (its place, turn, power or colour)."""
    frames = frames or range(scene.frame_start, scene.frame_end + 1)
    picks = sorted(set(frames[::max(1, -(-len(frames) // SAMPLES))]) | {frames[-1]}) if frames else []
    objects = [ob for ob in scene.objects
               if ob.type in RENDERED or (ob.type == "EMPTY" and ob.instance_type == "COLLECTION")]
    lights = [ob for ob in scene.objects if ob.type == "LIGHT" and not ob.hide_render]
    poses: dict = {}
    views, lit = set(), set()
    current, subframe = scene.frame_current, scene.frame_subframe
    try:
        for frame in picks:
            scene.frame_set(frame)
            views.add(_view(scene.camera))
            lit.add(tuple(_light(ob) for ob in lights))
            for ob in objects:
                poses.setdefault(ob.name, set()).add(_pose(ob) + (ob.hide_render,))
    finally:
        scene.frame_set(current, subframe=subframe)
    moving_armatures = {ob.name for ob in scene.objects
                        if ob.type == "ARMATURE" and (_animated(ob) or _animated(ob.data))}
    moving = []
    for ob in objects:
        deformed = any(m.type == "ARMATURE" and m.object is not None
                       and m.object.name in moving_armatures for m in ob.modifiers)
        keys = getattr(ob.data, "shape_keys", None)
        if len(poses.get(ob.name, ())) > 1 or deformed or _animated(keys) or _animated(ob.data):
            moving.append(ob)
    whole = "the camera moves" if len(views) > 1 else "a light changes" if len(lit) > 1 else ""
    return moving, whole


def _visibility_curves(ob) -> list:
    """The F-curves that animate ``ob``'s render visibility (Blender 5 keeps an action's
    F-curves in its layers' channelbags)."""
    action = ob.animation_data.action if ob.animation_data else None
    if action is None:
        return []
    curves = list(action.fcurves) if hasattr(action, "fcurves") else [
        c for layer in action.layers for strip in layer.strips for bag in strip.channelbags
        for c in bag.fcurves]
    return [c for c in curves if c.data_path == "hide_render" and not c.mute]


def make(scene, view_layer, coherence: float, frames: range | None = None) -> str:
    """The clean plate for a shot of ``frames`` (the scene's range) stylized at Temporal
    Coherence ``coherence``: rendered at the current frame and kept (when something moves, and
    neither the camera nor a light), else the one made before dropped; what was done, for a
    report ("" when nothing)."""
    nst = scene.nst
    moving, whole = moving_objects(scene, frames) if coherence > 0 else ([], "")
    nst["plate_wanted"] = bool(moving and not whole)
    nst["no_plate"] = whole     # why a shot whose chunks would need one has none (``MID_SHOT``),
    nst["shot_start"] = scene.frame_start   # and where it starts (`-s 13` sets frame_start)
    if not nst["plate_wanted"]:
        _drop(nst)
        return (f"; {whole}, so no clean plate: render this shot in one process, or in chunks "
                "whose seams are dissolved (docs/farm.md)") if whole else ""
    hidden = [ob for ob in moving if not ob.hide_render]
    muted = [c for ob in hidden for c in _visibility_curves(ob)]    # (else the render sets
    try:                                                            # their visibility back)
        for ob in hidden:
            ob.hide_render = True
        for curve in muted:
            curve.mute = True
        image = render_passes(scene, view_layer, [], shown=True)[0]
    finally:
        for curve in muted:
            curve.mute = False
        for ob in hidden:
            ob.hide_render = False
    image[..., 3] = 1.0                     # (the canvas takes its colours)
    old = nst.clean_plate
    plate = pixels.image_for(f"{scene.name} NST Clean Plate", image.shape[1], image.shape[0])
    plate.colorspace_settings.name = "Non-Color"     # as shown, kept as it is
    nst.clean_plate = keep(pixels.write_raw(image, plate))
    if old is not None and old != plate:    # made under the scene's name before a rename
        _drop_image(old)
    names = ", ".join(ob.name for ob in moving[:4]) + (" …" if len(moving) > 4 else "")
    return f"; clean plate rendered without what moves ({names})"


def _drop(nst) -> None:
    """No clean plate: the one made before goes."""
    image, nst.clean_plate = nst.clean_plate, None
    _drop_image(image)


def _drop_image(image) -> None:
    """A clean plate no scene uses any more goes (the add-on's, with a fake user; a copied
    scene may still use it)."""
    if image is not None and is_result(image) \
            and not any(s.nst.clean_plate == image for s in bpy.data.scenes):
        bpy.data.images.remove(image)


def clean(scene, size: tuple[int, int] | None = None) -> np.ndarray | None:
    """The clean plate of ``scene`` (H×W×3, as shown) for frames of ``size`` (W, H: the frame
    rendered; None: the scene's render size now), or None."""
    image = scene.nst.clean_plate
    if image is None:
        if scene.nst.get("plate_wanted"):
            jobs.tell("this shot's clean plate is gone (the image was deleted?): the still set is "
                      "learnt from the frames instead (chunks of a farm may not match); run Apply "
                      "Styles again")
        return None
    w, h = size or render_size(scene)      # (the Output size may change as a render runs)
    if tuple(image.size) != (w, h):
        jobs.tell(f"the clean plate is {image.size[0]}×{image.size[1]} px, this render {w}×{h}: "
                  "the still set is learnt from the frames instead (chunks of a farm may not "
                  "match); run Apply Styles again at this size")
        return None
    return pixels.stored_pixels(image)[..., :3]


MISFIT = ("the clean plate does not fit this shot's frames (the set or "
          "the camera changed since Apply Styles made it?): the still set is learnt from the "
          "frames instead (chunks of a farm may not match); run Apply Styles again")
MID_SHOT = ("{reason}, so this shot has no clean plate, and this render "
            "starts at frame {frame}, mid-shot: its strokes will not match the frames before it "
            "rendered by another process. If this is a farm chunk's warm-up, dissolve its seam "
            "into the chunk before once both are done (nst.dissolve_seam; the Flamenco job type "
            "does); else render the shot in one process (docs/farm.md)")
