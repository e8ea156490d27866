"""Training data from ../shared/data: a fixed held-out split and a resized copy for training.

Held out (never seen by training, enforced by ``training_files``): every 5th content photo and
every 5th painting in sorted order. ``eval_pairs`` pairs them for the quality metric. The
training-only folders (``train_content/``, ``train_style/``) join the training split whole.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
EXTS = {".jpg", ".jpeg", ".png"}
HOLDOUT_EVERY = 5
N_EVAL_PAIRS = 30
HELDOUT_FILE = "HELDOUT"
TRAIN_ONLY = {"content": "train_content", "style": "train_style"}   # never held out


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTS)


def split(folder: Path) -> tuple[list[Path], list[Path]]:
    """(training, held-out) files of one folder, by sorted name."""
    files = _files(folder)
    held = [p for i, p in enumerate(files) if i % HOLDOUT_EVERY == 0]
    return [p for p in files if p not in held], held


def heldout_names(data: Path = DEFAULT_DATA) -> set[str]:
    return {f"{kind}/{p.stem}" for kind in ("content", "style") for p in split(data / kind)[1]}


def training_files(folder: Path, kind: str) -> list[Path]:
    """Files of ``folder`` (the original or a resized copy) that training may use.

    The held-out names come from the shared data when it is there, else from the HELDOUT file
    that ``prepare`` writes beside a resized copy (e.g. on a GPU machine without shared data).
    """
    listing = folder.parent / HELDOUT_FILE
    if (DEFAULT_DATA / kind).is_dir():
        held = {p.stem for p in split(DEFAULT_DATA / kind)[1]}
    elif listing.is_file():
        held = {line.split("/", 1)[1] for line in listing.read_text().split() if line.startswith(kind + "/")}
    else:
        raise RuntimeError(f"cannot tell the held-out split for {folder}: no {DEFAULT_DATA} and no {listing}")
    train = [p for p in _files(folder) if p.stem not in held]
    if not train:
        raise RuntimeError(f"no training images in {folder}")
    return train


def eval_pairs(data: Path = DEFAULT_DATA) -> list[tuple[Path, Path]]:
    contents, styles = split(data / "content")[1], split(data / "style")[1]
    return [(contents[i % len(contents)], styles[(i * 7) % len(styles)]) for i in range(N_EVAL_PAIRS)]


def prepare(data: Path, out: Path, short_side: int = 512, max_long: int = 768) -> None:
    """Resize the training images (short side ``short_side``) into ``out``/{content,style} as JPEG."""
    held = heldout_names(data)
    for kind in ("content", "style"):
        (out / kind).mkdir(parents=True, exist_ok=True)
        extra = data / TRAIN_ONLY[kind]
        paths = split(data / kind)[0] + (_files(extra) if extra.is_dir() else [])
        for path in paths:
            if f"{kind}/{path.stem}" in held:   # a training-only file named like a held-out one
                continue
            with Image.open(path) as im:
                im = im.convert("RGB")
                scale = short_side / min(im.size)
                size = (round(im.width * scale), round(im.height * scale))
                im = im.resize(size, Image.Resampling.LANCZOS)
                left, top = max(0, (im.width - max_long) // 2), max(0, (im.height - max_long) // 2)
                im = im.crop((left, top, left + min(im.width, max_long), top + min(im.height, max_long)))
                im.save(out / kind / f"{path.stem}.jpg", quality=92)
    (out / HELDOUT_FILE).write_text("\n".join(sorted(held)) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Resize the training split into a small copy.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "data512")
    args = parser.parse_args(argv)
    prepare(args.data, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
