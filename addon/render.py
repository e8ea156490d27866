"""Renders: Stylize Render, Stylize Animation, and stylizing after each still render (a
render_complete handler)."""

from __future__ import annotations

import os

import bpy
import numpy as np
from bpy.props import BoolProperty, IntProperty, StringProperty

from . import jobs, pixels
from .engine import UserError
from .operators import STYLED_SUFFIX, read_settings, style_props, stylize_work


def render_to_array(scene) -> np.ndarray:
    """Render the scene (blocking) and read the Render Result through a float EXR."""
    bpy.ops.render.render(scene=scene.name)
    return pixels.read_render_result(scene)


@style_props
class NST_OT_stylize_render(jobs.JobOperator, bpy.types.Operator):
    """Render the scene and stylize the result into the image 'Render_styled'"""

    bl_idname = "nst.stylize_render"
    bl_label = "Stylize Render"
    label = "Stylize Render"

    render: BoolProperty(name="Render First", default=True,
                         description="Render now; off: stylize the current Render Result")

    def job(self, context):
        settings = read_settings(self)
        scene = context.scene
        px = render_to_array(scene) if self.render else pixels.read_render_result(scene)
        result = yield stylize_work(px, settings)
        image = pixels.write_image(result, "Render" + STYLED_SUFFIX)
        _show(context, image)
        self.report({"INFO"}, f"wrote image '{image.name}'")


@style_props
class NST_OT_stylize_animation(jobs.JobOperator, bpy.types.Operator):
    """Render a frame range and stylize every frame into an image sequence (same style
    statistics on every frame)"""

    bl_idname = "nst.stylize_animation"
    bl_label = "Stylize Animation"
    label = "Stylize Animation"

    frame_start: IntProperty(name="Start", default=-1, description="-1: the scene's start")
    frame_end: IntProperty(name="End", default=-1, description="-1: the scene's end")
    directory: StringProperty(name="Folder", subtype="DIR_PATH", default="//nst_frames/")

    def job(self, context):
        scene = context.scene
        start = scene.frame_start if self.frame_start < 0 else self.frame_start
        end = scene.frame_end if self.frame_end < 0 else self.frame_end
        if end < start:
            raise UserError(f"frame range {start}..{end} is empty")
        if self.directory.startswith("//") and not bpy.data.filepath:
            raise UserError(f"the output folder {self.directory} is relative to the .blend file, "
                            "which is not saved yet; save it first, or give an absolute folder")
        folder = bpy.path.abspath(self.directory)
        os.makedirs(folder, exist_ok=True)
        settings = read_settings(self)      # one style, encoded once: identical statistics per frame
        current = scene.frame_current
        try:
            for frame in range(start, end + 1):
                scene.frame_set(frame)
                if frame > start:
                    self.kept = f"frames {start}–{frame - 1} written to {folder}, stopped at {frame}"
                px = render_to_array(scene)
                result = yield stylize_work(px, settings)
                path = os.path.join(folder, f"frame_{frame:04d}.png")
                partial = path + ".partial.png"     # a frame appears whole or not at all
                pixels.save_png(result, partial)
                os.replace(partial, path)
        finally:
            scene.frame_set(current)
        self.report({"INFO"}, f"wrote frames {start}..{end} to {folder}")


def _show(context, image) -> None:
    for area in context.screen.areas if context.screen else []:
        if area.type == "IMAGE_EDITOR":
            area.spaces.active.image = image
            return


def after_render(scene, *_):
    """render_complete handler: stylize each still render when the scene asks for it."""
    settings = getattr(scene, "nst", None)
    if settings is None or not settings.after_render or jobs.STATE.running:
        return
    if bpy.ops.nst.stylize_render.poll():
        bpy.ops.nst.stylize_render(render=False, style_path=settings.render_style_path,
                                   style_name=settings.render_style_name, method=settings.method, strength=settings.strength,
                                   preserve_color=settings.preserve_color)


classes = (NST_OT_stylize_render, NST_OT_stylize_animation)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register():
    _register_classes()
    bpy.app.handlers.render_complete.append(after_render)


def unregister():
    if after_render in bpy.app.handlers.render_complete:
        bpy.app.handlers.render_complete.remove(after_render)
    _unregister_classes()
