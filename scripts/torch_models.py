"""Torch definitions of the wct16x encoders and decoders (Collaborative Distillation, CVPR 2020).

Used by ONNX export, training and the reference implementations in the tests; never imported by
``nst_core``. The networks are rebuilt from the state dicts alone: layer widths come from the
weight shapes, the layer order from the VGG-19 layout below.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

LEVELS = (1, 2, 3, 4, 5)
# VGG-19 order up to relu5_1; "pool" is a 2x2 max-pool with stride 2. The networks' first layer,
# conv0 (a 1×1 colour transform with no ReLU after it), is folded into conv11 (_fold_conv0).
ENCODER_ORDER = ("conv11", "conv12", "pool", "conv21", "conv22", "pool",
                 "conv31", "conv32", "conv33", "conv34", "pool",
                 "conv41", "conv42", "conv43", "conv44", "pool", "conv51")
# Decoder N starts at convN1 and mirrors the encoder; "up" is nearest 2x upsampling.
DECODER_ORDER = ("conv51", "up", "conv44", "conv43", "conv42", "conv41", "up",
                 "conv34", "conv33", "conv32", "conv31", "up", "conv22", "conv21", "up",
                 "conv12", "conv11")
AUX_LAYERS = ("conv11", "conv21", "conv31", "conv41")  # relu1_1 ... relu4_1 of full VGG-19
# Where the 3×3 convolutions get their border: "layer" reflection-pads before every one (the
# published networks, and how they and our decoders were trained); "once" mirrors the input once
# by the network's whole margin and runs every convolution unpadded (a decoder then crops). Same
# weights, same output away from a border band. With no Pad between convolutions, onnxruntime
# keeps every layer in its blocked (NCHWc) layout: AdaIN at 1024² became 15-19 % faster on the
# CPU (docs/benchmarks.md). An encoder and its decoder must share a convention: a
# "layer" encoder with a "once" decoder reconstructed the outer 16 px 3-4 dB worse, while a
# "once" pair reconstructs within 0.4 dB of a "layer" pair.
PADDINGS = ("layer", "once")


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if "model" in state:
        state = state["model"]
    return {k: v.float() for k, v in state.items()}


def _conv(state: dict[str, torch.Tensor], name: str) -> nn.Conv2d:
    weight = state[f"{name}.weight"]
    out_ch, in_ch, kh, _ = weight.shape
    conv = nn.Conv2d(in_ch, out_ch, kh, 1, 0)
    conv.weight.data.copy_(weight)
    conv.bias.data.copy_(state[f"{name}.bias"])
    return conv


def mirror(x: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """x with ``before``/``after`` positions mirrored on at both ends of ``dim`` like
    F.pad(mode="reflect"), for any margin: past the far end the reflection folds back again (as
    numpy.pad's), so a 16-pixel image takes encoder 4's 30-pixel margin. Traced as ONNX
    Range/Mod/Gather (dynamic sizes)."""
    n = x.shape[dim]
    index = torch.arange(-before, n + after, device=x.device)
    period = torch.clamp(torch.as_tensor(2 * n - 2, device=x.device), min=1)
    index = torch.remainder(index, period)
    index = torch.where(index >= n, period - index, index)
    return torch.index_select(x, dim, index)


@torch.jit.script
def mirror2d(x: torch.Tensor, margin: int) -> torch.Tensor:
    """x mirrored by ``margin`` on all four sides of its height and width, as ``mirror``. Where
    both sides are longer than the margin that is one reflection pad. Scripted so the export
    keeps the choice as an ONNX If: its usual branch, a single Pad, ran 7× faster in onnxruntime
    than mirror's gathers (1×3×1024² by 30: 2.3 vs 16.6 ms on the 2-core CPU; 1×128×128² by 5:
    1.8 vs 11.7 ms), which stay for the small images and tiles the Pad refuses."""
    if min(x.shape[2], x.shape[3]) > margin:
        return nn.functional.pad(x, [margin, margin, margin, margin], mode="reflect")
    return mirror(mirror(x, margin, margin, 2), margin, margin, 3)


def _fold_conv0(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with conv0 (1×1, no ReLU) folded into conv11: conv11(conv0(x)) is one 3×3
    convolution of x, exactly, since mirroring commutes with a per-pixel affine map (folded in
    float64). Saves a full-resolution pass and a layout reorder: about 10 ms of encoder 4's 300
    at 1024² on the 2-core CPU, in every encoder call."""
    if "conv0.weight" not in state:
        return state
    w0, b0 = state["conv0.weight"].double()[:, :, 0, 0], state["conv0.bias"].double()
    w, b = state["conv11.weight"].double(), state["conv11.bias"].double()
    state = {k: v for k, v in state.items() if not k.startswith("conv0.")}
    state["conv11.weight"] = torch.einsum("ojkl,ji->oikl", w, w0).float()
    state["conv11.bias"] = (b + torch.einsum("ojkl,j->o", w, b0)).float()
    return state


