"""Image I/O and array validation at the edge of the engine (Pillow is only used here).

Arrays inside nst_core are float32 H×W×C in [0, 1], sRGB-encoded, straight alpha.
"""

from __future__ import annotations

import glob
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .errors import ImageError

MAX_8BIT = 255.0
MAX_16BIT = 65535.0
STYLE_DECODE_SIDE = 4096    # style images are decoded at most this large: they run at style_size
                            # (512 by default), so a larger one only cost seconds and gigabytes


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Validate an image array without converting it; returns it as H×W×C (a view where possible).

    Accepts H×W or H×W×{1,2,3,4} of uint8, uint16 (scaled) or float (must be in [0, 1]; values
    outside are clipped later). Raises ImageError for empty, non-numeric or non-finite input.
    Large images are checked in row blocks, so no full-size temporary is made.
    """
    arr = np.asarray(image)
    if arr.dtype.kind not in "uif" or arr.dtype == np.bool_:
        raise ImageError(f"{what}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"{what}: expected shape H×W, H×W×1, H×W×3 or H×W×4, got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"{what}: image is empty (size {arr.shape[1]}×{arr.shape[0]})")
    if arr.dtype.kind == "f":
        step = max(1, (1 << 22) // (arr.shape[1] * arr.shape[2]))
        for top in range(0, arr.shape[0], step):
            bad = ~np.isfinite(arr[top:top + step])
            if bad.any():
                y, x, _ = np.argwhere(bad)[0]
                raise ImageError(f"{what}: contains NaN or infinite values, first at row {top + y}, "
                                 f"column {x}; replace them (e.g. numpy.nan_to_num) first")
    return arr


def to_rgb(block: np.ndarray) -> np.ndarray:
    """A checked H×W×C block (any accepted dtype) -> float32 H×W×3 in [0, 1]."""
    block = block[..., :1] if block.shape[2] in (1, 2) else block[..., :3]    # colour, no alpha
    if block.dtype in (np.uint8, np.uint16):        # in [0, 1] once scaled: one new array
        arr = block.astype(np.float32)
        np.divide(arr, MAX_8BIT if block.dtype == np.uint8 else MAX_16BIT, out=arr)
    elif block.dtype.kind in "ui":
        arr = np.clip(block.astype(np.float32) / MAX_16BIT, 0.0, 1.0)
    else:
        arr = np.clip(block.astype(np.float32, copy=False), 0.0, 1.0)
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else np.ascontiguousarray(arr)


def alpha_of(block: np.ndarray) -> np.ndarray | None:
    """The alpha channel of a checked H×W×C block as float32 H×W in [0, 1], or None."""
    if block.shape[2] not in (2, 4):
        return None
    return to_rgb(block[..., -1:])[..., 0]


def check_array(image: np.ndarray, what: str = "image") -> tuple[np.ndarray, np.ndarray | None]:
    """Validate an image array and split it into RGB (H×W×3 float32, clipped to [0, 1]) and alpha."""
    arr = check_image(image, what)
    return to_rgb(arr), alpha_of(arr)


def check_mask(mask: np.ndarray, shape: tuple[int, int], what: str = "mask") -> np.ndarray:
    """Validate a mask (H×W, or an image whose first channel is used) -> float32 H×W in [0, 1]."""
    rgb, _ = check_array(mask, what)
    if rgb.shape[:2] != tuple(shape):
        raise ImageError(f"{what}: size {rgb.shape[1]}×{rgb.shape[0]} does not match the content "
                         f"image {shape[1]}×{shape[0]}; resize the mask to the content's size")
    return np.ascontiguousarray(rgb[..., 0])


def load_image(path: str | os.PathLike, max_side: int | None = None) -> np.ndarray:
    """Read an image file -> float32 H×W×3 or H×W×4 (straight alpha) in [0, 1].

    Grayscale, palette, 16-bit and CMYK files are converted. With ``max_side`` a larger image
    comes back scaled to that long side, decoded at a reduced size where the format allows it
    (JPEG: Pillow's draft), so a 10000² style image does not cost gigabytes. Raises ImageError
    naming the file for missing, truncated, empty or non-image files.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            if max_side is not None and max(im.size) > max_side:
                im.draft("RGB" if im.mode in ("RGB", "CMYK", "YCbCr") else im.mode,
                         (max_side, max_side))
                im.load()
                if im.mode in ("P", "PA", "1"):
                    im = im.convert("RGBA" if "transparency" in im.info or im.mode == "PA" else "RGB")
                im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            im.load()
            return _pil_to_array(im)
    except UnidentifiedImageError as exc:
        raise ImageError(f"{path}: not an image file Pillow can read ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: cannot read image, the file may be truncated or corrupted "
                         f"({exc})") from exc


def load_exr(path: str | os.PathLike) -> np.ndarray:
    """An OpenEXR file as Blender writes renders and passes -> float32 H×W×C as stored
    (scene-linear, HDR values kept), top row first: RGBA or RGB in that order, a vector as
    XYZW, a single channel (depth) as H×W×1. Needs the OpenEXR package."""
    try:
        import OpenEXR
    except ImportError as exc:
        raise ImageError(f"{path}: reading EXR files needs the OpenEXR package; "
                         "pip install OpenEXR") from exc
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with OpenEXR.File(str(path)) as f:
            channels = {name: np.asarray(c.pixels, np.float32) for name, c in f.channels().items()}
    except Exception as exc:        # OpenEXR raises bare RuntimeErrors and others
        raise ImageError(f"{path}: cannot read as OpenEXR ({exc})") from exc
    for name in ("RGBA", "RGB", "XYZW", "XYZ"):
        if name in channels and channels[name].ndim == 3:
            return channels[name]
    order = [n for n in "RGBAXYZWV" if n in channels] or sorted(channels)
    return np.stack([channels[n] if channels[n].ndim == 2 else channels[n][..., 0] for n in order], -1)


def _pil_to_array(im) -> np.ndarray:
    if im.width == 0 or im.height == 0:
        raise ImageError(f"image is empty (size {im.width}×{im.height})")
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(im, dtype=np.float32) / MAX_16BIT
    elif mode == "I":
        arr = np.asarray(im, dtype=np.float32)
        arr = np.clip(arr / (MAX_16BIT if arr.max() > MAX_8BIT else MAX_8BIT), 0, 1)
    elif mode == "F":
        arr = np.clip(np.asarray(im, dtype=np.float32), 0, 1)
    else:
        has_alpha = "A" in mode or "transparency" in im.info
        if mode not in ("RGB", "RGBA"):
            im = im.convert("RGBA" if has_alpha else "RGB")
        arr = np.asarray(im, dtype=np.float32) / MAX_8BIT
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return arr


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write float32 H×W×{3,4} in [0, 1] as 8-bit (PNG, JPEG, ...) atomically; returns the path."""
    from PIL import Image

    path = Path(path)
    arr = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    data = (arr * MAX_8BIT + 0.5).astype(np.uint8)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[..., 0]
    im = Image.fromarray(data)
    if im.mode == "RGBA" and path.suffix.lower() in (".jpg", ".jpeg"):
        im = im.convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        im.save(tmp)
        os.chmod(tmp, 0o644)   # mkstemp creates 0600; an output image is an ordinary file
        os.replace(tmp, path)
    except (OSError, ValueError, KeyError) as exc:
        raise ImageError(f"{path}: cannot write image ({exc}); use a .png, .jpg or .tif name") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def resize(image: np.ndarray, height: int, width: int, wrap: bool = False,
           out: np.ndarray | None = None, prepare=None) -> np.ndarray:
    """Resize H×W×C or H×W (antialiased bicubic, per channel) -> height×width(×C) float32.

    Works in bands of output rows: each band reads only the source rows its filter needs, so
    no full-size copy of the source or of a channel is made (at 8K every fresh full-size array
    costs more in page faults than the filtering). The result equals one resize of the whole
    image within 1e-4 (PIL takes a band's box in float32, so its filter centres move by up to
    ~1e-5 px; 3e-5 measured on noise).

    wrap: the image is one period of a tileable texture; the filter reads across the borders
    from the opposite side, so the result stays tileable. out: an array to write into.
    prepare: applied to each band of source rows before filtering (e.g. ``to_rgb`` to scale
    integers, clip and drop alpha), instead of to the whole image first. Bicubic overshoots:
    results may leave [0, 1] slightly; clip where that matters."""
    from PIL import Image

    arr = image if isinstance(image, np.ndarray) else np.asarray(image, np.float32)
    if prepare is None and arr.shape[:2] == (height, width) and out is None:
        return np.asarray(arr, np.float32)
    squeeze = arr.ndim == 2
    if squeeze:
        arr = arr[..., None]
    h, w = arr.shape[:2]
    sy, sx = h / height, w / width
    # Bicubic reads 2 source pixels each side, scaled by the reduction factor when shrinking.
    py, px = (math.ceil(2 * max(1.0, s)) + 1 for s in (sy, sx))
    cols = np.arange(-px, w + px) % w if wrap else slice(None)
    left = px if wrap else 0
    # output rows per band: about 1 Mpx out, and at most about 4 Mpx read when shrinking
    step = max(1, min((1 << 20) // width, int((1 << 22) / (sy * w))))
    for top in range(0, height, step):
        bottom = min(height, top + step)
        first, last = math.floor(top * sy) - py, math.ceil(bottom * sy) + py
        if wrap:                                    # the band's rows and columns, wrapped
            src = arr[np.arange(first, last) % h][:, cols]
        else:
            first, last = max(first, 0), min(last, h)
            src = arr[first:last]
        src = np.asarray(src if prepare is None else prepare(src), np.float32)
        if out is None:
            out = np.empty((height, width, src.shape[2]), np.float32)
        box = (left, top * sy - first, left + w, bottom * sy - first)
        for c in range(src.shape[2]):
            band = Image.fromarray(np.ascontiguousarray(src[..., c]))
            out[top:bottom, :, c] = np.asarray(band.resize((width, bottom - top),
                                                           Image.Resampling.BICUBIC, box=box))
    return out[..., 0] if squeeze else out


def fit_long_side(image: np.ndarray, long_side: int | None) -> np.ndarray:
    """Downscale so the longer side is at most ``long_side`` (never upscales; None keeps size)."""
    h, w = image.shape[:2]
    if long_side is None or max(h, w) <= long_side:
        return image
    scale = long_side / max(h, w)
    return resize(image, max(1, round(h * scale)), max(1, round(w * scale)))


def to_nchw(image: np.ndarray) -> np.ndarray:
    """H×W×3 float32 -> 1×3×H×W, what the networks take."""
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)


def from_nchw(batch: np.ndarray) -> np.ndarray:
    """1×3×H×W -> H×W×3 float32, what the networks give back."""
    return np.ascontiguousarray(batch[0].transpose(1, 2, 0), dtype=np.float32)


def sequence(pattern: str, what: str) -> list[Path]:
    """The files of ``pattern`` (a glob, or a folder: every file in it) in frame order: by the
    last number in the name, then by name."""
    folder = Path(pattern)
    paths = sorted(folder.iterdir()) if folder.is_dir() else [Path(p) for p in glob.glob(pattern)]
    paths = [p for p in paths if p.is_file()]
    if not paths:
        raise ImageError(f"{what} {pattern}: no files; give a folder or a pattern like 'frames/image_*.png'")

    def key(p: Path):
        numbers = re.findall(r"\d+", p.stem)
        return (int(numbers[-1]) if numbers else -1, p.name)
    return sorted(paths, key=key)
