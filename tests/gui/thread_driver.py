"""Renders again and again in a real Blender window with the Compositor's node editor open and
redrawn, the 'NST Style' node live (run inside the GUI chroot):

    blender --factory-startup --python thread_driver.py -- ARGS.json

ARGS.json: {"zip", "style", "out", "stills", "animations"}. Blender renders in a thread of its
own in a window; the live node's capture (nodes added to the tree the editor draws, passes turned
on) made or removed from that thread crashed Blender 4.3 (docs/farm.md: at F12 still 19 and 4,
at Ctrl+F12 29). Each render is recorded in out/renders.jsonl as it ends, so a crash leaves the
renders before it; out/done is written when all ended. Only the standard library and bpy.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
import traceback

import bpy

ARGS = json.load(open(sys.argv[sys.argv.index("--") + 1]))
OUT = ARGS["out"]
MODULE = "bl_ext.user_default.neural_style_transfer"
LOG = open(f"{OUT}/renders.jsonl", "a", buffering=1)


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
        pressed, since = False, time.time()
        while not ended and time.time() - since < 120:
            if esc and not pressed and os.path.exists(f"{folder}/frame_0002.png"):
                pressed = True
                subprocess.Popen(["xdotool", "key", "Escape"])
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
    open(f"{OUT}/done", "w").close()


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
