#!/usr/bin/env python3
"""Export the wct16x networks (and our own trained decoders) to ONNX with a manifest.json.

Each model has dynamic height and width (opset 17). The manifest lists, per model: file, kind
(encoder / decoder / features), level, channels, input and output names, and sha256; ``nst_core``
reads it to find models and to verify them before use.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_models as tm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = ROOT / "build" / "weights"
DEFAULT_OUT = ROOT / "build" / "models"
# Weights our own scripts trained, committed to the repository (see their model cards).
TRAINED_DIR = ROOT / "scripts" / "trained"
OPSET = 17
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(module: torch.nn.Module, path: Path, input_name: str, output_names: list[str],
           in_channels: int) -> None:
    """Export with dynamic batch, height and width; write atomically."""
    dummy = torch.rand(1, in_channels, 64, 64)
    axes = {input_name: {0: "batch", 2: "height", 3: "width"}}
    axes.update({n: {0: "batch", 2: f"{n}_height", 3: f"{n}_width"} for n in output_names})
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(module, (dummy,), tmp, input_names=[input_name],
                              output_names=output_names, dynamic_axes=axes, opset_version=OPSET,
                              dynamo=False, do_constant_folding=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export_all(weights: Path, out: Path, log=print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    models: dict[str, dict] = {}

    def add(name, module, kind, level, in_ch, channels, input_name, output_names, source):
        path = out / f"{name}.onnx"
        export(module, path, input_name, output_names, in_ch)
        models[name] = {"file": path.name, "kind": kind, "level": level, "channels": channels,
                        "inputs": [input_name], "outputs": output_names,
                        "sha256": _sha256(path), "source": source}
        log(f"exported {path}")

    for level in tm.LEVELS:
        enc = tm.load_encoder(weights, level)
        channels = enc.convs[f"conv{level}1"].out_channels
        add(f"encoder{level}", enc, "encoder", level, 3, channels, "image", ["features"],
            f"wct16x encoder{level}.pth")
        dec = tm.load_decoder(weights, level)
        add(f"decoder{level}", dec, "decoder", level, channels, 3, "features", ["image"],
            f"wct16x decoder{level}.pth")
    add("features", tm.load_features(weights), "features", 4, 3, [64, 128, 256, 512], "image",
        ["relu1_1", "relu2_1", "relu3_1", "relu4_1"], "wct16x encoder5.pth aux heads")
    for trained in sorted(TRAINED_DIR.glob("*_decoder*.pth")) if TRAINED_DIR.is_dir() else []:
        level = int(trained.stem[-1])
        dec = tm.Decoder(tm.load_state_dict(trained), level).eval()
        add(trained.stem, dec, "decoder", level, dec.convs[f"conv{level}1"].in_channels, 3,
            "features", ["image"], f"scripts/trained/{trained.name}")

    manifest = {"format_version": 1, "opset": OPSET, "torch": torch.__version__, "models": models}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, out / MANIFEST)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS,
                        help=f"folder with the .pth files (default: {DEFAULT_WEIGHTS})")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("NST_MODELS_DIR", DEFAULT_OUT)),
                        help="models folder (default: $NST_MODELS_DIR, else build/models)")
    args = parser.parse_args(argv)
    missing = [f"encoder{i}.pth" for i in tm.LEVELS if not (args.weights / f"encoder{i}.pth").is_file()]
    if missing:
        print(f"export_onnx: error: {args.weights} lacks {', '.join(missing)}; run "
              "`python scripts/fetch_weights.py` first", file=sys.stderr)
        return 1
    export_all(args.weights, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
