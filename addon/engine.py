"""The one door to the engine: everything the add-on takes from nst_core (bundled beside this
file by scripts/build_extension.py) passes through here."""

from __future__ import annotations

from . import nst_core
from .nst_core import (CancelledError, ImageError, ModelStore, NSTError, available_providers,
                       clear_runtimes, color, get_runtime, load_image, stylebank)
from .nst_core.pipeline import MIN_WORK_SIZE
from .nst_core.temporal import DEFAULT_STRENGTH as DEFAULT_COHERENCE, Coherence

__all__ = ["CancelledError", "ImageError", "ModelStore", "NSTError", "available_providers",
           "clear_runtimes", "color", "get_runtime", "load_image", "stylebank", "MIN_WORK_SIZE", "Coherence", "DEFAULT_COHERENCE",
           "METHOD_ITEMS", "METHOD_LABELS", "UserError", "stylize"]

METHOD_ITEMS = [
    ("WCT", "WCT", "Whitening and colouring, five levels: strongest style, no training"),
    ("ADAIN", "AdaIN", "Adaptive instance normalisation with a trained decoder: fast"),
    ("STYLEBANK", "StyleBank", "Learned styles by name (built-in or learned with "
     "scripts/learn_style.py): fastest"),
]
METHOD_LABELS = {key: label for key, label, _ in METHOD_ITEMS}
_METHOD_NAMES = {"WCT": "wct", "ADAIN": "adain", "STYLEBANK": "stylebank"}


class UserError(Exception):
    """A problem the artist can fix; reported, never shown as a traceback."""


def stylize(pixels, styles, method: str, weights=None, masks=None, strength: float = 1.0,
            preserve_color: bool = False, seamless: bool = False, options: dict | None = None,
            progress=None, cancel=None, coherence: Coherence | None = None, vector=None,
            depth=None, where=None):
    """sRGB straight H×W×4 in, same out (alpha kept). Touches no bpy data, so it runs in the
    worker thread; ``options`` (preferences.engine_options()) must be read on the main thread.
    With ``coherence`` (one per animation) the frame follows the previous one along its Vector
    pass ``vector`` and ``depth``, blended only inside ``where``. A style may be a callable
    that gives its pixels (``styles.StyleFile``: a file read here, in the worker)."""
    styles = [s() if callable(s) else s for s in styles]
    kw = dict(weights=weights, masks=masks, alpha=strength, preserve_color=preserve_color,
              seamless=seamless, progress=progress, cancel=cancel, **(options or {}))
    if coherence is None:
        return nst_core.stylize(pixels, styles, _METHOD_NAMES[method], **kw).image
    return coherence.stylize(pixels, styles, _METHOD_NAMES[method], vector=vector, depth=depth,
                             where=where, **kw).image
