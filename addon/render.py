"""Renders: Stylize Render, Stylize Animation, and stylizing after each still render (a
render_complete handler)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty

from . import jobs, passes, pixels
from .animation import animation_frames, check_coherence, frame_props, frame_range, scene_named
from .frames import as_shown
from .handlers import attach, detach
from .operators import STYLED_SUFFIX, stylize_work
from .passes import render_passes
from .properties import settings_from, style_props, style_values
from .results import keep


def render_as_shown(scene, view_layer, motion: bool = False):
    """Render the current frame (blocking) and read it as the Render window shows a render: the
    active view layer as rendered, before any compositor node (an NST Style node included),
    through the scene's view transform: sRGB straight H×W×4; with ``motion`` its Vector pass
    and depth (else None). Without the compositor, the Render Result."""
    if not scene.render.use_compositing:
        passes.render(scene)
        return pixels.read_render_result(scene), None, None
    raw, _, vector, depth = render_passes(scene, view_layer, [], motion=motion)
    return as_shown(scene, raw), vector, depth


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
        coherence = check_coherence(scene, self.temporal_coherence)
        settings = settings_from(self)      # one style, encoded once: identical statistics per frame
        name = scene.name
        yield from animation_frames(self, scene, frames, folder, lambda: render_as_shown(
            scene_named(name), context.view_layer, coherence is not None),
            lambda frame: stylize_work(frame[0], settings, coherence, frame[1], frame[2]))


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
        bpy.ops.nst.stylize_render(render=False, **style_values(settings))


classes = (NST_OT_stylize_render, NST_OT_stylize_animation)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


HANDLERS = ((bpy.app.handlers.render_complete, after_render),)


def register():
    _register_classes()
    attach(HANDLERS)


def unregister():
    detach(HANDLERS)
    _unregister_classes()
