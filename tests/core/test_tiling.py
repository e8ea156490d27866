"""Tiling within a memory budget and seamless textures: tiles agree, no seams, wrap-around holds."""

from __future__ import annotations

import numpy as np
import pytest

import nst_core
from conftest import _load
from nst_core import pipeline, tiling


def run(runtime, content, style, **kw):
    return nst_core.stylize(content, style, runtime=runtime, **kw).image


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


def wrap_ratio(image: np.ndarray, axis: int) -> float:
    """Difference between the last and the first column (axis 1) or row (axis 0), over the mean
    neighbour difference inside the image."""
    inside = np.abs(np.diff(image, axis=axis)).mean()
    first, last = np.take(image, 0, axis=axis), np.take(image, -1, axis=axis)
    return float(np.abs(last - first).mean() / inside)


@pytest.mark.parametrize("n,core,wrap", [(1000, 256, False), (1000, 256, True), (1024, 512, False),
                                         (530, 512, False), (100, 256, True), (17, 64, False)])
def test_blend_weights_are_a_partition_of_unity(n, core, wrap):
    total = np.zeros(n)
    previous_stop = 0
    for span in tiling.spans(n, core, wrap):
        assert span.start == previous_stop and span.stop > span.start   # cores partition the axis
        previous_stop = span.stop
        assert len(span.read) % tiling.ALIGN == 0 and len(span.read) >= tiling.MIN_READ
        assert span.start % tiling.ALIGN == 0        # every tile sees the whole image's pooling grid
        assert len(np.unique(span.out)) == len(span.out)
        assert np.array_equal(span.read[span.halo], span.start)
        # what a tile writes lies inside what it reads, at the same image positions
        assert np.array_equal(span.read[span.out_offset:span.out_offset + len(span.out)], span.out)
        np.add.at(total, span.out, span.weight)
    assert previous_stop == n
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_border_tiles_read_no_mirrored_halo():
    """Without wrap, the first tile starts at 0 and the last ends where the untiled padding ends."""
    first, *_, last = tiling.spans(1000, 256)
    assert first.read[0] == 0 and first.halo == 0
    assert len(last.read) - last.halo == 1008 - last.start       # padded to 1008 like untiled
    assert np.array_equal(last.read[-9:], [999, 999, 998, 997, 996, 995, 994, 993, 992])
    wrapped = tiling.spans(1000, 256, wrap=True)[0]
    assert wrapped.read[0] == 1000 - tiling.HALO       # seamless: context from the far side


def test_budget_decides_the_tiles():
    whole, dtype, _ = tiling.plan((1024, 1024), 3, 0, 2 << 30, None, False)
    assert len(whole) == 1 and dtype == np.float32
    tiles, dtype, cache = tiling.plan((8192, 8192), 3, 8192 * 8192 * 3, 2 << 30, None, False)
    assert len(tiles) > 1 and dtype == np.float16
    read = max(t.read_shape[0] * t.read_shape[1] for t in tiles)
    buffers = 8192 * 8192 * (3 + 2 * 3 + 4 * 3) + tiling.BASE_BYTES + cache
    assert buffers + read * tiling.TILE_BYTES_PER_PIXEL <= 2 << 30
    small, _, _ = tiling.plan((8192, 8192), 3, 8192 * 8192 * 3, 1 << 30, None, False)
    assert len(small) > len(tiles)       # a smaller budget gives more, smaller tiles


def test_gpu_budget_counts_each_methods_sessions():
    # On CUDA every cached session keeps its arena: WCT's ten networks need ~4x AdaIN's memory.
    budget = 24 << 30
    per_px = tiling.GPU_BYTES_PER_PIXEL
    adain, _, _ = tiling.plan((4096, 4096), 3, 0, budget, None, False, per_px["adain"])
    wct, _, _ = tiling.plan((4096, 4096), 3, 0, budget, None, False, per_px["wct"])
    assert len(adain) == 1 and len(wct) > 1
    read = max(t.read_shape[0] * t.read_shape[1] for t in wct)
    assert read * per_px["wct"] <= budget
    odd, _, _ = tiling.plan((1080, 1920), 3, 0, 2 << 30, None, False)
    assert len(odd) == 1                 # sides off the 16-pixel grid still give one tile


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
