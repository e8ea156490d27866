"""Quality metric: style distance, content distance and style gain on VGG-like features.

Features come from the ``features`` model (the level-5 encoder's aux heads, approximating
VGG-19 relu1_1 ... relu4_1 with 64/128/256/512 channels), images at 512 px on the long side.

- style distance S(x, s) = Σ_l ‖μ_l(x) − μ_l(s)‖₂ + ‖σ_l(x) − σ_l(s)‖₂
- content distance C(x, c) = ‖φ₄(x) − φ₄(c)‖² / ‖φ₄(c)‖² at relu4_1
- style gain G = 1 − S(out, s) / S(content, s): 0 = no closer to the style, 1 = matches it.
- Gram distance S_G(x, s) = Σ_l ‖G_l(x) − G_l(s)‖_F / ‖G_l(s)‖_F with G_l = F Fᵀ / (h·w) of the
  layer's C×(h·w) features (Gatys' statistic: matching it is an MMD with a polynomial kernel),
  and Gram gain = 1 − S_G(out, s) / S_G(content, s), read like G.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .images import check_array, fit_long_side, resize, to_nchw
from .runtime import Runtime, get_runtime
from . import motion
from .filters import box_blur, grow

METRIC_SIZE = 512
FEATURES = "features"


@dataclass
class Scores:
    style_distance: float
    content_distance: float
    style_gain: float
    gram_distance: float = 0.0
    gram_gain: float = 0.0

    def as_dict(self) -> dict:
        return {"style_distance": self.style_distance, "content_distance": self.content_distance,
                "style_gain": self.style_gain, "gram_distance": self.gram_distance,
                "gram_gain": self.gram_gain}


@dataclass
class Features:
    """What the metric needs of one image: per layer [mean, std] (2×C) and Gram matrix (C×C),
    and the relu4_1 features."""

    stats: list[np.ndarray]
    grams: list[np.ndarray]
    relu4: np.ndarray


def _prepare(image: np.ndarray, what: str) -> np.ndarray:
    rgb, _ = check_array(image, what)
    return fit_long_side(rgb, METRIC_SIZE)


def features_of(runtime: Runtime, image: np.ndarray) -> Features:
    """The metric's statistics of an image already at metric size."""
    outs = runtime.session(FEATURES).run(to_nchw(image))
    stats, grams = [], []
    for f in outs:
        flat = f[0].reshape(f.shape[1], -1).astype(np.float64)
        stats.append(np.stack([flat.mean(1), flat.std(1)]))
        grams.append(flat @ flat.T / flat.shape[1])
    return Features(stats, grams, outs[-1][0])


def style_distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(sum(np.linalg.norm(x[0] - y[0]) + np.linalg.norm(x[1] - y[1]) for x, y in zip(a, b)))


