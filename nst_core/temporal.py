"""Frame sequences without flicker: flow from Blender's Vector pass, where it can be trusted,
and the state that carries one stylized frame into the next.

Blender renders exact motion vectors (the Vector pass), so nothing here estimates flow. Its
four channels, measured on a scene whose motion is known (tests/blender/test_animation.py), are
in raster pixels with y pointing up:

    (x_prev − x, y_prev − y, x − x_next, y − y_next)

for the surface seen at pixel (x, y) of frame t: the first pair points to where that surface
was in frame t − 1, the second pair away from where it will be in frame t + 1. ``flows`` turns
them into flows in image coordinates (x right, y down, rows top first, as every array here).

Coherence works on three things, each only where the warp is valid (``valid``: the surface
was visible in the previous frame, by forward-backward consistency of Blender's own vectors
and by depth), so what a moving object uncovers is always painted fresh: no ghost trails.
docs/animation.md has the measurements behind the choice.

- The render the networks see is averaged along the motion with the previous frames
  (``filter_content``): render noise that changes every frame (an animated seed) no longer
  changes the strokes. The previous colour is first clamped to the current pixel's 3×3
  neighbourhood, so a moving shadow or a change of light is taken at once, not faded in. This
  does most of the work and costs no style: the output is still one stylization of one image.
- The content statistics every stage's transform is computed from are a moving average over
  frames (``smooth``, the pipeline's ``statistics`` hook), so a moving object does not change
  WCT's whitening of the whole picture and repaint still regions.
- The result is blended with the previous result warped onto it (``blend``), where the surface
  hardly moves (the share halves at MOTION_PX per frame): blending two stylizations of a moving
  surface averages two stroke patterns and washes the style out (measured: style gain −0.19
  at share 0.8 everywhere), so moving surfaces rely on the filtered render instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import pipeline
from .errors import StyleError
from .features import Moments
from .images import check_array

FB_RELATIVE = 0.01      # forward-backward consistency (Sundaram et al. 2010, Ruder et al. 2016):
FB_ABSOLUTE = 0.5       # |f(p + b) + b|² <= 0.01 (|f|² + |b|²) + 0.5 px²
DEPTH_TOLERANCE = 0.05  # relative change of depth along the flow that still counts as the same surface
STATISTICS_SHARE = 0.8  # at strength 1: the previous statistics' share in the moving average
CONTENT_SHARE = 0.95    # at strength 1: the previous (filtered) render's share in what the networks see
MOTION_PX = 1.0         # the output blend halves where the motion is this many pixels per frame
BLEND_SHARE = 0.5       # at strength 1: the warped previous result's share where the warp is valid
DEFAULT_STRENGTH = 1.0  # the Temporal Coherence artists get (add-on, CLI) unless they choose


def flows(vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blender's Vector pass (H×W×4, top row first) -> (backward, forward) flows, H×W×2 float32
    (x, y) in pixels: pixel p of frame t shows what was at p + backward(p) in frame t − 1 and
    will be at p + forward(p) in frame t + 1. Given three channels (what Blender 4.x's
    compositor writes) forward is H×W×1, its x component only."""
    v = np.asarray(vector, np.float32)
    if v.ndim != 3 or v.shape[2] < 3:
        raise StyleError(f"a Vector pass has four channels (H×W×4); got shape {v.shape}")
    backward = np.stack([v[..., 0], -v[..., 1]], axis=-1)
    if v.shape[2] == 3:             # Blender 4.x's compositor drops the 4th: forward x only
        return backward, -v[..., 2:3]
    forward = np.stack([-v[..., 2], v[..., 3]], axis=-1)
    return backward, forward


class Sampler:
    """The backward warp by one flow, prepared once and applied to many images (the render,
    the result, the previous frame's passes): out(p) = image(p + flow(p)) at the nearest pixel;
    ``inside`` is where the sample fell inside the image. Nearest, not bilinear: a result
    warped again every frame would blur a little more each time."""

    def __init__(self, flow: np.ndarray):
        h, w = flow.shape[:2]
        sx = np.rint(flow[..., 0] + np.arange(w, dtype=np.float32)[None, :])
        sy = np.rint(flow[..., 1] + np.arange(h, dtype=np.float32)[:, None])
        self.inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
        np.clip(sx, 0, w - 1, out=sx)
        np.clip(sy, 0, h - 1, out=sy)
        self.index = (sy.astype(np.int32) * w + sx.astype(np.int32)).reshape(-1)
        self.shape = (h, w)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        flat = np.asarray(image, np.float32).reshape(self.shape[0] * self.shape[1], -1)
        return np.take(flat, self.index, axis=0).reshape(image.shape)


