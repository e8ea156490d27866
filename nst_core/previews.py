"""Thumbnails of StyleBank styles: a small scene of our own, stylized and saved beside the bank.

Above the pipeline (it calls ``stylize``); the CLI, the export script and the add-on use it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .images import resize, save_image
from .pipeline import stylize

PREVIEW_SIZE = 128          # thumbnails beside the bank files: NAME.npz -> NAME.png
PREVIEW_SCENE_SIZE = 384    # the scene is stylized at this size, then scaled down


def preview_scene(size: int = PREVIEW_SCENE_SIZE) -> np.ndarray:
    """A small landscape drawn here (sky, sun, hills, a shaded sphere on a checker floor) as
    float32 size×size×3 sRGB in [0, 1]: previews show a style on an image of our own, never
    on a copy of the painting."""
    y, x = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    img = np.empty((size, size, 3), np.float32)
    img[:] = (0.35 + 0.45 * y[..., None]) * np.array([0.55, 0.75, 1.0], np.float32)       # sky
    sun = np.clip(1.0 - np.hypot(x - 0.75, y - 0.2) / 0.08, 0, 1)[..., None]
    img = img * (1 - sun) + sun * np.array([1.0, 0.9, 0.55], np.float32)
    for base, amp, freq, colour in ((0.5, 0.06, 3.0, (0.35, 0.5, 0.3)), (0.6, 0.05, 5.0, (0.25, 0.42, 0.2))):
        ridge = base + amp * np.sin(2 * np.pi * freq * x + base * 10)
        hill = (y > ridge)[..., None]
        shade = (0.75 + 0.25 * np.cos(2 * np.pi * freq * x + base * 10))[..., None]
        img = np.where(hill, np.array(colour, np.float32) * shade, img)
    floor = y > 0.7                                         # checker floor in perspective
    depth = np.maximum(y - 0.62, 1e-3)
    check = ((np.floor((x - 0.5) / depth * 1.5) + np.floor(1.0 / depth)) % 2).astype(np.float32)
    img = np.where(floor[..., None], (0.45 + 0.4 * check)[..., None] * np.array([0.9, 0.85, 0.75], np.float32), img)
    dx, dy = (x - 0.38) / 0.17, (y - 0.66) / 0.17           # a red sphere lit from the upper right
    inside = dx * dx + dy * dy < 1
    dz = np.sqrt(np.clip(1 - dx * dx - dy * dy, 0, 1))
    light = np.array([0.5, -0.6, 0.62], np.float32) / np.linalg.norm([0.5, -0.6, 0.62])
    lambert = np.clip(dx * light[0] + dy * light[1] + dz * light[2], 0, 1)
    sphere = 0.1 + 0.85 * lambert[..., None] * np.array([0.85, 0.2, 0.15], np.float32) + 0.6 * lambert[..., None] ** 40
    img = np.where(inside[..., None], sphere, img)
    return np.clip(img, 0, 1).astype(np.float32)


def write_preview(name: str, path: Path, runtime, size: int = PREVIEW_SIZE) -> Path:
    """Stylize the preview scene with style ``name`` and save a size×size thumbnail at ``path``."""
    out = stylize(preview_scene(), name, "stylebank", runtime=runtime).image
    return save_image(path, np.clip(resize(out, size, size), 0, 1))
