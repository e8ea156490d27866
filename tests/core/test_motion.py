"""nst_core/motion.py: flows from Blender's Vector pass, warping and validity."""

from __future__ import annotations

import numpy as np
import pytest

import nst_core
from nst_core import motion
from test_temporal import _moving_square, _vector


def test_flows_follow_blenders_vector_convention():
    v = _vector(4, 5, pre=(3.0, 2.0), post=(1.0, -4.0))    # came 3 right, 2 down; goes 1 right, 4 up
    backward, forward = motion.flows(v)
    assert np.allclose(backward, [-3.0, -2.0]) and np.allclose(forward, [1.0, -4.0])
    backward3, forward3 = motion.flows(v[..., :3])        # what Blender 4.x's compositor writes
    assert np.array_equal(backward3, backward) and np.allclose(forward3, [1.0])  # x alone
    with pytest.raises(nst_core.StyleError, match="four channels"):
        motion.flows(np.zeros((4, 5, 2), np.float32))


def test_warp_moves_pixels_by_the_flow_bilinear_and_nearest():
    rng = np.random.default_rng(0)
    image = rng.random((20, 30, 3), dtype=np.float32)
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0], flow[..., 1] = -2.0, 1.0                 # p shows what was at p + (−2, 1)
    for nearest in (False, True):
        out, inside = motion.warp(image, flow, nearest=nearest)
        assert np.array_equal(out[:-1, 2:], image[1:, :-2])
        assert inside[:-1, 2:].all() and not inside[-1].any() and not inside[:, :2].any()
    half = np.full((20, 30, 2), 0.5, np.float32)
    out, _ = motion.warp(image, half)
    expected = (image[:-1, :-1] + image[1:, :-1] + image[:-1, 1:] + image[1:, 1:]) / 4
    assert np.allclose(out[:-1, :-1], expected, atol=1e-6)
    out, _ = motion.warp(image, half, nearest=True)       # rint: 0.5 rounds to the even pixel
    assert np.isin(out[:-1, :-1, 0], image[..., 0]).all()


def test_a_sampler_copies_the_bands_where_nothing_moves_and_gathers_the_rest():
    """A still camera's frame: the bands of rows whose flow is 0 are copied, the band with a
    moving square gathered; whole, by rows and by a window of columns, the same as a gather
    by the index everywhere."""
    rng = np.random.default_rng(1)
    image = rng.random((600, 400, 3), dtype=np.float32)
    flow = np.zeros((600, 400, 2), np.float32)
    flow[200:230, 100:140] = (-3.0, 2.0)
    sample = motion.Sampler(flow)
    assert 0 < sample.still.sum() < 600 and not sample.still[200:230].any()
    gathered = image.reshape(-1, 3)[sample.index].reshape(image.shape)
    assert np.array_equal(sample(image), gathered)
    for rows in ((0, 64), (180, 260)):
        assert np.array_equal(sample(image, rows), gathered[rows[0]:rows[1]])
        assert np.array_equal(sample(image, rows, slice(90, 150)), gathered[rows[0]:rows[1], 90:150])
    assert np.array_equal(sample(image[..., 0], (0, 64)), gathered[:64, :, 0])


def test_sharp_moves_a_smooth_image_exactly_between_pixels_and_as_nearest_on_whole_ones():
    """``sharp``'s taps are exact on a linear image at any sub-pixel flow, where the nearest
    pixel is up to half a pixel off; whole-pixel flows and the still band give the nearest
    pixel's values; rows and a window of columns are those of the whole; one channel as three
    (up to float rounding: the taps are summed in another order for one channel)."""
    h, w = 40, 60
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.stack([x, 2 * y, x + y], -1)
    flow = np.zeros((h, w, 2), np.float32)
    flow[10:20, 10:30] = (0.5, -0.25)
    flow[20:30, 10:30] = (-2.0, 1.0)
    sample = motion.Sampler(flow)
    out = sample.sharp(image)
    moved = image[10:20, 10:30] + np.array([0.5, -0.5, 0.25], np.float32)
    assert np.abs(out[10:20, 10:30] - moved).max() < 1e-4
    assert np.abs(sample(image)[10:20, 10:30] - moved).max() >= 0.25
    assert np.array_equal(out[20:], sample(image)[20:]) and np.array_equal(out[:10], image[:10])
    assert np.array_equal(sample.sharp(image, (8, 22)), out[8:22])
    assert np.array_equal(sample.sharp(image, (8, 22), slice(5, 25)), out[8:22, 5:25])
    assert np.allclose(sample.sharp(image[..., 2], (8, 22)), out[8:22, :, 2], rtol=1e-6, atol=1e-5)


