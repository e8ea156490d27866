"""StyleBank (Chen et al. 2017): one learned convolution bank per named style.

Our variant keeps the level-4 encoder E and the trained AdaIN decoder D frozen; a bank K is a
3×3 convolution 128→128 (reflection padded) on E's relu4_1 features made white: F̃ = K ⊗ N with
N = W (F − μ), W the content's whitening matrix (``meta["input"] == "whitened"``, the built-ins
since 2026-12-02, initialised as the style's colouring, so an untrained bank is WCT at level 4),
or N = (F − μ)/σ channel by channel (``"normalised"``, banks learned before). Banks on the same
input are linear in their weights, so linear fusion of several styles is one convolution with
the fused kernel (Σ wᵢ Kᵢ) ⊗ N; region fusion gives each pixel its region's bank (masks, or
k-means clusters of E's features). μ, σ and W come from the content's statistics over the whole
image (summed over tiles), so tiles agree.

Bank files are ``.npz`` with ``weight`` (128×128×3×3), ``bias`` (128) and a JSON ``meta``.
Built-in banks sit in the models folder (``stylebank/``, listed with sha256 in manifest.json);
banks learned with ``scripts/learn_style.py`` sit in the user's styles folder.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import fused, wct
from .errors import ModelError, StyleError
from .features import Affine, Moments, shares
from .models import ModelStore, sha256, user_dir

LEVEL = 4
DECODER = "adain_decoder4"
CONV = "stylebank_conv"        # ONNX graph: reflection pad + conv with the bank as inputs
CHANNELS = 128
ENV_STYLES_DIR = "NST_STYLES_DIR"
EPS = 1e-5
WHITENED, NORMALISED = "whitened", "normalised"     # what a bank's convolution reads


@dataclass(frozen=True)
class Bank:
    name: str
    weight: np.ndarray          # float32 C×C×3×3
    bias: np.ndarray            # float32 C
    source: str = "learned"     # "built-in" or "learned"
    path: Path | None = None
    meta: dict = field(default_factory=dict)

    @property
    def input(self) -> str:
        """WHITENED or NORMALISED features (banks from before 2026-12-02 say nothing: normalised)."""
        return self.meta.get("input", NORMALISED)


def user_styles_dir() -> Path:
    """$NST_STYLES_DIR, else the per-user data folder (where scripts/learn_style.py writes)."""
    env = os.environ.get(ENV_STYLES_DIR)
    return Path(env) if env else user_dir("data") / "styles"


def load_bank(path: Path, source: str = "learned", digest: str | None = None) -> Bank:
    """Read and check one bank file; a damaged file gives a ModelError naming it."""
    path = Path(path)
    fix = ("re-run `make models`" if source == "built-in"
           else f"delete it and learn the style again (`scripts/learn_style.py IMAGE --name {path.stem}`)")
    if digest is not None and sha256(path) != digest:
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
    if meta.get("input", NORMALISED) not in (WHITENED, NORMALISED):
        raise ModelError(f"style bank {path} reads '{meta['input']}' features; this version knows "
                         f"'{WHITENED}' and '{NORMALISED}'; {fix}")
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
            names = ", ".join(known) or "none (run `make models`, or scripts/learn_style.py)"
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
        self.inputs = {b.input for b in banks}
        self.whitening = (wct.whitening(content.cov()).astype(np.float32)
                          if WHITENED in self.inputs else None)

    def affine(self, kind: str) -> Affine:
        """What makes features the ``kind`` of input a bank reads: W (f − μ), or (f − μ)/σ."""
        if kind == WHITENED:
            return Affine(self.whitening, -self.whitening @ self.mean)
        return Affine(np.diag(1 / self.std), -self.mean / self.std)

    def prepare(self, f: np.ndarray, kind: str) -> np.ndarray:
        """C×h×w features -> the ``kind`` of input."""
        if kind == WHITENED:
            c = f.shape[0]
            return (self.whitening @ (f.reshape(c, -1) - self.mean[:, None])).reshape(f.shape)
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
        """N×C feature vectors -> (x − μ)/σ (for k-means)."""
        return (x - self.mean) / self.std

    def region_masks(self, f: np.ndarray) -> list[np.ndarray]:
        """One-hot k-means regions (flattened) of a tile's features, one per bank."""
        label = assign(self.normalise_rows(f.reshape(f.shape[0], -1).T), self.centroids)
        return [(label == j).astype(np.float32) for j in range(len(self.banks))]

    def apply(self, f: np.ndarray, weights: list[float], masks: list[np.ndarray | None],
              alpha: float) -> np.ndarray:
        """Stylized features of one tile (C×h×w): fused banks, per-region banks, alpha blend."""
        if self.centroids is not None:
            masks = self.region_masks(f)
        if all(m is None for m in masks) and len(self.inputs) == 1:
            out = self.conv(self.prepare(f, next(iter(self.inputs))), *self.fused(weights))
            return out if alpha == 1 else (alpha * out + (1 - alpha) * f).astype(np.float32)
        c, size = f.shape[0], f.shape[1] * f.shape[2]
        n = {kind: self.prepare(f, kind) for kind in self.inputs}
        share = shares(masks, weights, alpha, size)
        out = f.reshape(c, size) * (1 - share.sum(axis=0))
        for bank, s in zip(self.banks, share):
            if s.any():
                out += self.conv(n[bank.input], bank.weight, bank.bias).reshape(c, size) * s
        return out.reshape(f.shape).astype(np.float32)

    def apply_device(self, rt, f, weights: list[float], alpha: float):
        """``apply`` for unmasked device features (1×C×h×w, fused.py): normalise, fused banks
        (a weighted sum of each bank's output where banks read different inputs), alpha blend,
        all where the models run."""
        groups = {kind: [i for i, b in enumerate(self.banks) if b.input == kind] for kind in self.inputs}
        g, done = None, 0.0
        for kind, members in groups.items():
            n = fused.affine(rt, f, self.affine(kind))
            total = sum(weights[i] for i in members)
            if total <= 0:
                continue
            part = self.fused([weights[i] / total if i in members else 0.0 for i in range(len(self.banks))])
            out = rt.session(CONV).run_bound({"features": n, "weight": part[0], "bias": part[1]})["stylized"]
            g = out if g is None else fused.mix(rt, g, out, done / (done + total))
            done += total
        return g if alpha == 1 else fused.mix(rt, g, f, alpha)


def preview_path(bank_file: Path) -> Path:
    """Where a bank's thumbnail sits: next to it, same stem, .png (previews.write_preview)."""
    return Path(bank_file).with_suffix(".png")
