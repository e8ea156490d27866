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
BANKS_DIR = TRAINED_DIR / "stylebank"     # built-in StyleBank banks (scripts/train_stylebank.py)
BANK_CHANNELS = 128


def bank_conv_graph(path: Path) -> None:
    """StyleBank's bank as one ONNX graph whose weights are inputs: features (1×128×h×w),
    weight (128×128×3×3), bias (128) -> reflection pad 1 -> 3×3 convolution."""
    import onnx
    from onnx import TensorProto, helper

    pads = helper.make_tensor("pads", TensorProto.INT64, [8], [0, 0, 1, 1, 0, 0, 1, 1])
    graph = helper.make_graph(
        [helper.make_node("Pad", ["features", "pads"], ["padded"], mode="reflect"),
         helper.make_node("Conv", ["padded", "weight", "bias"], ["stylized"], kernel_shape=[3, 3])],
        "stylebank_conv",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, BANK_CHANNELS, "h", "w"]),
         helper.make_tensor_value_info("weight", TensorProto.FLOAT, [BANK_CHANNELS, BANK_CHANNELS, 3, 3]),
         helper.make_tensor_value_info("bias", TensorProto.FLOAT, [BANK_CHANNELS])],
        [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, [1, BANK_CHANNELS, "h", "w"])],
        [pads])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=8)   # what opset 17 needs; older runtimes read it
    onnx.checker.check_model(model)
    onnx.save(model, path)


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

    path = out / "stylebank_conv.onnx"
    bank_conv_graph(path)
    models["stylebank_conv"] = {"file": path.name, "kind": "bank", "level": 4,
                                "channels": BANK_CHANNELS, "inputs": ["features", "weight", "bias"],
                                "outputs": ["stylized"], "sha256": _sha256(path), "source": "built here"}
    banks = {}
    (out / "stylebank").mkdir(exist_ok=True)
    for bank in sorted(BANKS_DIR.glob("*.npz")) if BANKS_DIR.is_dir() else []:
        target = out / "stylebank" / bank.name
        target.write_bytes(bank.read_bytes())
        banks[bank.stem] = {"file": f"stylebank/{bank.name}", "sha256": _sha256(target)}
    log(f"exported {path} and {len(banks)} StyleBank banks")
    manifest = {"format_version": 1, "opset": OPSET, "torch": torch.__version__, "models": models,
                "banks": banks}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, out / MANIFEST)
    try:
        write_previews(out, banks, log)
    except BaseException:
        (out / MANIFEST).unlink()       # so `make models` runs the export again
        raise
    return manifest


def write_previews(out: Path, banks: dict, log=print) -> None:
    """A thumbnail per built-in style (NAME.png beside NAME.npz): our own preview scene
    stylized with the bank, so no painting is copied. Needs the models just exported."""
    import nst_core
    from nst_core import stylebank

    rt = nst_core.Runtime(out, device="cpu")       # its own sessions, not the shared cache
    for name, entry in banks.items():
        stylebank.write_preview(name, stylebank.preview_path(out / entry["file"]), rt)
    log(f"wrote {len(banks)} style previews")


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
