"""work_size: stylize at a smaller size and scale the result up (fast previews)."""

from __future__ import annotations

import numpy as np
import pytest

import nst_core
from conftest import _load, styles_for
from nst_core import metrics
from nst_core.color import rgb_to_yiq
from nst_core.images import resize
from test_tiling import run, tileable, wrap_ratio  # noqa: F401 (tileable: a fixture)

WORK = 96       # the test photo is 128×192: the networks run at 64×96


@pytest.mark.parametrize("method", ["wct", "adain", "stylebank"])
def test_work_size_runs_small_and_scales_up(runtime, photo, painting, painting2, method):
    style = styles_for(method, painting, painting2)[0]
    h, w = photo.shape[:2]
    preview = run(runtime, photo, style, method=method, work_size=WORK)
    assert preview.shape == photo.shape and preview.dtype == np.float32
    assert 0 <= preview.min() and preview.max() <= 1
    small = resize(photo, 64, 96)
    expected = np.clip(resize(run(runtime, np.clip(small, 0, 1), style, method=method), h, w), 0, 1)
    np.testing.assert_allclose(preview, expected, atol=1e-4)
    # It stylizes: the preview moves the photo towards the painting, where the same scaling
    # without stylizing does not (on this 192 px photo: WCT 0.41, AdaIN 0.34 vs blur −0.02; on
    # 512 px photos at work size 384 AdaIN keeps 0.56 of its 0.64, README).
    if method != "stylebank":
        blurred = np.clip(resize(small, h, w), 0, 1)
        gain = [metrics.evaluate(photo, painting, x, runtime=runtime).style_gain for x in (preview, blurred)]
        assert gain[0] > 0.3 and gain[1] < 0.05, gain


@pytest.mark.parametrize("style_size,scaled", [(1024, 512), (512, 256), (300, 256), (128, 128), (None, None)])
def test_styles_scale_with_the_content(runtime, photo, style_size, scaled):
    """At half size the styles are scaled by half too (strokes keep their size relative to the
    image), but not below 256 px, and a smaller style_size or None is kept."""
    big = _load("style/vangogh_starry_night.jpg", (600, 760))
    h, w = photo.shape[:2]
    preview = run(runtime, photo, big, method="adain", work_size=WORK, style_size=style_size)
    small = run(runtime, np.clip(resize(photo, 64, 96), 0, 1), big, method="adain", style_size=scaled)
    np.testing.assert_allclose(preview, np.clip(resize(small, h, w), 0, 1), atol=1e-4)


def test_work_size_at_or_above_the_content_size_changes_nothing(runtime, photo, painting):
    full = run(runtime, photo, painting, method="adain")
    for work in (192, 4096):
        np.testing.assert_array_equal(run(runtime, photo, painting, method="adain", work_size=work), full)


def test_work_size_keeps_alpha_masks_and_colour(runtime, photo, painting, painting2):
    h, w = photo.shape[:2]
    alpha = np.linspace(0, 1, h * w, dtype=np.float32).reshape(h, w, 1)
    rgba = np.concatenate([photo, alpha], axis=-1)
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1
    both = run(runtime, rgba, [painting, painting2], method="adain", masks=[left, 1 - left], work_size=WORK)
    np.testing.assert_array_equal(both[..., 3], alpha[..., 0])       # the content's own alpha
    # The masks are scaled with the content: the same as stylizing the scaled photo with scaled masks.
    small_masks = [np.clip(resize(m, 64, 96), 0, 1) for m in (left, 1 - left)]
    small = run(runtime, np.clip(resize(photo, 64, 96), 0, 1), [painting, painting2], method="adain",
                masks=small_masks)
    np.testing.assert_allclose(both[..., :3], np.clip(resize(small, h, w), 0, 1), atol=1e-4)
    # Colour preservation takes the full-size content's chroma, not the scaled one's.
    kept = run(runtime, photo, painting, method="adain", work_size=WORK, preserve_color=True)
    inside = (kept > 0.02).all(-1) & (kept < 0.98).all(-1)
    chroma = np.abs(rgb_to_yiq(kept)[..., 1:] - rgb_to_yiq(photo)[..., 1:])[inside]
    assert chroma.max() < 1e-3


def test_seamless_work_size_stays_tileable(runtime, tileable, painting):
    out = run(runtime, tileable, painting, method="adain", seamless=True, work_size=192)
    assert out.shape == tileable.shape
    for axis in (0, 1):
        assert wrap_ratio(out, axis) <= 1.2


@pytest.mark.parametrize("bad", [10, 3.5, True, "384"])
def test_bad_work_size_is_refused(runtime, photo, painting, bad):
    with pytest.raises(nst_core.StyleError, match="work_size"):
        run(runtime, photo, painting, method="adain", work_size=bad)


def test_cancel_with_work_size(runtime, photo, painting):
    with pytest.raises(nst_core.CancelledError):
        run(runtime, photo, painting, method="adain", work_size=WORK, cancel=lambda: True)
