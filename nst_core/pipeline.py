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
from .images import alpha_of, check_image, check_mask, from_nchw, resize, to_rgb
from .runtime import CUDA, Runtime, get_runtime
from .settings import STYLE_SIZE, Settings

METHODS = methods.METHODS       # name -> method object; iterating gives the names
MEMORY_BUDGET = tiling.MEMORY_BUDGET
FUSED_DEVICES = (CUDA,)         # providers on which one-tile calls keep their data on the device
                                # (on the CPU it was no faster: docs/benchmarks.md)
MIN_CONTENT = 32        # a smaller content runs scaled up to this short side, then back down:
                        # below ~12 px level 4 has one feature and the result came out flat
                        # black or white (or WCT's eigen-decomposition failed at 2×2)
CONTENT_BLEND = 1.0     # below this strength the result is also mixed with the content in image
                        # space, by strength / CONTENT_BLEND: strength 0 is the content itself
                        # (the decoders alone repaint it by ~26/255), and the style gain rises
                        # about linearly with the slider (docs/quality.md)
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
    """One checked call: the settings, and what they say about this content, each valid:
    styles resolved, weights normalised over all styles, masks of the content's size."""

    source: np.ndarray                  # content H×W×C as check_image returns it
    settings: Settings
    method: object                      # a methods.METHODS entry
    stages: tuple                       # methods.Stage, coarse to fine
    styles: tuple                       # style images (RGB float32) or StyleBank banks
    weights: tuple[float, ...]
    masks: tuple                        # one H×W float mask or None per style
    statistics: Callable | None = None   # (key, Moments) -> Moments: temporal.Coherence.record


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
    """Stylize ``content`` with one or more ``styles``: the keyword form of ``stylize_with``,
    which builds one ``Settings`` from the keywords (``alpha`` is its ``strength``).

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
    runtime, statistics, progress, cancel: as in ``stylize_with``.
    Returns a StyleResult whose ``image`` has the content's size (×4 with its alpha unchanged).
    """
    settings = Settings(method=method, styles=styles, weights=weights, masks=masks, regions=regions,
                        strength=alpha, preserve_color=preserve_color, levels=levels,
                        style_size=style_size, decoder=decoder, transform=transform,
                        seamless=seamless, work_size=work_size, memory_budget=memory_budget,
                        tile_size=tile_size, device=device, threads=threads, models_dir=models_dir)
    return stylize_with(content, settings, runtime=runtime, statistics=statistics,
                        progress=progress, cancel=cancel)


def stylize_with(content: np.ndarray, settings: Settings, *, runtime: Runtime | None = None,
                 statistics: Callable | None = None, progress: ProgressFn | None = None,
                 cancel: CancelFn | None = None) -> StyleResult:
    """Stylize ``content`` (as in ``stylize``) as ``settings`` say.

    runtime: the onnxruntime sessions to use (default: the cached one for the settings' device,
    threads and models folder).
    statistics(key, moments) -> moments sees every content statistic a transform is computed
    from (key: stage index and "whole" or the style's index) and returns the one to use:
    ``temporal.Coherence.record`` keeps an animation frame's for a window painted later.
    progress(fraction, message) is called as work proceeds; when cancel() returns True the call
    raises CancelledError and returns nothing.
    """
    start = time.perf_counter()
    rt = runtime or get_runtime(settings.models_dir, settings.device, settings.threads)
    request = _request(rt, content, settings, statistics)
    h, w = request.source.shape[:2]
    if settings.strength == 0:                  # nothing of the style: the content, untouched
        out = np.zeros((h, w, 4 if request.source.shape[2] in (2, 4) else 3), np.float32)
    elif not runs_scaled(settings, (h, w)):
        out = _stylize(rt, request, progress, cancel)
    elif settings.work_size is not None and max(h, w) > settings.work_size:
        out = _at_work_size(rt, request, progress, cancel)
    else:                               # smaller than the networks' minimum: scaled up
        scale = MIN_CONTENT / min(h, w)
        out = _at_size(rt, request, max(MIN_CONTENT, round(h * scale)),
                       max(MIN_CONTENT, round(w * scale)), settings.style_size, progress, cancel)
    if settings.strength < CONTENT_BLEND:
        _towards_content(out, request.source, settings.strength / CONTENT_BLEND)
    _finish_call(out, request.source, cancel, progress)
    return StyleResult(image=out, method=request.method.name,
                       provider=rt.device.name, device_reason=rt.device.reason,
                       seconds=time.perf_counter() - start,
                       models=[name for st in request.stages for name in (st.encoder, st.decoder)])


