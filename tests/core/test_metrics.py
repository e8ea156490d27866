"""The quality metric against direct formulas and its expected behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nst_core
import torch_models as tm
from conftest import styles_for
from nst_core import metrics, motion
from nst_core.filters import grow


def test_scores_match_direct_torch_formulas(runtime, weights_dir, photo, painting):
    out = nst_core.stylize(photo, painting, runtime=runtime).image
    scores = metrics.evaluate(photo, painting, out, runtime=runtime)
    net = tm.load_features(weights_dir)

    def feats(img):
        with torch.no_grad():
            return [f[0].reshape(f.shape[1], -1).double() for f in net(torch.from_numpy(img.transpose(2, 0, 1)[None].copy()))]

    def s_dist(a, b):
        return sum(float((x.mean(1) - y.mean(1)).norm() + (x.std(1, unbiased=False) - y.std(1, unbiased=False)).norm())
                   for x, y in zip(a, b))

    fo, fc, fs = feats(out), feats(photo), feats(painting)
    assert scores.style_distance == pytest.approx(s_dist(fo, fs), rel=1e-4)
    assert scores.style_gain == pytest.approx(1 - s_dist(fo, fs) / s_dist(fc, fs), rel=1e-4)
    c_ref = float(((fo[3] - fc[3]) ** 2).sum() / (fc[3] ** 2).sum())
    assert scores.content_distance == pytest.approx(c_ref, rel=1e-3)

    def g_dist(a, b):       # Gram matrices F Fᵀ / (h·w), relative Frobenius distance per layer
        return sum(float(torch.linalg.norm(x @ x.T / x.shape[1] - y @ y.T / y.shape[1])
                         / torch.linalg.norm(y @ y.T / y.shape[1])) for x, y in zip(a, b))
    assert scores.gram_distance == pytest.approx(g_dist(fo, fs), rel=1e-4)
    assert scores.gram_gain == pytest.approx(1 - g_dist(fo, fs) / g_dist(fc, fs), rel=1e-4)
    assert 0 < scores.gram_gain < 1        # WCT moves a photo towards the painting, not onto it


def test_identity_scores_zero(runtime, photo, painting):
    s = metrics.evaluate(photo, painting, photo, runtime=runtime)
    assert s.style_gain == pytest.approx(0.0, abs=1e-9) and s.content_distance == 0.0
    assert s.gram_gain == pytest.approx(0.0, abs=1e-9)
    from nst_core.images import resize
    style = np.clip(resize(painting, *photo.shape[:2]), 0, 1)
    same = metrics.evaluate(photo, style, style, runtime=runtime)         # the style itself
    assert same.gram_distance == pytest.approx(0.0, abs=1e-9) and same.gram_gain == pytest.approx(1.0)


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_alpha_sweep_is_monotone(runtime, photo, painting, method):
    style = styles_for(method, painting, None)[0]
    gains, dists = [], []
    for alpha in (0.0, 0.25, 0.5, 0.75, 1.0):
        out = nst_core.stylize(photo, style, method=method, alpha=alpha, runtime=runtime).image
        s = metrics.evaluate(photo, painting, out, runtime=runtime)
        gains.append(s.style_gain)
        dists.append(s.content_distance)
    assert gains == sorted(gains) and gains[-1] > gains[0] + 0.2, gains
    assert dists == sorted(dists), dists


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_interpolation_moves_towards_each_style_monotonically(runtime, photo, painting, painting2, method):
    styles = list(styles_for(method, painting, painting2))
    to_a, to_b = [], []
    for w in (0.0, 0.25, 0.5, 0.75, 1.0):
        out = nst_core.stylize(photo, styles, method=method, weights=[w, 1 - w],
                               runtime=runtime).image
        to_a.append(metrics.evaluate(photo, painting, out, runtime=runtime).style_distance)
        to_b.append(metrics.evaluate(photo, painting2, out, runtime=runtime).style_distance)
    assert to_a == sorted(to_a, reverse=True), to_a
    assert to_b == sorted(to_b), to_b


def test_warping_error_is_zero_for_exact_motion_and_sees_flicker():
    """A texture moving 3 px right per frame: with its true flow the warping error is 0 (away
    from the edge it leaves), with no flow it is not; noise added per frame raises it by about
    its variance (3 channels × σ²)."""
    rng = np.random.default_rng(0)
    base = rng.random((40, 80, 3), dtype=np.float32)
    frames = [np.roll(base, 3 * t, axis=1) for t in range(4)]
    flow = np.zeros((40, 80, 2), np.float32)
    flow[..., 0] = -3                                   # pixel p of frame t was at p − 3 before
    valid = np.zeros((40, 80), bool)
    valid[:, 3:] = True                                 # the wrapped-in columns are "occluded"
    assert metrics.warping_error(frames, [flow] * 3, [valid] * 3) == pytest.approx(0.0, abs=1e-10)
    assert metrics.warping_error(frames, [np.zeros_like(flow)] * 3) > 0.1
    sigma = 0.05
    noisy = [f + rng.normal(0, sigma, f.shape).astype(np.float32) for f in frames]
    e = metrics.warping_error(noisy, [flow] * 3, [valid] * 3)
    assert e == pytest.approx(3 * 2 * sigma ** 2, rel=0.1)     # difference of two noises: 2σ² per channel


def test_still_difference_counts_only_the_still_region():
    frames = [np.zeros((10, 10, 3), np.float32) for _ in range(3)]
    for t, f in enumerate(frames):
        f[:, 5:] = t * 0.5                              # the right half changes, the left is still
    still = np.zeros((10, 10), bool)
    still[:, :5] = True
    assert metrics.still_difference(frames, still) == 0.0
    assert metrics.still_difference(frames, ~still) == pytest.approx(0.5 * 255)


def _passing_square(t, h=40, w=90, size=8, speed=6):
    mask = np.zeros((h, w), bool)
    mask[16:16 + size, 4 + speed * t:4 + speed * t + size] = True
    return mask


def test_ghost_ratio_sees_a_trail_behind_a_moving_object():
    """Against the frames stylized alone: the same change ahead and behind reads 1; a copy of
    the object's colour left where it was reads far above."""
    masks = [_passing_square(t) for t in range(12)]
    rng = np.random.default_rng(6)
    alone = [rng.random((40, 90, 3)).astype(np.float32) for _ in masks]
    offset = [a + 0.1 for a in alone]                   # everywhere alike: no trail
    assert metrics.ghost_ratio(offset, alone, masks) == pytest.approx(1.0)
    trail = [a.copy() for a in alone]
    for t in range(1, len(masks)):
        for k in range(1, min(t, 4) + 1):               # the object's last four places, fading
            trail[t][masks[t - k] & ~masks[t]] += 0.4 / k
    assert metrics.ghost_ratio(trail, alone, masks) > 3
    with pytest.raises(ValueError, match="ghost ratio"):
        metrics.ghost_ratio(alone[:6], alone[:6], masks[:6])


