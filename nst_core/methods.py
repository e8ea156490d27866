"""The three methods behind one protocol, so the tile loop and the device path never ask which.

A method runs as stages (encode → transform → decode): WCT one per level, AdaIN two at level 4
(the second on the first's output), StyleBank one. For each stage of a call the pipeline
(tiled, ``pipeline._run``) and the one-tile device path (``fused.run``) ask the method for:

- ``style_stats(rt, stage, style)``: what the method needs of one style image at that stage
  (cached by image, model and device); only when ``encodes_styles`` (StyleBank's styles are
  learned banks, nothing to encode);
- ``mapping(rt, styles, stats, whole, region_moments, sample)``: the transform of this call,
  from the content's whole-image statistics, which every tile then shares; ``region_moments``
  are the content's statistics inside each style's mask (taken only when
  ``mask_statistics``), ``sample`` feature vectors for k-means regions (``supports_regions``). A mapping has
  ``apply(f, weights, masks, alpha)`` for one tile's features (C×h×w numpy) and
  ``apply_device(rt, f, weights, alpha)`` for features kept where the models run.

What else differs per method is a constant of the method object, which the rest asks for:
``label`` and ``description`` (the add-on's menu), ``takes_style_names`` (names of learned
styles instead of images), ``gpu_bytes_per_pixel`` (memory planning on CUDA, tiling.plan) and
``result_blend`` (animations, temporal.Coherence). A new method is one class here (or anywhere:
``register``), nothing else.

WCT and AdaIN are affine maps of the features (``features.Affine``); StyleBank is a learned
convolution on normalised features (``stylebank.Fusion``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import adain, fused, stylebank, wct
from .errors import StyleError
from .features import Affine, Moments, blend, combine, moments
from .images import check_array, fit_long_side, to_nchw
from .tiling import mirror_pad
from .runtime import Runtime

ADAIN_DECODER = "adain_decoder4"   # our trained AdaIN decoder, when the models folder has it
STYLE_CACHE_SIZE = 32


@dataclass(frozen=True)
class ResultBlend:
    """How an animation frame's result is blended with the previous one warped onto it
    (``temporal.Coherence.blend``), at Temporal Coherence 1: the previous result's ``share``
    where the warp is valid, and the motion (px per frame, relative to the networks' grid) at
    which that share halves (None: it does not fall with motion)."""

    share: float
    halving: float | None = None


@dataclass(frozen=True)
class Stage:
    """One encode → transform → decode pass: a WCT level, AdaIN or StyleBank."""

    level: int
    encoder: str
    decoder: str


class _StyleCache:
    """Style statistics by (image bytes, model, device): the same style gives the same numbers
    on every frame and is encoded once."""

    def __init__(self, size: int = STYLE_CACHE_SIZE):
        self._items: OrderedDict = OrderedDict()
        self.size = size

    def get(self, key, compute):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = compute()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()


_STYLE_CACHE = _StyleCache()


def clear_style_cache() -> None:
    """Forget every cached style statistic (benchmarks time the style's encoding this way)."""
    _STYLE_CACHE.clear()


def _digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).view(np.uint8)).hexdigest() + str(image.shape)


def fitted(style: np.ndarray, size: int) -> np.ndarray:
    """A style image at ``size`` px on its long side, mirror-padded for the encoders; cached (an
    animation's every frame fitted it again: 31 ms for a 1280 px painting)."""
    def fit():
        out = mirror_pad(fit_long_side(style, size), 1)
        out.flags.writeable = False         # (shared by every call that gets it)
        return out
    return _STYLE_CACHE.get((_digest(style), size), fit)


def features(rt: Runtime, name: str, image: np.ndarray) -> np.ndarray:
    """Encoder ``name`` on H×W×3 -> C×h×w float32."""
    return rt.session(name)(to_nchw(image))[0]


def style_moments(rt: Runtime, encoder: str, style: np.ndarray) -> Moments:
    """The feature moments of a style image under ``encoder``, cached."""
    key = (_digest(style), rt.store.info(encoder).sha256, rt.device.providers)

    def compute():
        f = features(rt, encoder, style)
        return moments(f.reshape(f.shape[0], -1))
    return _STYLE_CACHE.get(key, compute)


