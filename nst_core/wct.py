"""Whitening and colouring transform (Li et al. 2017, "Universal Style Transfer").

Pure float64 math on feature statistics; the multi-level pipeline lives in pipeline.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .features import Affine, Moments

DEFAULT_LEVELS = (5, 4, 3, 2, 1)
EPS = 1e-5            # times the mean variance, added to the covariance diagonal
EIG_CUTOFF = 1e-5     # eigenvalues below EIG_CUTOFF · largest are dropped (no 1/√0 blow-up)
MIN_VARIANCE = 1e-4   # the mean variance EPS is taken of is at least this: a flat content's
                      # features vary only by rounding (real pictures: about 1 and more), which
                      # whitening would blow up to a white or magenta image


def _eig(cov: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of cov + eps·I keeping only eigenvalues above the relative cutoff."""
    reg = eps * max(float(np.trace(cov)) / cov.shape[0], MIN_VARIANCE)
    vals, vecs = np.linalg.eigh(cov + reg * np.eye(cov.shape[0]))
    keep = vals > max(vals[-1], reg) * EIG_CUTOFF
    return vals[keep], vecs[:, keep]


def whitening(cov: np.ndarray, eps: float = EPS) -> np.ndarray:
    """C×C matrix W with W·cov·Wᵀ ≈ identity on the kept eigen-directions."""
    vals, vecs = _eig(cov, eps)
    return (vecs / np.sqrt(vals)) @ vecs.T


def coloring(cov: np.ndarray, eps: float = EPS) -> np.ndarray:
    """C×C matrix square root of cov (dropping near-zero directions)."""
    vals, vecs = _eig(cov, eps)
    return (vecs * np.sqrt(vals)) @ vecs.T


@dataclass
class StyleStats:
    """What WCT needs of a style at one level: its feature mean and covariance square root."""

    mean: np.ndarray
    color: np.ndarray

    @classmethod
    def from_moments(cls, m: Moments, eps: float = EPS) -> "StyleStats":
        return cls(m.mean(), coloring(m.cov(), eps))


def transform(content: Moments, style: StyleStats, eps: float = EPS) -> Affine:
    """The affine WCT map f -> C_s^½ · C_c^-½ · (f − μ_c) + μ_s."""
    matrix = style.color @ whitening(content.cov(), eps)
    return Affine(matrix, style.mean - matrix @ content.mean())
