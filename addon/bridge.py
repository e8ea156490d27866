"""Between Blender and nst_core: pixels ⇄ numpy with colour handling, style loading, settings.

Blender float images hold scene-linear, premultiplied pixels; byte images hold their colour
space's encoded values with straight alpha. The networks want sRGB-encoded straight colour, so
pixels are converted here and converted back when written. Rows are flipped to top-down.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy
import numpy as np

from . import nst_core
from .nst_core import color

PACKAGE = __package__
MODELS = Path(__file__).resolve().parent / "models"
METHOD_ITEMS = [
    ("WCT", "WCT", "Whitening and colouring, five levels: strongest style, no training"),
    ("ADAIN", "AdaIN", "Adaptive instance normalisation with a trained decoder: fast"),
    ("STYLEBANK", "StyleBank", "Learned styles by name (built-in or learned with nst learn-style): fastest"),
]
METHOD_LABELS = {key: label for key, label, _ in METHOD_ITEMS}


class UserError(Exception):
    """A problem the artist can fix; reported, never shown as a traceback."""


def prefs():
    addon = bpy.context.preferences.addons.get(PACKAGE)
    return addon.preferences if addon else None


def engine_options() -> dict:
    p = prefs()
    models = Path(bpy.path.abspath(p.models_dir)) if p and p.models_dir else MODELS
    if not (models / "manifest.json").is_file():
        where = "the Models Folder set in the add-on's preferences" if p and p.models_dir else \
            "the extension (reinstall it)"
        raise UserError(f"no models in {models} ({where}); clear Models Folder to use the bundled "
                        "models, or point it at a folder made by `make models`")
    return {"device": p.device.lower() if p else "auto", "models_dir": models,
            "memory_budget": int((p.memory_gb if p else 2.0) * (1 << 30))}


def method_name(method: str) -> str:
    return {"WCT": "wct", "ADAIN": "adain", "STYLEBANK": "stylebank"}[method]


_STYLES = (None, {})     # (what it was read from, the styles): panels ask on every redraw


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _styles() -> dict:
    """name -> (bank file, source, sha256) of the StyleBank styles: the built-ins of the models
    folder and the artist's learned ones (`nst learn-style`). Empty when the models cannot be read.
    Read again only when the manifest or the learned-styles folder changes."""
    global _STYLES
    from .nst_core import stylebank
    try:
        models = engine_options()["models_dir"]
    except UserError:
        return {}
    user = stylebank.user_styles_dir()
    key = (os.fspath(models), _mtime(models / "manifest.json"), os.fspath(user), _mtime(user))
    if _STYLES[0] != key:
        try:
            _STYLES = (key, stylebank.available(nst_core.ModelStore(models)))
        except nst_core.NSTError:
            _STYLES = (key, {})
    return _STYLES[1]


def style_names() -> list[str]:
    return list(_styles())


def search_style_names(_self, _context, edit_text: str):
    """Search callback of style-name fields: the matching StyleBank styles."""
    return [n for n in style_names() if edit_text.lower() in n.lower()]


_PREVIEWS = None     # bpy.utils.previews collection of the style thumbnails, made on first use


def style_preview(name: str):
    """The ImagePreview of a StyleBank style's thumbnail (NAME.png beside its bank), or None."""
    global _PREVIEWS
    from .nst_core import stylebank
    found = _styles().get(name)
    path = stylebank.preview_path(found[0]) if found else None
    if path is None or not path.is_file():
        return None
    import bpy.utils.previews
    if _PREVIEWS is None:
        _PREVIEWS = bpy.utils.previews.new()
    key = f"{path}:{path.stat().st_mtime_ns}"       # a re-learned style gets its new thumbnail
    if key not in _PREVIEWS:
        _PREVIEWS.load(key, str(path), "IMAGE")
    return _PREVIEWS[key]


def style_icon(name: str) -> int:
    """Icon id of a style's thumbnail for the UI; 0 without one (and always in background mode,
    where Blender makes no icons)."""
    preview = style_preview(name)
    return preview.icon_id if preview is not None else 0


def free_previews() -> None:
    global _PREVIEWS
    if _PREVIEWS is not None:
        import bpy.utils.previews
        bpy.utils.previews.remove(_PREVIEWS)
        _PREVIEWS = None


def style_for(method: str, path: str, name: str, where: str = ""):
    """What the engine takes as one style: a StyleBank style's name, else the style image."""
    try:
        if method != "STYLEBANK":
            return load_style(path)
        if not name:
            known = ", ".join(style_names()) or "none"
            raise UserError(f"no StyleBank style chosen; known styles: {known}")
        return name
    except UserError as exc:
        raise UserError(f"{where}{exc}") from None


