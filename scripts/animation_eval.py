"""Flicker of the three methods on a rendered sequence, with Temporal Coherence off and on.

The sequence is the scene of tests/blender/test_animation.py (camera pan for the first half,
then still, a sphere rolling across, Cycles with an animated seed), rendered by the installed
extension through its own pass route in Blender (bpy from the dev venv):

    python scripts/animation_eval.py --size 320x240 --frames 24 --out build/animation
    python scripts/animation_eval.py --size 1280x720 --frames 12 --methods adain --out build/animation720

or one of tests/blender/test_motion_scenes.py's scenes (a still camera and a moving object, clean
or noisy, a fast object, a camera turning, trucking or moving in, a turning Suzanne; 14 frames):

    python scripts/animation_eval.py --scene clean --size 240x180 --coherence 0,1 --out build/clean

For each method and coherence: Lai et al.'s warping error and the still-region frame
difference as ratios to the plain render (nst_core.metrics.evaluate_frames), the warping error
on the moving object (pixels that move while the camera is still, or the scene's object mask;
Lai et al.'s masks there, and the object whole, its antialiased motion edges in),
the still ratio of the worst pair and over the clear region (still pixels at least 4 px from
what moves), the ghost ratio behind the object (with a pan, followed along the set; with a still
camera also over what the object touches, its shadow included: metrics.footprints), each frame's style gain
against the same frame stylized alone (worst and mean difference), and the cost of coherence:
median seconds per frame with and without it, measured in alternation on the same frames.
Writes animation.md, animation.json and crop.png (the object over four frames: the plain render,
then for each method the frames stylized alone and the coherent ones).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
STYLE = "vangogh_starry_night"
os.environ.setdefault("NST_MODELS_DIR", str(ROOT / "build" / "models"))


def render(size: str, frames: int, work: Path, scene: str | None = None) -> Path:
    """The test's scene (or one of tests/blender/test_motion_scenes.py's, by name) rendered by
    the extension in Blender: an .npz of frames (sRGB), Vector passes and depths (and, for a
    motion scene, the moving object's masks)."""
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "blender")]
    import extension
    zip_path = extension.build(extension.python_version(), work / "dist")
    (work / "home").mkdir(exist_ok=True)
    (work / "work").mkdir(exist_ok=True)
    env = {**extension.isolated_env(work / "home"), "NST_MOTION_SIZE": size,
           "NST_MOTION_FRAMES": str(frames), "NST_SCENE_SIZE": size, "NST_SCENES": scene or ""}
    r = subprocess.run([extension.BLENDER_PYTHON, str(ROOT / "tests" / "blender" / "harness.py"),
                        str(zip_path), str(extension.STYLE), str(work / "work"), "test_init",
                        "test_motion_scenes" if scene else "test_animation"],
                       capture_output=True, text=True, env=env, timeout=3600)
    lines = [x for x in r.stdout.splitlines() if x.startswith("NST-RESULTS ")]
    if not lines:
        raise SystemExit(f"Blender printed no results:\n{r.stderr[-3000:]}")
    facts = json.loads(lines[-1][len("NST-RESULTS "):])
    got = facts["motion_scenes" if scene else "motion_sequence"]
    if "error" in got:
        raise SystemExit(got["error"])
    return Path(got["paths"][scene] if scene else got["path"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--sequence", type=Path, help="an .npz from an earlier run instead of rendering")
    ap.add_argument("--scene", help="one of tests/blender/test_motion_scenes.py's scenes (clean, noisy, "
                    "fast, pan, truck, dolly, turning) instead of the test's pan-then-still scene")
    ap.add_argument("--methods", default="wct,adain,stylebank")
    ap.add_argument("--coherence", default="0,0.5,0.75,1")
    ap.add_argument("--gain-every", type=int, default=3, help="style gain on every n-th frame")
    ap.add_argument("--no-plate", action="store_true", help="leave out the scene's clean plate "
                    "(the set rendered without the moving object, as Apply Styles renders it)")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "animation")
    args = ap.parse_args()

    from nst_core import Settings, load_image, metrics, motion, runtime, temporal
    from nst_core.images import save_image

    args.out.mkdir(parents=True, exist_ok=True)
    seq = args.sequence or render(args.size, args.frames, Path(tempfile.mkdtemp(prefix="nst_anim_")),
                                  args.scene)
    data = np.load(seq)
    frames, vectors, depths = list(data["frames"]), list(data["vectors"]), list(data["depths"])
    n = len(frames)
    masks = [m > 0.5 for m in data["masks"]] if "masks" in data else None
    views = list(data["views"]) if "views" in data else [None] * len(frames)   # (the cameras)
    clean = data["clean"] if "clean" in data and not args.no_plate else None
    style = load_image(DATA / "style" / f"{STYLE}.jpg")[..., :3]
    rt = runtime.get_runtime()
    # the object: the motion scenes' masks, or what moves once the camera is still (half-way)
    half = 0 if masks else n // 2
    moving = masks or [np.abs(v).max(-1) > metrics.STILL_PX for v in vectors]
    still_camera = masks is not None and args.scene not in ("pan", "truck", "dolly")
    # the pan's set moves: the ghost ratio follows it (each frame's median backward flow off the object)
    shifts = None if still_camera or not masks else [
        np.median(motion.flows(v)[0][~m], 0) for v, m in zip(vectors, masks)]
    pairs = [motion.flows(v) for v in vectors]
    lai_masks = metrics.consistent(pairs, depths, views)
    obj_flows = [b for b, _ in pairs[half + 1:]]
    rows, crops = [], []
    strengths = [float(x) for x in args.coherence.split(",")]
    for method in args.methods.split(","):
        settings = Settings(method, STYLE if method == "stylebank" else style)
        alone, alone_s = [], []
        for f in frames:
            t0 = time.perf_counter()
            alone.append(temporal.Coherence(0).stylize(f, settings, runtime=rt).image)
            alone_s.append(time.perf_counter() - t0)
        gains_alone = {t: metrics.evaluate(frames[t], style, alone[t], runtime=rt).style_gain
                       for t in range(0, n, args.gain_every)}
        for strength in strengths:
            coherence = temporal.Coherence(strength, clean=clean)
            out, secs, plain_secs = [], [], []
            for i, (f, v, d, view) in enumerate(zip(frames, vectors, depths, views)):
                def coherent(f=f, v=v, d=d, view=view):
                    out.append(coherence.stylize(f, settings, vector=v, depth=d, view=view,
                                                 runtime=rt).image)

                def alone_again(f=f):         # the same frame alone: the cost of coherence
                    temporal.Coherence(0).stylize(f, settings, runtime=rt)
                # in alternating order: the second call of a pair runs on a warmer cache
                for fn, times in ((coherent, secs), (alone_again, plain_secs))[::1 if i % 2 else -1]:
                    t0 = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - t0)
            s = metrics.evaluate_frames(frames, out, vectors, depths, views=views)
            # on the object: Lai et al.'s masks there (off its motion edges), and the object whole
            obj = [m & (t >= half) for t, m in enumerate(moving)][half + 1:]
            lai = [m & c for m, c in zip(obj, lai_masks[half:])]
            we_obj, we_obj_edges = (metrics.warping_error(out[half:], obj_flows, m) for m in (lai, obj))
            we_obj_plain, we_obj_plain_edges = (metrics.warping_error(frames[half:], obj_flows, m)
                                                for m in (lai, obj))
            diffs = [gains_alone[t] - metrics.evaluate(frames[t], style, out[t], runtime=rt).style_gain
                     for t in gains_alone]
            ghost = metrics.ghost_ratio(out, alone, moving, shifts) if masks and strength > 0 else None
            shadow = None               # the same over what the object touches, its shadow too
            if strength > 0 and (still_camera or not masks) and n - half > 2 * metrics.GHOST_LAG[1]:
                shadow = metrics.ghost_ratio(out[half:], alone[half:],
                                             metrics.footprints(frames[half:], moving[half:]))
            rows.append({"method": method, "coherence": strength, "clean_plate": clean is not None,
                         **s, "ghost_ratio": ghost, "shadow_ghost_ratio": shadow,
                         "object_warping_ratio": we_obj / we_obj_plain,
                         "object_warping_ratio_with_edges": we_obj_edges / we_obj_plain_edges,
                         "gain_alone": float(np.mean(list(gains_alone.values()))),
                         "gain_drop_mean": float(np.mean(diffs)), "gain_drop_max": float(np.max(diffs)),
                         "ms_per_frame": 1000 * statistics.median(secs),
                         "ms_per_frame_alone": 1000 * statistics.median(plain_secs),
                         "cost": statistics.median(secs) / statistics.median(plain_secs) - 1})
            print(json.dumps(rows[-1]), flush=True)
            if strength == max(strengths):    # the crop's coherent column: the most coherent run
                crops.append((method, alone, out))
    # the object over four frames, with what it leaves behind: for each method a row of the
    # frames stylized alone above a row of the coherent ones (the plain render on top)
    t = n - 4 if masks is None else n // 2
    ys, xs = np.nonzero(moving[t])
    if len(ys):
        cy, cx = int(ys.mean()), int(xs.mean())
        r = max(16, int(1.4 * max(np.ptp(ys), np.ptp(xs)) / 2))
        box = (slice(max(0, cy - r), cy + r), slice(max(0, cx - 3 * r), cx + r))
        row = lambda seq: np.concatenate([seq[k][box][..., :3] for k in range(t - 3, t + 1)], 1)  # noqa: E731
        sheet = np.concatenate([row(frames)] + [x for _, a, o in crops for x in (row(a), row(o))], 0)
        save_image(args.out / "crop.png", sheet)
    (args.out / "animation.json").write_text(json.dumps(rows, indent=2))
    h, w = frames[0].shape[:2]
    plate = "with" if clean is not None else "without"
    lines = [f"{n} frames at {w}×{h}, style {STYLE}, {plate} the clean plate; ratios are "
             "stylized / plain render", "",
             "| method | coherence | warping ratio (edges in) | still ratio (worst pair) | clear ratio | ghost ratio "
             "(with its shadow) | object warping ratio (its edges in) | style gain drop (mean / worst) | ms/frame (alone) | cost |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ghost = "" if r["ghost_ratio"] is None else f"{r['ghost_ratio']:.2f}"
        if r["shadow_ghost_ratio"] is not None:
            ghost += f" ({r['shadow_ghost_ratio']:.2f})"
        lines.append(f"| {r['method']} | {r['coherence']:g} | {r['warping_ratio']:.2f} "
                     f"({r['warping_ratio_with_edges']:.2f}) | {r['still_ratio']:.2f} "
                     f"({r['still_ratio_worst']:.2f}) | {r['clear_ratio']:.2f} | {ghost} | "
                     f"{r['object_warping_ratio']:.2f} ({r['object_warping_ratio_with_edges']:.2f}) | "
                     f"{r['gain_drop_mean']:+.3f} / {r['gain_drop_max']:+.3f} | "
                     f"{r['ms_per_frame']:.0f} ({r['ms_per_frame_alone']:.0f}) | {100 * r['cost']:+.0f} % |")
    lines.append(f"\nplain render: warping error {rows[0]['warping_error_plain']:.5f}, still-region "
                 f"difference {rows[0]['still_difference_plain']:.2f}/255 over {rows[0]['still_fraction']:.0%} of the pixels")
    (args.out / "animation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
