"""Writing a stylized frame over the file Blender just wrote for it (the live 'NST Style' node,
live.py): which outputs can be written stylized, and Blender's own writer with the scene's
output settings (format, colour depth and mode, compression), whole or not at all."""

from __future__ import annotations

import os
import struct

import bpy
import numpy as np

from . import exr, held, jobs, pixels, stamps
from .engine import UserError

IMAGE_FORMATS = {"PNG", "JPEG", "TIFF", "BMP", "TARGA", "TARGA_RAW", "WEBP"}    # written stylized
EXR_FORMATS = ("OPEN_EXR", "OPEN_EXR_MULTILAYER")       # scene-linear: written with no view


def written_file(scene, frame: int, missing: str | None = None) -> str:
    """The file Blender just wrote for ``frame``: an animation's frame path, or a still's
    output path as given (the newest of them); none found: ``missing``, else an error."""
    path = bpy.path.abspath(scene.render.filepath)
    candidates = {scene.render.frame_path(frame=frame), path, path + scene.render.file_extension}
    found = [p for p in candidates if os.path.isfile(p)]
    if not found and missing is not None:
        return missing
    if not found:
        raise UserError(f"cannot find the file Blender wrote for frame {frame} ({sorted(candidates)})")
    return max(found, key=os.path.getmtime)


def settings_key(scene) -> tuple:
    """What Blender's writer is set to (format, colour, codec): a frame written stylized with
    other settings than its render's would not be the file Blender wrote. (A multilayer
    OpenEXR's composite is written in the codec of the file Blender wrote: exr.py.)"""
    s, f = scene.render.image_settings, scene.render.ffmpeg
    codec = s.exr_codec if s.file_format != "OPEN_EXR_MULTILAYER" else ""
    return tuple(str(getattr(s, k, "")) for k in ("media_type", "file_format", "color_mode",
                 "color_depth", "quality", "compression")) + \
        (codec, scene.render.use_file_extension, f.format, f.codec)


def is_linear(scene) -> bool:
    """An OpenEXR output (one layer or multilayer): its frames hold scene-linear values."""
    return scene.render.image_settings.file_format in EXR_FORMATS


def is_video(scene) -> bool:
    """An FFmpeg video output (written stylized by videos.py)."""
    settings = scene.render.image_settings
    return getattr(settings, "media_type", "") == "VIDEO" or settings.file_format == "FFMPEG"


def as_written(px: np.ndarray, color_mode: str, scene=None, inverse=None) -> np.ndarray:
    """Display-encoded straight H×W×4 pixels as a file of ``color_mode`` holds them: RGBA with
    no colour under no alpha; RGB as Blender writes a render, the premultiplied colour shown
    (over black in scene-linear): exactly through ``scene``'s view (``inverse()``: its
    ViewInverse, made only for partly transparent pixels), else the display colour times alpha,
    which is that only where alpha is 0 or 1 (Standard view, alpha 0.5 of linear 0.5: Blender
    writes 137/255, not 94/255: a transparent film's edges, a Lens Distortion's border)."""
    rgba = np.array(px, np.float32)
    if color_mode == "RGBA":
        rgba[rgba[..., 3] <= 0, :3] = 0.0
        return rgba
    part = (rgba[..., 3] > 0) & (rgba[..., 3] < 1)
    rgba[..., :3] *= rgba[..., 3:]
    if inverse is not None and part.any():
        some = rgba[part]
        some[:, :3] = pixels.shown(scene, inverse()(np.asarray(px, np.float32)[part][:, :3])
                                   * some[:, 3:])
        rgba[part] = some
    rgba[..., 3] = 1.0
    return rgba


def make_folder(scene) -> None:
    """The frames' folder, made now if missing (two farm workers making it in Blender 4.3 at
    once: the loser's first save failed, which ended its whole command line; the farm test)."""
    try:
        os.makedirs(os.path.dirname(scene.render.frame_path(frame=scene.frame_current)),
                    exist_ok=True)
    except OSError:
        pass                            # Blender's own save says what is wrong with the path


CODEC = "render.image_settings.exr_codec"
ZIP_SAID = ("Blender {version} writes a multilayer OpenEXR's passes into one part, which the "
            "NST Style node can rewrite only in the ZIP, ZIPS or None codec: this render writes "
            "its files in ZIP (lossless{larger}) instead of {codec}, and sets the codec back "
            "after; Blender 5 keeps each pass in its codec")


