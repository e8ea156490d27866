"""Blender's stamp (Output › Metadata › Burn Into Image) laid over a stylized frame as Blender
laid it over the render.

Blender draws the stamp onto the render's scene-linear pixels before the view transform: each
field a box of the background colour (its alpha mixing it over what lies under; boxes that
overlap mix twice) and the text over it (the foreground colour, by the glyphs' coverage), both
colours display-encoded. No Python API draws it onto other pixels (``Image.save_render`` does
not), so it is read back from the frame Blender wrote: where that differs from the render, each
pixel is fitted as ``t·F + (1 − t)·(kⁿ·R + (1 − kⁿ)·B)`` in scene-linear (R the render, B and F
the colours, k = 1 − the background's alpha, n = 0, 1 or 2 boxes, t the text's coverage), and
the same mix is laid over the stylized pixel (premultiplied, so that RGBA's alpha mixes as
Blender's does). Where the render under a box is too dark to tell box from no box, the pixel
takes what its row's nearest told pixels are (the boxes are rectangles); where a small
picture's fields overlap, a later field's box may lie over a text."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LAYERS = 3          # 0, 1 or 2 boxes over a pixel
TOLD = 1.5 / 255    # a model this much better than the others (sRGB-encoded) tells the pixel
LOSSY = 8 / 255     # how far a JPEG may be from the render where no stamp is (99 %: 6/255)
VOTE_REACH = 2      # in a lossy file, the pixels this near each vote for its boxes


_LUMINANCE = np.array([0.2126, 0.7152, 0.0722])


def _srgb(linear: np.ndarray) -> np.ndarray:
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _linear(srgb: np.ndarray) -> np.ndarray:
    x = np.asarray(srgb, np.float64)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4))


def _boxes(written, render, back, k):
    """Each pure box model's error (sRGB-encoded) at each pixel (N×C premultiplied
    scene-linear ``written`` and ``render``): n boxes and no text, for each n that looks
    different (an opaque box looks the same twice) by N."""
    seen = _srgb(written)
    return np.stack([np.abs(_srgb(k ** n * render + (1 - k ** n) * back) - seen).max(-1)
                     for n in range(LAYERS if k > 0 else 2)])


def _coverage(written, base, fore):
    """The text's coverage (times its alpha) that mixes ``fore`` over ``base`` nearest to
    ``written`` (N×C premultiplied scene-linear each)."""
    toward = fore - base
    return np.clip(((written - base) * toward).sum(-1) / np.maximum((toward ** 2).sum(-1), 1e-12),
                   0.0, 1.0)


def _mean_around(error: np.ndarray, rows: int, reach: int = VOTE_REACH) -> np.ndarray:
    """Each model's error (models×N over ``rows`` rows) averaged over the pixels within
    ``reach`` of each (a lossy file's pixels vote: a box is a rectangle)."""
    e = error.reshape(len(error), rows, -1)
    for axis in (1, 2):
        c = np.cumsum(np.pad(e, [(0, 0)] + [(reach + 1, reach) if a == axis else (0, 0)
                                           for a in (1, 2)], "edge"), axis=axis)
        n = e.shape[axis]
        e = (np.take(c, np.arange(2 * reach + 1, n + 2 * reach + 1), axis)
             - np.take(c, np.arange(n), axis)) / (2 * reach + 1)
    return e.reshape(len(error), -1)


def _row_neighbours(label: np.ndarray, told: np.ndarray):
    """For each pixel the labels (H×W) of the nearest told pixels left and right of it in its
    row (the other's where a side has none; 0 in a row with none), and whether the right one is
    nearer."""
    h, w = label.shape
    cols = np.broadcast_to(np.arange(w), (h, w))
    left = np.maximum.accumulate(np.where(told, cols, -1), axis=1)
    right = np.minimum.accumulate(np.where(told, cols, w)[:, ::-1], axis=1)[:, ::-1]
    rows = np.broadcast_to(np.arange(h)[:, None], (h, w))
    on_left = np.where(left >= 0, label[rows, np.clip(left, 0, w - 1)], -1)
    on_right = np.where(right < w, label[rows, np.clip(right, 0, w - 1)], -1)
    on_left = np.where(on_left < 0, np.maximum(on_right, 0), on_left)
    on_right = np.where(on_right < 0, on_left, on_right)
    return on_left, on_right, (left < 0) | ((right < w) & (right - cols < cols - left))


def _stamped(under, back, fore, k, n, t, over):
    """``under`` (N×C) with ``n`` boxes over it, text of coverage ``t`` over them, then
    ``over`` boxes of a field drawn later over the text (all per pixel)."""
    kn, ko = (k ** n)[:, None], (k ** over)[:, None]
    return ko * (t[:, None] * fore + (1 - t[:, None]) * (kn * under + (1 - kn) * back)) \
        + (1 - ko) * back


def _text_error(written, render, back, fore, k, n, over=None):
    """How far (sRGB-encoded) the best text over ``n`` boxes (and under ``over`` more) is from
    ``written`` (N×C each; ``n``, ``over`` per pixel), and its coverage."""
    over = np.zeros_like(n) if over is None else over
    kn, ko = (k ** n)[:, None], (k ** over)[:, None]
    base = kn * render + (1 - kn) * back
    t = _coverage((written - (1 - ko) * back) / np.maximum(ko, 1e-6), base, fore)
    return np.abs(_srgb(_stamped(render, back, fore, k, n, t, over)) - _srgb(written)).max(-1), t


def _premultiplied(px: np.ndarray, to_linear: Callable) -> np.ndarray:
    """Display-encoded straight N×3 or N×4 pixels as scene-linear premultiplied N×4."""
    alpha = px[:, 3:4].astype(np.float64) if px.shape[-1] == 4 else np.ones((len(px), 1))
    return np.concatenate([np.asarray(to_linear(px[:, :3]), np.float64) * alpha, alpha], -1)


def lay_stamp(written: np.ndarray, render: np.ndarray, styled: np.ndarray,
              background, foreground, to_linear: Callable, to_display: Callable,
              noise: float, vote: bool = False) -> np.ndarray:
    """``styled`` (display-encoded straight H×W×3 or ×4) with the stamp Blender drew on
    ``render`` to give ``written`` (as ``styled``) laid over it as Blender laid it;
    ``background`` and ``foreground`` the stamp's RGBA colours (display-encoded); ``to_linear``
    and ``to_display`` the scene's view transform's inverse and the transform (N×3 -> N×3);
    ``noise``: how much the written file may differ from the render with no stamp (dither, a
    lossy format); ``vote``: a lossy file, whose pixels are told box or not by their
    neighbours too. Alpha (RGBA) is mixed as Blender mixes it, premultiplied: a box over a
    transparent pixel is its colour at its alpha."""
    out = np.array(styled, np.float32)
    channels = min(written.shape[-1], render.shape[-1], out.shape[-1])
    differs = np.abs(written[..., :channels] - render[..., :channels]).max(-1) > noise
    rows = np.nonzero(differs.any(1))[0]
    if not len(rows):
        return out
    flat = lambda px: px[rows, :, :channels].reshape(len(rows) * px.shape[1], -1)  # noqa: E731
    wl, rl = _premultiplied(flat(written), to_linear), _premultiplied(flat(render), to_linear)
    back = np.append(_linear(background[:3]), 1.0)[None]
    fore = np.append(_linear(foreground[:3]), 1.0)[None]
    k = 1.0 - float(background[3])
    # A lossy file is told by its luminance: a JPEG halves the colours' resolution, and a
    # glyph's pixels take the colour around them.
    fit = (lambda x: np.concatenate([x[:, :3] @ _LUMINANCE[:, None], x[:, 3:]], -1)) if vote \
        else (lambda x: x)
    wf, rf, bf, ff = fit(wl), fit(rl), fit(back), fit(fore)
    own = _boxes(wf, rf, bf, k)
    error = _mean_around(np.minimum(own, 2 * noise), len(rows)) if vote else own
    ranked = np.sort(error, axis=0)
    told = (ranked[0] <= noise + TOLD) & (ranked[1] - ranked[0] > TOLD)   # (no text there)
    # A pixel not told (text, or too dark under a box to tell) has the boxes of a told one
    # beside it in its row (boxes are rectangles): the one whose boxes its text fits, else the
    # nearer one.
    left, right, nearer = (a.ravel() for a in _row_neighbours(
        np.argmin(error, axis=0).reshape(len(rows), -1), told.reshape(len(rows), -1)))
    off_left = _text_error(wf, rf, bf, ff, k, left)[0]
    off_right = _text_error(wf, rf, bf, ff, k, right)[0]
    use_right = (off_right < off_left - TOLD) | (nearer & (off_right <= off_left + TOLD))
    layers = np.where(told, np.argmin(error, axis=0), np.where(use_right, right, left))
    text = differs[rows].ravel() & (np.take_along_axis(own, layers[None], 0)[0] > noise + TOLD)
    # Text under the box of a field drawn after it (small pictures' fields overlap): one of
    # the pixel's boxes over its text, where that fits better.
    off, t = _text_error(wf, rf, bf, ff, k, layers)
    off_under, t_under = _text_error(wf, rf, bf, ff, k, np.maximum(layers - 1, 0),
                                     np.minimum(layers, 1))
    if k <= 0:                          # (under an opaque box no text shows)
        off_under[:] = np.inf
    under = (off_under < off).astype(int)
    decided = text & (layers > 0) & (np.abs(off_under - off) > TOLD)   # else as a glyph beside
    left, right, nearer = (a.ravel() for a in _row_neighbours(          # it (a faint edge fits
        under.reshape(len(rows), -1), decided.reshape(len(rows), -1)))  # either way)
    over = np.where(decided, under, np.where(nearer, right, left)) * (text & (layers > 0))
    layers -= over
    t = np.where(text, np.where(over > 0, t_under, t), 0.0)
    drawn = (layers > 0) | (t > 0) | (over > 0)
    if not drawn.any():
        return out
    s = flat(out)
    mixed = _stamped(_premultiplied(s[drawn], to_linear), back, fore, k, layers[drawn],
                     t[drawn], over[drawn])
    alpha = mixed[:, 3:]
    s[drawn, :3] = np.where(alpha > 0, to_display(mixed[:, :3] / np.maximum(alpha, 1e-12)), 0.0)
    if channels == 4:
        s[drawn, 3] = alpha[:, 0]
    out[rows, :, :channels] = s.reshape(len(rows), -1, channels)
    return out
