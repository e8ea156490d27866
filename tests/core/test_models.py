"""Finding models: missing or corrupted ones raise a ModelError naming the command that fixes it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import nst_core
from nst_core.models import ENV_MODELS_DIR, resolve_models_dir, user_cache_dir


@pytest.fixture
def models_copy(models_dir, tmp_path):
    dst = tmp_path / "models"
    shutil.copytree(models_dir, dst)
    return dst


def _stylize(models):
    rgb = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    return nst_core.stylize(rgb, rgb, method="adain", runtime=nst_core.Runtime(models, "cpu"))


def test_missing_folder(tmp_path):
    with pytest.raises(nst_core.ModelError, match="make models"):
        _stylize(tmp_path / "none")


@pytest.mark.parametrize("which", [0, 1])      # the encoder, then the decoder, AdaIN runs
def test_missing_model_file(models_copy, which):
    (models_copy / f"{_stylize(models_copy).models[which]}.onnx").unlink()
    with pytest.raises(nst_core.ModelError, match="missing.*make models"):
        _stylize(models_copy)


@pytest.mark.parametrize("which", [0, 1])
def test_checksum_mismatch(models_copy, which):
    path = models_copy / f"{_stylize(models_copy).models[which]}.onnx"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(nst_core.ModelError, match="corrupted"):
        _stylize(models_copy)


def test_broken_manifest(models_copy):
    (models_copy / "manifest.json").write_text("{not json")
    with pytest.raises(nst_core.ModelError, match="not a valid models manifest"):
        _stylize(models_copy)


def test_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_MODELS_DIR, str(tmp_path / "env"))
    assert resolve_models_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_models_dir() == tmp_path / "env"
    monkeypatch.delenv(ENV_MODELS_DIR)
    assert resolve_models_dir() == user_cache_dir()


def test_cuda_refused_without_provider(models_dir):
    if "CUDAExecutionProvider" in nst_core.available_providers():
        pytest.skip("this onnxruntime offers CUDA")
    rt = nst_core.Runtime(models_dir, device="cuda")
    with pytest.raises(nst_core.DeviceError, match="CUDA"):
        rt.device


def test_auto_falls_back_with_a_reason(models_dir):
    rt = nst_core.Runtime(models_dir, device="auto")
    if rt.device.name == "CPUExecutionProvider":
        assert rt.device.reason
    assert rt.session("encoder1") is rt.session("encoder1")   # cached


def test_unknown_device():
    with pytest.raises(nst_core.DeviceError, match="unknown device"):
        nst_core.Runtime(device="tpu")
