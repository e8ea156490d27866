"""Each frame's camera as the engine needs it for the world background's motion, which
Cycles' Vector pass leaves at 0 even while the camera turns (nst_core.motion.background).

A render does not show handlers the camera it renders with: during an animation render the
scene's camera keeps the matrix of the frame the scene was at (measured: bpy 5.0 in background
mode, in every handler from render_pre to render_write). So the camera is evaluated at the
frame in a scene of its own that holds only it: its parents, constraint targets and drivers
come along in that scene's depsgraph, no frame handler runs, and the artist's scene, its
frame and its simulations are not touched (about 0.3 ms a frame). Debian's Blender 4.3 crashed
(exit 139) when that scene was made or removed while a render ran, even in ``render_init``
(``blender -b -a``), so Blender run from the command line works out the cameras of every frame
as it opens the file and when Apply Styles runs (``KNOWN``), before any render starts; in a
window the frames are stylized once the render has ended (live.py), when the scene can be
made."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.app.handlers import persistent

from .handlers import attach, detach
from .nodegroup import live_node

PROBE = "NST camera probe"
BEFORE = 16     # frames before a scene's first whose cameras are worked out too (a farm
                # chunk's warm-up, which may start before the shot)
KNOWN: dict = {}    # (scene name, frame) -> (camera name, view): worked out as a file opened
                    # or Apply Styles ran (``remember``)


def camera_at(scene, frame: int):
    """The camera that renders ``frame``: the one bound to the last marker at or before it
    (else the first marker's after it), as Blender switches them, or the scene's."""
    bound = sorted(((m.frame, m.camera) for m in scene.timeline_markers if m.camera is not None),
                   key=lambda pair: pair[0])
    before = [camera for at, camera in bound if at <= frame]
    return before[-1] if before else bound[0][1] if bound else scene.camera


def switched(scene, before: int, frame: int) -> bool:
    """Whether another camera renders ``frame`` than ``before`` (timeline markers): a cut that
    Blender's Vector pass does not show (it is 0 at the switch where both cameras stand still,
    measured), so Temporal Coherence starts afresh there."""
    a, b = camera_at(scene, before), camera_at(scene, frame)
    return (a and a.name) != (b and b.name)


def view(scene, frame: int | None = None) -> np.ndarray | None:
    """The view of ``scene``'s camera at ``frame`` (None: the scene's frame) for its render:
    3×3, (column, row, 1) of a pixel (rows top first) -> its ray's direction in the world. None
    without a perspective camera (an orthographic or panoramic one's background is not a
    pinhole's). Not while a render runs (``known``)."""
    frame = scene.frame_current if frame is None else frame
    return views(scene, [frame])[frame][1]


def views(scene, frames) -> dict:
    """``view`` of each of ``frames``: frame -> (the camera's name or None, the view or None)."""
    out, probe = {}, None
    try:
        for frame in frames:
            camera = camera_at(scene, frame)
            if camera is None or camera.type != "CAMERA":
                out[frame] = (None, None)
                continue
            if probe is None:
                probe = bpy.data.scenes.new(PROBE)
            if camera.name not in probe.collection.objects:
                probe.collection.objects.link(camera)
            probe.frame_current = frame
            probe.view_layers[0].update()       # (builds and evaluates its depsgraph)
            evaluated = camera.evaluated_get(probe.view_layers[0].depsgraph)
            if evaluated.data.type != "PERSP":
                out[frame] = (camera.name, None)
                continue
            turn = np.array(evaluated.matrix_world, np.float64)[:3, :3]
            turn /= np.linalg.norm(turn, axis=0)    # (a scaled camera: its axes only)
            out[frame] = (camera.name, turn @ _rays(evaluated.data, scene.render))
    finally:
        if probe is not None:
            bpy.data.scenes.remove(probe)
    return out


def known(scene, frame: int) -> np.ndarray | None:
    """``view`` as worked out before the render (``KNOWN``), or None: a frame out of that range
    (``unknown``), or another camera than then (changed since)."""
    name, view_ = KNOWN.get((scene.name, frame), (None, None))
    camera = camera_at(scene, frame)
    return view_ if camera is not None and camera.name == name else None


def unknown(scene, frame: int) -> bool:
    """Whether the camera of ``frame`` was not worked out before the render, and may have
    moved: a still camera's is the one the render has (an artist trial: a fixed camera's render
    was said not to know it)."""
    return (scene.name, frame) not in KNOWN and (
        any(m.camera for m in scene.timeline_markers) or _may_move(scene.camera))


def _may_move(obj) -> bool:
    """Whether ``obj`` (or a parent of it) is animated, driven or constrained."""
    while obj is not None:
        if obj.animation_data is not None or len(obj.constraints):
            return True
        obj = obj.parent
    return False


UNKNOWN = ("this render does not know the camera of frame {frame} (Blender "
           "run from the command line works the cameras out as it opens the .blend, or when Apply "
           "Styles runs), so while the camera turns the sky keeps its strokes on the screen: save "
           "the .blend and render it, or run Apply Styles before rendering")


def remember(scene) -> None:
    """Blender run from the command line, before a render: the cameras of ``scene``, if it
    renders stylized and coherent, over its frames and BEFORE more, kept for its renders."""
    if bpy.app.background and scene.nst.temporal_coherence > 0 and live_node(scene) is not None:
        frames = range(scene.frame_start - BEFORE, scene.frame_end + 1)
        KNOWN.update({(scene.name, f): v for f, v in views(scene, frames).items()})


@persistent
def _opened(*_):
    """A file was opened: what was known of the cameras is forgotten, and worked out again."""
    KNOWN.clear()
    for scene in bpy.data.scenes:
        remember(scene)


def _rays(data, render) -> np.ndarray:
    """(column, row, 1) -> the ray in the camera's axes (it looks down −Z, +Y up), as Blender
    frames a camera (BKE_camera_params_compute_viewplane: sensor fit, shift, pixel aspect)."""
    w = render.resolution_x * render.resolution_percentage // 100
    h = render.resolution_y * render.resolution_percentage // 100
    aspect = render.pixel_aspect_y / render.pixel_aspect_x
    fit, sensor = data.sensor_fit, data.sensor_width
    if fit == "AUTO":
        fit = "HORIZONTAL" if render.pixel_aspect_x * w >= render.pixel_aspect_y * h else "VERTICAL"
    elif fit == "VERTICAL":
        sensor = data.sensor_height
    across = w if fit == "HORIZONTAL" else aspect * h      # what the sensor spans, px
    fx = data.lens / sensor * across
    fy = fx / aspect
    cx = w / 2 - 0.5 - data.shift_x * across
    cy = h / 2 - 0.5 + data.shift_y * across / aspect
    if render.use_border and render.use_crop_to_border:
        cx -= round(render.border_min_x * w)                # the frame is the border's crop
        cy -= round((1 - render.border_max_y) * h)
    return np.array([[1 / fx, 0, -cx / fx], [0, -1 / fy, cy / fy], [0, 0, -1]])


HANDLERS = ((bpy.app.handlers.load_post, _opened),)


def register():
    attach(HANDLERS)


def unregister():
    detach(HANDLERS)
