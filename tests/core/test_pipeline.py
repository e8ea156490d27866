"""nst_core/pipeline.py, the public stylize(): parity with torch references, masks, alpha and colour,
tiles within a memory budget (no seams, tiles agree), seamless textures, work size, progress,
cancel and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import nst_core
import reference
import torch_models as tm
from conftest import DEVICE, SCRIPTS, _load, real_pairs, styles_for
from nst_core import methods, metrics, tiling
from nst_core.color import rgb_to_yiq
from nst_core.images import resize

PIXEL_TOL = 2 / 255
WORK = 96       # the test photo is 128×192: the networks run at 64×96


def run(runtime, content, style, **kw):
    return nst_core.stylize(content, style, runtime=runtime, **kw).image


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_wct_matches_torch_reference(runtime, weights_dir, paddings, photo, painting, alpha):
    ours = run(runtime, photo, painting, method="wct", alpha=alpha)
    ref = reference.wct(weights_dir, photo, painting, alpha=alpha, padding=paddings["decoder4"])
    ref = photo + alpha * (ref - photo)     # below strength 1 the result is mixed with the photo
    assert np.abs(ours - ref).max() <= PIXEL_TOL


@pytest.mark.parametrize("transform", ["covariance", "moments"])
@pytest.mark.parametrize("decoder", ["decoder4", "adain_decoder4"])
def test_adain_matches_torch_reference(runtime, weights_dir, paddings, photo, painting, decoder, transform):
    path = weights_dir / "decoder4.pth" if decoder == "decoder4" else SCRIPTS / "trained" / "adain_decoder4.pth"
    torch_decoder = tm.Decoder(tm.load_state_dict(path), 4, paddings[decoder]).eval()
    ours = run(runtime, photo, painting, method="adain", decoder=decoder, transform=transform)
    ref = photo
    for _ in range(methods.AdaIN.PASSES):          # each pass paints on the one before's output
        ref = reference.adain(weights_dir, torch_decoder, ref, painting, transform=transform)
    assert methods.AdaIN.PASSES == 2 and np.abs(ours - ref).max() <= PIXEL_TOL


def test_adain_default_transform_is_covariance(runtime, photo, painting):
    np.testing.assert_array_equal(run(runtime, photo, painting, method="adain"),
                                  run(runtime, photo, painting, method="adain", transform="covariance"))


@pytest.mark.parametrize("method,transform,message", [
    ("adain", "sorted", "unknown transform 'sorted' for method 'adain'; expected one of covariance, moments"),
    ("wct", "moments", "transform= chooses AdaIN's feature transform; method 'wct' has none"),
])
def test_bad_transform_is_refused(runtime, photo, painting, method, transform, message):
    with pytest.raises(nst_core.StyleError, match=message):
        run(runtime, photo, painting, method=method, transform=transform)


def test_adain_uses_trained_decoder_by_default(runtime, photo, painting):
    result = nst_core.stylize(photo, painting, method="adain", runtime=runtime)
    assert result.models[-1] == "adain_decoder4"
    assert result.provider == {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}[DEVICE]


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_weights_one_zero_equal_first_style_alone(runtime, photo, painting, painting2, method):
    painting, painting2 = styles_for(method, painting, painting2)
    alone = run(runtime, photo, painting, method=method)
    mixed = run(runtime, photo, [painting, painting2], method=method, weights=[1, 0])
    half = run(runtime, photo, [painting, painting2], method=method, weights=[0.5, 0.5])
    np.testing.assert_array_equal(mixed, alone)
    assert np.abs(half - alone).mean() > 0.01   # the second style does matter when weighted


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_alpha_zero_gives_back_the_content(runtime, photo, painting, method):
    """Strength 0 is the content itself: before 2026-12-05 it was the decoders' reconstruction,
    which repainted the photo by about 26/255 (a white sky from AdaIN, WCT's smear). A little
    strength stays close to it; the slider mixes the stylization with the content by strength."""
    painting = styles_for(method, painting, None)[0]
    out = run(runtime, photo, painting, method=method, alpha=0.0)
    styled = run(runtime, photo, painting, method=method)
    assert np.abs(out - photo).max() <= 1 / 255
    rgba = np.concatenate([(photo * 255).astype(np.uint8),
                           np.full(photo.shape[:2] + (1,), 128, np.uint8)], -1)
    kept = run(runtime, rgba, painting, method=method, alpha=0.0)
    assert np.abs(kept * 255 - rgba).max() <= 0.5       # 8-bit in, the same values out, alpha too
    little = run(runtime, photo, painting, method=method, alpha=0.05)
    assert np.abs(little - photo).mean() < 0.2 * np.abs(styled - photo).mean()
    assert np.mean((out - photo) ** 2) < np.mean((styled - photo) ** 2) / 3


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_all_zero_mask_has_no_influence(runtime, photo, painting, painting2, method):
    painting, painting2 = styles_for(method, painting, painting2)
    alone = run(runtime, photo, painting, method=method)
    zero = np.zeros(photo.shape[:2], np.float32)
    masked = run(runtime, photo, [painting, painting2], method=method, masks=[None, zero])
    np.testing.assert_array_equal(masked, alone)


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_masks_give_each_region_its_style(runtime, photo, painting, painting2, method):
    painting, painting2 = styles_for(method, painting, painting2)
    h, w = photo.shape[:2]
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1
    a = run(runtime, photo, painting, method=method)
    b = run(runtime, photo, painting2, method=method)
    out = run(runtime, photo, [painting, painting2], method=method, masks=[left, 1 - left])
    inner_l, inner_r = slice(8, w // 2 - 24), slice(w // 2 + 24, w - 8)
    # each half is much closer to its own style's result than to the other one's
    for region, own, other in ((inner_l, a, b), (inner_r, b, a)):
        d_own = np.abs(out[:, region] - own[:, region]).mean()
        d_other = np.abs(out[:, region] - other[:, region]).mean()
        assert d_own < d_other / 2


def test_single_pixel_mask_is_finite(runtime, photo, painting):
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[40, 50] = 1
    out = run(runtime, photo, painting, method="wct", masks=[mask])
    assert np.isfinite(out).all()


def test_flat_black_style_is_finite(runtime, photo):
    out = run(runtime, photo, np.zeros((64, 64, 3), np.float32), method="wct")
    assert np.isfinite(out).all() and out.max() < 0.2


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_preserve_color_keeps_content_chroma(runtime, photo, painting, method):
    painting = styles_for(method, painting, None)[0]
    plain = run(runtime, photo, painting, method=method)
    kept = run(runtime, photo, painting, method=method, preserve_color=True)
    chroma = lambda im: rgb_to_yiq(im)[..., 1:]  # noqa: E731
    err_kept = np.abs(chroma(kept) - chroma(photo)).mean()
    err_plain = np.abs(chroma(plain) - chroma(photo)).mean()
    assert err_kept < 0.01 < err_plain
    # the stylized luminance is kept
    assert np.abs(rgb_to_yiq(kept)[..., 0] - rgb_to_yiq(plain)[..., 0]).mean() < 0.02


@pytest.mark.parametrize("method", nst_core.METHODS)
@pytest.mark.parametrize("size", [(37, 53), (1, 1), (5, 200), (127, 65)])
def test_odd_sizes_come_back_at_the_same_size(runtime, painting, method, size):
    painting = styles_for(method, painting, None)[0]
    rng = np.random.default_rng(1)
    content = rng.random((*size, 3), dtype=np.float32)
    out = run(runtime, content, painting, method=method)
    assert out.shape == (*size, 3)


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_alpha_channel_passes_through(runtime, photo, painting, method):
    painting = styles_for(method, painting, None)[0]
    rgba = np.concatenate([photo, np.linspace(0, 1, photo.size // 3, dtype=np.float32)
                           .reshape(photo.shape[:2])[..., None]], axis=-1)
    out = run(runtime, rgba, painting, method=method)
    assert out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_and_grayscale_inputs(runtime, painting, dtype):
    gray = (np.arange(48 * 64).reshape(48, 64) % 256).astype(dtype)
    out = run(runtime, gray, painting, method="adain")
    assert out.shape == (48, 64, 3) and out.dtype == np.float32


def _stat_distance(runtime, a, b, level=4):
    fa = runtime.session(f"encoder{level}")(nst_core.images.to_nchw(a))[0].reshape(128, -1)
    fb = runtime.session(f"encoder{level}")(nst_core.images.to_nchw(b))[0].reshape(128, -1)
    return np.linalg.norm(fa.mean(1) - fb.mean(1)) + np.linalg.norm(fa.std(1) - fb.std(1))


def test_wct_really_stylizes_real_photos(runtime):
    for content, style in real_pairs(4):
        out = run(runtime, content, style, method="wct")
        before, after = _stat_distance(runtime, content, style), _stat_distance(runtime, out, style)
        assert after < before / 2, (before, after)


def test_deterministic(runtime, photo, painting):
    np.testing.assert_array_equal(run(runtime, photo, painting), run(runtime, photo, painting))


def test_progress_and_cancel(runtime, photo, painting):
    seen = []
    nst_core.stylize(photo, painting, runtime=runtime, progress=lambda f, m: seen.append(f))
    assert seen[0] == 0 and seen[-1] == 1.0 and seen == sorted(seen)
    calls = []
    def cancel():
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(nst_core.CancelledError):
        nst_core.stylize(photo, painting, runtime=runtime, cancel=cancel)


@pytest.mark.parametrize("bad, message", [
    (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
    (np.full((8, 8, 3), np.inf, np.float32), "NaN or infinite"),
    (np.zeros((0, 8, 3), np.float32), "empty"),
    (np.zeros((8, 8, 5), np.float32), "shape"),
    (np.zeros((8, 8, 3), bool), "numeric"),
])
def test_bad_arrays_are_refused(runtime, painting, bad, message):
    with pytest.raises(nst_core.ImageError, match=message):
        nst_core.stylize(bad, painting, runtime=runtime)
    with pytest.raises(nst_core.ImageError, match=message):
        nst_core.stylize(painting, bad, runtime=runtime)


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "cyclegan"}, "unknown method"),
    ({"weights": [1, -1]}, "non-negative"),
    ({"weights": [1]}, "2 styles"),
    ({"alpha": 1.5}, "alpha"),
    ({"levels": (6,)}, "levels"),
    ({"masks": [np.ones((3, 3))]}, "masks for 2 styles"),
])
def test_bad_arguments_are_refused(runtime, photo, painting, painting2, kwargs, message):
    with pytest.raises(nst_core.StyleError, match=message):
        nst_core.stylize(photo, [painting, painting2], runtime=runtime, **kwargs)


def test_mask_size_mismatch(runtime, photo, painting):
    with pytest.raises(nst_core.ImageError, match="does not match"):
        nst_core.stylize(photo, painting, masks=[np.ones((3, 3))], runtime=runtime)


# -- tiles within a memory budget, seamless textures -------------------------------------------

def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def column_seam_ratio(image: np.ndarray, borders: list[int]) -> float:
    """Mean |difference| between the columns on both sides of each tile border, over that of the
    column pairs inside tiles at the same phase of the networks' 16-pixel grid (tile borders lie
    on that grid, where the untiled result already differs more: 1.23× on the test photo's rows)."""
    d = np.abs(np.diff(image, axis=1)).mean(axis=(0, 2))
    at = np.asarray(borders) - 1
    inside = np.setdiff1d(np.arange(tiling.ALIGN - 1, len(d), tiling.ALIGN), at)
    return float(d[at].mean() / d[inside].mean())


def wrap_ratio(image: np.ndarray, axis: int, period: int = 1) -> float:
    """Difference between the last and the first column (axis 1) or row (axis 0), over the mean
    neighbour difference inside the image. With ``period`` (an image scaled up by that whole
    factor), only the inside pairs at the wrap pair's phase of the scaling count: after a 2×
    bicubic upscale, pairs that straddle a source pixel differ less than pairs between two, and
    the wrap pair is always of the second kind."""
    d = np.abs(np.diff(image, axis=axis)).mean(axis=tuple(a for a in range(image.ndim) if a != axis))
    first, last = np.take(image, 0, axis=axis), np.take(image, -1, axis=axis)
    return float(np.abs(last - first).mean() / d[(image.shape[axis] - 1) % period::period].mean())


@pytest.fixture(scope="module")
def photo_1024():
    return _load("content/kodak_kodim23.png", (1024, 1024))


@pytest.mark.parametrize("method", ["wct", "adain"])
def test_tiled_matches_untiled_without_seams(runtime, photo_1024, painting, method):
    full = run(runtime, photo_1024, painting, method=method)
    tiled = run(runtime, photo_1024, painting, method=method, tile_size=256)
    assert tiled.dtype == np.float32          # accumulated in float16, handed back as float32
    assert psnr(full, tiled) >= 35
    borders = [256, 512, 768]
    assert column_seam_ratio(tiled, borders) <= 1.2
    assert column_seam_ratio(tiled.transpose(1, 0, 2), borders) <= 1.2


def test_tiled_masks_alpha_and_colour(runtime, photo, painting, painting2):
    h, w = photo.shape[:2]
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1
    alpha = np.linspace(0, 1, h * w, dtype=np.float32).reshape(h, w, 1)
    rgba = np.concatenate([photo, alpha], axis=-1)
    kw = dict(method="wct", masks=[left, 1 - left], preserve_color=True)
    full = run(runtime, rgba, [painting, painting2], **kw)
    tiled = run(runtime, rgba, [painting, painting2], tile_size=64, **kw)
    assert len(tiling.grid(h, w, 64)) > 1
    assert psnr(full[..., :3], tiled[..., :3]) >= 35
    np.testing.assert_array_equal(tiled[..., 3], alpha[..., 0])


def test_cancel_between_tiles_returns_nothing(runtime, photo, painting):
    seen = []

    def cancel():
        return len(seen) >= 3

    with pytest.raises(nst_core.CancelledError):
        run(runtime, photo, painting, method="adain", tile_size=64,
            progress=lambda f, m: seen.append(m), cancel=cancel)
    assert any("tile" in m for m in seen)


@pytest.fixture(scope="module")
def tileable():
    """A real tileable texture (gravel, its wrap-around difference is like its inside ones)."""
    image = _load("texture/gravel3_2K_Color.jpg", (256, 384))
    assert wrap_ratio(image, 0) < 1.2 and wrap_ratio(image, 1) < 1.2
    return image


@pytest.mark.parametrize("method", ["wct", "adain"])
def test_seamless_keeps_a_tileable_texture_tileable(runtime, tileable, painting, method):
    plain = run(runtime, tileable, painting, method=method)
    seamless = run(runtime, tileable, painting, method=method, seamless=True)
    for axis in (0, 1):
        assert wrap_ratio(seamless, axis) <= 1.2
        assert wrap_ratio(plain, axis) >= 1.8       # without the option the seam is clear


def test_seamless_with_several_tiles(runtime, tileable, painting):
    out = run(runtime, tileable, painting, method="adain", seamless=True, tile_size=128)
    for axis in (0, 1):
        assert wrap_ratio(out, axis) <= 1.2
    assert column_seam_ratio(out, [128, 256]) <= 1.2


# -- work size: run small, scale up ------------------------------------------------------------

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
    # 512 px photos at work size 384 AdaIN keeps 0.56 of its 0.64, docs/engine.md).
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
    assert out.shape == tileable.shape          # 384×256 from 192×128: scaled up 2×
    for axis in (0, 1):
        assert wrap_ratio(out, axis, period=2) <= 1.2


@pytest.mark.parametrize("bad", [10, 3.5, True, "384"])
def test_bad_work_size_is_refused(runtime, photo, painting, bad):
    with pytest.raises(nst_core.StyleError, match="work_size"):
        run(runtime, photo, painting, method="adain", work_size=bad)


def test_cancel_with_work_size(runtime, photo, painting):
    with pytest.raises(nst_core.CancelledError):
        run(runtime, photo, painting, method="adain", work_size=WORK, cancel=lambda: True)


@pytest.mark.parametrize("method", nst_core.METHODS)
@pytest.mark.parametrize("size", [(2, 2), (4, 4), (8, 8)])
def test_tiny_images_are_stylized_not_flat(runtime, painting, method, size):
    """A tiny content (a 1×1 render is 4×4 in Blender) runs scaled up to MIN_CONTENT and comes
    back at its size: no eigen-decomposition failure, no overflow, not flat black or white."""
    import warnings

    photo = np.clip(resize(_load("content/tubingen.jpg", (96, 128)), *size), 0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = run(runtime, photo, styles_for(method, painting, None)[0], method=method)
    assert out.shape == (*size, 3) and np.isfinite(out).all()
    assert 0.05 < out.mean() < 0.95 and out.std() > 0.01


@pytest.mark.parametrize("method", ["wct", "adain"])
@pytest.mark.parametrize("shape", [(1, 1, 3), (64, 64, 3)])
def test_a_flat_content_takes_the_styles_colour(runtime, painting, method, shape):
    """A 1×1 or one-colour image has no structure to paint: it takes the style's average colour
    (before, whitening blew rounding noise up: white, or magenta for WCT)."""
    out = run(runtime, np.full(shape, 0.6, np.float32), painting, method=method)
    assert out.max() < 0.95 and np.isfinite(out).all()
    assert np.abs(out.mean(axis=(0, 1)) - painting.mean(axis=(0, 1))).max() < 0.15, out.mean(axis=(0, 1))
