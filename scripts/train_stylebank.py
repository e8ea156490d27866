#!/usr/bin/env python3
"""Train StyleBank banks (Chen et al. 2017): one convolution bank per style between an encoder
E and a decoder D.

Two architectures:
- ``frozen`` (shipped): E = our pretrained level-4 encoder and D = our trained level-4 AdaIN
  decoder, both frozen; only the banks learn. E's relu4_1 features are whitened per image
  (``--input whitened``, the default since 2026-12-02: W (f − μ) with W the inverse square root
  of their covariance) and a bank is a 3×3 convolution 128→128 on them, initialised as the
  style's colouring (centre tap C_s^½, bias μ_s), so an untrained bank is exactly WCT at
  level 4 and training refines it with the style loss. ``--input normalised`` is the earlier
  variant: instance-normalised features (as the paper's E ends with instance norm) and a bank
  initialised as AdaIN (centre tap diag(σ_s)). Several style weights can be tried
  per style; the one kept is chosen on validation photos. New styles are learned one at a time
  the same way (`scripts/learn_style.py`), so incremental and built-in banks are trained alike.
- ``paper``: the paper's E (9×9 stride 1, 3×3 stride 2, 3×3 stride 2, instance norm + ReLU),
  mirrored D and 3×3 banks, trained jointly with the (T+1) schedule: T steps of the stylizing
  branch (content + style + total variation), then one step of the auto-encoder branch (pixel
  MSE) that updates only E and D.

Loss network: the level-5 encoder's aux heads (relu1_1 … relu4_1); content at relu4_1; style
from scripts/style_losses.py (Gram by default, any kernel or a fusion). Losses are divided by
their values at the first step, so --style-weight is relative. Data: random crops of the
training split (held-out photos never seen). Resumable; CSV log; seeded.

    python scripts/train_stylebank.py --styles vangogh_starry_night,hokusai_great_wave --steps 200
    python scripts/train_stylebank.py --style-image my.jpg --name my_style   # one new bank

Writes one `<name>.npz` per style (weight 128×128×3×3 and bias 128, float16) into --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import style_losses  # noqa: E402
import torch_models as tm  # noqa: E402
from train_adain import batch, load_images  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CHANNELS = 128
BUILTIN = ("vangogh_starry_night", "hokusai_great_wave", "munch_the_scream",
           "kandinsky_composition_vii", "monet_water_lilies_1919", "cezanne_still_life_apples",
           "gauguin_tahitian_women", "turner_the_shipwreck", "toulouse_lautrec_in_bed",
           "vangogh_night_cafe", "monet_etretat", "sakai_hoitsu_flowers")


def bank_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """A bank applied to features: reflection-padded 3×3 convolution (as exported to ONNX)."""
    return nn.functional.conv2d(nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"), weight, bias)


def adain_init(style_mean: torch.Tensor, style_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The bank that reproduces AdaIN on normalised features: centre tap diag(σ_s), bias μ_s."""
    weight = torch.zeros(CHANNELS, CHANNELS, 3, 3, device=style_std.device)
    idx = torch.arange(CHANNELS, device=style_std.device)
    weight[idx, idx, 1, 1] = style_std
    return weight, style_mean.clone()


