"""The add-on's preferences (device, models folder, memory budget) and what the engine gets
from them."""

from __future__ import annotations

import os
from pathlib import Path

import bpy
from bpy.props import EnumProperty, FloatProperty, StringProperty

from .engine import UserError, available_providers, clear_runtimes, get_runtime
from .jobs import STATE

PACKAGE = __package__
MODELS = Path(__file__).resolve().parent / "models"
# A render-farm worker has no preferences to set: these environment variables, when set, take
# their place (docs/farm.md).
ENV_DEVICE, ENV_MEMORY = "NST_DEVICE", "NST_MEMORY_GB"
DEVICES = ("auto", "cpu", "cuda")


def prefs():
    addon = bpy.context.preferences.addons.get(PACKAGE)
    return addon.preferences if addon else None


def engine_options() -> dict:
    """The engine's device, models folder and memory budget (read on the main thread): the
    preferences', or NST_DEVICE / NST_MEMORY_GB where a worker sets them."""
    p = prefs()
    models = Path(bpy.path.abspath(p.models_dir)) if p and p.models_dir else MODELS
    if not (models / "manifest.json").is_file():
        where = "the Models Folder set in the add-on's preferences" if p and p.models_dir else \
            "the extension (reinstall it)"
        raise UserError(f"no models in {models} ({where}); clear Models Folder to use the bundled "
                        "models, or point it at a folder made by `make models`")
    device = os.environ.get(ENV_DEVICE, "").lower() or (p.device.lower() if p else "auto")
    if device not in DEVICES:
        raise UserError(f"{ENV_DEVICE}={os.environ.get(ENV_DEVICE)!r}: use one of {', '.join(DEVICES)}")
    memory = p.memory_gb if p else 2.0
    if os.environ.get(ENV_MEMORY):
        try:
            memory = float(os.environ[ENV_MEMORY])
        except ValueError:
            memory = 0.0
        if not memory >= 0.25:
            raise UserError(f"{ENV_MEMORY}={os.environ[ENV_MEMORY]!r}: give the memory budget in "
                            "GiB, at least 0.25 (e.g. 8)")
    return {"device": device, "models_dir": models, "memory_budget": int(memory * (1 << 30))}


class NST_OT_free_memory(bpy.types.Operator):
    """Drop every loaded model session (frees GPU memory)"""

    bl_idname = "nst.free_memory"
    bl_label = "Free GPU Memory"

    @classmethod
    def poll(cls, context):
        if STATE.running:
            cls.poll_message_set("a stylization is running; cancel it first")
            return False
        return True

    def execute(self, context):
        clear_runtimes()
        return {"FINISHED"}


class NSTPreferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

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
        layout.operator(NST_OT_free_memory.bl_idname)


def _device_line() -> str:
    try:
        providers = ", ".join(p.replace("ExecutionProvider", "") for p in available_providers())
        options = engine_options()
        device = get_runtime(options["models_dir"], options["device"]).device
        reason = f" — {device.reason}" if device.reason else ""
        return f"onnxruntime offers {providers}; running on {device.name.replace('ExecutionProvider', '')}{reason}"
    except Exception as exc:      # shown in the UI, never raised from draw()
        return f"onnxruntime: {exc}"


classes = (NST_OT_free_memory, NSTPreferences)

register, unregister = bpy.utils.register_classes_factory(classes)
