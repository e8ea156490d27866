"""What the live 'NST Style' node adds to each frame of Blender's own animation render, against
the standalone engine on the same frame (issue 44: at most the standalone time + 15 %).

Runs in Blender (the bpy of the dev venv) under a temporary HOME with the built extension
installed: the harness's small scene at --size, Cycles at 4 samples, one style slot everywhere,
Apply Styles at frame 1, then Blender's animation render of --frames frames three ways, timed
whole: the node live with Temporal Coherence 0, live with coherence 1, and muted (the plain
render). The node's cost per frame is (live - muted) / frames; the standalone cost is
nst_core.stylize of one plain frame (the same method and style), the median of three. As the
whole renders differ by Cycles' own noise too, the node's handler (live._write: read the
capture, stylize, write the frame) is also timed on its own, each frame, with the stylize call
inside it: their medians over the frames.

    python scripts/bench_live.py --size 1280x720 --frames 4
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def inside_blender(zip_path: str, style: str, work: str, size: str, frames: int) -> dict:
    import bpy
    import numpy as np
    sys.path[:0] = [str(ROOT / "tests" / "blender")]
    import harness
    scene = harness.make_scene()    # factory settings first: they would unload the extension
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                             enable_on_install=True)
    harness.env.work = work
    w, h = (int(x) for x in size.split("x"))
    scene.render.resolution_x, scene.render.resolution_y = w, h
    scene.cycles.samples = 4
    scene.frame_start, scene.frame_end = 1, frames
    cube = bpy.data.objects["Cube"]
    for f in range(1, frames + 1):
        cube.location.x = -1.5 + 3.0 * (f - 1) / max(frames - 1, 1)
        cube.keyframe_insert("location", frame=f)
    scene.render.image_settings.file_format, scene.render.image_settings.color_mode = "PNG", "RGB"
    nst = scene.nst
    bpy.ops.nst.slot_add()
    nst.slots[0].style_path = style
    nst.method = "ADAIN"
    scene.frame_set(1)
    bpy.ops.nst.compositor_apply()
    tree = harness.tree_of(scene)
    group = next(n for n in tree.nodes if n.type == "GROUP" and n.node_tree.name == "NST Style")

    engine, live = harness.addon_module("engine"), harness.addon_module("live")
    handler_s, stylize_s = {}, {}
    timing = []                     # the lists the running render's timings go to

    def timed(fn, which):
        def call(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timing[which].append(time.perf_counter() - t0)
        return call
    writes = bpy.app.handlers.render_write
    writes[writes.index(live._write)] = timed(live._write, 0)
    stylize = engine.stylize
    engine.stylize = timed(stylize, 1)           # as frames.stylized_over calls it

    def render(name, coherence, mute):
        nst.temporal_coherence, group.mute = coherence, mute
        scene.render.filepath = os.path.join(work, name, "frame_")
        timing[:] = handler_s.setdefault(name, []), stylize_s.setdefault(name, [])
        t0 = time.perf_counter()
        bpy.ops.render.render(animation=True)
        return time.perf_counter() - t0
    render("warm", 0.0, False)                      # the networks loaded, caches warm
    seconds = {"live, coherence 0": render("live0", 0.0, False),
               "live, coherence 1": render("live1", 1.0, False),
               "muted": render("plain", 0.0, True)}
    engine.stylize = stylize
    plain = np.asarray(bpy.data.images.load(os.path.join(work, "plain", "frame_0002.png")).pixels[:],
                       np.float32).reshape(h, w, 4)[::-1, :, :3].copy()
    _, settings = harness.addon_module("frames").slot_settings(scene)     # as the node has them
    alone = []
    for _ in range(3):
        t0 = time.perf_counter()
        engine.stylize(plain, settings)
        alone.append(time.perf_counter() - t0)
    cli = importlib.import_module(engine.__package__ + ".nst_core.cli")    # as bundled
    argv = ["stylize", os.path.join(work, "plain", "frame_0002.png"), "--style", style,
            "--method", settings.method.lower(), "--alpha", str(settings.strength),
            "-o", os.path.join(work, "standalone.png")]
    argv += ["--work-size", str(settings.work_size)] if settings.work_size else []
    argv += ["--style-size", str(settings.style_size)] if settings.style_size else []
    command = []
    for i in range(4):              # the command's own work for the frame (read, stylize,
        t0 = time.perf_counter()    # write), its models loaded: the first call warms them
        with contextlib.redirect_stdout(io.StringIO()):
            cli.main(argv)
        command.append(time.perf_counter() - t0)
    return {"size": size, "frames": frames, "seconds": seconds, "standalone_s": alone,
            "nst_command_s": command[1:],
            "handler_s": {"live, coherence 0": handler_s["live0"],
                          "live, coherence 1": handler_s["live1"]},
            "stylize_in_handler_s": {"live, coherence 0": stylize_s["live0"],
                                     "live, coherence 1": stylize_s["live1"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--inside", nargs=3, help=argparse.SUPPRESS)   # zip, style, work: in Blender
    args = ap.parse_args()
    if args.inside:
        print("NST-BENCH " + json.dumps(inside_blender(*args.inside, args.size, args.frames)))
        return
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "blender")]
    import extension
    work = Path(tempfile.mkdtemp(prefix="nst_bench_live_"))
    zip_path = extension.build(extension.python_version(), work / "dist")
    (work / "home").mkdir()
    r = subprocess.run([extension.BLENDER_PYTHON, __file__, "--size", args.size, "--frames",
                        str(args.frames), "--inside", str(zip_path), str(extension.STYLE), str(work)],
                       capture_output=True, text=True, env=extension.isolated_env(work / "home"))
    lines = [x for x in r.stdout.splitlines() if x.startswith("NST-BENCH ")]
    if not lines:
        raise SystemExit(f"Blender printed no figures:\n{r.stderr[-3000:]}")
    got = json.loads(lines[-1][len("NST-BENCH "):])
    n, s = got["frames"], got["seconds"]
    standalone = statistics.median(got["standalone_s"])
    command = statistics.median(got["nst_command_s"])
    print(json.dumps(got, indent=2))
    print(f"standalone: the engine's call {standalone:.3f} s; `nst stylize` of the frame (read, "
          f"stylize, write; in one process, models loaded) {command:.3f} s")
    for name in ("live, coherence 0", "live, coherence 1"):
        extra = (s[name] - s["muted"]) / n
        handler = statistics.median(got["handler_s"][name])
        inside = statistics.median(got["stylize_in_handler_s"][name])
        print(f"{name}: the node adds {extra:.2f} s a frame to the whole render "
              f"({100 * (extra / standalone - 1):+.0f} % over standalone {standalone:.2f} s); "
              f"its handler takes {handler:.3f} s a frame ({100 * (handler / standalone - 1):+.0f} %), "
              f"of which stylize {inside:.3f} s: {handler - inside:.3f} s around it "
              f"({100 * (handler / inside - 1):+.0f} % over the engine's own call with the same "
              f"coherence); the handler over `nst stylize` of the frame: "
              f"{100 * (handler / command - 1):+.0f} %")


if __name__ == "__main__":
    main()
