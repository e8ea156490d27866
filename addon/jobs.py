"""One stylization at a time without freezing Blender.

A job is a generator that runs on the main thread (reading and writing Blender data) and yields
the slow part as a function ``work(progress, cancel)``; that part runs in a worker thread and
touches no Blender data. Its result is sent back into the generator, on the main thread, which
writes it. Cancelling, or any error, closes the generator before it writes anything more, so
a cancelled job leaves everything as it was, except what a job that writes as it goes (frames
of an animation) has finished, which it names in ``kept`` and the report repeats. In background mode (``blender -b``, tests) and when
called from Python with execute, jobs run blocking.
"""

from __future__ import annotations

import os
import queue
import sys
import threading

import bpy
from bpy.app.handlers import persistent

from .engine import CancelledError, NSTError, UserError
from .handlers import attach, detach

WORKER_NICE = 10                # Linux nice value of a job's threads (0 normal, 19 lowest)
ERRORS = (UserError, NSTError, RuntimeError, ValueError, OSError, ReferenceError)


class _State:
    running: str = ""           # label of the running job, "" when none
    progress: float = 0.0
    message: str = ""
    last_report: str = ""       # what the last job said when it ended
    abandoned: str = ""         # why the running job must stop: the file changed under it
    cancel = threading.Event()


STATE = _State()
TOLD: list = []         # what a render in a window left plain or changed, for its status bar


def tell(text: str, window: bool = True) -> None:
    """``text`` on the console; in a window (``window``) also in its status bar and Info log
    once the render has ended (render.py's timer reports it: the console is not where an artist
    looks)."""
    print(f"Neural Style Transfer: {text}", flush=True)
    if window and not bpy.app.background:
        TOLD.append(text)


def busy_message() -> str | None:
    if STATE.running:
        return (f"'{STATE.running}' is still running; wait for it or press Esc / Cancel "
                "before starting another stylization")
    return None


_CALLS: queue.SimpleQueue = queue.SimpleQueue()     # (fn, args, answer) from a job's worker


def on_main_thread(fn):
    """``fn`` for a job's worker to call: it runs on the main thread, where Blender data may be
    touched (the modal timer serves it within a tick), and its result or error comes back. On
    the main thread (blocking jobs, background mode) it is simply called."""
    def call(*args):
        if threading.current_thread() is threading.main_thread():
            return fn(*args)
        answer = {"done": threading.Event()}
        _CALLS.put((fn, args, answer))
        answer["done"].wait()
        if "error" in answer:
            raise answer["error"]
        return answer["value"]
    return call


def _serve_calls(error: BaseException | None = None) -> None:
    """Run the worker's waiting main-thread calls (or, with ``error``, fail them: the job ended)."""
    while True:
        try:
            fn, args, answer = _CALLS.get_nowait()
        except queue.Empty:
            return
        try:
            if error is not None:
                raise error
            answer["value"] = fn(*args)
        except BaseException as exc:     # handed back to the worker, which raises it
            answer["error"] = exc
        answer["done"].set()


def _abandon(why: str) -> None:
    """The world changed under the running job (another file, Undo, the add-on disabled): it
    is cancelled, and ends saying ``why`` before it writes anything more."""
    if STATE.running:
        STATE.abandoned = why
        STATE.cancel.set()


OPENED = "another file was opened"


@persistent
def _file_loads(*_):
    _abandon(OPENED)


@persistent
def _undo(*_):
    _abandon("Undo or Redo changed the file")


HANDLERS = ((bpy.app.handlers.load_pre, _file_loads), (bpy.app.handlers.undo_pre, _undo),
            (bpy.app.handlers.redo_pre, _undo))


def register():
    attach(HANDLERS)


def unregister():
    _abandon("the add-on was disabled")
    _serve_calls(CancelledError("the add-on was disabled"))
    STATE.running = ""          # its operators are gone: a job left modal cannot end itself
    detach(HANDLERS)


def _progress(fraction: float, message: str) -> None:
    STATE.progress, STATE.message = float(fraction), message


