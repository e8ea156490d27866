"""nst_core/temporal.py: Coherence, the state that carries one stylized frame into the next.

The Vector pass's conventions are measured in Blender (tests/blender/test_animation.py); here
the conversion, the warps and the coherence state are checked on sequences whose motion is known."""

from __future__ import annotations

import numpy as np
import pytest

import nst_core
from conftest import styles_for
from nst_core import bands, methods, metrics, temporal
from nst_core.motion import Motion, Sampler, flows
from nst_core.settings import Settings


def _vector(h, w, pre=(0.0, 0.0), post=(0.0, 0.0)):
    """A Vector pass for motion of (dx, dy) pixels per frame in image coordinates (y down),
    written the way Blender writes it (raster y up): (prev − cur, cur − next)."""
    v = np.zeros((h, w, 4), np.float32)
    v[..., 0], v[..., 1] = -pre[0], pre[1]
    v[..., 2], v[..., 3] = -post[0], post[1]
    return v


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


def test_strength_zero_is_the_per_frame_result(runtime, photo, painting):
    coherence = temporal.Coherence(0.0)
    v = _vector(*photo.shape[:2], pre=(1.0, 0.0))
    for _ in range(2):
        got = coherence.stylize(photo, Settings("adain", painting), vector=v, runtime=runtime).image
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


