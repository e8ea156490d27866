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
- The result is blended with the previous result warped onto it (``blend``), moving surfaces
  included, so the strokes stay on the surfaces. Averaging two stroke patterns that do not
  line up lowers their contrast and washes the style out (measured: style gain −0.19 at share
  0.8), so the blend's local contrast is then matched to this frame's (``match_contrast``,
  the variance-preserving blend of texture advection). StyleBank's fine strokes still lose
  their style when carried along a motion, so its blend falls with speed (RESULT_BLEND).
- Each frame is padded onto the networks' pooling grid where the frame before lay (``align``),
  following the dominant motion (a camera pan): the encoders pool to a stride of 8 to 16 px,
  and a picture moved by a few pixels is painted with other strokes, while one moved by whole
  strides is painted with the same strokes, moved. So a pan's strokes ride on the picture.
"""

from __future__ import annotations

import os
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import pipeline, tiling
from .errors import StyleError
from .features import Moments, block_means
from .images import check_array

FB_RELATIVE = 0.01      # forward-backward consistency (Sundaram et al. 2010, Ruder et al. 2016):
FB_ABSOLUTE = 0.5       # |f(p + b) + b|² <= 0.01 (|f|² + |b|²) + 0.5 px²
DEPTH_TOLERANCE = 0.05  # relative change of depth along the flow that still counts as the same surface
STATISTICS_SHARE = 0.8  # at strength 1: the previous statistics' share in the moving average
CONTENT_SHARE = 0.95    # at strength 1: the previous (filtered) render's share in what the networks see
# The result blend of each method at strength 1: the warped previous result's share where the
# warp is valid, and the motion (px per frame) at which that share halves (None: it does not
# fall with motion). Measured on the test's sequence, docs/animation.md: StyleBank's fine
# strokes lose their style when carried along a motion (across the grid), the others' do not;
# WCT's 0.7 (was 0.6) since frames lie on the grid: its worst gain drop 0.031, warping 0.75.
RESULT_BLEND = {"adain": (0.5, None), "wct": (0.7, None), "stylebank": (0.5, 3.0)}
CONTRAST_CELL = 8       # px: the blend's local contrast is matched to the frame's over squares this size
MAX_CONTRAST_GAIN = 2.0
CONTRAST_FLOOR = 1e-6   # added to both local variances: flat regions keep their contrast
PHASE = tiling.ALIGN    # px: the encoders' coarsest stride (level 5 pools four times); content
                        # moved by a multiple of it is painted the same, moved (docs/animation.md)
BAND_ROWS = 64          # the fewest rows of a band of the per-pixel steps
BAND_PIXELS = 1 << 17   # the most pixels of a band (1.5 MB of RGB float32: a core's cache): at
                        # 720p the render filter takes 16 ms, not 28 (docs/animation.md)
THREADS = min(os.cpu_count() or 1, 8)   # on them at once (numpy releases the GIL): 2 threads
                                        # take 30-40 % off at 1280×720 (docs/animation.md)
DEFAULT_STRENGTH = 1.0  # the Temporal Coherence artists get (add-on, CLI) unless they choose


def flows(vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blender's Vector pass (H×W×4, top row first) -> (backward, forward) flows, H×W×2 float32
    (x, y) in pixels: pixel p of frame t shows what was at p + backward(p) in frame t − 1 and
    will be at p + forward(p) in frame t + 1. Given three channels (what Blender 4.x's
    compositor writes) forward is H×W×1, its x component only."""
    v = np.asarray(vector, np.float32)
    if v.ndim != 3 or v.shape[2] < 3:
        raise StyleError(f"a Vector pass has four channels (H×W×4); got shape {v.shape}")
    # Filled plane by plane: fastest. Not np.negative(plane, out=other plane): numpy 2.2-2.5's
    # AVX-512 loop reads a strided input with the output's stride (wrong flows, 2026-12-04).
    backward = np.empty(v.shape[:2] + (2,), np.float32)
    backward[..., 0] = v[..., 0]
    backward[..., 1] = -v[..., 1]
    if v.shape[2] == 3:             # Blender 4.x's compositor drops the 4th: forward x only
        return backward, -v[..., 2:3]
    forward = np.empty_like(backward)
    forward[..., 0] = -v[..., 2]
    forward[..., 1] = v[..., 3]
    return backward, forward