def warp(image: np.ndarray, flow: np.ndarray, nearest: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Backward warp: out(p) = image(p + flow(p)), bilinear (or the nearest pixel), float32; flow
    H×W×2 in pixels (x, y). Returns the warped image (H×W×C, or H×W for H×W input) and where its
    sample fell inside the image (H×W bool)."""
    if nearest:
        sample = Sampler(flow)
        return sample(image), sample.inside
    h, w = image.shape[:2]
    img = np.asarray(image, np.float32).reshape(h * w, -1)
    sx = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
    sy = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    np.clip(sx, 0, w - 1, out=sx)
    np.clip(sy, 0, h - 1, out=sy)
    x0, y0 = np.minimum(sx.astype(np.int32), max(w - 2, 0)), np.minimum(sy.astype(np.int32), max(h - 2, 0))
    fx, fy = (sx - x0).reshape(-1, 1), (sy - y0).reshape(-1, 1)
    i00 = (y0 * w + x0).reshape(-1)
    dx, dy = (1 if w > 1 else 0), (w if h > 1 else 0)
    top = img[i00] * (1 - fx) + img[i00 + dx] * fx
    bottom = img[i00 + dy] * (1 - fx) + img[i00 + dy + dx] * fx
    out = top * (1 - fy) + bottom * fy
    return out.reshape(image.shape), inside


def neighbourhood(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the minimum and maximum of each channel over its 3×3 neighbourhood (edges
    repeat): the range a previous frame's colour is clamped to, so a change of light or shadow
    on a surface that did not move is taken at once instead of fading in (Karis 2014, the
    neighbourhood clamp of temporal anti-aliasing)."""
    h, w = image.shape[:2]
    c = image.size // (h * w)
    flat = np.ascontiguousarray(image, np.float32).reshape(h, w * c)

    def pass_(fn):
        rows = flat.copy()              # rows: whole image rows shift, contiguous
        fn(rows[1:], flat[:-1], out=rows[1:])
        fn(rows[:-1], flat[1:], out=rows[:-1])
        out = rows.copy()               # columns: a shift by one pixel is c values along a row
        fn(out[:, c:], rows[:, :-c], out=out[:, c:])
        fn(out[:, :-c], rows[:, c:], out=out[:, :-c])
        return out.reshape(image.shape)
    return pass_(np.minimum), pass_(np.maximum)


def valid(backward: np.ndarray, previous_forward: np.ndarray | None, depth: np.ndarray | None = None,
          previous_depth: np.ndarray | None = None, sample: Sampler | None = None) -> np.ndarray:
    """Where frame t − 1 warped onto frame t by ``backward`` shows the same surface (H×W
    float32, 1 or 0): the sample lands inside the image, the previous frame's forward flow
    there comes back to p (it does not where the surface was hidden, or at a motion edge), and,
    with both depths given, the depth there is that of p within DEPTH_TOLERANCE. ``sample``:
    the Sampler of ``backward`` when the caller has it."""
    sample = sample or Sampler(backward)
    has_depth = depth is not None and previous_depth is not None
    if previous_forward is None and not has_depth:
        raise StyleError("validity needs the previous frame's forward flow or both depths")
    ok = sample.inside.copy()
    if previous_forward is not None:
        f = sample(previous_forward)    # (x, y), or x alone from Blender 4.x
        # component by component: numpy's sum over a last axis of length 2 is slow
        gap = np.zeros(ok.shape, np.float32)
        norms = np.zeros(ok.shape, np.float32)
        for k in range(f.shape[-1]):
            fk, bk = f[..., k], backward[..., k]
            gap += np.square(fk + bk)
            norms += np.square(fk)
            norms += np.square(bk)
        ok &= gap <= FB_RELATIVE * norms + FB_ABSOLUTE
    if has_depth:
        z, zp = np.asarray(depth, np.float32), sample(previous_depth)
        ok &= np.abs(zp - z) <= DEPTH_TOLERANCE * np.maximum(np.abs(z), np.abs(zp))
    return ok.astype(np.float32)


@dataclass
class Motion:
    """One frame's motion relative to the previous one: the warp, where it is valid (float
    H×W), and the squared speed in pixels per frame."""

    sample: Sampler
    validity: np.ndarray
    speed2: np.ndarray


def _normalised(m: Moments) -> Moments:
    return Moments(1.0, m.sum / m.weight, m.outer / m.weight)


class Coherence:
    """What carries over from one frame to the next, for one sequence stylized in order with
    the same method and styles. ``strength`` 0 stylizes every frame on its own (today's
    behaviour), 1 is the most coherent. Use ``smooth`` as ``stylize(statistics=...)`` and pass
    each stylized frame through ``blend``; ``reset`` at a cut."""

    def __init__(self, strength: float = DEFAULT_STRENGTH):
        if not np.isfinite(strength) or not 0.0 <= strength <= 1.0:
            raise StyleError(f"temporal coherence must be between 0 and 1, got {strength}")
        self.strength = float(strength)
        self.shares = (CONTENT_SHARE * strength, BLEND_SHARE * strength, STATISTICS_SHARE * strength)
        self.reset()

    def reset(self) -> None:
        self.previous: np.ndarray | None = None
        self.previous_content: np.ndarray | None = None
        self._statistics: dict = {}
        self._motion = None

    def filter_content(self, content: np.ndarray, motion=None) -> np.ndarray:
        """The frame the networks see: the render averaged along the motion with the previous
        frames where the warp is valid (the previous colour clamped to this pixel's 3×3
        neighbourhood), so render noise that changes every frame (an animated seed) does not
        change the strokes. At strength 0 the content itself."""
        share = self.shares[0]
        if share <= 0:
            return content
        if content.dtype == np.float32 and content.ndim == 3 and content.shape[2] in (3, 4):
            rgb = np.ascontiguousarray(content[..., :3])    # the usual frame: no checks
            alpha = content[..., 3] if content.shape[2] == 4 else None
        else:
            rgb, alpha = check_array(content, "content")
        if (self.previous_content is not None and motion is not None
                and self.previous_content.shape == rgb.shape):
            warped = motion.sample(self.previous_content)
            lo, hi = neighbourhood(rgb)
            np.clip(warped, lo, hi, out=warped)
            warped -= rgb
            warped *= (share * motion.validity)[..., None]
            warped += rgb
            rgb = warped
        self.previous_content = rgb
        return rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=-1)

    def smooth(self, key, m: Moments) -> Moments:
        """The content statistics ``m`` of this frame under ``key`` (stage, region), averaged
        with the previous frames': what the transform of this frame is computed from."""
        if m is None or m.weight <= 0:
            return m
        share = self.shares[2]
        prev = self._statistics.get(key)
        now = _normalised(m)
        if prev is not None and share > 0:
            now = Moments(1.0, share * prev.sum + (1 - share) * now.sum,
                          share * prev.outer + (1 - share) * now.outer)
        self._statistics[key] = now
        return Moments(m.weight, now.sum * m.weight, now.outer * m.weight)

    def blend(self, frame: np.ndarray, motion=None, where: np.ndarray | None = None) -> np.ndarray:
        """This frame's stylization (H×W×3 or ×4; alpha passes through) blended with the
        previous result warped onto it where the warp is valid and the surface hardly moves
        (and inside ``where``, e.g. the union of the style masks); remembered for the next
        frame. The first frame, a frame without motion and strength 0 come back unchanged."""
        out = frame
        share = self.shares[1]
        if (self.previous is not None and motion is not None and share > 0
                and self.previous.shape[:2] == frame.shape[:2]):
            a = share * motion.validity / (1.0 + motion.speed2 / MOTION_PX ** 2)
            if where is not None:
                a *= np.clip(where, 0.0, 1.0)
            rgb = np.ascontiguousarray(frame[..., :3], np.float32)
            warped = motion.sample(self.previous)
            warped -= rgb
            warped *= a[..., None]
            warped += rgb                   # the blended colour, contiguous: kept for the next frame
            self.previous = warped
            if frame.shape[-1] == 3:
                return warped.copy()        # the caller may change it; ``previous`` stays
            out = np.array(frame, np.float32)
            out[..., :3] = warped
            return out
        self.previous = np.array(out[..., :3], np.float32)
        return out

    def motion(self, vector: np.ndarray | None, depth: np.ndarray | None = None) -> Motion | None:
        """This frame's motion from its Vector pass (and depth) and the previous frame's; None
        for the first frame, a frame without vectors, or no way to tell occlusions."""
        if vector is None:
            self._motion = None
            return None
        backward, forward = flows(vector)
        previous, self._motion = self._motion, (backward.shape, forward, depth)
        if previous is None or previous[0] != backward.shape:
            return None
        if previous[1] is None and (depth is None or previous[2] is None):
            return None
        sample = Sampler(backward)
        return Motion(sample, valid(backward, previous[1], depth, previous[2], sample),
                      np.square(backward[..., 0]) + np.square(backward[..., 1]))

    def stylize(self, content: np.ndarray, styles, method: str = "wct", *,
                vector: np.ndarray | None = None, depth: np.ndarray | None = None,
                where: np.ndarray | None = None, **options) -> pipeline.StyleResult:
        """``pipeline.stylize`` of the next frame (``options`` as there) with its Vector pass
        and depth as Blender rendered them (top row first; None: a cut, nothing carries over):
        the render filtered along the motion, its statistics smoothed, the result blended."""
        motion = self.motion(vector, depth) if self.strength > 0 else None
        content = self.filter_content(content, motion)
        result = pipeline.stylize(content, styles, method,
                                  statistics=self.smooth if self.strength > 0 else None, **options)
        result.image = self.blend(result.image, motion, where)
        return result