def test_the_statistics_are_the_frames_own_before_a_still_camera_and_while_it_moves(
        runtime, photo, painting):
    """Every stage's transform uses the frame's own content statistics: held from the frames
    before a still camera, WCT's painting of a moving ball broke up; averaged while the camera
    moves, a camera travelling beside a sphere lost style (worst style-gain drop against the
    frames alone 0.085-0.115, docs/animation.md, 2026-12-07)."""
    def changed(frames, vectors, depths):
        coherence, seen = temporal.Coherence(1.0), []
        record = coherence.record

        def spy(key, m):
            out = record(key, m)
            seen.append(float(np.abs(out.sum / out.weight - m.sum / m.weight).max()))
            return out
        coherence.record = spy
        for f, v, d in zip(frames, vectors, depths):
            coherence.stylize(f, Settings("wct", painting), vector=v, depth=d, runtime=runtime)
        return seen
    still = changed(*zip(*[_moving_square(t, h=64, w=96) for t in range(4)]))
    assert len(still) >= 5 and max(still) == 0.0
    frames, vectors = _pan(photo[:64, :96], n=4)
    moving = changed(frames, vectors, [None] * 4)
    assert len(moving) == 4 * 5 and max(moving) == 0.0


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
        runs[strength] = [coherence.stylize(f, Settings(method, style), vector=v, depth=d,
                                            runtime=runtime).image
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
        settings = Settings("adain", painting, tile_size=tile)
        out[tile] = [coherence.stylize(f, settings, vector=v, depth=d, runtime=runtime).image
                     for f, v, d in zip(frames, vectors, depths)]
    for a, b in zip(out[None], out[48]):       # 48 px cores: 2×2 and 3×4 tiles
        assert np.abs(a - b).mean() < 0.005     # measured about 1e-4 (float16 between stages)


def test_blend_stays_inside_where(runtime):
    coherence = temporal.Coherence(1.0)
    first = np.zeros((8, 8, 3), np.float32)
    second = np.ones((8, 8, 3), np.float32)
    flow = np.zeros((8, 8, 2), np.float32)
    still = Motion(Sampler(flow), np.ones((8, 8), np.float32), flow)
    adain = methods.METHODS["adain"].result_blend
    coherence.blend(first, still, adain)
    where = np.zeros((8, 8), np.float32)
    where[:, :4] = 1
    out = coherence.blend(second, still, adain, where=where)
    assert np.array_equal(out[:, 4:], second[:, 4:])
    assert np.allclose(out[:, :4], 1 - adain.share)


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
    backward = [flows(v)[0] for v in vectors[1:]]

    def run():
        coherence = temporal.Coherence()
        return [coherence.stylize(f, Settings(method, style), vector=v, runtime=runtime).image
                for f, v in zip(frames, vectors)]
    aligned = metrics.warping_error(run(), backward)
    monkeypatch.setattr(temporal.Coherence, "align", lambda self, motion: (0, 0))
    unaligned = metrics.warping_error(run(), backward)
    # measured ratios: StyleBank 0.07, AdaIN 0.25, WCT 0.58 (its whitening of the whole picture
    # still changes as the pan brings new content in)
    assert aligned < (0.75 if method == "wct" else 0.4) * unaligned, (aligned, unaligned)


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_a_turning_cameras_sky_keeps_its_strokes_on_the_sky(runtime, photo, painting, painting2,
                                                             method):
    """Blender's Vector pass gives the world background no motion while the camera turns: the
    top half of the pan is sky (depth 1e10, vectors 0). Given each frame's camera, the sky's
    painting follows the turn (warping error along it, measured: 0.08 / 0.11 / 0.06 of the
    same without the cameras, AdaIN / WCT / StyleBank; without, its strokes stay on the
    screen, worse than each frame painted alone)."""
    from test_motion import _view
    n, speed, f = 6, 3, 5000.0
    frames, vectors = _pan(photo, n, speed)
    h, w = photo.shape[:2]
    sky = np.zeros((h, w), bool)
    sky[:h // 2] = True
    for v in vectors:
        v[sky] = 0.0
    depth = np.where(sky, np.float32(1e10), np.float32(10.0))
    views = [_view(-t * np.arctan(speed / f), h, w, f) for t in range(n)]   # turning right
    turn = [np.broadcast_to(np.float32([speed, 0]), (h, w, 2))] * (n - 1)
    style = styles_for(method, painting, painting2)[0]

    def sky_error(cameras):
        coherence = temporal.Coherence()
        out = [coherence.stylize(frame, Settings(method, style), vector=v, depth=depth, view=view,
                                 runtime=runtime).image
               for frame, v, view in zip(frames, vectors, cameras)]
        return metrics.warping_error(out, turn, [sky] * (n - 1))
    followed, fixed = sky_error(views), sky_error([None] * n)
    assert followed < 0.3 * fixed, (followed, fixed)


def test_the_steps_give_the_same_pixels_on_any_number_of_threads(monkeypatch):
    """Motion, validity, the render filter and the result blend run in bands of rows on several
    threads; bands (with the rows their neighbourhood and contrast cells need) change nothing."""
    frames, vectors, depths = _flicker_sequence(4)
    rng = np.random.default_rng(5)
    strokes = [rng.random(frames[0].shape, dtype=np.float32) for _ in frames]

    def run(threads):
        monkeypatch.setattr(bands, "THREADS", threads)
        coherence, out = temporal.Coherence(), []
        for f, v, d, s in zip(frames, vectors, depths, strokes):
            motion = coherence.motion(v, d)
            seen = coherence.filter_content(f, motion)
            coherence.align(motion)
            out += [seen, coherence.blend(0.5 * (seen + s), motion,
                                          methods.METHODS["stylebank"].result_blend)]
            out += [motion.validity, motion.sample(s)] if motion else []
        return out
    monkeypatch.setattr(bands, "BAND_ROWS", 12)      # 64 rows: 3 bands, not a multiple of the cell
    one, three = run(1), run(3)
    assert len(one) == 14 and all(np.array_equal(a, b) for a, b in zip(one, three))
    # bands of at most BAND_PIXELS: more bands than threads, taken in turn
    monkeypatch.setattr(bands, "BAND_PIXELS", 12 * frames[0].shape[1])
    monkeypatch.setattr(bands, "BAND_ROWS", 4)
    many = run(2)
    assert all(np.array_equal(a, b) for a, b in zip(one, many))
