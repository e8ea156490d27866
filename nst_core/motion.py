"""Motion from Blender's Vector pass, and where it can be trusted.

Blender renders exact motion vectors (the Vector pass), so nothing here estimates flow. Its
four channels, measured on a scene whose motion is known (tests/blender/test_animation.py), are
in raster pixels with y pointing up: (x_prev − x, y_prev − y, x − x_next, y − y_next) for the
surface seen at pixel (x, y) of frame t: the first pair points to where it was in frame t − 1,
the second away from where it will be in frame t + 1. ``flows`` turns them into flows in image
coordinates (x right, y down, rows top first, as every array here). A warp is valid (``valid``)
where the surface was visible in the previous frame, by forward-backward consistency of
Blender's own vectors and by depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bands import in_bands
from .errors import StyleError
from .filters import parts_with

FB_RELATIVE = 0.01      # forward-backward consistency (Sundaram et al. 2010, Ruder et al. 2016):
FB_ABSOLUTE = 0.5       # |f(p + b) + b|² <= 0.01 (|f|² + |b|²) + 0.5 px²
DEPTH_TOLERANCE = 0.05  # relative change of depth along the flow that still counts as the same surface
BORDER_PX = 16          # px from the picture's edge whose painting of what moves is not carried
ENTERING = 0.2          # an object with this share of such pixels is coming in: none of it is
TAPS = 6                # taps a side of a carried painting's sub-pixel sample (``_taps`` makes 6)
SHARPEN = 1.45          # ``_taps``' sharpening: the most for which no frequency gains at any shift
STILL_CAMERA_PX = 0.5   # px a frame: most of the picture moving less than this is a still camera
FAR = 1e9               # depth from which a pixel shows the world background (Blender's is 1e10)
OUTSIDE = 1e6           # px: a flow that lands outside any picture (a direction behind a camera)


def flows(vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blender's Vector pass (H×W×4, top row first) -> (backward, forward) flows, H×W×2 float32
    (x, y) in pixels: pixel p of frame t shows what was at p + backward(p) in frame t − 1 and
    will be at p + forward(p) in frame t + 1. Given three channels (what Blender 4.x's
    compositor writes) forward is H×W×1, its x component only."""
    v = np.asarray(vector, np.float32)
    if v.ndim != 3 or v.shape[2] < 3:
        raise StyleError(f"a Vector pass has four channels (H×W×4); got shape {v.shape}")
    # Filled plane by plane (in bands): fastest. Not np.negative(plane, out=other plane): numpy
    # 2.2-2.5's AVX-512 loop reads a strided input with the output's stride (wrong flows, 2026-12-04).
    backward = np.empty(v.shape[:2] + (2,), np.float32)
    forward = np.empty(v.shape[:2] + ((1,) if v.shape[2] == 3 else (2,)), np.float32)

    def rows(r0, r1):
        b, f, s = backward[r0:r1], forward[r0:r1], v[r0:r1]
        b[..., 0] = s[..., 0]
        b[..., 1] = -s[..., 1]
        f[..., 0] = -s[..., 2]
        if f.shape[-1] == 2:        # Blender 4.x's compositor drops the 4th: forward x only
            f[..., 1] = s[..., 3]
    in_bands(rows, v.shape)
    return backward, forward


def still_camera(*flows: np.ndarray) -> bool:
    """Whether the camera stands still in each of ``flows`` (H×W×2, or Blender 4.x's forward
    H×W×1): the median of each pixel's motion (its larger component; every 4th pixel each way)
    is under STILL_CAMERA_PX. (Each component's median is 0 for a camera moving in, the picture
    growing every way: a trial's dolly was taken for a still camera, a ring and patches.)"""
    step = (slice(None, None, 4), slice(None, None, 4))
    return all(np.median(np.abs(f[step]).max(-1)) < STILL_CAMERA_PX for f in flows)


