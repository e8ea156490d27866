#!/usr/bin/env python3
"""Export the wct16x networks (and our own trained decoders) to ONNX with a manifest.json.

Each model has dynamic height and width (opset 17). The manifest lists, per model: file, kind
(encoder / decoder / features), level, channels, input and output names, sha256 and padding
(torch_models.PADDINGS; ``nst_core`` pairs each decoder with the encoder padded like it); it
reads the manifest to find models and to verify them before use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

from nst_core.models import sha256

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
# Our trained decoders (AdaIN's and StyleBank's), and an encoder{level}_once beside each, use
# torch_models' "once" padding (mirror the input once, unpadded convolutions). Measured on the
# 2-core CPU at 1024²: AdaIN 15-19 % faster end to end. WCT's networks keep the published
# per-layer padding: padded once, WCT's global covariances take in more mirrored border, and it
# stylized one of the tests' 192×256 photos measurably less (docs/benchmarks.md).
TRAINED_PADDING = "once"


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


# Small graphs that let a one-tile call keep its images and features where the models run (the
# GPU on CUDA): nst_core/fused.py chains them with the networks through IO binding, so only the
# content goes in, the result comes out, and C×C statistics cross to the host.
# ONNX element types: 2 uint8, 4 uint16, 1 float; the scale is what to_rgb divides by
PREP_DTYPES = {"uint8": (2, 255.0), "uint16": (4, 65535.0), "float32": (1, None)}


def _mirror_pad_nodes(x: str, size: str, pad: str, out: str):
    """Nodes cropping x (1×C×H×W) to size=[h, w], then mirroring ``pad``=[ph, pw] rows and
    columns at the bottom and right with the edge repeated (numpy's 'symmetric', as tiling.mirror_pad)."""
    from onnx import helper
    n = helper.make_node
    return [
        n("Slice", [x, "zeros2", size, "axes23"], ["crop"]),
        n("Slice", [size, "i0", "i1"], ["h"]), n("Slice", [size, "i1", "i2"], ["w"]),
        n("Slice", [pad, "i0", "i1"], ["ph"]), n("Slice", [pad, "i1", "i2"], ["pw"]),
        n("Sub", ["h", "i1"], ["rs"]), n("Sub", ["rs", "ph"], ["re"]),
        n("Slice", ["crop", "rs", "re", "axis2", "minus1"], ["rows"]),
        n("Concat", ["crop", "rows"], ["tall"], axis=2),
        n("Sub", ["w", "i1"], ["cs"]), n("Sub", ["cs", "pw"], ["ce"]),
        n("Slice", ["tall", "cs", "ce", "axis3", "minus1"], ["cols"]),
        n("Concat", ["tall", "cols"], [out], axis=3),
    ]


def _int_consts():
    from onnx import TensorProto, helper
    t = helper.make_tensor
    return [t("zeros2", TensorProto.INT64, [2], [0, 0]), t("axes23", TensorProto.INT64, [2], [2, 3]),
            t("i0", TensorProto.INT64, [1], [0]), t("i1", TensorProto.INT64, [1], [1]),
            t("i2", TensorProto.INT64, [1], [2]), t("i3", TensorProto.INT64, [1], [3]),
            t("axis2", TensorProto.INT64, [1], [2]), t("axis3", TensorProto.INT64, [1], [3]),
            t("minus1", TensorProto.INT64, [1], [-1])]


def device_graphs() -> dict:
    """name -> (onnx model, input names, output names) for the fused one-tile path."""
    from onnx import TensorProto, helper
    n, vi, F, I64 = helper.make_node, helper.make_tensor_value_info, TensorProto.FLOAT, TensorProto.INT64
    img = lambda name, c="C": vi(name, F, [1, c, "H", "W"])   # noqa: E731
    size, pad = vi("size", I64, [2]), vi("pad", I64, [2])
    f32 = lambda v: helper.make_tensor(f"c{v}", F, [], [v])   # noqa: E731
    graphs = {}
    for dtype, (onnx_type, scale) in PREP_DTYPES.items():
        # image 1×H×W×C (C = 3 or 4, any accepted dtype) -> RGB 1×3×Hp×Wp in [0, 1], padded
        nodes = []
        x = "image"
        if scale is not None:
            nodes += [n("Cast", [x], ["cast"], to=F), n("Div", ["cast", f"c{scale}"], ["scaled"])]
            x = "scaled"
        nodes += [n("Slice", [x, "i0", "i3", "i3"], ["rgb"]),
                  n("Clip", ["rgb", "c0.0", "c1.0"], ["clipped"]),
                  n("Transpose", ["clipped"], ["nchw"], perm=[0, 3, 1, 2]),
                  n("Shape", ["nchw"], ["size"], start=2)]
        nodes += _mirror_pad_nodes("nchw", "size", "pad", "padded")
        consts = _int_consts() + [f32(0.0), f32(1.0)] + ([f32(scale)] if scale else [])
        graphs[f"prep_{dtype}"] = (nodes, [vi("image", onnx_type, [1, "h", "w", "c"]), pad],
                                   [vi("padded", F, [1, 3, "H", "W"])], consts)
    graphs["mirror_pad"] = (_mirror_pad_nodes("image", "size", "pad", "padded"),
                            [img("image"), size, pad], [img("padded")], _int_consts())
    graphs["post"] = (   # 1×3×Hp×Wp -> the h×w result, clipped, 1×h×w×3
        [n("Slice", ["image", "zeros2", "size", "axes23"], ["crop"]),
         n("Clip", ["crop", "c0.0", "c1.0"], ["clipped"]),
         n("Transpose", ["clipped"], ["result"], perm=[0, 2, 3, 1])],
        [img("image", 3), size], [vi("result", F, [1, "h", "w", 3])],
        _int_consts() + [f32(0.0), f32(1.0)])
    # features over the core size -> channel mean and centred Gram Σ(f−μ)(f−μ)ᵀ, in float64 as
    # the tiled path's (features.moments): in float32, WCT's whitening of the smallest
    # eigenvalues put this path up to 0.7/255 away from the tiled one (0.01/255 in float64)
    graphs["moments"] = (
        [n("Slice", ["features", "zeros2", "size", "axes23"], ["core"]),
         n("Squeeze", ["core", "i0"], ["chw"]),
         n("Reshape", ["chw", "flat_shape"], ["flat32"]),
         n("Cast", ["flat32"], ["flat"], to=TensorProto.DOUBLE),
         n("ReduceMean", ["flat"], ["mean"], axes=[1], keepdims=1),
         n("Sub", ["flat", "mean"], ["centred"]),
         n("Gemm", ["centred", "centred"], ["gram"], transB=1)],
        [img("features"), size], [vi("mean", TensorProto.DOUBLE, ["C", 1]),
                                  vi("gram", TensorProto.DOUBLE, ["C", "C"])],
        _int_consts() + [helper.make_tensor("flat_shape", I64, [2], [0, -1])])
    graphs["affine"] = (    # f -> matrix·f + bias per pixel
        [n("Shape", ["features"], ["shape"]),
         n("Reshape", ["features", "flat_shape"], ["flat"]),
         n("MatMul", ["matrix", "flat"], ["product"]),
         n("Unsqueeze", ["bias", "i1"], ["column"]),
         n("Add", ["product", "column"], ["sum"]),
         n("Reshape", ["sum", "shape"], ["mapped"])],
        [img("features"), vi("matrix", F, ["C", "C"]), vi("bias", F, ["C"])], [img("mapped")],
        _int_consts() + [helper.make_tensor("flat_shape", I64, [3], [0, 0, -1])])
    graphs["mix"] = (       # t·a + (1 − t)·b
        [n("Sub", ["a", "b"], ["diff"]), n("Mul", ["diff", "t"], ["scaled"]),
         n("Add", ["b", "scaled"], ["mixed"])],
        [img("a"), img("b"), vi("t", F, [])], [img("mixed")], [])
    models = {}
    for name, (nodes, inputs, outputs, consts) in graphs.items():
        used = {i for node in nodes for i in node.input}
        graph = helper.make_graph(nodes, name, inputs, outputs, [c for c in consts if c.name in used])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
        onnx_check(model)
        models[name] = (model, [i.name for i in inputs], [o.name for o in outputs])
    return models


def onnx_check(model) -> None:
    import onnx
    onnx.checker.check_model(model, full_check=True)


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
                        "sha256": sha256(path), "source": source,
                        "padding": getattr(module, "padding", "layer")}
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
        dec = tm.Decoder(tm.load_state_dict(trained), level, TRAINED_PADDING).eval()
        add(trained.stem, dec, "decoder", level, dec.convs[f"conv{level}1"].in_channels, 3,
            "features", ["image"], f"scripts/trained/{trained.name}")
        name = f"encoder{level}_{TRAINED_PADDING}"
        if TRAINED_PADDING != "layer" and name not in models:
            enc = tm.load_encoder(weights, level, TRAINED_PADDING)
            add(name, enc, "encoder", level, 3, enc.convs[f"conv{level}1"].out_channels, "image",
                ["features"], f"wct16x encoder{level}.pth")

    path = out / "stylebank_conv.onnx"
    bank_conv_graph(path)
    models["stylebank_conv"] = {"file": path.name, "kind": "bank", "level": 4,
                                "channels": BANK_CHANNELS, "inputs": ["features", "weight", "bias"],
                                "outputs": ["stylized"], "sha256": sha256(path), "source": "built here"}
    import onnx
    for name, (model, inputs, outputs) in device_graphs().items():
        path = out / f"{name}.onnx"
        onnx.save(model, path)
        models[name] = {"file": path.name, "kind": "op", "level": 0, "channels": 0,
                        "inputs": inputs, "outputs": outputs, "sha256": sha256(path),
                        "source": "built here"}
    banks = copy_banks(out / "stylebank")
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


