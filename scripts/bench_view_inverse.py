"""Apply Styles' view-transform inverse, before and after, side by side in one run.

    python scripts/bench_view_inverse.py [--before REV] [--views filmic,clip,agx] [--reps 3]

Two 1920×1080 pictures of display colours. 'shown': about 2 M distinct colours (to 1/511),
all of which the view can show: uniform random display colours, each replaced by what the view
shows of the new inverse's answer for it, kept where that moved it by less than 1/255 (so
uniform over what the view can show); an inverse's error is what the view shows of its answer
against the picture, per channel, in 1/255 (as tests/core/test_view_inverse.py measures).
'photo': a photo of ../shared/data scaled up (bicubic), as a stylized picture looks, with
fewer distinct colours and some the view cannot show; timed only. Colours a view cannot show
are compared on uniform random display colours: how far (RGB distance, 1/255) what the view
shows of each answer is from the colour asked for, after against before.

``before`` is nst_core/view_inverse.py at REV (git show), run in this process. 'agx' is
Blender's own AgX through addon/pixels.py (bpy, the default scene's view). Build: a
ViewInverse made with no inverse table kept; again: the next one, which finds it. 'every
pixel': the new inverse without finding the distinct colours first. Times are medians over
--reps, the old and new calls alternating.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nst_core  # noqa: E402
from nst_core import view_inverse  # noqa: E402

_MIX = np.array([[0.80, 0.15, 0.05], [0.10, 0.80, 0.10], [0.05, 0.15, 0.80]], np.float32)


def filmic_toy(x):
    """tests/core/test_view_inverse.py's AgX-like toy: channels mixed, a curve never reaching 1."""
    y = np.maximum(x, 0) @ _MIX.T
    return (y / (y + 0.18)) ** (1 / 2.2)


def clipping_toy(x):
    """Blender's Standard view: the sRGB curve, clipped at 1."""
    return np.clip(nst_core.linear_to_srgb(x), 0.0, 1.0)


def blender_agx():
    import bpy
    sys.modules.setdefault("addon.nst_core", nst_core)     # the add-on's bundled engine
    from addon import pixels
    scene = bpy.context.scene
    v = scene.view_settings
    print(f"Blender {bpy.app.version_string}: view {v.view_transform}, look {v.look}, "
          f"exposure {v.exposure}, display {scene.display_settings.display_device}")
    return lambda linear: pixels.shown(scene, linear)


def before_module(rev: str):
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:nst_core/view_inverse.py"],
                         check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("nst_core.view_inverse_before")
    module.__package__ = "nst_core"
    exec(compile(src, f"{rev}:nst_core/view_inverse.py", "exec"), module.__dict__)
    return module


def timed(f):
    start = time.perf_counter()
    out = f()
    return time.perf_counter() - start, out


def errors(show, back, shown):
    off = np.abs(show(back) - shown) * 255
    return off.max(), np.median(off), (off.max(-1) > 1).mean() * 100


def distinct(display):
    keys = np.rint(np.clip(display, 0, 1).reshape(-1, 3) * 511).astype(np.int64)
    return len(np.unique((keys[:, 0] * 512 + keys[:, 1]) * 512 + keys[:, 2]))


def every_pixel(inverse, display):
    """The new inverse on every pixel's own colour, without finding the distinct ones."""
    target = np.clip(display, 0, 1).astype(np.float32).reshape(-1, 3)
    return inverse._answers(target, view_inverse.REFINE_ROUNDS).reshape(display.shape)


def showable(show, inverse, n, seed=1):
    """n display colours, uniform over those ``show`` can show (see the module's docstring)."""
    rng, got, have = np.random.default_rng(seed), [], 0
    while have < n:
        want = rng.random((1 << 21, 3), dtype=np.float32)
        shown = np.asarray(show(inverse._answers(want, view_inverse.REFINE_ROUNDS)), np.float32)
        shown = shown[np.abs(shown - want).max(1) < 1 / 255]
        got.append(shown)
        have += len(shown)
    return np.concatenate(got)[:n]