def run_blocking(job, watched: bool = True) -> None:
    """Drive a job to the end in the calling (main) thread; ``watched``: reporting progress and
    stopping at the running job's cancel (not for a render's frames, whose job is Blender's)."""
    try:
        work = next(job)
        while True:
            try:
                result = work(_progress, STATE.cancel.is_set) if watched else work(None, None)
            except Exception as exc:    # (a bug too: a render's frame says it, live.py)
                work = _thrown(job, exc)
                continue
            work = job.send(result)
    except StopIteration:
        pass
    finally:
        job.close()


def _thrown(job, error: BaseException):
    """The work's error (any: a bug too) raised inside the job where it yielded the work, so
    that the job's own handlers see it (a frame of a render that fails is that frame's: it is
    written plain, said, and the render goes on, live.py); a cancel is not thrown in: it ends
    the job."""
    if isinstance(error, CancelledError):
        raise error
    return job.throw(error)


class JobOperator:
    """Mixin for operators whose ``job(context)`` is a generator as described above. A job that
    writes as it goes (an animation, frame by frame) says what a cancel left in ``self.kept``."""

    label = "Stylize"
    kept = ""

    @classmethod
    def poll(cls, context):
        if (msg := busy_message()) is not None:
            cls.poll_message_set(msg)
            return False
        return True

    def job(self, context):
        raise NotImplementedError

    def say(self, level: str, text: str) -> None:
        """Report ``text`` and keep it as the last job's word (STATE.last_report)."""
        STATE.last_report = text
        try:
            self.report({level}, text)
        except ReferenceError:          # the operator went with a file that was closed
            print(f"Neural Style Transfer: {text}")

    def _cancelled(self):
        why = f" because {STATE.abandoned}" if STATE.abandoned else ""
        self.say("WARNING", f"{self.label}: cancelled{why}; {self.kept or 'nothing was changed'}")
        if STATE.abandoned:             # the window may be going (Blender quits: the console
            tell(STATE.last_report, STATE.abandoned == OPENED)  # only), or its reports (a file
                                                                # opened: said again in its own)
        return {"CANCELLED"}

    def _failed(self, error: BaseException):
        if isinstance(error, ReferenceError):   # a data-block it held was freed under it
            error = (f"what it was working on was removed while it ran ({error}); "
                     f"{self.kept or 'nothing was changed'}")
        self.say("ERROR", f"{self.label}: {error}")
        return {"CANCELLED"}

    def execute(self, context):
        STATE.running, STATE.progress, STATE.message, STATE.abandoned = self.label, 0.0, "", ""
        STATE.cancel.clear()
        self.kept = ""
        try:
            run_blocking(self.job(context))
        except CancelledError:
            return self._cancelled()
        except ERRORS as exc:
            return self._failed(exc)
        finally:
            STATE.running, STATE.abandoned = "", ""
        return {"FINISHED"}

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        STATE.running, STATE.progress, STATE.message, STATE.abandoned = self.label, 0.0, "starting", ""
        STATE.cancel.clear()
        self.kept = ""
        self._job = self.job(context)
        self._thread, self._done, self._shown = None, {}, ""
        try:
            self._start(next(self._job))
        except StopIteration:
            return self._finish(context, None)
        except ERRORS as exc:
            return self._finish(context, exc)
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _start(self, work) -> None:
        done = self._done = {}      # the worker touches only this: the operator itself may be
                                    # freed under it (a file load)

        def target():
            _below_the_window()
            try:
                done["result"] = work(_progress, STATE.cancel.is_set)
            except BaseException as exc:     # handed to the main thread, reported there
                done["error"] = exc
        self._thread = threading.Thread(target=target, name="nst-job", daemon=True)
        self._thread.start()

    def modal(self, context, event):
        if event.type == "ESC":
            STATE.cancel.set()
        if STATE.abandoned:
            return self._finish(context, CancelledError(STATE.abandoned))
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        _serve_calls()
        shown = f"{self.label}: {STATE.message} {STATE.progress:.0%} (Esc to cancel)"
        if shown != self._shown:        # drawn before the main thread's part of a step runs
            self._shown = shown
            _status(context, shown)
            return {"RUNNING_MODAL"}
        if self._thread.is_alive():
            return {"RUNNING_MODAL"}
        error = self._done.get("error")
        if error is not None and not isinstance(error, Exception):
            return self._finish(context, error)
        try:
            if error is not None:
                self._start(_thrown(self._job, error))
            else:
                self._start(self._job.send(self._done.get("result")))
        except StopIteration:
            return self._finish(context, None)
        except Exception as exc:        # the job's, or a bug it let through: reported
            return self._finish(context, exc)
        return {"RUNNING_MODAL"}

    def cancel(self, context):
        """Blender ends the modal job itself (a file loads, the window closes): nothing more
        is written."""
        _abandon(STATE.abandoned or "Blender ended it")
        self._finish(context, CancelledError(STATE.abandoned))

    def _finish(self, context, error):
        STATE.cancel.set()              # a worker still running stops at its next step
        _serve_calls(CancelledError("the job ended"))
        try:
            self._job.close()
        except ERRORS as exc:           # its cleanup met freed data: the report says so
            error = error or exc
        try:
            if getattr(self, "_timer", None) is not None:
                context.window_manager.event_timer_remove(self._timer)
                self._timer = None
            _status(context, None)
        except (ReferenceError, RuntimeError, AttributeError):
            pass                        # the window went with the file that was closed
        try:
            if isinstance(error, CancelledError):
                return self._cancelled()
            if error is not None:
                return self._failed(error)
            return {"FINISHED"}
        finally:
            STATE.running, STATE.abandoned = "", ""


