"""Tiles over an image, so any size runs within a memory budget and tileable textures stay tileable.

An axis of length n is cut into cores that partition it (multiples of ALIGN, so every tile sees
the same pooling grid as the whole image). Each tile reads its core plus a halo on both sides
(mirrored at the image border, or wrapped around in seamless mode) and writes its core plus a
blend margin, weighted by a sin² ramp; the weights of every axis are normalised to sum 1, so the
2-D weights (their outer product) are a partition of unity. Statistics are never taken per tile:
the pipeline sums Moments over the cores and transforms every tile with the same maps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ALIGN = 16          # the level-5 encoder pools four times
MIN_READ = 32       # level-5 features must be at least 2×2 for reflection padding
HALO = 96          # context read around each core (multiple of ALIGN); measured: 64 px gave
                   # 37 dB tiled vs untiled over five WCT levels, 96 px 55 dB, 128 px 69 dB
BLEND = 32          # half-width of the cross-fade between neighbouring tiles
MIN_CORE = 64


def source_index(idx: np.ndarray, n: int, wrap: bool) -> np.ndarray:
    """Map positions outside [0, n) into it: wrap-around, or mirrored like numpy's 'symmetric'."""
    if wrap:
        return idx % n
    j = idx % (2 * n)
    return np.where(j >= n, 2 * n - 1 - j, j)


@dataclass(frozen=True)
class Span:
    """One tile along one axis."""

    start: int              # core [start, stop) in image coordinates
    stop: int
    read: np.ndarray        # image indices the tile reads (core padded to ALIGN, plus halo)
    halo: int               # position of ``start`` inside ``read``
    out: np.ndarray         # image indices the tile writes (core plus blend margins)
    out_offset: int         # position of ``out[0]`` inside ``read``
    weight: np.ndarray      # float32 blend weight of each ``out`` index (all spans sum to 1)

    def core(self, factor: int) -> slice:
        """The core's rows (or columns) in a feature map downsampled by ``factor``."""
        return slice(self.halo // factor, self.halo // factor + -(-(self.stop - self.start) // factor))


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= n."""
    return -(-n // multiple) * multiple


def _ramp(length: int) -> np.ndarray:
    t = (np.arange(length) + 0.5) / length
    return np.sin(t * np.pi / 2) ** 2


def spans(n: int, core: int, wrap: bool = False, halo: int | None = None,
          blend: int | None = None) -> list[Span]:
    """Tiles along an axis of length n whose cores are at most ``core`` long.

    Without wrap, no tile reads past the image border (only the padding the whole image would
    get): near the border the networks see the same border as on the whole image.
    """
    halo = HALO if halo is None else halo
    blend = BLEND if blend is None else blend
    core = max(ALIGN, core // ALIGN * ALIGN)
    count = math.ceil(n / core)
    core = round_up(math.ceil(n / count), ALIGN)          # even cores, multiples of ALIGN
    count = math.ceil(n / core)
    margin = 0 if count == 1 else min(blend, halo, (n - (count - 1) * core) // 2, core // 2)
    raw, total = [], np.zeros(n, np.float64)
    for i in range(count):
        start, stop = i * core, min(n, (i + 1) * core)
        if wrap:
            first, last = start - halo, start + round_up(stop - start, ALIGN) + halo
        else:       # never past the border, but up to the whole image's padding at the end
            padded = round_up(n, ALIGN)
            first, last = max(0, start - halo), min(padded, stop + halo)
            last = max(padded if i == count - 1 else last, first + MIN_READ)
        before = start - first
        read = source_index(np.arange(first, last), n, wrap)
        lo = margin if (wrap or i > 0) else 0
        hi = margin if (wrap or i < count - 1) else 0
        out_pos = np.arange(start - lo, stop + hi)
        weight = np.ones(len(out_pos))
        if lo:
            weight[: 2 * lo] *= _ramp(2 * lo)
        if hi:
            weight[-2 * hi:] *= _ramp(2 * hi)[::-1]
        out = source_index(out_pos, n, wrap)
        np.add.at(total, out, weight)
        raw.append((start, stop, read, before, out, before - lo, weight))
    return [Span(start, stop, read, before, out, offset, (weight / total[out]).astype(np.float32))
            for start, stop, read, before, out, offset, weight in raw]


def _is_range(idx: np.ndarray) -> bool:
    return len(idx) > 0 and idx[-1] - idx[0] == len(idx) - 1 and bool(np.all(np.diff(idx) == 1))


def _index(rows: np.ndarray, cols: np.ndarray):
    """Slices where the indices are a plain range (fast views), fancy indices otherwise."""
    if _is_range(rows) and _is_range(cols):
        return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)
    return np.ix_(rows, cols)


def gather(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """image[rows][:, cols] as a new array."""
    return np.array(image[_index(rows, cols)])


def accumulate(dest: np.ndarray, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
    """dest[rows, cols] += values (indices unique within a tile; in place where they are ranges)."""
    dest[_index(rows, cols)] += values


@dataclass(frozen=True)
class Tile:
    rows: Span
    cols: Span

    @property
    def read_shape(self) -> tuple[int, int]:
        return len(self.rows.read), len(self.cols.read)

    def read(self, image: np.ndarray) -> np.ndarray:
        return gather(image, self.rows.read, self.cols.read)

    def core(self, factor: int) -> tuple[slice, slice]:
        return self.rows.core(factor), self.cols.core(factor)

    def out_window(self) -> tuple[slice, slice]:
        """Where the written pixels sit inside the tile's read region."""
        r, c = self.rows, self.cols
        return (slice(r.out_offset, r.out_offset + len(r.out)),
                slice(c.out_offset, c.out_offset + len(c.out)))

    def write(self, dest: np.ndarray, pixels: np.ndarray) -> None:
        """Add the blend-weighted written part of ``pixels`` (read-sized, H×W×C) to ``dest``."""
        ys, xs = self.out_window()
        values = pixels[ys, xs]
        if self.rows.weight.min() < 1 or self.cols.weight.min() < 1:   # one tile: all ones
            values = values * (self.rows.weight[:, None] * self.cols.weight[None, :])[..., None]
        accumulate(dest, self.rows.out, self.cols.out, values)


def mirror_pad_before(a: np.ndarray, x: int, y: int) -> np.ndarray:
    """``a`` with y rows above and x columns on the left, mirrored."""
    a = np.asarray(a)
    if not (x or y):
        return a
    return np.pad(a, [(y, 0), (x, 0)] + [(0, 0)] * (a.ndim - 2), mode="symmetric")


def mirror_pad(image: np.ndarray, multiple: int = ALIGN, minimum: int = MIN_READ) -> np.ndarray:
    """Mirror-pad H×W(×C) below and right so both sides are multiples of ``multiple`` and at
    least ``minimum`` (a small style image, for the networks)."""
    h, w = image.shape[:2]
    ph = max(round_up(h, multiple), minimum) - h
    pw = max(round_up(w, multiple), minimum) - w
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="symmetric") if ph or pw else image


