"""Colour helpers: sRGB transfer functions, alpha (un)premultiplication, colour preservation."""

from __future__ import annotations

import numpy as np

# IEC 61966-2-1 sRGB transfer function constants.
_SRGB_THRESHOLD = 0.04045
_LINEAR_THRESHOLD = 0.0031308
_SRGB_SLOPE = 12.92
_SRGB_A = 0.055
_SRGB_GAMMA = 2.4

# YIQ (NTSC 1953) as used by Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer".
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.595716, -0.274453, -0.321263],
                        [0.211456, -0.522591, 0.311135]], dtype=np.float32)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ.astype(np.float64)).astype(np.float32)


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded values (any shape, float) -> scene-linear values; alpha must not be passed."""
    x = np.asarray(srgb, dtype=np.float32)
    return np.where(x <= _SRGB_THRESHOLD, x / _SRGB_SLOPE,
                    ((np.maximum(x, 0) + _SRGB_A) / (1 + _SRGB_A)) ** _SRGB_GAMMA).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Scene-linear values -> sRGB-encoded values (values above 1 stay above 1; clip yourself)."""
    x = np.asarray(linear, dtype=np.float32)
    return np.where(x <= _LINEAR_THRESHOLD, x * _SRGB_SLOPE,
                    (1 + _SRGB_A) * np.maximum(x, _LINEAR_THRESHOLD) ** (1 / _SRGB_GAMMA) - _SRGB_A
                    ).astype(np.float32)


def unpremultiply(rgba: np.ndarray) -> np.ndarray:
    """Premultiplied H×W×4 -> straight alpha; fully transparent pixels get colour 0."""
    out = np.array(rgba, dtype=np.float32)
    a = out[..., 3:4]
    np.divide(out[..., :3], a, out=out[..., :3], where=a > 0)
    out[..., :3][np.broadcast_to(a <= 0, out[..., :3].shape)] = 0
    return out


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """Straight-alpha H×W×4 -> premultiplied."""
    out = np.array(rgba, dtype=np.float32)
    out[..., :3] *= out[..., 3:4]
    return out


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 RGB -> H×W×3 YIQ (Y = luma, I/Q = chroma)."""
    return rgb @ _RGB_TO_YIQ.T


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    return yiq @ _YIQ_TO_RGB.T


def preserve_color(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Luminance-only transfer (Gatys et al. 2016): the stylized luma with the content's chroma.

    Chosen over matching the style's colour histogram to the content before transfer because it
    keeps the content's chroma exactly (measurable, predictable for artists) and costs one 3×3
    matrix per pixel; the style's brush texture survives in the luma. Both inputs H×W×3 sRGB.
    """
    y = rgb_to_yiq(stylized)[..., :1]
    iq = rgb_to_yiq(content)[..., 1:]
    return np.clip(yiq_to_rgb(np.concatenate([y, iq], axis=-1)), 0.0, 1.0).astype(np.float32)


# --- Inverting a view transform known only by calling it ------------------------------------
# Blender's view transforms (AgX, Filmic, looks, exposure, curves) run in OpenColorIO, which
# Python cannot call in every Blender version: the add-on can only push pixels through them. So
# the inverse is numerical. The transform is sampled once on a lattice of scene-linear colours
# (log-spaced, or the shadows would get too few lattice points); each distinct display colour
# is found on that table by damped Gauss-Newton (Levenberg-Marquardt) steps, started from the
# grey axis; then the true transform's verdict on the answer corrects it (``refine``; the
# add-on does it twice), which removes the table's interpolation error. A colour the transform
# cannot show (AgX cannot show the most saturated sRGB colours) gets the closest one it can.

LATTICE_SIZE = 65                  # points per axis (65³ = 274,625 samples)
_LATTICE_KNEE = 2.0 ** -14         # about linear below this (AgX's range starts near 2⁻¹⁵)
_WHITE_AT = 40 / 64                # scene-linear 1 on a lattice point (the 41st of 65, the 21st
                                   # of 33): a view that clips at white has its kink on the table
_SHAPER_SPAN = np.log2(1.0 + 1.0 / _LATTICE_KNEE) / _WHITE_AT   # the brightest sampled: ~338
_LEVELS = 511                      # display colours are told apart to 1/511
_STEPS, _REFINE_STEPS = 12, 4      # Levenberg-Marquardt steps on the table


def _from_shaper(u: np.ndarray) -> np.ndarray:
    """Lattice coordinates in [0, 1] -> scene-linear values (log-like spacing, 0 at 0)."""
    x = _LATTICE_KNEE * (np.exp2(np.asarray(u, np.float64) * _SHAPER_SPAN) - 1.0)
    return x.astype(np.float32)


def transform_lattice(size: int = LATTICE_SIZE) -> np.ndarray:
    """The size³×3 scene-linear colours (red slowest) to push through a transform for
    ``ViewInverse``."""
    axis = np.linspace(0.0, 1.0, size)
    return _from_shaper(np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3))


