"""nst_core: neural style transfer (WCT, AdaIN, StyleBank) on numpy arrays through onnxruntime."""

from .blur import motion_blur
from .color import linear_to_srgb, premultiply, preserve_color, srgb_to_linear, unpremultiply
from .errors import (CancelledError, DeviceError, ImageError, ModelError, NSTError, StyleError,
                     ViewTransformError)
from .features import mask_union
from .filters import dissolve
from .images import STYLE_DECODE_SIDE, load_image, save_image
from .methods import register as register_method, unregister as unregister_method
from .models import ModelStore, resolve_models_dir
from .motion import FAR as BACKGROUND_DEPTH
from .pipeline import METHODS, StyleResult, stylize, stylize_with
from .runtime import Runtime, available_providers, clear_runtimes, get_runtime
from .settings import MIN_WORK_SIZE, Settings
from .stylebank import available as available_styles, preview_path, user_styles_dir
from .temporal import DEFAULT_STRENGTH as DEFAULT_COHERENCE, Coherence
from .view_inverse import ViewInverse

__version__ = "0.1.0"

__all__ = [
    "stylize", "stylize_with", "Settings", "StyleResult", "METHODS", "MIN_WORK_SIZE",
    "register_method", "unregister_method",
    "Coherence", "DEFAULT_COHERENCE", "BACKGROUND_DEPTH",
    "load_image", "save_image", "STYLE_DECODE_SIDE",
    "srgb_to_linear", "linear_to_srgb", "premultiply", "unpremultiply", "preserve_color",
    "ViewInverse", "mask_union", "dissolve", "motion_blur",
    "Runtime", "get_runtime", "clear_runtimes", "available_providers",
    "ModelStore", "resolve_models_dir",
    "available_styles", "preview_path", "user_styles_dir",
    "NSTError", "ImageError", "StyleError", "ModelError", "DeviceError", "CancelledError",
    "ViewTransformError",
    "__version__",
]
