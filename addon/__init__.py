"""Neural Style Transfer for Blender: stylize renders, image textures and compositor output.

The engine (nst_core, onnxruntime) is bundled next to this file by scripts/build_extension.py,
with its ONNX models in models/. This file only orchestrates registration: each module
registers its own classes, in this order, and they are unregistered in reverse.
"""

from __future__ import annotations

from . import (after, cameras, compositor, jobs, live, operators, panels, preferences, properties, render,
               results, seams, styles, videos)

MODULES = (jobs, styles, properties, preferences, results, operators, render, live, videos, after,
           seams, cameras, compositor, panels)


def register():
    for module in MODULES:
        module.register()
    jobs.warm_up()


def unregister():
    for module in reversed(MODULES):
        module.unregister()
