"""The one door to the engine: everything the add-on takes from nst_core (bundled beside this
file by scripts/build_extension.py) passes through here, and only from nst_core's public API."""

from __future__ import annotations

from .nst_core import (BACKGROUND_DEPTH, DEFAULT_COHERENCE, METHODS, MIN_WORK_SIZE,
                       STYLE_DECODE_SIDE, CancelledError, Coherence, ImageError, ModelStore,
                       NSTError, Settings, ViewInverse, available_providers, available_styles,
                       clear_runtimes, dissolve, get_runtime, linear_to_srgb, load_image,
                       mask_union, motion_blur, premultiply, preview_path, srgb_to_linear,
                       stylize_with, unpremultiply, user_styles_dir)

__all__ = ["BACKGROUND_DEPTH", "CancelledError", "Coherence", "DEFAULT_COHERENCE", "ImageError",
           "METHODS", "STYLE_DECODE_SIDE",
           "METHOD_ITEMS", "MIN_WORK_SIZE", "ModelStore", "NSTError", "Settings", "UserError", "said",
           "ViewInverse", "available_providers", "available_styles", "clear_runtimes",
           "dissolve", "get_runtime", "linear_to_srgb", "load_image", "mask_union", "motion_blur",
           "premultiply", "preview_path", "srgb_to_linear", "stylize", "unpremultiply",
           "user_styles_dir"]

# The Method menu: each method's own label and description; the key is its name in capitals
# (Settings takes it in any case).
METHOD_ITEMS = [(name.upper(), m.label, m.description) for name, m in METHODS.items()]


class UserError(Exception):
    """A problem the artist can fix; reported, never shown as a traceback."""


def stylize(pixels, settings: Settings, progress=None, cancel=None, coherence: Coherence | None = None,
            vector=None, depth=None, view=None):
    """sRGB straight H×W×4 in, same out (alpha kept), as ``settings`` say. Touches no bpy data,
    so it runs in the worker thread. With ``coherence`` (one per animation) the frame follows the
    previous one along its Vector pass ``vector``, ``depth`` and the camera's ``view``
    (cameras.py)."""
    if coherence is None:
        return stylize_with(pixels, settings, progress=progress, cancel=cancel).image
    return coherence.stylize(pixels, settings, vector=vector, depth=depth, view=view,
                             progress=progress, cancel=cancel).image


def said(exc: Exception) -> str:
    """What a failure tells the artist: its message; for an error of no known kind (a bug), its
    kind too. A cancel is not a failure: raised again."""
    if isinstance(exc, CancelledError):
        raise exc
    if isinstance(exc, (UserError, NSTError, OSError, RuntimeError, ValueError)):
        return str(exc)
    return f"{exc!r} (a bug: please report it)"
