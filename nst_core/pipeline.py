"""``stylize``: validation, padding, the WCT and AdaIN pipelines, alpha and colour handling."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import adain, wct
from .color import preserve_color as _preserve_color
from .errors import CancelledError, StyleError
from .features import Affine, Moments, blend, downsample_mask, moments
from .images import check_array, check_mask, fit_long_side
from .runtime import Runtime, get_runtime

METHODS = ("wct", "adain")
PAD_MULTIPLE = 16       # the level-5 encoder pools four times
MIN_SIZE = 32           # level-5 features must be at least 2×2 for reflection padding
STYLE_SIZE = 512        # default long side of style images
ADAIN_DECODER = "adain_decoder4"   # our trained AdaIN decoder, when the models folder has it
_STYLE_CACHE_SIZE = 32

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
    ph = max(-(-h // multiple) * multiple, minimum) - h
    pw = max(-(-w // multiple) * multiple, minimum) - w
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


def stylize(content: np.ndarray, styles: np.ndarray | Sequence[np.ndarray], method: str = "wct", *,
            weights: Sequence[float] | None = None,
            masks: Sequence[np.ndarray | None] | None = None,
            alpha: float = 1.0, preserve_color: bool = False,
            levels: Sequence[int] = wct.DEFAULT_LEVELS, style_size: int | None = STYLE_SIZE,
            decoder: str | None = None, device: str = "auto", threads: int | None = None,
            models_dir=None, runtime: Runtime | None = None,
            progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> StyleResult:
    """Stylize ``content`` with one or more ``styles``.

    content: float32 H×W×3 or H×W×4 in [0, 1], sRGB (convert Blender's scene-linear pixels with
    ``linear_to_srgb`` first), straight alpha; H×W, ×1, ×2, uint8 and uint16 are accepted too.
    styles: one image or a sequence of images like ``content`` (any sizes).
    method: "wct" (levels coarse to fine, default 5..1) or "adain" (level 4 + decoder).
    weights: one non-negative weight per style, normalised to sum 1 (default: equal).
    masks: one H×W mask in [0, 1] (or None) per style: where each style applies; soft masks mix.
    alpha: 0 keeps the content, 1 is full style. preserve_color: keep the content's chroma.
    style_size: styles are downscaled to this long side (None keeps their size).
    progress(fraction, message) is called as work proceeds; when cancel() returns True the call
    raises CancelledError and returns nothing.
    Returns a StyleResult whose ``image`` has the content's size (×4 with its alpha unchanged).
    """
    start = time.perf_counter()
    if method not in METHODS:
        raise StyleError(f"unknown method '{method}'; expected one of {', '.join(METHODS)}")
    if not np.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise StyleError(f"alpha must be between 0 and 1, got {alpha}")
    rgb, content_alpha = check_array(content, "content")
    if isinstance(styles, np.ndarray):
        styles = [styles]
    if len(styles) == 0:
        raise StyleError("no style given; pass at least one style image")
    style_rgbs = [check_array(s, f"style {i}")[0] for i, s in enumerate(styles)]
    w = _normalise_weights(weights, len(style_rgbs))
    if masks is None:
        masks = [None] * len(style_rgbs)
    if len(masks) != len(style_rgbs):
        raise StyleError(f"got {len(masks)} masks for {len(style_rgbs)} styles; pass None for "
                         "a style that applies everywhere")
    mask_arrays = [None if m is None else check_mask(m, rgb.shape[:2], f"mask {i}")
                   for i, m in enumerate(masks)]
    # A style with zero weight or an empty mask has no influence: drop it.
    active = [i for i in range(len(style_rgbs))
              if w[i] > 0 and (mask_arrays[i] is None or mask_arrays[i].max() > 0)]
    if method == "wct":
        levels = tuple(int(x) for x in levels)
        if not levels or any(x not in wct.DEFAULT_LEVELS for x in levels):
            raise StyleError(f"levels must be a non-empty subset of 1..5, got {levels}")
    rt = runtime or get_runtime(models_dir, device, threads)
    h, w_px = rgb.shape[:2]
    padded = _pad(rgb)
    padded_masks = [None if m is None else _pad(m) for m in mask_arrays]
    prepared = [_pad(fit_long_side(style_rgbs[i], style_size), 1) for i in active]
    weights_active = [w[i] / sum(w[j] for j in active) for i in active]
    masks_active = [padded_masks[i] for i in active]

    if method == "wct":
        steps = len(levels) * (2 + len(active))
        job = _Job(steps, progress, cancel)
        out, used = _run_wct(rt, job, padded, prepared, weights_active, masks_active, alpha, levels)
    else:
        job = _Job(2 + len(active), progress, cancel)
        dec = decoder or (ADAIN_DECODER if rt.store.has(ADAIN_DECODER) else f"decoder{adain.LEVEL}")
        out, used = _run_adain(rt, job, padded, prepared, weights_active, masks_active, alpha, dec)
    if cancel is not None and cancel():
        raise CancelledError("stylization cancelled")
    out = np.clip(out[:h, :w_px], 0.0, 1.0)
    if preserve_color:
        out = _preserve_color(out, rgb)
    if content_alpha is not None:
        out = np.concatenate([out, content_alpha[..., None]], axis=-1)
    if progress is not None:
        progress(1.0, "done")
    return StyleResult(image=np.ascontiguousarray(out, dtype=np.float32), method=method,
                       provider=rt.device.name, device_reason=rt.device.reason,
                       seconds=time.perf_counter() - start, models=used)


def _features(rt: Runtime, name: str, image: np.ndarray) -> np.ndarray:
    """Encoder ``name`` on H×W×3 -> C×h×w float32."""
    return rt.session(name)(to_nchw(image))[0]


def _style_moments(rt: Runtime, name: str, style: np.ndarray) -> Moments:
    key = (_digest(style), rt.store.info(name).sha256, rt.device.providers)
    def compute():
        f = _features(rt, name, style)
        return moments(f.reshape(f.shape[0], -1))
    return _STYLE_CACHE.get(key, compute)


def _content_maps(f: np.ndarray, masks: list, level: int, style_stats: list, module) -> list[Affine]:
    """One affine map per style, from the content statistics inside that style's mask."""
    factor = 2 ** (level - 1)
    flat = f.reshape(f.shape[0], -1)
    whole = None
    maps = []
    for mask, stats in zip(masks, style_stats):
        if mask is None:
            whole = whole or moments(flat)
            content = whole
        else:
            content = moments(flat, downsample_mask(mask, factor).reshape(-1))
            if content.weight < 1e-6:   # region vanished at this level: no influence here
                content = whole = whole or moments(flat)
        maps.append(module.transform(content, stats))
    return maps


