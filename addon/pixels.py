"""Pixels between Blender and numpy, with the colour conversions in one place.

Blender float images (and renders) hold scene-linear, premultiplied pixels; byte images hold
their colour space's encoded values with straight alpha. The engine wants sRGB-encoded,
straight colour, top row first: ``read_image`` and ``read_render_result`` give that,
``write_image`` and ``save_8bit`` take it back. The Render Result is read as the Render window
shows it (the scene's view transform applied) through an 8-bit PNG; render passes, which cannot
be read from Python, through EXR files.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import tempfile

import bpy
import numpy as np

from .engine import UserError, linear_to_srgb, premultiply, srgb_to_linear, unpremultiply
from .results import is_result


def _rgb_to_xyz(primaries, white) -> np.ndarray:
    """The RGB -> CIE XYZ matrix of an RGB space given its primaries' and white's xy."""
    xyz = lambda x, y: np.array([x / y, 1.0, (1 - x - y) / y])  # noqa: E731
    p = np.stack([xyz(*c) for c in primaries], 1)
    return p * np.linalg.solve(p, xyz(*white))


_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367],
                      [0.0389, -0.0685, 1.0296]])
_D65, _ACES_WHITE = (0.3127, 0.3290), (0.32168, 0.33767)
_REC709 = _rgb_to_xyz(((0.64, 0.33), (0.30, 0.60), (0.15, 0.06)), _D65)
# Blender 5's working spaces other than Linear Rec.709 (its OpenColorIO config: AP1 adapted to
# D65 by Bradford): their linear RGB -> Linear Rec.709's, and back
_TO_REC709 = {
    "Linear Rec.2020": np.linalg.solve(
        _REC709, _rgb_to_xyz(((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)), _D65)),
    "ACEScg": np.linalg.solve(_REC709, np.linalg.solve(_BRADFORD, np.diag(
        (_BRADFORD @ [_D65[0] / _D65[1], 1, (1 - sum(_D65)) / _D65[1]])
        / (_BRADFORD @ [_ACES_WHITE[0] / _ACES_WHITE[1], 1, (1 - sum(_ACES_WHITE)) / _ACES_WHITE[1]])
    ) @ _BRADFORD) @ _rgb_to_xyz(((0.713, 0.293), (0.165, 0.830), (0.128, 0.044)), _ACES_WHITE)),
}


def working_space():
    """How Blender's float pixels (the file's working space: Blender 5 has three) differ from
    Linear Rec.709, the sRGB curve's: (their RGB -> Rec.709's matrix, and its inverse), or None
    where they are Rec.709's. (Read as Rec.709, an ACEScg file's float textures were painted
    from and into the wrong colours: an artist trial, a saturated cyan for a muted blue.)"""
    space = getattr(bpy.data, "colorspace", None)
    m = None if space is None else _TO_REC709.get(space.working_space)
    return None if m is None else (m.astype(np.float32), np.linalg.inv(m).astype(np.float32))


def linear_to_straight_srgb(px: np.ndarray, space=None) -> np.ndarray:
    """Scene-linear premultiplied H×W×4 (``space``: ``working_space()``) -> sRGB straight,
    clipped to [0, 1]."""
    out = unpremultiply(px)
    if space is not None:
        out[..., :3] = out[..., :3] @ space[0].T
    out[..., :3] = linear_to_srgb(out[..., :3])
    return np.clip(out, 0.0, 1.0)


def straight_srgb_to_linear(px: np.ndarray, space=None) -> np.ndarray:
    """sRGB straight H×W×4 -> scene-linear premultiplied, as Blender's float images hold it
    (``space``: ``working_space()``)."""
    out = np.array(px, np.float32)
    out[..., :3] = srgb_to_linear(out[..., :3])
    if space is not None:
        out[..., :3] = out[..., :3] @ space[1].T
    return premultiply(out)


def holds_linear(image) -> bool:
    return "linear" in image.colorspace_settings.name.lower()


def read_image(image: bpy.types.Image, allow_data: bool = False) -> np.ndarray:
    """An image's pixels as float32 H×W×4, sRGB-encoded straight colour, top row first."""
    return read_image_hdr(image, allow_data, hdr=False)[0]


