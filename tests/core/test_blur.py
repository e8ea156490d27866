"""nst_core/blur.py: motion blur after the style, along Blender's Vector and Depth passes."""

from __future__ import annotations

import numpy as np
import pytest

import nst_core
from nst_core import blur

H, W, SIDE, TOP = 60, 120, 30, 15       # a textured square over a noisy set


def _scene(seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.random((H, W, 3), dtype=np.float32) * 0.3,
            rng.random((SIDE, SIDE, 3), dtype=np.float32) * 0.5 + 0.5)


def _frame(set_, texture, x: float) -> np.ndarray:
    """The square's left edge at ``x`` (sub-pixel: its edge columns covered in part)."""
    cols = np.arange(W)
    cover = np.clip(np.minimum(cols + 1, x + SIDE) - np.maximum(cols, x), 0, 1)
    square = np.zeros((H, W, 3), np.float32)
    for c in np.flatnonzero(cover):
        square[TOP:TOP + SIDE, c] = texture[:, min(max(int(round(c - x)), 0), SIDE - 1)]
    inside = np.zeros((H, W, 1), np.float32)
    inside[TOP:TOP + SIDE, :, 0] = cover
    return set_ * (1 - inside) + square * inside


def _vector(came: float, goes: float, x: float) -> np.ndarray:
    """Blender's Vector pass of the square moving right, ``came`` px from the previous frame
    and ``goes`` px to the next (x_prev − x, y_prev − y, x − x_next, y − y_next), set still."""
    v = np.zeros((H, W, 4), np.float32)
    v[TOP:TOP + SIDE, int(x):int(x) + SIDE] = (-came, 0.0, -goes, 0.0)
    return v


def _depth(x: float) -> np.ndarray:
    d = np.full((H, W), 10.0, np.float32)
    d[TOP:TOP + SIDE, int(x):int(x) + SIDE] = 5.0
    return d


@pytest.mark.parametrize("opens", [0.5, 0.0, 1.0])
def test_a_moving_square_is_blurred_as_the_shutter_averages_it(opens):
    """Against the exact blur (the frame averaged over 61 moments of the shutter; ``opens`` of
    it before the frame: Blender's Center, Start and End on Frame): the sharp frame is 13.1/255
    off over the square's rows (centred), the blurred one 1.7/255; the set beyond the square's
    travel is untouched."""
    set_, texture = _scene()
    x, speed, shutter = 40.0, 24.0, 0.5
    sharp = _frame(set_, texture, x)
    truth = np.mean([_frame(set_, texture, x + speed * t)
                     for t in np.linspace(-shutter * opens, shutter * (1 - opens), 61)], 0)
    out = nst_core.motion_blur(sharp, _vector(speed, speed, x), _depth(x), shutter, opens=opens)
    rows = slice(TOP, TOP + SIDE)
    error, before = np.abs(out - truth)[rows].mean(), np.abs(sharp - truth)[rows].mean()
    assert error <= 0.2 * before, (error * 255, before * 255)
    untouched = np.ones((H, W), bool)
    untouched[rows, int(x - speed * shutter * opens) - 2:int(x + SIDE + speed * shutter * (1 - opens)) + 2] = False
    assert np.allclose(out[untouched], sharp[untouched], atol=1e-6)


def test_what_does_not_move_is_not_blurred():
    set_, texture = _scene(1)
    sharp = _frame(set_, texture, 40.0)
    out = nst_core.motion_blur(sharp, np.zeros((H, W, 4), np.float32), _depth(40.0), 0.5)
    assert np.array_equal(out, sharp) and out is not sharp


def test_a_surface_that_stops_at_the_frame_is_blurred_on_one_side():
    """Came from nowhere (the previous frame's flow is 0: it starts moving at this frame): its
    blur reaches ahead only, as far as half the shutter takes it."""
    set_, texture = _scene(2)
    x, shutter = 40.0, 1.0
    sharp = _frame(set_, texture, x)
    out = nst_core.motion_blur(sharp, _vector(0.0, 20.0, x), _depth(x), shutter)
    changed = np.abs(out - sharp).max(-1)[TOP:TOP + SIDE].max(0) > 1e-6
    cols = np.flatnonzero(changed)
    assert cols.min() >= int(x) and cols.max() >= int(x) + SIDE + 5, cols
    assert cols.max() <= int(x) + SIDE + 10 + 1, cols