def copy_banks(dest: Path, source: Path | None = None) -> dict:
    """Copy the built-in banks into ``dest`` and remove what an earlier export left there of
    banks no longer built in (NAME.npz and its NAME.png), which the extension would ship.
    Returns the manifest's "banks" entries."""
    source = BANKS_DIR if source is None else source
    dest.mkdir(parents=True, exist_ok=True)
    banks = {}
    for bank in sorted(source.glob("*.npz")) if source.is_dir() else []:
        target = dest / bank.name
        target.write_bytes(bank.read_bytes())
        banks[bank.stem] = {"file": f"{dest.name}/{bank.name}", "sha256": sha256(target)}
    for stale in list(dest.glob("*.npz")) + list(dest.glob("*.png")):
        if stale.stem not in banks:
            stale.unlink()
    return banks


def write_previews(out: Path, banks: dict, log=print) -> None:
    """A thumbnail per built-in style (NAME.png beside NAME.npz): our own preview scene
    stylized with the bank, so no painting is copied. Needs the models just exported."""
    import nst_core
    from nst_core import previews, stylebank

    rt = nst_core.Runtime(out, device="cpu")       # its own sessions, not the shared cache
    for name, entry in banks.items():
        previews.write_preview(name, stylebank.preview_path(out / entry["file"]), rt)
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
