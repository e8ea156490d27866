"""Motion Blur with Temporal Coherence: the render's own blur turned off, made after the style.

Blender renders no motion vectors while Motion Blur is on (Cycles and EEVEE give a Vector pass
of zeros), and Temporal Coherence follows them. So a render with the live NST Style node,
Temporal Coherence above 0 and Motion Blur on renders its frames sharp, with their vectors:
each frame is stylized following the one before, then blurred along the same vectors over the
scene's shutter (nst_core/blur.py), centred on the frame, as a camera would film a moving
painting: the strokes smear along the motion. The render's Motion Blur is set back when the
render ends; a file saved meanwhile has it set back as it opens (``forget_saved``)."""

from __future__ import annotations

import bpy

from . import jobs
from .engine import motion_blur

OFF = "nst_motion_blur_off"     # on a scene whose Motion Blur a render turned off: its shutter

SAID = ("Motion Blur is made after the style in this render (shutter {shutter:g} frames, "
        "centred on each frame): Blender renders no motion vectors with Motion Blur on, and "
        "Temporal Coherence follows them; set Temporal Coherence to 0 for Blender's own blur")


def take_over(scene) -> float:
    """At a render's start: the scene's shutter (frames), its Motion Blur turned off for the
    render; 0.0 when Motion Blur is off."""
    if scene.get(OFF) is not None:              # (turned off by a render not yet set back)
        return float(scene[OFF])
    if not scene.render.use_motion_blur:
        return 0.0
    shutter = float(scene.render.motion_blur_shutter)
    scene[OFF] = shutter
    scene.render.use_motion_blur = False
    jobs.tell(SAID.format(shutter=shutter))
    return shutter


def set_back(scene) -> None:
    """The render ended: the scene's Motion Blur on again if a render turned it off."""
    if scene is not None and scene.get(OFF) is not None:
        del scene[OFF]
        scene.render.use_motion_blur = True


def forget_saved(*_) -> None:
    """load_post, undo_post, redo_post: Motion Blur a render turned off in a file saved (or an
    undo step taken) while it ran, on again. Not while a render runs (its own)."""
    if not bpy.app.is_job_running("RENDER"):
        for scene in bpy.data.scenes:
            set_back(scene)


def along(shutter: float, vector, depth):
    """What blurs a frame of a render whose Motion Blur is made here: ``blur(image,
    straight)`` along the frame's ``vector`` and ``depth`` passes; None without (``shutter``
    0, or no vectors)."""
    if not shutter or vector is None:
        return None
    return lambda image, straight: motion_blur(image, vector, depth, shutter, straight)