def background(backward: np.ndarray, depth: np.ndarray | None, view: np.ndarray | None,
               previous_forward: np.ndarray | None, previous_depth: np.ndarray | None,
               previous_view: np.ndarray | None) -> None:
    """The world background's motion, which Cycles' Vector pass leaves at 0 even while the
    camera turns (docs/animation.md: a turning camera's sky kept its first strokes on the
    screen; Eevee's moves it, at the clip end's depth, and is left as it is), from the two
    frames' cameras, in place (C-contiguous flows, as ``flows`` makes them): ``backward`` of
    this frame and ``previous_forward`` of the previous one, where their depth is at least
    FAR; nothing without both views. A view (3×3) takes (column, row, 1) of a pixel (rows top
    first) to its ray's direction in the world: the background at p lies at
    view_then⁻¹ · view_now · p."""
    if view is None or previous_view is None:
        return
    for flow, far, here, there in ((backward, depth, view, previous_view),
                                   (previous_forward, previous_depth, previous_view, view)):
        if flow is None or far is None:
            continue
        if not flow.flags.c_contiguous:         # (written through a flat view of it)
            raise StyleError(f"a flow to fill in place must be C-contiguous, got {flow.strides}")
        where = np.flatnonzero(np.asarray(far) >= FAR)
        row, col = np.divmod(where, flow.shape[1])
        x, y = col.astype(np.float32), row.astype(np.float32)
        g = np.linalg.solve(np.asarray(there, np.float64), np.asarray(here, np.float64))
        q = [np.float32(g[i, 0]) * x + np.float32(g[i, 1]) * y + np.float32(g[i, 2]) for i in range(3)]
        behind = q[2] <= 1e-9                   # (the direction is behind that camera)
        q[2][behind] = 1.0
        flat = flow.reshape(-1, flow.shape[-1])
        for k in range(flow.shape[-1]):             # x, y (Blender 4.x's forward: x alone)
            p = q[k] / q[2] - (x, y)[k]
            p[behind] = OUTSIDE
            flat[where, k] = p