class Sampler:
    """The backward warp by one flow, prepared once and applied to many images (the render,
    the result, the previous frame's passes): out(p) = image(p + flow(p)) at the nearest pixel;
    ``inside`` is where the sample fell inside the image. Nearest, not bilinear: a result
    warped again every frame would blur a little more each time."""

    def __init__(self, flow: np.ndarray):
        h, w = flow.shape[:2]
        self.shape = (h, w)
        self.inside = np.empty((h, w), bool)
        self.index = np.empty(h * w, np.int32)

        def rows(r0, r1):
            sx = np.add(flow[r0:r1, :, 0], np.arange(w, dtype=np.float32)[None, :])
            sy = np.add(flow[r0:r1, :, 1], np.arange(r0, r1, dtype=np.float32)[:, None])
            np.rint(sx, out=sx)
            np.rint(sy, out=sy)
            self.inside[r0:r1] = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
            index = np.clip(sy, 0, h - 1, out=sy).astype(np.int32)
            index *= w
            index += np.clip(sx, 0, w - 1, out=sx).astype(np.int32)
            self.index[r0 * w:r1 * w] = index.reshape(-1)
        _in_bands(rows, (h, w))

    def __call__(self, image: np.ndarray, rows: tuple[int, int] | None = None) -> np.ndarray:
        """``image`` warped (H×W×C or H×W float32); with ``rows`` (r0, r1), only those rows."""
        h, w = self.shape
        flat = np.ascontiguousarray(image, np.float32).reshape(h * w, -1)
        if flat.shape[1] > 1:           # a pixel's values as one item: a gather of rows is slower
            flat = flat.view(np.dtype((np.void, 4 * flat.shape[1])))
        r0, r1 = rows or (0, h)
        out = np.take(flat.reshape(-1), self.index[r0 * w:r1 * w]).view(np.float32)
        return out.reshape((r1 - r0, w) + image.shape[2:])


