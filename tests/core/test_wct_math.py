"""Whitening/colouring and feature blending as plain math."""

from __future__ import annotations

import numpy as np
import pytest

from nst_core import adain, wct
from nst_core.features import Affine, blend, downsample_mask, moments


def _features(seed, c=8, n=500):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(c, c)) @ rng.normal(size=(c, n)) + rng.normal(size=(c, 1))).astype(np.float32)


def test_wct_output_has_style_mean_and_covariance():
    fc, fs = _features(0), _features(1, n=700)
    out = blend(fc, [wct.transform(moments(fc), wct.StyleStats.from_moments(moments(fs)))], [1.0], [None], 1.0)
    m_out, m_s = moments(out), moments(fs)
    np.testing.assert_allclose(m_out.mean(), m_s.mean(), atol=1e-3)
    np.testing.assert_allclose(m_out.cov(), m_s.cov(), rtol=1e-3, atol=1e-2)


def test_adain_output_has_style_mean_and_std():
    fc, fs = _features(2), _features(3)
    a = adain.transform(moments(fc), adain.StyleStats.from_moments(moments(fs)))
    out = blend(fc, [a], [1.0], [None], 1.0)
    np.testing.assert_allclose(out.mean(1), fs.mean(1), atol=1e-3)
    np.testing.assert_allclose(out.std(1), fs.std(1), rtol=1e-3)


def test_rank_deficient_covariances_stay_finite():
    fc = np.zeros((8, 100), np.float32)
    fc[0] = np.arange(100)
    w = wct.whitening(moments(fc).cov())
    c = wct.coloring(np.zeros((8, 8)))
    assert np.isfinite(w).all() and np.isfinite(c).all()


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
