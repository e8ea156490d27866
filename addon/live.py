"""The 'NST Style' node inside Blender's own renders: every frame Blender renders and writes
(Ctrl+F12, ``blender -b file.blend -a``, ``-f N``, ``-s/-e``, a farm worker's chunk) is that
frame stylized with the scene's style slots, masks, strength and Temporal Coherence.

The node group 'NST Style' (made by Apply Styles) takes the render in and shows Apply's result
through a Switch whose driver (``frame == N``) turns it on only at the frame N Apply made it
for; at every other frame the render passes through: a picture made for another frame is
never composited. Blender evaluates the driver for each frame of any render, in any route.
While an instance of the group feeds the compositor's output, unmuted, a render job
(``render_init``) adds a capture (passes.capture) that writes each frame's image as the Render
window shows it (scene-linear for an OpenEXR output), its masks' passes and, with Temporal
Coherence, its Vector and Depth passes to a temporary folder (each frame's files removed once
read). After Blender writes a frame (``render_write``) the frame is stylized from them (as Apply
Styles does it: frames.py), following the frame before along the motion, and written over
Blender's file, whole (a video is encoded again once its frames are: videos.py). A frame that
cannot be stylized keeps Blender's plain one and the render says so on the console. A still
rendered in a window (F12) writes no file: when it ends whole (``render_complete``) its capture
is handed to render.py, which shows it stylized as the image 'NST Render'. In a window the
handlers run in the render's thread and change no data: the main thread starts the capture
(render.py, as the render waits), stylizes the frames (QUEUE) and sets back (set_back), as data
changed by that thread while the window drew crashed Blender 4.3. Group: nodegroup.py. Frames
not yet written stylized are marked on disk (pending.py)."""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import threading
from collections import deque
from dataclasses import dataclass, field, replace

import bpy
from bpy.app.handlers import persistent

from . import (after, cameras, engine, frames, held, jobs, outputs, passes, pending, pixels,
               plates, shutter, videos)
from .nodegroup import live_node, rendered_layer
from .engine import NSTError, UserError
from .handlers import attach, detach


@dataclass
class _Render:
    """One render job with the live node: what every frame of it needs."""

    scene: str
    directory: str
    added: list                         # names of the capture's nodes
    slots: list
    settings: object
    layer: str                          # the view layer, and its pass flags before the capture
    flags: dict
    shown: bool                         # captured as shown (else scene-linear: OpenEXR output)
    coherence: object = None
    last: int | None = None
    inverse: object = None              # the view transform's inverse (OpenEXR output)
    written: list = field(default_factory=list)
    last_file: str = ""                 # the file of the last frame written stylized
    failed: dict = field(default_factory=dict)
    unmasked: dict = field(default_factory=dict)    # slot number -> frames its mask missed
    queued: int = 0                     # frames (or a still) left for the main thread
    ended: bool = False
    plate_read: bool = False            # the scene's clean plate handed to the coherence (plates.py),
    misfit_said: bool = False           # and said not to fit
    mid_shot_said: bool = False         # plates.MID_SHOT said
    camera_said: bool = False           # cameras.UNKNOWN said
    video: list = field(default_factory=list)   # a video: Blender's file, first, step, frames
    files: dict = field(default_factory=dict)   # frame -> the file Blender wrote (a window's)
    output: tuple = ()                  # outputs.settings_key as the render began
    after: object = None                # the nodes after the NST Style node (after.py)
    shutter: tuple | None = None        # Motion Blur made after the style (shutter.py)


_RENDER: _Render | None = None
# The last render job with its coherence, taken over by the next one in this process with the
# same scene and styles (a farm worker's warm-up frames, then its chunk: two -a, docs/farm.md).
_CARRIED: list = [None, None]           # (what it was made with: frames.slots_key, the _Render)


@persistent
def _init(scene, *_):
    if threading.current_thread() is threading.main_thread() and not passes.rendering_for_us():
        start(scene)        # (a window's render thread: render.py has the main thread do it)