def test_the_shadow_ghost_ratio_sees_a_trail_in_the_shadow_of_a_moving_object():
    """A square moving over a still set casts a shadow below it; a trail left where the shadow
    was is outside what the square covered, so the ghost ratio of what moves misses it; over
    the footprints (what the render shows touched: the shadow too) it reads well above 1."""
    h, w, speed = 40, 90, 6
    rng = np.random.default_rng(3)
    set_ = rng.random((h, w, 3)).astype(np.float32) * 0.3 + 0.6
    squares = [_passing_square(t) for t in range(12)]
    shadows = [np.roll(m, 8, 0) & ~m for m in squares]          # the 8 rows below the square
    plain = [np.where(m[..., None], 1.0, np.where(sh[..., None], set_ * 0.4, set_))
             for m, sh in zip(squares, shadows)]
    found = metrics.footprints(plain, squares)
    assert all(not ((m | sh) & ~f).any() and not (f & ~grow(m | sh, 2)).any()   # (5×5 px averages)
               for f, m, sh in zip(found, squares, shadows))
    alone = [rng.random((h, w, 3)).astype(np.float32) for _ in squares]
    trail = [a + 0.05 for a in alone]                  # (a coherent sequence differs everywhere)
    for t in range(1, len(squares)):
        for k in range(1, min(t, 4) + 1):               # the shadow's last four places, fading
            trail[t][shadows[t - k] & ~shadows[t] & ~squares[t]] += 0.4 / k
    assert metrics.ghost_ratio(trail, alone, squares) < 1.3
    assert metrics.ghost_ratio(trail, alone, found) > 1.5
    vectors = [np.where(m[..., None], np.float32([-speed, 0, -speed, 0]), np.float32(0)) for m in squares]
    scores = metrics.evaluate_frames(plain, trail, vectors, alone=alone)
    assert scores["shadow_ghost_ratio"] > 1.5 > 1.3 > scores["ghost_ratio"]