def runs_scaled(settings: Settings, shape: tuple[int, int]) -> bool:
    """Whether a content of ``shape`` (H, W) runs at another size than its own: scaled down to
    ``work_size``, or up to MIN_CONTENT. Then the networks' grid is not the content's."""
    h, w = shape
    return (settings.work_size is not None and max(h, w) > settings.work_size) \
        or min(h, w) < MIN_CONTENT


def _request(rt: Runtime, content, settings: Settings, statistics) -> Request:
    """Check what the settings say about this content once; the errors name what was wrong and
    what to pass instead."""
    m = settings.method_object()
    source = check_image(content, "content")
    resolved = m.resolve_styles(settings.styles, rt)
    count = len(resolved)
    masks = settings.masks
    if masks is None:
        masks = [None] * count
    if len(masks) != count:
        raise StyleError(f"got {len(masks)} masks for {count} styles; pass None for "
                         "a style that applies everywhere")
    mask_arrays = tuple(None if x is None else check_mask(x, source.shape[:2], f"mask {i}")
                        for i, x in enumerate(masks))
    if settings.regions and (not m.supports_regions or any(x is not None for x in mask_arrays)):
        raise StyleError("regions (k-means of the content's features, one bank per region) work "
                         "with method 'stylebank' and no masks")
    return Request(source=source, settings=settings, method=m,
                   stages=tuple(m.stages(rt, settings.decoder, settings.levels, settings.strength)),
                   styles=tuple(resolved), weights=tuple(_normalise_weights(settings.weights, count)),
                   masks=mask_arrays, statistics=statistics)


