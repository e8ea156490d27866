"""Settings (scene properties, preferences) and panels."""


import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)

from . import bridge, jobs

MASK_ITEMS = [
    ("NONE", "Everywhere", "The style applies to the whole image"),
    ("OBJECT_INDEX", "Object Index", "Objects whose Pass Index equals Index"),
    ("MATERIAL_INDEX", "Material Index", "Materials whose Pass Index equals Index"),
    ("CRYPTOMATTE", "Cryptomatte", "Objects named in Objects (comma separated)"),
    ("IMAGE", "Image", "White where the style applies"),
]


class NSTStyleSlot(bpy.types.PropertyGroup):
    kind: EnumProperty(name="Style", items=[("IMAGE", "Image", "A style image file"),
                                            ("BUILTIN", "Built-in", "A StyleBank style by name")])
    style_path: StringProperty(name="Style Image", subtype="FILE_PATH")
    style_name: StringProperty(name="Style Name", search=bridge.search_style_names,
                               description="A built-in or learned StyleBank style")
    weight: FloatProperty(name="Weight", min=0.0, max=1.0, default=1.0)
    mask_source: EnumProperty(name="Mask", items=MASK_ITEMS, default="NONE")
    mask_index: IntProperty(name="Index", min=0, default=1)
    mask_objects: StringProperty(name="Objects", description="Object names, comma separated")
    mask_image: PointerProperty(name="Mask Image", type=bpy.types.Image)


class NSTSettings(bpy.types.PropertyGroup):
    slots: CollectionProperty(type=NSTStyleSlot)
    active_slot: IntProperty()
    method: EnumProperty(name="Method", items=bridge.METHOD_ITEMS, default="WCT")
    strength: FloatProperty(name="Strength", min=0.0, max=1.0, default=1.0)
    preserve_color: BoolProperty(name="Preserve Colour", default=False)
    preview_size: IntProperty(name="Preview Size", min=0, soft_max=2048, default=0, subtype="PIXEL",
                              description="0: full resolution. Otherwise the render and the styles are "
                              "scaled so the render's long side is this many pixels, stylized and "
                              "scaled back up: a fast preview, softer than the full result")
    render_style_path: StringProperty(name="Style Image", subtype="FILE_PATH",
                                      description="Style for Stylize Render and after each render")
    render_style_name: StringProperty(name="Style", search=bridge.search_style_names,
                                      description="StyleBank style (built-in or learned) when the "
                                      "method is StyleBank")
    after_render: BoolProperty(name="After Each Render", default=False,
                               description="Stylize every still render into 'Render_styled'")


class NSTPreferences(bpy.types.AddonPreferences):
    bl_idname = bridge.PACKAGE

    device: EnumProperty(name="Device", items=[("AUTO", "Auto", "CUDA when it works, else CPU"),
                                                ("CPU", "CPU", ""), ("CUDA", "CUDA", "")])
    models_dir: StringProperty(name="Models Folder", subtype="DIR_PATH",
                               description="Empty: the models bundled with the extension")
    memory_gb: FloatProperty(name="Memory Budget (GiB)", min=0.25, default=2.0,
                             description="Larger images are stylized in tiles within this budget")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "device")
        layout.label(text=_device_line())
        layout.prop(self, "models_dir")
        layout.prop(self, "memory_gb")
        layout.operator("nst.free_memory")


def _device_line() -> str:
    try:
        from .nst_core import available_providers, get_runtime
        providers = ", ".join(p.replace("ExecutionProvider", "") for p in available_providers())
        options = bridge.engine_options()
        device = get_runtime(options["models_dir"], options["device"]).device
        reason = f" — {device.reason}" if device.reason else ""
        return f"onnxruntime offers {providers}; running on {device.name.replace('ExecutionProvider', '')}{reason}"
    except Exception as exc:      # shown in the UI, never raised from draw()
        return f"onnxruntime: {exc}"


