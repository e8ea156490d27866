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

import hashlib
import os
import shutil

import bpy
import numpy as np
from bpy.props import IntProperty, StringProperty

from . import outputs, pixels
from .engine import NSTError, UserError, dissolve

BEFORE = "before_"      # the earlier chunk's frame as it rendered it, kept beside the overlap,
WROTE = ".dissolved"    # and beside that the SHA-256 of the dissolved frame written from it


def frame_file(scene, pattern: str, frame: int) -> str:
    """The file a render whose output is ``pattern`` (as ``-o`` takes it: # for the frame's
    digits, // for the .blend's folder) writes for ``frame``, with the scene's extension, as
    an absolute path (a relative one is taken from the current folder)."""
    render = scene.render
    saved = render.filepath
    try:
        render.filepath = pattern
        return os.path.abspath(bpy.path.abspath(render.frame_path(frame=frame)))
    finally:
        render.filepath = saved


def _missing(path: str, scene, otherwise: str) -> str:
    """What to say of a frame file that is not there: the same frame in another format, if
    that is there, else ``otherwise`` (what to do)."""
    stem = os.path.splitext(path)[0]
    folder = os.path.dirname(path)
    others = sorted(n for n in (os.listdir(folder) if os.path.isdir(folder) else ())
                    if os.path.splitext(n)[0] == os.path.basename(stem))
    if not others:
        return f"{path} is missing {otherwise}"
    return (f"{path} is missing, {others[0]} is there: the seam reads and writes the scene's "
            f"output format ({scene.render.image_settings.file_format}): set it to the "
            "chunks' (blender -F FORMAT before --python-expr)")


def _size(path: str) -> tuple[int, int]:
    image = bpy.data.images.load(path, check_existing=False)
    try:
        return tuple(image.size)
    finally:
        bpy.data.images.remove(image)


def _kept(mine: str, theirs: str) -> str:
    """Where the shot's frame ``mine`` is kept as rendered: beside the overlap's ``theirs``."""
    return os.path.join(os.path.dirname(theirs), BEFORE + os.path.basename(mine))


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _written_by_a_seam(mine: str, kept: str, stamp: str) -> bool:
    """Whether the shot's frame ``mine`` is what a seam wrote from ``kept`` (or gone, with
    ``kept`` there): not a frame rendered since."""
    if not (os.path.isfile(stamp) and os.path.isfile(kept)):
        return False
    if not os.path.isfile(mine):
        return True
    with open(stamp) as f:
        return f.read().strip() == _digest(mine)


def dissolve_seam(scene, output: str, overlap: str, first: int, last: int) -> list[int]:
    """Frames ``first``-``last`` of the shot (files of the ``output`` pattern, the earlier
    chunk's) dissolved into the later chunk's paintings of them (the ``overlap`` pattern, its
    warm-up), each written whole in the scene's output format; frame ``first`` takes 1/(n+1)
    of the later painting, frame ``last`` n/(n+1). Nothing is written unless every frame is
    there, in pairs of one size. Each earlier frame is first kept beside the overlap's
    (``before_``...); run again (a farm task requeued), the seam dissolves from those where the
    shot's frame is still the one it wrote, and writes the same frames; a frame rendered since
    (a job submitted again into the same folder) is kept anew. Returns the frames written."""
    outputs.check_output(scene)
    linear = outputs.is_linear(scene)
    frames = list(range(first, last + 1))
    if not frames:
        raise UserError(f"no frames to dissolve: frame_start {first} to frame_end {last} is "
                        "empty (give the overlap's first and last frame)")
    paths = [(frame_file(scene, output, f), frame_file(scene, overlap, f)) for f in frames]
    sizes = set()
    for f, (mine, theirs) in zip(frames, paths):
        kept = _kept(mine, theirs)
        if os.path.dirname(mine) == os.path.dirname(theirs):
            raise UserError(f"the overlap {overlap} is in the shot's own folder: give the later "
                            "chunk's warm-up frames, rendered into a folder of their own")
        if not os.path.isfile(theirs):
            raise UserError(f"frame {f}: the later chunk's warm-up frame "
                            + _missing(theirs, scene, "(render that chunk, with its warm-up, "
                                       "before its seam)"))
        if not os.path.isfile(kept) and not os.path.isfile(mine):
            raise UserError(f"frame {f}: the shot's frame " + _missing(
                mine, scene, "(render the chunk before the seam first)"))
        sizes |= {_size(theirs), _size(mine if os.path.isfile(mine) else kept)}
    if len(sizes) > 1:
        raise UserError(f"the frames are of {len(sizes)} sizes ("
                        + ", ".join(f"{w}×{h}" for w, h in sorted(sizes))
                        + " px): both chunks must render the same shot, at one size")
    done = []
    for i, (f, (mine, theirs)) in enumerate(zip(frames, paths)):
        try:
            _dissolve_frame(scene, mine, theirs, (i + 1) / (len(frames) + 1), linear)
        except (UserError, NSTError, OSError, RuntimeError, ValueError) as exc:
            so_far = f"frames {first}-{done[-1]} are dissolved, " if done else ""
            raise UserError(f"{so_far}frame {f} and after are as the chunk before rendered "
                            f"them (run it again once fixed): {exc}") from exc
        done.append(f)
    return done


def _dissolve_frame(scene, mine: str, theirs: str, w: float, linear: bool) -> None:
    """One frame: ``mine`` (kept first as it was) dissolved ``w`` into ``theirs``, written whole."""
    kept = _kept(mine, theirs)
    stamp = kept + WROTE
    if not _written_by_a_seam(mine, kept, stamp):   # the chunk's own render: kept as it is
        shutil.copy2(mine, kept + ".partial")
        os.replace(kept + ".partial", kept)
    mixed = dissolve(outputs.read_file(kept, linear), outputs.read_file(theirs, linear), w)
    if linear:
        outputs.write_exr(scene, mixed, mine)
    else:
        outputs.write_frame(scene, np.clip(mixed, 0.0, 1.0), mine)
    with open(stamp + ".partial", "w") as f:
        f.write(_digest(mine))
    os.replace(stamp + ".partial", stamp)


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
    frame_start: IntProperty(name="First frame", description="First frame of the overlap",
                             default=1)
    frame_end: IntProperty(name="Last frame", description="Last frame of the overlap",
                           default=0)

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
