"""What the animation operators share (Stylize Animation, Apply Styles to Animation): the
frame range and folder, the temporal coherence and what it needs of the scene, and the frame
loop that writes each frame whole and says truthfully what a cancel left."""

from __future__ import annotations

import os

import bpy
from bpy.props import FloatProperty, IntProperty, StringProperty

from . import cameras, held, pixels, plates, shutter
from .engine import DEFAULT_COHERENCE, Coherence, UserError
from .properties import RELATIVE


def frame_props(folder: str, coherence: bool = True):
    """The frame range and output folder every animation operator takes (and, with
    ``coherence``, its own Temporal Coherence; else the scene's is used)."""
    def add(cls):
        cls.__annotations__.update({
            "frame_start": IntProperty(name="Start", default=-1, description="-1: the scene's start"),
            "frame_end": IntProperty(name="End", default=-1, description="-1: the scene's end"),
            "directory": StringProperty(name="Folder", subtype="DIR_PATH", default=folder,
                                        options=RELATIVE),
        })
        if coherence:
            cls.__annotations__["temporal_coherence"] = FloatProperty(
                name="Temporal Coherence", min=0.0, max=1.0, default=DEFAULT_COHERENCE,
                description="Follow the motion vectors so strokes stay on the surfaces; 0 "
                "stylizes every frame on its own")
        return cls
    return add


def frame_range(op, scene):
    """The operator's frames (-1: the scene's) and its output folder, checked and made."""
    start = scene.frame_start if op.frame_start < 0 else op.frame_start
    end = scene.frame_end if op.frame_end < 0 else op.frame_end
    if end < start:
        raise UserError(f"frame range {start}..{end} is empty")
    if op.directory.startswith("//") and not bpy.data.filepath:
        raise UserError(f"the output folder {op.directory} is relative to the .blend file, "
                        "which is not saved yet; save it first, or give an absolute folder")
    folder = bpy.path.abspath(op.directory)
    os.makedirs(folder, exist_ok=True)
    return range(start, end + 1), folder


def check_coherence(scene, strength: float, view_layer, frames: range):
    """A Coherence for the animation of ``frames``, or None at strength 0; what would stop the
    motion vectors from being rendered is said before the first frame. Its clean plate is
    rendered first (plates.py). (Motion Blur: made after the style, ``animation_frames``.)"""
    if strength <= 0:
        return None
    if not scene.render.use_compositing:
        raise UserError("Compositing is off (Output Properties › Post Processing): Temporal "
                        "Coherence reads the motion vectors through the compositor; turn it on, "
                        "or set Temporal Coherence to 0")
    plates.make(scene, view_layer, strength, frames)
    return Coherence(strength, clean=plates.clean(scene))


def scene_named(name: str):
    """The scene ``name``, looked up again after a job's worker ran (a file load, undo or a
    deletion frees the Python object a job held)."""
    scene = bpy.data.scenes.get(name)
    if scene is None:
        raise UserError(f"the scene '{name}' was removed while the job ran")
    return scene


def animation_frames(op, scene, frames, folder: str, render, work, coherence=None):
    """Job body shared by the animation operators: for each frame render() on the main thread,
    yield work(rendered) to the worker and write what comes back (sRGB straight) as
    frame_####.png, whole or not at all; ``op.kept`` names the frames already written.
    ``coherence`` starts afresh where another camera takes over (cameras.switched). With
    ``coherence`` and Motion Blur on, the frames are rendered sharp and blurred after the style
    along the Vector and Depth passes that end each ``rendered`` (shutter.py)."""
    current, name = scene.frame_current, scene.name
    try:
        blurs = shutter.take_over(scene) if coherence is not None else None
        for frame in frames:
            scene = scene_named(name)
            scene.frame_set(frame)
            if coherence is not None and frame > frames.start \
                    and cameras.switched(scene, frame - 1, frame):
                coherence.reset()
            if frame > frames.start:
                op.kept = f"frames {frames.start}–{frame - 1} written to {folder}, stopped at {frame}"
            rendered = render()
            views = blurs and shutter.neighbours(scene, frame, cameras.view)  # (the sky's motion)
            blur, job = shutter.along(blurs, *rendered[-2:], views), work(rendered)
            result = yield job if blur is None else lambda *args: blur(job(*args), True)
            path = os.path.join(folder, f"frame_{frame:04d}.png")
            partial = path + ".partial.png"     # a frame appears whole or not at all
            pixels.save_8bit(result, partial)
            os.replace(partial, path)
    finally:
        if name in bpy.data.scenes:
            bpy.data.scenes[name].frame_set(current)
            held.set_back(bpy.data.scenes[name])
    op.report({"INFO"}, f"wrote frames {frames.start}..{frames.stop - 1} to {folder}")
