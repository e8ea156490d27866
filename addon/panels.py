"""Panels: the Style tabs of the Image Editor, the Shader Editor and the Compositor, with the
style slot list. Operators are referred to by their classes' bl_idname."""

from __future__ import annotations

import bpy

from . import jobs
from .engine import METHODS
from .compositor import (NST_OT_compositor_apply, NST_OT_compositor_apply_animation, NST_OT_slot_add,
                         NST_OT_slot_remove)
from .operators import (BACKUP_SUFFIX, NST_OT_cancel, NST_OT_restore_image, NST_OT_stylize_image,
                        NST_OT_stylize_textures)
from .properties import style_values
from .render import NST_OT_stylize_animation, NST_OT_stylize_render
from .styles import style_icon


def _progress(layout) -> None:
    if jobs.STATE.running:
        layout.label(text=f"{jobs.STATE.running}: {jobs.STATE.message}")
        row = layout.row()
        row.progress(factor=jobs.STATE.progress, type="BAR", text=f"{jobs.STATE.progress:.0%}")
        row.operator(NST_OT_cancel.bl_idname, text="", icon="CANCEL")


class NST_UL_slots(bpy.types.UIList):
    bl_idname = "NST_UL_slots"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname):
        name = bpy.path.basename(item.style_path) if item.kind == "IMAGE" else item.style_name
        thumb = style_icon(name) if item.kind != "IMAGE" and name else 0
        if thumb:
            layout.label(text=name, icon_value=thumb)
        else:
            layout.label(text=name or "(no style)", icon="IMAGE_DATA")
        layout.prop(item, "weight", text="")


class _NodeEditorPanel:
    """A 'Style' sidebar tab in the node editor showing trees of type ``tree_type``."""

    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Style"
    tree_type = ""

    @classmethod
    def poll(cls, context):
        return getattr(context.space_data, "tree_type", "") == cls.tree_type


class NST_PT_compositor(_NodeEditorPanel, bpy.types.Panel):
    bl_label = "Style Blend"
    tree_type = "CompositorNodeTree"

    def draw(self, context):
        layout, nst = self.layout, context.scene.nst
        row = layout.row()
        row.template_list(NST_UL_slots.bl_idname, "", nst, "slots", nst, "active_slot", rows=3)
        col = row.column(align=True)
        col.operator(NST_OT_slot_add.bl_idname, text="", icon="ADD")
        col.operator(NST_OT_slot_remove.bl_idname, text="", icon="REMOVE")
        if 0 <= nst.active_slot < len(nst.slots):
            slot = nst.slots[nst.active_slot]
            box = layout.box()
            box.prop(slot, "kind", expand=True)
            box.prop(slot, "style_path" if slot.kind == "IMAGE" else "style_name")
            if slot.kind != "IMAGE":
                _preview(box, slot.style_name)
            box.prop(slot, "weight")
            box.prop(slot, "mask_source")
            if slot.mask_source in ("OBJECT_INDEX", "MATERIAL_INDEX"):
                box.prop(slot, "mask_index")
            elif slot.mask_source == "CRYPTOMATTE":
                box.prop(slot, "mask_objects")
            elif slot.mask_source == "IMAGE":
                box.prop(slot, "mask_image")
        layout.prop(nst, "method")
        _strength(layout, nst)
        layout.prop(nst, "preserve_color")
        layout.prop(nst, "work_size")
        layout.operator(NST_OT_compositor_apply.bl_idname, icon="NODE_COMPOSITING")
        layout.prop(nst, "temporal_coherence")
        if nst.clean_plate is not None:         # plates.py: made by Apply Styles
            layout.label(text=f"Clean plate: {nst.clean_plate.name}", icon="IMAGE_DATA")
        elif nst.get("plate_wanted") and nst.temporal_coherence > 0:
            layout.label(text="Clean plate deleted: apply again", icon="ERROR")
        layout.operator(NST_OT_compositor_apply_animation.bl_idname, icon="RENDER_ANIMATION")
        _progress(layout)


class NST_PT_image(bpy.types.Panel):
    bl_label = "Style Transfer"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Style"

    def draw(self, context):
        layout, nst = self.layout, context.scene.nst
        _style_settings(layout, nst)
        image = context.space_data.image
        for label, replace in (("Stylize Image", False), ("Replace Original", True)):
            op = layout.operator(NST_OT_stylize_image.bl_idname, text=label)
            _fill(op, nst, image.name if image else "")
            op.replace = replace
        if image is not None and bpy.data.images.get(image.name + BACKUP_SUFFIX):
            layout.operator(NST_OT_restore_image.bl_idname).image = image.name
        op = layout.operator(NST_OT_stylize_image.bl_idname, text="Stylize Seamless")
        _fill(op, nst, image.name if image else "")
        op.seamless = True
        layout.separator()
        _fill(layout.operator(NST_OT_stylize_render.bl_idname, icon="RENDER_STILL"), nst)
        layout.prop(nst, "after_render")
        layout.prop(nst, "temporal_coherence")
        op = _fill(layout.operator(NST_OT_stylize_animation.bl_idname, icon="RENDER_ANIMATION"), nst)
        op.temporal_coherence = nst.temporal_coherence
        _progress(layout)


class NST_PT_shader(_NodeEditorPanel, bpy.types.Panel):
    bl_label = "Style Transfer"
    tree_type = "ShaderNodeTree"

    def draw(self, context):
        layout, nst = self.layout, context.scene.nst
        _style_settings(layout, nst)
        node = context.active_node
        if node is not None and node.type == "TEX_IMAGE" and node.image is not None:
            op = layout.operator(NST_OT_stylize_image.bl_idname, text=f"Stylize '{node.image.name}'")
            _fill(op, nst, node.image.name)
            op.swap_node = True
        else:
            layout.label(text="Select an Image Texture node")
        _fill(layout.operator(NST_OT_stylize_textures.bl_idname), nst)
        _progress(layout)


def _style_settings(layout, nst):
    """Method, style (an image, or a StyleBank style with its thumbnail), strength, colour: what
    the Image and Shader Editor panels hand to their operators (``_fill``)."""
    layout.prop(nst, "method")
    names = METHODS[nst.method.lower()].takes_style_names
    layout.prop(nst, "style_name" if names else "style_path")
    if names:
        _preview(layout, nst.style_name)
    _strength(layout, nst)
    layout.prop(nst, "preserve_color")


def _strength(layout, nst) -> None:
    """How much style, and how large its strokes (the style image's size), in one row."""
    row = layout.row(align=True)
    row.prop(nst, "strength")
    row.prop(nst, "style_size", text="Size")


def _preview(layout, name: str) -> None:
    """The chosen StyleBank style's thumbnail (the project's scene in that style)."""
    icon = style_icon(name) if name else 0
    if icon:
        layout.template_icon(icon_value=icon, scale=5)


def _fill(op, nst, image: str | None = None):
    for name, value in style_values(nst).items():
        setattr(op, name, value)
    if image is not None:
        op.image = image
    return op


classes = (NST_UL_slots, NST_PT_compositor, NST_PT_image, NST_PT_shader)
register, unregister = bpy.utils.register_classes_factory(classes)
