"""Settings of the artist's scene that a render with the live NST Style node changes while it
runs: Motion Blur (made after the style, shutter.py) and Blender 4's multilayer OpenEXR codec
(outputs.take_codec). What each was is kept on the scene, so it is set back when the render
ends, is cancelled or cannot start (live.set_back), and as a file saved meanwhile opens or an
undo step taken meanwhile is loaded (``forget_saved``)."""

from __future__ import annotations

import bpy

HELD = "nst_held"       # on a scene: {"render.use_motion_blur": what it was, ...}


def hold(scene, path: str, value) -> None:
    """``scene.<path>`` set to ``value`` until ``set_back``; what it was before the first hold
    is kept."""
    held = scene[HELD].to_dict() if scene.get(HELD) is not None else {}
    owner, _, name = path.rpartition(".")
    owner = scene.path_resolve(owner)
    held.setdefault(path, getattr(owner, name))
    setattr(owner, name, value)
    scene[HELD] = held


def holds(scene, path: str) -> bool:
    return scene.get(HELD) is not None and path in scene[HELD]


def set_back(scene) -> None:
    """What a render changed on ``scene`` (None: none), as it was."""
    if scene is None or scene.get(HELD) is None:
        return
    held = scene[HELD].to_dict()
    del scene[HELD]
    for path, value in held.items():
        owner, _, name = path.rpartition(".")
        setattr(scene.path_resolve(owner), name, value)


def forget_saved(*_) -> None:
    """load_post, undo_post, redo_post: what a render changed in a file saved (or an undo step
    taken) while it ran, as it was. Not while a render runs (its own)."""
    if not bpy.app.is_job_running("RENDER"):
        for scene in bpy.data.scenes:
            set_back(scene)
