"""What a scene keeps of the add-on (``Scene.nst``): the compositor's style slots and the
settings the panels share."""

from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)

from .engine import DEFAULT_COHERENCE, METHOD_ITEMS
from .styles import search_style_names

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
    style_name: StringProperty(name="Style Name", search=search_style_names,
                               description="A built-in or learned StyleBank style")
    weight: FloatProperty(name="Weight", min=0.0, max=1.0, default=1.0)
    mask_source: EnumProperty(name="Mask", items=MASK_ITEMS, default="NONE")
    mask_index: IntProperty(name="Index", min=0, default=1)
    mask_objects: StringProperty(name="Objects", description="Object names, comma separated")
    mask_image: PointerProperty(name="Mask Image", type=bpy.types.Image)


class NSTSettings(bpy.types.PropertyGroup):
    slots: CollectionProperty(type=NSTStyleSlot)
    active_slot: IntProperty()
    method: EnumProperty(name="Method", items=METHOD_ITEMS, default="WCT")
    strength: FloatProperty(name="Strength", min=0.0, max=1.0, default=1.0)
    preserve_color: BoolProperty(name="Preserve Colour", default=False)
    preview_size: IntProperty(name="Preview Size", min=0, soft_max=2048, default=0, subtype="PIXEL",
                              description="0: full resolution. Otherwise the render and the styles are "
                              "scaled so the render's long side is this many pixels, stylized and "
                              "scaled back up: a fast preview, softer than the full result")
    render_style_path: StringProperty(name="Style Image", subtype="FILE_PATH",
                                      description="Style for Stylize Render and after each render")
    render_style_name: StringProperty(name="Style", search=search_style_names,
                                      description="StyleBank style (built-in or learned) when the "
                                      "method is StyleBank")
    temporal_coherence: FloatProperty(
        name="Temporal Coherence", min=0.0, max=1.0, default=DEFAULT_COHERENCE,
        description="Animations: follow each frame's motion vectors so strokes stay on the "
        "surfaces and still parts do not flicker; 0 stylizes every frame on its own")
    after_render: BoolProperty(name="After Each Render", default=False,
                               description="Stylize every still render into 'Render_styled'")


classes = (NSTStyleSlot, NSTSettings)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register():
    _register_classes()
    bpy.types.Scene.nst = PointerProperty(type=NSTSettings)


def unregister():
    del bpy.types.Scene.nst
    _unregister_classes()
