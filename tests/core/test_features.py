"""nst_core/features.py: moments (weighted, chunked, float64-accurate), masks and the blend."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import random_features as _features
from nst_core.features import Affine, blend, block_means, downsample_mask, moments


def test_weighted_moments_match_selection():
    f = _features(4)
    mask = np.zeros(f.shape[1], np.float32)
    mask[:100] = 1
    np.testing.assert_allclose(moments(f, mask).cov(), moments(f[:, :100]).cov(), rtol=2e-6)


def test_chunked_moments_equal_direct(monkeypatch):
    import nst_core.features as features
    f = _features(5, n=1000)
    direct = moments(f)
    monkeypatch.setattr(features, "CHUNK", 64)
    chunked = features.moments(f)
    np.testing.assert_allclose(chunked.outer, direct.outer, rtol=2e-6)   # float32 products


@pytest.mark.parametrize("weighted", [False, True])
def test_moments_match_float64_despite_a_large_mean(weighted):
    """Products are float32 (moments' docstring): on features far from zero mean, where raw
    float32 moments E[ffᵀ] − μμᵀ would cancel to noise, the covariance still matches float64
    math on the same numbers to 1e-5 of its largest entry."""
    f = _features(7, c=16, n=50_000) + np.float32(1000)
    w = np.random.default_rng(8).random(f.shape[1]).astype(np.float32) if weighted else None
    x = f.astype(np.float64)
    ww = np.ones(f.shape[1]) if w is None else w.astype(np.float64)
    mean = (x * ww).sum(1) / ww.sum()
    cov = ((x - mean[:, None]) * ww) @ (x - mean[:, None]).T / ww.sum()
    m = moments(f, w)
    np.testing.assert_allclose(m.mean(), mean, rtol=1e-9)
    np.testing.assert_allclose(m.cov(), cov, atol=1e-5 * np.abs(cov).max())


def test_soft_mask_half_coverage_is_half_way():
    f = _features(6)
    shift = Affine(np.eye(8), np.ones(8))
    half = np.full(f.shape[1], 0.5, np.float32)
    out = blend(f, [shift], [1.0], [half], 1.0)
    np.testing.assert_allclose(out - f, 0.5, atol=1e-5)


def test_downsample_mask_block_mean():
    m = np.zeros((4, 4), np.float32)
    m[0, 0] = 1
    np.testing.assert_allclose(downsample_mask(m, 2), [[0.25, 0], [0, 0]])


@pytest.mark.parametrize("channels", [None, 1, 3, 4])
@pytest.mark.parametrize("factor", [1, 2, 8, 16])
def test_block_means_are_the_means_of_whole_blocks(channels, factor):
    rng = np.random.default_rng(factor)
    image = rng.random((37, 50) + (() if channels is None else (channels,)), dtype=np.float32)
    hb, wb = 37 // factor, 50 // factor         # a last partial row or column of blocks is left out
    direct = image[:hb * factor, :wb * factor].astype(np.float64).reshape(
        (hb, factor, wb, factor) + image.shape[2:]).mean(axis=(1, 3))
    out = block_means(image, factor)
    assert out.dtype == np.float32 and out.shape == direct.shape
    np.testing.assert_allclose(out, direct, rtol=2e-6, atol=1e-7)
