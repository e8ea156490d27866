"""Finding and verifying the ONNX models listed in a models folder's manifest.json."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import FIX_MODELS, ModelError

MANIFEST = "manifest.json"
ENV_MODELS_DIR = "NST_MODELS_DIR"
APP_NAME = "nst"


def user_dir(kind: str) -> Path:
    """The per-user folder of ``kind`` "cache" (models) or "data" (learned styles), per platform:
    XDG on Linux, Library/Caches or Application Support on macOS, LOCALAPPDATA or APPDATA on
    Windows."""
    home = Path.home()
    if sys.platform == "win32":
        env, default = {"cache": ("LOCALAPPDATA", home / "AppData" / "Local"),
                        "data": ("APPDATA", home / "AppData" / "Roaming")}[kind]
        base = Path(os.environ.get(env, default))
    elif sys.platform == "darwin":
        base = home / "Library" / {"cache": "Caches", "data": "Application Support"}[kind]
    else:
        env, default = {"cache": ("XDG_CACHE_HOME", home / ".cache"),
                        "data": ("XDG_DATA_HOME", home / ".local" / "share")}[kind]
        base = Path(os.environ.get(env, default))
    return base / APP_NAME


def user_cache_dir() -> Path:
    """Per-user cache folder for models."""
    return user_dir("cache") / "models"


def shipped_models_dirs() -> list[Path]:
    """Models the project ships beside the engine: the extension's models/ (the zip bundles
    nst_core next to it) and a source tree's build/models (made by `make models`)."""
    here = Path(__file__).resolve().parent.parent
    return [here / "models", here / "build" / "models"]


def resolve_models_dir(models_dir: str | os.PathLike | None = None) -> Path:
    """Explicit path, else $NST_MODELS_DIR, else the per-user cache folder when it holds models,
    else the models shipped beside the engine (shipped_models_dirs), else the cache folder (whose
    missing manifest then says what to do)."""
    if models_dir:
        return Path(models_dir)
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        return Path(env)
    cache = user_cache_dir()
    if (cache / MANIFEST).is_file():
        return cache
    return next((d for d in shipped_models_dirs() if (d / MANIFEST).is_file()), cache)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    kind: str
    level: int
    sha256: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelStore:
    """The models of one folder: reads manifest.json once, verifies each file on first use."""

    def __init__(self, models_dir: str | os.PathLike | None = None):
        self.dir = resolve_models_dir(models_dir)
        self._manifest: dict | None = None
        self._verified: set[str] = set()

    @property
    def manifest(self) -> dict:
        if self._manifest is None:
            path = self.dir / MANIFEST
            if not path.is_file():
                raise ModelError(f"no models found: {path} does not exist; {FIX_MODELS}")
            try:
                self._manifest = json.loads(path.read_text())
                self._manifest["models"].items()
            except (ValueError, KeyError, AttributeError) as exc:
                raise ModelError(f"{path} is not a valid models manifest ({exc}); {FIX_MODELS}") from exc
        return self._manifest

    def names(self) -> list[str]:
        return sorted(self.manifest["models"])

    def has(self, name: str) -> bool:
        return name in self.manifest["models"]

    def info(self, name: str, verify: bool = True) -> ModelInfo:
        entry = self.manifest["models"].get(name)
        if entry is None:
            raise ModelError(f"model '{name}' is not in {self.dir / MANIFEST} (it has: "
                             f"{', '.join(self.names()) or 'none'}); {FIX_MODELS}")
        path = self.dir / entry["file"]
        if verify and name not in self._verified:
            if not path.is_file():
                raise ModelError(f"model file {path} is missing; {FIX_MODELS}")
            actual = sha256(path)
            if actual != entry["sha256"]:
                raise ModelError(f"model file {path} is corrupted: sha256 {actual} does not match "
                                 f"the manifest's {entry['sha256']}; {FIX_MODELS}")
            self._verified.add(name)
        return ModelInfo(name=name, path=path, kind=entry["kind"], level=int(entry["level"]),
                         sha256=entry["sha256"], inputs=tuple(entry["inputs"]),
                         outputs=tuple(entry["outputs"]))

    def encoder_for(self, decoder: str, level: int) -> str:
        """The level's encoder padded like ``decoder`` (the manifest's "padding": "layer" for the
        published networks, "once" for our trained decoders; scripts/torch_models.py). A pair must
        share it: mixed, the outer 16 pixels of a reconstruction came out 3-4 dB worse."""
        padding = self.manifest["models"].get(decoder, {}).get("padding", "layer")
        return f"encoder{level}" if padding == "layer" else f"encoder{level}_{padding}"

    def status(self) -> list[dict]:
        """One row per manifest entry with 'ok', 'missing' or 'corrupted' (for `nst info`)."""
        rows = []
        for name in self.names():
            try:
                self.info(name)
                state = "ok"
            except ModelError as exc:
                state = "missing" if "missing" in str(exc) else "corrupted"
            entry = self.manifest["models"][name]
            rows.append({"name": name, "kind": entry["kind"], "level": entry["level"],
                         "file": entry["file"], "status": state})
        return rows
