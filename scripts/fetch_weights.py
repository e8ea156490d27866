#!/usr/bin/env python3
"""Fetch the ten wct16x weight files (Collaborative Distillation, CVPR 2020, MIT licence).

From upstream at a pinned commit on a machine with internet, or copied from a local folder
(``--source DIR`` or the ``NST_WEIGHTS_SOURCE`` environment variable) on machines without it.
Every file is verified against its pinned sha256 and written atomically; files already present
with the right checksum are kept. The weights are never committed to this repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

from nst_core.models import sha256

UPSTREAM_COMMIT = "4a269dc90020721ef9b279b2926c62f5bcd6d209"
UPSTREAM_URL = ("https://raw.githubusercontent.com/MingSun-Tse/Collaborative-Distillation/"
                f"{UPSTREAM_COMMIT}/")
# file name here -> (upstream path, sha256)
FILES = {
    "encoder1.pth": ("trained_models/wct_se_16x_new/20191110-133713_E20.pth",
                     "f74755a65164a88e0db8cbb7d99d7078b9fa505df0953fac5123bfc7c84e0ea4"),
    "decoder1.pth": ("trained_models/wct_se_16x_new_sd/20191111-091942_E20.pth",
                     "05f26ad40044c019da0cf731372d5bd2ee4b477825c7f45508da70b1cd5a95fd"),
    "encoder2.pth": ("trained_models/wct_se_16x_new/20191110-132713_E20.pth",
                     "cb654af6bae77176f8c7721c965483e865b987f2f1612dda1ba0d0b5c3819a61"),
    "decoder2.pth": ("trained_models/wct_se_16x_new_sd/20191111-091932_E20.pth",
                     "94dd26f0e69857f79bf284a43a3708aa05c09c2593427c7f6e400ad12ce314e6"),
    "encoder3.pth": ("trained_models/wct_se_16x_new/20191110-132705_E20.pth",
                     "269cdd0e2634e3e1e5d3005b9e7eca0f4cc8077653fee1ac8c0cf1cbe9ab8758"),
    "decoder3.pth": ("trained_models/wct_se_16x_new_sd/20191111-091929_E20.pth",
                     "005faba27859435762a8a9386116c00629cd8835a01617d0a71defa577c42174"),
    "encoder4.pth": ("trained_models/wct_se_16x_new/20191110-132643_E20.pth",
                     "d2f059cbcd6669556a43aadef58d20c8b280462c18b60a9e7424a14dd271cd6b"),
    "decoder4.pth": ("trained_models/wct_se_16x_new_sd/20191111-092553_E20.pth",
                     "902f65e2c6033d803d02df552eb898e5985190a7ae67d155e384826eec6f04cb"),
    "encoder5.pth": ("trained_models/wct_se_16x_new/20191109-211322_E20.pth",
                     "9417c34d0d8d621bc6af78be745f1b8d30f5f210efa01e50655c60eb3770816b"),
    "decoder5.pth": ("trained_models/wct_se_16x_new_sd/20191110-204615_E20.pth",
                     "17fd0f81622f01366eb21cb4d40140ee38cf988ed6eaf266629709c397a8b485"),
}
DEFAULT_DEST = Path(__file__).resolve().parent.parent / "build" / "weights"


class FetchError(RuntimeError):
    pass


def _install(tmp: Path, dest: Path, expected: str, origin: str) -> None:
    actual = sha256(tmp)
    if actual != expected:
        tmp.unlink()
        raise FetchError(f"checksum mismatch for {dest.name} from {origin}: expected sha256 "
                         f"{expected}, got {actual}; the source file is corrupted or a different "
                         "version — fetch it again from upstream")
    os.replace(tmp, dest)


def fetch(dest: Path, source: Path | None, log=print) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    if source is not None and not source.is_dir():
        raise FetchError(f"weights source {source} is not a folder; point --source or "
                         "NST_WEIGHTS_SOURCE at the folder holding encoder1.pth ... decoder5.pth")
    written = []
    for name, (upstream, expected) in FILES.items():
        target = dest / name
        if target.exists() and sha256(target) == expected:
            written.append(target)
            continue
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", dir=dest)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                if source is not None:
                    origin = str(source / name)
                    if not (source / name).is_file():
                        raise FetchError(f"{origin} is missing; the source folder must hold all "
                                         f"ten files: {', '.join(FILES)}")
                    with open(source / name, "rb") as src:
                        shutil.copyfileobj(src, out)
                else:
                    origin = UPSTREAM_URL + upstream
                    log(f"downloading {origin}")
                    try:
                        with urllib.request.urlopen(origin, timeout=60) as resp:
                            shutil.copyfileobj(resp, out)
                    except OSError as exc:
                        raise FetchError(f"could not download {origin}: {exc}; without internet, "
                                         "copy the files from a local folder with --source DIR "
                                         "or NST_WEIGHTS_SOURCE") from exc
            _install(tmp, target, expected, origin)
        finally:
            if tmp.exists():
                tmp.unlink()
        log(f"ok {target}")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=os.environ.get("NST_WEIGHTS_SOURCE") or None,
                        help="local folder with the ten .pth files (default: $NST_WEIGHTS_SOURCE, "
                             "else download from upstream)")
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"default: {DEFAULT_DEST}")
    args = parser.parse_args(argv)
    try:
        fetch(args.dest, Path(args.source) if args.source else None)
    except FetchError as exc:
        print(f"fetch_weights: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