class AffineMapping:
    """One affine map per style (WCT or AdaIN), mixed per pixel by weights and masks."""

    def __init__(self, maps: list[Affine]):
        self.maps = maps

    def apply(self, f: np.ndarray, weights, masks, alpha: float) -> np.ndarray:
        flat = f.reshape(f.shape[0], -1)
        return blend(flat, self.maps, weights, masks, alpha).reshape(f.shape)

    def apply_device(self, rt: Runtime, f, weights, alpha: float):
        return fused.affine(rt, f, combine(self.maps, weights, alpha))


class _AffineMethod:
    """WCT and AdaIN: style images, encoded per stage; content statistics per mask region."""

    name = ""
    transform_module = None     # wct or adain: StyleStats.from_moments and transform
    encodes_styles = True
    takes_style_names = False
    mask_statistics = True
    supports_regions = False
    # a crop painted with the whole image's content statistics looks like the whole painting
    # there (temporal.Coherence paints the plate's new patches so)
    paints_crops = True

    def resolve_styles(self, styles, rt: Runtime) -> list[np.ndarray]:
        if isinstance(styles, np.ndarray):
            styles = [styles]
        if isinstance(styles, str) or len(styles) == 0 or any(isinstance(x, str) for x in styles):
            raise StyleError(f"method '{self.name}' takes style images (arrays); style names are "
                             "for method 'stylebank'" if len(styles) else "no style given; pass "
                             "at least one style image")
        return [check_array(x, f"style {i}")[0] for i, x in enumerate(styles)]

    def style_stats(self, rt: Runtime, stage: Stage, style: np.ndarray):
        """Cached: WCT's colouring matrices took 36 ms a frame (an eigendecomposition a level)."""
        key = (self.transform_module.__name__, _digest(style), rt.store.info(stage.encoder).sha256,
               rt.device.providers)
        return _STYLE_CACHE.get(key, lambda: self.transform_module.StyleStats.from_moments(
            style_moments(rt, stage.encoder, style)))

    def mapping(self, rt: Runtime, styles, stats, whole: Moments,
                region_moments: Sequence[Moments | None], sample=None) -> AffineMapping:
        """A style with a mask takes the content statistics inside its mask (when the mask has
        any weight there), the others those of the whole image."""
        return AffineMapping([self.transform_module.transform(
            whole if r is None or r.weight < 1e-6 else r, st) for r, st in zip(region_moments, stats)])


class WCT(_AffineMethod):
    name = "wct"
    label = "WCT"
    description = "Whitening and colouring, five levels: strongest style, no training"
    transform_module = wct
    gpu_bytes_per_pixel = 4000      # every cached session keeps its arena: ten networks add up
    # docs/animation.md: halved where a surface drifts 4 px a frame off the networks' grid (a
    # camera's travel): the most shift-sensitive painting, blended there, washed the style out
    result_blend = ResultBlend(0.7, halving=4.0)

    def stages(self, rt: Runtime, decoder: str | None, levels: Sequence[int],
               alpha: float = 1.0) -> list[Stage]:
        levels = tuple(int(x) for x in levels)
        if not levels or any(x not in wct.DEFAULT_LEVELS for x in levels):
            raise StyleError(f"levels must be a non-empty subset of 1..5, got {levels}")
        return [Stage(x, rt.store.encoder_for(f"decoder{x}", x), f"decoder{x}") for x in levels]


