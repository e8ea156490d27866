#!/usr/bin/env python3
"""Train the AdaIN decoder for our level-4 encoder (Huang & Belongie 2017).

Losses: content = MSE(encoder4(decoder(t)), t) with t the AdaIN target; style = BN statistics
(mean/std MSE, scripts/style_losses.py) at relu1_1 ... relu4_1 of the loss network (the level-5
encoder's aux heads); total = content + λ·style. Data: random 256 px crops (with flips) of the
training split only (scripts/dataset.py keeps the held-out photos and paintings out).
Resumable: a checkpoint every --save-every steps; a CSV loss log; seeded.
The result is a state dict in the wct16x decoder format, exported to ONNX by export_onnx.py as
``adain_decoder4`` (what ``method="adain"`` uses when present).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402
import style_losses  # noqa: E402
import torch_models as tm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def load_images(folder: Path, kind: str) -> list[torch.Tensor]:
    """uint8 3×H×W tensors of the training split (already resized by dataset.py)."""
    return [torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).contiguous()
            for p in dataset.training_files(folder, kind)]


def batch(images: list[torch.Tensor], n: int, size: int, rng: random.Random, device) -> torch.Tensor:
    crops = []
    for img in rng.choices(images, k=n):
        _, h, w = img.shape
        if min(h, w) < size:
            img = torch.nn.functional.interpolate(img[None].float(), scale_factor=size / min(h, w) + 1e-3,
                                                  mode="bilinear")[0].to(torch.uint8)
            _, h, w = img.shape
        y, x = rng.randrange(h - size + 1), rng.randrange(w - size + 1)
        crop = img[:, y:y + size, x:x + size]
        crops.append(crop.flip(2) if rng.random() < 0.5 else crop)
    return torch.stack(crops).to(device, non_blocking=True).float() / 255.0


def covariance(c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Each content's features given its style's mean and covariance (whitening and colouring,
    nst_core's default AdaIN transform), per sample of the batch."""
    out = []
    for fc, fs in zip(c, s):
        x, y = fc.reshape(fc.shape[0], -1).double(), fs.reshape(fs.shape[0], -1).double()
        mx, my = x.mean(1, keepdim=True), y.mean(1, keepdim=True)
        xc, yc = x - mx, y - my
        t = tm.sym_pow(yc @ yc.T / y.shape[1], 0.5) @ tm.sym_pow(xc @ xc.T / x.shape[1], -0.5) @ xc + my
        out.append(t.float().reshape(fc.shape))
    return torch.stack(out)


def adain(c: torch.Tensor, s: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    cm, cs = c.mean((2, 3), keepdim=True), (c.var((2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    sm, ss = s.mean((2, 3), keepdim=True), (s.var((2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    return (c - cm) / cs * ss + sm


def efdm(c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Exact feature distribution matching (Zhang et al., CVPR 2022): each content channel's
    values, in their order, replaced by the style channel's sorted values (resampled to the
    content's count), per sample of the batch."""
    fc, fs = c.flatten(2), s.flatten(2).sort(2).values
    at = torch.linspace(0, fs.shape[2] - 1, fc.shape[2], device=c.device).round().long()
    return torch.empty_like(fc).scatter_(2, fc.argsort(2), fs[..., at]).reshape(c.shape)


TRANSFORMS = {"covariance": covariance, "moments": adain, "efdm": efdm}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT / "build" / "data512", help="resized copy (dataset.py)")
    p.add_argument("--weights", type=Path, default=ROOT / "build" / "weights")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "train_adain")
    p.add_argument("--init", default="recon",
                   help="'recon' (the level-4 reconstruction decoder), 'scratch' (random weights) "
                        "or the path of a decoder state dict to fine-tune (e.g. the shipped one)")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--minutes", type=float, default=None, help="stop after this wall time")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lr-decay", type=float, default=5e-5)
    p.add_argument("--style-weight", type=float, default=10.0, help="λ")
    p.add_argument("--style-loss", default="bn", help="e.g. bn, gram, or gram:0.5,bn:0.5")
    p.add_argument("--transform", choices=tuple(TRANSFORMS), default="covariance",
                   help="the target the decoder learns to invert: mean and covariance (nst_core's "
                        "default), mean and std (the AdaIN paper's, the shipped decoder's first "
                        "28,271 steps) or each channel's sorted values (EFDM; measured, not shipped)")
    p.add_argument("--save-every", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    encoder = tm.load_encoder(args.weights, 4).to(device).requires_grad_(False)
    features = tm.load_features(args.weights).to(device).requires_grad_(False)
    init = args.init if args.init in ("recon", "scratch") else Path(args.init)
    state = tm.load_state_dict(init if isinstance(init, Path) else args.weights / "decoder4.pth")
    decoder = tm.Decoder(state, 4)
    if args.init == "scratch":
        for m in decoder.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.reset_parameters()
    decoder = decoder.to(device).train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=args.lr)
    style_loss = style_losses.StyleLoss(style_losses.parse(args.style_loss))

    args.out.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.out / "checkpoint.pt"
    step = 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        decoder.load_state_dict(ckpt["decoder"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step, rng = ckpt["step"], ckpt["rng"]
        torch.set_rng_state(ckpt["torch_rng"].cpu())
        print(f"resumed at step {step}")
    contents = load_images(args.data / "content", "content")
    styles = load_images(args.data / "style", "style")
    print(f"{len(contents)} content and {len(styles)} style images; device {device}")

    def save():
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"decoder": decoder.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    "rng": rng, "torch_rng": torch.get_rng_state(), "args": vars(args)}, tmp)
        tmp.replace(ckpt_path)
        out = {k.replace("convs.", ""): v.detach().cpu().clone() for k, v in decoder.state_dict().items()}
        torch.save(out, args.out / "adain_decoder4.pth")

    log = open(args.out / "loss.csv", "a", newline="")
    writer = csv.writer(log)
    if step == 0:
        writer.writerow(["step", "loss", "content", "style", "lr", "seconds"])
    start = time.time()
    acc = torch.zeros(3, device=device)
    every = 50
    while step < args.steps:
        lr = args.lr / (1 + args.lr_decay * step)
        for g in optimizer.param_groups:
            g["lr"] = lr
        c = batch(contents, args.batch, args.size, rng, device)
        s = batch(styles, args.batch, args.size, rng, device)
        with torch.no_grad():
            t = TRANSFORMS[args.transform](encoder(c), encoder(s))
            s_feats = features(s)
        out = decoder(t)
        loss_c = torch.nn.functional.mse_loss(encoder(out), t)
        loss_s = style_loss(features(out), s_feats)
        loss = loss_c + args.style_weight * loss_s
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        acc += torch.stack([loss.detach(), loss_c.detach(), loss_s.detach()])
        if step % every == 0:
            mean = (acc / every).tolist()
            writer.writerow([step, *(round(x, 6) for x in mean), f"{lr:.3g}", round(time.time() - start, 1)])
            log.flush()
            if step % (every * 20) == 0:
                print(f"step {step} loss {mean[0]:.4f} content {mean[1]:.4f} style {mean[2]:.4f} "
                      f"{time.time() - start:.0f}s", flush=True)
            acc.zero_()
        if step % args.save_every == 0:
            save()
        if args.minutes and time.time() - start > args.minutes * 60:
            break
    save()
    print(f"stopped at step {step} after {time.time() - start:.0f}s; wrote {args.out / 'adain_decoder4.pth'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
