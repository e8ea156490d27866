"""Style losses of "Demystifying Neural Style Transfer" (Li et al. 2017), one module for all training.

Style is the distribution of a layer's feature vectors (the columns of X = C×M, M positions);
matching it is minimising a maximum mean discrepancy (MMD) between the generated and style
feature distributions. With kernel k:

    MMD² = 1/M² Σᵢⱼ k(xᵢ, xⱼ) + 1/M² Σᵢⱼ k(sᵢ, sⱼ) − 2/M² Σᵢⱼ k(xᵢ, sⱼ)

- ``gram``: Gatys' loss ‖G(x) − G(s)‖²_F / (4 C² M²) with G = X Xᵀ; equals MMD² with the
  polynomial kernel k(x, y) = (xᵀy)² divided by 4 C².
- ``linear``: k(x, y) = xᵀy, i.e. ‖μ(x) − μ(s)‖².
- ``poly``: k(x, y) = (xᵀy + c)^d with d = 2 (c = 0 gives the Gram loss up to 4 C²).
- ``gaussian``: k(x, y) = exp(−‖x − y‖² / 2σ²) with the linear-time unbiased estimator
  (Gretton et al. 2012), σ² the mean squared distance of the sampled pairs.
- ``bn``: batch-normalisation statistics, MSE of channel means plus MSE of channel standard
  deviations (AdaIN's style loss, as in its reference implementation).
Every loss takes feature tensors N×C×H×W and returns one scalar averaged over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

KINDS = ("gram", "linear", "poly", "gaussian", "bn")
BN_EPS = 1e-5


def _flat(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    return f.reshape(n, c, h * w)


def gram(f: torch.Tensor) -> torch.Tensor:
    """N×C×C Gram matrices X Xᵀ / M (normalised by the number of positions)."""
    x = _flat(f)
    return x @ x.transpose(1, 2) / x.shape[2]


def gram_loss(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    return ((gram(x) - gram(s)) ** 2).sum(dim=(1, 2)).mean() / (4 * c * c)


def linear_loss(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return ((_flat(x).mean(2) - _flat(s).mean(2)) ** 2).sum(1).mean()


def poly_mmd(x: torch.Tensor, s: torch.Tensor, c: float = 0.0, d: int = 2) -> torch.Tensor:
    """Biased MMD² with k(x, y) = (xᵀy + c)^d, per sample, averaged over the batch."""
    fx, fs = _flat(x), _flat(s)
    kxx = ((fx.transpose(1, 2) @ fx + c) ** d).mean(dim=(1, 2))
    kss = ((fs.transpose(1, 2) @ fs + c) ** d).mean(dim=(1, 2))
    kxs = ((fx.transpose(1, 2) @ fs + c) ** d).mean(dim=(1, 2))
    return (kxx + kss - 2 * kxs).mean()


def poly_loss(x: torch.Tensor, s: torch.Tensor, c: float = 1.0, d: int = 2) -> torch.Tensor:
    return poly_mmd(x, s, c, d) / (4 * x.shape[1] ** 2)


def gaussian_mmd(x: torch.Tensor, s: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Linear-time unbiased MMD² estimate with a Gaussian kernel (Gretton et al. 2012, §6)."""
    fx, fs = _flat(x).transpose(1, 2), _flat(s).transpose(1, 2)   # N×M×C
    m = min(fx.shape[1], fs.shape[1]) // 2 * 2
    ix = torch.randperm(fx.shape[1], generator=generator, device="cpu")[:m].to(fx.device)
    is_ = torch.randperm(fs.shape[1], generator=generator, device="cpu")[:m].to(fs.device)
    x1, x2 = fx[:, ix[0::2]], fx[:, ix[1::2]]
    y1, y2 = fs[:, is_[0::2]], fs[:, is_[1::2]]
    d = [((a - b) ** 2).sum(-1) for a, b in ((x1, x2), (y1, y2), (x1, y2), (x2, y1))]
    sigma2 = torch.stack(d).mean().detach().clamp_min(1e-12)
    k = [torch.exp(-t / (2 * sigma2)) for t in d]
    return (k[0] + k[1] - k[2] - k[3]).mean()


def bn_loss(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    fx, fs = _flat(x), _flat(s)
    mx, ms = fx.mean(2), fs.mean(2)
    sx = (fx.var(2, unbiased=False) + BN_EPS).sqrt()
    ss = (fs.var(2, unbiased=False) + BN_EPS).sqrt()
    return ((mx - ms) ** 2).mean() + ((sx - ss) ** 2).mean()


_LOSSES = {"gram": gram_loss, "linear": linear_loss, "poly": poly_loss,
           "gaussian": gaussian_mmd, "bn": bn_loss}


class StyleLoss(torch.nn.Module):
    """Sum over layers of a style loss, or of a weighted fusion of two (e.g. {"gram": .5, "bn": .5})."""

    def __init__(self, kinds: str | dict[str, float] = "gram"):
        super().__init__()
        self.weights = {kinds: 1.0} if isinstance(kinds, str) else dict(kinds)
        unknown = set(self.weights) - set(KINDS)
        if unknown or not 1 <= len(self.weights) <= 2:
            raise ValueError(f"style loss must be one or two of {KINDS}, got {list(self.weights)}")

    def forward(self, xs: Sequence[torch.Tensor], ss: Sequence[torch.Tensor]) -> torch.Tensor:
        total = xs[0].new_zeros(())
        for x, s in zip(xs, ss):
            if s.shape[0] != x.shape[0]:
                s = s.expand(x.shape[0], *s.shape[1:])
            for kind, w in self.weights.items():
                total = total + w * _LOSSES[kind](x, s)
        return total


def parse(spec: str) -> str | dict[str, float]:
    """'gram' -> 'gram'; 'gram:0.7,bn:0.3' -> {'gram': 0.7, 'bn': 0.3}."""
    if ":" not in spec:
        return spec
    return {k: float(v) for k, v in (part.split(":") for part in spec.split(","))}
