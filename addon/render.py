"""Renders: Stylize Render, Stylize Animation, stylizing after each still render (a
render_complete handler), and what a render in a window with the 'NST Style' node (live.py)
leaves for the main thread: a still (F12), shown stylized in the Render window, and the frames
an animation render (Ctrl+F12) wrote, stylized over their files; both as jobs once it ended."""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import replace

import bpy
from bpy.app.handlers import persistent
from bpy.props import BoolProperty

from . import after, cameras, frames, jobs, live, nodegroup, passes, pixels, shutter
from .animation import animation_frames, check_coherence, frame_props, frame_range, scene_named
from .engine import UserError, mask_union, said, stylize
from .handlers import attach, detach
from .operators import STYLED_SUFFIX, stylize_work
from .passes import render_passes
from .properties import settings_from, style_props, style_values
from .results import keep

STILL_IMAGE = "NST Render"      # a still of the 'NST Style' node rendered in a window, stylized
SHOWN_FRAME = "NST Last Frame"  # the last frame a Ctrl+F12 in a window wrote, as written


def render_as_shown(scene, view_layer, motion: bool = False):
    """Render the current frame (blocking) and read it as the Render window shows a render: the
    active view layer as rendered, before any compositor node (an NST Style node included),
    through the scene's view transform: sRGB straight H×W×4; with ``motion`` its Vector pass
    and depth (else None). Without the compositor, the Render Result."""
    if not scene.render.use_compositing:
        passes.render(scene)
        return pixels.read_render_result(scene), None, None
    image, _, vector, depth = render_passes(scene, view_layer, [], motion=motion, shown=True)
    return image, vector, depth


@style_props
class NST_OT_stylize_render(jobs.JobOperator, bpy.types.Operator):
    """Render the scene and stylize the result into the image 'Render_styled'"""

    bl_idname = "nst.stylize_render"
    bl_label = "Stylize Render"
    label = "Stylize Render"

    render: BoolProperty(name="Render First", default=True,
                         description="Render now; off: stylize the current Render Result")

    def job(self, context):
        settings = settings_from(self)
        scene = context.scene
        px = render_as_shown(scene, context.view_layer)[0] if self.render \
            else pixels.read_render_result(scene)
        result = yield stylize_work(px, settings)
        image = keep(pixels.write_image(result, "Render" + STYLED_SUFFIX))
        _show(context, image)
        self.say("INFO", f"wrote image '{image.name}'")


@style_props
@frame_props("//nst_frames/")
class NST_OT_stylize_animation(jobs.JobOperator, bpy.types.Operator):
    """Render a frame range and stylize every frame into an image sequence; with Temporal
    Coherence each frame follows the previous one along Blender's motion vectors"""

    bl_idname = "nst.stylize_animation"
    bl_label = "Stylize Animation"
    label = "Stylize Animation"

    def job(self, context):
        scene = context.scene
        frames, folder = frame_range(self, scene)
        coherence = check_coherence(scene, self.temporal_coherence, context.view_layer, frames)
        settings = settings_from(self)      # one style, encoded once: identical statistics per frame
        name = scene.name

        def work(frame):                    # (as rendered, the Vector pass, the depth)
            view = None if coherence is None else cameras.view(scene_named(name))
            return stylize_work(frame[0], settings, coherence, frame[1], frame[2], view)
        yield from animation_frames(self, scene, frames, folder, lambda: render_as_shown(
            scene_named(name), context.view_layer, coherence is not None), work, coherence)


class NST_OT_stylize_still(jobs.JobOperator, bpy.types.Operator):
    """Stylize the still just rendered in this window (F12) with the 'NST Style' node's style
    slots, masks and strength, into the image 'NST Render', shown in the Render window"""

    bl_idname = "nst.stylize_still"
    bl_label = "Stylize the Render"
    bl_options = {"INTERNAL"}
    label = "Stylize the Render"

    def job(self, context):
        if not live.STILL:
            raise UserError("no still render to stylize; render one with F12")
        job, frame = live.STILL.pop()
        while live.STILL:           # an earlier F12's, not stylized in time: its capture goes
            live.done_with(live.STILL.pop()[0])
        try:                        # (its capture is kept until done: the nodes after need it)
            yield from _while_rendering()   # (a render started meanwhile: after it)
            scene = live.scene_of(job)
            px, masks, vector, depth = passes.read_captured(
                scene, job.directory, job.slots, job.shutter is not None, frame=frame,
                shown=job.shown)
            px = px if job.shown else frames.as_shown(scene, px)
            settings = replace(job.settings, masks=masks)
            views = job.shutter and shutter.neighbours(scene, frame, cameras.view)
            cover, blur = mask_union(masks), shutter.along(job.shutter, vector, depth, views)
            result = yield lambda progress, cancel: frames.finished(
                stylize(px, settings, progress, cancel), px, cover, blur, job.after is None)
            yield from _while_rendering()
            if job.after is not None:
                result = after.composited(job.after, live.scene_of(job), frame, result, None,
                                          cover, live.inverse(job), True, still=True, blur=blur)
        finally:
            live.done_with(job)
        image = keep(pixels.write_image(result, STILL_IMAGE))
        _show_instead_of_the_render(image)
        self.say("INFO", f"frame {frame} stylized into image '{image.name}' (the Render "
                         "Result is the plain render)")


