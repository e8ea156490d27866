"""Neural Style Transfer for Blender: stylize renders, image textures and compositor output.

The engine (nst_core, onnxruntime) is bundled next to this file by scripts/build_extension.py,
with its ONNX models in models/.
"""

from __future__ import annotations

import bpy

from . import bridge, operators, ui

CLASSES = ui.CLASSES + operators.CLASSES


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.nst = bpy.props.PointerProperty(type=ui.NSTSettings)
    bpy.app.handlers.render_complete.append(operators.after_render)


def unregister():
    if operators.after_render in bpy.app.handlers.render_complete:
        bpy.app.handlers.render_complete.remove(operators.after_render)
    del bpy.types.Scene.nst
    bridge.free_previews()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
