"""nst_core/wct.py: whitening and colouring as plain math."""

from __future__ import annotations

import numpy as np

from nst_core import wct
from conftest import random_features as _features
from nst_core.features import blend, moments


def test_wct_output_has_style_mean_and_covariance():
    fc, fs = _features(0), _features(1, n=700)
    out = blend(fc, [wct.transform(moments(fc), wct.StyleStats.from_moments(moments(fs)))], [1.0], [None], 1.0)
    m_out, m_s = moments(out), moments(fs)
    np.testing.assert_allclose(m_out.mean(), m_s.mean(), atol=1e-3)
    np.testing.assert_allclose(m_out.cov(), m_s.cov(), rtol=1e-3, atol=1e-2)


def test_rank_deficient_covariances_stay_finite():
    fc = np.zeros((8, 100), np.float32)
    fc[0] = np.arange(100)
    w = wct.whitening(moments(fc).cov())
    c = wct.coloring(np.zeros((8, 8)))
    assert np.isfinite(w).all() and np.isfinite(c).all()