def read_image_hdr(image: bpy.types.Image, allow_data: bool = False,
                   hdr: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``read_image``, and for a float image with colours above 1 (an HDRI, an emission map)
    each such pixel's colour divided by its brightest channel, so the engine sees its hue and
    shading instead of a clipped white; with that divisor (H×W, None when nothing is above 1),
    which ``write_image(gain=...)`` multiplies back: the highlights keep their ratio."""
    _readable(image, allow_data)
    return _straight(stored_pixels(image), image.is_float, holds_linear(image), hdr,
                     working_space())


def read_image_hdr_job(image: bpy.types.Image):
    """``read_image_hdr`` as steps of a job (``yield from``): only Blender's copy of the pixels
    runs on the main thread, into a buffer the worker has touched first, and the conversions
    run in the worker. (A window's main thread that wrote a fresh 1024² buffer and converted it
    was held 0.2-0.3 s, most of it the new memory's page faults.)"""
    _readable(image, False)
    (w, h), channels = image.size, image.channels
    buf = yield lambda progress, cancel: np.ones(w * h * channels, np.float32)
    image.pixels.foreach_get(buf)
    is_float, linear, space = image.is_float, holds_linear(image), working_space()
    return (yield lambda progress, cancel: _straight(_shaped(buf, w, h, channels), is_float,
                                                     linear, True, space))


def _readable(image: bpy.types.Image, allow_data: bool) -> None:
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


def _straight(px: np.ndarray, is_float: bool, linear: bool, hdr: bool, space=None):
    """``read_image_hdr`` of the pixels ``stored_pixels`` gave (touches no bpy data; ``space``:
    ``working_space()``)."""
    if is_float:
        straight = unpremultiply(px)
        if space is not None:
            straight[..., :3] = straight[..., :3] @ space[0].T
        over = np.maximum(straight[..., :3].max(axis=-1), 1.0) if hdr else None
        if over is None or over.max() <= 1.0:
            straight[..., :3] = linear_to_srgb(straight[..., :3])
            return np.clip(straight, 0.0, 1.0), None
        straight[..., :3] /= over[..., None]
        straight[..., :3] = linear_to_srgb(straight[..., :3])
        return np.clip(straight, 0.0, 1.0), over
    if linear:
        px[..., :3] = linear_to_srgb(px[..., :3])
    return np.clip(px, 0.0, 1.0), None


def write_image(pixels: np.ndarray, name: str, like: bpy.types.Image | None = None,
                target: bpy.types.Image | None = None,
                gain: np.ndarray | None = None) -> bpy.types.Image:
    """Write sRGB straight H×W×4 pixels into ``target`` (same size), or into the image ``name``
    (created, or updated in place when it exists), encoded like ``like`` (float or byte); a
    float image's colours times ``gain`` (H×W, from ``read_image_hdr``)."""
    h, w = pixels.shape[:2]
    image = target or image_for(name, w, h, like.is_float if like is not None else True, like)
    if image.is_float:
        space = working_space()
        out = straight_srgb_to_linear(pixels)
        if gain is not None:
            out[..., :3] *= gain[..., None]
        if space is not None:
            out[..., :3] = out[..., :3] @ space[1].T
    else:
        out = np.array(pixels, np.float32)
        if holds_linear(image):
            out[..., :3] = srgb_to_linear(out[..., :3])
    return write_raw(out, image)


def png_for(pixels: np.ndarray, linear: bool) -> bytes:
    """sRGB straight H×W×4 pixels as a PNG file's bytes that hold what ``write_image`` would put
    in a byte image (``linear``: its colour space is linear; Blender's rounding), for
    ``results.keep(png=...)``. Made in the worker, where Pillow's encoder leaves Python's lock
    free: Blender's own pack encoded a 4096² result 3.5 s on the window's main thread."""
    out = np.array(pixels, np.float32)
    if linear:
        out[..., :3] = srgb_to_linear(out[..., :3])
    out = np.floor(np.clip(out, 0.0, 1.0) * np.float32(255) + np.float32(0.5)).astype(np.uint8)
    from PIL import Image       # (imported as the add-on registers: jobs.py)
    data = io.BytesIO()
    Image.fromarray(out, "RGBA").save(data, "PNG", compress_level=1)   # (Blender's 15 %)
    return data.getvalue()


def image_for(name: str, w: int, h: int, is_float: bool = True,
              like: bpy.types.Image | None = None) -> bpy.types.Image:
    """The generated image ``name`` of that size and kind (or the add-on's earlier result of that
    name), made when missing; an image of that name that does not fit is renamed ``.old``, never
    resized or reused (it may be a file's)."""
    image = bpy.data.images.get(name)
    if image is not None and (tuple(image.size) != (w, h) or image.is_float != is_float
                              or (image.source != "GENERATED" and not is_result(image))):
        image.name = image.name + ".old"
        image = None
    if image is None:
        image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=is_float)
        if is_float:        # its buffer is premultiplied: packed as EXR, it is read back as such
            image.alpha_mode = "PREMUL"
        if like is not None and not is_float:
            image.colorspace_settings.name = like.colorspace_settings.name
    return image


def write_raw(px: np.ndarray, image: bpy.types.Image) -> bpy.types.Image:
    """H×W×4 pixels, top row first, into ``image`` exactly as given (for a float image:
    scene-linear premultiplied, HDR values included)."""
    image.pixels.foreach_set(np.ascontiguousarray(px[::-1], np.float32).ravel())
    image.update()
    return image


def read_exr(path: str) -> np.ndarray:
    """A float file written by Blender (render pass) -> float32 H×W×4 as stored, top row first."""
    image = bpy.data.images.load(path, check_existing=False)
    try:
        return stored_pixels(image)
    finally:
        bpy.data.images.remove(image)


def read_render_result(scene) -> np.ndarray:
    """The Render Result as the Render window shows it, sRGB straight H×W×4: saved with the
    scene's colour management (view transform, look, exposure, gamma, curves) and no dither,
    so the networks see what the artist sees. Written back into an image (shown as it is:
    'View as Render' off), the result is the stylized version of that picture."""
    result = bpy.data.images.get("Render Result")
    if result is None:
        raise UserError("there is no render result; render first")
    return _saved_as_render(result, scene)


def shown(scene, linear: np.ndarray) -> np.ndarray:
    """Scene-linear colours (…×3, straight) as the scene's colour management shows them:
    display-encoded …×3 in [0, 1], to 1/65535 (the inverse, ``ViewInverse``, needs that)."""
    flat = np.asarray(linear, np.float32).reshape(-1, 3)
    w = min(len(flat), _ROW)
    h = -(-len(flat) // w)
    px = np.ones((h * w, 4), np.float32)
    px[:len(flat), :3] = flat
    image = bpy.data.images.new("nst shown", w, h, alpha=True, float_buffer=True)
    try:
        write_raw(px.reshape(h, w, 4), image)
        out = _saved_as_render(image, scene, deep=True)
    finally:
        bpy.data.images.remove(image)
    return out.reshape(-1, 4)[:len(flat), :3].reshape(np.shape(linear))


_ROW = 2048     # pixels per row of the image ``shown`` pushes colours through


def read_shown(scene, path: str) -> np.ndarray:
    """A 16-bit TIFF that Blender wrote with ``scene``'s colour management (passes.capture's
    image as shown) as ``frames.as_shown`` gives the render: display-encoded straight H×W×4
    in [0, 1]; where the render is fully transparent, the colour black is shown as. Read from
    the file as written (no image data-block: made from the render's thread while a window
    drew, an image crashed Blender 4.3; and no sRGB round trip: 6× faster at 720p)."""
    px = read_tiff16(path)
    alpha = px[..., 3]
    part = alpha < 1                        # associated alpha: only these need unpremultiplying
    if part.any():
        some = px[part]
        clear = some[:, 3] <= 0
        np.divide(some[:, :3], some[:, 3:], out=some[:, :3], where=~clear[:, None])
        px[part] = some
        clear = alpha <= 0
        if clear.any():
            px[clear, :3] = shown(scene, np.zeros((1, 3), np.float32))
    return np.clip(px, 0.0, 1.0, out=px)


_TIFF_TYPES = {1: "B", 3: "H", 4: "I"}      # the tag value types an uncompressed TIFF needs


def read_tiff16(path: str) -> np.ndarray:
    """An uncompressed 16-bit RGB(A) TIFF as Blender writes it (one image, contiguous samples,
    in strips, top row first) as float32 H×W×4 in [0, 1], its samples as stored."""
    with open(path, "rb") as f:
        data = f.read()
    order = {b"II": "<", b"MM": ">"}.get(data[:2], "")
    try:
        (ifd,) = struct.unpack_from(order + "4xI", data)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        tags = {}
        for i in range(count):
            tag, kind, n, value = struct.unpack_from(order + "HHI4s", data, ifd + 2 + 12 * i)
            if kind in _TIFF_TYPES:
                size = struct.calcsize(_TIFF_TYPES[kind]) * n
                raw = value if size <= 4 else data[struct.unpack(order + "I", value)[0]:][:size]
                tags[tag] = struct.unpack(order + _TIFF_TYPES[kind] * n, raw[:size])
        (w,), (h,), (spp,) = tags[256], tags[257], tags.get(277, (1,))
        if not order or tags.get(259, (1,)) != (1,) or set(tags[258]) != {16} \
                or tags.get(284, (1,)) != (1,) or spp not in (3, 4):
            raise ValueError("not an uncompressed 16-bit RGB(A) TIFF")
        strips = b"".join(data[o:o + n] for o, n in zip(tags[273], tags[279]))
        stored = np.frombuffer(strips, order + "u2", w * h * spp).reshape(h, w, spp)
    except (KeyError, ValueError, struct.error) as exc:
        raise RuntimeError(f"cannot read the render's capture {path}: {exc}") from exc
    px = np.ones((h, w, 4), np.float32)
    np.multiply(stored, np.float32(1 / 65535), out=px[..., :spp])
    return px


def _saved_as_render(image, scene, deep: bool = False) -> np.ndarray:
    """``image`` saved with the scene's colour management and read back, H×W×4 as stored:
    through an 8-bit PNG, or with ``deep`` a 16-bit uncompressed TIFF (read as Non-Color, so
    the values come back as they were written)."""
    r = scene.render
    settings = r.image_settings
    keys = ["file_format", "color_depth", "color_mode", "tiff_codec"]
    keys += [k for k in ("color_management",) if hasattr(settings, k)]
    if hasattr(settings, "media_type"):     # Blender 5: restored first, as setting it resets the rest
        keys.insert(0, "media_type")
    saved = [(settings, k, getattr(settings, k)) for k in keys]
    saved.append((r, "dither_intensity", r.dither_intensity))
    # Blender 4.x sets a video's codec to H.264 when the file format is set back to FFmpeg
    # (a lossless FFV1 shot was encoded again as H.264, and the scene kept it): all of the
    # video's settings are set back after it, where this Blender takes them
    saved += [(r.ffmpeg, k, getattr(r.ffmpeg, k)) for k in ["format", "codec"] + [
        p.identifier for p in r.ffmpeg.bl_rna.properties
        if not p.is_readonly and p.identifier not in ("rna_type", "format", "codec")]]
    tmp = tempfile.mkdtemp(prefix="nst_render_")
    try:
        if hasattr(settings, "media_type"):
            settings.media_type = "IMAGE"
        if deep:
            settings.file_format, settings.color_depth, settings.tiff_codec = "TIFF", "16", "NONE"
        else:
            settings.file_format, settings.color_depth = "PNG", "8"
        settings.color_mode = "RGBA"
        if hasattr(settings, "color_management"):
            settings.color_management = "FOLLOW_SCENE"
        r.dither_intensity = 0.0
        path = os.path.join(tmp, "shown.tif" if deep else "shown.png")
        image.save_render(path, scene=scene)
        loaded = bpy.data.images.load(path, check_existing=False)
        try:
            if deep:
                loaded.colorspace_settings.name = "Non-Color"
            px = stored_pixels(loaded)
        finally:
            bpy.data.images.remove(loaded)
    finally:
        for owner, k, v in saved:
            try:
                setattr(owner, k, v)
            except (AttributeError, TypeError, ValueError):    # (another Blender's setting)
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    return px


def stored_pixels(image: bpy.types.Image) -> np.ndarray:
    """An image's pixels as Blender holds them (byte images: their colour space's encoding,
    straight; float images: scene-linear, premultiplied) as float32 H×W×4, top row first."""
    w, h = image.size
    buf = np.empty(w * h * image.channels, np.float32)
    image.pixels.foreach_get(buf)
    return np.ascontiguousarray(_shaped(buf, w, h, image.channels))


def _shaped(buf: np.ndarray, w: int, h: int, channels: int) -> np.ndarray:
    """Blender's flat pixel buffer as H×W×4, top row first."""
    px = buf.reshape(h, w, channels)[::-1]
    if channels != 4:
        rgb = np.repeat(px[..., :1], 3, -1) if channels < 3 else px[..., :3]
        px = np.concatenate([rgb, np.ones((h, w, 1), np.float32)], -1)
    return px


def save_8bit(pixels: np.ndarray, path: str, file_format: str = "PNG") -> None:
    """sRGB straight H×W×4 pixels to an 8-bit file, PNG unless ``file_format`` says otherwise
    (TARGA_RAW writes a 720p frame in a tenth of a PNG's time)."""
    image = bpy.data.images.new("nst_frame", pixels.shape[1], pixels.shape[0], alpha=True)
    try:
        image.pixels.foreach_set(np.ascontiguousarray(pixels[::-1], np.float32).ravel())
        image.filepath_raw, image.file_format = path, file_format
        image.save()
    finally:
        bpy.data.images.remove(image)
