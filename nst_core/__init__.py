"""nst_core: neural style transfer (WCT, AdaIN, StyleBank) on numpy arrays through onnxruntime."""

from .color import linear_to_srgb, premultiply, preserve_color, srgb_to_linear, unpremultiply
from .errors import (CancelledError, DeviceError, ImageError, ModelError, NSTError, StyleError)
from .images import load_image, save_image
from .models import ModelStore, resolve_models_dir
from .pipeline import METHODS, StyleResult, stylize
from .runtime import Runtime, available_providers, clear_runtimes, get_runtime

__version__ = "0.1.0"

__all__ = [
    "stylize", "StyleResult", "METHODS",
    "load_image", "save_image",
    "srgb_to_linear", "linear_to_srgb", "premultiply", "unpremultiply", "preserve_color",
    "Runtime", "get_runtime", "clear_runtimes", "available_providers",
    "ModelStore", "resolve_models_dir",
    "NSTError", "ImageError", "StyleError", "ModelError", "DeviceError", "CancelledError",
    "__version__",
]
