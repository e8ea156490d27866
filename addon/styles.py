"""Styles as the artist picks them: style image files, and StyleBank styles by name (built-in
and learned) with their search and thumbnails."""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from .engine import ImageError, ModelStore, NSTError, UserError, load_image, stylebank
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
    user = stylebank.user_styles_dir()
    key = (os.fspath(models), _mtime(models / "manifest.json"), os.fspath(user), _mtime(user))
    if _STYLES[0] != key:
        try:
            _STYLES = (key, stylebank.available(ModelStore(models)))
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


def load_style(path: str):
    """A style image file as float32 H×W×3 sRGB (any format Pillow or Blender reads)."""
    if not path:
        raise UserError("no style image given; choose a style image file")
    full = bpy.path.abspath(path)
    if not os.path.isfile(full):
        raise UserError(f"style image not found: {full}")
    try:            # Pillow first: one decode, no data-block (Blender would also fill a
        return load_image(full)[..., :3]        # truncated file's missing part with grey)
    except ImageError as exc:
        if "truncated" in str(exc):
            raise UserError(f"style file {full} is truncated or damaged ({exc}); use a complete "
                            "copy of the image") from None
        # a format Pillow does not read (EXR, HDR, ...): Blender's reader decides below
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


def register():
    pass


def unregister():
    free_previews()
