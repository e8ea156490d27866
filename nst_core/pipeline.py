"""``stylize``: validation, padding, the WCT and AdaIN pipelines, alpha and colour handling."""

from __future__ import annotations

import ctypes
import hashlib
import math
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from . import adain, fused, stylebank, tiling, wct
from .color import preserve_color as _preserve_color
from .errors import CancelledError, StyleError
from .features import Moments, blend, downsample_mask, moments
from .images import alpha_of, check_array, check_image, check_mask, fit_long_side, resize, to_rgb
from .runtime import CUDA, Runtime, get_runtime

METHODS = ("wct", "adain", "stylebank")
PAD_MULTIPLE = 16       # the level-5 encoder pools four times
MIN_SIZE = 32           # level-5 features must be at least 2×2 for reflection padding
STYLE_SIZE = 512        # default long side of style images
ADAIN_DECODER = "adain_decoder4"   # our trained AdaIN decoder, when the models folder has it
_STYLE_CACHE_SIZE = 32
MEMORY_BUDGET = 2 << 30         # bytes of RAM (CPU) or GPU memory (CUDA) a call may use
TILE_BYTES_PER_PIXEL = 800      # per pixel a tile reads: the largest model's peak (~270 B/px
                                # measured) plus feature copies; 2048² tiled peaked at 1.62 GB
BASE_BYTES = 300 << 20          # interpreter, onnxruntime and loaded models
FEATURE_CACHE_BYTES = 256 << 20 # tile features kept between the statistics and stylize passes
FUSED_DEVICES = (CUDA,)         # providers on which one-tile calls keep their data on the device;
                                # on the CPU that path was no faster (AdaIN 1024²) or slower (WCT
                                # 3.1 vs 2.75 s, its float64 moments graph), README "Speed and memory"
# GPU memory per pixel on CUDA, measured on an H100 after one untiled call (onnxruntime-gpu
# 1.31.1): every cached session keeps its arena, so WCT's ten networks add up (3,300-3,770 B/px
# at 4096² and 2048²), AdaIN's two take 700-1,020 B/px.
GPU_BYTES_PER_PIXEL = {"wct": 4000, "adain": 1100, "stylebank": 1100}

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


@dataclass
class StyleResult:
    """The stylized image (H×W×3, or ×4 with the input's alpha) and how it was made."""

    image: np.ndarray
    method: str
    provider: str
    device_reason: str = ""
    seconds: float = 0.0
    models: list[str] = field(default_factory=list)


class _Job:
    """Progress and cancellation for one call."""

    def __init__(self, total: int, progress: ProgressFn | None, cancel: CancelFn | None):
        self.total, self.done = max(total, 1), 0
        self.progress, self.cancel = progress, cancel

    def step(self, message: str) -> None:
        if self.cancel is not None and self.cancel():
            raise CancelledError("stylization cancelled")
        if self.progress is not None:
            self.progress(self.done / self.total, message)
        self.done += 1


def _pad(image: np.ndarray, multiple: int = PAD_MULTIPLE, minimum: int = MIN_SIZE):
    """Mirror-pad H×W(×C) so both sides are multiples of ``multiple`` and >= ``minimum``."""
    h, w = image.shape[:2]
    ph = max(tiling.round_up(h, multiple), minimum) - h
    pw = max(tiling.round_up(w, multiple), minimum) - w
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="symmetric") if ph or pw else image


def to_nchw(image: np.ndarray) -> np.ndarray:
    """H×W×3 float32 -> 1×3×H×W."""
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)


def from_nchw(batch: np.ndarray) -> np.ndarray:
    """1×3×H×W -> H×W×3 float32."""
    return np.ascontiguousarray(batch[0].transpose(1, 2, 0), dtype=np.float32)


class _StyleCache:
    """Style statistics by (image bytes, model, method): the same style gives the same numbers
    on every frame and is encoded once."""

    def __init__(self):
        self._items: OrderedDict = OrderedDict()

    def get(self, key, compute):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = compute()
        self._items[key] = value
        while len(self._items) > _STYLE_CACHE_SIZE:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()


_STYLE_CACHE = _StyleCache()


def _digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).view(np.uint8)).hexdigest() + str(image.shape)