def grid(height: int, width: int, core: int, wrap: bool = False,
         halo: int | None = None) -> list[Tile]:
    """Tiles covering height×width with cores of at most core×core pixels."""
    return [Tile(r, c) for r in spans(height, core, wrap, halo) for c in spans(width, core, wrap, halo)]


# Memory planning: how many bytes a call may use and what a pixel of a tile costs
# (measurements: docs/memory.md).
MEMORY_BUDGET = 2 << 30         # bytes of RAM (CPU) or GPU memory (CUDA) a call may use
TILE_BYTES_PER_PIXEL = 800      # per pixel a tile reads, on the CPU: the largest model's peak
                                # plus feature copies
BASE_BYTES = 300 << 20          # interpreter, onnxruntime and loaded models
MIN_TILE_BYTES = 64 << 20       # a budget below BASE_BYTES + this runs in the smallest tiles
FEATURE_CACHE_BYTES = 256 << 20 # tile features kept between the statistics and stylize passes


def plan(shape: tuple[int, int], channels_out: int, source_bytes: int, budget: int,
         tile_size: int | None, seamless: bool,
         per_pixel: int = TILE_BYTES_PER_PIXEL) -> tuple[list[Tile], type, int]:
    """Tiles (one when the whole image fits the budget at ``per_pixel`` bytes), the dtype of
    intermediate images and how many bytes of tile features may be kept between the two passes
    of a stage. On CUDA ``per_pixel`` is the method's ``gpu_bytes_per_pixel``."""
    h, w = shape
    whole = h * w * (per_pixel + 4 * channels_out) + source_bytes + BASE_BYTES
    if tile_size is None and whole <= budget:
        core = round_up(max(h, w), ALIGN)       # one tile, also for sides off the grid
        return grid(h, w, core, seamless), np.float32, FEATURE_CACHE_BYTES
    # Tiled: while tiles run, the previous stage's float16 image and the float16 result are
    # alive; at the end the result becomes float32 (6 + 12 B/px with the previous one freed).
    free = max(budget - BASE_BYTES - source_bytes - h * w * (2 * 3 + 4 * channels_out), 0)
    cache = min(FEATURE_CACHE_BYTES, free // 4)
    if tile_size is None:
        read = math.isqrt((free - cache) // per_pixel)
        tile_size = max(MIN_CORE, read - 2 * HALO)
    tiles = grid(h, w, tile_size, seamless)
    return tiles, (np.float32 if len(tiles) == 1 else np.float16), cache
