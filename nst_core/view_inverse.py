"""Inverting a view transform known only by calling it.

Blender's view transforms (AgX, Filmic, looks, exposure, curves) run in OpenColorIO, which
Python cannot call in every Blender version: the add-on can only push pixels through them. So
the inverse is numerical, in two parts.

Once per view, an inverse table. The transform is sampled on a lattice of scene-linear colours
(log-spaced, or the shadows would get too few lattice points); then each colour of a regular
65³ grid of display colours is solved on those samples by damped Gauss-Newton
(Levenberg-Marquardt) steps, on coarser grids first so that each point starts from its
neighbours' answer (started from the grey axis alone, 1 % of AgX's points ended more than
0.5/255 further off, even after 48 steps). A colour the transform cannot show (AgX cannot show the most saturated sRGB colours)
gets the closest one it can, and the table keeps that closest colour too. Solving takes 1-2 s
and depends only on the samples, so the table is kept under a hash of them: the next
``ViewInverse`` of the same view (each Apply Styles makes one) samples the view (0.1 s) and
reuses it.

Per call, all the picture's distinct colours at once: the table, interpolated at a display
colour, gives a scene-linear answer and its derivative by the display colour; what the true transform shows of
the answer corrects it by a Newton step with that derivative, ``rounds`` times, which removes
the table's error. The table holds scene-linear values, not lattice coordinates: interpolated,
lattice coordinates (logarithms) were up to 15/255 off on the toy Filmic-like view and the
Newton steps overshot; scene-linear values were within 1/255. Above 4 it holds their
logarithms: near the top of a view that never reaches white the answers grow without bound,
and one step from such a cell's slope sent a colour to black. The derivative is a cell's
average, wrong where a cell straddles the edge of what the view can show, so the steps are
guarded: a step moves a colour at most 4/255 (the table's error, not the way to a colour out of
reach); a step that left a colour further off is taken back and halved; a colour the view can
show that is still off and converging slowly is solved on the lattice's samples instead, as
before this table, for what the true transform missed.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .errors import ViewTransformError

LATTICE_SIZE = 65                  # points per axis (65³ = 274,625 samples)
INVERSE_SIZE = 65                  # display colours per axis of the inverse table (33: 7×
                                   # as many of AgX's colours ended over 1/255 off)
_LATTICE_KNEE = 2.0 ** -14         # about linear below this (AgX's range starts near 2⁻¹⁵)
_WHITE_AT = 40 / 64                # scene-linear 1 on a lattice point (the 41st of 65, the 21st
                                   # of 33): a view that clips at white has its kink on the table
_SHAPER_SPAN = np.log2(1.0 + 1.0 / _LATTICE_KNEE) / _WHITE_AT   # the brightest sampled: ~338
_LEVELS = 511                      # display colours are told apart to 1/511
_STEPS, _REFINE_STEPS = 6, 4       # Levenberg-Marquardt steps: the finest grid (more on coarser
                                   # ones), a colour corrected on the lattice
_CAP = 4 / 255                     # a correction's largest move, in display colour
_SLOW = 0.5 / 255                  # off by more after a correction: is it converging?
_BEND = 4.0                        # above this the table holds logarithms (see _bend)
_NEAR = 4 / 255                    # a colour the view can show about: only those are re-solved
REFINE_ROUNDS = 2                  # corrections of an answer by the true transform
_CHUNK = 1 << 16                   # points interpolated at once (their temporaries fit a cache)
_KEPT = 4                          # inverse tables kept (one per view; 6.6 MB each)
_INVERSES: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()


def _from_shaper(u: np.ndarray) -> np.ndarray:
    """Lattice coordinates in [0, 1] -> scene-linear values (log-like spacing, 0 at 0)."""
    x = _LATTICE_KNEE * (np.exp2(np.asarray(u, np.float64) * _SHAPER_SPAN) - 1.0)
    return x.astype(np.float32)


def _to_shaper(x: np.ndarray) -> np.ndarray:
    """Scene-linear values -> lattice coordinates, clipped to [0, 1]."""
    u = np.log2(1.0 + np.maximum(np.asarray(x, np.float64), 0.0) / _LATTICE_KNEE) / _SHAPER_SPAN
    return np.minimum(u, 1.0).astype(np.float32)


_BRIGHTEST = float(_from_shaper(np.float32(1.0)))     # no answer goes beyond the lattice


def _bend(x: np.ndarray) -> np.ndarray:
    """Scene-linear values as the inverse table holds them: as they are up to _BEND, their
    logarithm (continued smoothly) above."""
    return np.where(x > _BEND, _BEND * (1.0 + np.log(np.maximum(x, _BEND) / _BEND)),
                    x).astype(np.float32)


def _unbend(v: np.ndarray) -> np.ndarray:
    """The inverse of ``_bend``."""
    return np.where(v > _BEND, _BEND * np.exp(np.maximum(v, _BEND) / _BEND - 1.0),
                    v).astype(np.float32)


def _grid(size: int) -> np.ndarray:
    """The size³×3 colours of a regular grid on [0, 1]³, red slowest."""
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)


def transform_lattice(size: int = LATTICE_SIZE) -> np.ndarray:
    """The size³×3 scene-linear colours (red slowest) to push through a transform for
    ``ViewInverse``."""
    return _from_shaper(_grid(size))


def _trilinear(table: np.ndarray, u: np.ndarray, derivative: bool = True):
    """A table of n³ colours (3 × n³: channels first, the layout np.take gathers fastest) at
    N×3 points of [0, 1]³: the values (N×3 float32) and, with ``derivative``, their derivatives
    (N×3 out×3 in), else None. In chunks, so that the temporaries stay in the cache."""
    n = round(table.shape[1] ** (1 / 3))
    value = np.empty((len(u), 3), np.float32)
    jac = np.empty((len(u), 3, 3), np.float32) if derivative else None
    offsets = (0, 1, n, n + 1, n * n, n * n + 1, n * n + n, n * n + n + 1)
    for s in range(0, len(u), _CHUNK):
        f = np.clip(np.asarray(u[s:s + _CHUNK], np.float32).T, 0.0, 1.0) * np.float32(n - 1)
        i = np.minimum(f.astype(np.int32), n - 2)
        wr, wg, wb = f - i
        base = (i[0] * n + i[1]) * n + i[2]
        c = [np.take(table, base + o, axis=1) for o in offsets]   # the cell's 8 corners
        db = [c[1] - c[0], c[3] - c[2], c[5] - c[4], c[7] - c[6]]
        a = [c[0] + wb * db[0], c[2] + wb * db[1], c[4] + wb * db[2], c[6] + wb * db[3]]
        dg0, dg1 = a[1] - a[0], a[3] - a[2]
        b0, b1 = a[0] + wg * dg0, a[2] + wg * dg1
        dr = b1 - b0
        value[s:s + _CHUNK] = (b0 + wr * dr).T
        if derivative:
            db0, db1 = db[0] + wg * (db[1] - db[0]), db[2] + wg * (db[3] - db[2])
            j = jac[s:s + _CHUNK]
            j[:, :, 0] = dr.T
            j[:, :, 1] = (dg0 + wr * (dg1 - dg0)).T
            j[:, :, 2] = (db0 + wr * (db1 - db0)).T
    if derivative:
        jac *= np.float32(n - 1)
    return value, jac


def _solve(table: np.ndarray, target: np.ndarray, u: np.ndarray, steps: int) -> np.ndarray:
    """Lattice coordinates (N×3) where the sampled ``table`` shows ``target``, or comes
    closest, by Levenberg-Marquardt from ``u``: a step is kept where it brings the colour
    closer, and damped harder where it did not."""
    value, jac = _trilinear(table, u)
    cost = np.square(target - value).sum(1)
    damping = np.full(len(u), 1e-3, np.float32)
    eye = np.eye(3, dtype=np.float32)
    for _ in range(steps):
        jt = np.swapaxes(jac, 1, 2)
        step = np.linalg.solve(jt @ jac + damping[:, None, None] * eye,
                               jt @ (target - value)[..., None])[..., 0]
        u_new = np.clip(u + step, 0.0, 1.0)
        v_new, j_new = _trilinear(table, u_new)
        c_new = np.square(target - v_new).sum(1)
        better = c_new < cost
        u[better], value[better], jac[better], cost[better] = (
            u_new[better], v_new[better], j_new[better], c_new[better])
        damping = np.where(better, damping * 0.3, np.minimum(damping * 10.0, 1e10))
    return u


def _inverse_table(table: np.ndarray, grey: np.ndarray, size: int):
    """For each display colour of a size³ grid, the scene-linear colour that the sampled
    ``table`` shows as it, or the closest it can show, and that closest display colour (the
    grid's own where the view can show it): two 3 × size³ tables. Solved on grids of 9³, 17³,
    ... up to size³, each point from the coarser grid's answer there or from the grey axis,
    whichever the table shows closer to it."""
    sizes = [size]
    while sizes[-1] > 9 and (sizes[-1] - 1) % 2 == 0:
        sizes.append((sizes[-1] - 1) // 2 + 1)
    axis = np.linspace(0.0, 1.0, len(grey))
    answers = None
    for level, n in reversed(list(enumerate(sizes))):
        target = _grid(n)
        start = np.stack([np.interp(target[:, c], grey[:, c], axis) for c in range(3)],
                         -1).astype(np.float32)
        if answers is not None:
            near = _to_shaper(_trilinear(answers, target, False)[0])
            closer = (np.square(_trilinear(table, near, False)[0] - target).sum(1)
                      < np.square(_trilinear(table, start, False)[0] - target).sum(1))
            start[closer] = near[closer]
        u = _solve(table, target, start, min(_STEPS << level, 4 * _STEPS))
        answers = np.ascontiguousarray(_from_shaper(u).T)
    return _bend(answers), np.ascontiguousarray(_trilinear(table, u, False)[0].T)


class ViewInverse:
    """The inverse of a view transform ``show`` (N×3 scene-linear -> N×3 display-encoded
    colours in [0, 1]), which is sampled once on ``transform_lattice(size)`` here; call the
    object with display colours to get scene-linear ones. The inverse table (``grid``³ display
    colours) is built from those samples, or found among the kept ones. ``show`` is called
    again on each call's answers, ``rounds`` times, to correct them."""

    def __init__(self, show: Callable[[np.ndarray], np.ndarray], size: int = LATTICE_SIZE,
                 grid: int = INVERSE_SIZE):
        if size < 2 or grid < 2:
            raise ViewTransformError(f"a lattice and a grid need at least 2 points per axis, "
                                     f"got {size} and {grid}")
        self.show = show
        lattice = transform_lattice(size)
        self.table = _checked(show(lattice), lattice.shape, "the lattice").reshape(size, size, size, 3)
        self._table = np.ascontiguousarray(self.table.reshape(-1, 3).T)
        key = hashlib.blake2b(self.table.tobytes() + grid.to_bytes(4, "little"),
                              digest_size=16).digest()
        tables = _INVERSES.pop(key, None)
        if tables is None:
            grey = self.table[np.arange(size), np.arange(size), np.arange(size)]
            # Rising strictly, for np.interp: a colour on a plateau (white, where the view
            # saturates) starts where the plateau begins, where the table still has a slope.
            grey = np.maximum.accumulate(grey, axis=0) + 1e-6 * np.arange(size)[:, None]
            tables = _inverse_table(self._table, grey, grid)
        _INVERSES[key] = tables                 # the most recently used last
        self.inverse, self.reach = tables
        while len(_INVERSES) > _KEPT:
            _INVERSES.popitem(last=False)

    def __call__(self, display: np.ndarray, rounds: int = REFINE_ROUNDS) -> np.ndarray:
        """…×3 display colours in [0, 1] -> …×3 scene-linear colours (float32) that ``show``
        shows as them, or as close as it can. Each distinct colour (to 1/511) is solved once:
        a picture has far fewer of them than pixels (a photo scaled up to 1080p: 0.43 M,
        3-4× faster than solving every pixel), and where nearly every pixel differs, finding
        them costs about 0.15 s at 1080p."""
        shape = np.shape(display)
        keys = np.rint(np.clip(display, 0.0, 1.0).reshape(-1, 3) * _LEVELS).astype(np.int64)
        keys = (keys[:, 0] * (_LEVELS + 1) + keys[:, 1]) * (_LEVELS + 1) + keys[:, 2]
        unique, index = np.unique(keys, return_inverse=True)
        target = np.stack([unique // (_LEVELS + 1) ** 2, unique // (_LEVELS + 1) % (_LEVELS + 1),
                           unique % (_LEVELS + 1)], -1).astype(np.float32) / _LEVELS
        return self._answers(target, rounds)[index.reshape(-1)].reshape(shape)

    def _answers(self, target: np.ndarray, rounds: int) -> np.ndarray:
        """N×3 display colours in [0, 1] (float32) -> N×3 scene-linear answers, all at once."""
        bent, slope = _trilinear(self.inverse, target)
        linear = _unbend(bent)
        slope *= (np.maximum(linear, _BEND) / _BEND)[:, :, None]    # d linear / d display
        step = np.ones((len(target), 1), np.float32)
        kept = slow = None
        for _ in range(rounds):
            seen = _checked(self.show(linear), linear.shape, "a call's answer")
            off = target - seen
            miss = np.einsum("ij,ij->i", off, off)
            if kept is not None:
                # A step that left the colour further off is taken back, and halved. A colour
                # still off what the view can show, not 4× closer than before, had a wrong
                # slope (where the table's cell straddles the edge of what the view can show):
                # it is solved on the sampled lattice instead, as the true transform corrects.
                worse = np.flatnonzero(miss > kept[2])
                for now, then in zip((linear, off, miss, seen), kept):
                    now[worse] = then[worse]
                step[worse] *= 0.5
                slow = np.flatnonzero((miss > _SLOW ** 2) & (miss > 0.25 * kept[2]))
                reach = _trilinear(self.reach, target[slow], False)[0]
                slow = slow[(np.square(reach - seen[slow]).sum(1) > _SLOW ** 2)
                            & (np.square(reach - target[slow]).sum(1) < _NEAR ** 2)]
            kept = linear, off, miss, seen
            # at most _CAP at a time: the tables' error, not the way to a colour out of reach
            pull = off * np.minimum(1.0, _CAP / np.sqrt(np.maximum(miss, 1e-20)))[:, None]
            linear = np.einsum("nij,nj->ni", slope, pull)
            linear *= step
            linear += kept[0]
            np.clip(linear, 0.0, _BRIGHTEST, out=linear)
            if slow is not None and len(slow):
                linear[slow] = self._on_lattice(kept[0][slow], target[slow] - seen[slow])
        return linear

    def _on_lattice(self, linear: np.ndarray, off: np.ndarray) -> np.ndarray:
        """``linear`` corrected as the old way did: solved again on the lattice's table for
        what the table shows of it plus what the true transform missed by (``off``)."""
        u = _to_shaper(linear)
        return _from_shaper(_solve(self._table, _trilinear(self._table, u, False)[0] + off, u,
                                   _REFINE_STEPS))


def _checked(shown, shape, what: str) -> np.ndarray:
    """What the view transform gave for ``what`` (N×3 scene-linear colours), as float32 N×3."""
    shown = np.asarray(shown, np.float32)
    if shown.shape != tuple(shape) or not np.isfinite(shown).all():
        raise ViewTransformError(f"the view transform gave {shown.shape} values for {what} of "
                                 f"{shape[0]} colours; it must return one finite display colour "
                                 "(N×3) per scene-linear colour")
    return shown
