"""ONNX models against the torch networks built from the same state dicts."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

import torch_models as tm
from conftest import SCRIPTS, _load
from nst_core.models import ModelStore

TOL = 1e-4


def _run(path, x: np.ndarray) -> list[np.ndarray]:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


def _inputs(photo):
    rng = np.random.default_rng(0)
    real = np.ascontiguousarray(photo.transpose(2, 0, 1)[None], dtype=np.float32)
    return {"random": rng.random((1, 3, 96, 80), dtype=np.float32), "real": real}


def _encoder_decoder_pairs(models_dir) -> list[tuple[str, str]]:
    """Every (encoder, decoder) the pipeline pairs: each decoder with the encoder padded like it."""
    store = ModelStore(models_dir)
    return [(store.encoder_for(name, entry["level"]), name)
            for name, entry in store.manifest["models"].items() if entry["kind"] == "decoder"]


@pytest.mark.parametrize("kind", ["random", "real", "small"])
def test_encoder_decoder_match_torch(models_dir, weights_dir, paddings, photo, kind):
    # "small": 32×48 (the smallest tile the pipeline reads), or 16×24 for "once" networks, under
    # encoder 4's 30-pixel margin: their mirror folds back
    x = _inputs(photo)["random" if kind == "small" else kind]
    pairs = _encoder_decoder_pairs(models_dir)
    assert ("encoder4_once", "adain_decoder4") in pairs or paddings["adain_decoder4"] == "layer"
    for enc_name, dec_name in pairs:
        level = int(enc_name[7])
        enc = tm.load_encoder(weights_dir, level, paddings[enc_name])
        if kind == "small":
            x = _inputs(photo)["random"][..., :16, :24] if enc.padding == "once" else \
                _inputs(photo)["random"][..., :32, :48]
            x = x.copy()
        trained = SCRIPTS / "trained" / f"{dec_name}.pth"
        state = tm.load_state_dict(trained if trained.is_file() else weights_dir / f"{dec_name}.pth")
        dec = tm.Decoder(state, level, paddings[dec_name]).eval()
        assert enc.padding == dec.padding, (enc_name, dec_name)
        with torch.no_grad():
            f_ref = enc(torch.from_numpy(x)).numpy()
            y_ref = dec(torch.from_numpy(f_ref)).numpy()
        f = _run(models_dir / f"{enc_name}.onnx", x)[0]
        y = _run(models_dir / f"{dec_name}.onnx", f_ref)[0]
        assert f.shape == f_ref.shape and y.shape == x.shape, (enc_name, dec_name)
        assert np.abs(f - f_ref).max() <= TOL * max(1.0, np.abs(f_ref).max()), enc_name
        assert np.abs(y - y_ref).max() <= TOL, dec_name


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_mirror_folds_margins_longer_than_the_axis(n):
    x = np.arange(n, dtype=np.float32)
    for before, after in ((0, 0), (1, 2), (4, 3), (30, 29)):
        got = tm.mirror(torch.from_numpy(x)[None], before, after, 1)[0].numpy()
        np.testing.assert_array_equal(got, np.pad(x, (before, after), mode="reflect"))


@pytest.mark.parametrize("shape", [(3, 5), (30, 64), (64, 30), (31, 40)])
def test_mirror2d_is_numpy_reflect_on_either_branch(shape):
    # margin 30: one reflection pad where both sides exceed it, the folding mirror otherwise
    x = np.random.default_rng(0).random((1, 2) + shape, dtype=np.float32)
    got = tm.mirror2d(torch.from_numpy(x), 30).numpy()
    np.testing.assert_array_equal(got, np.pad(x, ((0, 0), (0, 0), (30, 30), (30, 30)), mode="reflect"))


@pytest.mark.parametrize("padding", tm.PADDINGS)
def test_encoder_folds_conv0_into_conv11(weights_dir, padding):
    state = tm.load_state_dict(weights_dir / "encoder1.pth")
    x = torch.rand(1, 3, 40, 36, generator=torch.Generator().manual_seed(0))
    y = torch.nn.functional.conv2d(x, state["conv0.weight"], state["conv0.bias"])   # unfolded
    y = torch.nn.functional.pad(y, (1, 1, 1, 1), mode="reflect")
    y = torch.relu(torch.nn.functional.conv2d(y, state["conv11.weight"], state["conv11.bias"]))
    encoder = tm.Encoder(state, 1, padding)
    assert "conv0" not in encoder.convs and "conv0.weight" in state    # the caller's dict is kept
    with torch.no_grad():
        got = encoder(x)
    assert got.shape == y.shape
    assert (got - y).abs().max() <= 1e-5 * y.abs().max()


def _border_distance(h: int, w: int) -> np.ndarray:
    rows, cols = np.arange(h), np.arange(w)
    return np.minimum.outer(np.minimum(rows, rows[::-1]), np.minimum(cols, cols[::-1]))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * np.log10(1 / ((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean().item()))


@pytest.mark.parametrize("level", tm.LEVELS)
def test_padding_once_changes_only_the_border(weights_dir, level):
    """An encoder and decoder padded "once" (mirror the input once, unpadded convolutions)
    against the published per-layer reflection padding: the same features and image away from a
    band set by their margins, and the photo's reconstruction through the pair is as good."""
    photo = _load("content/kodak_kodim23.png", (256, 384))
    x = torch.from_numpy(np.ascontiguousarray(photo.transpose(2, 0, 1)[None], dtype=np.float32))
    factor = 2 ** (level - 1)
    (enc, dec), (enc1, dec1) = ((tm.load_encoder(weights_dir, level, p), tm.load_decoder(weights_dir, level, p))
                                for p in ("layer", "once"))
    with torch.no_grad():
        f, f1 = enc(x), enc1(x)
        y, y1 = dec(f), dec1(f)
        recon, recon1 = y, dec1(f1)
    assert f1.shape == f.shape and y1.shape == y.shape == x.shape
    scale = TOL * f.abs().max().item()
    inside = _border_distance(*f.shape[2:]) >= -(-enc1.margin // factor)   # sees no mirrored pixel
    assert inside.sum() >= 0.2 * inside.size          # the interior compared is not empty
    assert np.abs((f - f1).numpy()[..., inside]).max() <= scale
    assert level == 1 or np.abs((f - f1).numpy()[..., ~inside]).max() > scale   # level 1: one conv
    inside = _border_distance(*y.shape[2:]) >= dec1.margin * factor
    assert np.abs((y - y1).numpy()[..., inside]).max() <= TOL
    assert level == 1 or np.abs((y - y1).numpy()[..., ~inside]).max() > TOL
    # border handling is a choice, not a loss: the pair reconstructs about as well as per-layer
    # padding (measured on this photo: 0.00 / +0.01 / -0.03 / -0.18 / -0.39 dB at levels 1-5)
    assert _psnr(recon1, x) >= _psnr(recon, x) - 0.5


def test_features_match_torch(models_dir, weights_dir, photo):
    x = _inputs(photo)["real"]
    with torch.no_grad():
        refs = [t.numpy() for t in tm.load_features(weights_dir)(torch.from_numpy(x))]
    outs = _run(models_dir / "features.onnx", x)
    assert [o.shape[1] for o in outs] == [64, 128, 256, 512]
    for o, r in zip(outs, refs):
        assert np.abs(o - r).max() <= TOL * max(1.0, np.abs(r).max())


def test_manifest_describes_every_model(models_dir):
    manifest = json.loads((models_dir / "manifest.json").read_text())
    models = manifest["models"]
    assert {f"encoder{i}" for i in tm.LEVELS} | {f"decoder{i}" for i in tm.LEVELS} <= set(models)
    assert manifest["opset"] >= 17
    for name, entry in models.items():
        sess = ort.InferenceSession(str(models_dir / entry["file"]), providers=["CPUExecutionProvider"])
        assert [i.name for i in sess.get_inputs()] == entry["inputs"], name
        assert [o.name for o in sess.get_outputs()] == entry["outputs"], name
        # dynamic height and width
        assert all(isinstance(d, str) for d in sess.get_inputs()[0].shape[2:]), name


def test_manifest_lists_every_bank_file(models_dir):
    """The models folder holds the built-in banks and their previews, nothing left over."""
    manifest = json.loads((models_dir / "manifest.json").read_text())
    names = {p.stem for p in (SCRIPTS / "trained" / "stylebank").glob("*.npz")}
    assert set(manifest["banks"]) == names
    assert {p.stem for p in (models_dir / "stylebank").iterdir()} == names


def test_copy_banks_removes_banks_no_longer_built_in(tmp_path):
    import export_onnx
    source, dest = tmp_path / "src", tmp_path / "models" / "stylebank"
    source.mkdir()
    dest.mkdir(parents=True)
    (source / "kept.npz").write_bytes(b"new")
    for name in ("kept.npz", "kept.png", "dropped.npz", "dropped.png"):
        (dest / name).write_bytes(b"old")
    banks = export_onnx.copy_banks(dest, source)
    assert set(banks) == {"kept"} and banks["kept"]["file"] == "stylebank/kept.npz"
    assert sorted(p.name for p in dest.iterdir()) == ["kept.npz", "kept.png"]
    assert (dest / "kept.npz").read_bytes() == b"new"
