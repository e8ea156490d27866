"""Finding models: missing or corrupted ones raise a ModelError naming the command that fixes it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import nst_core
from nst_core.models import ENV_MODELS_DIR, resolve_models_dir, shipped_models_dirs, user_cache_dir


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
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_models_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_models_dir() == tmp_path / "env"
    monkeypatch.delenv(ENV_MODELS_DIR)
    # no models in the user cache: the ones shipped beside the engine (here: `make models`'s)
    shipped = [d for d in shipped_models_dirs() if (d / "manifest.json").is_file()]
    assert shipped and resolve_models_dir() == shipped[0]
    (user_cache_dir()).mkdir(parents=True)
    (user_cache_dir() / "manifest.json").write_text("{}")
    assert resolve_models_dir() == user_cache_dir()


def test_nst_styles_finds_the_shipped_builtins(tmp_path):
    """With no $NST_MODELS_DIR and an empty user cache, `nst styles` lists the built-ins that
    `make models` built beside the engine (it said "none in ~/.cache/nst/models")."""
    env = {k: v for k, v in os.environ.items() if k != ENV_MODELS_DIR}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    r = subprocess.run([sys.executable, "-m", "nst_core", "styles"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stderr
    assert "vangogh_starry_night" in r.stdout and "built-in" in r.stdout


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