def take_codec(scene) -> None:
    """A render with the live node in Blender 4, into multilayer OpenEXR with a codec that
    exr.py cannot decode (PIZ, DWAA, RLE, ...): written in ZIP for the render (held.py sets the
    codec back), said."""
    settings = scene.render.image_settings
    if settings.file_format == "OPEN_EXR_MULTILAYER" and bpy.app.version < (5, 0, 0) \
            and settings.exr_codec not in exr.CODED:
        codec = settings.exr_codec
        larger = "" if codec in exr.LOSSLESS else f"; larger files than {codec}'s"
        jobs.tell(ZIP_SAID.format(version=bpy.app.version_string, larger=larger, codec=codec))
        held.hold(scene, CODEC, "ZIP")


def check_output(scene) -> None:
    """What the live node can write stylized, said before the render: an image format or an
    FFmpeg video for an sRGB display, or OpenEXR (any display; multilayer: its composite
    rewritten, exr.py; Blender 4's codecs: ``take_codec``); else Blender's plain frames are
    kept."""
    if is_linear(scene):
        return
    settings = scene.render.image_settings
    if settings.file_format not in IMAGE_FORMATS and not is_video(scene):
        raise UserError(f"the live node writes image formats (PNG, JPEG, TIFF, BMP, Targa, WebP, "
                        f"OpenEXR) and FFmpeg video, not {settings.file_format}")
    if scene.display_settings.display_device != "sRGB":
        raise UserError(f"the live node writes image formats for an sRGB display, not "
                        f"{scene.display_settings.display_device}; choose OpenEXR, or the sRGB "
                        "display (Color Management)")


def read_file(path: str, linear: bool) -> np.ndarray:
    """A frame file's pixels as the writers take them: scene-linear premultiplied (``linear``:
    OpenEXR; a multilayer one's composite) or display-encoded straight (image formats, 8 or 16
    bits)."""
    if linear and exr.is_multilayer(path):
        return _exr(exr.read, path)
    image = bpy.data.images.load(path, check_existing=False)
    try:
        px = pixels.stored_pixels(image)
        return px if linear or not image.is_float else pixels.linear_to_straight_srgb(
            px, pixels.working_space())
    finally:
        bpy.data.images.remove(image)


def with_stamp(scene, rgba: np.ndarray, shown: np.ndarray, written: np.ndarray, inverse,
               lossy: bool) -> np.ndarray:
    """The frame to write (as the file holds it, ``as_written``) with the stamp (Output ›
    Metadata › Burn Into Image) that Blender drew onto ``shown`` (display-encoded straight:
    what its compositor's output showed) to give ``written`` (its frame as it holds it) laid
    over it (stamps.py; ``inverse()``: the view's ViewInverse). Exact from a lossless file
    (dither aside), near from a ``lossy`` one (JPEG, a lossy WebP, most video codecs)."""
    r = scene.render
    if not r.use_stamp or r.image_settings.color_mode == "BW" \
            or not written.shape == shown.shape == rgba.shape:  # (Apply's picture, made at
        return rgba                                             # another size, at its frame)
    deep = getattr(r.image_settings, "color_depth", "") == "16"
    noise = stamps.LOSSY if lossy else (0.5 + (0.0 if deep else r.dither_intensity)) / 255
    return stamps.lay_stamp(written, as_written(shown, r.image_settings.color_mode, scene, inverse),
                            rgba, r.stamp_background, r.stamp_foreground, inverse(),
                            lambda linear: pixels.shown(scene, linear), noise, vote=lossy)


def say_stamp_left_out(scene) -> None:
    """Burn Into Image with an output whose stylized frames do not carry the stamp: said when
    the render starts (the frames are still stylized)."""
    settings = scene.render.image_settings
    left = "OpenEXR" if settings.file_format in EXR_FORMATS else "BW" \
        if settings.color_mode == "BW" else None
    if scene.render.use_stamp and left:
        jobs.tell(f"the stylized frames of {left} do not carry Blender's stamp (Metadata › "
                  "Burn Into Image); image formats and videos in RGB or RGBA do")


