"""Renders again and again in a real Blender window with the Compositor's node editor open and
redrawn, the 'NST Style' node live (run inside the GUI chroot):

    blender --factory-startup --python thread_driver.py -- ARGS.json

ARGS.json: {"zip", "style", "out", "stills", "animations"}. Blender renders in a thread of its
own in a window; the live node's capture (nodes added to the tree the editor draws, passes turned
on) made or removed from that thread crashed Blender 4.3 (docs/farm.md: at F12 still 19 and 4,
at Ctrl+F12 29). Then, as an artist trial found faults: the Output path or format changed as
a render ends (``_output_changed``), a save during Ctrl+F12 (out/saved_mid_render.blend, which
the test opens in a new Blender), F12 with Compositing off (said in the window), two Ctrl+F12
and two F12 in a row; last, the capture folders left on disk, the Info log and the images in the file.
Each render is recorded in out/renders.jsonl as it ends, so a crash leaves the renders before
it; out/done is written when all ended. Only the standard library and bpy.
"""

from __future__ import annotations

import glob
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

import bpy

ARGS = json.load(open(sys.argv[sys.argv.index("--") + 1]))
OUT = ARGS["out"]
MODULE = "bl_ext.user_default.neural_style_transfer"
LOG = open(f"{OUT}/renders.jsonl", "a", buffering=1)
SAVED = f"{OUT}/saved_mid_render.blend"
STARTED = time.time()


def steps():
    prefs = bpy.context.preferences
    prefs.view.show_splash = False
    prefs.use_preferences_save = False
    prefs.view.render_display_type = "NONE"     # the render shown in the editor, not a window
    window = bpy.context.window_manager.windows[0]
    big, second = sorted(window.screen.areas, key=lambda a: -a.width * a.height)[:2]
    subprocess.Popen(["xdotool", "key", "Escape"])     # the first start's splash
    yield 0.5
    bpy.ops.extensions.package_install_files(filepath=ARGS["zip"], repo="user_default",
                                             enable_on_install=True)
    jobs = importlib.import_module(MODULE + ".jobs")
    scene = bpy.context.scene
    scene.use_nodes = True
    scene.nst.slots.add().style_path = ARGS["style"]
    scene.nst.method, scene.nst.work_size, scene.nst.temporal_coherence = "WCT", 0, 1.0
    scene.render.engine = "CYCLES"
    scene.cycles.samples, scene.cycles.use_denoising = 4, False
    scene.render.resolution_x, scene.render.resolution_y = 160, 90
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.frame_start, scene.frame_end = 1, 4
    cube = bpy.data.objects["Cube"]
    cube.location.x = -1.0
    cube.keyframe_insert("location", index=0, frame=1)
    cube.location.x = 1.0
    cube.keyframe_insert("location", index=0, frame=12)
    for area in (big, second):                  # the tree the capture changes, drawn
        area.type = "NODE_EDITOR"
        area.ui_type = "CompositorNodeTree"
    with bpy.context.temp_override(window=window, area=second):
        bpy.ops.nst.compositor_apply("INVOKE_DEFAULT")
    while jobs.STATE.running:
        yield 0.05
    layer = bpy.context.view_layer
    flags = (layer.use_pass_vector, layer.use_pass_z)
    ended = []
    bpy.app.handlers.render_cancel.append(lambda *_: ended.append("cancelled"))
    bpy.app.handlers.render_complete.append(lambda *_: ended.append("complete"))
    renders = [("still", i) for i in range(int(ARGS["stills"]))] + \
        [("animation", i) for i in range(int(ARGS["animations"]))]
    for kind, i in renders:
        esc = kind == "animation" and i % 2 == 0          # Esc once frame 2 is written
        scene.render.use_lock_interface = kind == "animation" and i % 4 < 2
        scene.frame_end = 12 if esc else 3
        scene.frame_set(2 + i % 3)
        folder = f"{OUT}/{kind}{i}"
        scene.render.filepath = folder + "/frame_"
        ended.clear()
        jobs.STATE.last_report = ""
        with bpy.context.temp_override(window=window, area=second):
            bpy.ops.render.render("INVOKE_DEFAULT", animation=kind == "animation")
        pressed, saved, since = False, False, time.time()
        while not ended and time.time() - since < 120:
            if esc and not pressed and os.path.exists(f"{folder}/frame_0002.png"):
                pressed = True
                subprocess.Popen(["xdotool", "key", "Escape"])
            if (kind, i) == ("animation", 3) and not saved and os.path.exists(f"{folder}/frame_0001.png"):
                saved = True                    # the artist saves while Ctrl+F12 runs
                bpy.ops.wm.save_as_mainfile(filepath=SAVED, copy=True)
            big.tag_redraw()
            second.tag_redraw()
            yield 0.005
        since = time.time()
        while (jobs.STATE.running or not jobs.STATE.last_report) and time.time() - since < 60:
            big.tag_redraw()
            yield 0.02
        LOG.write(json.dumps({
            "kind": kind, "i": i, "ended": ended[:], "report": jobs.STATE.last_report,
            "files": sorted(os.listdir(folder)) if os.path.isdir(folder) else [],
            "left": [n.name for n in scene.node_tree.nodes if n.label == "NST temporary"],
            "passes_back": (layer.use_pass_vector, layer.use_pass_z) == flags}) + "\n")
    scene.frame_end, scene.render.use_lock_interface = 3, False
    yield from _output_changed(window, second, scene, jobs, ended, layer, flags)
    scene.render.use_compositing = False            # F12 with Compositing off: said in the
    ended.clear()                                   # window, not on the console only
    jobs.STATE.last_report = ""
    with bpy.context.temp_override(window=window, area=second):
        bpy.ops.render.render("INVOKE_DEFAULT")
    since = time.time()
    while (not ended or not jobs.STATE.last_report) and time.time() - since < 60:
        yield 0.02
    LOG.write(json.dumps({"kind": "compositing_off", "ended": ended[:],
                          "report": jobs.STATE.last_report}) + "\n")
    scene.render.use_compositing = True
    live = importlib.import_module(MODULE + ".live")
    scene.render.filepath = f"{OUT}/job_esc/frame_"     # Esc as the frames' job starts
    jobs.STATE.last_report = ""
    with bpy.context.temp_override(window=window, area=second):
        bpy.ops.render.render("INVOKE_DEFAULT", animation=True)
    since = time.time()
    while not jobs.STATE.running and time.time() - since < 120:
        yield 0.005
    subprocess.Popen(["xdotool", "key", "Escape"])
    while (jobs.STATE.running or not jobs.STATE.last_report) and time.time() - since < 120:
        yield 0.05
    LOG.write(json.dumps({"kind": "job_esc", "report": jobs.STATE.last_report}) + "\n")
    ended.clear()                       # two Ctrl+F12 in a row, the second before the first's
    for n in range(2):                  # frames are stylized: a job and a report for each
        while n and (not ended or bpy.app.is_job_running("RENDER")):
            yield 0.005
        scene.render.filepath = f"{OUT}/twice{n}/frame_"
        with bpy.context.temp_override(window=window, area=second):
            bpy.ops.render.render("INVOKE_DEFAULT", animation=True)
    since = time.time()
    while (len(ended) < 2 or jobs.STATE.running or live.QUEUE
           or bpy.app.is_job_running("RENDER")) and time.time() - since < 120:
        yield 0.1
    LOG.write(json.dumps({"kind": "twice", "ended": ended[:], "report": jobs.STATE.last_report,
                          "files": [sorted(os.listdir(f"{OUT}/twice{n}")) for n in range(2)]})
              + "\n")
    ended.clear()                       # two F12 in a row, the second as soon as Blender takes
    for first in (True, False):         # it: the first still, maybe not stylized by then,
        while not first and (not ended or bpy.app.is_job_running("RENDER")):   # leaves no
            yield 0.005                                                        # capture folder
        with bpy.context.temp_override(window=window, area=second):
            bpy.ops.render.render("INVOKE_DEFAULT")
    since = time.time()
    while (jobs.STATE.running or live.STILL or bpy.app.is_job_running("RENDER")) \
            and time.time() - since < 60:
        yield 0.1
    yield 1.0
    LOG.write(json.dumps({"kind": "saved", "passes_before": list(flags), "capture_folders": [
        f for f in glob.glob(os.path.join(tempfile.gettempdir(), "nst_capture_*"))
        if os.path.getmtime(f) >= STARTED], "info_log": _info_log(window, big),
        "images": {i.name: bpy.path.abspath(i.filepath) for i in bpy.data.images}}) + "\n")
    open(f"{OUT}/done", "w").close()