class AdaIN(_AffineMethod):
    """Level 4 → a feature transform → our trained decoder. The transform matches the style's
    feature mean and covariance by default ("covariance": whitening and colouring at relu4_1, as
    WCT does at each of its levels); "moments" matches only each channel's mean and standard
    deviation, the AdaIN paper's transform, which with our decoder mostly moves the colours
    (docs/quality.md)."""

    name = "adain"
    label = "AdaIN"
    description = "Adaptive instance normalisation with a trained decoder: fast"
    gpu_bytes_per_pixel = 1100
    result_blend = ResultBlend(0.5)
    TRANSFORMS = {"covariance": wct, "moments": adain}
    DEFAULT_TRANSFORM = "covariance"

    def __init__(self, transform: str = DEFAULT_TRANSFORM):
        if transform not in self.TRANSFORMS:
            raise StyleError(f"unknown transform '{transform}' for method 'adain'; expected one of "
                             f"{', '.join(self.TRANSFORMS)}")
        self.transform = transform
        self.transform_module = self.TRANSFORMS[transform]

    # The stylized image goes through encoder, transform and decoder once more, as WCT's levels
    # each take the one before's output: the second pass paints on strokes, not on the photo.
    # On the 30 held-out pairs: Gram gain 0.733 -> 0.761, G 0.731 -> 0.756, C 0.580 -> 0.748,
    # at about twice the time (still under WCT's); docs/quality.md. With alpha 0 there is no
    # style to add: one pass, the content's reconstruction.
    PASSES = 2

    def stages(self, rt: Runtime, decoder: str | None, levels: Sequence[int],
               alpha: float = 1.0) -> list[Stage]:
        dec = decoder or (ADAIN_DECODER if rt.store.has(ADAIN_DECODER) else f"decoder{adain.LEVEL}")
        return [Stage(adain.LEVEL, rt.store.encoder_for(dec, adain.LEVEL), dec)] * (
            self.PASSES if alpha > 0 else 1)


class StyleBank:
    """Learned banks by name: nothing to encode; masks or k-means regions pick the banks."""

    name = "stylebank"
    label = "StyleBank"
    description = ("Learned styles by name (built-in or learned with scripts/learn_style.py): "
                   "fastest")
    encodes_styles = False
    takes_style_names = True
    gpu_bytes_per_pixel = 1100
    # fine strokes lose their style when carried along a motion across the grid: the share falls
    result_blend = ResultBlend(0.5, halving=3.0)
    mask_statistics = False
    supports_regions = True
    # a new patch of the plate painted from a crop (at the whole backdrop's statistics) differed
    # so from the painting around it that the ghost ratio of the clean 720p scene without its
    # clean plate rose 0.96 -> 1.47 (again 2026-12-05: 0.96 -> 1.36); a window of the frame at
    # the frame's statistics is painted as the whole frame paints it (temporal.Coherence._frame)
    paints_crops = False

    def resolve_styles(self, styles, rt: Runtime) -> list[stylebank.Bank]:
        return stylebank.resolve(styles, rt.store)

    def stages(self, rt: Runtime, decoder: str | None, levels: Sequence[int],
               alpha: float = 1.0) -> list[Stage]:
        dec = decoder or stylebank.DECODER
        return [Stage(stylebank.LEVEL, rt.store.encoder_for(dec, stylebank.LEVEL), dec)]

    def style_stats(self, rt: Runtime, stage: Stage, style):
        return None

    def mapping(self, rt: Runtime, styles, stats, whole: Moments, region_moments,
                sample: np.ndarray | None = None) -> stylebank.Fusion:
        """The fused banks; with ``sample`` (feature vectors of the whole image, N×C) one
        k-means region per bank."""
        fusion = stylebank.Fusion(rt, styles, whole)
        if sample is not None:
            fusion.centroids = stylebank.kmeans(fusion.normalise_rows(sample), len(styles))
        return fusion


METHODS = {m.name: m for m in (WCT(), AdaIN(), StyleBank())}


def register(method) -> None:
    """Make ``method`` (an object with the protocol above) known by its ``name``."""
    METHODS[method.name] = method


def unregister(name: str) -> None:
    METHODS.pop(name, None)


def get(name: str, transform: str | None = None):
    """The method called ``name``, in any case (with ``transform``: AdaIN's feature transform,
    see AdaIN); an unknown name or transform lists the known ones."""
    key = name.lower() if isinstance(name, str) else name
    if key not in METHODS:
        raise StyleError(f"unknown method '{name}'; expected one of {', '.join(METHODS)}")
    if transform is None:
        return METHODS[key]
    if key != "adain":
        raise StyleError(f"transform= chooses AdaIN's feature transform; method '{name}' has none")
    return AdaIN(transform)