def _progress(layout) -> None:
    if jobs.STATE.running:
        row = layout.row()
        row.label(text=f"{jobs.STATE.running}: {jobs.STATE.message} {jobs.STATE.progress:.0%}")
        row.operator("nst.cancel", text="", icon="CANCEL")


class NST_UL_slots(bpy.types.UIList):
    bl_idname = "NST_UL_slots"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname):
        name = bpy.path.basename(item.style_path) if item.kind == "IMAGE" else item.style_name
        thumb = bridge.style_icon(name) if item.kind != "IMAGE" and name else 0
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
        row.template_list("NST_UL_slots", "", nst, "slots", nst, "active_slot", rows=3)
        col = row.column(align=True)
        col.operator("nst.slot_add", text="", icon="ADD")
        col.operator("nst.slot_remove", text="", icon="REMOVE")
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
        layout.prop(nst, "strength")
        layout.prop(nst, "preserve_color")
        layout.prop(nst, "preview_size")
        layout.operator("nst.compositor_apply", icon="NODE_COMPOSITING")
        _progress(layout)


class NST_PT_image(bpy.types.Panel):
    bl_label = "Style Transfer"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Style"

    def draw(self, context):
        layout, nst = self.layout, context.scene.nst
        layout.prop(nst, "method")
        _style_field(layout, nst)
        layout.prop(nst, "strength")
        layout.prop(nst, "preserve_color")
        image = context.space_data.image
        for label, replace in (("Stylize Image", False), ("Replace Original", True)):
            op = layout.operator("nst.stylize_image", text=label)
            _fill(op, nst, image.name if image else "")
            op.replace = replace
        if image is not None and bpy.data.images.get(image.name + ".nst_original"):
            layout.operator("nst.restore_image").image = image.name
        op = layout.operator("nst.stylize_image", text="Stylize Seamless")
        _fill(op, nst, image.name if image else "")
        op.seamless = True
        layout.separator()
        _fill(layout.operator("nst.stylize_render", icon="RENDER_STILL"), nst)
        layout.prop(nst, "after_render")
        _fill(layout.operator("nst.stylize_animation", icon="RENDER_ANIMATION"), nst)
        _progress(layout)


class NST_PT_shader(_NodeEditorPanel, bpy.types.Panel):
    bl_label = "Style Transfer"
    tree_type = "ShaderNodeTree"

    def draw(self, context):
        layout, nst = self.layout, context.scene.nst
        layout.prop(nst, "method")
        _style_field(layout, nst)
        layout.prop(nst, "strength")
        node = context.active_node
        if node is not None and node.type == "TEX_IMAGE" and node.image is not None:
            op = layout.operator("nst.stylize_image", text=f"Stylize '{node.image.name}'")
            _fill(op, nst, node.image.name)
            op.swap_node = True
        else:
            layout.label(text="Select an Image Texture node")
        _fill(layout.operator("nst.stylize_textures"), nst)
        _progress(layout)


def _style_field(layout, nst):
    layout.prop(nst, "render_style_name" if nst.method == "STYLEBANK" else "render_style_path")
    if nst.method == "STYLEBANK":
        _preview(layout, nst.render_style_name)


def _preview(layout, name: str) -> None:
    """The chosen StyleBank style's thumbnail (the project's scene in that style)."""
    icon = bridge.style_icon(name) if name else 0
    if icon:
        layout.template_icon(icon_value=icon, scale=5)


def _fill(op, nst, image: str | None = None):
    op.style_path, op.style_name, op.method = nst.render_style_path, nst.render_style_name, nst.method
    op.strength, op.preserve_color = nst.strength, nst.preserve_color
    if image is not None:
        op.image = image
    return op


CLASSES = (NSTStyleSlot, NSTSettings, NSTPreferences, NST_UL_slots, NST_PT_compositor,
           NST_PT_image, NST_PT_shader)