def _info_log(window, area) -> str:
    """What the window's Info log holds (the reports an artist sees in the status bar)."""
    area.type = "INFO"
    region = next(r for r in area.regions if r.type == "WINDOW")
    with bpy.context.temp_override(window=window, area=area, region=region):
        bpy.ops.info.select_all(action="SELECT")
        bpy.ops.info.report_copy()
    return bpy.context.window_manager.clipboard


def _output_changed(window, area, scene, jobs, ended, layer, flags):
    """Ctrl+F12, then the Output path (to a folder of earlier frames) or the format changed as
    soon as the render ends, before the job stylizes its frames: they go into the files Blender
    wrote, or, the format changed, stay plain and are said (an artist trial: the frames were
    written over the other folder's files)."""
    earlier = f"{OUT}/animation1"
    before = {f: open(f"{earlier}/{f}", "rb").read() for f in sorted(os.listdir(earlier))}
    for case in ("moved", "format"):
        folder = f"{OUT}/{case}"
        scene.render.filepath = folder + "/frame_"
        scene.render.image_settings.file_format = "PNG"
        ended.clear()
        jobs.STATE.last_report = ""
        with bpy.context.temp_override(window=window, area=area):
            bpy.ops.render.render("INVOKE_DEFAULT", animation=True)
        since = time.time()
        while not ended and time.time() - since < 120:
            yield 0.005
        if case == "moved":
            scene.render.filepath = earlier + "/frame_"
        else:
            scene.render.image_settings.file_format = "JPEG"
        since = time.time()
        while (jobs.STATE.running or not jobs.STATE.last_report) and time.time() - since < 60:
            yield 0.02
        LOG.write(json.dumps({
            "kind": case, "ended": ended[:], "report": jobs.STATE.last_report,
            "files": sorted(os.listdir(folder)) if os.path.isdir(folder) else [],
            "earlier_untouched": all(open(f"{earlier}/{f}", "rb").read() == data
                                     for f, data in before.items()),
            "left": [n.name for n in scene.node_tree.nodes if n.label == "NST temporary"],
            "passes_back": (layer.use_pass_vector, layer.use_pass_z) == flags}) + "\n")
    scene.render.image_settings.file_format = "PNG"


def main():
    runner = steps()

    def step():
        try:
            return next(runner)
        except StopIteration:
            pass
        except Exception:
            LOG.write(json.dumps({"error": traceback.format_exc()}) + "\n")
        bpy.ops.wm.quit_blender()
        return None
    bpy.app.timers.register(step, first_interval=1.0, persistent=True)


main()
