"""nst_core/temporal.py: flows from the Vector pass, warping, validity and Coherence.

The Vector pass's conventions are measured in Blender (tests/blender/test_animation.py); here
the conversion, the warps and the coherence state are checked on sequences whose motion is known."""

from __future__ import annotations

import numpy as np
import pytest

import nst_core
from conftest import styles_for
from nst_core import metrics, temporal


def _vector(h, w, pre=(0.0, 0.0), post=(0.0, 0.0)):
    """A Vector pass for motion of (dx, dy) pixels per frame in image coordinates (y down),
    written the way Blender writes it (raster y up): (prev − cur, cur − next)."""
    v = np.zeros((h, w, 4), np.float32)
    v[..., 0], v[..., 1] = -pre[0], pre[1]
    v[..., 2], v[..., 3] = -post[0], post[1]
    return v


def test_flows_follow_blenders_vector_convention():
    v = _vector(4, 5, pre=(3.0, 2.0), post=(1.0, -4.0))    # came 3 right, 2 down; goes 1 right, 4 up
    backward, forward = temporal.flows(v)
    assert np.allclose(backward, [-3.0, -2.0]) and np.allclose(forward, [1.0, -4.0])
    backward3, forward3 = temporal.flows(v[..., :3])        # what Blender 4.x's compositor writes
    assert np.array_equal(backward3, backward) and np.allclose(forward3, [1.0])  # x alone
    with pytest.raises(nst_core.StyleError, match="four channels"):
        temporal.flows(np.zeros((4, 5, 2), np.float32))


def test_warp_moves_pixels_by_the_flow_bilinear_and_nearest():
    rng = np.random.default_rng(0)
    image = rng.random((20, 30, 3), dtype=np.float32)
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0], flow[..., 1] = -2.0, 1.0                 # p shows what was at p + (−2, 1)
    for nearest in (False, True):
        out, inside = temporal.warp(image, flow, nearest=nearest)
        assert np.array_equal(out[:-1, 2:], image[1:, :-2])
        assert inside[:-1, 2:].all() and not inside[-1].any() and not inside[:, :2].any()
    half = np.full((20, 30, 2), 0.5, np.float32)
    out, _ = temporal.warp(image, half)
    expected = (image[:-1, :-1] + image[1:, :-1] + image[:-1, 1:] + image[1:, 1:]) / 4
    assert np.allclose(out[:-1, :-1], expected, atol=1e-6)
    out, _ = temporal.warp(image, half, nearest=True)       # rint: 0.5 rounds to the even pixel
    assert np.isin(out[:-1, :-1, 0], image[..., 0]).all()


def _moving_square(t: int, h=40, w=60, size=10, speed=4):
    """A bright square moving right over a still textured background; its Vector pass."""
    rng = np.random.default_rng(1)
    frame = np.repeat(rng.random((h, w, 1), dtype=np.float32) * 0.5, 3, -1)
    x = 5 + speed * t
    frame[15:15 + size, x:x + size] = 1.0
    v = np.zeros((h, w, 4), np.float32)
    v[15:15 + size, x:x + size] = _vector(size, size, pre=(speed, 0), post=(speed, 0))
    depth = np.full((h, w), 10.0, np.float32)
    depth[15:15 + size, x:x + size] = 5.0
    return frame, v, depth


def test_valid_marks_what_the_moving_square_uncovers_and_nothing_else():
    _, v0, d0 = _moving_square(0)
    _, v1, d1 = _moving_square(1)
    backward, _ = temporal.flows(v1)
    _, forward0 = temporal.flows(v0)
    ok = temporal.valid(backward, forward0, d1, d0)
    uncovered = np.zeros(ok.shape, bool)
    uncovered[15:25, 5:9] = True                            # the background the square left
    assert not ok[uncovered].any()
    assert ok[~uncovered].all()
    # forward-backward consistency alone, and depth alone (Blender 4.x), find the same pixels
    assert np.array_equal(temporal.valid(backward, forward0) > 0, ~uncovered)
    assert np.array_equal(temporal.valid(backward, None, d1, d0) > 0, ~uncovered)


def test_strength_zero_is_the_per_frame_result(runtime, photo, painting):
    coherence = temporal.Coherence(0.0)
    v = _vector(*photo.shape[:2], pre=(1.0, 0.0))
    for _ in range(2):
        got = coherence.stylize(photo, painting, "adain", vector=v, runtime=runtime).image
        assert np.array_equal(got, nst_core.stylize(photo, painting, "adain", runtime=runtime).image)
    with pytest.raises(nst_core.StyleError, match="between 0 and 1"):
        temporal.Coherence(1.5)