def _trilinear(table: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An n×n×n×3 table at N×3 points of [0, 1]³: the values (N×3) and their derivatives
    (N×3 out×3 in)."""
    n = table.shape[0]
    f = np.clip(u, 0.0, 1.0) * (n - 1)
    i = np.minimum(f.astype(np.int64), n - 2)
    w = (f - i).astype(np.float32)
    flat = table.reshape(-1, 3)
    base = (i[:, 0] * n + i[:, 1]) * n + i[:, 2]
    value = np.zeros((len(u), 3), np.float32)
    jac = np.zeros((len(u), 3, 3), np.float32)
    for corner in range(8):
        d = [(corner >> 2) & 1, (corner >> 1) & 1, corner & 1]
        wk = [w[:, k] if d[k] else 1.0 - w[:, k] for k in range(3)]
        sign = [1.0 if d[k] else -1.0 for k in range(3)]
        c = flat[base + (d[0] * n + d[1]) * n + d[2]]
        value += (wk[0] * wk[1] * wk[2])[:, None] * c
        jac[:, :, 0] += (sign[0] * wk[1] * wk[2])[:, None] * c
        jac[:, :, 1] += (wk[0] * sign[1] * wk[2])[:, None] * c
        jac[:, :, 2] += (wk[0] * wk[1] * sign[2])[:, None] * c
    return value, jac * (n - 1)


class ViewInverse:
    """Scene-linear colours that a transform shows as given display colours, for a transform
    known by its values at ``transform_lattice(n)`` (n³×3, display-encoded). ``linear(display)``
    answers from the table; ``refine(shown)``, given what the true transform shows of that
    answer, corrects it."""

    def __init__(self, forward_values: np.ndarray):
        n = round(len(forward_values) ** (1 / 3))
        if n ** 3 != len(forward_values) or n < 2:
            raise ValueError(f"expected the transform's values at transform_lattice(n), n³×3; "
                             f"got {np.shape(forward_values)}")
        self.table = np.asarray(forward_values, np.float32).reshape(n, n, n, 3)
        grey = self.table[np.arange(n), np.arange(n), np.arange(n)]
        # Rising strictly, for np.interp: a colour on a plateau (white, where the view
        # saturates) starts where the plateau begins, where the table still has a slope.
        self._grey = np.maximum.accumulate(grey, axis=0) + 1e-6 * np.arange(n)[:, None]
        self._index = self._coords = self._targets = None

    def _solve(self, target: np.ndarray, u: np.ndarray, steps: int) -> np.ndarray:
        value, jac = _trilinear(self.table, u)
        cost = np.square(target - value).sum(1)
        damping = np.full(len(u), 1e-3, np.float32)
        eye = np.eye(3, dtype=np.float32)
        for _ in range(steps):
            jt = np.swapaxes(jac, 1, 2)
            step = np.linalg.solve(jt @ jac + damping[:, None, None] * eye,
                                   jt @ (target - value)[..., None])[..., 0]
            u_new = np.clip(u + step, 0.0, 1.0)
            v_new, j_new = _trilinear(self.table, u_new)
            c_new = np.square(target - v_new).sum(1)
            better = c_new < cost
            u[better], value[better], jac[better], cost[better] = (
                u_new[better], v_new[better], j_new[better], c_new[better])
            damping = np.where(better, damping * 0.3, damping * 10.0).astype(np.float32)
        return u

    def linear(self, display: np.ndarray) -> np.ndarray:
        """…×3 display colours in [0, 1] -> …×3 scene-linear colours (from the table)."""
        shape = display.shape
        keys = np.rint(np.clip(display, 0.0, 1.0).reshape(-1, 3) * _LEVELS).astype(np.int64)
        keys = (keys[:, 0] * (_LEVELS + 1) + keys[:, 1]) * (_LEVELS + 1) + keys[:, 2]
        unique, self._index = np.unique(keys, return_inverse=True)
        target = np.stack([unique // (_LEVELS + 1) ** 2, unique // (_LEVELS + 1) % (_LEVELS + 1),
                           unique % (_LEVELS + 1)], -1).astype(np.float32) / _LEVELS
        axis = np.linspace(0.0, 1.0, len(self._grey))
        start = np.stack([np.interp(target[:, c], self._grey[:, c], axis) for c in range(3)],
                         -1).astype(np.float32)
        self._targets = target
        self._coords = self._solve(target, start, _STEPS)
        self._shape = shape
        return _from_shaper(self._coords)[self._index].reshape(shape)

    def refine(self, shown: np.ndarray) -> np.ndarray:
        """Given ``shown``, the true transform of the last answer (same shape), the corrected
        answer: each colour is solved again on the table for its target less the table's
        error there. Each call corrects the previous one's answer."""
        if self._coords is None:
            raise RuntimeError("ViewInverse.refine needs a linear() answer to correct first")
        index = self._index.ravel()
        count = np.bincount(index, minlength=len(self._coords))[:, None]
        seen = np.stack([np.bincount(index, np.asarray(shown, np.float64).reshape(-1, 3)[:, c],
                                     minlength=len(self._coords)) for c in range(3)], -1) / count
        table_says, _ = _trilinear(self.table, self._coords)
        target = table_says + (self._targets - seen.astype(np.float32))
        self._coords = self._solve(target, self._coords, _REFINE_STEPS)
        return _from_shaper(self._coords)[self._index].reshape(self._shape)
