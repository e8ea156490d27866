"""``stylize``: validate once into a Request, then run the method's stages over tiles (or in one
go on the device), with alpha, masks, colour and alpha-channel handling.

The methods themselves (WCT, AdaIN, StyleBank) sit behind one protocol in methods.py; memory
planning is tiling.plan; nothing here asks which method runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from . import fused, methods, tiling, wct
from .color import preserve_color as _preserve_color
from .errors import CancelledError, StyleError
from .features import downsample_mask, moments
from .images import alpha_of, check_image, check_mask, fit_long_side, from_nchw, resize, to_rgb
from .runtime import CUDA, Runtime, get_runtime

METHODS = tuple(methods.METHODS)
PAD_MULTIPLE = 16       # the level-5 encoder pools four times
MIN_SIZE = 32           # level-5 features must be at least 2×2 for reflection padding
STYLE_SIZE = 512        # default long side of style images
MEMORY_BUDGET = tiling.MEMORY_BUDGET
FUSED_DEVICES = (CUDA,)         # providers on which one-tile calls keep their data on the device
                                # (on the CPU it was no faster: docs/benchmarks.md)
MIN_WORK_SIZE = 64
MIN_CONTENT = 32        # a smaller content runs scaled up to this short side, then back down:
                        # below ~12 px level 4 has one feature and the result came out flat
                        # black or white (or WCT's eigen-decomposition failed at 2×2)
MIN_PREVIEW_STYLE = 256     # styles are scaled with the content, but not below this long side:
                            # a 256 px style still gives level 5 16×16 features for its statistics

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


@dataclass(frozen=True)
class Request:
    """One checked call of ``stylize``: every field valid, weights normalised over all styles."""

    source: np.ndarray                  # content H×W×C as check_image returns it
    method: object                      # a methods.METHODS entry
    stages: tuple                       # methods.Stage, coarse to fine
    styles: tuple                       # style images (RGB float32) or StyleBank banks
    weights: tuple[float, ...]
    masks: tuple                        # one H×W float mask or None per style
    regions: bool = False
    alpha: float = 1.0
    preserve_color: bool = False
    style_size: int | None = STYLE_SIZE
    seamless: bool = False
    work_size: int | None = None
    memory_budget: int = MEMORY_BUDGET
    tile_size: int | None = None
    statistics: Callable | None = None   # (key, Moments) -> Moments: temporal.Coherence.smooth


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


def stylize(content: np.ndarray, styles, method: str = "wct", *,
            weights: Sequence[float] | None = None,
            masks: Sequence[np.ndarray | None] | None = None,
            regions: bool = False,
            alpha: float = 1.0, preserve_color: bool = False,
            levels: Sequence[int] = wct.DEFAULT_LEVELS, style_size: int | None = STYLE_SIZE,
            decoder: str | None = None, transform: str | None = None, seamless: bool = False,
            work_size: int | None = None, memory_budget: int = MEMORY_BUDGET,
            tile_size: int | None = None, device: str = "auto", threads: int | None = None,
            models_dir=None, runtime: Runtime | None = None, statistics: Callable | None = None,
            progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> StyleResult:
    """Stylize ``content`` with one or more ``styles``.

    content: float32 H×W×3 or H×W×4 in [0, 1], sRGB (convert Blender's scene-linear pixels with
    ``linear_to_srgb`` first), straight alpha; H×W, ×1, ×2, uint8 and uint16 are accepted too.
    styles: one image or a sequence of images like ``content`` (any sizes); for "stylebank" one
    style name or a sequence of names (see ``stylebank.available``) or Bank objects.
    method: "wct" (levels coarse to fine, default 5..1), "adain" (level 4 + our trained
    decoder, twice, the second pass on the first's output; ``transform`` "covariance", the
    default, matches the style's feature mean and covariance, "moments" only per-channel mean
    and std) or "stylebank" (level 4, one learned bank per style, no style image).
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
    statistics(key, moments) -> moments sees every content statistic a transform is computed
    from (key: stage index and "whole" or the style's index) and returns the one to use:
    ``temporal.Coherence.smooth`` averages them over the frames of an animation.
    progress(fraction, message) is called as work proceeds; when cancel() returns True the call
    raises CancelledError and returns nothing.
    Returns a StyleResult whose ``image`` has the content's size (×4 with its alpha unchanged).
    """
    start = time.perf_counter()
    rt = runtime or get_runtime(models_dir, device, threads)
    request = _request(rt, content, styles, method, weights=weights, masks=masks, regions=regions,
                       alpha=alpha, preserve_color=preserve_color, levels=levels,
                       style_size=style_size, decoder=decoder, transform=transform, seamless=seamless,
                       work_size=work_size, memory_budget=memory_budget, tile_size=tile_size)
    request = replace(request, statistics=statistics)
    h, w = request.source.shape[:2]
    if request.work_size is not None and max(h, w) > request.work_size:
        out = _at_work_size(rt, request, progress, cancel)
    elif min(h, w) < MIN_CONTENT:
        scale = MIN_CONTENT / min(h, w)
        out = _at_size(rt, request, max(MIN_CONTENT, round(h * scale)),
                       max(MIN_CONTENT, round(w * scale)), request.style_size, progress, cancel)
    else:
        out = _stylize(rt, request, progress, cancel)
    _finish_call(out, request.source, cancel, progress)
    return StyleResult(image=out, method=request.method.name,
                       provider=rt.device.name, device_reason=rt.device.reason,
                       seconds=time.perf_counter() - start,
                       models=[name for st in request.stages for name in (st.encoder, st.decoder)])


def _request(rt: Runtime, content, styles, method: str, *, weights, masks, regions, alpha,
             preserve_color, levels, style_size, decoder, transform, seamless, work_size,
             memory_budget, tile_size) -> Request:
    """Check every argument once; the errors name what was wrong and what to pass instead."""
    m = methods.get(method, transform)
    if not np.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise StyleError(f"alpha must be between 0 and 1, got {alpha}")
    source = check_image(content, "content")
    resolved = m.resolve_styles(styles, rt)
    count = len(resolved)
    if masks is None:
        masks = [None] * count
    if len(masks) != count:
        raise StyleError(f"got {len(masks)} masks for {count} styles; pass None for "
                         "a style that applies everywhere")
    mask_arrays = tuple(None if x is None else check_mask(x, source.shape[:2], f"mask {i}")
                        for i, x in enumerate(masks))
    if regions and (not m.supports_regions or any(x is not None for x in mask_arrays)):
        raise StyleError("regions (k-means of the content's features, one bank per region) work "
                         "with method 'stylebank' and no masks")
    if work_size is not None:
        work_size = _check_work_size(work_size)
    return Request(source=source, method=m, stages=tuple(m.stages(rt, decoder, levels, alpha)),
                   styles=tuple(resolved), weights=tuple(_normalise_weights(weights, count)),
                   masks=mask_arrays, regions=bool(regions), alpha=float(alpha),
                   preserve_color=bool(preserve_color), style_size=style_size,
                   seamless=bool(seamless), work_size=work_size,
                   memory_budget=int(memory_budget), tile_size=tile_size)


def _normalise_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0 / count] * count
    w = [float(x) for x in weights]
    if len(w) != count:
        raise StyleError(f"got {len(w)} weights for {count} styles; give one weight per style")
    if any(not np.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        raise StyleError(f"weights must be finite, non-negative and not all zero, got {w}")
    return [x / sum(w) for x in w]


def _check_work_size(work_size) -> int:
    if isinstance(work_size, bool) or not isinstance(work_size, (int, np.integer)) \
            or work_size < MIN_WORK_SIZE:
        raise StyleError(f"work_size must be a whole number of pixels, at least {MIN_WORK_SIZE} "
                         f"(the long side the networks run at), or None for full size; got {work_size!r}")
    return int(work_size)


def _pad(image: np.ndarray, multiple: int = PAD_MULTIPLE, minimum: int = MIN_SIZE):
    """Mirror-pad H×W(×C) so both sides are multiples of ``multiple`` and >= ``minimum``."""
    h, w = image.shape[:2]
    ph = max(tiling.round_up(h, multiple), minimum) - h
    pw = max(tiling.round_up(w, multiple), minimum) - w
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="symmetric") if ph or pw else image


def _stylize(rt: Runtime, request: Request, progress: ProgressFn | None,
             cancel: CancelFn | None) -> np.ndarray:
    """The request at full size: H×W×3 float32 (×4 with room for the content's alpha)."""
    source, method = request.source, request.method
    # A style with zero weight or an empty mask has no influence: drop it (in region mode every
    # style owns a region, whatever its weight).
    active = [i for i, (w, m) in enumerate(zip(request.weights, request.masks))
              if request.regions or (w > 0 and (m is None or m.max() > 0))]
    total = sum(request.weights[i] for i in active)
    weights = [1.0 if request.regions else request.weights[i] / total for i in active]
    masks = [request.masks[i] for i in active]
    styles = [request.styles[i] if not method.encodes_styles
              else _pad(fit_long_side(request.styles[i], request.style_size), 1) for i in active]
    h, w = source.shape[:2]
    has_alpha = source.shape[2] in (2, 4)
    per_pixel = (tiling.GPU_BYTES_PER_PIXEL[method.name] if rt.device.name == CUDA
                 else tiling.TILE_BYTES_PER_PIXEL)
    tiles, dtype, cache = tiling.plan((h, w), 4 if has_alpha else 3,
                                      source.nbytes + sum(m.nbytes for m in masks if m is not None),
                                      request.memory_budget, request.tile_size, request.seamless,
                                      per_pixel)
    passes = 2 * len(tiles) if styles else len(tiles)
    style_steps = len(styles) if method.encodes_styles else 0
    job = _Job(len(request.stages) * (style_steps + passes), progress, cancel)
    try:
        if (styles and rt.device.name in FUSED_DEVICES and fused.usable(
                rt, source, masks, request.regions, request.seamless, len(tiles))):
            rgb = fused.run(rt, job, source, method, request.stages, styles, weights, request.alpha,
                            request.statistics)
            rgb = _preserve_color(rgb, to_rgb(source)) if request.preserve_color else rgb
            return rgb if not has_alpha else np.concatenate([rgb, np.zeros((h, w, 1), np.float32)], 2)

        def finish(tile, pixels):
            pixels = np.clip(pixels, 0.0, 1.0, out=pixels)     # the decoder's fresh array
            return _preserve_color(pixels, to_rgb(tile.read(source))) if request.preserve_color else pixels

        return _run(rt, job, request, styles, weights, masks, tiles, dtype, cache, finish,
                    (h, w, 4 if has_alpha else 3))
    finally:                            # done, failed or cancelled: the arena's memory goes back
        rt.release_memory()


def _at_work_size(rt: Runtime, request: Request, progress, cancel) -> np.ndarray:
    """The request at a smaller size, scaled back up: the long side becomes work_size.

    Styles are scaled by the same factor (down to MIN_PREVIEW_STYLE), so the strokes keep their
    size relative to the image and the preview looks like the full-size result, only softer."""
    h, w = request.source.shape[:2]
    scale = request.work_size / max(h, w)
    style_size = request.style_size
    if style_size is not None:
        style_size = max(min(style_size, MIN_PREVIEW_STYLE), round(style_size * scale))
    return _at_size(rt, request, max(MIN_SIZE, round(h * scale)), max(MIN_SIZE, round(w * scale)),
                    style_size, progress, cancel)


def _at_size(rt: Runtime, request: Request, sh: int, sw: int, style_size: int | None,
             progress, cancel) -> np.ndarray:
    """The request run at sh×sw and scaled back to the content's size: content and masks are
    resized (wrapping around the borders when seamless), stylized with the same settings and
    ``style_size``, and the result resized back; colour preservation takes the full-size
    content's chroma and the alpha channel is the content's own, untouched."""
    source = request.source
    h, w = source.shape[:2]
    wrap = request.seamless
    small = resize(source, sh, sw, wrap=wrap, prepare=to_rgb)
    np.clip(small, 0.0, 1.0, out=small)
    small_masks = tuple(None if m is None else np.clip(resize(m, sh, sw, wrap=wrap), 0.0, 1.0)
                        for m in request.masks)
    inner = replace(request, source=small, masks=small_masks, preserve_color=False,
                    style_size=style_size, work_size=None)
    result = _stylize(rt, inner, progress, cancel)
    out = np.empty((h, w, 4 if source.shape[2] in (2, 4) else 3), np.float32)
    rgb = resize(result[..., :3], h, w, wrap=wrap, out=out[..., :3])
    np.clip(rgb, 0.0, 1.0, out=rgb)
    if request.preserve_color:
        for rows in _strips(h, w):
            out[rows, :, :3] = _preserve_color(out[rows, :, :3], to_rgb(source[rows]))
    return out


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


def _run(rt, job, request: Request, styles, weights, masks, tiles, dtype, cache_bytes,
         finish, out_shape):
    """Run the stages tile by tile; the content statistics of every stage are summed over all
    tiles before any tile is transformed, so tiles agree. ``finish`` post-processes the last
    stage's tiles, which are accumulated into the result of ``out_shape`` (in ``dtype``, made
    float32 at the end). Only the previous stage's image and the one being written are alive at
    any time. The statistics pass gives the method its content statistics (per mask for the
    affine methods; with ``request.regions`` a sample of features for k-means), the stylize pass
    applies the method's mapping."""
    method, stages, source = request.method, request.stages, request.source
    image, read = None, None
    for k, stage in enumerate(stages):
        last = k == len(stages) - 1
        dest = np.zeros(out_shape if last else out_shape[:2] + (3,), dtype)
        factor = 2 ** (stage.level - 1)
        stats = []
        for i, style in enumerate(styles if method.encodes_styles else []):
            job.step(f"level {stage.level}: style {i + 1}")
            stats.append(method.style_stats(rt, stage, style))
        read = (lambda tile: to_rgb(tile.read(source))) if k == 0 else \
            (lambda tile, img=image: tile.read(img).astype(np.float32, copy=False))
        cache = {}
        mapping = None
        if len(tiles) > 1:
            rt.release_memory(trim_heap=True)
        if styles:
            whole, region_moments, sample = None, [None] * len(styles), []
            cache_left = cache_bytes
            for t, tile in enumerate(tiles):
                job.step(f"level {stage.level}: statistics, tile {t + 1}/{len(tiles)}")
                f = methods.features(rt, stage.encoder, read(tile))
                if f.nbytes <= cache_left:
                    cache[t], cache_left = f, cache_left - f.nbytes
                core = f[(slice(None),) + tile.core(factor)]
                flat = core.reshape(core.shape[0], -1)
                part = moments(flat)
                whole = part if whole is None else whole + part
                if request.regions:     # about 4096 feature vectors over the whole image for k-means
                    step = max(1, int(np.sqrt(flat.shape[1] * len(tiles) / 4096)))
                    sample.append(core[:, ::step, ::step].reshape(core.shape[0], -1).T)
                for i, mask in enumerate(masks if method.mask_statistics else []):
                    if mask is not None:
                        m = downsample_mask(tile.read(mask), factor)[tile.core(factor)]
                        part = moments(flat, m.reshape(-1))
                        region_moments[i] = part if region_moments[i] is None else region_moments[i] + part
            if request.statistics is not None:
                whole = request.statistics((k, "whole"), whole)
                region_moments = [None if r is None else request.statistics((k, i), r)
                                  for i, r in enumerate(region_moments)]
            mapping = method.mapping(rt, styles, stats, whole, region_moments,
                                     np.concatenate(sample) if sample else None)
        if len(tiles) > 1:
            rt.release_memory(trim_heap=True)
        for t, tile in enumerate(tiles):
            job.step(f"level {stage.level}: stylize, tile {t + 1}/{len(tiles)}")
            f = cache.pop(t) if t in cache else methods.features(rt, stage.encoder, read(tile))
            if mapping is not None:
                tile_masks = [None if m is None else downsample_mask(tile.read(m), factor).reshape(-1)
                              for m in masks]
                f = mapping.apply(f, weights, tile_masks, request.alpha)
            pixels = from_nchw(rt.session(stage.decoder)(f[None]))
            if last:
                pixels = finish(tile, pixels)
            tile.write(dest[..., :3] if last else dest, pixels)
        image = dest
    del read, cache                     # the previous stage's image goes before the float32 copy
    return image if image.dtype == np.float32 else image.astype(np.float32)
