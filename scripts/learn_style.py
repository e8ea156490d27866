#!/usr/bin/env python3
"""Learn a new StyleBank style from one image: a bank trained with the encoder and decoder
frozen (scripts/train_stylebank.py, learn-style's recipe), written with its thumbnail into the
user's styles folder, where `nst styles`, `nst stylize --method stylebank` and Blender find it.

    .venv/bin/python scripts/learn_style.py my_painting.jpg --name my_style

Needs torch (the dev environment of `make install`); stylizing never does.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from nst_core.errors import NSTError
from nst_core.images import load_image
from nst_core.models import ModelStore
from nst_core.previews import write_preview
from nst_core.runtime import DEVICES, get_runtime
from nst_core.stylebank import available, preview_path, user_styles_dir

TRAIN = Path(__file__).resolve().parent / "train_stylebank.py"


def learn(args) -> Path:
    if not args.name.replace("_", "").replace("-", "").isalnum():
        raise NSTError(f"--name '{args.name}': use letters, digits, '_' and '-' only")
    load_image(args.image)                     # a clear error for a missing or broken image
    store = ModelStore(args.models)
    builtin = [n for n, (_, source, _) in available(store).items() if source == "built-in"]
    if args.name in builtin:
        raise NSTError(f"'{args.name}' is a built-in style; choose another --name")
    out = user_styles_dir()
    if (out / f"{args.name}.npz").exists() and not args.overwrite:
        raise NSTError(f"a learned style '{args.name}' exists ({out / (args.name + '.npz')}); "
                       "pass --overwrite to replace it")
    cmd = [sys.executable, str(TRAIN), "--style-image", str(args.image), "--name", args.name,
           "--out", str(out), "--steps", str(args.steps), "--lr", str(args.lr), "--overwrite",
           "--size", str(args.size), "--batch", str(args.batch)]
    if args.device != "auto":
        cmd += ["--device", args.device]
    if args.data:
        cmd += ["--data", str(args.data)]
    print(f"learning '{args.name}' from {args.image}: {args.steps} steps on "
          f"{args.device}; progress and time left on stderr", file=sys.stderr)
    if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode != 0:
        raise NSTError("learn-style failed (see the messages above)")
    write_preview(args.name, preview_path(out / f"{args.name}.npz"), get_runtime(args.models, "cpu"))
    return out / f"{args.name}.npz"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image")
    p.add_argument("--name", required=True, help="name to stylize with later")
    p.add_argument("--steps", type=int, default=100, help="training steps (default 100: about 7 "
                   "minutes on a 2-core CPU)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3; the "
                   "built-ins were trained 500 steps at 1e-4, to the same quality)")
    p.add_argument("--size", type=int, default=256, help="training crop size (default 256)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--overwrite", action="store_true", help="replace a learned style of that name")
    p.add_argument("--data", default=None, help="folder with content/ photos (default: the "
                   "project's resized copy, else ../shared/data)")
    p.add_argument("--models", default=None)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path = learn(args)
    except NSTError as exc:
        print(f"learn_style: error: {exc}", file=sys.stderr)
        return 2
    print(f"learned style '{args.name}' -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
