"""nst_core/filters.py: bilinear upsampling from cells and local contrast matching."""

from __future__ import annotations

import numpy as np
import pytest

from nst_core import filters


@pytest.mark.parametrize("shape", [(37, 50, 8), (5, 9, 8), (64, 40, 16)])
def test_upsample_is_bilinear_between_the_cell_centres(shape):
    """Against np.interp along each axis: linear between the centres, the edge cells' values
    beyond them."""
    h, w, cell = shape
    cells = np.random.default_rng(h).random((-(-h // cell), -(-w // cell), 3), dtype=np.float32)
    out = filters.upsample(cells, h, w, cell)
    cy, cx = (np.arange(cells.shape[0]) + 0.5) * cell - 0.5, (np.arange(cells.shape[1]) + 0.5) * cell - 0.5
    across = np.stack([[np.interp(np.arange(w), cx, row[:, k]) for k in range(3)] for row in cells])
    direct = np.stack([[np.interp(np.arange(h), cy, across[:, k, x]) for k in range(3)]
                       for x in range(w)]).transpose(2, 0, 1)
    assert out.shape == (h, w, 3)
    np.testing.assert_allclose(out, direct, atol=2e-6)


def test_match_contrast_gives_a_blend_of_two_patterns_its_contrast_back():
    """The average of two independent patterns has about 1/√2 of their contrast; matching it to
    one of them restores the local standard deviation and keeps the local mean."""
    rng = np.random.default_rng(4)
    a, b = (rng.random((64, 96, 3), dtype=np.float32) * 0.5 + 0.25 for _ in range(2))
    blend = (a + b) / 2
    out = filters.match_contrast(blend, a)
    assert blend.std() < 0.75 * a.std()
    assert out.std() == pytest.approx(a.std(), rel=0.03)
    cells = lambda x: x.reshape(8, 8, 12, 8, 3).mean(axis=(1, 3))        # noqa: E731
    assert np.abs(cells(out) - cells(blend)).max() < 0.01
    # aligned strokes (a still surface) and more contrast than the reference stay as they are
    assert np.array_equal(filters.match_contrast(a, a), a)
    assert np.array_equal(filters.match_contrast(a, blend), a)
    for shape in ((1, 1, 3), (5, 7, 3), (9, 17, 3)):                     # smaller than a cell
        x = rng.random(shape, dtype=np.float32)
        assert np.array_equal(filters.match_contrast(x, x), x)


def test_dissolve_mixes_two_paintings_without_washing_them_out():
    """A farm's two chunks where they overlap (docs/farm.md): the mix moves from one painting
    to the other by ``w``, keeps the strokes' contrast (a plain mix halfway has about 1/√2 of
    it), leaves the pixels the two share exactly, and an OpenEXR's highlights as they were."""
    rng = np.random.default_rng(7)
    a, b = (rng.random((64, 96, 4), dtype=np.float32) * 0.5 + 0.25 for _ in range(2))
    a[..., 3] = b[..., 3] = 1.0
    b[:, :32] = a[:, :32]                           # a part both chunks painted alike
    a[:4, :4, :3] = b[:4, :4, :3] = 7.5             # a highlight there (scene-linear)
    assert np.array_equal(filters.dissolve(a, b, 0.0), a)
    assert np.array_equal(filters.dissolve(a, b, 1.0), b)
    half = filters.dissolve(a, b, 0.5)
    assert np.array_equal(half[:, :32], a[:, :32])
    plain = (a + b)[:, 32:, :3] / 2
    assert plain.std() < 0.75 * b[:, 32:, :3].std()
    assert half[:, 32:, :3].std() == pytest.approx(b[:, 32:, :3].std(), rel=0.05)
    cells = lambda x: x.reshape(8, 8, 8, 8, 3).mean(axis=(1, 3))        # noqa: E731
    assert np.abs(cells(half[:, 32:, :3]) - cells(plain)).max() < 0.01  # the local mean: the mix
    near_a = filters.dissolve(a, b, 0.25)[:, 32:, :3]
    assert np.abs(near_a - a[:, 32:, :3]).mean() < np.abs(near_a - b[:, 32:, :3]).mean()
    with pytest.raises(ValueError, match="dissolve"):
        filters.dissolve(a, b[:10], 0.5)


@pytest.mark.parametrize("radius", [0, 1, 3, 7, 40])
def test_grow_is_a_square_dilation(radius):
    """Against the direct definition: a pixel is in the grown mask if any pixel of the mask is
    within ``radius`` along both axes."""
    mask = np.random.default_rng(radius).random((23, 31)) > 0.97
    ys, xs = np.nonzero(mask)
    yy, xx = np.mgrid[:23, :31]
    direct = np.zeros_like(mask)
    for y, x in zip(ys, xs):
        direct |= (np.abs(yy - y) <= radius) & (np.abs(xx - x) <= radius)
    assert np.array_equal(filters.grow(mask, radius), direct)


def test_box_blur_is_the_mean_over_the_square_with_edges_repeated():
    image = np.random.default_rng(5).random((17, 26), dtype=np.float32)
    r = 3
    padded = np.pad(image, r, mode="edge")
    direct = np.array([[padded[y:y + 2 * r + 1, x:x + 2 * r + 1].mean() for x in range(26)]
                       for y in range(17)])
    np.testing.assert_allclose(filters.box_blur(image, r), direct, atol=1e-6)


def _disc(h, w, cx, cy, radius, supersample=8):
    """The share of each pixel a disc covers (as a renderer's antialiasing averages it)."""
    s = (np.arange(supersample) + 0.5) / supersample
    y = np.arange(h)[:, None, None, None] + s[None, None, :, None]
    x = np.arange(w)[None, :, None, None] + s[None, None, None, :]
    return ((x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2).mean((2, 3)).astype(np.float32)


def test_coverage_reads_an_antialiased_edge_from_the_render_and_the_set_behind():
    """A disc of one colour over a textured set, antialiased: on the disc's edge pixels (its own
    pixels beside one outside) the coverage is the share of the pixel the disc covers, to
    within 0.02; where the disc is the colour of the set behind it, nothing can be told: 1."""
    h, w = 40, 50
    covered = _disc(h, w, 24.3, 19.6, 11.2)
    rng = np.random.default_rng(0)
    set_ = rng.random((h, w, 3), dtype=np.float32) * 0.3 + 0.1
    colour = np.array([0.9, 0.8, 0.2], np.float32)
    rgb = covered[..., None] * colour + (1 - covered[..., None]) * set_
    inside = covered >= 0.5
    (r, c), edge, alpha = filters.coverage(rgb, set_, inside)
    assert edge.sum() > 40 and np.array_equal(edge, (inside & filters.grow(~inside, 1))[r, c])
    assert np.abs(alpha[edge] - covered[r, c][edge]).max() < 0.02
    grey = np.full((h, w, 3), 0.5, np.float32)
    assert filters.coverage(grey, grey, inside)[2][edge].min() == 1.0
    assert filters.coverage(rgb, set_, np.zeros((h, w), bool)) is None


def test_shading_tells_a_shadow_from_a_change_of_colour():
    """A textured set darkened to 0.5 in every channel is a shading, its factors 0.5; one whose
    red alone falls, one that grows lighter, a grey object with a texture of its own as dark on
    average, and a set too dark to tell are not."""
    rng = np.random.default_rng(2)
    backdrop = rng.random((20, 30, 3), dtype=np.float32) * 0.6 + 0.2
    backdrop[..., 1:] = backdrop[..., :1]                       # (grey, textured)
    where = np.zeros((20, 30), bool)
    where[5:15, 5:25] = True
    other = backdrop[::-1, ::-1] * np.float32(0.5)              # another texture, as dark
    cases = ((backdrop * np.float32(0.5), backdrop, True),
             (backdrop * np.float32([0.3, 1, 1]), backdrop, False),
             (backdrop * np.float32(1.3), backdrop, False),
             (other, backdrop, False),
             (backdrop * np.float32(0.025), backdrop * np.float32(0.05), False))
    for rgb, b, shaded in cases:
        got = filters.shading(rgb, b, filters.box_blur(rgb - b, 2), where, 2)
        assert (got is not None and got[1].sum() > where.sum() / 2) == shaded
        if shaded:
            (r, c), at, factor = got
            assert at.sum() == where.sum() and np.allclose(factor[at], 0.5, atol=1e-4)


def test_a_narrow_shadow_is_as_dark_as_the_render():
    """A shadow 3 px wide (a small object's, at a low resolution) on a textured set: each of
    its pixels taken for a shading is darkened by its own ratio, 0.4, not by the 5×5
    average's (0.5-0.8 there: a pale smudge where the render has a crisp dark shadow, an
    artist trial); the set beside it, taken in with the average, is not darkened."""
    rng = np.random.default_rng(5)
    backdrop = rng.random((20, 30, 3), dtype=np.float32) * 0.4 + 0.4
    rgb = backdrop.copy()
    rgb[4:16, 10:13] *= np.float32(0.4)
    (r, c), at, factor = filters.shading(rgb, backdrop, filters.box_blur(rgb - backdrop, 2),
                                         np.ones((20, 30), bool), 2)
    full, taken = np.ones((20, 30, 3), np.float32), np.zeros((20, 30), bool)
    full[r, c][at], taken[r, c] = factor[at], at
    stripe = np.zeros((20, 30), bool)
    stripe[6:14, 10:13] = True
    assert taken[6:14, 10].all() and taken[6:14, 12].all()
    assert np.abs(full[stripe & taken] - 0.4).max() < 0.02
    beside = np.zeros((20, 30), bool)
    beside[6:14, 7:10] = beside[6:14, 13:16] = True
    assert np.abs(full[beside] - 1.0).max() < 0.03     # (the tint of the average's colours)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parts_with_are_the_8_connected_parts_holding_that_share_of_seeds(seed):
    """Against a flood fill of each 8-connected part (a breadth-first search): the parts of which
    at least the share are seeds, whole, and nothing else; none past the most runs."""
    rng = np.random.default_rng(seed)
    mask = rng.random((40, 60)) > 0.55
    seeds = mask & (rng.random(mask.shape) > 0.8)
    want, label = np.zeros_like(mask), np.zeros(mask.shape, int)
    for start in zip(*np.nonzero(mask)):
        if label[start]:
            continue
        label[start], part, todo = 1, [start], [start]
        while todo:
            y, x = todo.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    q = (y + dy, x + dx)
                    if 0 <= q[0] < 40 and 0 <= q[1] < 60 and mask[q] and not label[q]:
                        label[q] = 1
                        part.append(q)
                        todo.append(q)
        ys, xs = np.array(part).T
        if seeds[ys, xs].sum() >= 0.3 * len(part):
            want[ys, xs] = True
    got = filters.parts_with(mask, seeds, 0.3)
    assert want.any() and (mask & ~want).any() and np.array_equal(got, want)
    assert not filters.parts_with(mask, seeds, 0.3, most=10).any()
