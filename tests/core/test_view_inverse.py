"""nst_core/view_inverse.py: the inverse of a view transform known only by calling it."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import nst_core
from nst_core import view_inverse


_MIX = np.array([[0.80, 0.15, 0.05], [0.10, 0.80, 0.10], [0.05, 0.15, 0.80]], np.float32)


def _filmic_toy(x):
    """A view transform like AgX in kind: channels mixed, then a tone curve that never reaches
    white, so saturated display colours are out of its reach."""
    y = np.maximum(x, 0) @ _MIX.T
    return (y / (y + 0.18)) ** (1 / 2.2)


def _clipping_toy(x):
    """Like Blender's Standard view: the sRGB curve, clipped at 1."""
    return np.clip(nst_core.linear_to_srgb(x), 0.0, 1.0)


@pytest.mark.parametrize("view", [_filmic_toy, _clipping_toy])
def test_view_inverse_finds_the_colours_a_view_shows(view):
    rng = np.random.default_rng(1)
    linear = (rng.random((64, 64, 3)) ** 2 * 4).astype(np.float32)
    shown = view(linear)
    inverse = nst_core.ViewInverse(view)
    first = np.abs(view(inverse(shown, rounds=0)) - shown).max() * 255
    back = inverse(shown, rounds=2)
    off = np.abs(view(back) - shown) * 255
    assert back.shape == shown.shape and back.dtype == np.float32
    assert off.max() <= 1.0 and np.median(off) <= 0.25, (first, off.max())


def test_view_inverse_gives_the_closest_colour_a_view_can_show():
    red = np.array([1.0, 0.0, 0.0], np.float32)            # beyond the toy's reach
    inverse = nst_core.ViewInverse(_filmic_toy)
    back = inverse(red[None], rounds=1)
    ours = np.square(_filmic_toy(back)[0] - red).sum()
    tries = (np.random.default_rng(2).random((200_000, 3)) ** 3 * 300).astype(np.float32)
    best = np.square(_filmic_toy(tries) - red).sum(1).min()     # by brute force
    assert ours <= best + 1e-3, (ours, best)


def test_view_inverse_says_what_it_needs():
    with pytest.raises(nst_core.ViewTransformError, match="one finite display colour"):
        nst_core.ViewInverse(lambda x: np.zeros((10, 3), np.float32))
    calls = []

    def wrong_on_the_second_call(x):        # the lattice, then one colour too few
        calls.append(len(x))
        return _clipping_toy(x if len(calls) == 1 else x[1:])
    inverse = nst_core.ViewInverse(wrong_on_the_second_call, size=5)
    with pytest.raises(ValueError, match="a call's answer"):
        inverse(np.array([[0, 0, 0], [0.5, 0.5, 0.5], [0, 0, 0]], np.float32))
    assert calls == [125, 2]            # the lattice, then each distinct colour once


def test_view_inverse_keeps_the_inverse_table_of_a_view(monkeypatch):
    monkeypatch.setattr(view_inverse, "_INVERSES", OrderedDict())   # none kept yet
    solves = []
    solve = view_inverse._solve
    monkeypatch.setattr(view_inverse, "_solve", lambda *args: solves.append(1) or solve(*args))
    first = nst_core.ViewInverse(_filmic_toy, grid=17)
    built = len(solves)
    second = nst_core.ViewInverse(_filmic_toy, grid=17)      # as the next Apply Styles makes it
    assert built > 0 and len(solves) == built and second.inverse is first.inverse
    other = nst_core.ViewInverse(lambda x: _filmic_toy(2 * x), grid=17)     # exposure +1
    assert len(solves) > built and other.inverse is not first.inverse


@pytest.mark.parametrize("view", [_filmic_toy, _clipping_toy])
def test_view_inverse_is_as_close_on_a_large_picture(view):
    """Interpolated in the inverse table, corrected by the true transform: as close as the
    per-colour solve on the lattice was (the bounds above), on 64× the pixels."""
    rng = np.random.default_rng(5)
    shown = view((rng.random((512, 512, 3)) ** 2 * 4).astype(np.float32))
    off = np.abs(view(nst_core.ViewInverse(view)(shown)) - shown) * 255
    assert off.max() <= 1.0 and np.median(off) <= 0.25, (off.max(), np.median(off))

