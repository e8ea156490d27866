"""Feature statistics and the per-pixel affine blend shared by WCT and AdaIN.

Both methods map content features f (C×N) to T·f + b per style (WCT: full C×C matrix, AdaIN:
diagonal). Blending several styles by weights and masks is a per-pixel mixture of those affine
maps, so it is written once here. Statistics are accumulated in float64 in chunks (so tiles can
be aggregated later); the maps are applied in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 1 << 14  # columns per chunk when accumulating moments


@dataclass
class Moments:
    """Weighted raw moments of features: total weight, Σ w·f (C,), Σ w·f·fᵀ (C×C), float64."""

    weight: float
    sum: np.ndarray
    outer: np.ndarray

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(self.weight + other.weight, self.sum + other.sum, self.outer + other.outer)

    @classmethod
    def from_centred(cls, count: int, mean: np.ndarray, gram: np.ndarray) -> "Moments":
        """From a channel mean and the centred Gram Σ(f − μ)(f − μ)ᵀ over ``count`` pixels."""
        mean, gram = np.asarray(mean, np.float64).reshape(-1), np.asarray(gram, np.float64)
        return cls(float(count), count * mean, (gram + gram.T) / 2 + count * np.outer(mean, mean))

    def mean(self) -> np.ndarray:
        return self.sum / self.weight

    def cov(self) -> np.ndarray:
        mu = self.mean()
        cov = self.outer / self.weight - np.outer(mu, mu)
        return (cov + cov.T) / 2

    def std(self, eps: float) -> np.ndarray:
        return np.sqrt(np.maximum(np.diag(self.cov()), 0.0) + eps)


def moments(f: np.ndarray, weights: np.ndarray | None = None) -> Moments:
    """f: C×N features; weights: N soft-mask weights in [0, 1] or None (all ones).

    Products are taken in float32 on features shifted by an approximate channel mean (so no
    large offset cancels), over chunks of CHUNK columns, and accumulated in float64. Against
    all-float64 products on real features (wct16x levels 1-5, 1024²) the covariances differ by
    < 5e-7 of their largest entry and WCT's output by < 0.1/255; the float64 cast it replaces
    took twice as long (level 1: 122 vs 67 ms).
    """
    c, n = f.shape
    shift = f[:, :: max(1, n // 4096)].mean(axis=1, dtype=np.float64).astype(np.float32)
    total, s, outer = 0.0, np.zeros(c), np.zeros((c, c))
    buf = np.empty((c, min(n, CHUNK)), np.float32)
    for start in range(0, n, CHUNK):
        block = f[:, start:start + CHUNK]
        g = np.subtract(block, shift[:, None], out=buf[:, :block.shape[1]], dtype=np.float32)
        if weights is None:
            wg = g
            total += g.shape[1]
        else:
            w = np.asarray(weights[start:start + CHUNK], np.float32)
            wg = g * w
            total += float(w.sum(dtype=np.float64))
        s += wg.sum(axis=1, dtype=np.float64)
        outer += wg @ g.T
    sh = shift.astype(np.float64)
    # Σw·(g + sh)(g + sh)ᵀ = Σw·g·gᵀ + sh·(Σw·g)ᵀ + (Σw·g)·shᵀ + (Σw)·sh·shᵀ
    return Moments(total, s + total * sh,
                   outer + np.outer(sh, s) + np.outer(s, sh) + total * np.outer(sh, sh))


@dataclass
class Affine:
    """x -> matrix @ x + bias on C-channel features (matrix C×C, bias C)."""

    matrix: np.ndarray
    bias: np.ndarray


def block_means(image: np.ndarray, factor: int) -> np.ndarray:
    """Means of H×W or H×W×C over factor×factor blocks (a last partial row or column of
    blocks is left out): (H // factor)×(W // factor)(×C) float32. Summed over whole rows
    first, contiguous: a mean over two strided axes at once is several times slower."""
    h, w = image.shape[:2]
    c = image.size // (h * w)
    hb, wb = h // factor, w // factor
    rows = image[:hb * factor, :wb * factor].reshape(hb, factor, wb * factor * c).sum(axis=1)
    if c == 1:
        out = rows.reshape(hb, wb, factor).sum(axis=2)
    else:       # numpy sums along a strided axis slowly: the columns added in turn as it does
        cols = rows.reshape(hb, wb, factor, c)      # (the same bits), 3x faster for RGB
        out = cols[:, :, 0].copy()
        for k in range(1, factor):
            out += cols[:, :, k]
    out *= np.float32(1 / factor ** 2)
    return out.reshape((hb, wb) + image.shape[2:])


def downsample_mask(mask: np.ndarray, factor: int) -> np.ndarray:
    """Block-mean a H×W mask (H, W multiples of factor) to the feature grid H/factor × W/factor."""
    return mask if factor == 1 else block_means(mask, factor)


def shares(masks: list[np.ndarray | None], weights: list[float], alpha: float, n: int) -> np.ndarray:
    """Per-pixel share of each style (S×n): w_i·m_i / Σ_j w_j·m_j, scaled by the coverage
    min(1, Σ_j m_j) (an uncovered pixel keeps the content, a half-covered one is half
    stylized), then by alpha. Unmasked styles have m = 1."""
    m = np.stack([np.ones(n, np.float32) if mk is None else mk.astype(np.float32) for mk in masks])
    wm = m * np.asarray(weights, np.float32)[:, None]
    total = wm.sum(axis=0)
    coverage = np.minimum(m.sum(axis=0), 1.0)
    return np.divide(wm, total, out=np.zeros_like(wm), where=total > 0) * (alpha * coverage)


def combine(maps: list[Affine], weights: list[float], alpha: float) -> Affine:
    """The one affine map of unmasked styles: (1 − α)·I + α·Σ wᵢ·Tᵢ, bias α·Σ wᵢ·bᵢ (float64)."""
    c = maps[0].bias.shape[0]
    matrix, bias = (1 - alpha) * np.eye(c), np.zeros(c)
    for a, w in zip(maps, weights):
        matrix = matrix + alpha * w * a.matrix
        bias = bias + alpha * w * a.bias
    return Affine(matrix, bias)


def blend(f: np.ndarray, maps: list[Affine], weights: list[float],
          masks: list[np.ndarray | None], alpha: float) -> np.ndarray:
    """Mix the affine maps per pixel and blend with the content by alpha.

    f: C×N content features; each style's per-pixel share is given by ``shares``.
    Returns float32 C×N.
    """
    if all(m is None for m in masks):
        a = combine(maps, weights, alpha)
        out = a.matrix.astype(np.float32) @ f.astype(np.float32, copy=False)
        out += a.bias.astype(np.float32)[:, None]       # in place: C×N is the largest array here
        return out
    share = shares(masks, weights, alpha, f.shape[1])
    out = f * (1 - share.sum(axis=0))
    for a, s in zip(maps, share):
        out += (a.matrix.astype(np.float32) @ f + a.bias.astype(np.float32)[:, None]) * s
    return out.astype(np.float32, copy=False)


def mask_union(masks) -> np.ndarray | None:
    """Where any of the style ``masks`` applies (H×W in [0, 1]); None when one applies
    everywhere (or there are none)."""
    if not masks or any(m is None for m in masks):
        return None
    return np.minimum(np.sum(masks, axis=0), 1.0)
