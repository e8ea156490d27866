"""StyleBank (Chen et al. 2017): one learned convolution bank per named style.

Our variant keeps the level-4 encoder E and the trained AdaIN decoder D frozen; a bank K is a
3×3 convolution 128→128 (reflection padded) on E's instance-normalised relu4_1 features, so
F̃ = K ⊗ (F − μ)/σ. Banks are linear in their weights, so linear fusion of several styles is one
convolution with the fused kernel (Σ wᵢ Kᵢ) ⊗ F; region fusion gives each pixel its region's bank
(masks, or k-means clusters of E's features). μ and σ are the content's channel statistics over
the whole image (summed over tiles), so tiles agree.

Bank files are ``.npz`` with ``weight`` (128×128×3×3), ``bias`` (128) and a JSON ``meta``.
Built-in banks sit in the models folder (``stylebank/``, listed with sha256 in manifest.json);
banks learned with ``nst learn-style`` sit in the user's styles folder.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelError, StyleError
from .features import Moments, shares
from .models import APP_NAME, ModelStore, _sha256

LEVEL = 4
DECODER = "adain_decoder4"
CONV = "stylebank_conv"        # ONNX graph: reflection pad + conv with the bank as inputs
CHANNELS = 128
ENV_STYLES_DIR = "NST_STYLES_DIR"
EPS = 1e-5


@dataclass(frozen=True)
class Bank:
    name: str
    weight: np.ndarray          # float32 C×C×3×3
    bias: np.ndarray            # float32 C
    source: str = "learned"     # "built-in" or "learned"
    path: Path | None = None
    meta: dict = field(default_factory=dict)


def user_styles_dir() -> Path:
    """$NST_STYLES_DIR, else the per-user data folder (where `nst learn-style` writes)."""
    env = os.environ.get(ENV_STYLES_DIR)
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / APP_NAME / "styles"


def load_bank(path: Path, source: str = "learned", sha256: str | None = None) -> Bank:
    """Read and check one bank file; a damaged file gives a ModelError naming it."""
    path = Path(path)
    fix = ("re-run `make models`" if source == "built-in"
           else f"delete it and learn the style again (`nst learn-style IMAGE --name {path.stem}`)")
    if sha256 is not None and _sha256(path) != sha256:
        raise ModelError(f"style bank {path} is corrupted (sha256 does not match the manifest); {fix}")
    try:
        with np.load(path, allow_pickle=False) as data:
            weight = np.asarray(data["weight"], np.float32)
            bias = np.asarray(data["bias"], np.float32)
            meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelError(f"style bank {path} is corrupted or not a bank file ({exc}); {fix}") from exc
    if weight.shape != (CHANNELS, CHANNELS, 3, 3) or bias.shape != (CHANNELS,):
        raise ModelError(f"style bank {path} has weight {weight.shape} and bias {bias.shape}; "
                         f"expected ({CHANNELS}, {CHANNELS}, 3, 3) and ({CHANNELS},); {fix}")
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        raise ModelError(f"style bank {path} contains NaN or infinite values; {fix}")
    return Bank(path.stem, weight, bias, source, path, meta)


def available(store: ModelStore | None = None) -> dict[str, tuple[Path, str, str | None]]:
    """name -> (file, "built-in" | "learned", sha256 or None); learned banks shadow nothing:
    a learned bank never takes a built-in's name (learn-style refuses it)."""
    found: dict[str, tuple[Path, str, str | None]] = {}
    user = user_styles_dir()
    if user.is_dir():
        for path in sorted(user.glob("*.npz")):
            found[path.stem] = (path, "learned", None)
    if store is not None:
        try:
            banks = store.manifest.get("banks", {})
        except ModelError:
            banks = {}
        for name, entry in banks.items():
            found[name] = (store.dir / entry["file"], "built-in", entry.get("sha256"))
    return dict(sorted(found.items()))


def resolve(styles, store: ModelStore | None) -> list[Bank]:
    """Bank objects for names (or Banks, passed through); unknown names list the known ones."""
    if isinstance(styles, (str, Bank)):
        styles = [styles]
    known = None
    banks = []
    for s in styles:
        if isinstance(s, Bank):
            banks.append(s)
            continue
        if not isinstance(s, str):
            raise StyleError("method 'stylebank' takes style names (see `nst styles`), "
                             f"not {type(s).__name__}")
        known = available(store) if known is None else known
        if s not in known:
            names = ", ".join(known) or "none (run `make models`, or `nst learn-style`)"
            raise StyleError(f"unknown StyleBank style '{s}'; known styles: {names}")
        path, source, sha = known[s]
        if not path.is_file():
            raise ModelError(f"style bank file {path} for '{s}' is missing; re-run `make models`")
        banks.append(load_bank(path, source, sha))
    if not banks:
        raise StyleError("no style given; pass at least one StyleBank style name")
    return banks