def _normalise_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0 / count] * count
    w = [float(x) for x in weights]
    if len(w) != count:
        raise StyleError(f"got {len(w)} weights for {count} styles; give one weight per style")
    if any(not np.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        raise StyleError(f"weights must be finite, non-negative and not all zero, got {w}")
    return [x / sum(w) for x in w]


def stylize(content: np.ndarray, styles, method: str = "wct", *,
            weights: Sequence[float] | None = None,
            masks: Sequence[np.ndarray | None] | None = None,
            regions: bool = False,
            alpha: float = 1.0, preserve_color: bool = False,
            levels: Sequence[int] = wct.DEFAULT_LEVELS, style_size: int | None = STYLE_SIZE,
            decoder: str | None = None, seamless: bool = False, work_size: int | None = None,
            memory_budget: int = MEMORY_BUDGET, tile_size: int | None = None,
            device: str = "auto", threads: int | None = None,
            models_dir=None, runtime: Runtime | None = None,
            progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> StyleResult:
    """Stylize ``content`` with one or more ``styles``.

    content: float32 H×W×3 or H×W×4 in [0, 1], sRGB (convert Blender's scene-linear pixels with
    ``linear_to_srgb`` first), straight alpha; H×W, ×1, ×2, uint8 and uint16 are accepted too.
    styles: one image or a sequence of images like ``content`` (any sizes); for "stylebank" one
    style name or a sequence of names (see ``stylebank.available``) or Bank objects.
    method: "wct" (levels coarse to fine, default 5..1), "adain" (level 4 + decoder) or
    "stylebank" (level 4, one learned bank per style, no style image).
    weights: one non-negative weight per style, normalised to sum 1 (default: equal); StyleBank
    fuses its banks linearly with them.
    masks: one H×W mask in [0, 1] (or None) per style: where each style applies; soft masks mix.
    regions: StyleBank only: split the content into one region per style by k-means of its
    features and give each region its style's bank.
    alpha: 0 keeps the content, 1 is full style. preserve_color: keep the content's chroma.
    style_size: styles are downscaled to this long side (None keeps their size).
    seamless: a tileable content gives a tileable result (context wraps around the borders).
    work_size: the long side, in pixels, the networks run at: a larger content (and its masks,
    and its styles by the same factor) is scaled down to it, stylized, and the result scaled
    back up to the content's size: a fast preview, softer than the full-size result. None: full
    size.
    memory_budget: bytes the call may use; larger images are processed in overlapping tiles
    (statistics stay global, so tiles agree). tile_size forces tiles of at most that many pixels.
    progress(fraction, message) is called as work proceeds; when cancel() returns True the call
    raises CancelledError and returns nothing.
    Returns a StyleResult whose ``image`` has the content's size (×4 with its alpha unchanged).
    """
    start = time.perf_counter()
    if method not in METHODS:
        raise StyleError(f"unknown method '{method}'; expected one of {', '.join(METHODS)}")
    if not np.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise StyleError(f"alpha must be between 0 and 1, got {alpha}")
    source = check_image(content, "content")
    rt = runtime or get_runtime(models_dir, device, threads)
    if method == "stylebank":       # styles are bank names (or Bank objects)
        banks = stylebank.resolve(styles, rt.store)
        count = len(banks)
    else:
        if isinstance(styles, np.ndarray):
            styles = [styles]
        if isinstance(styles, str) or len(styles) == 0 or any(isinstance(x, str) for x in styles):
            raise StyleError(f"method '{method}' takes style images (arrays); style names are "
                             "for method 'stylebank'" if len(styles) else "no style given; pass "
                             "at least one style image")
        style_rgbs = [check_array(x, f"style {i}")[0] for i, x in enumerate(styles)]
        count = len(style_rgbs)
    w = _normalise_weights(weights, count)
    if masks is None:
        masks = [None] * count
    if len(masks) != count:
        raise StyleError(f"got {len(masks)} masks for {count} styles; pass None for "
                         "a style that applies everywhere")
    mask_arrays = [None if m is None else check_mask(m, source.shape[:2], f"mask {i}")
                   for i, m in enumerate(masks)]
    if regions and (method != "stylebank" or any(m is not None for m in mask_arrays)):
        raise StyleError("regions (k-means of the content's features, one bank per region) work "
                         "with method 'stylebank' and no masks")
    # A style with zero weight or an empty mask has no influence: drop it (in region mode every
    # style owns a region, whatever its weight).
    active = [i for i in range(count)
              if regions or (w[i] > 0 and (mask_arrays[i] is None or mask_arrays[i].max() > 0))]
    if method == "wct":
        levels = tuple(int(x) for x in levels)
        if not levels or any(x not in wct.DEFAULT_LEVELS for x in levels):
            raise StyleError(f"levels must be a non-empty subset of 1..5, got {levels}")
    h, w_px = source.shape[:2]
    if work_size is not None and max(h, w_px) > _check_work_size(work_size):
        return _at_work_size(source, mask_arrays, int(work_size), start, dict(
            styles=banks if method == "stylebank" else style_rgbs, method=method, weights=w,
            regions=regions, alpha=alpha, levels=levels, style_size=style_size, decoder=decoder,
            seamless=seamless, memory_budget=memory_budget, tile_size=tile_size, runtime=rt,
            progress=progress, cancel=cancel), preserve_color)
    weights_active = [w[i] / sum(w[j] for j in active) if not regions else 1.0 for i in active]
    masks_active = [mask_arrays[i] for i in active]
    if method == "stylebank":
        prepared = [banks[i] for i in active]
        dec = decoder or stylebank.DECODER
        stages = [_Stage(stylebank.LEVEL, rt.store.encoder_for(dec, stylebank.LEVEL), dec, stylebank)]
    else:
        prepared = [_pad(fit_long_side(style_rgbs[i], style_size), 1) for i in active]
    if method == "wct":
        stages = [_Stage(x, rt.store.encoder_for(f"decoder{x}", x), f"decoder{x}", wct) for x in levels]
    elif method == "adain":
        dec = decoder or (ADAIN_DECODER if rt.store.has(ADAIN_DECODER) else f"decoder{adain.LEVEL}")
        stages = [_Stage(adain.LEVEL, rt.store.encoder_for(dec, adain.LEVEL), dec, adain)]
    used = [name for st in stages for name in (st.encoder, st.decoder)]
    has_alpha = source.shape[2] in (2, 4)
    extra = sum(m.nbytes for m in masks_active if m is not None)
    per_pixel = GPU_BYTES_PER_PIXEL[method] if rt.device.name == CUDA else TILE_BYTES_PER_PIXEL
    tiles, dtype, cache = _plan((h, w_px), 4 if has_alpha else 3, source.nbytes + extra,
                                int(memory_budget), tile_size, seamless, per_pixel)
    passes = 2 * len(tiles) if prepared else len(tiles)
    style_steps = 0 if method == "stylebank" else len(prepared)
    job = _Job(len(stages) * (style_steps + passes), progress, cancel)

    class _Source:
        @staticmethod
        def read(tile):
            return to_rgb(tile.read(source))

    def finish(tile, pixels):
        pixels = np.clip(pixels, 0.0, 1.0, out=pixels)     # the decoder's fresh array
        return _preserve_color(pixels, _Source.read(tile)) if preserve_color else pixels

    try:
        if (prepared and rt.device.name in FUSED_DEVICES
                and fused.usable(rt, source, masks_active, regions, seamless, len(tiles))):
            rgb = fused.run(rt, job, source, stages, prepared, weights_active, alpha,
                            lambda st, style: st.module.StyleStats.from_moments(
                                _style_moments(rt, st.encoder, style)))
            rgb = _preserve_color(rgb, to_rgb(source)) if preserve_color else rgb
            out = rgb if not has_alpha else np.concatenate([rgb, np.zeros((h, w_px, 1), np.float32)], 2)
        else:
            out = _run(rt, job, _Source, stages, prepared, weights_active, masks_active, alpha, tiles,
                       dtype, cache, finish, (h, w_px, 4 if has_alpha else 3), regions)
    finally:                            # done, failed or cancelled: the arena's memory goes back
        rt.release_memory()
    _finish_call(out, source, cancel, progress)
    return StyleResult(image=out, method=method,
                       provider=rt.device.name, device_reason=rt.device.reason,
                       seconds=time.perf_counter() - start, models=used)


MIN_WORK_SIZE = 64
MIN_PREVIEW_STYLE = 256     # styles are scaled with the content, but not below this long side:
                            # a 256 px style still gives level 5 16×16 features for its statistics


def _check_work_size(work_size) -> int:
    if isinstance(work_size, bool) or not isinstance(work_size, (int, np.integer)) \
            or work_size < MIN_WORK_SIZE:
        raise StyleError(f"work_size must be a whole number of pixels, at least {MIN_WORK_SIZE} "
                         f"(the long side the networks run at), or None for full size; got {work_size!r}")
    return int(work_size)


def _at_work_size(source: np.ndarray, masks: list, work_size: int, start: float, kwargs: dict,
                  preserve_color: bool) -> StyleResult:
    """stylize() at a smaller size, scaled back up: content and masks are scaled so the long
    side is work_size (wrapping around the borders when seamless), stylized with the same
    settings, and the result is scaled to the content's size; colour preservation takes the
    full-size content's chroma and the alpha channel is the content's own, untouched.

    Styles are scaled by the same factor (down to MIN_PREVIEW_STYLE), so the strokes keep their
    size relative to the image and the preview looks like the full-size result, only softer."""
    h, w = source.shape[:2]
    scale = work_size / max(h, w)
    if kwargs["style_size"] is not None:
        size = kwargs["style_size"]
        kwargs = dict(kwargs, style_size=max(min(size, MIN_PREVIEW_STYLE), round(size * scale)))
    sh, sw = max(MIN_SIZE, round(h * scale)), max(MIN_SIZE, round(w * scale))
    wrap = kwargs["seamless"]
    small = resize(source, sh, sw, wrap=wrap, prepare=to_rgb)
    np.clip(small, 0.0, 1.0, out=small)
    small_masks = [None if m is None else np.clip(resize(m, sh, sw, wrap=wrap), 0.0, 1.0) for m in masks]
    cancel, progress = kwargs["cancel"], kwargs["progress"]
    result = stylize(small, masks=small_masks, preserve_color=False, **kwargs)
    out = np.empty((h, w, 4 if source.shape[2] in (2, 4) else 3), np.float32)
    rgb = resize(result.image[..., :3], h, w, wrap=wrap, out=out[..., :3])
    np.clip(rgb, 0.0, 1.0, out=rgb)
    if preserve_color:
        for rows in _strips(h, w):
            out[rows, :, :3] = _preserve_color(out[rows, :, :3], to_rgb(source[rows]))
    _finish_call(out, source, cancel, progress)
    return replace(result, image=out, seconds=time.perf_counter() - start)


def _strips(h: int, w: int):
    """Row slices of about 4 Mpx: full-size work done strip by strip makes no second
    full-size float copy."""
    step = max(1, (1 << 22) // w)
    return (slice(top, top + step) for top in range(0, h, step))


def _finish_call(out: np.ndarray, source: np.ndarray, cancel: CancelFn | None,
                 progress: ProgressFn | None) -> None:
    """End of a call: a cancel now still returns nothing; the content's alpha goes into ``out``
    unchanged (when it has a fourth channel)."""
    if cancel is not None and cancel():
        raise CancelledError("stylization cancelled")
    if out.shape[2] == 4:
        for rows in _strips(*out.shape[:2]):
            out[rows, :, 3] = alpha_of(source[rows])
    if progress is not None:
        progress(1.0, "done")


@dataclass(frozen=True)
class _Stage:
    """One encode → transform → decode pass: a WCT level, or AdaIN."""

    level: int
    encoder: str
    decoder: str
    module: object      # wct or adain: StyleStats.from_moments and transform


def _features(rt: Runtime, name: str, image: np.ndarray) -> np.ndarray:
    """Encoder ``name`` on H×W×3 -> C×h×w float32."""
    return rt.session(name)(to_nchw(image))[0]


def _style_moments(rt: Runtime, name: str, style: np.ndarray) -> Moments:
    key = (_digest(style), rt.store.info(name).sha256, rt.device.providers)
    def compute():
        f = _features(rt, name, style)
        return moments(f.reshape(f.shape[0], -1))
    return _STYLE_CACHE.get(key, compute)


def _plan(shape, channels_out: int, source_bytes: int, budget: int, tile_size: int | None,
          seamless: bool, per_pixel: int = TILE_BYTES_PER_PIXEL) -> tuple[list[tiling.Tile], type, int]:
    """Tiles (one when the whole image fits the budget at ``per_pixel`` bytes), the dtype of
    intermediate images and how many bytes of tile features may be kept between the two passes
    of a stage."""
    h, w = shape
    whole = h * w * (per_pixel + 4 * channels_out) + source_bytes + BASE_BYTES
    if tile_size is None and whole <= budget:
        core = tiling.round_up(max(h, w), tiling.ALIGN)     # one tile, also for sides off the grid
        return tiling.grid(h, w, core, seamless), np.float32, FEATURE_CACHE_BYTES
    # Tiled: while tiles run, the previous stage's float16 image and the float16 result are
    # alive; at the end the result becomes float32 (6 + 12 B/px with the previous one freed).
    free = max(budget - BASE_BYTES - source_bytes - h * w * (2 * 3 + 4 * channels_out), 0)
    cache = min(FEATURE_CACHE_BYTES, free // 4)
    if tile_size is None:
        read = math.isqrt((free - cache) // per_pixel)
        tile_size = max(tiling.MIN_CORE, read - 2 * tiling.HALO)
    tiles = tiling.grid(h, w, tile_size, seamless)
    return tiles, (np.float32 if len(tiles) == 1 else np.float16), cache


def _release(rt: Runtime) -> None:
    """Give freed memory back to the OS before a pass over the tiles: the shared CPU arena's
    (runtime.Runtime.release_memory) and glibc's heap. Tiles allocate and free many
    megabyte-sized arrays; glibc raises its mmap threshold after such frees and then keeps them
    on the heap, so without this the resident size creeps up stage after stage. Measured, WCT
    at 4096² with a 1 GiB budget: peak 1,152 MiB without; 894 MiB trimming before each pass over
    the tiles (same time); 614 MiB trimming before every tile (18 % slower) — so once a pass."""
    rt.release_memory()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:         # musl or another libc: nothing to trim
        return None


_LIBC = _load_libc()


def _run(rt, job, source, stages, styles, weights, masks, alpha, tiles, dtype, cache_bytes,
         finish, out_shape, regions=False):
    """Run the stages tile by tile; the content statistics of every stage are summed over all
    tiles before any tile is transformed, so tiles agree. ``finish`` post-processes the last
    stage's tiles, which are accumulated into the result of ``out_shape`` (in ``dtype``, made
    float32 at the end). Only the previous stage's image and the one being written are alive at
    any time. For StyleBank ``styles`` are banks: the statistics pass gives the content's
    normalisation (and, with ``regions``, a sample of features for k-means), the stylize pass
    applies the banks."""
    image, read = source, None
    for k, stage in enumerate(stages):
        last = k == len(stages) - 1
        dest = np.zeros(out_shape if last else out_shape[:2] + (3,), dtype)
        factor = 2 ** (stage.level - 1)
        banks = stage.module is stylebank
        stats, sample = [], []
        for i, style in enumerate([] if banks else styles):
            job.step(f"level {stage.level}: style {i + 1}")
            stats.append(stage.module.StyleStats.from_moments(_style_moments(rt, stage.encoder, style)))
        read = source.read if k == 0 else \
            (lambda tile, img=image: tile.read(img).astype(np.float32, copy=False))
        cache = {}
        maps = None
        if len(tiles) > 1:
            _release(rt)
        if styles:
            whole, region_moments = None, [None] * len(styles)
            cache_left = cache_bytes
            for t, tile in enumerate(tiles):
                job.step(f"level {stage.level}: statistics, tile {t + 1}/{len(tiles)}")
                f = _features(rt, stage.encoder, read(tile))
                if f.nbytes <= cache_left:
                    cache[t], cache_left = f, cache_left - f.nbytes
                core = f[(slice(None),) + tile.core(factor)]
                flat = core.reshape(core.shape[0], -1)
                part = moments(flat)
                whole = part if whole is None else whole + part
                if regions:     # about 4096 feature vectors over the whole image for k-means
                    step = max(1, int(np.sqrt(flat.shape[1] * len(tiles) / 4096)))
                    sample.append(core[:, ::step, ::step].reshape(core.shape[0], -1).T)
                for i, mask in enumerate(masks if not banks else []):
                    if mask is not None:
                        m = downsample_mask(tile.read(mask), factor)[tile.core(factor)]
                        part = moments(flat, m.reshape(-1))
                        region_moments[i] = part if region_moments[i] is None else region_moments[i] + part
            if banks:
                maps = stylebank.Fusion(rt, styles, whole)
                if regions:
                    maps.centroids = stylebank.kmeans(maps.normalise_rows(np.concatenate(sample)),
                                                      len(styles))
            else:
                maps = [stage.module.transform(whole if r is None or r.weight < 1e-6 else r, st)
                        for r, st in zip(region_moments, stats)]
        if len(tiles) > 1:
            _release(rt)
        for t, tile in enumerate(tiles):
            job.step(f"level {stage.level}: stylize, tile {t + 1}/{len(tiles)}")
            f = cache.pop(t) if t in cache else _features(rt, stage.encoder, read(tile))
            if maps is not None:
                tile_masks = [None if m is None else downsample_mask(tile.read(m), factor).reshape(-1)
                              for m in masks]
                f = maps.apply(f, weights, tile_masks, alpha) if banks else \
                    blend(f.reshape(f.shape[0], -1), maps, weights, tile_masks, alpha).reshape(f.shape)
            pixels = from_nchw(rt.session(stage.decoder)(f[None]))
            if last:
                pixels = finish(tile, pixels)
            tile.write(dest[..., :3] if last else dest, pixels)
        image = dest
    del read, cache                     # the previous stage's image goes before the float32 copy
    return image if image.dtype == np.float32 else image.astype(np.float32)
