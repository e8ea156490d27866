"""Command line: ``nst stylize``, ``nst styles``, ``nst evaluate``, ``nst info`` (also
``python -m nst_core``); ``nst learn-style`` says where training lives (scripts/learn_style.py).

Errors exit with status 2 and one line naming the problem, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__, rendered
from .errors import NSTError
from .images import STYLE_DECODE_SIDE, load_image, save_image, sequence
from .methods import get as get_method
from .pipeline import METHODS, stylize_with
from .runtime import DEVICES, available_providers, get_runtime
from .settings import Settings
from .tiling import BASE_BYTES, MIN_TILE_BYTES
from .temporal import DEFAULT_STRENGTH as DEFAULT_COHERENCE

EXIT_ERROR = 2


class _Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    WIDTH = 30

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, fraction: float, message: str) -> None:
        if not self.enabled:
            return
        filled = int(self.WIDTH * fraction)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:4.0%} {message:<32}")
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()


def _styles(args, names: bool) -> list:
    """The --style arguments: names, or images decoded no larger than they are used."""
    side = max(STYLE_DECODE_SIDE, args.style_size or 0)
    named = next((s for s in args.style if not Path(s).suffix and not Path(s).exists()), None)
    if not names and named is not None:     # (a name given to an image method)
        raise NSTError(f"--style {named}: no such file; for the StyleBank style of that name add "
                       "--method stylebank (`nst styles` lists them)")
    return list(args.style) if names else [load_image(s, side) for s in args.style]


def _parse_weights(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise NSTError(f"--weights must be comma-separated numbers such as 0.7,0.3, got '{text}'") from None


def _parse_masks(items: list[str], count: int) -> list | None:
    if not items:
        return None
    masks = [None] * count
    for item in items:
        index, sep, path = item.partition("=")
        if not sep or not index.isdigit():
            raise NSTError(f"--mask must look like INDEX=MASK.png (INDEX counts styles from 0), got '{item}'")
        if int(index) >= count:
            raise NSTError(f"--mask {item}: there are only {count} style(s), indices 0..{count - 1}")
        image = load_image(path)
        masks[int(index)] = image[..., 3] if image.shape[2] == 4 and image[..., :3].max() == 0 \
            else image[..., :3].mean(axis=2)
    return masks


def cmd_stylize(args) -> int:
    out = Path(args.output)
    bank = get_method(args.method).takes_style_names
    inputs = [Path(args.content), *([] if bank else map(Path, args.style))]
    if any(out.exists() and out.resolve() == p.resolve() for p in inputs if p.exists()):
        raise NSTError(f"output {out} is one of the input files; choose another -o path "
                       "(inputs are never overwritten)")
    weights = _parse_weights(args.weights)
    if weights is not None and len(weights) == len(args.style) and sum(weights) > 0 \
            and abs(sum(weights) - 1) > 1e-6:
        print(f"nst: warning: weights {args.weights} sum to {sum(weights):g}; normalised to sum 1",
              file=sys.stderr)
    if args.regions is not None and args.regions != len(args.style):
        raise NSTError(f"--regions {args.regions} needs {args.regions} styles (one bank per "
                       f"region), got {len(args.style)} --style")
    if args.memory_gb * (1 << 30) < BASE_BYTES + MIN_TILE_BYTES:
        print(f"nst: warning: --memory-gb {args.memory_gb:g} is below the "
              f"{(BASE_BYTES + MIN_TILE_BYTES) / (1 << 30):.2f} GiB the models alone take; the "
              "image runs in the smallest tiles, many times slower", file=sys.stderr)
    content = load_image(args.content)
    styles = _styles(args, bank)
    settings = Settings(method=args.method, styles=styles, weights=weights,
                        masks=_parse_masks(args.mask, len(styles)), regions=args.regions is not None,
                        strength=args.alpha, preserve_color=args.preserve_color,
                        device=args.device, threads=args.threads, models_dir=args.models,
                        style_size=args.style_size, seamless=args.seamless,
                        work_size=args.work_size, memory_budget=int(args.memory_gb * (1 << 30)))
    result = stylize_with(content, settings, progress=_Progress())
    save_image(out, result.image)
    summary = {"output": str(out), "method": result.method, "provider": result.provider,
               "device_reason": result.device_reason, "seconds": round(result.seconds, 3),
               "width": result.image.shape[1], "height": result.image.shape[0],
               "models": result.models}
    if args.json:
        print(json.dumps(summary))
    else:
        note = f" ({result.device_reason})" if result.device_reason else ""
        print(f"wrote {out} ({summary['width']}×{summary['height']}, {result.method}, "
              f"{result.provider}{note}, {result.seconds:.2f} s)")
    return 0


def cmd_evaluate(args) -> int:
    from .metrics import evaluate

    content, style = load_image(args.content), load_image(args.style)
    rows = []
    for path in args.outputs:
        scores = evaluate(content, style, load_image(path), models_dir=args.models, device=args.device)
        rows.append({"output": path, **scores.as_dict()})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'output':<40} {'style gain':>10} {'Gram gain':>9} {'content dist':>12} {'style dist':>10}")
        for r in rows:
            print(f"{r['output']:<40} {r['style_gain']:>10.3f} {r['gram_gain']:>9.3f} "
                  f"{r['content_distance']:>12.3f} {r['style_distance']:>10.2f}")
    return 0


def cmd_stylize_frames(args) -> int:
    from .temporal import Coherence

    paths = sequence(args.frames, "frames")
    vectors, depths = rendered.read_passes(args, len(paths)) if args.vectors else (None, None)
    if args.coherence > 0 and vectors is None:
        raise NSTError("temporal coherence follows Blender's motion vectors: give --vectors "
                       "(the Vector pass of every frame as EXR), or --coherence 0")
    out = Path(args.output)
    if out.exists() and any(out.resolve() == p.parent.resolve() for p in paths):
        raise NSTError(f"output folder {out} holds the input frames; choose another -o folder "
                       "(inputs are never overwritten)")
    bank = get_method(args.method).takes_style_names
    styles = _styles(args, bank)
    settings = Settings(method=args.method, styles=styles, strength=args.alpha,
                        style_size=args.style_size)
    rt = get_runtime(args.models, args.device, args.threads)
    first = rendered.read_frame(paths[0])       # (the clean plate's size is checked against it)
    clean = None if args.clean_plate is None else rendered.read_clean_plate(
        Path(args.clean_plate), first.shape[:2])
    coherence = Coherence(args.coherence, clean=clean)
    written = []
    try:
        for i, path in enumerate(paths):
            frame = first if i == 0 else rendered.read_frame(path)
            result = coherence.stylize(frame, settings, runtime=rt,
                                       vector=None if vectors is None else vectors[i],
                                       depth=None if depths is None else depths[i])
            written.append(save_image(out / f"{path.stem}.png", result.image))
            print(f"frame {i + 1}/{len(paths)}: {written[-1]} ({result.seconds:.2f} s)", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"nst: cancelled; {len(written)} of {len(paths)} frames written to {out}, each "
              "complete" if written else "nst: cancelled; no frame written", file=sys.stderr)
        return EXIT_ERROR
    if coherence.canvas.clean_misfit:
        print("nst: warning: the clean plate does not fit these frames (over a quarter of the set "
              "differs from it): the still set was learnt from the frames", file=sys.stderr)
    print(json.dumps({"frames": len(written), "output": str(out)}) if args.json
          else f"wrote {len(written)} frames to {out}")
    return 0


def cmd_evaluate_frames(args) -> int:
    from .metrics import CLEAR_PX, evaluate_frames
    plain = [rendered.read_frame(p) for p in sequence(args.plain, "plain frames")]
    stylized = [rendered.read_frame(p) for p in sequence(args.stylized, "stylized frames")]
    alone = None if not args.alone else [rendered.read_frame(p)
                                         for p in sequence(args.alone, "frames stylized alone")]
    if len(plain) != len(stylized) or len(plain) != len(alone or plain):
        raise NSTError(f"{len(plain)} plain frames, {len(stylized)} stylized, {len(alone or plain)} alone")
    try:
        scores = evaluate_frames(plain, stylized, *rendered.read_passes(args, len(plain)), alone=alone)
    except ValueError as exc:       # e.g. too few frames for the ghost ratio
        raise NSTError(("--alone: " if alone else "") + str(exc)) from None
    if args.json:
        print(json.dumps(scores, indent=2))
    else:
        print(f"warping error: plain {scores['warping_error_plain']:.5f}, stylized "
              f"{scores['warping_error']:.5f}, ratio {scores['warping_ratio']:.2f}\n"
              f"still-region frame difference (0-255, {scores['still_fraction']:.0%} of the pixels): "
              f"plain {scores['still_difference_plain']:.2f}, stylized {scores['still_difference']:.2f}, "
              f"ratio {scores['still_ratio']:.2f} (worst pair {scores['still_ratio_worst']:.2f}); away "
              f"from what moves (>= {CLEAR_PX} px): ratio {scores['clear_ratio']:.2f}"
              + (f"\nghost ratio (behind / ahead of what moves): {scores['ghost_ratio']:.2f}; "
                 f"with its shadow: {scores['shadow_ghost_ratio']:.2f}\n"
                 f"sharpness of what moves in the last frames (stylized / alone): "
                 f"{scores['sharpness_ratio']:.2f}" if alone else ""))
    return 0


def cmd_styles(args) -> int:
    from .stylebank import available, preview_path, user_styles_dir

    rt = get_runtime(args.models, "cpu")
    rows = [{"name": name, "source": source, "file": str(path),
             "preview": str(preview) if (preview := preview_path(path)).is_file() else None}
            for name, (path, source, _) in available(rt.store).items()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no StyleBank styles: none in {rt.store.dir} (run `make models`) or in "
              f"{user_styles_dir()} (scripts/learn_style.py)")
    for r in rows:
        print(f"{r['name']:<32} {r['source']}")
    return 0


def cmd_learn_style(args) -> int:
    """Learning a style trains a network, which needs torch: that lives with the training
    scripts of the source tree, not in the engine."""
    raise NSTError("learning a style trains a network and needs torch, which stylizing does not; "
                   "in the nst source tree run `make install`, then `.venv/bin/python "
                   "scripts/learn_style.py IMAGE --name NAME` (the style lands where `nst styles` "
                   "and Blender find it)")


def cmd_info(args) -> int:
    import numpy
    import onnxruntime

    rt = get_runtime(args.models, args.device)
    try:
        models = rt.store.status()
        models_error = ""
    except NSTError as exc:
        models, models_error = [], str(exc)
    device, reason = "", ""
    if models:
        try:
            device, reason = rt.device.name, rt.device.reason
        except NSTError as exc:
            reason = str(exc)
    info = {"nst_core": __version__, "onnxruntime": onnxruntime.__version__,
            "numpy": numpy.__version__, "python": sys.version.split()[0],
            "providers": available_providers(), "device": device, "device_reason": reason,
            "models_dir": str(rt.store.dir), "models": models, "models_error": models_error}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"nst_core {__version__}, onnxruntime {info['onnxruntime']}, numpy {info['numpy']}, "
          f"Python {info['python']}")
    print(f"providers: {', '.join(info['providers'])}")
    if device:
        print(f"device: {device}" + (f" ({reason})" if reason else ""))
    print(f"models: {info['models_dir']}")
    if models_error:
        print(f"  {models_error}")
    for row in models:
        print(f"  {row['name']:<16} {row['kind']:<9} level {row['level']}  {row['status']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nst", description="Neural style transfer (WCT, AdaIN, StyleBank).")
    parser.add_argument("--version", action="version", version=f"nst_core {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("stylize", help="stylize an image with one or more styles")
    p.add_argument("content", help="content image")
    p.add_argument("--style", action="append", required=True,
                   help="style image, or a style name for --method stylebank (repeat to blend)")
    p.add_argument("--weights", help="comma-separated weight per style, e.g. 0.7,0.3")
    p.add_argument("--method", default="wct", help=f"one of {', '.join(METHODS)} (default wct)")
    p.add_argument("--alpha", type=float, default=1.0, help="style strength 0..1 (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--mask", action="append", default=[], metavar="INDEX=MASK.png",
                   help="where style INDEX (from 0) applies; white = style")
    p.add_argument("--regions", type=int, metavar="K", help="stylebank: K regions by k-means of "
                   "the content's features, region i gets style i (K = number of --style)")
    p.add_argument("--style-size", type=int, default=512, help="long side of styles (default 512)")
    p.add_argument("--seamless", action="store_true", help="keep a tileable texture tileable")
    p.add_argument("--work-size", type=int, default=None, metavar="PX",
                   help="run the networks with the long side at PX (styles scaled alike) and scale "
                        "the result up: a fast, softer preview (default: full size)")
    p.add_argument("--memory-gb", type=float, default=2.0,
                   help="memory budget; larger images run in tiles (default 2)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: onnxruntime's)")
    p.add_argument("--models", default=None, help="models folder (default: $NST_MODELS_DIR or the user cache)")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .tif)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_stylize)

    p = sub.add_parser("styles", help="list StyleBank styles (built-in and learned)")
    p.add_argument("--models", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_styles)

    p = sub.add_parser("learn-style", help="learn a new StyleBank style (needs torch: says how)",
                       add_help=True)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_learn_style)

    p = sub.add_parser("evaluate", help="style gain, Gram gain and content distance of stylized images")
    p.add_argument("content")
    p.add_argument("style")
    p.add_argument("outputs", nargs="+", metavar="OUT")
    p.add_argument("--models", default=None)
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("stylize-frames", help="stylize an image sequence without flicker, following "
                       "Blender's Vector passes")
    p.add_argument("frames", help="folder or pattern of frames (PNG/JPEG, or EXR renders)")
    p.add_argument("--vectors", help="folder or pattern of the frames' Vector passes (EXR)")
    p.add_argument("--depth", help="folder or pattern of the frames' Depth passes (EXR): sharper "
                   "occlusion")
    p.add_argument("--coherence", type=float, default=DEFAULT_COHERENCE,
                   help=f"temporal coherence 0..1 (0: each frame on its own; default {DEFAULT_COHERENCE:g})")
    p.add_argument("--clean-plate", help="the set without what moves, rendered like the frames "
                   "(a still camera): the still set is painted once from it")
    p.add_argument("--style", action="append", required=True,
                   help="style image (or StyleBank style name)")
    p.add_argument("--method", default="wct", help=f"one of {', '.join(METHODS)} (default wct)")
    p.add_argument("--alpha", type=float, default=1.0, help="style strength 0..1 (default 1)")
    p.add_argument("--style-size", type=int, default=512, help="long side of styles (default 512)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--models", default=None)
    p.add_argument("-o", "--output", required=True, help="output folder: one PNG per frame")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stylize_frames)

    p = sub.add_parser("evaluate-frames", help="flicker of a stylized sequence: warping error "
                       "and still-region difference, against the plain render")
    p.add_argument("plain", help="folder or pattern of the plain frames")
    p.add_argument("stylized", help="folder or pattern of the stylized frames")
    p.add_argument("--vectors", required=True, help="folder or pattern of the Vector passes (EXR)")
    p.add_argument("--depth", help="folder or pattern of the Depth passes (EXR)")
    p.add_argument("--alone", help="the same frames stylized one by one: adds the ghost ratio")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate_frames)

    p = sub.add_parser("info", help="list models, providers and versions")
    p.add_argument("--models", default=None)
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NSTError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"nst: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("nst: cancelled", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