class NST_OT_stylize_written(jobs.JobOperator, bpy.types.Operator):
    """Stylize the frames an animation render in this window wrote with the 'NST Style' node,
    each over its file, in order (Temporal Coherence follows them); a later render's frames
    are the next job's (its own report; Esc leaves only this render's plain)"""

    bl_idname = "nst.stylize_written"
    bl_label = "Stylize the Rendered Frames"
    bl_options = {"INTERNAL"}
    label = "Stylize the Rendered Frames"

    def job(self, context):
        done, plain = [], {}
        render = live.QUEUE[0][0] if live.QUEUE else None
        scene = bpy.data.scenes.get(render.scene) if render else None
        applied = nodegroup.applied_frame(scene) if scene else None     # (a cancel's word)
        try:
            while live.QUEUE and live.QUEUE[0][0] is render:
                job, frame = live.QUEUE.popleft()
                left = [frame] + [f for j, f in live.QUEUE if j is render]
                self.kept = (f"{_span(done)} written stylized; " if done else "") + \
                    f"{_span(left)} keep{'s' * (len(left) == 1)} Blender's plain render" + (
                        f" (frame {applied}: Apply Styles' picture)" if applied in left else "")
                try:
                    yield from live.frame_job(job, frame, _while_rendering)
                finally:
                    live.done_with(job)
                if frame in job.written:
                    done.append(frame)
                elif frame in job.failed:
                    plain[frame] = job.failed[frame]
        finally:                        # cancelled: the frames left keep Blender's plain files
            while live.QUEUE and live.QUEUE[0][0] is render:
                live.done_with(live.QUEUE.popleft()[0])
        said = f"{_span(done)} written stylized" if done else "no frame was stylized"
        if plain:                       # (said on the console too; the first reason here)
            said += f"; {_span(sorted(plain))} kept Blender's plain render: " \
                f"{next(iter(plain.values()))}"
        self.say("WARNING" if plain else "INFO", said)


def _span(frames: list) -> str:
    if len(frames) == 1:
        return f"frame {frames[0]}"
    if frames == list(range(frames[0], frames[-1] + 1)):
        return f"frames {frames[0]}–{frames[-1]}"
    return "frames " + ", ".join(map(str, frames))


def _while_rendering():
    """Between a job's steps on Blender data: wait while a render runs (data-blocks made or
    removed while a render ran in a window crashed Blender 4.3)."""
    while bpy.app.is_job_running("RENDER"):
        yield lambda progress, cancel: time.sleep(0.25)


