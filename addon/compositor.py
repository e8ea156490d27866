"""Compositor style blending: masks from render passes (passes.py), the 'NST Style' node group.

Apply renders once, reading the image and the passes its slots' masks need. The stylized result is written to the image
'NST Style Result', shown by an Image node inside the node group 'NST Style', whose instance
feeds the compositor's output: the Group Output of `scene.compositing_node_group` in Blender 5,
the Composite node of `scene.node_tree` in 4.x. The artist can composite on top of it.
The Apply Styles operator and the slot list's operators live here too.
"""

from __future__ import annotations

from dataclasses import replace

import bpy

from . import cameras, engine, jobs, pixels, plates
from .animation import animation_frames, check_coherence, frame_props, frame_range, scene_named
from .operators import stylize_work
from .frames import as_shown, render_size, scene_linear, slot_settings, stylized_over
from .nodegroup import GROUP, insert_group, scene_group, show_result
from .passes import render_passes
from .results import keep

RESULT = "NST Style Result"


def _back_to_scene_linear(scene, styled, raw, cover):
    """(A job's part.) ``frames.scene_linear`` of the stylized picture, the scene's view
    transform sampled on the main thread, the solving on the worker."""
    name = scene.name
    inverse = engine.ViewInverse(jobs.on_main_thread(
        lambda linear: pixels.shown(scene_named(name), linear)))

    def solve(progress, cancel):
        progress(1.0, "matching the scene's view transform")
        return scene_linear(inverse, styled, raw, cover)
    out = yield solve
    scene_named(name)                       # still there: the caller writes into it next
    return out


def apply_job(op, context):
    scene = context.scene
    slots, settings = slot_settings(context.scene)
    raw, masks, _, _ = render_passes(scene, context.view_layer, slots)
    plate = plates.make(scene, context.view_layer, scene.nst.temporal_coherence)
    settings = replace(settings, masks=masks)
    name = scene.name
    styled = yield stylize_work(as_shown(scene, raw), settings)
    result = yield from _back_to_scene_linear(scene_named(name), styled, raw, engine.mask_union(masks))
    scene = scene_named(name)
    group = scene_group(scene)
    image = keep(pixels.write_raw(result, pixels.image_for(
        RESULT if group.name == GROUP else f"{group.name} Result", result.shape[1], result.shape[0])))
    insert_group(scene, group, context.view_layer)
    show_result(group, image, scene.frame_current)
    cameras.remember(scene)     # (Blender run from the command line: for a render to come)
    said, level = f"'{group.name}' updated with {len(slots)} style(s){plate}", "INFO"
    long_side = max(render_size(scene))
    if scene.nst.work_size >= long_side:
        said += (f"; Preview Size {scene.nst.work_size} px is not below the render's {long_side} px, "
                 "so it ran at full resolution")
    empty = [str(i + 1) for i, mask in enumerate(masks) if mask is not None and not (mask > 0).any()]
    if empty:
        said, level = (said + f"; the mask of style slot {', '.join(empty)} covers no pixel of this "
                       "render (does an object or material have that pass index?)"), "WARNING"
    op.say(level, said)


def apply_animation_job(op, context):
    """Apply Styles on every frame of a range into frame_####.png (as the Render window shows
    each frame, stylized), coherent along the motion."""
    scene = context.scene
    frames, folder = frame_range(op, scene)
    slots, settings = slot_settings(context.scene)
    coherence = check_coherence(scene, scene.nst.temporal_coherence, context.view_layer, frames)

    def render():
        return render_passes(scene, context.view_layer, slots, motion=coherence is not None,
                             shown=True)

    def work(rendered):
        px, masks, vector, depth = rendered
        view = cameras.view(scene) if coherence is not None else None
        return stylized_over(px, replace(settings, masks=masks), coherence, vector, depth, view)
    yield from animation_frames(op, scene, frames, folder, render, work, coherence)


class NST_OT_compositor_apply(jobs.JobOperator, bpy.types.Operator):
    """Render, blend the style slots by weight and region, and feed the result into the
    compositor through the node group 'NST Style' (applying again updates it)"""

    bl_idname = "nst.compositor_apply"
    bl_label = "Apply Styles"
    label = "Apply Styles"

    def job(self, context):
        yield from apply_job(self, context)


@frame_props("//nst_styled/", coherence=False)
class NST_OT_compositor_apply_animation(jobs.JobOperator, bpy.types.Operator):
    """Apply the style slots to every frame of the scene's range, written as an image sequence;
    the scene's Temporal Coherence keeps strokes on the surfaces from frame to frame"""

    bl_idname = "nst.compositor_apply_animation"
    bl_label = "Apply Styles to Animation"
    label = "Apply Styles to Animation"

    def job(self, context):
        yield from apply_animation_job(self, context)


class NST_OT_slot_add(bpy.types.Operator):
    """Add a style slot"""

    bl_idname = "nst.slot_add"
    bl_label = "Add Style"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        nst = context.scene.nst
        nst.slots.add()
        nst.active_slot = len(nst.slots) - 1
        return {"FINISHED"}


class NST_OT_slot_remove(bpy.types.Operator):
    """Remove the active style slot"""

    bl_idname = "nst.slot_remove"
    bl_label = "Remove Style"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        nst = context.scene.nst
        if not 0 <= nst.active_slot < len(nst.slots):
            cls.poll_message_set("no style slot selected")
            return False
        return True

    def execute(self, context):
        nst = context.scene.nst
        nst.slots.remove(nst.active_slot)
        nst.active_slot = max(0, nst.active_slot - 1)
        return {"FINISHED"}


classes = (NST_OT_compositor_apply, NST_OT_compositor_apply_animation, NST_OT_slot_add,
           NST_OT_slot_remove)

register, unregister = bpy.utils.register_classes_factory(classes)
