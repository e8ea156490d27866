"""Drives the installed extension in a real Blender window (run inside the GUI chroot):

    blender --factory-startup --python driver.py -- ARGS.json

ARGS.json: {"zip", "photo", "style", "out", "size"}. The steps run from a timer, so the window's
event loop runs between them, as when an artist clicks: install the zip; show each of the Style
tabs (Image Editor, Shader Editor, Compositor) and the add-on's preferences, and record whether
their draw() ran and what it raised; start Stylize Image (WCT, size²) through the operator's
invoke in the window while a 20 ms timer and a draw handler measure how long the window goes
without either; try a second job while it runs; cancel another with Esc sent by xdotool; give it
a style file that does not exist; run Apply Styles from the Compositor's tab; press Esc during
Stylize Animation once a frame is written. Screenshots (ImageMagick `import`) go to out/, the
facts to out/facts.json; then Blender quits. Imports only the standard library, numpy and bpy.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
import traceback

import bpy
import numpy

ARGS = json.load(open(sys.argv[sys.argv.index("--") + 1]))
OUT = ARGS["out"]
MODULE = "bl_ext.user_default.neural_style_transfer"
PANELS = ("NST_PT_image", "NST_PT_shader", "NST_PT_compositor")
FACTS: dict = {"draws": {}, "draw_errors": {}}
F12_PX: list = []                       # the first F12's 'NST Render', bottom row first
SHOTS: list[subprocess.Popen] = []


def shot(name: str) -> None:
    """A screenshot of the whole screen, taken without holding Blender's main thread: `import`
    grabs the X server while it reads the screen, which Blender's drawing then waits for, so it
    reads at normal priority into an uncompressed file (at nice 19, starved by the job's
    threads, it held the grab and the main thread's timer 0.25-0.30 s); the PNG is encoded
    after, at the lowest priority (beside a job, at normal priority, it took the main thread's
    CPU: 0.30 s)."""
    raw = f"{OUT}/{name}.miff"
    SHOTS.append(subprocess.Popen(
        ["sh", "-c", f"import -silent -window root -compress None {raw} && "
                     f"nice -n 19 convert {raw} {OUT}/{name}.png && rm {raw}"]))


def count_draws(cls, key: str) -> None:
    """Wrap cls.draw so the facts say how often it ran and what it raised (still raised)."""
    original = cls.draw

    def draw(self, context):
        try:
            original(self, context)
        except Exception:
            FACTS["draw_errors"][key] = traceback.format_exc()
            raise
        FACTS["draws"][key] = FACTS["draws"].get(key, 0) + 1
    cls.draw = draw


def time_invokes(cls) -> None:
    """Wrap cls.invoke so the facts say how long each call held the main thread."""
    original = cls.invoke

    def invoke(self, context, event):
        start = time.perf_counter()
        try:
            return original(self, context, event)
        finally:
            FACTS.setdefault("invoke_seconds", []).append(time.perf_counter() - start)
    cls.invoke = invoke


def key(window, area, name: str) -> None:
    """Press a key with xdotool, the pointer over ``area`` (there is no window manager: the
    window under the pointer has the focus). Sent by a child process: Blender's main thread
    must be free to take the event."""
    x, y = window.x + area.x + area.width // 2, window.height - (area.y + area.height // 2)
    subprocess.Popen(["xdotool", "mousemove", str(x), str(y), "key", name])


# The "Stylize Image" button of the Image Editor's Style tab: pixels below the sidebar's top at
# UI scale 1 (factory settings; read off the screenshot).
STYLIZE_BUTTON = 150


def click(window, area, below_top: int) -> None:
    """Click the sidebar of ``area`` in its middle, ``below_top`` pixels under its top."""
    ui = region(area, "UI")
    scale = bpy.context.preferences.system.ui_scale
    x = window.x + ui.x + ui.width // 2
    y = window.height - (ui.y + ui.height) + int(below_top * scale)
    subprocess.Popen(["xdotool", "mousemove", str(x), str(y), "click", "1"])


def render_animation(jobs, window, area, ended: list):
    """Ctrl+F12 in the window; done once the render has ended (``ended``, filled by the render
    handlers) and the job that stylizes its frames has reported."""
    ended.clear()
    jobs.STATE.last_report = ""
    with bpy.context.temp_override(window=window, area=area):
        bpy.ops.render.render("INVOKE_DEFAULT", animation=True)
    since = time.time()
    while (not ended or jobs.STATE.running or not jobs.STATE.last_report) \
            and time.time() - since < 180:
        yield 0.1


def started(jobs, seconds: float = 10.0):
    """Wait (yielding to Blender) until a job runs or ``seconds`` pass."""
    end = time.perf_counter() + seconds
    while not jobs.STATE.running and time.perf_counter() < end:
        yield 0.02


def window_area():
    window = bpy.context.window_manager.windows[0]
    area = max(window.screen.areas, key=lambda a: a.width * a.height)
    return window, area


def region(area, kind: str):
    return next(r for r in area.regions if r.type == kind)


def show_tab(area, category: str):
    """Open the area's sidebar on the tab ``category`` (tabs exist once the sidebar drew)."""
    area.spaces.active.show_region_ui = True
    yield 0.5
    region(area, "UI").active_panel_category = category
    area.tag_redraw()
    yield 1.0


def invoke(window, area, **props):
    with bpy.context.temp_override(window=window, area=area, region=region(area, "WINDOW")):
        return bpy.ops.nst.stylize_image("INVOKE_DEFAULT", **props)


def image_hash(image) -> str:
    buf = numpy.empty(len(image.pixels), numpy.float32)
    image.pixels.foreach_get(buf)
    return hashlib.sha1(buf.tobytes()).hexdigest()


def steps():
    prefs = bpy.context.preferences
    prefs.view.show_splash = False
    prefs.use_preferences_save = False
    window, area = window_area()
    key(window, area, "Escape")              # the first start's Quick Setup splash
    yield 0.5
    bpy.ops.extensions.package_install_files(filepath=ARGS["zip"], repo="user_default",
                                             enable_on_install=True)
    ext = importlib.import_module(MODULE)
    jobs = importlib.import_module(MODULE + ".jobs")
    for name in PANELS:
        count_draws(getattr(bpy.types, name), name)
    time_invokes(bpy.types.NST_OT_stylize_image)
    count_draws(type(prefs.addons[MODULE].preferences), "preferences")
    FACTS["installed"] = ext.__name__
    FACTS["blender"] = bpy.app.version_string
    FACTS["python"] = sys.version.split()[0]

    size = int(ARGS["size"])
    photo = bpy.data.images.load(ARGS["photo"])
    photo.name = "photo"
    assert tuple(photo.size) == (size, size), tuple(photo.size)
    scene = bpy.context.scene
    scene.nst.style_path = ARGS["style"]

    # The Image Editor's Style tab.
    area.type = "IMAGE_EDITOR"
    area.spaces.active.image = photo
    yield from show_tab(area, "Style")
    shot("panel_image")

    # The Shader Editor's: the default cube's material with an Image Texture node, active.
    cube = bpy.data.objects.get("Cube")
    bpy.context.view_layer.objects.active = cube
    tree = cube.active_material.node_tree
    node = tree.nodes.new("ShaderNodeTexImage")
    node.image = photo
    tree.nodes.active = node
    area.type = "NODE_EDITOR"
    area.ui_type = "ShaderNodeTree"
    yield from show_tab(area, "Style")
    shot("panel_shader")

    # The Compositor's, with one style slot.
    scene.use_nodes = True
    slot = scene.nst.slots.add()
    slot.style_path = ARGS["style"]
    area.ui_type = "CompositorNodeTree"
    yield from show_tab(area, "Style")
    shot("panel_compositor")

    # The preferences, the add-on expanded.
    area.type = "PREFERENCES"
    prefs.active_section = "ADDONS"
    bpy.context.window_manager.addon_search = "Neural"
    with bpy.context.temp_override(window=window, area=area):
        bpy.ops.preferences.addon_expand(module=MODULE)
    area.tag_redraw()
    yield 1.0
    shot("preferences")

    # A modal job in the Image Editor; a 20 ms timer and the editor's draw handler record when
    # the main thread got to run.
    area.type = "IMAGE_EDITOR"
    area.spaces.active.image = photo
    yield from show_tab(area, "Style")
    ticks: list[float] = []
    draws: list = []                    # (when, the progress it showed; inf: no job, the end)
    states: list = []                   # the job's progress at each tick (None: no job)

    def tick():
        ticks.append(time.perf_counter())
        states.append(jobs.STATE.progress if jobs.STATE.running else None)
        return 0.02
    bpy.app.timers.register(tick, persistent=True)
    handle = bpy.types.SpaceImageEditor.draw_handler_add(
        lambda: draws.append((time.perf_counter(),
                              jobs.STATE.progress if jobs.STATE.running else float("inf"))),
        (), "UI", "POST_PIXEL")
    while any(p.poll() is None for p in SHOTS):     # the screenshots so far written first: their
        yield 0.05                                  # encoding (a process each) is not the job's
    before = {im.name for im in bpy.data.images}
    started_at = time.perf_counter()
    click(window, area, STYLIZE_BUTTON)      # the panel's Stylize Image button, as an artist would
    yield from started(jobs)
    FACTS["job_started_by_click"] = jobs.STATE.running
    second_try = False
    while jobs.STATE.running:
        if not second_try and jobs.STATE.progress > 0.3:
            second_try = True
            t0 = time.perf_counter()
            shot("job")
            t1 = time.perf_counter()
            try:
                FACTS["second_job"] = sorted(invoke(window, area, image="photo",
                                                    style_path=ARGS["style"], method="ADAIN"))
            except RuntimeError as exc:
                FACTS["second_job"] = str(exc)
            FACTS["driver_step"] = [t1 - t0, time.perf_counter() - t1]    # (shot, second try)
        yield 0.05
    FACTS["job_seconds"] = time.perf_counter() - started_at
    FACTS["job_new_images"] = sorted({im.name for im in bpy.data.images} - before)
    end = time.perf_counter()
    during = [(t, s) for t, s in zip(ticks, states) if started_at <= t <= end]
    FACTS["job_progress"] = [s for _, s in during if s is not None]
    gaps = sorted(((b[0] - a[0], a[1], b[1]) for a, b in zip(during, during[1:])), reverse=True)
    FACTS["tick_gaps_max"] = gaps[0][0]
    FACTS["tick_gaps_worst"] = gaps[:5]         # (seconds, progress before, progress after)
    FACTS["draws_during_job"] = sum(started_at <= t <= end for t, _ in draws)
    # How long each new progress took to reach the screen: from the first tick that saw it to
    # the first draw of the sidebar that showed it or a later one, the job's end included
    # (0: drawn before a tick saw it; None: not drawn 0.3 s after the end).
    yield 0.3
    seen = {}
    for t, s in during:
        if s is not None:
            seen.setdefault(s, t)
    lags = [next((max(0.0, d - t) for d, p in draws if d >= started_at and p >= s), None)
            for s, t in seen.items()]
    FACTS["progress_values"] = len(seen)
    FACTS["draw_lag_max"] = None if None in lags else max(lags, default=None)
    FACTS["draw_lag_worst"] = sorted(((lag, s) for lag, s in zip(lags, seen) if lag is not None),
                                     reverse=True)[:5]     # (seconds, the progress)
    area.spaces.active.image = bpy.data.images.get("photo_styled")
    yield 0.5
    shot("job_done")
    area.spaces.active.image = photo

    # Esc cancels mid-job and nothing is written.
    for name in FACTS["job_new_images"]:
        bpy.data.images.remove(bpy.data.images[name])
    before = {im.name for im in bpy.data.images}
    photo_before = image_hash(photo)
    FACTS["cancel_invoke"] = sorted(invoke(window, area, image="photo", style_path=ARGS["style"],
                                           method="WCT"))
    pressed = False
    while jobs.STATE.running:
        if not pressed and jobs.STATE.progress > 0:
            pressed = True
            key(window, area, "Escape")
            FACTS["escape_at"] = jobs.STATE.progress
        yield 0.05
    FACTS["cancel_report"] = jobs.STATE.last_report
    FACTS["cancel_new_images"] = sorted({im.name for im in bpy.data.images} - before)
    FACTS["cancel_photo_unchanged"] = image_hash(photo) == photo_before

    # A bad input: the panel's style file does not exist; the button is clicked.
    scene.nst.style_path = "/nst/no_such_style.jpg"
    region(area, "UI").tag_redraw()          # the button takes the field's value when drawn
    jobs.STATE.last_report = ""
    yield 0.5
    click(window, area, STYLIZE_BUTTON)
    end = time.perf_counter() + 10
    while (jobs.STATE.running or not jobs.STATE.last_report) and time.perf_counter() < end:
        yield 0.05
    FACTS["bad_input"] = jobs.STATE.last_report
    FACTS["bad_input_new_images"] = sorted({im.name for im in bpy.data.images} - before)
    yield 0.5
    shot("bad_input")

    # A small Cycles render for the jobs that render.
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 4
    scene.cycles.use_denoising = False      # Debian's Blender has no OpenImageDenoise
    scene.render.resolution_x, scene.render.resolution_y = 160, 90
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = 1, 4

    # Apply Styles, run modally from the Compositor's Style tab; the cube moves over the shot,
    # so Apply (Temporal Coherence 1) also renders the clean plate: the set without the cube.
    cube.location.x = -1.0
    cube.keyframe_insert("location", index=0, frame=1)
    cube.location.x = 1.0
    cube.keyframe_insert("location", index=0, frame=4)
    subprocess.run(["xdotool", "mousemove", str(window.x + area.x + area.width // 3),
                    str(window.height - (area.y + area.height // 2))])   # the report popup goes
    area.type = "NODE_EDITOR"
    area.ui_type = "CompositorNodeTree"
    yield from show_tab(area, "Style")
    scene.nst.method, scene.nst.work_size = "WCT", 0
    jobs.STATE.last_report = ""
    with bpy.context.temp_override(window=window, area=area, region=region(area, "WINDOW")):
        FACTS["apply_invoke"] = sorted(bpy.ops.nst.compositor_apply("INVOKE_DEFAULT"))
    while jobs.STATE.running:
        yield 0.05
    FACTS["apply_report"] = jobs.STATE.last_report
    result = bpy.data.images.get("NST Style Result")
    FACTS["apply_result_size"] = list(result.size) if result else None
    FACTS["apply_group_in_tree"] = any(n.type == "GROUP" and n.node_tree is not None
                                       and n.node_tree.name == "NST Style"
                                       for n in scene.node_tree.nodes)
    plate = scene.nst.clean_plate
    FACTS["plate"] = plate and {"name": plate.name, "size": list(plate.size),
                                "packed": plate.packed_file is not None}
    if plate is not None:                   # as shown, bottom row first
        numpy.save(f"{OUT}/plate.npy", numpy.array(plate.pixels[:], numpy.float32).reshape(
            plate.size[1], plate.size[0], 4))
    with bpy.context.temp_override(window=window, area=area, region=region(area, "WINDOW")):
        bpy.ops.node.view_all()
    yield 0.5
    shot("apply_done")

    # F12 at another frame than Apply's, the NST Style node in the compositor: when the render
    # ends, the still is stylized as a job and the Render window shows it as 'NST Render'.
    scene.frame_set(2)
    jobs.STATE.last_report = ""
    ended = []
    bpy.app.handlers.render_complete.append(lambda *_: ended.append(True))
    with bpy.context.temp_override(window=window, area=area):
        FACTS["f12_invoke"] = sorted(bpy.ops.render.render("INVOKE_DEFAULT"))
    since = time.time()
    while not ended and time.time() - since < 60:
        yield 0.1
    yield from started(jobs, 5)             # the add-on's timer starts the job
    while jobs.STATE.running:
        yield 0.05
    FACTS["f12_report"] = jobs.STATE.last_report
    styled = bpy.data.images.get("NST Render")
    FACTS["f12_image_size"] = list(styled.size) if styled else None
    if styled is not None:
        F12_PX.append(numpy.array(styled.pixels[:], numpy.float32).reshape(
            styled.size[1], styled.size[0], 4))
    FACTS["f12_shown"] = sorted(a.spaces.active.image.name for w in bpy.context.window_manager.windows
                                for a in w.screen.areas
                                if a.type == "IMAGE_EDITOR" and a.spaces.active.image)
    yield 0.5
    shot("f12_done")
    if styled is not None:                  # against the plain render (the switch is off at 2)
        plain_path = f"{OUT}/f12_plain.png"
        bpy.data.images["Render Result"].save_render(plain_path)
        plain = bpy.data.images.load(plain_path, check_existing=False)
        a, b = (numpy.array(im.pixels[:], numpy.float32).reshape(-1, 4)[:, :3] for im in (styled, plain))
        a = numpy.where(a <= 0.0031308, 12.92 * a, 1.055 * numpy.clip(a, 0.0031308, None) ** (1 / 2.4) - 0.055)
        FACTS["f12_off_plain"] = float(numpy.abs(a - b).mean() * 255)   # float image: linear
        bpy.data.images.remove(plain)
    for w in list(bpy.context.window_manager.windows)[1:]:       # the Render window
        with bpy.context.temp_override(window=w):
            bpy.ops.wm.window_close()
    yield 0.5

    # Ctrl+F12 with the node (the render kept in the interface): the frames are written
    # stylized as Blender renders them; Esc once frame 2 is on disk leaves whole frames only.
    bpy.context.preferences.view.render_display_type = "NONE"
    scene.frame_end = 12                    # long enough for Esc to land mid-render
    folder = f"{OUT}/live_frames"
    scene.render.filepath = folder + "/frame_"
    scene.render.image_settings.file_format = "PNG"
    ended.clear()
    bpy.app.handlers.render_cancel.append(lambda *_: ended.append("cancelled"))
    area.type = "IMAGE_EDITOR"              # the render shown where the artist looks
    area.spaces.active.image = bpy.data.images["Render Result"]
    with bpy.context.temp_override(window=window, area=area):
        FACTS["live_invoke"] = sorted(bpy.ops.render.render("INVOKE_DEFAULT", animation=True))
    pressed, since = False, time.time()
    while not ended and time.time() - since < 120:
        if not pressed and os.path.exists(f"{folder}/frame_0002.png"):
            pressed = True
            key(window, area, "Escape")
        yield 0.05
    FACTS["live_ended"] = ended[:]
    since, running = time.time(), set()     # the frames are stylized once the render ends, as
    while (area.spaces.active.image is None     # a job (the window answers meanwhile), then
           or area.spaces.active.image.type == "RENDER_RESULT") and time.time() - since < 60:
        running.add(jobs.STATE.running)         # the last one is shown
        yield 0.1
    FACTS["live_jobs"], FACTS["live_report"] = sorted(running - {""}), jobs.STATE.last_report
    scene.frame_end = 4
    shown = area.spaces.active.image
    FACTS["live_shown"] = [shown.name, os.path.basename(shown.filepath)] if shown else None
    files = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    FACTS["live_files"] = files
    if "frame_0002.png" in files:           # frame 2 as written against the plain render of it
        a, b = (bpy.data.images.load(path, check_existing=False)
                for path in (f"{folder}/frame_0002.png", f"{OUT}/f12_plain.png"))
        FACTS["live_frame2_off_plain"] = float(numpy.abs(numpy.array(a.pixels[:]) - numpy.array(b.pixels[:])).mean() * 255)
        bpy.data.images.remove(a)
        bpy.data.images.remove(b)

    # Ctrl+F12 again, to an FFmpeg video (lossless FFV1): the same job stylizes the frames once
    # the render has ended, then the video is encoded again with them, over Blender's.
    settings, ffmpeg = scene.render.image_settings, scene.render.ffmpeg
    settings.file_format = "FFMPEG"
    ffmpeg.format, ffmpeg.codec = "MKV", "FFV1"
    scene.render.filepath = f"{OUT}/live_video/shot_"
    yield from render_animation(jobs, window, area, ended)
    FACTS["video_report"] = jobs.STATE.last_report
    video = scene.render.frame_path(frame=1)
    settings.file_format = "PNG"
    FACTS["video_files"] = sorted(os.listdir(f"{OUT}/live_video"))
    if os.path.isfile(video):               # its frame 2, decoded by Blender, against the plain
        temp = bpy.data.scenes.new("decode")
        editor = temp.sequence_editor_create()
        strips = editor.strips if hasattr(editor, "strips") else editor.sequences
        strips.new_movie("movie", video, 1, 1)
        temp.render.resolution_x, temp.render.resolution_y = 160, 90
        temp.render.resolution_percentage, temp.render.dither_intensity = 100, 0.0
        temp.view_settings.view_transform = "Standard"
        temp.frame_start = temp.frame_end = 2
        temp.render.filepath = f"{OUT}/video_decoded_"
        bpy.ops.render.render(animation=True, scene=temp.name)
        bpy.data.scenes.remove(temp)
        a, b = (bpy.data.images.load(path, check_existing=False)
                for path in (f"{OUT}/video_decoded_0002.png", f"{OUT}/f12_plain.png"))
        FACTS["video_frame2_off_plain"] = float(numpy.abs(
            numpy.array(a.pixels[:]) - numpy.array(b.pixels[:])).mean() * 255)
        bpy.data.images.remove(a)
        bpy.data.images.remove(b)

    # A node after the NST Style node (Flip X): Ctrl+F12 writes, and F12 shows, the stylized
    # frame through it (after.py), as Blender's compositor gives the render through it.
    tree = scene.node_tree
    group = next(n for n in tree.nodes if n.type == "GROUP" and n.node_tree is not None
                 and n.node_tree.name == "NST Style")
    composite = next(n for n in tree.nodes if n.type == "COMPOSITE")
    flip = tree.nodes.new("CompositorNodeFlip")
    flip.axis = "X"
    tree.links.new(group.outputs[0], flip.inputs[0])
    tree.links.new(flip.outputs[0], composite.inputs[0])
    scene.frame_end = 2
    folder = f"{OUT}/after_frames"
    scene.render.filepath = folder + "/frame_"
    yield from render_animation(jobs, window, area, ended)
    FACTS["after_report"] = jobs.STATE.last_report
    FACTS["after_files"] = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    if os.path.isfile(f"{folder}/frame_0002.png") and os.path.isfile(f"{OUT}/live_frames/frame_0002.png"):
        a, b = (bpy.data.images.load(path, check_existing=False)
                for path in (f"{folder}/frame_0002.png", f"{OUT}/live_frames/frame_0002.png"))
        pa, pb = (numpy.array(im.pixels[:], numpy.float32).reshape(im.size[1], im.size[0], 4)
                  for im in (a, b))
        FACTS["after_off_flipped"] = float(numpy.abs(pa - pb[:, ::-1]).mean() * 255)
        FACTS["after_off_unflipped"] = float(numpy.abs(pa - pb).mean() * 255)
        bpy.data.images.remove(a)
        bpy.data.images.remove(b)
    scene.frame_set(2)                      # F12: 'NST Render' is the earlier one flipped
    ended.clear()
    jobs.STATE.last_report = ""
    with bpy.context.temp_override(window=window, area=area):
        bpy.ops.render.render("INVOKE_DEFAULT")
    since = time.time()
    while not ended and time.time() - since < 60:
        yield 0.1
    yield from started(jobs, 5)
    while jobs.STATE.running:
        yield 0.05
    FACTS["after_f12_report"] = jobs.STATE.last_report
    styled = bpy.data.images.get("NST Render")
    if styled is not None and F12_PX:
        px = numpy.array(styled.pixels[:], numpy.float32).reshape(styled.size[1], styled.size[0], 4)
        FACTS["after_f12_off_flipped"] = float(numpy.abs(px - F12_PX[0][:, ::-1]).mean() * 255)
    for w in list(bpy.context.window_manager.windows)[1:]:       # the Render window
        with bpy.context.temp_override(window=w):
            bpy.ops.wm.window_close()
    tree.nodes.remove(flip)
    tree.links.new(group.outputs[0], composite.inputs[0])
    scene.frame_end = 4
    yield 0.5

    # Stylize Animation, run modally; Esc once a frame is on disk: the frames finished stay,
    # whole, and the report says which.
    area.type = "IMAGE_EDITOR"
    folder = f"{OUT}/frames"
    jobs.STATE.last_report = ""
    with bpy.context.temp_override(window=window, area=area, region=region(area, "WINDOW")):
        FACTS["animation_invoke"] = sorted(bpy.ops.nst.stylize_animation(
            "INVOKE_DEFAULT", style_path=ARGS["style"], method="ADAIN", directory=folder + "/",
            temporal_coherence=0.0))
    pressed = False
    while jobs.STATE.running:
        if not pressed and os.path.exists(f"{folder}/frame_0001.png"):
            pressed = True
            key(window, area, "Escape")
        yield 0.05
    FACTS["animation_report"] = jobs.STATE.last_report
    files = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    FACTS["animation_files"] = files
    sizes = []
    for name in files:
        frame = bpy.data.images.load(f"{folder}/{name}", check_existing=False)
        sizes.append(list(frame.size))
        bpy.data.images.remove(frame)
    FACTS["animation_sizes"] = sizes

    bpy.types.SpaceImageEditor.draw_handler_remove(handle, "UI")
    bpy.app.timers.unregister(tick)

    # The world changes under a running job: its target deleted, Ctrl+Z, another file opened.
    # Each ends with a clear message and writes nothing; the next job then runs to the end.
    area.type = "IMAGE_EDITOR"
    area.spaces.active.image = photo
    bpy.ops.wm.save_as_mainfile(filepath=f"{OUT}/gui.blend")

    undos = []
    bpy.app.handlers.undo_pre.append(lambda *_: undos.append(jobs.STATE.running))

    def mid_job(case, action):
        target = photo.copy()
        target.name = case
        bpy.ops.ed.undo_push(message=f"NST test: {case}")
        jobs.STATE.last_report = ""
        win = bpy.context.window_manager.windows[0]
        where = max(win.screen.areas, key=lambda a: a.width * a.height)
        FACTS[f"{case}_invoke"] = sorted(invoke(win, where, image=case, style_path=ARGS["style"],
                                               method="WCT"))
        acted = False
        while jobs.STATE.running:
            if not acted and jobs.STATE.progress > 0.2:
                acted = True
                action(target, win, where)
            yield 0.05
        yield 0.5
        FACTS[f"{case}_report"] = jobs.STATE.last_report
        FACTS[f"{case}_undos_while_running"] = sum(bool(u) for u in undos)
        FACTS[f"{case}_written"] = sorted(im.name for im in bpy.data.images if "_styled" in im.name
                                          and im.name.startswith(case))
        win = bpy.context.window_manager.windows[0]
        where = max(win.screen.areas, key=lambda a: a.width * a.height)
        jobs.STATE.last_report = ""
        FACTS[f"{case}_next"] = sorted(invoke(win, where, image="photo", style_path=ARGS["style"],
                                              method="ADAIN"))
        while jobs.STATE.running:
            yield 0.05
        FACTS[f"{case}_next_report"] = jobs.STATE.last_report

    yield from mid_job("deleted", lambda target, win, where: bpy.data.images.remove(target))
    def undo(target, win, where):          # Ctrl+Z, then Blender's own undo operator
        key(win, where, "ctrl+z")
        try:
            with bpy.context.temp_override(window=win, area=where):
                FACTS["undone_undo_call"] = sorted(bpy.ops.ed.undo())
        except RuntimeError as exc:
            FACTS["undone_undo_call"] = str(exc)
    yield from mid_job("undone", undo)
    yield from mid_job("file_opened", lambda target, win, where: bpy.ops.wm.open_mainfile(
        filepath=f"{OUT}/gui.blend"))


def main():
    runner = steps()

    def step():
        try:
            return next(runner)
        except StopIteration:
            pass
        except Exception:
            FACTS["error"] = traceback.format_exc()
        for p in SHOTS:
            p.wait(timeout=30)
        with open(f"{OUT}/facts.json", "w") as f:
            json.dump(FACTS, f, indent=1)
        bpy.ops.wm.quit_blender()
        return None
    bpy.app.timers.register(step, first_interval=1.0, persistent=True)   # through a file load


main()