def colouring_init(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The bank that colours whitened features with the style's statistics: centre tap C_s^½,
    bias μ_s (f: the style's 1×C×h×w encoder features)."""
    flat = f[0].reshape(f.shape[1], -1).double()
    mean = flat.mean(1)
    centred = flat - mean[:, None]
    weight = torch.zeros(CHANNELS, CHANNELS, 3, 3, device=f.device)
    weight[:, :, 1, 1] = tm.sym_pow(centred @ centred.T / flat.shape[1], 0.5).float()
    return weight, mean.float()


def whiten(f: torch.Tensor) -> torch.Tensor:
    """Each image's features made white: W (f − μ), W = C^-½ of its own features (float64 math);
    nst_core takes μ and C over the whole image when it tiles."""
    n, c = f.shape[:2]
    flat = f.reshape(n, c, -1).double()
    centred = flat - flat.mean(2, keepdim=True)
    out = [tm.sym_pow(x @ x.T / x.shape[1], -0.5) @ x for x in centred]
    return torch.stack(out).float().reshape(f.shape)


def prepare(f: torch.Tensor, kind: str) -> torch.Tensor:
    """The input a bank reads: "whitened" or "normalised" features."""
    return whiten(f) if kind == "whitened" else normalise(f)


def normalise(f: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Instance normalisation of encoder features (per image and channel), as the paper's E ends
    with; nst_core computes the same statistics over the whole image when it tiles."""
    mean = f.mean((2, 3), keepdim=True)
    return (f - mean) / (f.var((2, 3), keepdim=True, unbiased=False) + eps).sqrt()


def stats(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = f.transpose(0, 1).reshape(f.shape[1], -1).double()
    return flat.mean(1).float(), (flat.var(1, unbiased=False) + 1e-5).sqrt().float()


def load_style(path: Path, size: int) -> torch.Tensor:
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((size, size), Image.Resampling.LANCZOS)
        return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None]


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def load_eval_images(folder: Path, size: int = 512, multiple: int = 8) -> list[torch.Tensor]:
    """Held-out photos at ``size`` px on the long side, sides rounded to ``multiple``."""
    out = []
    for path in sorted(folder.iterdir()):
        with Image.open(path) as im:
            im = im.convert("RGB")
            scale = size / max(im.size)
            w, h = (max(multiple, round(d * scale / multiple) * multiple) for d in im.size)
            im = im.resize((w, h), Image.Resampling.LANCZOS)
            out.append(torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None])
    return out


def _style_distance(a, b) -> float:
    return sum(float((x[0] - y[0]).norm() + (x[1] - y[1]).norm()) for x, y in zip(a, b))


def _metric_stats(features, x):
    feats = features(x)
    stats = []
    for f in feats:
        flat = f[0].reshape(f.shape[1], -1).double()
        stats.append((flat.mean(1), flat.std(1, unbiased=False)))
    return stats, feats[-1].double()


@torch.no_grad()
def evaluate(features, stylize, contents: list[torch.Tensor], style: torch.Tensor, device) -> dict:
    """Mean style gain G and content distance C (the project's metric, nst_core/metrics.py)."""
    s_stats, _ = _metric_stats(features, style.to(device))
    gains, dists = [], []
    for c in contents:
        c = c.to(device)
        out = stylize(c).clamp(0, 1)
        c_stats, c4 = _metric_stats(features, c)
        o_stats, o4 = _metric_stats(features, out)
        gains.append(1 - _style_distance(o_stats, s_stats) / _style_distance(c_stats, s_stats))
        dists.append(float(((o4 - c4) ** 2).sum() / (c4 ** 2).sum()))
    return {"G": round(float(np.mean(gains)), 4), "C": round(float(np.mean(dists)), 4)}


class PaperNet(nn.Module):
    """The paper's encoder and decoder (instance norm + ReLU), around 3×3 banks."""

    def __init__(self, n_styles: int):
        super().__init__()
        def block(i, o, k, s):
            return [nn.Conv2d(i, o, k, s, k // 2, padding_mode="reflect"), nn.InstanceNorm2d(o, affine=True),
                    nn.ReLU(inplace=True)]
        self.encoder = nn.Sequential(*block(3, 32, 9, 1), *block(32, 64, 3, 2), *block(64, CHANNELS, 3, 2))
        self.decoder = nn.Sequential(nn.Upsample(scale_factor=2), *block(CHANNELS, 64, 3, 1),
                                     nn.Upsample(scale_factor=2), *block(64, 32, 3, 1),
                                     nn.Conv2d(32, 3, 9, 1, 4, padding_mode="reflect"))
        self.weight = nn.Parameter(torch.randn(n_styles, CHANNELS, CHANNELS, 3, 3) * 0.01)
        self.bias = nn.Parameter(torch.zeros(n_styles, CHANNELS))

    def forward(self, x: torch.Tensor, style: int | None) -> torch.Tensor:
        f = self.encoder(x)
        if style is not None:
            f = bank_conv(f, self.weight[style], self.bias[style])
        return self.decoder(f)


def save_bank(path: Path, weight: torch.Tensor, bias: torch.Tensor, meta: dict) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, weight=weight.detach().cpu().numpy().astype(np.float16),
                        bias=bias.detach().cpu().numpy().astype(np.float16),
                        meta=np.array(json.dumps(meta)))
    tmp.replace(path)


class Trainer:
    """Shared pieces of a run: loss network, style loss, data, held-out photos, RNG."""

    def __init__(self, args, device, progress=print):
        self.args, self.device, self.progress = args, device, progress
        self.features = tm.load_features(args.weights).to(device).requires_grad_(False)
        self.loss_style = style_losses.StyleLoss(style_losses.parse(args.style_loss))
        self.rng = random.Random(args.seed)
        torch.manual_seed(args.seed)
        self.contents = load_images(args.data / "content", "content")
        self.heldout = load_eval_images(args.eval) if args.eval else []
        self.style_weight = float(str(args.style_weight).split(",")[0])

    def batch(self) -> torch.Tensor:
        return batch(self.contents, self.args.batch, self.args.size, self.rng, self.device)

    def style(self, path: Path) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        image = load_style(path, self.args.style_size).to(self.device)
        with torch.no_grad():
            return image, self.features(image)

    def losses(self, out, content, style_feats):
        """(content, style, tv) losses of a stylized batch."""
        feats = self.features(out)
        with torch.no_grad():
            target = self.features(content)[-1]
        return (nn.functional.mse_loss(feats[-1], target), self.loss_style(feats, style_feats),
                tv_loss(out))

    def learn_bank(self, name, encoder, decoder, weight, bias, style_feats, steps, log_path):
        """Train one bank (weight, bias leaf tensors) with E and D frozen."""
        args = self.args
        optimizer = torch.optim.Adam([weight, bias], lr=args.lr)
        with open(log_path, "w", newline="") as log_file:
            log = csv.writer(log_file)
            log.writerow(["step", "loss", "content", "style", "tv", "seconds"])
            start, norms = time.time(), None
            for step in range(1, steps + 1):
                c = self.batch()
                with torch.no_grad():
                    fc = encoder(c)
                out = decoder(bank_conv(fc, weight, bias))
                lc, ls, lt = self.losses(out, c, style_feats)
                if norms is None:
                    norms = (lc.item() or 1.0, ls.item() or 1.0)
                loss = lc / norms[0] + self.style_weight * ls / norms[1] + args.tv_weight * lt
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if step % 50 == 0 or step == steps:
                    log.writerow([step, round(loss.item(), 5), round(lc.item(), 5), round(ls.item(), 6),
                                  round(lt.item(), 5), round(time.time() - start, 1)])
                    log_file.flush()                # readable while a long CPU run goes on
                if step % 50 == 0 or step in (2, 10, steps):    # an early estimate, then every 50
                    left = (time.time() - start) / step * (steps - step)
                    self.progress(f"{name}: step {step}/{steps}, loss {loss.item():.3f}, "
                                  f"about {left:.0f} s left")
        return time.time() - start


def train_frozen(args, names: list[str], style_paths: list[Path], device, progress=print) -> dict:
    """One bank per style between the frozen level-4 encoder and AdaIN decoder.

    With several --style-weight values, a bank is trained for each and the one with the highest
    style gain whose content distance stays within --max-content on validation photos (training
    photos, never the held-out ones) is kept; the held-out photos only report the result."""
    tr = Trainer(args, device, progress)
    encoder = tm.load_encoder(args.weights, 4).to(device).requires_grad_(False)
    decoder = tm.Decoder(tm.load_state_dict(args.decoder), 4).eval().to(device).requires_grad_(False)
    validation = load_eval_images(args.validation) if args.validation else []
    validation = [v for v in validation][:args.validation_count]
    weights = [float(x) for x in str(args.style_weight).split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name, path in zip(names, style_paths):
        target = args.out / f"{name}.npz"
        if target.exists() and not args.overwrite:
            progress(f"{name}: exists, skipped (--overwrite to retrain)")
            continue
        style, style_feats = tr.style(path)
        kind = args.input
        run = lambda w, b: (lambda c: decoder(bank_conv(prepare(encoder(c), kind), w, b)))  # noqa: E731
        with torch.no_grad():
            fs = encoder(style)
            init = colouring_init(fs) if kind == "whitened" else adain_init(*stats(fs))
        candidates = []
        for style_weight in weights:
            tr.style_weight = style_weight
            weight = init[0].clone().requires_grad_(True)
            bias = init[1].clone().requires_grad_(True)
            seconds = tr.learn_bank(name, lambda c: prepare(encoder(c), kind), decoder, weight, bias,
                                    style_feats, args.steps, args.out / f"{name}_loss.csv")
            val = evaluate(tr.features, run(weight, bias), validation, style, device) if validation else None
            candidates.append((style_weight, weight.detach(), bias.detach(), seconds, val))
            if args.keep_candidates:    # every candidate, for scoring held-out with evaluate.py
                save_bank(args.out / f"{name}@{style_weight:g}.npz", weight, bias,
                          {"name": name, "style_loss": args.style_loss, "style_weight": style_weight,
                           "steps": args.steps, "seconds": round(seconds, 1), "validation": val})
            if val is not None:
                progress(f"{name}: style weight {style_weight}: validation {val}")
        ok = [c for c in candidates if c[4] is None or c[4]["C"] <= args.max_content]
        style_weight, weight, bias, seconds, val = max(ok or [min(candidates, key=lambda c: c[4]["C"])],
                                                       key=lambda c: c[4]["G"] if c[4] else 0)
        held = {"init": evaluate(tr.features, run(*init), tr.heldout, style, device),
                "trained": evaluate(tr.features, run(weight, bias), tr.heldout, style, device)} \
            if tr.heldout else None
        meta = {"name": name, "style": path.name, "arch": "frozen", "input": kind, "steps": args.steps,
                "size": args.size, "batch": args.batch, "lr": args.lr, "style_loss": args.style_loss,
                "style_weight": style_weight, "tv_weight": args.tv_weight,
                "seconds": round(seconds, 1), "device": torch.cuda.get_device_name(device)
                if device.type == "cuda" else "cpu", "validation": {str(c[0]): c[4] for c in candidates},
                "heldout": held}
        save_bank(target, weight, bias, meta)
        summary[name] = meta
        progress(f"{name}: wrote {target} (style weight {style_weight})" + (f", held-out {held}" if held else ""))
    return summary


def train_paper(args, names: list[str], style_paths: list[Path], device, progress=print) -> dict:
    """The paper's architecture, trained jointly with the (T+1) schedule; with --incremental X,
    also a second joint run without X whose frozen E and D then learn X's bank alone."""
    tr = Trainer(args, device, progress)
    styles = {n: tr.style(p) for n, p in zip(names, style_paths)}

    def joint(subset: list[str]) -> PaperNet:
        torch.manual_seed(args.seed)
        net = PaperNet(len(subset)).to(device)
        ed_params = list(net.encoder.parameters()) + list(net.decoder.parameters())
        opt_style = torch.optim.Adam(net.parameters(), lr=args.paper_lr)
        opt_ae = torch.optim.Adam(ed_params, lr=args.paper_lr)
        start, norms = time.time(), {}
        for step in range(1, args.paper_steps + 1):
            c = tr.batch()
            if step % (args.t + 1) == 0:          # auto-encoder branch: E and D only
                loss = nn.functional.mse_loss(net(c, None), c)
                opt_ae.zero_grad(set_to_none=True)
                loss.backward()
                opt_ae.step()
                continue
            k = tr.rng.randrange(len(subset))
            lc, ls, lt = tr.losses(net(c, k), c, styles[subset[k]][1])
            norms.setdefault(k, (lc.item() or 1.0, ls.item() or 1.0))
            loss = lc / norms[k][0] + float(str(args.style_weight).split(',')[0]) * ls / norms[k][1] + args.tv_weight * lt
            opt_style.zero_grad(set_to_none=True)
            loss.backward()
            opt_style.step()
            if step % 500 == 0:
                progress(f"paper ({len(subset)} styles): step {step}/{args.paper_steps}, "
                         f"loss {loss.item():.3f}, {time.time() - start:.0f} s")
        net.seconds = time.time() - start
        return net.eval()

    def scores(net, k, name):
        return evaluate(tr.features, lambda c: net(c, k), tr.heldout, styles[name][0], device)

    net = joint(names)
    summary = {"joint": {n: scores(net, k, n) for k, n in enumerate(names)},
               "seconds": round(net.seconds, 1), "steps": args.paper_steps,
               "parameters": {"encoder+decoder": sum(p.numel() for p in net.encoder.parameters())
                              + sum(p.numel() for p in net.decoder.parameters()),
                              "bank": net.weight[0].numel() + net.bias[0].numel()}}
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save({"state": net.state_dict(), "names": names}, args.out / "paper_stylebank.pt")
    if args.incremental:
        x = args.incremental
        rest = [n for n in names if n != x]
        base = joint(rest).requires_grad_(False)
        weight = (torch.randn(CHANNELS, CHANNELS, 3, 3, device=device) * 0.01).requires_grad_(True)
        bias = torch.zeros(CHANNELS, device=device, requires_grad=True)
        seconds = tr.learn_bank(f"{x} (incremental)", base.encoder, base.decoder, weight, bias,
                                styles[x][1], args.steps, args.out / f"paper_{x}_incremental_loss.csv")
        inc = evaluate(tr.features, lambda c: base.decoder(bank_conv(base.encoder(c), weight, bias)),
                       tr.heldout, styles[x][0], device)
        summary["incremental"] = {"style": x, "joint": summary["joint"][x], "incremental": inc,
                                  "seconds": round(seconds, 1), "steps": args.steps}
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=("frozen", "paper"), default="frozen")
    p.add_argument("--input", choices=("whitened", "normalised"), default="whitened",
                   help="frozen arch: what a bank reads (whitened features, initialised as the "
                        "style's colouring; or instance-normalised, initialised as AdaIN)")
    p.add_argument("--styles", default=",".join(BUILTIN), help="painting file stems in --styles-dir")
    p.add_argument("--styles-dir", type=Path, default=DATA / "style")
    p.add_argument("--style-image", type=Path, help="learn one new style from this image")
    p.add_argument("--name", help="name of the new style (with --style-image)")
    p.add_argument("--data", type=Path, default=ROOT / "build" / "data512" if (ROOT / "build" / "data512").is_dir()
                   else DATA, help="content photos: the resized copy of scripts/dataset.py, else ../shared/data")
    p.add_argument("--weights", type=Path, default=ROOT / "build" / "weights")
    p.add_argument("--decoder", type=Path, default=ROOT / "scripts" / "trained" / "adain_decoder4.pth")
    p.add_argument("--out", type=Path, default=ROOT / "scripts" / "trained" / "stylebank")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=256, help="crop size")
    p.add_argument("--style-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--style-loss", default="gram", help="gram (default), linear, poly, gaussian, bn, or a fusion")
    p.add_argument("--style-weight", default="2", help="relative to the content loss; several "
                   "(comma-separated) train one bank each and keep the best on --validation")
    p.add_argument("--validation", type=Path, help="photos (training split) to choose among style weights")
    p.add_argument("--validation-count", type=int, default=12)
    p.add_argument("--max-content", type=float, default=0.45, help="content distance allowed on validation")
    p.add_argument("--tv-weight", type=float, default=1e-2)
    p.add_argument("--t", type=int, default=2, help="(T+1) schedule of the paper architecture")
    p.add_argument("--paper-steps", type=int, default=4000)
    p.add_argument("--paper-lr", type=float, default=1e-3)
    p.add_argument("--incremental", help="paper arch: also learn this style incrementally")
    p.add_argument("--eval", type=Path, help="held-out photos: report the metric before and after")
    p.add_argument("--summary", type=Path, help="write the run's summary (JSON) here")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--keep-candidates", action="store_true",
                   help="also save each style weight's bank as NAME@WEIGHT.npz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    if args.style_image:
        if not args.name:
            p.error("--style-image needs --name")
        names, paths = [args.name], [args.style_image]
    else:
        names = [s for s in args.styles.split(",") if s]
        paths = [next(iter(sorted(args.styles_dir.glob(f"{n}.*"))), args.styles_dir / n) for n in names]
    if not (args.data / "content").is_dir():
        p.error(f"no content photos in {args.data / 'content'}: run `python scripts/dataset.py` "
                "or pass --data with a content/ folder")
    missing = [str(q) for q in paths if not q.is_file()]
    if missing:
        p.error(f"style images not found: {', '.join(missing)}")
    device = torch.device(args.device)
    report = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    summary = (train_frozen if args.arch == "frozen" else train_paper)(args, names, paths, device, report)
    text = json.dumps(summary, indent=1)
    if args.summary:
        args.summary.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