class NST_OT_say(bpy.types.Operator):
    """Say what a render in this window left plain, in the status bar and the Info log"""

    bl_idname = "nst.say"
    bl_label = "Neural Style Transfer"
    bl_options = {"INTERNAL"}
    text: bpy.props.StringProperty()

    def invoke(self, context, event):   # (a window shows the reports of a modal operator only)
        self._timer = context.window_manager.event_timer_add(0.01, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        jobs.STATE.last_report = self.text
        self.report({"WARNING"}, self.text)
        return {"FINISHED"}


def _shown_frame(path: str):
    """The image of the last frame a Ctrl+F12 wrote, ``path``: one data-block, read again from
    each render's file (not one more per render in the artist's file)."""
    image = next((i for i in bpy.data.images if i.get("nst_shown_frame")), None)
    if image is None:
        image = bpy.data.images.load(path, check_existing=False)
        image.name, image["nst_shown_frame"] = SHOWN_FRAME, True
    elif bpy.path.abspath(image.filepath) != path:
        image.filepath = path
    image.reload()
    return image


def _show_instead_of_the_render(image) -> None:
    """``image`` in each Image Editor that shows the Render Result (the Render window)."""
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            space = area.spaces.active
            if area.type == "IMAGE_EDITOR" and space.image is not None \
                    and space.image.type == "RENDER_RESULT":
                space.image = image


def _show(context, image) -> None:
    for area in context.screen.areas if context.screen else []:
        if area.type == "IMAGE_EDITOR":
            area.spaces.active.image = image
            return


_AFTER: list = []       # the scene whose still render After Each Render stylizes next


@persistent
def after_render(scene, *_):
    """render_complete handler (the render's thread): each still render is stylized when the
    scene asks for it; in a window, on the main thread (``_serve``)."""
    settings = getattr(scene, "nst", None)
    if settings is None or not settings.after_render or jobs.STATE.running \
            or passes.rendering_for_us():       # (the add-on's own: a copy of the scene)
        return
    if not bpy.app.background:
        _AFTER[:] = [scene.name]
    elif bpy.ops.nst.stylize_render.poll():
        bpy.ops.nst.stylize_render(render=False, **style_values(settings))


# A render in a window runs in its own thread, which waits in render_init while the main thread
# starts the live node's capture (live.start: nodes added, passes turned on): done by the render
# thread itself as the window drew the tree, it crashed Blender 4.3 (once in CI; in stress tests
# with the Compositor open, at Ctrl+F12 29 and at F12 still 19: docs/farm.md).
_STARTS: list = []                      # [scene name, done, taken] from render threads
_LOCK = threading.Lock()
START_WAIT = 20.0                       # seconds a render waits for the main thread


@persistent
def _render_init(scene, *_):
    if threading.current_thread() is threading.main_thread() or passes.rendering_for_us():
        return                          # (live._init starts it there)
    request = [scene.name, threading.Event(), False]
    with _LOCK:
        _STARTS.append(request)
    if request[1].wait(START_WAIT):
        return
    with _LOCK:
        taken = request[2]
        if not taken:
            _STARTS.remove(request)
    if taken:
        request[1].wait()
    else:
        live.unstylized(f"this render is not stylized: Blender's main thread did not start its "
                        f"capture within {START_WAIT:.0f} s (busy?); render it again")


def _serve_starts() -> None:
    """Main thread: the capture of each render that waits for it (``_render_init``)."""
    while True:
        with _LOCK:
            if not _STARTS:
                return
            request = _STARTS.pop(0)
            request[2] = True
        try:
            if request[0] in bpy.data.scenes:
                live.start(bpy.data.scenes[request[0]])
        except Exception as exc:            # (a bug: the render goes on plain, and says so)
            traceback.print_exc()
            live.unstylized(f"this render is not stylized: {said(exc)}")
        finally:
            request[1].set()


def _serve() -> float:
    """A window's timer: a render's capture started (a render waits for it); what a render
    handed on is stylized once it has ended, as a job (progress in the status bar, Esc cancels):
    the frames an animation render wrote (then the last one is shown), a still of the 'NST
    Style' node, else After Each Render's."""
    _serve_starts()
    if bpy.app.is_job_running("RENDER"):    # data-blocks made or removed while a render
        return 0.25                         # runs crashed Blender 4.3 (a window test)
    live.set_back()                 # what the render's capture changed (its thread left it)
    if live.SHOW:                   # Ctrl+F12 wrote stylized frames: the last one, as written
        path = live.SHOW.pop()
        if os.path.isfile(path):
            _show_instead_of_the_render(_shown_frame(path))
    while jobs.TOLD and bpy.context.window_manager.windows:     # what the render left plain
        with bpy.context.temp_override(window=bpy.context.window_manager.windows[0]):
            bpy.ops.nst.say("INVOKE_DEFAULT", text=jobs.TOLD.pop(0))
    if (live.QUEUE or live.STILL or _AFTER) and not jobs.STATE.running \
            and bpy.context.window_manager.windows:
        window = bpy.context.window_manager.windows[0]
        with bpy.context.temp_override(window=window):
            if live.QUEUE:
                bpy.ops.nst.stylize_written("INVOKE_DEFAULT")
            elif live.STILL:
                _AFTER.clear()
                bpy.ops.nst.stylize_still("INVOKE_DEFAULT")
            elif _AFTER[-1] in bpy.data.scenes:
                bpy.ops.nst.stylize_render("INVOKE_DEFAULT", render=False,
                                           **style_values(bpy.data.scenes[_AFTER.pop()].nst))
            else:
                _AFTER.clear()
    return 0.25


classes = (NST_OT_stylize_render, NST_OT_stylize_animation, NST_OT_stylize_still,
           NST_OT_stylize_written, NST_OT_say)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


HANDLERS = ((bpy.app.handlers.render_complete, after_render),
            (bpy.app.handlers.render_init, _render_init))


def register():
    _register_classes()
    attach(HANDLERS)
    if not bpy.app.background:
        bpy.app.timers.register(_serve, first_interval=0.1, persistent=True)


def unregister():
    if bpy.app.timers.is_registered(_serve):
        bpy.app.timers.unregister(_serve)
    detach(HANDLERS)
    _unregister_classes()
