"""Adaptive instance normalisation (Huang & Belongie 2017) as an affine map on features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .features import Affine, Moments

LEVEL = 4        # relu4_1, as in the paper
EPS = 1e-5       # added to the variance, as in the paper's implementation


@dataclass
class StyleStats:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def from_moments(cls, m: Moments, eps: float = EPS) -> "StyleStats":
        return cls(m.mean(), m.std(eps))


def transform(content: Moments, style: StyleStats, eps: float = EPS) -> Affine:
    """f -> σ_s · (f − μ_c) / σ_c + μ_s, channel by channel."""
    scale = style.std / content.std(eps)
    return Affine(np.diag(scale), style.mean - scale * content.mean())