def test_a_still_object_in_front_of_a_moving_set_stays_sharp():
    """The camera pans (the set moves 16 px a frame) behind a still square nearer to it: the
    set is blurred, the square's inside is not smeared by the set passing behind it."""
    set_, texture = _scene(3)
    x = 40.0
    sharp = _frame(set_, texture, x)
    v = np.zeros((H, W, 4), np.float32)
    v[...] = (-16.0, 0.0, -16.0, 0.0)
    v[TOP:TOP + SIDE, int(x):int(x) + SIDE] = 0.0
    out = nst_core.motion_blur(sharp, v, _depth(x), 1.0)
    inner = (slice(TOP + 1, TOP + SIDE - 1), slice(int(x) + 1, int(x) + SIDE - 1))
    assert np.allclose(out[inner], sharp[inner], atol=1e-6)
    assert np.abs(out - sharp)[:TOP].mean() > 0.02          # the set is blurred


def test_blender_4s_three_channel_vectors_and_straight_alpha():
    """Blender 4.x's compositor writes three channels (no forward y): the blur is the same for a
    sideways motion. A square over a transparent set: blurred premultiplied, so its fringe keeps
    the square's colour, with less alpha."""
    rgba = np.zeros((H, W, 4), np.float32)
    rgba[TOP:TOP + SIDE, 40:40 + SIDE] = (0.9, 0.5, 0.2, 1.0)
    v, d = _vector(20.0, 20.0, 40.0), _depth(40.0)
    out = nst_core.motion_blur(rgba, v, d, 1.0, straight=True)
    assert np.array_equal(out, nst_core.motion_blur(rgba, v[..., :3], d, 1.0, straight=True))
    fringe = (out[..., 3] > 0.05) & (out[..., 3] < 0.95)
    assert fringe.sum() >= 2 * SIDE * 8
    assert np.allclose(out[fringe][:, :3], (0.9, 0.5, 0.2), atol=1e-5)


def test_farm_chunks_blur_alike_and_bad_input_is_said():
    """The samples' offsets are fixed per pixel: the same frame blurs to the same bits in any
    process. A travel of another size, or a negative shutter, is said."""
    set_, texture = _scene(4)
    sharp = _frame(set_, texture, 40.0)
    v, d = _vector(24.0, 24.0, 40.0), _depth(40.0)
    assert np.array_equal(nst_core.motion_blur(sharp, v, d, 0.5), nst_core.motion_blur(sharp, v, d, 0.5))
    with pytest.raises(nst_core.StyleError, match="shutter"):
        nst_core.motion_blur(sharp, v, d, -1.0)
    with pytest.raises(nst_core.StyleError, match="between 0 and 1"):
        nst_core.motion_blur(sharp, v, d, 0.5, opens=1.5)
    with pytest.raises(nst_core.StyleError, match="travels of 60×120×2"):
        blur.blur(sharp, np.zeros((H, W - 1, 2), np.float32), np.zeros((H, W, 2), np.float32))


def _view(yaw: float, f: float = 100.0) -> np.ndarray:
    """A pinhole's view (3×3: (column, row, 1) -> the ray) turned by ``yaw`` about its up axis."""
    rays = np.array([[1.0, 0.0, -W / 2], [0.0, 1.0, -H / 2], [0.0, 0.0, f]])
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]) @ rays


def test_a_turning_cameras_sky_is_blurred_as_the_camera_turns():
    """Cycles gives the world background no motion vectors (all 0) while the camera turns: with
    the cameras' views of the frames before and after, the sky moves 10 px a frame and is
    blurred as the sideways average over the shutter (1 frame: 10 px) says; without them it is
    left sharp."""
    sky = np.random.default_rng(5).random((H, W, 3), dtype=np.float32)
    vector, depth = np.zeros((H, W, 4), np.float32), np.full((H, W), 1e10, np.float32)
    views = (_view(-0.1), _view(0.0), _view(0.1))
    out = nst_core.motion_blur(sky, vector, depth, 1.0, views=views)
    assert np.allclose(nst_core.motion_blur(sky, vector, depth, 1.0), sky, atol=1e-6)
    box = np.mean([np.roll(sky, s, axis=1) for s in range(-5, 6)], 0)   # the sideways average
    inner = (slice(None), slice(15, W - 15))
    error, sharp = np.abs(out - box)[inner].mean(), np.abs(sky - box)[inner].mean()
    assert error <= 0.25 * sharp, (error, sharp)