def photo(height, width):
    from nst_core.images import resize
    path = ROOT.parent / "shared" / "data" / "content" / "bsds_189080_portrait_man_fez.png"
    return resize(nst_core.load_image(str(path))[..., :3], height, width) if path.is_file() else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default="394dcdc")
    ap.add_argument("--views", default="filmic,clip,agx")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--grids", default="33,49,65", help="inverse-table sizes to compare")
    ap.add_argument("--far", type=int, default=256, help="side of the out-of-reach picture")
    args = ap.parse_args()
    old = before_module(args.before)
    views = {"filmic": lambda: filmic_toy, "clip": lambda: clipping_toy, "agx": blender_agx}
    far = np.random.default_rng(3).random((args.far, args.far, 3), dtype=np.float32)
    picture = photo(args.height, args.width)
    rows = []
    for name in args.views.split(","):
        show = views[name]()
        t_old_make, before = timed(lambda: old.ViewInverse(show))
        builds, again = [], []
        for _ in range(args.reps):
            view_inverse._INVERSES.clear()
            builds.append(timed(lambda: nst_core.ViewInverse(show))[0])
            again.append(timed(lambda: nst_core.ViewInverse(show))[0])
        after = nst_core.ViewInverse(show)
        shown = showable(show, after, args.height * args.width).reshape(args.height, args.width, 3)
        t_show = statistics.median(timed(lambda: show(shown))[0] for _ in range(3))
        print(f"\n== {name}: 'shown' {args.width}×{args.height}, {distinct(shown):,} distinct "
              f"colours; 'photo' {distinct(picture) if picture is not None else 0:,}; the view "
              f"on every pixel: {t_show:.2f} s; build {statistics.median(builds):.2f} s, again "
              f"{statistics.median(again):.2f} s (before: {t_old_make:.2f} s)", flush=True)
        row = [name, statistics.median(builds), statistics.median(again)]
        for label, display in (("shown", shown), ("photo", picture)):
            if display is None:
                continue
            times = {"before": [], "after": [], "every pixel": []}
            for _ in range(args.reps):
                for key, f in (("before", before), ("after", after),
                               ("every pixel", lambda d: every_pixel(after, d))):
                    dt, back = timed(lambda: f(display))
                    times[key].append(dt)
                    if label == "shown":
                        times[key + " err"] = errors(show, back, display)
                print(f"  {label}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()
                                                  if not k.endswith("err")), flush=True)
            for key in ("before", "after", "every pixel"):
                t = statistics.median(times[key])
                row.append(t)
                e = times.get(key + " err")
                if e:
                    row.append(e)
                print(f"  {label}, {key}: call {t:.2f} s" + (
                    f", max {e[0]:.2f}/255, median {e[1]:.3f}/255, {e[2]:.4f} % of pixels over "
                    "1/255" if e else ""), flush=True)
        rows.append(row)
        gap_old = np.sqrt(np.square(show(before(far)) - far).sum(-1)) * 255
        gap = np.sqrt(np.square(show(after(far)) - far).sum(-1)) * 255 - gap_old
        print(f"  out of reach ({args.far}², uniform display colours, {(gap_old > 1).mean():.1%} "
              f"more than 1/255 from any the view shows): after - before, 1/255: median "
              f"{np.median(gap):.3f}, 99.9 % {np.quantile(gap, 0.999):.2f}, max {gap.max():.2f}; "
              f"farther by > 0.5: {(gap > 0.5).mean():.2%}, > 2: {(gap > 2).mean():.2%}; nearer "
              f"by > 0.5: {(gap < -0.5).mean():.2%}", flush=True)
        for grid in [int(g) for g in args.grids.split(",") if g]:
            view_inverse._INVERSES.clear()
            t_build, inv = timed(lambda: nst_core.ViewInverse(show, grid=grid))
            t_call, back = timed(lambda: inv(shown))
            e = errors(show, back, shown)
            print(f"  grid {grid}³: build {t_build:.2f} s, call {t_call:.2f} s, max {e[0]:.2f}/255, "
                  f"median {e[1]:.3f}/255, {e[2]:.4f} % over 1/255", flush=True)
    print("\n| view | build s | again s | 'shown': before s | after s | every pixel s | "
          "before max / median | after max / median | every pixel max / median | "
          "'photo': before s | after s | every pixel s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, b, a, t0, e0, t1, e1, t2, e2, *ph in rows:
        print(f"| {name} | {b:.2f} | {a:.2f} | {t0:.1f} | {t1:.2f} | {t2:.2f} | "
              f"{e0[0]:.2f} / {e0[1]:.3f} | {e1[0]:.2f} / {e1[1]:.3f} | {e2[0]:.2f} / {e2[1]:.3f} | "
              + " | ".join(f"{t:.2f}" for t in ph) + " |")

if __name__ == "__main__":
    main()
