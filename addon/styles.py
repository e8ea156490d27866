"""Styles as the artist picks them: style image files, and StyleBank styles by name (built-in
and learned) with their search and thumbnails."""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from .engine import (METHODS, STYLE_DECODE_SIDE, ImageError, ModelStore, NSTError, UserError,
                     available_styles, load_image, preview_path, user_styles_dir)
from .pixels import read_image
from .preferences import engine_options

_STYLES = (None, {})     # (what it was read from, the styles): panels ask on every redraw
_PREVIEWS = None         # bpy.utils.previews collection of the style thumbnails, made on first use


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _styles() -> dict:
    """name -> (bank file, source, sha256) of the StyleBank styles: the built-ins of the models
    folder and the artist's learned ones (scripts/learn_style.py). Empty when the models cannot
    be read. Read again only when the manifest or the learned-styles folder changes."""
    global _STYLES
    try:
        models = engine_options()["models_dir"]
    except UserError:
        return {}
    user = user_styles_dir()
    key = (os.fspath(models), _mtime(models / "manifest.json"), os.fspath(user), _mtime(user))
    if _STYLES[0] != key:
        try:
            _STYLES = (key, available_styles(ModelStore(models)))
        except NSTError:
            _STYLES = (key, {})
    return _STYLES[1]


def style_names() -> list[str]:
    return list(_styles())


def search_style_names(_self, _context, edit_text: str):
    """Search callback of style-name fields: the matching StyleBank styles."""
    return [n for n in style_names() if edit_text.lower() in n.lower()]


def style_preview(name: str):
    """The ImagePreview of a StyleBank style's thumbnail (NAME.png beside its bank), or None."""
    global _PREVIEWS
    found = _styles().get(name)
    path = preview_path(found[0]) if found else None
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


# Files Pillow reads: decoded in the worker, so a click does not wait for them (on a cold start
# the decode and Pillow's import held the main thread a quarter of a second). Other formats
# (EXR, HDR, ...) go through Blender's reader, on the main thread.
PILLOW_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".tga"}


class StyleFile:
    """A style image file, read the first time the worker needs its pixels: an array-like
    (``np.asarray`` gives float32 H×W×3 sRGB), so the engine takes it as a style image."""

    def __init__(self, path: str):
        self.path = path
        self._pixels = None

    def __array__(self, dtype=None, copy=None):
        return self.pixels() if dtype is None else self.pixels().astype(dtype)

    def pixels(self):
        if self._pixels is None:
            try:
                self._pixels = load_image(self.path, STYLE_DECODE_SIDE)[..., :3]
            except ImageError as exc:
                if "truncated" in str(exc):     # Blender would fill the missing part with grey
                    raise UserError(f"style file {self.path} is truncated or damaged ({exc}); "
                                    "use a complete copy of the image") from None
                raise UserError(f"style file {self.path} is not an image that can be read "
                                f"({exc})") from None
        return self._pixels


def load_style(path: str):
    """A style image file: a ``StyleFile`` for the worker to read (formats Pillow reads), else
    float32 H×W×3 sRGB read now by Blender (any other format Blender reads)."""
    if not path:
        raise UserError("no style image given; choose a style image file")
    full = bpy.path.abspath(path)
    if os.path.isdir(full):
        raise UserError(f"the style image {full} is a folder; choose an image file in it")
    if path.startswith("//") and not bpy.data.filepath:
        raise UserError(f"the style image {path} is relative to the .blend file, which is not "
                        "saved yet; save it first, or give the image's full path")
    if not os.path.isfile(full):
        raise UserError(f"style image not found: {full}")
    if Path(full).suffix.lower() in PILLOW_SUFFIXES:
        return StyleFile(full)
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


def style_for(method: str, path: str, name: str, where: str = ""):
    """What the engine takes as one style for ``method`` (a name, any case): a learned style's
    name for a method that takes names (StyleBank), else the style image."""
    try:
        if not METHODS[method.lower()].takes_style_names:
            return load_style(path)
        if not name:
            known = ", ".join(style_names()) or "none"
            raise UserError(f"no StyleBank style chosen; known styles: {known}")
        return name
    except UserError as exc:
        raise UserError(f"{where}{exc}") from None


def register():
    pass


def unregister():
    free_previews()
