"""One-tile calls with images and features kept where the models run (the GPU on CUDA).

The tiled pipeline (pipeline._run) moves every tile's image and features through numpy. When
the whole image fits the memory budget in one tile and no mask is given, this path chains small
graphs (built by scripts/export_onnx.py) with the networks through IO binding instead: the
content goes in once (in its own dtype: an 8-bit image crosses as bytes), is converted and
mirror-padded on the device, each stage's channel mean and centred covariance are accumulated in
float64 on the device and come back as C and C×C numbers, the host computes the method's mapping
(eigen-decompositions in float64, as the tiled path), which applies itself on the device, and
the result comes back once. Same math as the tiled path with one tile; on the CPU the tests
compare the two.
"""

from __future__ import annotations

import numpy as np

from . import tiling
from .features import Affine, Moments

PREP = {np.dtype(np.uint8): "prep_uint8", np.dtype(np.uint16): "prep_uint16",
        np.dtype(np.float32): "prep_float32"}
GRAPHS = ("mirror_pad", "post", "moments", "affine", "mix")


def usable(rt, source: np.ndarray, masks, regions: bool, seamless: bool, tiles: int) -> bool:
    """Whether a call can take this path: one tile, no masks or regions, not seamless, RGB(A)
    content of at least tiling.MIN_READ² in uint8, uint16 or float32, and a models folder with the
    graphs (older exports lack them)."""
    return (tiles == 1 and not regions and not seamless and all(m is None for m in masks)
            and source.dtype in PREP and source.shape[2] in (3, 4)
            and min(source.shape[:2]) >= tiling.MIN_READ
            and all(rt.store.has(name) for name in (PREP[source.dtype],) + GRAPHS))


def run(rt, job, source: np.ndarray, method, stages, styles, weights, alpha: float,
        statistics=None) -> np.ndarray:
    """Stylize ``source`` (H×W×3 or ×4, checked) through ``stages`` of ``method``
    (methods.py); returns H×W×3 float32 in [0, 1]. ``styles`` are the method's prepared styles
    (images, or StyleBank's banks); ``statistics`` as in pipeline.stylize."""
    h, w = source.shape[:2]
    size = np.array([h, w], np.int64)
    pad = -size % tiling.ALIGN                          # rows and columns up to the ALIGN grid
    x = rt.session(PREP[source.dtype]).run_bound({"image": source[None], "pad": pad})["padded"]
    for k, stage in enumerate(stages):
        stats = []
        for i, style in enumerate(styles if method.encodes_styles else []):
            job.step(f"level {stage.level}: style {i + 1}")
            stats.append(method.style_stats(rt, stage, style))
        job.step(f"level {stage.level}: statistics")
        encoder = rt.session(stage.encoder)
        f = encoder.run_bound({encoder.input_name: x})[encoder.output_names[0]]
        factor = 2 ** (stage.level - 1)
        core = -(-size // factor)                      # the feature map's h×w, rounded up
        m = rt.session("moments").run_bound({"features": f, "size": core}, ("mean", "gram"))
        whole = Moments.from_centred(int(core[0] * core[1]), m["mean"], m["gram"])
        if statistics is not None:
            whole = statistics((k, "whole"), whole)
        job.step(f"level {stage.level}: stylize")
        mapping = method.mapping(rt, styles, stats, whole, [None] * len(styles))
        g = mapping.apply_device(rt, f, weights, alpha)
        decoder = rt.session(stage.decoder)
        x = decoder.run_bound({decoder.input_name: g})[decoder.output_names[0]]
        del f, g
        if k < len(stages) - 1:     # the next stage reads the h×w image, mirror-padded again
            x = rt.session("mirror_pad").run_bound({"image": x, "size": size, "pad": pad})["padded"]
    return rt.session("post").run_into({"image": x, "size": size}, np.empty((1, h, w, 3), np.float32))[0]


def affine(rt, f, a: Affine):
    """matrix @ f + bias on device features (1×C×h×w)."""
    return rt.session("affine").run_bound({"features": f, "matrix": a.matrix.astype(np.float32),
                                           "bias": a.bias.astype(np.float32)})["mapped"]


def mix(rt, a, b, t: float):
    """t·a + (1 − t)·b on device tensors."""
    return rt.session("mix").run_bound({"a": a, "b": b, "t": np.array(t, np.float32)})["mixed"]