def _in_bands(fn, shape: tuple[int, ...], align: int = 1) -> None:
    """fn(r0, r1) for bands of rows that cover the h rows of an h×w ``shape`` (starting at
    multiples of ``align``), taken by THREADS threads at once: the per-pixel steps are numpy
    calls that release the GIL. Bands hold at most about BAND_PIXELS, so each step's arrays stay
    in a core's cache between its numpy calls."""
    h, w = shape[0], shape[1]
    count = max(1, min(max(THREADS, -(-h * w // BAND_PIXELS)), h // BAND_ROWS))
    step = tiling.round_up(-(-h // count), align)
    bands = queue.SimpleQueue()
    for r in range(0, h, step):
        bands.put((r, min(r + step, h)))

    def take():
        while True:
            try:
                band = bands.get_nowait()
            except queue.Empty:
                return
            fn(*band)
    helpers = min(THREADS, -(-h // step)) - 1
    if helpers <= 0:
        take()
        return
    global _POOL
    if _POOL is None:   # its threads start from the caller's: a job's worker gives them its priority
        _POOL = ThreadPoolExecutor(THREADS - 1, thread_name_prefix="nst-coherence")
    futures = [_POOL.submit(take) for _ in range(helpers)]
    take()
    for f in futures:
        f.result()


_POOL: ThreadPoolExecutor | None = None


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

    def pass_(fn):                      # of 3 along rows, then along columns: pairs, then pairs of pairs
        rows = flat
        if h > 1:
            pair = fn(flat[1:], flat[:-1])
            rows = np.empty_like(flat)
            rows[0], rows[-1] = pair[0], pair[-1]
            fn(pair[1:], pair[:-1], out=rows[1:-1])
        if w == 1:
            return rows.reshape(image.shape).copy()
        pair = fn(rows[:, c:], rows[:, :-c])     # a shift by one pixel is c values along a row
        out = np.empty_like(flat)
        out[:, :c], out[:, -c:] = pair[:, :c], pair[:, -c:]
        fn(pair[:, c:], pair[:, :-c], out=out[:, c:-c])
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
    out = np.empty(sample.shape, np.float32)

    def rows(r0, r1):
        ok = sample.inside[r0:r1].copy()
        if previous_forward is not None:
            f = sample(previous_forward, (r0, r1))  # (x, y), or x alone from Blender 4.x
            # component by component: numpy's sum over a last axis of length 2 is slow
            gap = limit = 0
            for k in range(f.shape[-1]):
                fk, bk = f[..., k], backward[r0:r1, :, k]
                gap = gap + np.square(fk + bk)
                limit = limit + np.square(fk) + np.square(bk)
            limit *= np.float32(FB_RELATIVE)
            limit += np.float32(FB_ABSOLUTE)
            ok &= gap <= limit
        if has_depth:   # |zp − z| <= tolerance · max(z, zp) for distances (>= 0, as Blender's):
            z, zp = np.asarray(depth[r0:r1], np.float32), sample(previous_depth, (r0, r1))
            ok &= zp >= z * np.float32(1 - DEPTH_TOLERANCE)     # zp at most that much nearer
            ok &= zp * np.float32(1 - DEPTH_TOLERANCE) <= z     # and at most that much farther
        out[r0:r1] = ok
    _in_bands(rows, sample.shape)
    return out


def _upsample(cells: np.ndarray, h: int, w: int, cell: int) -> np.ndarray:
    """Bilinear from the cells' centres to every pixel of h×w (beyond the outer centres the
    edge cells' values): h×w×C float32."""
    def axis(n: int, count: int):
        s = (np.arange(n, dtype=np.float32) + 0.5) / cell - 0.5
        np.clip(s, 0, count - 1, out=s)
        i0 = np.minimum(s.astype(np.int32), max(count - 2, 0))
        return i0, np.minimum(i0 + 1, count - 1), s - i0.astype(np.float32)   # float32 throughout
    y0, y1, fy = axis(h, cells.shape[0])
    x0, x1, fx = axis(w, cells.shape[1])
    left = np.take(cells, x0, axis=1)                 # contiguous, so whole rows gather fast below
    across = np.take(cells, x1, axis=1)
    across -= left
    across *= fx[None, :, None]
    across += left                                  # (cells down)×w×C: small
    down = across[np.minimum(np.arange(len(across)) + 1, len(across) - 1)]
    down -= across                                  # each cell row to the next one
    out = np.empty((h, w) + cells.shape[2:], np.float32)
    # the rows between two cell centres at once, as broadcasts of the two (no full-size gathers)
    edges = np.flatnonzero(np.diff(y0)) + 1
    for r0, r1 in zip(np.r_[0, edges], np.r_[edges, h]):
        k, rows = y0[r0], out[r0:r1]
        np.multiply(fy[r0:r1, None, None], down[k], out=rows)
        rows += across[k]
    return out


def match_contrast(image: np.ndarray, reference: np.ndarray, cell: int = CONTRAST_CELL) -> np.ndarray:
    """``image`` (H×W×3) with its local contrast raised to ``reference``'s: per channel, the
    deviation from the local mean is scaled by the ratio of the two local standard deviations
    over cell×cell squares (smoothly interpolated between them), by 1 to MAX_CONTRAST_GAIN.
    Blending two stylizations whose strokes do not line up lowers the contrast of the strokes
    (the average of two independent patterns has less variance than either); this gives it
    back without moving them: the variance-preserving blend of texture advection (Yu et al.
    2011), with the variance measured instead of assumed, so already aligned strokes (a still
    surface) are left as they are."""
    h, w = image.shape[:2]
    cell = max(1, min(cell, h, w))
    mean, ref_mean = block_means(image, cell), block_means(reference, cell)
    var = block_means(np.square(image), cell) - np.square(mean)
    ref_var = block_means(np.square(reference), cell) - np.square(ref_mean)
    gain = np.sqrt((np.maximum(ref_var, 0) + CONTRAST_FLOOR) / (np.maximum(var, 0) + CONTRAST_FLOOR))
    np.clip(gain, 1.0, MAX_CONTRAST_GAIN, out=gain)
    # mean + (image − mean)·gain = image·gain + mean·(1 − gain), both fields interpolated
    out = _upsample(gain, h, w, cell)
    out *= image
    out += _upsample(mean * (1 - gain), h, w, cell)
    return np.clip(out, 0.0, 1.0, out=out)


@dataclass
class Motion:
    """One frame's motion relative to the previous one: the warp, where it is valid (float
    H×W), and the backward flow (H×W×2)."""

    sample: Sampler
    validity: np.ndarray
    flow: np.ndarray
    carried: tuple[int, int] = (0, 0)   # (x, y) px: how far the networks' grid moved with the picture

    def speed2(self, rows: tuple[int, int] | None = None) -> np.ndarray:
        """The squared motion in pixels per frame relative to the networks' grid, H×W (with
        ``rows`` (r0, r1), only those rows): what the strokes of a surface change by (0 for a
        surface that moved with the grid)."""
        flow = self.flow if rows is None else self.flow[rows[0]:rows[1]]
        out = np.square(flow[..., 0] - np.float32(self.carried[0]))
        out += np.square(flow[..., 1] - np.float32(self.carried[1]))
        return out


def dominant_motion(motion: Motion) -> np.ndarray:
    """The backward flow (x, y) of most of the picture, px: the median over the pixels where the
    warp is valid (every 4th row and column), (0, 0) where none is: a camera pan's motion, or
    none for a still camera whatever moves in front of it."""
    step = (slice(None, None, 4), slice(None, None, 4))
    flow, ok = motion.flow[step], motion.validity[step] > 0
    if not ok.any():
        return np.zeros(2)
    return np.array([np.median(flow[..., 0][ok]), np.median(flow[..., 1][ok])], np.float64)


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
        self.shares = (CONTENT_SHARE * strength, STATISTICS_SHARE * strength)
        self.reset()

    def reset(self) -> None:
        self.previous: np.ndarray | None = None
        self.previous_content: np.ndarray | None = None
        self._statistics: dict = {}
        self._motion = None
        self._grid = np.zeros(2)        # (x, y): the picture's travel since the cut, px (see ``align``)

    def align(self, motion: Motion | None) -> tuple[int, int]:
        """Where to put the frame on the networks' grid: (x, y) px of padding above and left, in
        [0, PHASE). The encoders pool to a stride of PHASE px, so a picture moved by 3 px is
        painted with other strokes, but one moved by PHASE px with the same strokes, moved
        (Azulay & Weiss 2019: strided networks are not shift-equivariant). The padding follows
        the dominant motion (a camera pan), so each frame lands on the grid where the previous
        one did, to within half a pixel; ``motion.carried`` is set to how far the grid moved, so
        the result blend sees what the strokes moved by relative to it."""
        if motion is None:
            self._grid[:] = 0
            return 0, 0
        before = np.rint(self._grid)
        self._grid += dominant_motion(motion)
        moved = np.rint(self._grid) - before
        motion.carried = (int(moved[0]), int(moved[1]))
        x, y = (int(v) % PHASE for v in np.rint(self._grid))
        return x, y

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
            out = np.empty_like(rgb)
            h = rgb.shape[0]

            def rows(r0, r1):
                warped = motion.sample(self.previous_content, (r0, r1))
                a = max(r0 - 1, 0)              # the neighbourhood needs a row above and below
                lo, hi = neighbourhood(rgb[a:r1 + 1])
                n = r1 - r0
                np.clip(warped, lo[r0 - a:r0 - a + n], hi[r0 - a:r0 - a + n], out=warped)
                here = rgb[r0:r1]
                warped -= here
                warped *= (share * motion.validity[r0:r1])[..., None]
                np.add(warped, here, out=out[r0:r1])
            _in_bands(rows, rgb.shape)
            rgb = out
        self.previous_content = rgb
        return rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=-1)

    def smooth(self, key, m: Moments) -> Moments:
        """The content statistics ``m`` of this frame under ``key`` (stage, region), averaged
        with the previous frames': what the transform of this frame is computed from."""
        if m is None or m.weight <= 0:
            return m
        share = self.shares[1]
        prev = self._statistics.get(key)
        now = _normalised(m)
        if prev is not None and share > 0:
            now = Moments(1.0, share * prev.sum + (1 - share) * now.sum,
                          share * prev.outer + (1 - share) * now.outer)
        self._statistics[key] = now
        return Moments(m.weight, now.sum * m.weight, now.outer * m.weight)

    def blend(self, frame: np.ndarray, motion=None, where: np.ndarray | None = None,
              method: str = "adain") -> np.ndarray:
        """This frame's stylization by ``method`` (H×W×3 or ×4; alpha passes through) blended
        with the previous result warped onto it where the warp is valid (by RESULT_BLEND, and
        inside ``where``, e.g. the union of the style masks), its strokes' contrast restored
        (``match_contrast``); remembered for the next frame. The first frame, a frame without
        motion and strength 0 come back unchanged."""
        out = frame
        share, halving = RESULT_BLEND[method]
        share *= self.strength
        if (self.previous is not None and motion is not None and share > 0
                and self.previous.shape[:2] == frame.shape[:2]):
            rgb = np.ascontiguousarray(frame[..., :3], np.float32)
            warped = np.empty_like(rgb)     # the blended colour, contiguous: kept for the next frame
            h, cell = rgb.shape[0], CONTRAST_CELL

            def rows(r0, r1):               # with a cell above and below: the same contrast
                r, s = max(r0 - cell, 0), min(r1 + cell, h)     # match as over the whole frame
                a = share * motion.validity[r:s]                # the previous result's share
                if halving is not None:
                    a /= 1.0 + motion.speed2((r, s)) / np.float32(halving ** 2)
                if where is not None:
                    a *= np.clip(np.asarray(where)[r:s], 0.0, 1.0)
                mixed = motion.sample(self.previous, (r, s))
                here = rgb[r:s]
                mixed -= here
                flat = mixed.reshape(-1)        # × a per pixel: a broadcast over 3 channels is slow
                flat *= np.repeat(a.reshape(-1), mixed.shape[-1])
                mixed += here
                band = warped[r0:r1]
                band[:] = match_contrast(mixed, here)[r0 - r:r1 - r]
                # where nothing was blended (few pixels: occlusions, the border): the frame itself
                keep = np.flatnonzero(a[r0 - r:r1 - r] <= 0)
                if len(keep):
                    band.reshape(-1, 3)[keep] = rgb[r0:r1].reshape(-1, 3)[keep]
            _in_bands(rows, rgb.shape, cell)
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
        return Motion(sample, valid(backward, previous[1], depth, previous[2], sample), backward)

    def stylize(self, content: np.ndarray, styles, method: str = "wct", *,
                vector: np.ndarray | None = None, depth: np.ndarray | None = None,
                where: np.ndarray | None = None, **options) -> pipeline.StyleResult:
        """``pipeline.stylize`` of the next frame (``options`` as there) with its Vector pass
        and depth as Blender rendered them (top row first; None: a cut, nothing carries over):
        the render filtered along the motion, its statistics smoothed, the result blended."""
        motion = self.motion(vector, depth) if self.strength > 0 else None
        content = self.filter_content(content, motion)
        h, w = content.shape[:2]
        work = options.get("work_size")
        scaled = (work is not None and work < max(h, w)) or min(h, w) < pipeline.MIN_CONTENT
        # scaled, the networks' grid is not the frame's; tileable, the frame wraps around
        x, y = (0, 0) if scaled or options.get("seamless") else self.align(motion)
        if x or y:
            def pad(a):
                a = np.asarray(a)
                return np.pad(a, [(y, 0), (x, 0)] + [(0, 0)] * (a.ndim - 2), mode="symmetric")
            content = pad(content)
            if options.get("masks") is not None:
                options = {**options, "masks": [None if m is None else pad(m) for m in options["masks"]]}
        result = pipeline.stylize(content, styles, method,
                                  statistics=self.smooth if self.strength > 0 else None, **options)
        if x or y:
            result.image = np.ascontiguousarray(result.image[y:, x:])
        result.image = self.blend(result.image, motion, where, method)
        return result