class Sampler:
    """The backward warp by one flow, prepared once and applied to many images (the render,
    the result, the previous frame's passes): out(p) = image(p + flow(p)) at the nearest pixel;
    ``inside`` is where the sample fell inside the image. Nearest, not bilinear: a result
    warped again every frame would blur a little more each time (``sharp``: interpolating taps
    that give back what they blur). Bands of rows where nothing moves (a still camera's set)
    are copied, not gathered."""

    def __init__(self, flow: np.ndarray):
        h, w = flow.shape[:2]
        self.shape = (h, w)
        self.inside = np.empty((h, w), bool)
        self.index = np.empty(h * w, np.int32)
        self.still = np.zeros(h, bool)          # rows whose flow is 0 everywhere
        self.flow, self._taps = flow, None

        def rows(r0, r1):
            if not flow[r0:r1].any():
                self.inside[r0:r1] = True
                self.index[r0 * w:r1 * w] = np.arange(r0 * w, r1 * w, dtype=np.int32)
                self.still[r0:r1] = True
                return
            sx = np.add(flow[r0:r1, :, 0], np.arange(w, dtype=np.float32)[None, :])
            sy = np.add(flow[r0:r1, :, 1], np.arange(r0, r1, dtype=np.float32)[:, None])
            np.rint(sx, out=sx)
            np.rint(sy, out=sy)
            self.inside[r0:r1] = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
            index = np.clip(sy, 0, h - 1, out=sy).astype(np.int32)
            index *= w
            index += np.clip(sx, 0, w - 1, out=sx).astype(np.int32)
            self.index[r0 * w:r1 * w] = index.reshape(-1)
        in_bands(rows, (h, w))

    def __call__(self, image: np.ndarray, rows: tuple[int, int] | None = None,
                 columns: slice | None = None) -> np.ndarray:
        """``image`` warped (H×W×C or H×W float32); with ``rows`` (r0, r1), only those rows
        (the whole image: in bands), and of them only ``columns``."""
        h, w = self.shape
        if rows is not None and self.still[rows[0]:rows[1]].all():
            return np.array(np.asarray(image, np.float32)[rows[0]:rows[1], columns or slice(None)])
        if columns is not None:
            r0, r1 = rows
            index = self.index[r0 * w:r1 * w].reshape(r1 - r0, w)[:, columns]
            flat = np.ascontiguousarray(image, np.float32).reshape(h * w, -1)
            return flat[index.reshape(-1)].reshape(index.shape + image.shape[2:])
        if rows is None:
            image = np.ascontiguousarray(image, np.float32)
            whole = np.empty(image.shape, np.float32)

            def band(r0, r1):
                whole[r0:r1] = self(image, (r0, r1))
            in_bands(band, self.shape)
            return whole
        flat = np.ascontiguousarray(image, np.float32).reshape(h * w, -1)
        if flat.shape[1] > 1:           # a pixel's values as one item: a gather of rows is slower
            flat = flat.view(np.dtype((np.void, 4 * flat.shape[1])))
        r0, r1 = rows or (0, h)
        out = np.take(flat.reshape(-1), self.index[r0 * w:r1 * w]).view(np.float32)
        return out.reshape((r1 - r0, w) + image.shape[2:])

    def sharp(self, image: np.ndarray, rows: tuple[int, int] | None = None,
              columns: slice | None = None) -> np.ndarray:
        """As calling it, but where the flow is not a whole number of pixels, at its sub-pixel
        position by ``_taps``: for a painting carried again every frame. The nearest pixel of
        a turning or rolling surface repeats a row here and there, and carried, the repeats
        add up to horizontal streaks; bilinear blurs the strokes (a ball's warping ratio 3.40 ->
        1.79, but soft: docs/animation.md). ``_taps`` interpolates, loses little of a fine
        stroke each time (a 4 px stroke keeps 0.97 of its contrast at half a pixel; Catmull-Rom
        alone 0.88, bilinear 0.71) and never gains any."""
        out = self(image, rows, columns)
        h, w = self.shape
        r0, r1 = rows or (0, h)
        where, start, wy, wx = self._between()
        a, b = np.searchsorted(where, (r0 * w, r1 * w))
        if a == b:
            return out
        where, start, wy, wx = where[a:b], start[a:b], wy[a:b], wx[a:b]
        if columns is not None:
            c0, c1, _ = columns.indices(w)
            x = where % w
            inside = (x >= c0) & (x < c1)
            where, start, wy, wx = where[inside], start[inside], wy[inside], wx[inside]
        c, n = (image.shape[2] if image.ndim == 3 else 1), TAPS
        flat = np.ascontiguousarray(image, np.float32).reshape(-1)
        # n pixels side by side as one row: one gather for each row of taps
        strip = np.lib.stride_tricks.as_strided(flat, (h * w - n + 1, n * c), (4 * c, 4))
        across = np.zeros((len(start), c), np.float32)
        for i in range(n):                  # each row of taps across, then the rows down
            row = np.matmul(wx[:, None, :], strip[start + i * w].reshape(-1, n, c))[:, 0]
            row *= wy[:, i, None]
            across += row
        if columns is None:                 # (out's pixels as the frame's, from row r0)
            where = where - r0 * w
        else:
            where = (where // w - r0) * (c1 - c0) + (where % w - c0)
        out.reshape(-1, c)[where] = across
        return out

    def _between(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For ``sharp``, once: the pixels whose sample falls between pixels, at least two
        pixels inside the image's edge (flat indices, in order), the first of their TAPS×TAPS
        taps and the taps' weights down and across (N×TAPS each)."""
        if self._taps is None:
            h, w = self.shape
            moving = np.flatnonzero(np.repeat(~self.still, w))
            f = self.flow.reshape(-1, 2)[moving]
            between = (f[:, 0] != np.rint(f[:, 0])) | (f[:, 1] != np.rint(f[:, 1]))
            moving, f = moving[between], f[between]
            sx = f[:, 0] + (moving % w).astype(np.float32)
            sy = f[:, 1] + (moving // w).astype(np.float32)
            x0, y0 = np.floor(sx), np.floor(sy)
            m = TAPS // 2 - 1               # (taps from x0 − m)
            inner = (x0 >= m) & (x0 <= w - 2 - m) & (y0 >= m) & (y0 <= h - 2 - m)  # (else: nearest)
            x0, y0, sx, sy = x0[inner], y0[inner], sx[inner], sy[inner]
            start = (y0.astype(np.int32) - m) * w + (x0.astype(np.int32) - m)
            self._taps = (moving[inner], start, _taps(sy - y0), _taps(sx - x0))
        return self._taps


def _catmull_rom(t: np.ndarray) -> np.ndarray:
    """The four taps' weights (N×4, at −1, 0, 1, 2) of Catmull-Rom interpolation at ``t`` in [0, 1)."""
    t2 = t * t
    t3 = t2 * t
    return np.stack([(2 * t2 - t3 - t) * 0.5, (3 * t3 - 5 * t2 + 2) * 0.5,
                     (4 * t2 - 3 * t3 + t) * 0.5, (t3 - t2) * 0.5], 1)


def _taps(t: np.ndarray) -> np.ndarray:
    """The TAPS weights (N×6, at −2 … 3) of interpolation at ``t`` in [0, 1) for a painting
    carried again every frame: Catmull-Rom, then a sharpening that gives back what it loses
    between pixels, 1 + a·(1 − cos ω)² with a = SHARPEN·(t(1 − t))² (none on whole pixels).
    Catmull-Rom alone keeps 0.88 of a 4 px stroke's contrast at half a pixel, 0.69 of a 3 px
    one: carried 12 frames, a rolling ball's strokes lost a third of their sharpness (an
    artist trial). With it 0.97 and 0.82, and still no gain at any frequency or shift, so
    carried again and again nothing rings up; exact on a linear image. (The sharpening's two
    outer taps, under 0.002, are folded in keeping the weights' sum and centre.)"""
    k = _catmull_rom(t)
    a = (np.float32(SHARPEN) * np.square(t * (1 - t)))[:, None]
    sharpen = (a / 4, -a, 1 + 1.5 * a, -a, a / 4)  # the second difference, squared
    full = np.zeros((len(t), 8), np.float32)
    for i in range(4):
        for j, g in enumerate(sharpen):
            full[:, i + j] += k[:, i] * g[:, 0]
    out = full[:, 1:7].copy()
    out[:, :2] += full[:, :1] * np.float32([2, -1])
    out[:, -2:] += full[:, 7:] * np.float32([-1, 2])
    return out


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
    in_bands(rows, sample.shape)
    return out


@dataclass
class Motion:
    """One frame's motion relative to the previous one: the warp, where it is valid (float
    H×W), and the backward flow (H×W×2)."""

    sample: Sampler
    validity: np.ndarray
    flow: np.ndarray
    carried: tuple[int, int] = (0, 0)   # (x, y) px: how far the networks' grid moved with the picture
    sharp: bool = False                 # paintings carried between pixels (``carry``)
    kept: tuple | None = None           # (painting, its carry, rows carried, columns): ``keep``

    def keep(self, painting: np.ndarray, columns: slice | None = None) -> None:
        """From now on ``carry`` keeps what it carries of ``painting`` over ``columns`` (None:
        all) and gives it again to a later ask (copied): the canvas and the result blend carry
        the same painting along the same motion, the same values (at 720p a large moving
        object's sub-pixel carry cost some 80 ms a painting, docs/benchmarks.md)."""
        self.kept = (painting, np.empty(painting.shape, np.float32), np.zeros(len(painting), bool),
                     slice(*(columns or slice(None)).indices(painting.shape[1])[:2]))

    def carry(self, painting: np.ndarray, rows: tuple[int, int] | None = None,
              columns: slice | None = None) -> np.ndarray:
        """A painting warped along the motion, as ``sample`` (with ``sharp``: ``Sampler.sharp``:
        set for a still camera, where only what moves is resampled; a pan's every pixel
        would cost 0.9 s at 720p); of a painting kept (``keep``), what was carried before is
        taken from what was kept."""
        fn = self.sample.sharp if self.sharp else self.sample
        if self.kept is None or self.kept[0] is not painting or rows is None:
            return fn(painting, rows, columns)
        _, store, done, k = self.kept
        (r0, r1), c = rows, slice(*(columns or slice(None)).indices(painting.shape[1])[:2])
        if c == k and not done[r0:r1].any():        # carried now, and kept
            store[r0:r1, c] = out = fn(painting, rows, columns)
            done[r0:r1] = True
            return out
        out = np.empty((r1 - r0, c.stop - c.start) + painting.shape[2:], np.float32)
        a, b = max(c.start, k.start), min(c.stop, k.stop)   # the columns kept, if carried
        cuts = [0, *(np.flatnonzero(np.diff(done[r0:r1].view(np.int8))) + 1), r1 - r0]
        for s0, s1 in zip(cuts[:-1], cuts[1:]):     # runs of rows carried before, or not
            if not done[r0 + s0] or a >= b:
                out[s0:s1] = fn(painting, (r0 + s0, r0 + s1), columns)
                continue
            out[s0:s1, a - c.start:b - c.start] = store[r0 + s0:r0 + s1, a:b]
            for e0, e1 in ((c.start, a), (b, c.stop)):  # beside them
                if e0 < e1:
                    out[s0:s1, e0 - c.start:e1 - c.start] = fn(painting, (r0 + s0, r0 + s1),
                                                                slice(e0, e1))
        return out

    def speed2(self, rows: tuple[int, int] | None = None,
               columns: slice = slice(None)) -> np.ndarray:
        """The squared motion in pixels per frame relative to the networks' grid, H×W (with
        ``rows`` (r0, r1), only those rows, and of them ``columns``): what the strokes of a
        surface change by (0 for a surface that moved with the grid)."""
        flow = (self.flow if rows is None else self.flow[rows[0]:rows[1]])[:, columns]
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


def not_from_the_border(motion: Motion, moving: np.ndarray) -> None:
    """What moves away from the picture's edge and was within BORDER_PX of it in the previous
    frame (or outside) is not carried (its ``validity`` 0; what goes out is): the networks paint
    the picture's edge as an outline, and an object coming in showed a new strip each frame,
    carried: stripes across a ball for the whole shot (a trial, WCT, 160×90). Nor is an object
    coming in (ENTERING of it so): its painting while cut by the edge was carried beside what was
    painted after, a seam across it for the shot (a 720p sphere coming in: a third deep yellow)."""
    h, w = moving.shape
    where = np.flatnonzero(moving)
    source = motion.sample.index[where]
    row, col = source // w, source % w
    flow = motion.flow.reshape(-1, motion.flow.shape[-1])[where]   # from here to where it was
    dy = flow[:, 1] if flow.shape[1] > 1 else np.zeros(len(where), np.float32)
    near = ((col < BORDER_PX) & (flow[:, 0] < 0)) | ((col >= w - BORDER_PX) & (flow[:, 0] > 0))
    near |= ((row < BORDER_PX) & (dy < 0)) | ((row >= h - BORDER_PX) & (dy > 0))
    near |= ~motion.sample.inside.reshape(-1)[where]    # (coming in; going out is carried)
    if near.any():
        validity, seeds = np.array(motion.validity, np.float32), np.zeros((h, w), bool)
        seeds.reshape(-1)[where[near]] = True
        validity[seeds | parts_with(moving, seeds, ENTERING)] = 0.0
        motion.validity = validity