def test_a_kept_painting_is_carried_once_and_given_again_the_same():
    """``Motion.keep``: the canvas carries the kept painting, and the result blend asks again
    for rows and columns of it, some carried already, some not. Every ask gives the values of a
    carry of its own, to the bit; what was carried is not carried again; the answer is the
    asker's to change; another painting (the render it was made from) is carried as usual."""
    h, w = 40, 60
    rng = np.random.default_rng(3)
    painting, render = rng.random((h, w, 3), dtype=np.float32), rng.random((h, w, 3), dtype=np.float32)
    flow = np.zeros((h, w, 2), np.float32)
    flow[5:35, 10:50] = (0.4, -1.3)
    m = motion.Motion(motion.Sampler(flow), np.ones((h, w), np.float32), flow, sharp=True)
    alone = m.sample.sharp(painting)
    overlap = lambda a, b: max(0, min(a[1], b[1]) - max(a[0], b[0]))   # noqa: E731
    asked = []
    sharp = m.sample.sharp
    m.sample.sharp = lambda image, rows=None, columns=None: (
        asked.append((rows[1] - rows[0]) * len(range(*(columns or slice(None)).indices(w)))),
        sharp(image, rows, columns))[1]
    m.keep(painting, slice(10, 45))
    first = m.carry(painting, (8, 30), slice(10, 45))
    assert np.array_equal(first, alone[8:30, 10:45]) and asked == [22 * 35]
    first[:] = -1.0                                 # the asker's own array
    assert np.array_equal(m.carry(painting, (12, 20), slice(15, 40)), alone[12:20, 15:40])
    assert asked == [22 * 35]                       # given again, not carried
    for rows, columns in (((0, 40), None), ((25, 38), slice(0, 30)), ((2, 10), slice(40, 60))):
        asked.clear()
        got = m.carry(painting, rows, columns)
        assert np.array_equal(got, alone[rows[0]:rows[1], columns or slice(None)]), (rows, columns)
        c0, c1 = (columns or slice(0, w)).start, (columns or slice(0, w)).stop
        kept = overlap(rows, (8, 30)) * overlap((c0, c1), (10, 45))     # given again, the rest carried
        assert sum(asked) == (rows[1] - rows[0]) * (c1 - c0) - kept, (rows, columns, asked)
    assert np.array_equal(m.carry(render, (8, 30), slice(10, 45)), sharp(render, (8, 30), slice(10, 45)))


def test_sharp_carries_fine_strokes_for_many_frames_with_little_drift_or_blur():
    """A painting of fine strokes (5 px) carried 8 times by a shearing flow (each row moves by
    its own fraction of a pixel, as a rolling ball's surface does). By the nearest pixel each
    row keeps its contrast but lands up to half a pixel off, row by row (the streaks); bilinear
    loses most of the contrast; ``sharp`` stays closest to the strokes moved exactly and keeps
    nearly all their contrast (measured: mean error 0.043 / 0.455 / 0.200 for sharp / nearest
    / bilinear, contrast 0.96 / 1.00 / 0.22; Catmull-Rom without the sharpening: 0.086, 0.71)."""
    h, w, steps = 48, 64, 8
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    speed = 0.2 + 0.6 * y / h                       # px a frame, by row: a shear
    stroke = lambda at: 0.5 + 0.4 * np.sin(2 * np.pi * at / 5.0)  # noqa: E731
    flow = np.stack([-speed, np.zeros_like(speed)], -1)
    sample = motion.Sampler(flow)
    carried = {"sharp": stroke(x), "nearest": stroke(x), "bilinear": stroke(x)}
    for _ in range(steps):
        carried["sharp"] = sample.sharp(carried["sharp"])
        carried["nearest"] = sample(carried["nearest"])
        carried["bilinear"] = motion.warp(carried["bilinear"], flow)[0]
    exact = stroke(x - steps * speed)
    inner = (slice(4, -4), slice(16, -4))           # (what came in from the edge left out)
    error = {k: np.abs(v - exact)[inner].mean() for k, v in carried.items()}
    contrast = {k: v[inner].std() / exact[inner].std() for k, v in carried.items()}
    assert error["sharp"] < 0.3 * error["bilinear"] and error["sharp"] < 0.15 * error["nearest"], error
    assert contrast["sharp"] > 0.9 and contrast["bilinear"] < 0.3, contrast


