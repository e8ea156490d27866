"""nst_core/adain.py: adaptive instance normalisation as an affine map."""

from __future__ import annotations

import numpy as np

from nst_core import adain
from conftest import random_features as _features
from nst_core.features import blend, moments


def test_adain_output_has_style_mean_and_std():
    fc, fs = _features(2), _features(3)
    a = adain.transform(moments(fc), adain.StyleStats.from_moments(moments(fs)))
    out = blend(fc, [a], [1.0], [None], 1.0)
    np.testing.assert_allclose(out.mean(1), fs.mean(1), atol=1e-3)
    np.testing.assert_allclose(out.std(1), fs.std(1), rtol=1e-3)
