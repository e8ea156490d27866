"""Motion Blur with Temporal Coherence: the render's own blur turned off, made after the style.

Blender renders no motion vectors while Motion Blur is on (Cycles and EEVEE give a Vector pass
of zeros), and Temporal Coherence follows them. So a render with the live NST Style node,
Temporal Coherence above 0 and Motion Blur on renders its frames sharp, with their vectors:
each frame is stylized following the one before, then blurred along the same vectors over the
scene's shutter and its position (Start on Frame, Center, End on Frame; nst_core/blur.py), as
a camera would film a moving painting: the strokes smear along the motion. Not followed: the
shutter curve and rolling shutter (Cycles); a shadow cast by what moves stays sharp (the set
under it does not move). The render's Motion Blur is set back when the render ends; a file
saved meanwhile has it set back as it opens (held.py)."""

from __future__ import annotations

from . import cameras, held, jobs
from .engine import motion_blur

MOTION_BLUR = "render.use_motion_blur"
OPENS = {"START": 0.0, "CENTER": 0.5, "END": 1.0}   # the shutter's part before the frame

SAID = ("Motion Blur is made after the style in this render (shutter {shutter:g} frames, "
        "{position}; what moving objects' shadows do on the set stays sharp): Blender renders "
        "no motion vectors with Motion Blur on, and Temporal Coherence follows them; set "
        "Temporal Coherence to 0 for Blender's own blur")


def take_over(scene) -> tuple | None:
    """At a render's start: (the scene's shutter in frames, its part before the frame), its
    Motion Blur turned off for the render (held.py sets it back); None when Motion Blur is
    off."""
    r = scene.render
    opens = OPENS.get(getattr(r, "motion_blur_position", "CENTER"), 0.5)
    shutter = float(r.motion_blur_shutter)
    if held.holds(scene, MOTION_BLUR):          # (turned off by a render not yet set back)
        return shutter, opens
    if not r.use_motion_blur:
        return None
    held.hold(scene, MOTION_BLUR, False)
    if shutter > 0:
        position = {0.0: "opening at each frame", 1.0: "closing at each frame"}.get(
            opens, "centred on each frame")
        jobs.tell(SAID.format(shutter=shutter, position=position))
    return shutter, opens


def along(taken: tuple | None, vector, depth, views=None):
    """What blurs a frame of a render whose Motion Blur is made here (``taken``: take_over's):
    ``blur(image, straight)`` along the frame's ``vector`` and ``depth`` passes (and the sky
    as the camera turns: ``views``, ``neighbours``); None without (no Motion Blur, a shutter
    of 0, or no vectors)."""
    if not taken or not taken[0] or vector is None:
        return None
    return lambda image, straight: motion_blur(image, vector, depth, taken[0], straight,
                                               taken[1], views)


def neighbours(scene, frame: int, view_of) -> tuple:
    """The camera views (``view_of(scene, frame)``: cameras.view or cameras.known) of the
    frame before ``frame``, ``frame`` and the one after, None across a cut to another camera."""
    return tuple(None if f != frame and cameras.switched(scene, min(f, frame), max(f, frame))
                 else view_of(scene, f) for f in (frame - 1, frame, frame + 1))
