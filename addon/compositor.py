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
import numpy as np

from . import engine, jobs, pixels
from .animation import animation_frames, check_coherence, frame_props, frame_range
from .engine import UserError
from .operators import stylize_work
from .passes import render_passes, scene_tree, output_node
from .properties import settings_from
from .styles import style_for

GROUP = "NST Style"
RESULT = "NST Style Result"
MIN_PREVIEW = engine.MIN_WORK_SIZE   # the engine's smallest work_size


def ensure_group(result: bpy.types.Image):
    """The node group 'NST Style': an Image node showing the result -> Group Output."""
    group = bpy.data.node_groups.get(GROUP)
    if group is None:
        group = bpy.data.node_groups.new(GROUP, "CompositorNodeTree")
        group.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        node = group.nodes.new("CompositorNodeImage")
        node.name = "NST Result"
        out = group.nodes.new("NodeGroupOutput")
        out.location = (300, 0)
        group.links.new(node.outputs["Image"], out.inputs[0])
    group.nodes["NST Result"].image = result
    return group


def insert_group(scene, group):
    """Place one instance of the group in the compositor, feeding its output (idempotent)."""
    tree = scene_tree(scene)
    node = next((n for n in tree.nodes if n.type == "GROUP" and n.node_tree == group), None)
    if node is None:
        node = tree.nodes.new("CompositorNodeGroup")
        node.node_tree = group
        node.name = node.label = GROUP
        out = output_node(tree)
        node.location = (out.location.x, out.location.y + 250)    # beside, not over, the output
        tree.links.new(node.outputs[0], out.inputs[0])
    return node


def _slot_settings(context):
    """The style slots of Apply Styles (weight above 0) and the Settings they and the panel
    give, checked before anything renders; the masks come with the render."""
    scene = context.scene
    nst = scene.nst
    slots = [s for s in nst.slots if s.weight > 0]
    if not slots:
        raise UserError("the style list is empty; add a style slot with a weight above 0")
    method = engine.METHODS[nst.method.lower()]
    styles = []
    for i, slot in enumerate(slots):
        if (slot.kind == "BUILTIN") != method.takes_style_names:
            raise UserError(f"style slot {i + 1} is {'a built-in style' if slot.kind == 'BUILTIN' else 'an image'}"
                            f" but the method is {method.label}: built-in styles need method "
                            "StyleBank, style images WCT or AdaIN")
        styles.append(style_for(nst.method, slot.style_path, slot.style_name,
                                where=f"style slot {i + 1}: "))
    if 0 < nst.work_size < MIN_PREVIEW:
        raise UserError(f"Preview Size {nst.work_size} px is too small; use 0 (full resolution) "
                        f"or at least {MIN_PREVIEW} px")
    check_before_render(scene, slots)
    return slots, settings_from(nst, styles=styles, weights=[s.weight for s in slots])


def _as_shown(scene, raw: np.ndarray) -> np.ndarray:
    """The render ``raw`` (scene-linear premultiplied H×W×4) as the Render window shows it:
    display-encoded straight H×W×4, the scene's view transform, look and exposure applied."""
    px = engine.unpremultiply(raw)
    px[..., :3] = pixels.shown(scene, px[..., :3])
    px[..., 3] = np.clip(px[..., 3], 0.0, 1.0)
    return px


def _over(top: np.ndarray, under: np.ndarray, cover) -> np.ndarray:
    """``top`` where the slots apply, ``under`` elsewhere, mixed by the soft cover (None:
    everywhere), pixel by pixel (…×4, the cover …)."""
    if cover is None:
        return top
    return cover[..., None] * top + (1 - cover[..., None]) * under


def _back_to_scene_linear(scene, styled, raw, cover):
    """(A job's part.) The stylized picture ``styled`` (as shown) back into scene-linear
    premultiplied H×W×4 such that the compositor's output, shown with the scene's view
    transform, is that picture (colours the transform cannot show come as close as it can);
    outside every mask the render ``raw`` stays exactly as it was, HDR values included."""
    inside = np.ones(raw.shape[:2], bool) if cover is None else cover > 0
    if not inside.any():                     # the masks cover nothing (no such object index)
        return raw.copy()
    picked = styled[inside]
    # sampled here, on the main thread; the worker's corrections come back to it
    inverse = engine.ViewInverse(jobs.on_main_thread(lambda linear: pixels.shown(scene, linear)))

    def solve(progress, cancel):
        progress(1.0, "matching the scene's view transform")
        return inverse(picked[:, :3])
    linear = yield solve
    alpha = picked[:, 3:]
    out = raw.copy()
    out[inside] = _over(np.concatenate([linear * alpha, alpha], -1), raw[inside],
                        None if cover is None else cover[inside])
    return out


def apply_job(op, context):
    scene = context.scene
    slots, settings = _slot_settings(context)
    raw, masks, _, _ = render_passes(scene, context.view_layer, slots)
    settings = replace(settings, masks=masks)
    styled = yield stylize_work(_as_shown(scene, raw), settings)
    result = yield from _back_to_scene_linear(scene, styled, raw, engine.mask_union(masks))
    image = pixels.write_raw(result, pixels.image_for(RESULT, result.shape[1], result.shape[0]))
    insert_group(scene, ensure_group(image))
    said = f"'{GROUP}' updated with {len(slots)} style(s)"
    long_side = max(render_size(scene))
    if scene.nst.work_size >= long_side:
        said += (f"; Preview Size {scene.nst.work_size} px is not below the render's {long_side} px, "
                 "so it ran at full resolution")
    op.say("INFO", said)


def apply_animation_job(op, context):
    """Apply Styles on every frame of a range into frame_####.png (as the Render window shows
    each frame, stylized), coherent along the motion."""
    scene = context.scene
    frames, folder = frame_range(op, scene)
    slots, settings = _slot_settings(context)
    coherence = check_coherence(scene, scene.nst.temporal_coherence)

    def render():
        return render_passes(scene, context.view_layer, slots, motion=coherence is not None)

    def work(rendered):
        raw, masks, vector, depth = rendered
        px = _as_shown(scene, raw)
        styled = stylize_work(px, replace(settings, masks=masks), coherence, vector, depth)
        return lambda progress, cancel: _over(styled(progress, cancel), px, engine.mask_union(masks))
    yield from animation_frames(op, scene, frames, folder, render, work)


def render_size(scene) -> tuple[int, int]:
    r = scene.render
    return (r.resolution_x * r.resolution_percentage // 100,
            r.resolution_y * r.resolution_percentage // 100)


def check_before_render(scene, slots) -> None:
    """What would only fail after a whole render, said before it starts."""
    if not scene.render.use_compositing:
        raise UserError("Compositing is off (Output Properties › Post Processing): Apply Styles "
                        "reads the render passes through the compositor; turn it on")
    for i, slot in enumerate(slots):
        if slot.mask_source == "IMAGE" and slot.mask_image is None:
            raise UserError(f"style slot {i + 1}: choose the mask image")
        if slot.mask_source == "CRYPTOMATTE":
            names = [n.strip() for n in slot.mask_objects.split(",") if n.strip()]
            if not names:
                raise UserError(f"style slot {i + 1}: name the objects for its Cryptomatte mask")
            unknown = [n for n in names if n not in scene.objects]
            if unknown:
                raise UserError(f"style slot {i + 1}: no object named {', '.join(map(repr, unknown))} "
                                "in this scene for the Cryptomatte mask (names are comma separated)")


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