def test_sharpness_ratio_reads_a_blurred_object_below_one_and_ignores_the_set():
    """Fine strokes on the moving square: the same strokes read 1; blurred over 3 px in the
    last frames, far below (only the object counts: the set blurred too changes nothing); a
    sequence whose object is flat alone says so."""
    masks = [_passing_square(t, size=16) for t in range(8)]
    rng = np.random.default_rng(8)
    alone = [rng.random((40, 90, 3)).astype(np.float32) for _ in masks]
    assert metrics.sharpness_ratio(alone, alone, masks) == pytest.approx(1.0)
    blur = lambda a: (a + np.roll(a, 1, 0) + np.roll(a, -1, 0)) / 3     # noqa: E731
    soft = [np.where(m[..., None], blur(a), a) for a, m in zip(alone, masks)]
    assert metrics.sharpness_ratio(soft, alone, masks) < 0.7
    set_soft = [np.where(m[..., None], a, blur(a)) for a, m in zip(alone, masks)]
    assert metrics.sharpness_ratio(set_soft, alone, masks) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="sharpness"):
        metrics.sharpness_ratio(alone, [np.zeros_like(a) for a in alone], masks)


def test_ghost_ratio_follows_the_set_when_the_camera_pans():
    """A pan moves the set 8 px left a frame (``shifts``: from a pixel to where it was, +8 px);
    the square moves 3 px right on screen. A trail left on the set moves with the set: read
    with the pan's shifts it is far above 1 (as if the camera were still: 1, the trail is
    elsewhere); a change alike everywhere reads 1."""
    masks = [_passing_square(t, w=120, speed=3) for t in range(12)]
    rng = np.random.default_rng(7)
    alone = [rng.random((40, 120, 3)).astype(np.float32) for _ in masks]
    shifts = [(8.0, 0.0)] * len(masks)
    assert metrics.ghost_ratio([a + 0.1 for a in alone], alone, masks, shifts) == pytest.approx(1.0)
    trail = [a + 0.05 for a in alone]
    for t in range(1, len(masks)):
        for k in range(2, min(t, 4) + 1):   # the object's places 2-4 frames ago, on the set
            trail[t][np.roll(masks[t - k], -8 * k, axis=1) & ~masks[t]] += 0.4 / k
    assert metrics.ghost_ratio(trail, alone, masks, shifts) > 3
    assert metrics.ghost_ratio(trail, alone, masks) < 1.1


def test_evaluate_frames_gives_the_worst_pair_and_the_clear_region():
    """A change at the moving object's edge counts in the still region, not in the clear one
    (still pixels at least CLEAR_PX from what moves); the worst pair is the largest."""
    h, w = 30, 60
    plain, styled, vectors = [], [], []
    for t in range(4):
        f = np.full((h, w, 3), 0.5, np.float32)
        f[:, -5:] += 0.01 * t                           # a faint change far from the object
        v = np.zeros((h, w, 4), np.float32)
        v[10:20, 10 + 2 * t:20 + 2 * t] = 2.0           # the object moves
        s = f.copy()
        s[10:20, 20 + 2 * t:23 + 2 * t] += 0.2 * t      # the stylization changes beside it
        plain.append(f)
        styled.append(s)
        vectors.append(v)
    scores = metrics.evaluate_frames(plain, styled, vectors)
    assert scores["still_ratio"] > 5 and scores["still_ratio_worst"] > scores["still_ratio"]
    assert scores["clear_ratio"] == pytest.approx(1.0)


