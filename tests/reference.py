"""Torch reference implementations of the WCT and AdaIN pipelines, written apart from nst_core."""

from __future__ import annotations

import numpy as np
import torch

import torch_models as tm

EPS = 1e-5
CUTOFF = 1e-5


def _t(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()


def _img(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).numpy()


def wct_features(fc: torch.Tensor, fs: torch.Tensor, alpha: float) -> torch.Tensor:
    c = fc.shape[1]
    x = fc[0].reshape(c, -1).double()
    s = fs[0].reshape(c, -1).double()
    mc, ms = x.mean(1, keepdim=True), s.mean(1, keepdim=True)
    xc, sc = x - mc, s - ms
    cov_c = xc @ xc.T / x.shape[1]
    cov_s = sc @ sc.T / s.shape[1]
    out = tm.sym_pow(cov_s, 0.5, EPS, CUTOFF) @ tm.sym_pow(cov_c, -0.5, EPS, CUTOFF) @ xc + ms
    out = alpha * out + (1 - alpha) * x
    return out.float().reshape(fc.shape)


def wct(weights, content: np.ndarray, style: np.ndarray, alpha: float = 1.0, levels=(5, 4, 3, 2, 1),
        padding: str = "layer"):
    img, sty = _t(content), _t(style)
    with torch.no_grad():
        for level in levels:
            enc, dec = tm.load_encoder(weights, level, padding), tm.load_decoder(weights, level, padding)
            img = dec(wct_features(enc(img), enc(sty), alpha))
    return np.clip(_img(img), 0, 1)


def adain(weights, decoder: tm.Decoder, content: np.ndarray, style: np.ndarray, alpha: float = 1.0,
          transform: str = "covariance"):
    """Level 4, the transform ("covariance": mean and covariance, as WCT; "moments": mean and
    std), the decoder."""
    enc = tm.load_encoder(weights, 4, decoder.padding)     # a pair shares its padding
    with torch.no_grad():
        if transform == "covariance":
            return np.clip(_img(decoder(wct_features(enc(_t(content)), enc(_t(style)), alpha))), 0, 1)
        fc, fs = enc(_t(content)).double(), enc(_t(style)).double()
        mc, ms = fc.mean((2, 3), keepdim=True), fs.mean((2, 3), keepdim=True)
        sc = (fc.var((2, 3), keepdim=True, unbiased=False) + EPS).sqrt()
        ss = (fs.var((2, 3), keepdim=True, unbiased=False) + EPS).sqrt()
        t = alpha * ((fc - mc) / sc * ss + ms) + (1 - alpha) * fc
        return np.clip(_img(decoder(t.float())), 0, 1)
