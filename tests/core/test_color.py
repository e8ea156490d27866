"""nst_core/color.py: sRGB and linear, premultiplied and straight alpha."""

from __future__ import annotations

import numpy as np
import pytest

import nst_core


def test_srgb_linear_roundtrip():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(nst_core.linear_to_srgb(nst_core.srgb_to_linear(x)), x, atol=1e-6)
    assert nst_core.srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-4)


def test_premultiply_roundtrip():
    rgba = np.random.default_rng(0).random((8, 8, 4)).astype(np.float32)
    np.testing.assert_allclose(nst_core.unpremultiply(nst_core.premultiply(rgba)), rgba, atol=1e-6)
    transparent = np.zeros((2, 2, 4), np.float32)
    assert np.isfinite(nst_core.unpremultiply(transparent)).all()