def _level_masks(masks: list, level: int) -> list:
    factor = 2 ** (level - 1)
    return [None if m is None else downsample_mask(m, factor).reshape(-1) for m in masks]


def _run_wct(rt, job, image, styles, weights, masks, alpha, levels):
    used = []
    for level in levels:
        enc, dec = f"encoder{level}", f"decoder{level}"
        used += [enc, dec]
        if not styles:           # nothing active: the content passes through the decoders
            job.step(f"WCT level {level}: encode")
            f = _features(rt, enc, image)
            job.step(f"WCT level {level}: decode")
            image = from_nchw(rt.session(dec)(f[None]))
            continue
        stats = []
        for i, style in enumerate(styles):
            job.step(f"WCT level {level}: style {i + 1}")
            stats.append(wct.StyleStats.from_moments(_style_moments(rt, enc, style)))
        job.step(f"WCT level {level}: encode content")
        f = _features(rt, enc, image)
        maps = _content_maps(f, masks, level, stats, wct)
        mixed = blend(f.reshape(f.shape[0], -1), maps, weights, _level_masks(masks, level), alpha)
        job.step(f"WCT level {level}: decode")
        image = from_nchw(rt.session(dec)(mixed.reshape(f.shape)[None]))
    return image, used


def _run_adain(rt, job, image, styles, weights, masks, alpha, decoder):
    enc = f"encoder{adain.LEVEL}"
    stats = []
    for i, style in enumerate(styles):
        job.step(f"AdaIN: style {i + 1}")
        stats.append(adain.StyleStats.from_moments(_style_moments(rt, enc, style)))
    job.step("AdaIN: encode content")
    f = _features(rt, enc, image)
    if styles:
        maps = _content_maps(f, masks, adain.LEVEL, stats, adain)
        f = blend(f.reshape(f.shape[0], -1), maps, weights, _level_masks(masks, adain.LEVEL),
                  alpha).reshape(f.shape)
    job.step("AdaIN: decode")
    return from_nchw(rt.session(decoder)(f[None])), [enc, decoder]