def test_statistics_hook_sees_every_stage(runtime, photo, painting):
    seen = []

    def hook(key, m):
        seen.append(key)
        return m
    nst_core.stylize(photo[:64, :64], painting, "wct", runtime=runtime, statistics=hook)
    assert seen == [(k, "whole") for k in range(5)]


def _flicker_sequence(n=6):
    """The moving square with fresh noise on every frame, as an animated render seed gives."""
    rng = np.random.default_rng(2)
    frames, vectors, depths = [], [], []
    for t in range(n):
        f, v, d = _moving_square(t, h=64, w=96)
        frames.append(np.clip(f + rng.normal(0, 0.04, f.shape).astype(np.float32), 0, 1))
        vectors.append(v)
        depths.append(d)
    return frames, vectors, depths


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_coherence_lowers_flicker_for_every_method(runtime, painting, painting2, method):
    frames, vectors, depths = _flicker_sequence()
    style = styles_for(method, painting, painting2)[0]
    runs = {}
    for strength in (0.0, 1.0):
        coherence = temporal.Coherence(strength)
        runs[strength] = [coherence.stylize(f, style, method, vector=v, depth=d, runtime=runtime).image
                          for f, v, d in zip(frames, vectors, depths)]
    off = metrics.evaluate_frames(frames, runs[0.0], vectors, depths)
    on = metrics.evaluate_frames(frames, runs[1.0], vectors, depths)
    assert on["warping_error"] < 0.6 * off["warping_error"], (on, off)
    assert on["still_difference"] < 0.6 * off["still_difference"], (on, off)


@pytest.mark.parametrize("motion", ["object", "pan"])
def test_coherence_with_tiles_matches_one_tile(runtime, photo, painting, motion):
    """Statistics are global, the blend is per pixel and tiles lie on the networks' grid (a pan
    pads the frame onto it), so tiled frames stay seamless over time."""
    if motion == "object":
        frames, vectors, depths = _flicker_sequence(3)
    else:
        frames, vectors = _pan(photo, 3)
        depths = [None] * 3
    out = {}
    for tile in (None, 48):
        coherence = temporal.Coherence()
        out[tile] = [coherence.stylize(f, painting, "adain", vector=v, depth=d, tile_size=tile,
                                       runtime=runtime).image for f, v, d in zip(frames, vectors, depths)]
    for a, b in zip(out[None], out[48]):       # 48 px cores: 2×2 and 3×4 tiles
        assert np.abs(a - b).mean() < 0.005     # measured about 1e-4 (float16 between stages)


def test_blend_stays_inside_where(runtime):
    coherence = temporal.Coherence(1.0)
    first = np.zeros((8, 8, 3), np.float32)
    second = np.ones((8, 8, 3), np.float32)
    flow = np.zeros((8, 8, 2), np.float32)
    still = temporal.Motion(temporal.Sampler(flow), np.ones((8, 8), np.float32), flow)
    coherence.blend(first, still)
    where = np.zeros((8, 8), np.float32)
    where[:, :4] = 1
    out = coherence.blend(second, still, where=where)
    assert np.array_equal(out[:, 4:], second[:, 4:])
    assert np.allclose(out[:, :4], 1 - temporal.RESULT_BLEND["adain"][0])


