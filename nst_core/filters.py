"""Image filters of the animation steps: a pixel's 3×3 neighbourhood range, bilinear
upsampling from cells, local contrast matching, and filling unknown pixels from beside them."""

from __future__ import annotations

import numpy as np

from .features import block_means

CONTRAST_CELL = 8       # px: the blend's local contrast is matched to the frame's over squares this size
MAX_CONTRAST_GAIN = 2.0     # the most a stroke's contrast is raised by
CONTRAST_FLOOR = 1e-6   # added to both local variances: flat regions keep their contrast


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


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """H×W bool ``mask`` grown by ``radius`` px in every direction (a square), by doubling
    steps along rows, then columns."""
    out = np.array(mask, bool)
    for axis in (0, 1):
        n, done = out.shape[axis], 0
        while done < radius:
            k = min(done + 1, radius - done, n - 1)     # the grown band doubles each step
            if k <= 0:
                break
            head = [slice(None)] * 2
            tail = [slice(None)] * 2
            head[axis], tail[axis] = slice(k, None), slice(None, n - k)
            before = out.copy()
            out[tuple(head)] |= before[tuple(tail)]
            out[tuple(tail)] |= before[tuple(head)]
            done += k
    return out


def bounds(mask: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """The rows and columns around ``mask``'s pixels with ``margin`` px more (within the
    frame), or None: none."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return None
    h, w = mask.shape
    return (slice(max(rows[0] - margin, 0), min(rows[-1] + 1 + margin, h)),
            slice(max(cols[0] - margin, 0), min(cols[-1] + 1 + margin, w)))


def parts_with(mask: np.ndarray, seeds: np.ndarray, share: float, most: int = 20000) -> np.ndarray:
    """The 8-connected parts of ``mask`` (H×W bool) of which at least ``share`` of the pixels are
    ``seeds`` (H×W bool), as H×W bool: the runs of each row joined where they touch a run of
    the row above (union-find over runs, ~1 µs each); none if it has over ``most`` runs (not
    objects: foliage, noise)."""
    h, w = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).view(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    ends = np.nonzero(edges == -1)[1]           # (exclusive; both in the rows' order)
    if len(starts) > most:
        return np.zeros_like(mask)
    parent = list(range(len(starts)))

    def root(i):
        while parent[i] != i:
            parent[i] = i = parent[parent[i]]
        return i
    first = np.searchsorted(rows, np.arange(h + 1)).tolist()
    s, e = starts.tolist(), ends.tolist()
    for r in range(1, h):
        i, b, j, d = first[r - 1], first[r], first[r], first[r + 1]
        while i < b and j < d:                  # runs above and here, left to right
            if s[i] <= e[j] and s[j] <= e[i]:   # touching, diagonally too
                a, c = root(i), root(j)
                parent[max(a, c)] = min(a, c)
            if e[i] < e[j]:
                i += 1
            else:
                j += 1
    part = np.array([root(i) for i in range(len(s))], np.int64)
    at = rows * w
    counted = np.concatenate(([0], np.cumsum(seeds.reshape(-1), dtype=np.int64)))
    size = np.bincount(part, ends - starts, len(s))
    seeded = np.bincount(part, counted[at + ends] - counted[at + starts], len(s))
    out = np.zeros(h * w, bool)
    for k in np.flatnonzero(seeded[part] >= share * size[part]):
        out[at[k] + starts[k]:at[k] + ends[k]] = True
    return out.reshape(h, w)


def per_channel(weight: np.ndarray, channels: int = 3) -> np.ndarray:
    """An H×W weight repeated for each of ``channels``, flat: multiplying an H×W×C array's
    flat view by it is several times faster than broadcasting weight[..., None] (and stacking
    is faster than np.repeat)."""
    return np.stack([weight] * channels, -1).reshape(-1)


def box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """The mean of ``image`` (H×W, or H×W×C per channel) over the (2·radius + 1)² square
    around each pixel (edges repeat), float32: sums of shifted rows, then columns."""
    out = np.asarray(image, np.float32)
    if radius <= 0:
        return out.copy()
    for axis in (0, 1):
        n = out.shape[axis]
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="edge")
        take = lambda k: padded[(slice(None),) * axis + (slice(k, k + n),)]  # noqa: E731
        acc = take(0) + take(1)
        for k in range(2, 2 * radius + 1):
            acc += take(k)
        acc *= np.float32(1 / (2 * radius + 1))
        out = acc
    return out


def upsample(cells: np.ndarray, h: int, w: int, cell: int) -> np.ndarray:
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
    out = upsample(gain, h, w, cell)
    out *= image
    out += upsample(mean * (1 - gain), h, w, cell)
    return np.clip(out, 0.0, 1.0, out=out)


def dissolve(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """Two paintings of one frame (H×W×C, C ≥ 3, e.g. a render farm's two chunks where they
    overlap) mixed, ``w`` of ``b``, the strokes' local contrast raised back to the nearer
    one's (``match_contrast``: two paintings whose strokes do not line up average to a washed
    out one). Where the two are the same pixel, it is kept exactly; values outside [0, 1] (an
    OpenEXR's highlights) are kept: the contrast is restored on the colours clipped to it."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.shape != b.shape:
        raise ValueError(f"cannot dissolve a {a.shape} painting into a {b.shape} one")
    out = a + np.float32(w) * (b - a)
    clipped = np.clip(out[..., :3], 0.0, 1.0)
    nearer = np.clip((a if w < 0.5 else b)[..., :3], 0.0, 1.0)
    out[..., :3] += match_contrast(clipped, nearer) - clipped
    same = (a == b).all(-1)
    out[same] = a[same]
    return out


def fill(image: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """``image`` (H×W×3) with its ``unknown`` pixels filled from the known ones beside them,
    row by row, mirrored across the gap's ends (each half from its nearer side), so the
    networks see the set's texture there, not a smooth blob they would paint as one."""
    out = image.copy()
    w = image.shape[1]
    for y in np.flatnonzero(unknown.any(1)):
        row = unknown[y]
        edges = np.flatnonzero(np.diff(np.r_[0, row.astype(np.int8), 0]))
        for a, b in zip(edges[::2], edges[1::2]):           # the gap [a, b)
            if a == 0 and b == w:
                continue                                    # nothing known in this row
            k = np.arange(b - a)
            left = a - 1 - k                                # mirrored from the left end
            right = b + (b - a - 1 - k)                     # and from the right end
            take = np.where(k < (b - a) / 2, left, right)
            take = np.where(take < 0, right, np.where(take >= w, left, take))
            out[y, a:b] = image[y, np.clip(take, 0, w - 1)]
    rows = unknown.all(1)                                   # whole rows unknown: the row above
    if rows.any() and not rows.all():
        known = np.flatnonzero(~rows)
        out[rows] = out[known[np.abs(known[:, None] - np.flatnonzero(rows)).argmin(0)]]
    return out


def coverage(rgb: np.ndarray, backdrop: np.ndarray, inside: np.ndarray
             ) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """How much of each pixel on the edge of ``inside`` (H×W bool: an object's pixels; its
    edge: those beside one outside) the object covers, as the render's antialiasing drew it:
    where the render ``rgb`` lies on the line from the set behind (``backdrop``) to the
    object's own colour beside it (the mean of its pixels within 2 px off the edge). Returns
    the window worked in (rows, columns), the edge in it (bool) and the coverage there
    (float32, 0-1; 1 where object and set are too alike to tell), or None (nothing inside)."""
    window = bounds(inside, 3)          # (its edge with 3 px around: the blur's reach, and 1)
    if window is None:
        return None
    inside, rgb, backdrop = inside[window], rgb[window], backdrop[window]
    edge = inside & grow(~inside, 1)
    core = (inside & ~edge).astype(np.float32)
    n = box_blur(core, 2)
    span = box_blur(rgb * core[..., None], 2) / np.maximum(n, 1e-6)[..., None] - backdrop
    length = np.square(span).sum(-1)
    alpha = np.clip(((rgb - backdrop) * span).sum(-1) / np.maximum(length, 1e-6), 0.0, 1.0)
    alpha[(n <= 0) | (length < np.float32(0.05 ** 2))] = 1.0
    return window, edge, alpha.astype(np.float32)


SHADE_LEAST = 0.04      # the set's brightness (0-1, smoothed) below which a shadow on it is not told
SHADE_MOST = 0.97       # a shading darkens the set to at most this share of its brightness
SHADE_TINT = 1.6        # and each channel by about as much (the largest factor at most this × the least)
SHADE_TEXTURE = 0.08    # and keeps its texture: the render within this of the set × the factors (mean)
SHADE_EDGE = 0.1        # (but where the factors change by over this in 2 px: a shadow's soft edge)


def shading(rgb: np.ndarray, backdrop: np.ndarray, change: np.ndarray, where: np.ndarray,
            radius: int) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """Where the render ``rgb`` differs from the set behind it (``backdrop``; ``change``: H×W×3,
    rgb − backdrop averaged over (2·radius + 1)² px) by a shading of the set, a shadow that
    falls on it, over ``where`` (H×W bool): darker, each channel by about the same factor, and
    the set's texture kept (so not a grey object with a texture of its own on a grey floor).
    Returns the window worked in (rows, columns), the shaded pixels in it (bool) and each one's
    factors (×3: the render is about the backdrop × them), or None (none)."""
    window = bounds(where, radius)
    if window is None:
        return None
    lit = box_blur(backdrop[window], radius)
    shaded = lit + change[window]
    floor = np.float32(SHADE_LEAST / 2)
    factor = shaded / np.maximum(lit, floor)
    least, most, brightness = factor.min(-1), factor.max(-1), lit.mean(-1)
    at = where[window] & (brightness > np.float32(SHADE_LEAST)) & (least > 0) & (most <= 1.05)
    at &= shaded.mean(-1) / np.maximum(brightness, floor) < np.float32(SHADE_MOST)
    at &= most <= np.float32(SHADE_TINT) * least + np.float32(0.05)
    texture = box_blur(np.abs(rgb[window] - backdrop[window] * factor), radius).max(-1)
    f = np.pad(factor.mean(-1), 1, mode="edge")     # (not at a shadow's edge, where the factors
    edge = np.abs(f[2:, 1:-1] - f[:-2, 1:-1]) + np.abs(f[1:-1, 2:] - f[1:-1, :-2])  # change
    at &= (texture <= np.float32(SHADE_TEXTURE)) | (edge > np.float32(SHADE_EDGE))  # within it)
    if not at.any():
        return None
    # each pixel darkened by its own ratio (the average's, ±radius px, made a small shadow a
    # pale smudge: an artist trial), coloured as the average
    own = rgb[window].mean(-1) / np.maximum(backdrop[window].mean(-1), floor)
    factor *= (own / np.maximum(factor.mean(-1), np.float32(1e-3)))[..., None]
    return window, at, np.clip(factor, 0.0, 1.05)