def start(scene) -> None:
    """A render job starts (render_init, the main thread): its capture, if the node is live."""
    global _RENDER
    _end()                              # (and set back a render that ended just now)
    node = live_node(scene)
    if node is None:
        if live_node(scene, compositing=False) is not None:
            unstylized("this render is not stylized: Compositing is off (Output Properties › "
                       "Post Processing), so the NST Style node is not applied and every frame "
                       "is Blender's plain render; turn Compositing on, or mute the node for "
                       "plain frames")
        return
    directory = ""
    try:
        try:
            outputs.take_codec(scene)
            outputs.check_output(scene)
            outputs.say_stamp_left_out(scene)
            writes = True
            outputs.make_folder(scene)
        except UserError:
            if bpy.app.background:
                raise
            writes = False              # in a window, an F12 still is shown stylized
        slots, settings = frames.slot_settings(scene)
        strength = scene.nst.temporal_coherence
        key = (scene.name, strength, frames.slots_key(scene))
        before = _CARRIED[1] if _CARRIED[0] == key else None
        coherence, last = (before.coherence, before.last) if before else (None, None)
        if coherence is None and strength > 0 and writes:
            coherence = engine.Coherence(strength)
        blurs = shutter.take_over(scene) if coherence is not None else None   # (shutter.py)
        if scene.render.use_multiview:      # (Individual: not found; Stereo 3D: one view in both
            raise UserError(MULTIVIEW)      # eyes, its depth lost: tried, bpy 5.0.1)
        layer = rendered_layer(scene, node)
        directory = pending.capture_folder()
        flags = passes.pass_flags(layer)
        shown = not outputs.is_linear(scene)
        added = passes.capture(scene, layer, slots, directory, coherence is not None, shown=shown,
                               composite=shown and scene.render.use_stamp)   # (stamps.py)
        nodes_after = after.capture(scene, node, layer, directory, added)
        video = [scene.render.frame_path(frame=scene.frame_start), scene.frame_start,
                 scene.frame_step, 0] if outputs.is_video(scene) else []
    except (UserError, NSTError) as exc:
        node.mute = node[passes.MUTED] = True   # plain frames, all: not Apply's picture at its
        _MUTED[:] = [scene.name, node.name]     # frame either (an artist trial); saved so, it is
        if directory:                           # unmuted as the file opens (passes.py)
            shutil.rmtree(directory, ignore_errors=True)
        unstylized(f"this render is not stylized (Blender's plain frames are written): {exc}")
        return
    _RENDER = _Render(scene.name, directory, [n.name for n in added], slots, settings, layer.name,
                      flags, shown, coherence, last, video=video, after=nodes_after,
                      output=outputs.settings_key(scene), shutter=blurs)
    pending.say_left(scene, jobs.tell, unstylized, video)
    _CARRIED[:] = [key, _RENDER] if coherence is not None else [None, None]


def unstylized(said: str, window: bool = True) -> None:
    """A render, or a frame, left plain that the NST Style node should have stylized: said (in a
    window, unless its job's report says it: ``window``), and counted for ``_exit_status``."""
    jobs.tell(said, window)
    _UNSTYLIZED.append(said)


MULTIVIEW = ("Stereoscopy is on (Output Properties › Stereoscopy): the NST Style node does not stylize "
             "each eye's view; turn Stereoscopy off, or render each eye's camera as a render of its own")
_UNSTYLIZED: list = []
_MUTED: list = []                       # the NST Style node muted for a render it cannot stylize
_PENDING: deque = deque()               # (the _Render or None, _MUTED) of ended renders


def _exit_status() -> None:
    """``blender -b`` exits with status 1 when its renders left frames plain that the NST Style
    node should have stylized: a render farm marks the task failed, not a silently plain shot."""
    if _UNSTYLIZED:
        print(f"Neural Style Transfer: exit status 1: {len(_UNSTYLIZED)} render(s) or frame(s) "
              "not stylized (see above)", flush=True)
        os._exit(1)


@persistent
def _write(scene, *_):
    job = _RENDER
    if job is None or scene.name != job.scene:
        return
    if job.video:
        job.video[3] += 1                   # the frames Blender wrote: the video's length
    if bpy.app.background:
        jobs.run_blocking(frame_job(job, scene.frame_current), watched=False)
    else:                                   # in a window: the main thread does it (QUEUE),
        job.queued += 1                     # into this file (the Output path may change)
        job.files[scene.frame_current] = outputs.written_file(scene, scene.frame_current, "")
        QUEUE.append((job, scene.frame_current))