def _below_the_window() -> None:
    """Run the calling worker thread, and the onnxruntime threads it starts, below Blender's
    own: a window whose drawing shares the cores with a job then answers as if the job were
    not there. Linux: the thread's nice value (threads it starts inherit it); Windows: the
    thread's priority. Elsewhere, or where the system refuses, threads run as they are."""
    try:
        if sys.platform.startswith("linux"):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        elif sys.platform == "win32":
            import ctypes
            kernel32 = ctypes.windll.kernel32
            kernel32.SetThreadPriority(kernel32.GetCurrentThread(), -1)  # BELOW_NORMAL
    except (OSError, AttributeError):
        pass


def _status(context, text) -> None:
    """The status bar's text, and a redraw of the sidebars that show the progress. Called only
    when the text changes: only those sidebars, since redrawing whole editors, a 3D viewport
    among them, kept the window from answering for up to 0.3 s; and only on a change, since
    redrawing them every 0.1 s took half the CPU from a 1024² WCT job in a software-OpenGL
    window (22 s instead of 11 s, tests/gui)."""
    if context.workspace is not None:
        context.workspace.status_text_set(text)
    for area in context.screen.areas if context.screen else []:
        if area.type in ("IMAGE_EDITOR", "NODE_EDITOR"):
            for region in area.regions:
                if region.type == "UI":
                    region.tag_redraw()


def warm_up(background: bool | None = None) -> str | None:
    """Import the engine's compiled dependencies now, on the main thread. Imported first by a
    job's worker, they hold Python's lock while they load (the first time, while their files
    compile), and a window that runs Python to draw stalled for up to 0.3 s as a job started
    (tests/gui). About 0.1 s, once, as the add-on registers; not in background mode, where
    jobs run blocking and nothing is drawn. One that does not load does not stop the add-on
    from registering: the message (also printed) says so, and a job reports it when it runs."""
    if bpy.app.background if background is None else background:
        return None
    try:
        import onnxruntime  # noqa: F401
        from PIL import Image  # noqa: F401
    except ImportError as exc:
        message = (f"Neural Style Transfer: a bundled library did not load ({exc}); stylizing "
                   "will fail until the extension is reinstalled (Preferences › Get Extensions)")
        print(message)
        return message
    return None