def kmeans(x: np.ndarray, k: int, iterations: int = 25, seed: int = 0) -> np.ndarray:
    """k centroids of the rows of x (k-means++ start, Lloyd iterations), deterministic."""
    rng = np.random.default_rng(seed)
    x = x.astype(np.float32)
    centroids = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = np.min([((x - c) ** 2).sum(1) for c in centroids], axis=0)
        centroids.append(x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[rng.integers(len(x))])
    c = np.stack(centroids)
    for _ in range(iterations):
        label = assign(x, c)
        new = np.stack([x[label == j].mean(0) if (label == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c


def assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid for each row of x."""
    d = (x ** 2).sum(1)[:, None] - 2 * x @ centroids.T + (centroids ** 2).sum(1)[None]
    return d.argmin(1)


class Fusion:
    """The banks of one call with the content's whole-image statistics; applies them to tiles."""

    def __init__(self, runtime, banks: list[Bank], content: Moments, centroids: np.ndarray | None = None):
        self.rt, self.banks = runtime, banks
        self.mean = content.mean().astype(np.float32)
        self.std = content.std(EPS).astype(np.float32)
        self.centroids = centroids

    def normalise(self, f: np.ndarray) -> np.ndarray:
        """C×h×w features -> (f − μ)/σ."""
        return (f - self.mean[:, None, None]) / self.std[:, None, None]

    def conv(self, n: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
        session = self.rt.session(CONV)
        return session.run_feeds({"features": n[None], "weight": weight, "bias": bias})[0][0]

    def fused(self, weights: list[float]) -> tuple[np.ndarray, np.ndarray]:
        """Linear fusion: the bank Σ wᵢ·Kᵢ (weight and bias, float32)."""
        weight = sum(w * b.weight for w, b in zip(weights, self.banks))
        bias = sum(w * b.bias for w, b in zip(weights, self.banks))
        return weight.astype(np.float32), bias.astype(np.float32)

    def normalise_rows(self, x: np.ndarray) -> np.ndarray:
        """N×C feature vectors -> (x − μ)/σ."""
        return (x - self.mean) / self.std

    def region_masks(self, f: np.ndarray) -> list[np.ndarray]:
        """One-hot k-means regions (flattened) of a tile's features, one per bank."""
        label = assign(self.normalise_rows(f.reshape(f.shape[0], -1).T), self.centroids)
        return [(label == j).astype(np.float32) for j in range(len(self.banks))]

    def apply(self, f: np.ndarray, weights: list[float], masks: list[np.ndarray | None],
              alpha: float) -> np.ndarray:
        """Stylized features of one tile (C×h×w): fused banks, per-region banks, alpha blend."""
        n = self.normalise(f)
        if self.centroids is not None:
            masks = self.region_masks(f)
        if all(m is None for m in masks):
            out = self.conv(n, *self.fused(weights))
            return out if alpha == 1 else (alpha * out + (1 - alpha) * f).astype(np.float32)
        c, size = f.shape[0], f.shape[1] * f.shape[2]
        share = shares(masks, weights, alpha, size)
        out = f.reshape(c, size) * (1 - share.sum(axis=0))
        for bank, s in zip(self.banks, share):
            if s.any():
                out += self.conv(n, bank.weight, bank.bias).reshape(c, size) * s
        return out.reshape(f.shape).astype(np.float32)


PREVIEW_SIZE = 128          # thumbnails beside the bank files: NAME.npz -> NAME.png
PREVIEW_SCENE_SIZE = 384    # the scene is stylized at this size, then scaled down


def preview_path(bank_file: Path) -> Path:
    """Where a bank's thumbnail sits: next to it, same stem, .png."""
    return Path(bank_file).with_suffix(".png")


def preview_scene(size: int = PREVIEW_SCENE_SIZE) -> np.ndarray:
    """A small landscape drawn here (sky, sun, hills, a shaded sphere on a checker floor) as
    float32 size×size×3 sRGB in [0, 1]: previews show a style on an image of our own, never
    on a copy of the painting."""
    y, x = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    img = np.empty((size, size, 3), np.float32)
    img[:] = (0.35 + 0.45 * y[..., None]) * np.array([0.55, 0.75, 1.0], np.float32)       # sky
    sun = np.clip(1.0 - np.hypot(x - 0.75, y - 0.2) / 0.08, 0, 1)[..., None]
    img = img * (1 - sun) + sun * np.array([1.0, 0.9, 0.55], np.float32)
    for base, amp, freq, colour in ((0.5, 0.06, 3.0, (0.35, 0.5, 0.3)), (0.6, 0.05, 5.0, (0.25, 0.42, 0.2))):
        ridge = base + amp * np.sin(2 * np.pi * freq * x + base * 10)
        hill = (y > ridge)[..., None]
        shade = (0.75 + 0.25 * np.cos(2 * np.pi * freq * x + base * 10))[..., None]
        img = np.where(hill, np.array(colour, np.float32) * shade, img)
    floor = y > 0.7                                         # checker floor in perspective
    depth = np.maximum(y - 0.62, 1e-3)
    check = ((np.floor((x - 0.5) / depth * 1.5) + np.floor(1.0 / depth)) % 2).astype(np.float32)
    img = np.where(floor[..., None], (0.45 + 0.4 * check)[..., None] * np.array([0.9, 0.85, 0.75], np.float32), img)
    dx, dy = (x - 0.38) / 0.17, (y - 0.66) / 0.17           # a red sphere lit from the upper right
    inside = dx * dx + dy * dy < 1
    dz = np.sqrt(np.clip(1 - dx * dx - dy * dy, 0, 1))
    light = np.array([0.5, -0.6, 0.62], np.float32) / np.linalg.norm([0.5, -0.6, 0.62])
    lambert = np.clip(dx * light[0] + dy * light[1] + dz * light[2], 0, 1)
    sphere = 0.1 + 0.85 * lambert[..., None] * np.array([0.85, 0.2, 0.15], np.float32) + 0.6 * lambert[..., None] ** 40
    img = np.where(inside[..., None], sphere, img)
    return np.clip(img, 0, 1).astype(np.float32)


def write_preview(name: str, path: Path, runtime, size: int = PREVIEW_SIZE) -> Path:
    """Stylize the preview scene with style ``name`` and save a size×size thumbnail at ``path``."""
    from .images import resize, save_image
    from .pipeline import stylize

    out = stylize(preview_scene(), name, "stylebank", runtime=runtime).image
    return save_image(path, np.clip(resize(out, size, size), 0, 1))
