"""nst_core/previews.py: every built-in style's thumbnail shows our own scene in that style."""

from __future__ import annotations

import numpy as np

import nst_core
from nst_core import previews, stylebank

A, B = "vangogh_starry_night", "hokusai_great_wave"


def test_every_builtin_has_a_preview_of_our_own_scene(runtime):
    """Thumbnails show each style on the project's own scene: right size, stylized (not the
    scene itself) and different from style to style."""
    from nst_core.images import resize

    scene = resize(previews.preview_scene(), previews.PREVIEW_SIZE, previews.PREVIEW_SIZE)
    assert np.array_equal(previews.preview_scene(), previews.preview_scene())   # deterministic
    shown = {}
    for name, (path, source, _) in stylebank.available(runtime.store).items():
        if source != "built-in":
            continue
        image = nst_core.load_image(stylebank.preview_path(path))[..., :3]
        assert image.shape == (previews.PREVIEW_SIZE, previews.PREVIEW_SIZE, 3), name
        assert np.abs(image - scene).mean() > 0.03, f"{name}: preview looks like the plain scene"
        shown[name] = image
    assert np.abs(shown[A] - shown[B]).mean() > 0.03