def test_the_carry_taps_never_gain_and_keep_a_fine_stroke_between_pixels():
    """The frequency response of ``_taps`` at every sub-pixel shift: at most 1 at every
    frequency (a painting carried again and again never rings up), 1 on whole pixels, and at
    half a pixel it keeps 0.95 of a 4 px stroke (Catmull-Rom alone: 0.88) and 0.8 of a 3 px one."""
    t = np.linspace(0.0, 0.999, 400, dtype=np.float32)
    taps = motion._taps(t).astype(np.float64)
    assert np.allclose(taps.sum(1), 1.0, atol=1e-5) and taps.shape[1] == motion.TAPS
    omega = np.linspace(0.0, np.pi, 181)
    at = np.arange(motion.TAPS) - (motion.TAPS // 2 - 1)            # the taps' positions
    response = np.abs(np.exp(-1j * omega[None, :, None] * at) @ taps[:, :, None])[..., 0]
    assert response.max() <= 1.0 + 1e-5, response.max()
    assert np.allclose(response[0], 1.0, atol=1e-5)                 # t = 0: the pixel itself
    half = response[np.abs(t - 0.5).argmin()]
    assert half[np.abs(omega - np.pi / 2).argmin()] > 0.95
    assert half[np.abs(omega - 2 * np.pi / 3).argmin()] > 0.8


def test_valid_marks_what_the_moving_square_uncovers_and_nothing_else():
    _, v0, d0 = _moving_square(0)
    _, v1, d1 = _moving_square(1)
    backward, _ = motion.flows(v1)
    _, forward0 = motion.flows(v0)
    ok = motion.valid(backward, forward0, d1, d0)
    uncovered = np.zeros(ok.shape, bool)
    uncovered[15:25, 5:9] = True                            # the background the square left
    assert not ok[uncovered].any()
    assert ok[~uncovered].all()
    # forward-backward consistency alone, and depth alone (Blender 4.x), find the same pixels
    assert np.array_equal(motion.valid(backward, forward0) > 0, ~uncovered)
    assert np.array_equal(motion.valid(backward, None, d1, d0) > 0, ~uncovered)


def _view(yaw: float, h: int, w: int, f: float) -> np.ndarray:
    """The view (motion.background) of a camera looking down −Z with +Y up (Blender's), turned
    by ``yaw`` radians about its vertical (positive: to the left), focal length ``f`` px."""
    c, s = np.cos(yaw), np.sin(yaw)
    turn = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return turn @ np.array([[1 / f, 0, -(w - 1) / 2 / f], [0, -1 / f, (h - 1) / 2 / f], [0, 0, -1]])


def test_the_world_background_turns_with_the_camera_and_nothing_else_does():
    """Blender gives the world background no motion; from the cameras, the sky of a camera
    turned 10° to the right moves as a pinhole's would, both ways, and the set keeps its
    vectors. A direction behind the other camera lands outside the picture."""
    h, w, f = 30, 80, 60.0                      # a wide lens (67°): far from a plain shift
    depth = np.full((h, w), 1e10, np.float32)
    depth[20:] = 12.0                           # the set: its own vectors stay
    backward = np.full((h, w, 2), 0.25, np.float32)
    forward = np.full((h, w, 2), 0.25, np.float32)
    now, then = _view(np.radians(-10), h, w, f), _view(0.0, h, w, f)
    motion.background(backward, depth, now, forward, depth, then)
    cx, x = (w - 1) / 2, np.arange(w)
    # the centre row: what is at angle a right of the axis now was at a + 10° before
    was = cx + f * np.tan(np.arctan((x - cx) / f) + np.radians(10))
    assert np.allclose(backward[(h - 1) // 2, :, 0], was - x, atol=1e-3)
    assert (backward[20:] == 0.25).all() and (forward[20:] == 0.25).all()
    # and forward of the previous frame: what is at angle a there is at a − 10° now
    will = cx + f * np.tan(np.arctan((x - cx) / f) - np.radians(10))
    assert np.allclose(forward[(h - 1) // 2, :, 0], will - x, atol=1e-3)
    assert np.abs(backward[:20, :, 1]).max() > 0.1        # off the centre row, rows bend too
    # a camera turned round: the sky it sees was behind the other one
    backward[:] = 0.0
    motion.background(backward, depth, _view(np.radians(180), h, w, f), None, None, then)
    assert (backward[:20, :, 0] == motion.OUTSIDE).all()
    # without both cameras nothing changes
    backward[:] = 0.0
    motion.background(backward, depth, None, forward, depth, then)
    assert not backward.any()


def test_the_background_refuses_a_flow_it_cannot_fill_in_place():
    """A flow that is a strided view (not C-contiguous) would be filled in a copy and left as it
    was: it is refused, saying so."""
    h, w = 8, 12
    depth = np.full((h, w), 1e10, np.float32)
    strided = np.zeros((h, w, 4), np.float32)[..., ::2]
    with pytest.raises(nst_core.StyleError, match="C-contiguous"):
        motion.background(strided, depth, _view(0.1, h, w, 50.0), None, None, _view(0.0, h, w, 50.0))


def test_a_camera_moving_in_is_not_a_still_camera():
    """A still camera: most of the picture does not move. A camera moving in (a dolly) moves
    every pixel away from the picture's centre, so each component's median is 0 while most
    pixels move (an artist trial's dolly was taken for a still camera: its set was kept as a
    plate, with a ring where the motion passed MOVING_PX and patches painted anew)."""
    h, w = 90, 160
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    grow = np.stack([x - w / 2, y - h / 2], -1) * np.float32(0.03)   # 2.4 px a frame at the sides
    assert abs(np.median(grow[..., 0])) < 0.5 and abs(np.median(grow[..., 1])) < 0.5
    assert not motion.still_camera(grow, -grow)
    assert not motion.still_camera(grow[..., :1])                     # Blender 4.x's forward: x alone
    square = np.zeros((h, w, 2), np.float32)
    square[30:60, 40:90] = (4.0, 0.0)                                  # a still set, an object moving
    assert motion.still_camera(square, -square)
    assert not motion.still_camera(np.full((h, w, 2), (3.0, 0.0), np.float32))   # a pan