def test_motion_edges_are_left_out_of_the_warping_error_as_lai_et_al_do():
    """Lai et al.'s evaluation leaves out where the flow jumps (|∇b|² > 0.01 |b|² + 0.002, to
    the right and lower neighbours): a square moving 4 px a frame over a still set marks the
    pixel before each of its edges, on each row and column, and nothing where the flow is
    even or changes smoothly (a slow zoom). A stylization that differs from the plain render
    only on those pixels (an antialiased silhouette painted over) is measured on the rest: less
    warping error than with the edges in (some remains: a pixel off this frame's edges may
    sample the last frame's)."""
    h, w = 32, 48
    b = np.zeros((h, w, 2), np.float32)
    b[8:20, 10:22, 0] = -4.0
    edges = metrics.motion_edges(b)
    rows, cols = np.nonzero(edges)
    assert set(zip(rows, cols)) == ({(r, c) for r in range(8, 20) for c in (9, 21)}
                                    | {(r, c) for c in range(10, 22) for r in (7, 19)})
    zoom = np.stack(np.meshgrid(np.linspace(-0.4, 0.4, w), np.linspace(-0.4, 0.4, h)), -1).astype(np.float32)
    assert not metrics.motion_edges(zoom).any() and not metrics.motion_edges(b * 0 + 3).any()

    rng = np.random.default_rng(2)
    base = rng.random((h, w + 16, 3)).astype(np.float32)
    plain, styled, vectors = [], [], []
    for t in range(4):
        f = np.ascontiguousarray(base[:, :w]).copy()
        f[8:20, 10 + 4 * t:22 + 4 * t] = base[8:20, 30:42]     # the square, moved 4 px a frame
        v = np.zeros((h, w, 4), np.float32)
        v[8:20, 10 + 4 * t:22 + 4 * t, 0] = -4.0 if t else 0.0  # backward x (Blender's sign)
        v[8:20, 10 + 4 * t:22 + 4 * t, 2] = -4.0                # forward x
        s = f.copy()
        s[metrics.motion_edges(motion.flows(v)[0])] = rng.random(3)
        plain.append(f)
        styled.append(s)
        vectors.append(v)
    scores = metrics.evaluate_frames(plain, styled, vectors)
    pairs = [motion.flows(v) for v in vectors]
    masks = [motion.valid(b, f0) > 0.5 for (b, _), (_, f0) in zip(pairs[1:], pairs)]
    flows = [b for b, _ in pairs[1:]]
    off = [m & ~metrics.motion_edges(b) for m, b in zip(masks, flows)]
    assert scores["warping_error"] == pytest.approx(metrics.warping_error(styled, flows, off))
    assert scores["warping_error"] < 0.5 * metrics.warping_error(styled, flows, masks), scores


def test_evaluate_frames_moves_the_world_background_with_the_cameras():
    """Cycles' vectors leave the world background still while the camera turns; given the
    frames' camera views and depths, the sky is measured along the turn: a sky texture moved
    by the camera has no warping error and no still pixels (without the views, it is all
    'still' and changes every frame)."""
    from test_motion import _view
    h, w, speed, f = 24, 40, 3, 5000.0
    sky = np.random.default_rng(4).random((h, w + 4 * speed, 3)).astype(np.float32)
    frames = [np.ascontiguousarray(sky[:, speed * t:speed * t + w]) for t in range(4)]
    vectors = [np.zeros((h, w, 4), np.float32) for _ in frames]
    depths = [np.full((h, w), 1e10, np.float32) for _ in frames]
    views = [_view(-t * np.arctan(speed / f), h, w, f) for t in range(4)]     # turning right
    followed = metrics.evaluate_frames(frames, frames, vectors, depths, views=views)
    fixed = metrics.evaluate_frames(frames, frames, vectors, depths)
    assert followed["warping_error_plain"] < 1e-4 < fixed["warping_error_plain"], (followed, fixed)
    assert followed["still_fraction"] == 0.0 and fixed["still_fraction"] == 1.0
