#!/usr/bin/env python3
"""`make demo`: stylize an example photo with each method and write a side-by-side strip.

Uses a photo and a public-domain painting from the shared data folder when it is there
(``--data``); otherwise a procedurally made content image and style, so the demo runs anywhere.
StyleBank takes a learned style by name, not an image: the built-in bank trained on the same
painting when there is one, else the first known bank.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import nst_core
from nst_core import stylebank

CONTENT = "content/kodak_kodim23.png"
STYLE = "style/vangogh_starry_night.jpg"
STYLE2 = "style/hokusai_great_wave.jpg"


def synthetic(size: int = 384) -> tuple[np.ndarray, np.ndarray]:
    """A shaded sphere on a checker floor (content) and coloured swirls (style)."""
    y, x = np.mgrid[0:size, 0:size] / size
    floor = ((np.floor(x * 8) + np.floor(y * 8)) % 2)[..., None] * np.array([0.8, 0.7, 0.5])
    d = np.sqrt((x - 0.5) ** 2 + (y - 0.45) ** 2)
    shade = np.clip(1 - d / 0.3, 0, 1)[..., None] * np.array([0.9, 0.3, 0.2])
    content = np.where(d[..., None] < 0.3, shade, floor * 0.8 + 0.1)
    a = np.arctan2(y - 0.5, x - 0.5) * 3 + d * 40
    style = np.stack([0.5 + 0.5 * np.sin(a), 0.5 + 0.5 * np.sin(a + 2), 0.4 + 0.4 * np.cos(a * 0.5)], -1)
    return content.astype(np.float32), style.astype(np.float32)


def strip(images: list[np.ndarray], height: int = 256) -> np.ndarray:
    resized = [nst_core.images.resize(im[..., :3], height, max(1, round(im.shape[1] * height / im.shape[0])))
               for im in images]
    return np.concatenate(resized, axis=1)


def bank_for(painting: str) -> str:
    """The StyleBank style named after ``painting``'s file stem, else the first one known."""
    known = stylebank.available(nst_core.ModelStore())
    if not known:
        raise nst_core.StyleError("no StyleBank styles in the models folder; run `make models`")
    return Path(painting).stem if Path(painting).stem in known else next(iter(known))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("build/demo"))
    args = parser.parse_args(argv)
    if (args.data / CONTENT).is_file() and (args.data / STYLE).is_file():
        content = nst_core.load_image(args.data / CONTENT)
        style = nst_core.load_image(args.data / STYLE)
        print(f"demo: {CONTENT} in the style of {STYLE}")
    else:
        content, style = synthetic()
        print("demo: shared data not found, using a synthetic content and style")
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for method in nst_core.METHODS:
        try:
            r = nst_core.stylize(content, bank_for(STYLE) if method == "stylebank" else style,
                                 method=method)
        except nst_core.NSTError as exc:
            print(f"demo: error: {exc}", file=sys.stderr)
            return 1
        path = nst_core.save_image(args.out / f"{method}.png", r.image)
        print(f"wrote {path} ({r.provider}, {r.seconds:.2f} s)")
        results.append(r.image)
    # Extras for the README: colour preservation and a two-style blend by regions.
    second = args.data / STYLE2
    other = nst_core.load_image(second)[..., :3] if second.is_file() else style[:, ::-1, ::-1].copy()
    left = np.zeros(content.shape[:2], np.float32)
    left[:, : content.shape[1] // 2] = 1
    kept = nst_core.stylize(content, style, method="adain", preserve_color=True).image
    regions = nst_core.stylize(content, [style, other], method="wct", masks=[left, 1 - left]).image
    path = nst_core.save_image(args.out / "strip.jpg", strip([content, style, *results]))
    print(f"wrote {path} (content | style | {' | '.join(nst_core.METHODS)})")
    path = nst_core.save_image(args.out / "gallery.jpg", strip([*results, kept, regions]))
    print(f"wrote {path} ({' | '.join(nst_core.METHODS)} | adain keeping colours | wct, two styles by region)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