def frame_job(job: _Render, frame: int, between=lambda: ()):
    """A job's body (jobs.py) for the frame Blender wrote: read from its capture, stylized (the
    work it yields), written over Blender's file; ``between()`` is yielded from before each
    step on Blender data (in a window: waiting while a render runs)."""
    try:
        yield from between()
        scene = scene_of(job)
        outputs.check_output(scene)
        if not bpy.app.background and outputs.settings_key(scene) != job.output:  # (in a window)
            raise UserError("the Output properties changed after Blender wrote it; render again")
        image, masks, vector, depth = passes.read_captured(
            scene, job.directory, job.slots, job.coherence is not None, frame=frame, shown=job.shown)
        if job.coherence is not None and not job.mid_shot_said and scene.nst.get("no_plate") \
                and frame > (scene.nst.get("shot_start", scene.frame_start)   # (Apply's: `-s`
                             if job.last is None else job.last + 1):          # moves the scene's)
            job.mid_shot_said = True        # (a chunk: cold, or after its warm-up's jump)
            jobs.tell(plates.MID_SHOT.format(reason=scene.nst["no_plate"], frame=frame))
        if job.coherence is not None and job.last is not None and frame != job.last + 1:
            job.coherence.reset(keep_plate=frame > job.last)    # a jump ahead (a chunk after its
            job.plate_read &= frame > job.last      # warm-up): only the still set's painting carries
                                                    # over, where it fits; back (again): nothing
        elif job.coherence is not None and job.last is not None \
                and cameras.switched(scene, job.last, frame):
            job.coherence.reset()                   # a cut to another camera (markers)
        job.last = frame
        for i, mask in enumerate(masks):
            if mask is not None and not (mask > 0).any():
                job.unmasked.setdefault(i + 1, []).append(frame)
        px = image if job.shown else frames.as_shown(scene, image)
        if job.coherence is not None and not job.plate_read:
            job.plate_read = True       # (read here, on the main thread: not in render_init)
            job.coherence.take_clean_plate(plates.clean(scene, px.shape[1::-1]))
        settings = replace(job.settings, masks=masks)
        view_of = cameras.known if bpy.app.background else cameras.view
        views = job.shutter and shutter.neighbours(scene, frame, view_of)   # (the sky's motion)
        view = None if job.coherence is None else views[1] if views else view_of(scene, frame)
        if job.coherence is not None and bpy.app.background and depth is not None \
                and cameras.unknown(scene, frame) and not job.camera_said \
                and (depth >= engine.BACKGROUND_DEPTH).any():
            job.camera_said = True          # (the sky is seen: its motion is not)
            jobs.tell(cameras.UNKNOWN.format(frame=frame))
        cover, blur = engine.mask_union(masks), shutter.along(job.shutter, vector, depth, views)
        whole = job.after is None and job.shown     # (else composited by the main thread)
        styled = yield lambda progress, cancel: frames.finished(engine.stylize(
            px, settings, progress, cancel, job.coherence, vector, depth, view), px, cover, blur, whole)
        if job.coherence is not None and job.coherence.canvas.clean_misfit and not job.misfit_said:
            job.misfit_said = True
            jobs.tell(plates.MISFIT)
        yield from between()
        scene = scene_of(job)
        path = "" if job.video else job.files.get(frame) or outputs.written_file(scene, frame)
        out = styled if whole else after.composited(
            job.after, scene, frame, styled, image, cover, inverse(job), job.shown,
            path not in ("", scene.render.frame_path(frame=frame)), blur)
        if job.video:                       # encoded once the frames are done (_close)
            videos.write_frame(scene, out, job.directory, frame, lambda: inverse(job))
        else:
            if not job.shown:               # OpenEXR
                outputs.write_exr(scene, out, path, passes.not_asked(job.layer, job.flags))
            elif scene.render.use_stamp:    # Blender's stamp, burned into its file, carried
                outputs.write_frame(scene, out, path, lambda: inverse(job),
                                    passes.read_composite(scene, job.directory, frame))
            else:
                outputs.write_frame(scene, out, path, lambda: inverse(job))
            job.last_file = path
            pending.done(path)
        job.written.append(frame)
    except Exception as exc:            # any (a render_write handler's traceback left frames
        job.failed[frame] = engine.said(exc)    # plain and unsaid); a cancel raised again
        unstylized(f"frame {frame} is written plain, not stylized: {job.failed[frame]}", False)
    finally:                            # read: a long render keeps no frame's capture on disk
        for pattern in (f"*{frame:04d}.*", f"*{frame:04d}"):   # (File Extensions off: no .*)
            for path in glob.glob(os.path.join(job.directory, pattern)):
                os.remove(path)


def inverse(job: _Render):
    """The inverse of the scene's view (the same for every frame of a render), made once."""
    if job.inverse is None:
        name = job.scene
        job.inverse = engine.ViewInverse(lambda linear: pixels.shown(bpy.data.scenes[name], linear))
    return job.inverse


def scene_of(job: _Render):
    scene = bpy.data.scenes.get(job.scene)
    if scene is None:
        raise UserError(f"the scene '{job.scene}' was removed before its frames were stylized")
    return scene


QUEUE: deque = deque()      # (render job, frame) a window's render wrote: render.py stylizes them


def done_with(job: _Render) -> None:
    """One queued frame (or still) of ``job`` is done: when it has ended and none is left, its
    capture folder goes and what it did is said."""
    job.queued = max(job.queued - 1, 0)
    if job.ended and not job.queued:
        _close(job)


def _end(*_):
    """The render job ended (done or cancelled): the capture nodes go, the passes they turned on
    are set back, its folder goes once no queued frame needs it (by the main thread)."""
    global _RENDER
    _PENDING.append((_RENDER, _MUTED[:]))
    _RENDER, _MUTED[:] = None, []
    pending.sweep()
    if threading.current_thread() is threading.main_thread():
        set_back()                      # (a window's render thread: render.py's timer does)


