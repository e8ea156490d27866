"""Blender's rendered frames and passes read from files, for ``nst stylize-frames`` and
``nst evaluate-frames``: the frames (PNG/JPEG, or EXR renders), their Vector and Depth passes,
and the shot's clean plate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import color
from .errors import NSTError
from .images import load_exr, load_image, sequence


def read_frame(path: Path):
    """A frame: PNG/JPEG/TIFF as sRGB, EXR as Blender's scene-linear render (premultiplied),
    converted to sRGB straight."""
    if path.suffix.lower() != ".exr":
        return load_image(path)
    px = load_exr(path)
    if px.shape[2] == 4:
        px = color.unpremultiply(px)
    px[..., :3] = color.linear_to_srgb(px[..., :3])
    return np.clip(px, 0.0, 1.0)


def _vector_pass(path, v: np.ndarray) -> np.ndarray:
    """``v`` as read from ``path``, if it can be a Vector pass: motion in pixels, which runs
    negative too; a picture (colours in 0..1 under an opaque alpha) is refused."""
    if v.shape[2] == 4 and v.min() >= 0 and v.max() <= 1 and v[..., 3].mean() > 0.5:
        raise NSTError(f"{path} looks like a picture (colours in 0..1, opaque alpha), not a "
                       "Vector pass; give the Vector pass Blender rendered for each frame")
    return v


def read_passes(args, count: int):
    """The Vector passes (``args.vectors``) and Depth passes (``args.depth``, or None) of
    ``count`` frames, one of each per frame."""
    vectors = [_vector_pass(p, load_exr(p)) for p in sequence(args.vectors, "--vectors")]
    depths = [load_exr(p)[..., 0] for p in sequence(args.depth, "--depth")] if args.depth else None
    if len(vectors) != count or (depths is not None and len(depths) != count):
        raise NSTError(f"{count} frames but {len(vectors)} vector passes"
                       + (f" and {len(depths)} depth passes" if depths is not None else "")
                       + "; give one of each per frame, in the same order")
    return vectors, depths


def read_clean_plate(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The shot's clean plate (the set without what moves, rendered like the frames) at the
    frames' ``size`` (H, W): H×W×3."""
    plate = read_frame(path)[..., :3]
    if plate.shape[:2] != tuple(size):
        (h, w), (fh, fw) = plate.shape[:2], size
        raise NSTError(f"{path}: the clean plate is {w}×{h} px, the frames {fw}×{fh}; render it "
                       "at the frames' size")
    return plate
