#!/usr/bin/env python3
"""Optimisation-based style transfer (Gatys et al.), the slow quality reference.

Optimises the pixels of an image (initialised with the content) to minimise

    C(x) + β · S_kind(x) / S_kind(content)

where C is the metric's content distance at relu4_1 (‖φ₄(x) − φ₄(c)‖² / ‖φ₄(c)‖²) and S_kind is
any style loss of scripts/style_losses.py (or a fusion of two) over relu1_1 … relu4_1 of the
loss network (the wct16x level-5 encoder's aux heads). Normalising the style term by its value
at the content image makes β comparable across kernels. L-BFGS; stops when the loss fell by less
than 0.5% over the last 10 iterations, or after --steps.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import style_losses  # noqa: E402
import torch_models as tm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 10
REL_TOL = 0.005


def optimize(net: tm.Features, content: np.ndarray, style: np.ndarray, kind="gram", beta: float = 1.0,
             steps: int = 300, log=None) -> tuple[np.ndarray, dict]:
    """content, style: float32 H×W×3 in [0, 1]. Returns (image, info)."""
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()  # noqa: E731
    c, s = to_t(content), to_t(style)
    loss_fn = style_losses.StyleLoss(style_losses.parse(kind) if isinstance(kind, str) else kind)
    with torch.no_grad():
        c_feats, s_feats = net(c), net(s)
        c4_norm = (c_feats[3] ** 2).sum()
        s0 = loss_fn(c_feats, s_feats).clamp_min(1e-12)
    x = c.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=50, line_search_fn="strong_wolfe")
    history: list[float] = []

    def closure():
        opt.zero_grad()
        feats = net(x.clamp(0, 1))
        loss = ((feats[3] - c_feats[3]) ** 2).sum() / c4_norm + beta * loss_fn(feats, s_feats) / s0
        loss.backward()
        return loss

    start = time.time()
    for step in range(steps):
        history.append(float(opt.step(closure).detach()))
        if len(history) > WINDOW and (history[-WINDOW - 1] - history[-1]) <= REL_TOL * abs(history[-WINDOW - 1]):
            break
        if log and step % 50 == 0:
            log(f"step {step} loss {history[-1]:.4f}")
    out = x.detach().clamp(0, 1)[0].permute(1, 2, 0).numpy()
    return out, {"steps": len(history), "loss": history[-1], "seconds": time.time() - start}


def main(argv=None) -> int:
    import nst_core
    from nst_core.images import fit_long_side

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("content")
    p.add_argument("style")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--loss", default="gram", help="gram, linear, poly, gaussian, bn, or e.g. gram:0.5,bn:0.5")
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--weights", type=Path, default=ROOT / "build" / "weights")
    args = p.parse_args(argv)
    net = tm.load_features(args.weights).requires_grad_(False)
    content = fit_long_side(nst_core.load_image(args.content)[..., :3], args.size)
    style = fit_long_side(nst_core.load_image(args.style)[..., :3], args.size)
    out, info = optimize(net, content, style, args.loss, args.beta, args.steps, log=print)
    nst_core.save_image(args.output, out)
    print(f"wrote {args.output}: {info['steps']} steps, loss {info['loss']:.4f}, {info['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