def _check_padding(padding: str) -> str:
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return padding


def encoder_margin(order: tuple[str, ...]) -> int:
    """Pixels of context the unpadded ("once") encoder needs around its input so its output has
    the padded one's size; even before each pool, so pooling windows keep their grid."""
    margin = 0
    for name in reversed(order):
        margin = 2 * margin if name == "pool" else margin + 1
    return margin


def decoder_margin(order: tuple[str, ...]) -> tuple[int, int]:
    """(features of context the unpadded decoder needs around its input, output pixels to crop)."""
    for margin in range(1, 16):
        left = margin
        for name in order:
            left = 2 * left if name == "up" else left - 1
            if left < 0:
                break
        else:
            return margin, left
    raise ValueError(f"no margin fits decoder {order}")


class Encoder(nn.Module):
    """Image (N,3,H,W) in [0, 1] -> relu<level>_1 features (N,C,H/2^(level-1),W/2^(level-1))."""

    def __init__(self, state: dict[str, torch.Tensor], level: int, padding: str = "layer"):
        super().__init__()
        self.level, self.padding = level, _check_padding(padding)
        last = ENCODER_ORDER.index(f"conv{level}1")
        self.order = ENCODER_ORDER[: last + 1]
        self.margin = encoder_margin(self.order)
        state = _fold_conv0(state)
        self.convs = nn.ModuleDict({n: _conv(state, n) for n in self.order if n != "pool"})
        self.aux = nn.ModuleDict({n: _conv(state, f"{n}_aux") for n in AUX_LAYERS
                                  if f"{n}_aux.weight" in state and n in self.order})

    def run(self, x: torch.Tensor, taps: tuple[str, ...] = ()) -> list[torch.Tensor]:
        outs = []
        once = self.padding == "once"
        if once:
            if taps:
                raise ValueError("aux taps need padding='layer'")
            x = mirror2d(x, self.margin)
        for name in self.order:
            if name == "pool":
                x = nn.functional.max_pool2d(x, 2, 2)
            else:
                x = torch.relu(self.convs[name](x if once else _reflect1(x)))
                if name in taps:
                    outs.append(torch.relu(self.aux[name](x)))
        return outs + [x]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[-1]


class Features(nn.Module):
    """Loss/metric network: the level-5 encoder's aux heads at relu1_1 ... relu4_1 (64/128/256/512 ch)."""

    def __init__(self, state: dict[str, torch.Tensor]):
        super().__init__()
        self.encoder = Encoder(state, 4)
        missing = [n for n in AUX_LAYERS if n not in self.encoder.aux]
        if missing:
            raise ValueError(f"state dict lacks aux heads {missing}")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.encoder.run(x, AUX_LAYERS)[:-1])


class Decoder(nn.Module):
    """relu<level>_1 features -> image (N,3,H,W); the last conv keeps its ReLU as upstream."""

    def __init__(self, state: dict[str, torch.Tensor], level: int, padding: str = "layer"):
        super().__init__()
        self.level, self.padding = level, _check_padding(padding)
        self.order = DECODER_ORDER[DECODER_ORDER.index(f"conv{level}1"):]
        self.convs = nn.ModuleDict({n: _conv(state, n) for n in self.order if n != "up"})
        self.margin, self.crop = decoder_margin(self.order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        once = self.padding == "once"
        if once:
            x = mirror2d(x, self.margin)
        for name in self.order:
            if name == "up":
                x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            else:
                x = torch.relu(self.convs[name](x if once else _reflect1(x)))
        if once and self.crop:
            x = x[:, :, self.crop:x.shape[2] - self.crop, self.crop:x.shape[3] - self.crop]
        return x


def _reflect1(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")


def load_encoder(weights_dir: str | Path, level: int, padding: str = "layer") -> Encoder:
    return Encoder(load_state_dict(Path(weights_dir) / f"encoder{level}.pth"), level, padding).eval()


def load_decoder(weights_dir: str | Path, level: int, padding: str = "layer") -> Decoder:
    return Decoder(load_state_dict(Path(weights_dir) / f"decoder{level}.pth"), level, padding).eval()


def load_features(weights_dir: str | Path) -> Features:
    return Features(load_state_dict(Path(weights_dir) / "encoder5.pth")).eval()


def sym_pow(cov: torch.Tensor, power: float, eps: float = 1e-5, cutoff: float = 1e-5) -> torch.Tensor:
    """cov^power on its kept eigen-directions, regularised like nst_core.wct (eps relative to
    the mean variance; eigenvalues below cutoff · largest dropped)."""
    reg = eps * max(float(torch.trace(cov)) / cov.shape[0], 1e-12)
    vals, vecs = torch.linalg.eigh(cov + reg * torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device))
    keep = vals > max(float(vals[-1]), reg) * cutoff
    vals, vecs = vals[keep], vecs[:, keep]
    return vecs @ torch.diag(vals ** power) @ vecs.T