def write_frame(scene, px: np.ndarray, path: str, inverse=None, shown=None) -> None:
    """The stylized frame (display-encoded straight H×W×4, as the Render window shows it) over
    Blender's file at ``path``, whole (a partial file, renamed), in the scene's output format
    (PNG, JPEG, TIFF, ...; ``check_output``), colour mode, colour depth and quality. Never
    through the scene's colour management: setting the scene's view to Standard for the write,
    from the render's thread, crashed Blender 4.3 while its Render window drew the render (a
    window test). 8 bits: Blender writes the image's own values (``Image.save``;
    the compression level and TIFF codec are Blender's defaults); 16 bits: Blender's render
    writer, with the output's own view (an override) set to Standard for the write (also BW,
    which only the render writer writes as grey: ``Image.save`` wrote RGB). A PNG keeps
    what Blender wrote beside its pixels: the render's metadata, EXIF, pixel density; given
    ``inverse()`` (the view's ViewInverse, made when needed: ``as_written``) and what Blender's
    file ``shown`` before its stamp, the stamp (``with_stamp``)."""
    settings = scene.render.image_settings
    rgba = as_written(px, settings.color_mode, scene, inverse)
    if shown is not None:
        lossy = settings.file_format == "JPEG" or (settings.file_format == "WEBP"
                                                   and settings.quality < 100)
        rgba = with_stamp(scene, rgba, shown, read_file(path, linear=False), inverse, lossy)
    if settings.color_mode == "BW":
        rgba[..., :3] = rgba[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)[:, None]
    deep = getattr(settings, "color_depth", "") == "16" or settings.color_mode == "BW"
    image = bpy.data.images.new("nst frame", px.shape[1], px.shape[0],
                                alpha=settings.color_mode == "RGBA", float_buffer=deep)
    image.file_format = settings.file_format
    partial = path + ".partial"
    saved = []
    try:
        if deep:            # Blender's render writer with the output's own colour management
            view = settings.view_settings   # (an override: the scene's view is not touched)
            saved = [(settings, "color_management", settings.color_management)]
            saved += [(view, k, getattr(view, k)) for k in ("view_transform", "look", "exposure",
                                                            "gamma", "use_curve_mapping")]
            saved.append((settings.display_settings, "display_device",
                          settings.display_settings.display_device))
            settings.color_management = "OVERRIDE"
            settings.display_settings.display_device = "sRGB"
            view.view_transform, view.look, view.exposure, view.gamma = "Standard", "None", 0.0, 1.0
            view.use_curve_mapping = False
            pixels.write_raw(pixels.straight_srgb_to_linear(rgba, pixels.working_space()), image)
            image.save_render(partial, scene=scene)
        else:
            pixels.write_raw(rgba, image)
            image.save(filepath=partial, quality=settings.quality)
        if settings.file_format == "PNG":
            _png_carried(path, partial)
        os.replace(partial, path)
    finally:
        for owner, k, v in reversed(saved):
            setattr(owner, k, v)
        bpy.data.images.remove(image)
        if os.path.exists(partial):
            os.remove(partial)


# What Blender writes beside a PNG's pixels, independent of them: the render's metadata
# (Render › Metadata: date, frame, camera, scene, ...), EXIF, pixel density and offset, colour.
_CARRIED = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"pHYs", b"oFFs", b"tIME", b"gAMA", b"cHRM",
            b"sRGB", b"iCCP"}
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks as (type, the whole chunk: length, type, data, CRC)."""
    chunks, at = [], len(_SIGNATURE)
    while data.startswith(_SIGNATURE) and at + 8 <= len(data):
        n, kind = struct.unpack_from(">I4s", data, at)
        chunks.append((kind, data[at:at + 12 + n]))
        at += 12 + n
    return chunks


def _png_carried(original: str, written: str) -> None:
    """The PNG ``written`` with the ancillary chunks of Blender's PNG ``original``
    (``_CARRIED``) in place of its own, after its header."""
    with open(original, "rb") as f:
        kept = [c for kind, c in _png_chunks(f.read()) if kind in _CARRIED]
    with open(written, "rb") as f:
        own = [c for kind, c in _png_chunks(f.read()) if kind not in _CARRIED]
    if own:
        with open(written, "wb") as f:
            f.write(_SIGNATURE + own[0] + b"".join(kept) + b"".join(own[1:]))


def write_exr(scene, linear: np.ndarray, path: str, drop: tuple = ()) -> None:
    """The stylized frame, scene-linear premultiplied H×W×4 (HDR where the masks leave the
    render), over Blender's OpenEXR file at ``path``, whole, with the scene's OpenEXR settings
    (half or full float, codec, colour mode); no view transform: OpenEXR holds scene-linear.
    A multilayer file keeps Blender's passes but those whose names start with one of ``drop``:
    only its composite is replaced."""
    if scene.render.image_settings.file_format == "OPEN_EXR_MULTILAYER":
        _exr(exr.replace, path, linear, exr.LAYER, drop)
        return
    image = bpy.data.images.new("nst frame", linear.shape[1], linear.shape[0], alpha=True,
                                float_buffer=True)
    partial = path + ".partial"
    try:
        pixels.write_raw(linear, image)
        image.save_render(partial, scene=scene)
        os.replace(partial, path)
    finally:
        bpy.data.images.remove(image)
        if os.path.exists(partial):
            os.remove(partial)


def _exr(call, path: str, *args):
    try:
        return call(path, *args)
    except (exr.ExrError, OSError) as exc:
        raise UserError(f"{path}: {exc}") from exc
