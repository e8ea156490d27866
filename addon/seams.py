"""A render farm's seam (docs/farm.md): where a chunk's warm-up frames overlap the end of the
chunk before it, the shot's frames are dissolved from the one chunk's painting into the other's.

Two Blender processes paint a shot's frames differently: Temporal Coherence carries strokes
from frame to frame, so a chunk that starts mid-shot starts from other strokes, and where the
camera moves its first frame would pop against the frame before it (2.3-3.7× the change of the
other frames, measured). The later chunk renders the frames just before it too (its warm-up,
into a scratch folder); ``nst.dissolve_seam`` then turns the earlier chunk's frames there into
the later chunk's painting, a little more each frame, with the strokes' contrast kept
(``nst_core.filters.dissolve``). The Flamenco job type runs it once both chunks are done.
"""

from __future__ import annotations

import os
import shutil

import bpy
import numpy as np
from bpy.props import IntProperty, StringProperty

from . import outputs, pixels
from .engine import NSTError, UserError, dissolve

BEFORE = "before_"      # the earlier chunk's frame as it rendered it, kept beside the overlap


def frame_file(scene, pattern: str, frame: int) -> str:
    """The file a render whose output is ``pattern`` (as ``-o`` takes it: # for the frame's
    digits, // for the .blend's folder) writes for ``frame``, with the scene's extension."""
    render = scene.render
    saved = render.filepath
    try:
        render.filepath = pattern
        return bpy.path.abspath(render.frame_path(frame=frame))
    finally:
        render.filepath = saved


def _read(path: str, linear: bool) -> np.ndarray:
    """A frame file's pixels as the writers take them: scene-linear premultiplied (``linear``:
    OpenEXR) or display-encoded straight (image formats, 8 or 16 bits)."""
    image = bpy.data.images.load(path, check_existing=False)
    try:
        px = pixels.stored_pixels(image)
        return px if linear or not image.is_float else pixels.linear_to_straight_srgb(px)
    finally:
        bpy.data.images.remove(image)


def dissolve_seam(scene, output: str, overlap: str, first: int, last: int) -> list[int]:
    """Frames ``first``-``last`` of the shot (files of the ``output`` pattern, the earlier
    chunk's) dissolved into the later chunk's paintings of them (the ``overlap`` pattern, its
    warm-up), each written whole in the scene's output format; frame ``first`` takes 1/(n+1)
    of the later painting, frame ``last`` n/(n+1). The earlier chunk's files are first kept
    beside the overlap's (``before_``...), and every run dissolves from those: run again (a
    farm task requeued), it writes the same frames. Returns the frames written."""
    outputs.check_output(scene)
    linear = scene.render.image_settings.file_format == "OPEN_EXR"
    frames = list(range(first, last + 1))
    if not frames:
        raise UserError(f"no frames to dissolve: {first}-{last} is empty")
    paths = [(frame_file(scene, output, f), frame_file(scene, overlap, f)) for f in frames]
    for f, (mine, theirs) in zip(frames, paths):
        kept = os.path.join(os.path.dirname(theirs), BEFORE + os.path.basename(mine))
        if not os.path.isfile(theirs):
            raise UserError(f"frame {f}: the later chunk's warm-up frame {theirs} is missing "
                            "(render that chunk, with its warm-up, before its seam)")
        if not os.path.isfile(kept) and not os.path.isfile(mine):
            raise UserError(f"frame {f}: the shot's frame {mine} is missing (render the chunk "
                            "before the seam first)")
    done = []
    for i, (f, (mine, theirs)) in enumerate(zip(frames, paths)):
        try:
            _dissolve_frame(scene, f, mine, theirs, (i + 1) / (len(frames) + 1), linear)
        except (UserError, NSTError, OSError, RuntimeError, ValueError) as exc:
            so_far = f"frames {first}-{done[-1]} are dissolved, " if done else ""
            raise UserError(f"{so_far}frame {f} and after are as the chunk before rendered "
                            f"them (run it again once fixed): {exc}") from exc
        done.append(f)
    return done


def _dissolve_frame(scene, frame: int, mine: str, theirs: str, w: float, linear: bool) -> None:
    kept = os.path.join(os.path.dirname(theirs), BEFORE + os.path.basename(mine))
    if not os.path.isfile(kept):
        shutil.copy2(mine, kept + ".partial")
        os.replace(kept + ".partial", kept)
    a, b = _read(kept, linear), _read(theirs, linear)
    if a.shape != b.shape:
        raise UserError(f"{mine} is {a.shape[1]}×{a.shape[0]} px and {theirs} "
                        f"{b.shape[1]}×{b.shape[0]}: both chunks must render the same shot")
    mixed = dissolve(a, b, w)
    if linear:
        outputs.write_exr(scene, mixed, mine)
    else:
        outputs.write_frame(scene, np.clip(mixed, 0.0, 1.0), mine)


class NST_OT_dissolve_seam(bpy.types.Operator):
    """Dissolve the shot's frames where a render farm chunk's warm-up overlaps the chunk before
    it into that chunk's painting, so the chunks meet without a pop (docs/farm.md)"""

    bl_idname = "nst.dissolve_seam"
    bl_label = "Dissolve a Chunk's Seam"
    bl_options = {"INTERNAL"}

    output: StringProperty(name="Output", description="The shot's frames, as -o takes them "
                           "(# for the frame's digits); empty: the scene's output path")
    overlap: StringProperty(name="Overlap", description="The later chunk's warm-up frames, as "
                            "-o took them")
    frame_start: IntProperty(name="First frame", description="First frame of the overlap")
    frame_end: IntProperty(name="Last frame", description="Last frame of the overlap")

    def execute(self, context):
        scene = context.scene
        try:
            if not self.overlap:
                raise UserError("no overlap given: the later chunk's warm-up frames, as -o took them")
            done = dissolve_seam(scene, self.output or scene.render.filepath, self.overlap,
                                 self.frame_start, self.frame_end)
        except (UserError, NSTError, OSError, RuntimeError, ValueError) as exc:
            self.report({"ERROR"}, f"Neural Style Transfer: the seam is not dissolved: {exc}")
            return {"CANCELLED"}
        message = (f"Neural Style Transfer: frames {done[0]}-{done[-1]} dissolved into the "
                   f"chunk after them")
        print(message)
        self.report({"INFO"}, message)
        return {"FINISHED"}


register, unregister = bpy.utils.register_classes_factory((NST_OT_dissolve_seam,))
