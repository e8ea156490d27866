"""ONNX models against the torch networks built from the same state dicts."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

import torch_models as tm

TOL = 1e-4


def _run(path, x: np.ndarray) -> list[np.ndarray]:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


def _inputs(photo):
    rng = np.random.default_rng(0)
    real = np.ascontiguousarray(photo.transpose(2, 0, 1)[None], dtype=np.float32)
    return {"random": rng.random((1, 3, 96, 80), dtype=np.float32), "real": real}


@pytest.mark.parametrize("level", tm.LEVELS)
@pytest.mark.parametrize("kind", ["random", "real"])
def test_encoder_decoder_match_torch(models_dir, weights_dir, photo, level, kind):
    x = _inputs(photo)[kind]
    enc, dec = tm.load_encoder(weights_dir, level), tm.load_decoder(weights_dir, level)
    with torch.no_grad():
        f_ref = enc(torch.from_numpy(x)).numpy()
        y_ref = dec(torch.from_numpy(f_ref)).numpy()
    f = _run(models_dir / f"encoder{level}.onnx", x)[0]
    y = _run(models_dir / f"decoder{level}.onnx", f_ref)[0]
    assert f.shape == f_ref.shape and y.shape == x.shape
    assert np.abs(f - f_ref).max() <= TOL * max(1.0, np.abs(f_ref).max())
    assert np.abs(y - y_ref).max() <= TOL


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