@pytest.mark.parametrize("shape", [(37, 50, 8), (5, 9, 8), (64, 40, 16)])
def test_upsample_is_bilinear_between_the_cell_centres(shape):
    """Against np.interp along each axis: linear between the centres, the edge cells' values
    beyond them."""
    h, w, cell = shape
    cells = np.random.default_rng(h).random((-(-h // cell), -(-w // cell), 3), dtype=np.float32)
    out = temporal._upsample(cells, h, w, cell)
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
    out = temporal.match_contrast(blend, a)
    assert blend.std() < 0.75 * a.std()
    assert out.std() == pytest.approx(a.std(), rel=0.03)
    cells = lambda x: x.reshape(8, 8, 12, 8, 3).mean(axis=(1, 3))        # noqa: E731
    assert np.abs(cells(out) - cells(blend)).max() < 0.01
    # aligned strokes (a still surface) and more contrast than the reference stay as they are
    assert np.array_equal(temporal.match_contrast(a, a), a)
    assert np.array_equal(temporal.match_contrast(a, blend), a)
    for shape in ((1, 1, 3), (5, 7, 3), (9, 17, 3)):                     # smaller than a cell
        x = rng.random(shape, dtype=np.float32)
        assert np.array_equal(temporal.match_contrast(x, x), x)


def _pan(photo, n=5, speed=3):
    """A camera panning right over ``photo`` (the picture moves ``speed`` px left a frame), with
    the Vector passes Blender would write for it."""
    from nst_core.images import resize
    wide = resize(photo, photo.shape[0], photo.shape[1] + n * speed)
    w = photo.shape[1]
    frames = [np.ascontiguousarray(wide[:, speed * t:speed * t + w]) for t in range(n)]
    vectors = [_vector(*photo.shape[:2], pre=(-speed, 0.0), post=(-speed, 0.0)) for _ in range(n)]
    return frames, vectors


def test_align_follows_the_dominant_motion_onto_the_networks_grid():
    """Each frame of a pan is padded so that a surface lands where it did in the frame before,
    modulo PHASE; the result blend sees no motion there. A still camera is never padded, whatever
    moves in front of it."""
    h, w = 32, 48
    coherence = temporal.Coherence()
    offsets, carried = [], []
    for t in range(8):
        motion = coherence.motion(_vector(h, w, pre=(-2.6, 1.0), post=(-2.6, 1.0)))
        offsets.append(coherence.align(motion))
        carried.append(motion.carried if motion else None)
    # backward flow (2.6, −1): the picture's travel rounds to 3, 5, 8, 10, 13, 16 ... px in x
    assert offsets == [(0, 0), (3, 15), (5, 14), (8, 13), (10, 12), (13, 11), (0, 10), (2, 9)]
    assert carried[1:] == [(3, -1), (2, -1), (3, -1), (2, -1), (3, -1), (3, -1), (2, -1)]
    # each frame within half a pixel of where the grid puts it, so two frames within one
    assert float(motion.speed2().max()) < 1.0
    coherence = temporal.Coherence()
    for t in range(4):
        _, v, d = _moving_square(t)                   # the square is a quarter of the valid pixels at most
        assert coherence.align(coherence.motion(v, d)) == (0, 0)
    assert coherence.align(None) == (0, 0)


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_a_pan_keeps_its_strokes_on_the_picture(runtime, photo, painting, painting2, method, monkeypatch):
    """The networks pool to a stride of 8 to 16 px, so a picture moved by 3 px is painted with
    other strokes; padded onto the grid it was painted on, the pan flickers much less."""
    frames, vectors = _pan(photo)
    style = styles_for(method, painting, painting2)[0]
    flows = [temporal.flows(v)[0] for v in vectors[1:]]

    def run():
        coherence = temporal.Coherence()
        return [coherence.stylize(f, style, method, vector=v, runtime=runtime).image
                for f, v in zip(frames, vectors)]
    aligned = metrics.warping_error(run(), flows)
    monkeypatch.setattr(temporal.Coherence, "align", lambda self, motion: (0, 0))
    unaligned = metrics.warping_error(run(), flows)
    # measured ratios: StyleBank 0.07, AdaIN 0.25, WCT 0.58 (its whitening of the whole picture
    # still changes as the pan brings new content in)
    assert aligned < (0.75 if method == "wct" else 0.4) * unaligned, (aligned, unaligned)


def test_the_steps_give_the_same_pixels_on_any_number_of_threads(monkeypatch):
    """Motion, validity, the render filter and the result blend run in bands of rows on several
    threads; bands (with the rows their neighbourhood and contrast cells need) change nothing."""
    frames, vectors, depths = _flicker_sequence(4)
    rng = np.random.default_rng(5)
    strokes = [rng.random(frames[0].shape, dtype=np.float32) for _ in frames]

    def run(threads):
        monkeypatch.setattr(temporal, "THREADS", threads)
        coherence, out = temporal.Coherence(), []
        for f, v, d, s in zip(frames, vectors, depths, strokes):
            motion = coherence.motion(v, d)
            seen = coherence.filter_content(f, motion)
            coherence.align(motion)
            out += [seen, coherence.blend(0.5 * (seen + s), motion, method="stylebank")]
            out += [motion.validity, motion.sample(s)] if motion else []
        return out
    monkeypatch.setattr(temporal, "BAND_ROWS", 12)      # 64 rows: 3 bands, not a multiple of the cell
    one, three = run(1), run(3)
    assert len(one) == 14 and all(np.array_equal(a, b) for a, b in zip(one, three))
    # bands of at most BAND_PIXELS: more bands than threads, taken in turn
    monkeypatch.setattr(temporal, "BAND_PIXELS", 12 * frames[0].shape[1])
    monkeypatch.setattr(temporal, "BAND_ROWS", 4)
    many = run(2)
    assert all(np.array_equal(a, b) for a, b in zip(one, many))
