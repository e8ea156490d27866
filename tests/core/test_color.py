"""nst_core/color.py: sRGB and linear, premultiplied and straight alpha."""

from __future__ import annotations

import numpy as np
import pytest

import nst_core
from nst_core import color


def test_srgb_linear_roundtrip():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(nst_core.linear_to_srgb(nst_core.srgb_to_linear(x)), x, atol=1e-6)
    assert nst_core.srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-4)


def test_premultiply_roundtrip():
    rgba = np.random.default_rng(0).random((8, 8, 4)).astype(np.float32)
    np.testing.assert_allclose(nst_core.unpremultiply(nst_core.premultiply(rgba)), rgba, atol=1e-6)
    transparent = np.zeros((2, 2, 4), np.float32)
    assert np.isfinite(nst_core.unpremultiply(transparent)).all()


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
    inverse = color.ViewInverse(view(color.transform_lattice()))
    first = np.abs(view(inverse.linear(shown)) - shown).max() * 255
    back = inverse.linear(shown)
    for _ in range(2):
        back = inverse.refine(view(back))
    off = np.abs(view(back) - shown) * 255
    assert back.shape == shown.shape and back.dtype == np.float32
    assert off.max() <= 1.0 and np.median(off) <= 0.25, (first, off.max())


def test_view_inverse_gives_the_closest_colour_a_view_can_show():
    red = np.array([1.0, 0.0, 0.0], np.float32)            # beyond the toy's reach
    inverse = color.ViewInverse(_filmic_toy(color.transform_lattice()))
    back = inverse.refine(_filmic_toy(inverse.linear(red[None])))
    ours = np.square(_filmic_toy(back)[0] - red).sum()
    tries = (np.random.default_rng(2).random((200_000, 3)) ** 3 * 300).astype(np.float32)
    best = np.square(_filmic_toy(tries) - red).sum(1).min()     # by brute force
    assert ours <= best + 1e-3, (ours, best)


def test_view_inverse_says_what_it_needs():
    with pytest.raises(ValueError, match="transform_lattice"):
        color.ViewInverse(np.zeros((10, 3), np.float32))
    with pytest.raises(RuntimeError, match="linear"):
        color.ViewInverse(_clipping_toy(color.transform_lattice(5))).refine(np.zeros((2, 3)))
