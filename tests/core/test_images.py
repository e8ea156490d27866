"""Image files in and out: formats accepted, bad files refused with a clear ImageError."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nst_core


def _write(tmp_path, name, array, mode=None):
    path = tmp_path / name
    Image.fromarray(array, mode) if mode else Image.fromarray(array)
    (Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)).save(path)
    return path


def test_rgb_roundtrip(tmp_path):
    rgb = (np.arange(20 * 30 * 3) % 256).astype(np.uint8).reshape(20, 30, 3)
    path = _write(tmp_path, "a.png", rgb)
    img = nst_core.load_image(path)
    assert img.shape == (20, 30, 3) and img.dtype == np.float32
    np.testing.assert_allclose(img, rgb / 255, atol=1e-6)
    out = nst_core.save_image(tmp_path / "b.png", img)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), rgb)


@pytest.mark.parametrize("mode, channels", [("L", 3), ("P", 3), ("LA", 4), ("RGBA", 4), ("CMYK", 3)])
def test_modes_are_converted(tmp_path, mode, channels):
    rgb = (np.random.default_rng(0).random((16, 24, 3)) * 255).astype(np.uint8)
    path = tmp_path / ("a.jpg" if mode == "CMYK" else "a.png")
    Image.fromarray(rgb).convert(mode).save(path)
    img = nst_core.load_image(path)
    assert img.shape == (16, 24, channels) and 0 <= img.min() and img.max() <= 1


def test_sixteen_bit_grayscale(tmp_path):
    data = np.linspace(0, 65535, 16 * 16).astype(np.uint16).reshape(16, 16)
    path = tmp_path / "a.png"
    Image.fromarray(data).save(path)
    img = nst_core.load_image(path)
    assert img.max() == pytest.approx(1.0) and img.min() == 0
    # finer than 8 bits survives
    assert len(np.unique(img)) > 200


def test_truncated_file(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 100).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(nst_core.ImageError, match="truncated"):
        nst_core.load_image(path)


@pytest.mark.parametrize("content", [b"", b"this is not an image\n" * 10])
def test_non_image_and_empty_files(tmp_path, content):
    path = tmp_path / "a.png"
    path.write_bytes(content)
    with pytest.raises(nst_core.ImageError, match="not an image"):
        nst_core.load_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(nst_core.ImageError, match="no such file"):
        nst_core.load_image(tmp_path / "nope.png")


def test_zero_size_array_refused():
    with pytest.raises(nst_core.ImageError, match="empty"):
        nst_core.images.check_array(np.zeros((10, 0, 3), np.float32))


def _pil_resize(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """The whole image resized at once, channel by channel, by PIL itself."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(x[..., c])).resize(
        (w, h), Image.Resampling.BICUBIC)) for c in range(x.shape[2])], axis=2)


@pytest.mark.parametrize("src, dst", [((40, 30), (2000, 1500)), ((3000, 2000), (60, 40)),
                                      ((1200, 900), (1100, 1000))])
def test_resize_in_bands_equals_one_resize_of_the_whole_image(src, dst):
    """resize works in bands of rows (several here: over 1 Mpx out, or over 4 Mpx read) and
    still gives PIL's resize of the whole image. Not bit for bit: PIL takes a band's box in
    float32, which moves filter centres by ~1e-5 px (3e-5 in value on this noise, the worst
    case for it; bands misplaced by 0.3 px fail this test)."""
    from nst_core.images import resize

    x = np.random.default_rng(1).random((*src, 3), dtype=np.float32)
    np.testing.assert_allclose(resize(x, *dst), _pil_resize(x, *dst), atol=1e-4)


def test_resize_prepares_each_band():
    """prepare runs on bands of source rows: 8-bit RGBA in, the same as resizing its float RGB."""
    from nst_core.images import resize, to_rgb

    x = np.random.default_rng(2).integers(0, 256, (1500, 1100, 4), dtype=np.uint8)
    got = resize(x, 300, 220, prepare=to_rgb)
    assert got.shape == (300, 220, 3)
    np.testing.assert_allclose(got, _pil_resize(to_rgb(x), 300, 220), atol=2e-5)


@pytest.mark.parametrize("size", [(40, 60), (250, 375), (1000, 1500)])
def test_resize_wrap_is_the_resize_of_the_tiled_image(size):
    """With wrap=True an image is one period of a tiling: its resize equals the middle period of
    the resized 3×3 tiling, down and up, so a tileable texture stays tileable."""
    from nst_core.images import resize

    x = np.random.default_rng(0).random((100, 150, 3), dtype=np.float32)
    h, w = size
    wrapped = resize(x, h, w, wrap=True)
    tiled = _pil_resize(np.tile(x, (3, 3, 1)), 3 * h, 3 * w)[h:2 * h, w:2 * w]
    np.testing.assert_allclose(wrapped, tiled, atol=1e-5)
    plain = resize(x, h, w)
    assert np.abs(plain[0] - tiled[0]).max() > 0.01         # without wrap the borders differ
    np.testing.assert_allclose(plain[h // 4:-h // 4, w // 4:-w // 4],
                               tiled[h // 4:-h // 4, w // 4:-w // 4], atol=1e-5)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_huge_style_image_is_decoded_small(tmp_path, suffix):
    """A 10000² style image was decoded at full size (8 s, +2.2 GB) for styles that run at 512
    px: with max_side it comes back at that long side (JPEG decoded at a reduced size), the same
    picture."""
    y, x = np.mgrid[0:3000, 0:4500]
    big = np.stack([x / 4500, y / 3000, 0.5 + 0 * x], -1)
    path = tmp_path / f"big{suffix}"
    Image.fromarray((big * 255).astype(np.uint8)).save(path)
    small = nst_core.load_image(path, max_side=1000)
    assert small.shape == (667, 1000, 3)
    assert np.abs(small.mean(axis=(0, 1)) - big.mean(axis=(0, 1))).max() < 0.01
    assert nst_core.load_image(path, max_side=5000).shape == (3000, 4500, 3)     # not enlarged