def _normalise_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0 / count] * count
    w = [float(x) for x in weights]
    if len(w) != count:
        raise StyleError(f"got {len(w)} weights for {count} styles; give one weight per style")
    if any(not np.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        raise StyleError(f"weights must be finite, non-negative and not all zero, got {w}")
    return [x / sum(w) for x in w]


def _stylize(rt: Runtime, request: Request, progress: ProgressFn | None,
             cancel: CancelFn | None) -> np.ndarray:
    """The request at full size: H×W×3 float32 (×4 with room for the content's alpha)."""
    source, method, settings = request.source, request.method, request.settings
    # A style with zero weight or an empty mask has no influence: drop it (in region mode every
    # style owns a region, whatever its weight).
    active = [i for i, (w, m) in enumerate(zip(request.weights, request.masks))
              if settings.regions or (w > 0 and (m is None or m.max() > 0))]
    total = sum(request.weights[i] for i in active)
    weights = [1.0 if settings.regions else request.weights[i] / total for i in active]
    masks = [request.masks[i] for i in active]
    styles = [methods.fitted(request.styles[i], settings.style_size) if method.encodes_styles
              else request.styles[i] for i in active]
    h, w = source.shape[:2]
    has_alpha = source.shape[2] in (2, 4)
    tiles, dtype, cache = plan(request, rt.device.name, masks)
    passes = 2 * len(tiles) if styles else len(tiles)
    style_steps = len(styles) if method.encodes_styles else 0
    job = _Job(len(request.stages) * (style_steps + passes), progress, cancel)
    try:
        if (styles and rt.device.name in FUSED_DEVICES and fused.usable(
                rt, source, masks, settings.regions, settings.seamless, len(tiles))):
            rgb = fused.run(rt, job, source, method, request.stages, styles, weights,
                            settings.strength, request.statistics)
            rgb = _preserve_color(rgb, to_rgb(source)) if settings.preserve_color else rgb
            return rgb if not has_alpha else np.concatenate([rgb, np.zeros((h, w, 1), np.float32)], 2)

        def finish(tile, pixels):
            pixels = np.clip(pixels, 0.0, 1.0, out=pixels)     # the decoder's fresh array
            if not settings.preserve_color:
                return pixels
            return _preserve_color(pixels, to_rgb(tile.read(source)))

        return _run(rt, job, request, styles, weights, masks, tiles, dtype, cache, finish,
                    (h, w, 4 if has_alpha else 3))
    finally:                            # done, failed or cancelled: the arena's memory goes back
        rt.release_memory()


def plan(request: Request, device: str, masks=None) -> tuple[list, type, int]:
    """``tiling.plan`` for ``request`` on ``device`` (a provider name), with the method's own
    bytes per pixel on CUDA: the tiles, the dtype of intermediate images, the feature cache."""
    source, settings = request.source, request.settings
    masks = request.masks if masks is None else masks
    per_pixel = (request.method.gpu_bytes_per_pixel if device == CUDA
                 else tiling.TILE_BYTES_PER_PIXEL)
    return tiling.plan(source.shape[:2], 4 if source.shape[2] in (2, 4) else 3,
                       source.nbytes + sum(m.nbytes for m in masks if m is not None),
                       settings.memory_budget, settings.tile_size, settings.seamless, per_pixel)


def _at_work_size(rt: Runtime, request: Request, progress, cancel) -> np.ndarray:
    """The request at a smaller size, scaled back up: the long side becomes work_size.

    Styles are scaled by the same factor (down to MIN_PREVIEW_STYLE), so the strokes keep their
    size relative to the image and the preview looks like the full-size result, only softer."""
    h, w = request.source.shape[:2]
    scale = request.settings.work_size / max(h, w)
    style_size = request.settings.style_size
    if style_size is not None:
        style_size = max(min(style_size, MIN_PREVIEW_STYLE), round(style_size * scale))
    return _at_size(rt, request, max(tiling.MIN_READ, round(h * scale)), max(tiling.MIN_READ, round(w * scale)),
                    style_size, progress, cancel)


def _at_size(rt: Runtime, request: Request, sh: int, sw: int, style_size: int | None,
             progress, cancel) -> np.ndarray:
    """The request run at sh×sw and scaled back to the content's size: content and masks are
    resized (wrapping around the borders when seamless), stylized with the same settings and
    ``style_size``, and the result resized back; colour preservation takes the full-size
    content's chroma and the alpha channel is the content's own, untouched."""
    source = request.source
    h, w = source.shape[:2]
    wrap = request.settings.seamless
    small = resize(source, sh, sw, wrap=wrap, prepare=to_rgb)
    np.clip(small, 0.0, 1.0, out=small)
    small_masks = tuple(None if m is None else np.clip(resize(m, sh, sw, wrap=wrap), 0.0, 1.0)
                        for m in request.masks)
    inner = replace(request, source=small, masks=small_masks, settings=replace(
        request.settings, preserve_color=False, style_size=style_size, work_size=None))
    result = _stylize(rt, inner, progress, cancel)
    out = np.empty((h, w, 4 if source.shape[2] in (2, 4) else 3), np.float32)
    rgb = resize(result[..., :3], h, w, wrap=wrap, out=out[..., :3])
    np.clip(rgb, 0.0, 1.0, out=rgb)
    if request.settings.preserve_color:
        for rows in _strips(h, w):
            out[rows, :, :3] = _preserve_color(out[rows, :, :3], to_rgb(source[rows]))
    return out


def _strips(h: int, w: int):
    """Row slices of about 4 Mpx: full-size work done strip by strip makes no second
    full-size float copy."""
    step = max(1, (1 << 22) // w)
    return (slice(top, top + step) for top in range(0, h, step))


def _towards_content(out: np.ndarray, source: np.ndarray, share: float) -> None:
    """``out``'s colour mixed with the content's in place: content + share · (out − content)."""
    for rows in _strips(*out.shape[:2]):
        content = to_rgb(source[rows])
        rgb = out[rows, :, :3]
        rgb -= content
        rgb *= np.float32(share)
        rgb += content


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
    affine methods; with ``request.settings.regions`` a sample of features for k-means), the stylize pass
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
                if request.settings.regions:     # about 4096 feature vectors over the whole image for k-means
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
                f = mapping.apply(f, weights, tile_masks, request.settings.strength)
            pixels = from_nchw(rt.session(stage.decoder)(f[None]))
            if last:
                pixels = finish(tile, pixels)
            tile.write(dest[..., :3] if last else dest, pixels)
        image = dest
    del read, cache                     # the previous stage's image goes before the float32 copy
    return image if image.dtype == np.float32 else image.astype(np.float32)