def gram_distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Σ_l ‖G_l(a) − G_l(b)‖_F / ‖G_l(b)‖_F (b is the style)."""
    return float(sum(np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-12) for x, y in zip(a, b)))


def _gain(dist: float, base: float) -> float:
    return 1.0 - dist / base if base > 0 else 0.0


def content_distance(x: np.ndarray, c: np.ndarray) -> float:
    x64, c64 = x.astype(np.float64), c.astype(np.float64)
    return float(((x64 - c64) ** 2).sum() / max((c64 ** 2).sum(), 1e-12))


def evaluate(content: np.ndarray, style: np.ndarray, output: np.ndarray, *,
             runtime: Runtime | None = None, models_dir=None, device: str = "auto") -> Scores:
    """Scores of ``output`` (a stylization of ``content`` with ``style``), all float images."""
    rt = runtime or get_runtime(models_dir, device)
    c = _prepare(content, "content")
    o = _prepare(output, "output")
    if o.shape != c.shape:
        o = resize(o, *c.shape[:2])
    fs = features_of(rt, _prepare(style, "style"))
    fc, fo = features_of(rt, c), features_of(rt, o)
    dist = style_distance(fo.stats, fs.stats)
    gram = gram_distance(fo.grams, fs.grams)
    return Scores(style_distance=dist, content_distance=content_distance(fo.relu4, fc.relu4),
                  style_gain=_gain(dist, style_distance(fc.stats, fs.stats)),
                  gram_distance=gram, gram_gain=_gain(gram, gram_distance(fc.grams, fs.grams)))


# -- temporal coherence of a frame sequence --------------------------------------------------

def warping_error(frames: list[np.ndarray], flows: list[np.ndarray],
                  masks: list[np.ndarray] | None = None) -> float:
    """Lai et al. 2018's warping error of a sequence in [0, 1]: the mean over t ≥ 1 of
    Σ_p M_t(p) ‖O_t(p) − W(O_{t−1})(p)‖² / Σ_p M_t(p), where W warps frame t−1 onto frame t with
    ``flows[t - 1]`` (frame t's pixel p came from p + flow(p) in frame t−1) and M_t is
    ``masks[t - 1]`` (non-occluded pixels, off the motion edges: ``consistent``; default:
    wherever the warp lands inside the image)."""
    if len(frames) < 2 or len(flows) != len(frames) - 1:
        raise ValueError(f"need T >= 2 frames and T - 1 flows, got {len(frames)} and {len(flows)}")
    errors = []
    for t in range(1, len(frames)):
        warped, inside = motion.warp(frames[t - 1], flows[t - 1])
        m = inside if masks is None else (np.asarray(masks[t - 1]) > 0.5) & inside
        d = ((frames[t].astype(np.float64) - warped) ** 2).sum(axis=-1)
        errors.append(float(d[m].mean()) if m.any() else 0.0)
    return float(np.mean(errors))


EDGE_RELATIVE = 0.01    # a motion edge (Lai et al. 2018's evaluation code, after Ruder et al. 2016):
EDGE_ABSOLUTE = 0.002   # |∇b|² > 0.01 |b|² + 0.002 px², ∇ to the right and lower neighbours


def motion_edges(backward: np.ndarray) -> np.ndarray:
    """Where a backward flow (H×W×2, px) changes abruptly (H×W bool): the sum of its components'
    squared differences to the right and lower neighbours (0 on the last column and row) over
    EDGE_RELATIVE · |b|² + EDGE_ABSOLUTE, as Lai et al.'s ``detect_occlusion``. A pixel there
    mixes surfaces that move apart (the render's antialiased silhouette): no warp of it is right,
    and Lai et al. leave it out of the warping error."""
    b = np.asarray(backward, np.float64)
    g = np.zeros(b.shape[:2])
    g[:, :-1] += np.square(b[:, :-1] - b[:, 1:]).sum(-1)
    g[:-1] += np.square(b[:-1] - b[1:]).sum(-1)
    return g > EDGE_RELATIVE * np.square(b).sum(-1) + EDGE_ABSOLUTE


def consistent(pairs: list[tuple], depths: list | None = None, views: list | None = None,
               off_edges: bool = True) -> list[np.ndarray]:
    """The masks of Lai et al.'s warping error for a rendered sequence: for frames 1 ... T − 1,
    where the warp by the backward flow is right (H×W bool): the sample lands inside the
    picture, forward and backward flows agree (``motion.valid``, with the depths where given),
    and (``off_edges``) the pixel is off the motion edges (``motion_edges``). ``pairs``: each
    frame's (backward, forward) flows (``motion.flows`` of its Vector pass); with the depths and
    the cameras' ``views``, the world background's backward flow is filled in from the cameras,
    in place (``motion.background``)."""
    depths = depths or [None] * len(pairs)
    views = views if views is not None else [None] * len(pairs)
    masks = []
    for t in range(1, len(pairs)):
        motion.background(pairs[t][0], depths[t], views[t], pairs[t - 1][1], depths[t - 1],
                          views[t - 1])
        m = motion.valid(pairs[t][0], pairs[t - 1][1], depths[t], depths[t - 1]) > 0.5
        masks.append(m & ~motion_edges(pairs[t][0]) if off_edges else m)
    return masks


def still_difference(frames: list[np.ndarray], still) -> float:
    """Mean |frame t − frame t−1| over the pixels of ``still`` (H×W bool: a region that does not
    move, or a list of T − 1 such masks, one per pair), on the 0–255 scale: how much a sequence
    flickers where nothing happens."""
    diffs = [d for d in still_differences(frames, still) if d == d]
    return float(np.mean(diffs)) if diffs else 0.0


GHOST_LAG = (2, 4)      # frames: where the object was (and will be) that long before (after)
GHOST_CLEARANCE = 10    # px: pixels this close to the object now are neither behind nor ahead


def ghost_ratio(coherent: list[np.ndarray], alone: list[np.ndarray], masks: list[np.ndarray],
                shifts: list | None = None) -> float:
    """How much a coherent sequence leaves behind a moving object (a ghost trail): the mean
    |coherent − alone| (each frame stylized on its own) over the pixels the object covered
    2–4 frames before, divided by the same over the pixels it will cover 2–4 frames later,
    neither within 10 px of it now. ``masks``: the object's footprint per frame (H×W, > 0.5
    inside; with a still camera, the pixels whose vectors move). With a moving camera,
    ``shifts``: each frame's (x, y) px from a pixel of the set to where it was in the frame
    before (a pan's dominant backward flow), by which the other frames' footprints are moved
    onto the set as this frame sees it. About 1 or below: what the object uncovered is painted
    as fresh as what it is about to cover; above: a trail."""
    lo, hi = GHOST_LAG
    masks = [np.asarray(m) > 0.5 for m in masks]
    shifts = np.zeros((len(masks), 2)) if shifts is None else np.asarray(shifts, np.float64)
    travel = np.cumsum(shifts, 0)       # travel[t] - travel[u]: frame t's pixel -> frame u's

    def footprint(u: int, t: int) -> np.ndarray:    # frame u's, on frame t's set
        dx, dy = np.rint(travel[t] - travel[u]).astype(int)
        h, w = masks[u].shape
        out = np.zeros((h, w), bool)
        ys, xs = slice(max(-dy, 0), min(h - dy, h)), slice(max(-dx, 0), min(w - dx, w))
        out[ys, xs] = masks[u][ys.start + dy:ys.stop + dy, xs.start + dx:xs.stop + dx]
        return out
    sums = np.zeros(2)
    counts = np.zeros(2)
    for t in range(hi, len(masks) - hi):
        near = grow(masks[t], GHOST_CLEARANCE)
        behind = np.logical_or.reduce([footprint(t - k, t) for k in range(lo, hi + 1)]) & ~near
        ahead = np.logical_or.reduce([footprint(t + k, t) for k in range(lo, hi + 1)]) & ~near
        if not (behind.any() and ahead.any()):
            continue
        diff = np.abs(np.asarray(coherent[t][..., :3], np.float64) - alone[t][..., :3]).mean(-1)
        sums += diff[behind].sum(), diff[ahead].sum()
        counts += behind.sum(), ahead.sum()
    if not counts.all():
        raise ValueError("the object never has pixels behind and ahead of it: a ghost ratio "
                         f"needs more than {2 * hi} frames of a moving object")
    behind, ahead = sums / counts
    return float(behind / ahead) if ahead > 0 else float("inf")


FOOTPRINT_CHANGE = 0.05  # (0-1) the render's difference from the set as it mostly looks (the largest
                         # channel, over 5×5 px) above which a pixel is touched by what moves


def footprints(plain: list[np.ndarray], moving: list[np.ndarray]) -> list[np.ndarray]:
    """What moving objects touch in each frame of a still camera's shot (H×W bool): the
    ``moving`` pixels and those where the render differs from the set as it looks most of the
    shot (the per-pixel median of all its frames) by over FOOTPRINT_CHANGE, averaged over 5×5
    px: their shadows and their light on the set too (not a shadow that lies on a pixel for
    over half the shot). As ``ghost_ratio``'s masks, a trail left in an object's shadow counts
    (the ghost ratio of what moves alone missed the crescents in the test scene's shadow:
    docs/animation.md, 2026-12-06). (Over 9 of the 12 frames the median took in more of the
    shadow, and the ratio read 1.09 for 1.73.)"""
    h = plain[0].shape[0]
    median = np.empty(plain[0].shape[:2] + (3,), np.float32)
    for r in range(0, h, 32):           # (in bands: one copy of the shot's rows at a time)
        median[r:r + 32] = np.median(np.stack([np.asarray(p[r:r + 32, :, :3], np.float32)
                                               for p in plain]), 0)
    return [np.asarray(m, bool) | (np.abs(box_blur(np.asarray(p[..., :3], np.float32) - median, 2))
                                   .max(-1) > FOOTPRINT_CHANGE) for p, m in zip(plain, moving)]


SHARPNESS_FRAMES = 3    # the last frames of a sequence whose sharpness is compared


def sharpness_ratio(coherent: list[np.ndarray], alone: list[np.ndarray], masks: list[np.ndarray],
                    last: int = SHARPNESS_FRAMES) -> float:
    """How sharp a coherent sequence keeps what moves, at its end: the mean |Laplacian| of the
    grey image (a stroke's finest detail) over ``masks`` (the moving object's footprint per
    frame, > 0.5 inside) in the ``last`` frames, coherent ÷ alone (each frame stylized on its
    own). About 1: the strokes carried along the motion are as fine as a fresh painting's;
    below: they went soft along the shot (a painting resampled every frame blurs)."""
    sums = np.zeros(2)
    for t in range(max(len(masks) - last, 0), len(masks)):
        m = (np.asarray(masks[t]) > 0.5)[1:-1, 1:-1]
        for k, image in enumerate((coherent[t], alone[t])):
            g = np.asarray(image[..., :3], np.float64).mean(-1)
            lap = np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
            sums[k] += lap[m].sum()
    if sums[1] <= 0:
        raise ValueError(f"nothing moves in the last {last} frames, or the frames alone are flat "
                         "there: no sharpness to compare")
    return float(sums[0] / sums[1])


def still_differences(frames: list[np.ndarray], still) -> list[float]:
    """``still_difference`` of each consecutive pair (0–255; NaN where no pixel is still)."""
    masks = still if isinstance(still, (list, tuple)) else [still] * (len(frames) - 1)
    return [float(np.abs(b.astype(np.float64) - a)[m].mean() * 255) if m.any() else float("nan")
            for a, b, m in zip(frames, frames[1:], masks)]


STILL_PX = 0.01     # a pixel whose vectors are all below this (pixels per frame) does not move
CLEAR_PX = 4        # a still pixel at least this far from any that moves: its neighbourhood is still


def evaluate_frames(plain: list[np.ndarray], stylized: list[np.ndarray], vectors: list[np.ndarray],
                    depths: list[np.ndarray] | None = None,
                    alone: list[np.ndarray] | None = None, views: list | None = None) -> dict:
    """Flicker of a stylized sequence against the plain render it came from (both H×W×3 in
    [0, 1], sRGB), with Blender's Vector passes as the flow (and its depths for occlusion; with
    the frames' camera ``views`` and depths, the world background's flow from the cameras:
    ``motion.background``):
    Lai et al.'s warping error of each and their ratio (and the ratio with the motion edges
    counted, as this metric measured before 2026-12-08); the still-region frame difference
    (pixels that do not move between two frames, by their vectors) of each, their ratio, and
    the worst pair's; and the same over the clear region (still pixels at least CLEAR_PX from
    any that moves, whose neighbourhood is still too). With ``alone`` (the frames stylized one by
    one), the ghost ratio behind what moves (by the vectors: a still camera), the same over
    what moves touches, its shadow included (``footprints``: ``shadow_ghost_ratio``; NaN unless
    the camera is still in every frame), and the sharpness of what moves in the last frames
    (``sharpness_ratio``)."""
    if not len(plain) == len(stylized) == len(vectors) >= 2:
        raise ValueError(f"need T >= 2 plain frames, stylized frames and vector passes, got "
                         f"{len(plain)}, {len(stylized)} and {len(vectors)}")
    pairs = [motion.flows(v) for v in vectors]
    flows, valid = [b for b, _ in pairs[1:]], consistent(pairs, depths, views, off_edges=False)
    masks = [m & ~motion_edges(b) for m, b in zip(valid, flows)]
    moves = [np.maximum(np.abs(b).max(-1), np.abs(f).max(-1)) >= STILL_PX for b, f in pairs]
    still = [~moves[t] & ~moves[t - 1] for t in range(1, len(vectors))]
    plain = [np.asarray(f[..., :3], np.float32) for f in plain]
    stylized = [np.asarray(f[..., :3], np.float32) for f in stylized]
    we_plain, we = warping_error(plain, flows, masks), warping_error(stylized, flows, masks)
    edges_plain, edges = warping_error(plain, flows, valid), warping_error(stylized, flows, valid)
    sd_plain, sd = still_difference(plain, still), still_difference(stylized, still)
    worst = max((d for d in still_differences(stylized, still) if d == d), default=0.0)
    clear = [m & ~grow(~m, CLEAR_PX) for m in still]
    cd_plain, cd = still_difference(plain, clear), still_difference(stylized, clear)
    return {"warping_error_plain": we_plain, "warping_error": we,
            "warping_ratio": we / we_plain if we_plain > 0 else float("inf"),
            "warping_ratio_with_edges": edges / edges_plain if edges_plain > 0 else float("inf"),
            "still_difference_plain": sd_plain, "still_difference": sd,
            "still_ratio": sd / sd_plain if sd_plain > 0 else float("inf"),
            "still_ratio_worst": worst / sd_plain if sd_plain > 0 else float("inf"),
            "clear_difference_plain": cd_plain, "clear_difference": cd,
            "clear_ratio": cd / cd_plain if cd_plain > 0 else float("inf"),
            "still_fraction": float(np.mean([m.mean() for m in still])),
            **({} if alone is None else _against_alone(plain, stylized, alone, moves, pairs))}


def _against_alone(plain, stylized, alone, moving, pairs) -> dict:
    shadow = float("nan")               # (the median is the set only before a still camera)
    if all(motion.still_camera(*pair) for pair in pairs):
        try:
            shadow = ghost_ratio(stylized, alone, footprints(plain, moving))
        except ValueError:              # (a footprint so wide nothing lies behind it)
            pass
    return {"ghost_ratio": ghost_ratio(stylized, alone, moving), "shadow_ghost_ratio": shadow,
            "sharpness_ratio": sharpness_ratio(stylized, alone, moving)}
