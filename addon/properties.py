"""What a scene keeps of the add-on (``Scene.nst``): the compositor's style slots and the
style settings the panels share, and ``settings_from``, which turns them (or a stylizing
operator's own) into the engine's one ``Settings`` value.

A style setting has one name from the panel to the engine: the properties in STYLE_PROPS (the
scene's and every stylizing operator's) and the scene's others are named as the ``Settings``
fields they fill, and ``settings_from`` copies every property so named. A new setting is its
property here (in STYLE_PROPS when the operators take it too) and its line in a panel.
"""

from __future__ import annotations

from dataclasses import replace

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)

from .engine import DEFAULT_COHERENCE, METHOD_ITEMS, Settings
from .preferences import engine_options
from .styles import search_style_names, style_for

MASK_ITEMS = [
    ("NONE", "Everywhere", "The style applies to the whole image"),
    ("OBJECT_INDEX", "Object Index", "Objects whose Pass Index equals Index"),
    ("MATERIAL_INDEX", "Material Index", "Materials whose Pass Index equals Index"),
    ("CRYPTOMATTE", "Cryptomatte", "Objects named in Objects (comma separated)"),
    ("IMAGE", "Image", "White where the style applies"),
]

# Paths that may be relative to the .blend ('//styles/a.jpg'): said so, or Blender 5 warns
# (an option since Blender 4.5; 4.2-4.4 refuse it)
RELATIVE = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()

# The style settings every stylizing operator takes and the scene keeps for the panels.
STYLE_PROPS = {
    "method": EnumProperty(name="Method", items=METHOD_ITEMS, default=METHOD_ITEMS[0][0]),
    "style_path": StringProperty(name="Style Image", subtype="FILE_PATH", options=RELATIVE,
                                 description="Painting or picture whose style is applied"),
    "style_name": StringProperty(name="Style", search=search_style_names,
                                 description="Built-in or learned StyleBank style (method StyleBank)"),
    "strength": FloatProperty(name="Strength", min=0.0, max=1.0, default=1.0,
                              description="0 keeps the image, 1 is full style"),
    "preserve_color": BoolProperty(name="Preserve Colour", default=False,
                                   description="Keep the image's own colours, take the style's texture"),
    "style_size": IntProperty(name="Style Size", default=512, min=64, soft_max=1024, subtype="PIXEL",
                              description="Long side the style image is scaled to: smaller gives "
                              "larger strokes"),
}


def style_props(cls):
    """Give a stylizing operator the style settings (STYLE_PROPS)."""
    cls.__annotations__.update(STYLE_PROPS)
    return cls


def style_values(props) -> dict:
    """The style settings of ``props`` (the scene's or an operator's), by name: what a panel
    hands its operators."""
    return {name: getattr(props, name) for name in STYLE_PROPS}


def settings_from(props, styles=None, weights=None) -> Settings:
    """The engine's Settings from ``props`` (a stylizing operator, or ``Scene.nst``): every
    property named like a setting, the device, models folder and memory budget of the
    preferences, ``styles`` (default: the one style ``props`` chooses) and ``weights``. Read on
    the main thread; the masks of a render come later (``dataclasses.replace``)."""
    rna = (props.properties if isinstance(props, bpy.types.Operator) else props).bl_rna
    values = {name: getattr(props, name) for name in Settings.names() if name in rna.properties}
    if values.get("work_size") == 0:            # the panel's 0: full resolution
        values["work_size"] = None
    settings = Settings(**values, **engine_options(), weights=weights)
    if styles is None:
        styles = [style_for(settings.method, props.style_path, props.style_name)]
    return replace(settings, styles=styles)


class NSTStyleSlot(bpy.types.PropertyGroup):
    kind: EnumProperty(name="Style", items=[("IMAGE", "Image", "A style image file"),
                                            ("BUILTIN", "Built-in", "A StyleBank style by name")])
    style_path: StringProperty(name="Style Image", subtype="FILE_PATH", options=RELATIVE)
    style_name: StringProperty(name="Style Name", search=search_style_names,
                               description="A built-in or learned StyleBank style")
    weight: FloatProperty(name="Weight", min=0.0, max=1.0, default=1.0)
    mask_source: EnumProperty(name="Mask", items=MASK_ITEMS, default="NONE")
    mask_index: IntProperty(name="Index", min=0, default=1)
    mask_objects: StringProperty(name="Objects", description="Object names, comma separated")
    mask_image: PointerProperty(name="Mask Image", type=bpy.types.Image)


@style_props
class NSTSettings(bpy.types.PropertyGroup):
    slots: CollectionProperty(type=NSTStyleSlot)
    active_slot: IntProperty()
    work_size: IntProperty(name="Preview Size", min=0, soft_max=2048, default=0, subtype="PIXEL",
                           description="0: full resolution. Otherwise the render and the styles are "
                           "scaled so the render's long side is this many pixels, stylized and "
                           "scaled back up: a fast preview, softer than the full result")
    temporal_coherence: FloatProperty(
        name="Temporal Coherence", min=0.0, max=1.0, default=DEFAULT_COHERENCE,
        description="Animations: follow each frame's motion vectors so strokes stay on the "
        "surfaces and still parts do not flicker; 0 stylizes every frame on its own")
    clean_plate: PointerProperty(name="Clean Plate", type=bpy.types.Image,
                                 description="The set without what moves in the shot, rendered "
                                 "by Apply Styles: renders paint their still parts from it")
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
