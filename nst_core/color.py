"""Colour helpers: sRGB transfer functions, alpha (un)premultiplication, colour preservation."""

from __future__ import annotations

import numpy as np

# IEC 61966-2-1 sRGB transfer function constants.
_SRGB_THRESHOLD = 0.04045
_LINEAR_THRESHOLD = 0.0031308
_SRGB_SLOPE = 12.92
_SRGB_A = 0.055
_SRGB_GAMMA = 2.4

# YIQ (NTSC 1953) as used by Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer".
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.595716, -0.274453, -0.321263],
                        [0.211456, -0.522591, 0.311135]], dtype=np.float32)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ.astype(np.float64)).astype(np.float32)


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded values (any shape, float) -> scene-linear values; alpha must not be passed."""
    x = np.asarray(srgb, dtype=np.float32)
    return np.where(x <= _SRGB_THRESHOLD, x / _SRGB_SLOPE,
                    ((np.maximum(x, 0) + _SRGB_A) / (1 + _SRGB_A)) ** _SRGB_GAMMA).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Scene-linear values -> sRGB-encoded values (values above 1 stay above 1; clip yourself)."""
    x = np.asarray(linear, dtype=np.float32)
    return np.where(x <= _LINEAR_THRESHOLD, x * _SRGB_SLOPE,
                    (1 + _SRGB_A) * np.maximum(x, _LINEAR_THRESHOLD) ** (1 / _SRGB_GAMMA) - _SRGB_A
                    ).astype(np.float32)


def unpremultiply(rgba: np.ndarray) -> np.ndarray:
    """Premultiplied H×W×4 -> straight alpha; fully transparent pixels get colour 0."""
    out = np.array(rgba, dtype=np.float32)
    a = out[..., 3:4]
    np.divide(out[..., :3], a, out=out[..., :3], where=a > 0)
    out[..., :3][np.broadcast_to(a <= 0, out[..., :3].shape)] = 0
    return out


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """Straight-alpha H×W×4 -> premultiplied."""
    out = np.array(rgba, dtype=np.float32)
    out[..., :3] *= out[..., 3:4]
    return out


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 RGB -> H×W×3 YIQ (Y = luma, I/Q = chroma)."""
    return rgb @ _RGB_TO_YIQ.T


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    return yiq @ _YIQ_TO_RGB.T


def preserve_color(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Luminance-only transfer (Gatys et al. 2016): the stylized luma with the content's chroma.

    Chosen over matching the style's colour histogram to the content before transfer because it
    keeps the content's chroma exactly (measurable, predictable for artists) and costs one 3×3
    matrix per pixel; the style's brush texture survives in the luma. Both inputs H×W×3 sRGB.
    """
    y = rgb_to_yiq(stylized)[..., :1]
    iq = rgb_to_yiq(content)[..., 1:]
    return np.clip(yiq_to_rgb(np.concatenate([y, iq], axis=-1)), 0.0, 1.0).astype(np.float32)
