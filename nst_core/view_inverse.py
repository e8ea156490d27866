"""Inverting a view transform known only by calling it.

Blender's view transforms (AgX, Filmic, looks, exposure, curves) run in OpenColorIO, which
Python cannot call in every Blender version: the add-on can only push pixels through them. So
the inverse is numerical. The transform is sampled once on a lattice of scene-linear colours
(log-spaced, or the shadows would get too few lattice points); each distinct display colour is
found on that table by damped Gauss-Newton (Levenberg-Marquardt) steps, started from the grey
axis; then the true transform's verdict on the answer corrects it, ``rounds`` times, which
removes the table's interpolation error. A colour the transform cannot show (AgX cannot show the
most saturated sRGB colours) gets the closest one it can.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import ViewTransformError

LATTICE_SIZE = 65                  # points per axis (65³ = 274,625 samples)
_LATTICE_KNEE = 2.0 ** -14         # about linear below this (AgX's range starts near 2⁻¹⁵)
_WHITE_AT = 40 / 64                # scene-linear 1 on a lattice point (the 41st of 65, the 21st
                                   # of 33): a view that clips at white has its kink on the table
_SHAPER_SPAN = np.log2(1.0 + 1.0 / _LATTICE_KNEE) / _WHITE_AT   # the brightest sampled: ~338
_LEVELS = 511                      # display colours are told apart to 1/511
_STEPS, _REFINE_STEPS = 12, 4      # Levenberg-Marquardt steps on the table
REFINE_ROUNDS = 2                  # corrections of an answer by the true transform


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
    """The inverse of a view transform ``show`` (N×3 scene-linear -> N×3 display-encoded
    colours in [0, 1]), which is sampled once on ``transform_lattice(size)`` here; call the
    object with display colours to get scene-linear ones. ``show`` is called again on each
    call's answers, ``rounds`` times, to correct them."""

    def __init__(self, show: Callable[[np.ndarray], np.ndarray], size: int = LATTICE_SIZE):
        if size < 2:
            raise ViewTransformError(f"a lattice needs at least 2 points per axis, got {size}")
        self.show = show
        lattice = transform_lattice(size)
        self.table = _checked(show(lattice), lattice.shape, "the lattice").reshape(size, size, size, 3)
        grey = self.table[np.arange(size), np.arange(size), np.arange(size)]
        # Rising strictly, for np.interp: a colour on a plateau (white, where the view
        # saturates) starts where the plateau begins, where the table still has a slope.
        self._grey = np.maximum.accumulate(grey, axis=0) + 1e-6 * np.arange(size)[:, None]

    def __call__(self, display: np.ndarray, rounds: int = REFINE_ROUNDS) -> np.ndarray:
        """…×3 display colours in [0, 1] -> …×3 scene-linear colours (float32) that ``show``
        shows as them, or as close as it can."""
        shape = display.shape
        keys = np.rint(np.clip(display, 0.0, 1.0).reshape(-1, 3) * _LEVELS).astype(np.int64)
        keys = (keys[:, 0] * (_LEVELS + 1) + keys[:, 1]) * (_LEVELS + 1) + keys[:, 2]
        unique, index = np.unique(keys, return_inverse=True)
        target = np.stack([unique // (_LEVELS + 1) ** 2, unique // (_LEVELS + 1) % (_LEVELS + 1),
                           unique % (_LEVELS + 1)], -1).astype(np.float32) / _LEVELS
        axis = np.linspace(0.0, 1.0, len(self._grey))
        start = np.stack([np.interp(target[:, c], self._grey[:, c], axis) for c in range(3)],
                         -1).astype(np.float32)
        coords = self._solve(target, start, _STEPS)
        for _ in range(rounds):         # each distinct colour solved again for its target less
            answer = _from_shaper(coords)   # the table's error there (``show`` is per pixel, so
            seen = _checked(self.show(answer), answer.shape, "a call's answer")  # once a colour)
            table_says, _ = _trilinear(self.table, coords)
            coords = self._solve(table_says + (target - seen), coords, _REFINE_STEPS)
        return _from_shaper(coords)[index].reshape(shape)

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


def _checked(shown, shape, what: str) -> np.ndarray:
    """What the view transform gave for ``what`` (N×3 scene-linear colours), as float32 N×3."""
    shown = np.asarray(shown, np.float32)
    if shown.shape != tuple(shape) or not np.isfinite(shown).all():
        raise ViewTransformError(f"the view transform gave {shown.shape} values for {what} of "
                                 f"{shape[0]} colours; it must return one finite display colour "
                                 "(N×3) per scene-linear colour")
    return shown
