"""Frames the NST Style node has not written stylized yet, marked beside them on disk: a
'<frame file>.nst-pending' file is made before Blender renders the frame (render_pre) and
removed once the stylized frame is written over Blender's (live.frame_job). A worker killed
between Blender's write and the stylized one left Blender's plain frame under the frame's
name, and a chunk run again with Overwrite off kept it and said nothing (an artist trial of
the farm route: killed 0-0.15 s after the write at 240×135). A render that starts says which
frames of the scene's range are so left (``left``); the marks stay until they are stylized.
Also the capture folders of renders whose process is gone (``capture_folder``)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import tempfile

SUFFIX = ".nst-pending"
_MARKED: dict = {}                      # frame files this process marked, not yet written stylized:
                                        # their modification time when marked (None: no file)


def capture_folder() -> str:
    """A new folder for a render's capture (live.py), named with this process's id; the folders
    of renders whose process is gone (killed: a worker's, 2.3 MB each, an artist trial found 15)
    are removed first."""
    for folder in glob.glob(os.path.join(tempfile.gettempdir(), "nst_capture_*_*")):
        if _alive(os.path.basename(folder).split("_")[2]) is False:
            shutil.rmtree(folder, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"nst_capture_{os.getpid()}_")


def mark(scene) -> None:
    """Before Blender renders the scene's current frame: its file marked as not stylized yet."""
    path = scene.render.frame_path(frame=scene.frame_current)
    try:
        before = _modified(path)
        with open(path + SUFFIX, "w") as f:
            f.write(f"{socket.gethostname()} {os.getpid()}\n")
        _MARKED[path] = before
    except OSError:
        pass                            # (a folder Blender cannot write to: its error says it)


def done(path: str) -> None:
    """The frame at ``path`` is written stylized."""
    _MARKED.pop(path, None)
    try:
        os.remove(path + SUFFIX)
    except OSError:
        pass


def sweep() -> None:
    """A render ended: the marks of frames Blender did not write go (Esc while it rendered one;
    a still that writes no file, F12, whose mark had stayed beside that frame's stylized file
    and made the next render say it was left plain); those of frames it wrote and that are not
    stylized (yet) stay."""
    for path, before in list(_MARKED.items()):
        now = _modified(path)
        if now is None or now == before:
            done(path)


def _modified(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _alive(pid: str) -> bool | None:
    """Whether process ``pid`` of this machine runs: None when that cannot be told (another
    user's process, or not a number)."""
    try:
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False
    except (OSError, ValueError):
        return None


def _running(marked: str) -> bool:
    """Whether the mark was made by a render still running on this machine (a worker rendering
    that frame now), not by one that stopped."""
    try:
        with open(marked) as f:
            host, pid = f.read().split()
    except (OSError, ValueError):
        return False
    return host == socket.gethostname() and pid != str(os.getpid()) and _alive(pid) is True


def left(scene) -> list[int]:
    """The frames of the scene's range whose file is Blender's plain frame, left by a render
    that stopped before writing it stylized (its mark beside it)."""
    r = scene.render
    found = []
    for frame in range(scene.frame_start, scene.frame_end + 1, max(scene.frame_step, 1)):
        path = r.frame_path(frame=frame)
        if os.path.isfile(path + SUFFIX) and os.path.isfile(path) and not _running(path + SUFFIX):
            found.append(frame)
    return found


def say_left(scene, tell, fail, video=False) -> None:
    """Say the frames ``left`` finds (none for a ``video`` output), with what to do: with
    Overwrite on they are rendered again by a render of their frames (``tell``); with it off
    Blender skips them (``fail``: said, and `blender -b` exits with status 1, live.unstylized)."""
    found = [] if video else left(scene)
    if not found:
        return
    shown = ", ".join(str(f) for f in found[:8]) + (" ..." if len(found) > 8 else "")
    first = scene.render.frame_path(frame=found[0])
    again = "this render writes them again if it renders those frames" \
        if scene.render.use_overwrite else "Overwrite is off (Output Properties › Output), so " \
        "Blender skips them: delete them with their marks and render again, or turn Overwrite on"
    (tell if scene.render.use_overwrite else fail)(
        f"frame(s) {shown} on disk are Blender's plain frames, left by a render that stopped or "
        f"failed before writing them stylized (each has a '{SUFFIX}' mark beside it, e.g. "
        f"{first}{SUFFIX}); "
        f"{again}")