def read_image(image: bpy.types.Image, allow_data: bool = False) -> np.ndarray:
    """An image's pixels as float32 H×W×4, sRGB-encoded straight colour, top row first."""
    if image.source == "TILED":
        raise UserError(f"Image '{image.name}' is a UDIM tile set; stylize each tile as its own image")
    if image.source in ("MOVIE", "SEQUENCE"):
        raise UserError(f"Image '{image.name}' is a {image.source.lower()}; use Stylize Animation")
    w, h = image.size
    if w == 0 or h == 0:
        raise UserError(f"Image '{image.name}' has no pixels (is its file missing? "
                        f"{image.filepath or 'no file'})")
    if image.colorspace_settings.is_data and not allow_data:
        raise UserError(f"Image '{image.name}' is Non-Color data (normal, roughness, ...); "
                        "style transfer is for colour images")
    buf = np.empty(w * h * image.channels, np.float32)
    image.pixels.foreach_get(buf)
    px = buf.reshape(h, w, image.channels)[::-1]
    if image.channels != 4:
        rgb = np.repeat(px[..., :1], 3, -1) if image.channels < 3 else px[..., :3]
        px = np.concatenate([rgb, np.ones((h, w, 1), np.float32)], -1)
    px = np.ascontiguousarray(px)
    if image.is_float:
        px = color.unpremultiply(px)
        px[..., :3] = color.linear_to_srgb(px[..., :3])
    elif _is_linear(image):
        px[..., :3] = color.linear_to_srgb(px[..., :3])
    return np.clip(px, 0.0, 1.0)


def _is_linear(image) -> bool:
    return "linear" in image.colorspace_settings.name.lower()


def write_image(pixels: np.ndarray, name: str, like: bpy.types.Image | None = None,
                target: bpy.types.Image | None = None) -> bpy.types.Image:
    """Write sRGB straight H×W×4 pixels into ``target`` (same size), or into the image ``name``
    (created, or updated in place when it exists), encoded like ``like`` (float or byte)."""
    h, w = pixels.shape[:2]
    is_float = like.is_float if like is not None else True
    image = target or bpy.data.images.get(name)
    if image is not None and (tuple(image.size) != (w, h) or image.is_float != is_float
                              or image.source != "GENERATED") and target is None:
        image.name = image.name + ".old"       # never resize or reuse a file-backed image
        image = None
    if image is None:
        image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=is_float)
        if like is not None and not is_float:
            image.colorspace_settings.name = like.colorspace_settings.name
    out = np.array(pixels, np.float32)
    if image.is_float:
        out[..., :3] = color.srgb_to_linear(out[..., :3])
        out = color.premultiply(out)
    elif _is_linear(image):
        out[..., :3] = color.srgb_to_linear(out[..., :3])
    image.pixels.foreach_set(np.ascontiguousarray(out[::-1]).ravel())
    image.update()
    return image


def load_style(path: str) -> np.ndarray:
    """A style image file as float32 H×W×3 sRGB (any format Blender reads)."""
    if not path:
        raise UserError("no style image given; choose a style image file")
    full = bpy.path.abspath(path)
    if not os.path.isfile(full):
        raise UserError(f"style image not found: {full}")
    try:
        image = bpy.data.images.load(full, check_existing=False)
    except RuntimeError as exc:
        raise UserError(f"style file {full} is not an image Blender can read ({exc})") from None
    try:
        if image.size[0] == 0:
            raise UserError(f"style file {full} is not an image Blender can read")
        return read_image(image, allow_data=True)[..., :3]
    finally:
        bpy.data.images.remove(image)


def read_exr(path: str) -> np.ndarray:
    """A float file written by Blender (render pass) -> float32 H×W×4 as stored, top row first."""
    image = bpy.data.images.load(path, check_existing=False)
    try:
        w, h = image.size
        buf = np.empty(w * h * image.channels, np.float32)
        image.pixels.foreach_get(buf)
        return np.ascontiguousarray(buf.reshape(h, w, image.channels)[::-1])
    finally:
        bpy.data.images.remove(image)


def stylize(pixels: np.ndarray, styles: list[np.ndarray], method: str, weights=None, masks=None,
            strength: float = 1.0, preserve_color: bool = False, seamless: bool = False,
            options: dict | None = None, progress=None, cancel=None) -> np.ndarray:
    """sRGB straight H×W×4 in, same out (alpha kept). Touches no bpy data, so it runs in the
    worker thread; ``options`` (engine_options()) must be read on the main thread."""
    result = nst_core.stylize(pixels, styles, method_name(method), weights=weights, masks=masks,
                              alpha=strength, preserve_color=preserve_color, seamless=seamless,
                              progress=progress, cancel=cancel, **(options or {}))
    return result.image