def set_back() -> None:
    """What the render jobs that ended changed, set back (the main thread, or render_init's)."""
    while _PENDING:
        job, muted = _PENDING.popleft()
        scene = bpy.data.scenes.get(job.scene if job else muted[0] if muted else "")
        tree = passes.scene_tree(scene, create=False) if scene is not None else None
        nodes = tree.nodes if tree is not None else {}
        if muted and muted[1] in nodes:
            nodes[muted[1]].pop(passes.MUTED, None)
            nodes[muted[1]].mute = False
        held.set_back(scene)                # (a render that could not start too: stereo, ...)
        if job is None:
            continue
        for name in [n for n in job.added if n in nodes]:
            nodes.remove(nodes[name])
        if scene is not None and job.layer in scene.view_layers:
            passes.set_pass_flags(scene.view_layers[job.layer], job.flags)
        if scene is not None and not bpy.app.background:
            _queue_unsaid(job, scene)
        job.ended = True
        if not job.queued:
            _close(job)


def _queue_unsaid(job: _Render, scene) -> None:
    """A frame Blender wrote as Esc cancelled the render, without calling render_write, queued
    too when its capture and file are there, the file written after the capture (not an
    earlier render's: an F12 still was taken for one and left plain, window tests)."""
    said = set(job.written) | set(job.failed) | {f for j, f in QUEUE if j is job}
    for path in sorted(glob.glob(os.path.join(job.directory, "nst_image*"))):
        digits = os.path.splitext(path)[0][-4:]
        written = scene.render.frame_path(frame=int(digits)) if digits.isdigit() else ""
        if written and int(digits) not in said and os.path.isfile(written) \
                and os.path.getmtime(written) >= os.path.getmtime(path):
            job.queued += 1
            job.files[int(digits)] = written
            QUEUE.append((job, int(digits)))


def _close(job: _Render) -> None:
    try:
        if job.video and job.written and job.scene in bpy.data.scenes:
            videos.encode(bpy.data.scenes[job.scene], job.directory, *job.video, lambda: inverse(job))
    except (OSError, RuntimeError, TypeError, ValueError) as exc:   # (the frames not stylized
        job.failed.update({f: str(exc) for f in job.written})       # keep Blender's own)
        job.written.clear()
        unstylized(f"the video {job.video[0]} keeps Blender's plain frames: {exc}")
    finally:
        shutil.rmtree(job.directory, ignore_errors=True)
        after.remove(job.after)
    if job.last_file and not bpy.app.background:    # the Render window shows the last one
        SHOW[:] = [job.last_file]
    if job.written or job.failed:
        print(f"Neural Style Transfer: stylized {len(job.written)} frame(s)"
              + (f"; written plain: {sorted(job.failed)}" if job.failed else ""))
    for slot, missed in job.unmasked.items():   # (stylized, yet that slot changed nothing)
        jobs.tell(f"the mask of style slot {slot} covered no pixel of {len(missed)} frame(s) "
                  f"({missed[0]}-{missed[-1]}); does an object or material have its pass index?")


# A still rendered in a window (F12, which writes no file): (its render job, the frame), for
# render.py to read and stylize on the main thread.
STILL: list = []
SHOW: list = []                         # the last frame an animation render in a window wrote


@persistent
def _complete(*_):
    """The render job ended whole: a still rendered in a window is handed on (render.py shows
    it stylized in the Render window); then the capture goes."""
    if passes.rendering_for_us():       # (the add-on's own render inside this one: after.py)
        return
    job = _RENDER
    if job is not None and not job.written and not job.queued and not job.failed \
            and not bpy.app.background:
        job.queued += 1
        STILL.append((job, bpy.data.scenes[job.scene].frame_current))
    _end()


_done = persistent(lambda *args: None if passes.rendering_for_us() else _end(*args))
_pre = persistent(lambda scene, *_: _RENDER and scene.name == _RENDER.scene and not _RENDER.video
                  and pending.mark(scene))        # (Blender's file: not stylized until it is)

_H = bpy.app.handlers
HANDLERS = ((_H.render_init, _init), (_H.render_write, _write), (_H.render_complete, _complete),
            (_H.render_cancel, _done), (_H.render_pre, _pre),
            *((h, f) for h in (_H.load_post, _H.undo_post, _H.redo_post)
              for f in (passes.forget_saved_capture, held.forget_saved)))


def register():
    attach(HANDLERS)
    if bpy.app.background and bpy.app.binary_path:     # Blender run from the command line
        atexit.unregister(_exit_status)                 # once, if registered again
        atexit.register(_exit_status)


def unregister():
    _end()
    detach(HANDLERS)           # (the exit status stays: Blender disables add-ons on its way out)
