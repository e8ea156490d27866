"""Style losses of "Demystifying Neural Style Transfer" against direct kernel formulas."""

from __future__ import annotations

import pytest
import torch

import style_losses as sl


def _pair(seed=0, n=2, c=4, h=3, w=5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, h, w, generator=g, dtype=torch.float64), \
        torch.randn(n, c, h, w, generator=g, dtype=torch.float64) * 2 + 0.5


def _mmd_direct(x, s, k):
    """Biased MMD² from its definition, one sample: mean k(x,x') + mean k(s,s') - 2 mean k(x,s)."""
    X, S = x.reshape(x.shape[0], -1).T, s.reshape(s.shape[0], -1).T   # M×C
    kxx = torch.stack([torch.stack([k(a, b) for b in X]) for a in X]).mean()
    kss = torch.stack([torch.stack([k(a, b) for b in S]) for a in S]).mean()
    kxs = torch.stack([torch.stack([k(a, b) for b in S]) for a in X]).mean()
    return kxx + kss - 2 * kxs


def test_gram_loss_is_polynomial_mmd_over_4c2():
    x, s = _pair()
    c = x.shape[1]
    direct = torch.stack([_mmd_direct(x[i], s[i], lambda a, b: (a @ b) ** 2) for i in range(2)]).mean()
    assert sl.gram_loss(x, s).item() == pytest.approx(direct.item() / (4 * c * c), rel=1e-10)
    assert sl.poly_mmd(x, s, c=0.0, d=2).item() == pytest.approx(direct.item(), rel=1e-10)


def test_gram_loss_direct_frobenius():
    x, s = _pair(1)
    X, S = x[0].reshape(4, -1), s[0].reshape(4, -1)
    m = X.shape[1]
    direct = ((X @ X.T - S @ S.T) ** 2).sum() / (4 * 16 * m * m)
    assert sl.gram_loss(x[:1], s[:1]).item() == pytest.approx(direct.item(), rel=1e-10)


def test_linear_kernel_is_mean_difference():
    x, s = _pair(2)
    direct = torch.stack([_mmd_direct(x[i], s[i], lambda a, b: a @ b) for i in range(2)]).mean()
    assert sl.linear_loss(x, s).item() == pytest.approx(direct.item(), rel=1e-10)


def test_polynomial_kernel_with_offset():
    x, s = _pair(3)
    direct = torch.stack([_mmd_direct(x[i], s[i], lambda a, b: (a @ b + 1.0) ** 2) for i in range(2)]).mean()
    assert sl.poly_mmd(x, s, c=1.0, d=2).item() == pytest.approx(direct.item(), rel=1e-10)
    assert sl.poly_loss(x, s).item() == pytest.approx(direct.item() / 64, rel=1e-10)


def test_gaussian_linear_time_estimator():
    x, s = _pair(4, n=1, h=4, w=4)
    gen = torch.Generator().manual_seed(7)
    got = sl.gaussian_mmd(x, s, generator=torch.Generator().manual_seed(7)).item()
    X, S = x[0].reshape(4, -1).T, s[0].reshape(4, -1).T
    ix, is_ = torch.randperm(16, generator=gen), torch.randperm(16, generator=gen)
    x1, x2, y1, y2 = X[ix[0::2]], X[ix[1::2]], S[is_[0::2]], S[is_[1::2]]
    d = [((a - b) ** 2).sum(-1) for a, b in ((x1, x2), (y1, y2), (x1, y2), (x2, y1))]
    sigma2 = torch.stack(d).mean()
    k = [torch.exp(-t / (2 * sigma2)) for t in d]
    assert got == pytest.approx((k[0] + k[1] - k[2] - k[3]).mean().item(), rel=1e-10)


def test_gaussian_estimator_is_unbiased_near_zero_for_one_distribution():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 8, 64, 64, generator=g, dtype=torch.float64)
    y = torch.randn(1, 8, 64, 64, generator=g, dtype=torch.float64)
    far = sl.gaussian_mmd(x, y + 3, generator=g).item()
    near = sl.gaussian_mmd(x, y, generator=g).item()
    assert abs(near) < 0.02 < far


def test_bn_statistics():
    x, s = _pair(6)
    fx, fs = x.reshape(2, 4, -1), s.reshape(2, 4, -1)
    direct = ((fx.mean(2) - fs.mean(2)) ** 2).mean() + \
        (((fx.var(2, unbiased=False) + 1e-5).sqrt() - (fs.var(2, unbiased=False) + 1e-5).sqrt()) ** 2).mean()
    assert sl.bn_loss(x, s).item() == pytest.approx(direct.item(), rel=1e-10)


def test_fusion_and_layers():
    x, s = _pair(7)
    fused = sl.StyleLoss({"gram": 0.3, "bn": 0.7})([x, x * 2], [s, s])
    expected = sum(0.3 * sl.gram_loss(a, s) + 0.7 * sl.bn_loss(a, s) for a in (x, x * 2))
    assert fused.item() == pytest.approx(expected.item(), rel=1e-12)
    assert sl.parse("gram:0.3,bn:0.7") == {"gram": 0.3, "bn": 0.7}
    with pytest.raises(ValueError):
        sl.StyleLoss({"gram": 1, "bn": 1, "linear": 1})


def test_losses_are_zero_for_identical_features():
    x, _ = _pair(8)
    for kind in ("gram", "linear", "poly", "bn"):
        assert sl.StyleLoss(kind)([x], [x]).item() == pytest.approx(0.0, abs=1e-12)
