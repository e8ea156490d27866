"""Frame sequences without flicker: ``Coherence``, the state that carries one stylized frame
into the next (motion and its validity: motion.py; the per-pixel steps run in bands: bands.py).

Coherence works on three things, each only where the warp is valid (the surface was visible in
the previous frame), so what a moving object uncovers is always painted fresh. docs/animation.md
has the measurements behind each choice and the history of the constants.

- The render the networks see is averaged along the motion with the previous frames, but for
  what moves before a still camera (``filter_content``): render noise that changes every frame
  (an animated seed) no longer changes the strokes. The previous colour is clamped to the
  pixel's 3×3 neighbourhood: a moving shadow or a change of light is taken at once.
- Every stage's transform is computed from the frame's own content statistics (averaged over
  the frames, they washed a camera's travel out: docs/animation.md, 2026-12-07); ``record``, the
  pipeline's ``statistics`` hook, keeps them for a window painted at the whole frame's.
- The result is blended with the previous result warped onto it (``blend``, by the method's
  ``result_blend``; before a still camera, at least SURFACE_SHARE on what moves), moving
  surfaces included, so the strokes stay on the surfaces; the blend's local contrast is then
  matched to this frame's (``filters.match_contrast``, the variance-preserving blend of texture
  advection), or averaging two stroke patterns that do not line up would wash the style out.
- Each frame is padded onto the networks' pooling grid where the frame before lay (``align``),
  following a camera pan (the world background with it: ``motion.background``).
- What did not change is not painted again (``Canvas``, canvas.py): the painting is kept where
  the render is still what it was painted from; with a still camera, the set is painted once
  without its moving objects (the clean plate), and that painting shows wherever the set is
  seen, so a moving object leaves no trail and a clean render's still parts stay still; the
  networks then paint only the window around what moves (``_frame``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from . import pipeline, tiling
from .bands import in_bands
from .errors import StyleError
from .features import Moments, mask_union
from .canvas import CROP_CONTEXT, MOVING_PX, Canvas, most
from .filters import CONTRAST_CELL, fill, match_contrast, neighbourhood, per_channel
from .motion import (BORDER_PX, Motion, Sampler, background, dominant_motion, flows,
                     not_from_the_border, still_camera, valid)
from .images import check_array
from .methods import ResultBlend
from .settings import Settings

CONTENT_SHARE = 0.95    # at strength 1: the previous (filtered) render's share in what the networks see
SURFACE_SHARE = 0.8     # at strength 1: the previous result's share in the blend, at least, on what
                        # moves before a still camera (whatever the method's share and halving;
                        # the canvas's CARRIED_MOVING: 0.7 left the 720p Suzanne at 2.04 / 2.11)
PHASE = tiling.ALIGN    # px: the encoders' coarsest stride (content moved by it: painted the same)
DEFAULT_STRENGTH = 1.0  # the Temporal Coherence artists get (add-on, CLI) unless they choose
STIRRING_PX = 0.05      # px a frame: a pixel that moves at all (the clean plate's fit, canvas.py)


def _normalised(m: Moments) -> Moments:
    return Moments(1.0, m.sum / m.weight, m.outer / m.weight)


class Coherence:
    """What carries over from one frame to the next, for one sequence stylized in order with
    the same method and styles. ``strength`` 0 stylizes every frame on its own (today's
    behaviour), 1 is the most coherent. Use ``record`` as ``stylize(statistics=...)`` and pass
    each stylized frame through ``blend``; ``reset`` at a cut."""

    def __init__(self, strength: float = DEFAULT_STRENGTH, clean: np.ndarray | None = None):
        """``clean``: the shot's clean plate (H×W×3 float, as the frames the networks see: the
        set without its moving objects, Blender's render as shown), or None (canvas.py)."""
        if not np.isfinite(strength) or not 0.0 <= strength <= 1.0:
            raise StyleError(f"temporal coherence must be between 0 and 1, got {strength}")
        self.strength = float(strength)
        self.content_share = CONTENT_SHARE * self.strength
        self.clean = None
        self.reset()
        self.take_clean_plate(clean)

    def take_clean_plate(self, clean: np.ndarray | None) -> None:
        """``clean`` (as in the constructor) from now on: taken by the next frame whose still
        set's backdrop is not learnt yet."""
        self.clean = None if clean is None else np.ascontiguousarray(clean[..., :3], np.float32)
        self.canvas.clean = self.clean

    def reset(self, keep_plate: bool = False) -> None:
        """A cut: nothing carries over to the next frame; with ``keep_plate`` (a jump in the
        frames of one shot, e.g. a farm chunk after the shot's first frame), the still set's
        painting stays for where it still fits (``Canvas.cut``)."""
        self.previous: np.ndarray | None = None
        self.previous_content: np.ndarray | None = None
        self._statistics: dict = {}     # (stage, region) -> the last whole frame's (``record``)
        self._motion = None
        self._grid = np.zeros(2)        # (x, y): the picture's travel since the cut, px (see ``align``)
        if keep_plate and hasattr(self, "canvas"):
            self.canvas.cut()
        else:
            self.canvas = Canvas(self.clean)
            self._plate_statistics: dict = {}   # (stage, region) -> the whole backdrop's

    def align(self, motion: Motion | None) -> tuple[int, int]:
        """Where to put the frame on the networks' grid: (x, y) px of padding above and left, in
        [0, PHASE). The encoders pool to a stride of PHASE px, so a picture moved by 3 px is
        painted with other strokes, but one moved by PHASE px with the same strokes, moved
        (Azulay & Weiss 2019: strided networks are not shift-equivariant). The padding follows
        the dominant motion (a camera pan), so each frame lands on the grid where the previous
        one did, to within half a pixel; ``motion.carried`` is set to how far the grid moved, so
        the result blend sees what the strokes moved by relative to it."""
        if motion is None:
            self._grid[:] = 0
            return 0, 0
        before = np.rint(self._grid)
        self._grid += dominant_motion(motion)
        moved = np.rint(self._grid) - before
        motion.carried = (int(moved[0]), int(moved[1]))
        x, y = (int(v) % PHASE for v in np.rint(self._grid))
        return x, y

    def filter_content(self, content: np.ndarray, motion=None, moving=None) -> np.ndarray:
        """The frame the networks see: the render averaged along the motion with the previous
        frames where the warp is valid (the previous colour clamped to this pixel's 3×3
        neighbourhood), so render noise that changes every frame (an animated seed) does not
        change the strokes; not on ``moving`` pixels (what moves before a still camera, whose
        painting the canvas carries: averaged along a rolling ball's texture, the ball grew
        brighter, flatter and softer, docs/animation.md). At strength 0 the content itself."""
        share = self.content_share
        if share <= 0:
            return content
        if content.dtype == np.float32 and content.ndim == 3 and content.shape[2] in (3, 4):
            rgb = np.ascontiguousarray(content[..., :3])    # the usual frame: no checks
            alpha = content[..., 3] if content.shape[2] == 4 else None
        else:
            rgb, alpha = check_array(content, "content")
        if (self.previous_content is not None and motion is not None
                and self.previous_content.shape == rgb.shape):
            out = np.empty_like(rgb)

            def rows(r0, r1):
                warped = motion.sample(self.previous_content, (r0, r1))
                a = max(r0 - 1, 0)              # the neighbourhood needs a row above and below
                lo, hi = neighbourhood(rgb[a:r1 + 1])
                n = r1 - r0
                np.clip(warped, lo[r0 - a:r0 - a + n], hi[r0 - a:r0 - a + n], out=warped)
                here = rgb[r0:r1]
                warped -= here
                kept = share * motion.validity[r0:r1] * (1 if moving is None else ~moving[r0:r1])
                warped.reshape(-1)[:] *= per_channel(kept)
                np.add(warped, here, out=out[r0:r1])
            in_bands(rows, rgb.shape)
            rgb = out
        self.previous_content = rgb
        return rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=-1)

    def record(self, key, m: Moments) -> Moments:
        """The content statistics ``m`` of the whole frame under ``key`` (stage, region), kept
        for a window painted later at them (``_held``); the transform uses them as they are."""
        if m is not None and m.weight > 0:
            self._statistics[key] = _normalised(m)
        return m

    def blend(self, frame: np.ndarray, motion: Motion | None, result_blend: ResultBlend,
              where: np.ndarray | None = None, refresh: np.ndarray | None = None) -> np.ndarray:
        """This frame's stylization (H×W×3 or ×4; alpha passes through) blended with the
        previous result warped onto it where the warp is valid (by the method's
        ``result_blend``, and inside ``where``, e.g. the union of the style masks), its strokes'
        contrast restored (``match_contrast``); remembered for the next frame. The first frame,
        a frame without motion and strength 0 come back unchanged."""
        out = self._blend(frame, motion, result_blend, where, refresh)
        return out.copy() if out is self.previous else out  # the caller may change it

    @staticmethod
    def _held(whole: dict):
        """A ``statistics`` hook that gives a crop the whole picture's content statistics
        (``whole``: key -> normalised moments), so it is painted as in the whole picture."""
        def hook(key, m: Moments) -> Moments:
            p = whole.get(key)
            if p is None or m is None or m.weight <= 0:
                return m
            return Moments(m.weight, p.sum * m.weight, p.outer * m.weight)
        return hook

    def _frame(self, content, settings: Settings, paint, progress, at) -> pipeline.StyleResult:
        """The networks' painting of the frame. Where the plate is shown but in a window around
        what does not fit it (``Canvas.window``: a moving object, its shadow), only that window
        is painted, with CROP_CONTEXT px of the set around it, from the networks' grid (``at``:
        the frame's padding), at the content statistics the last whole frame was painted with
        (``record``'s; at the plate's, the 720p sphere's own warping ratio rose 4.4 -> 7.3 and
        the style gain dropped 0.02 more, AdaIN); around it the plate's painting. Else the whole
        frame, at its own statistics (``record``): after a cut or a jump; with masks (a small
        masked object's statistics held from another frame whitened it ever harder, an
        artist trial's ball); while the window is within BORDER_PX of the picture's edge (an
        object coming in: its crop painted bright bands the carry kept, a trial's cube, WCT)."""
        window = self.canvas.window if self.strength > 0 else None
        (h, w), (x, y) = content.shape[:2], at
        if window is None or not self._statistics or settings.seamless or settings.regions \
                or any(m is not None for m in settings.masks or ()) \
                or min(window[0].start, window[1].start, h - window[0].stop,
                       w - window[1].stop) < BORDER_PX:
            return paint(content, self.record if self.strength > 0 else None, progress)

        def span(side: slice, n: int, pad: int) -> slice:
            start = (max(side.start - CROP_CONTEXT, 0) + pad) // PHASE * PHASE - pad
            return slice(max(start, 0), min(side.stop + CROP_CONTEXT, n))
        crop = (span(window[0], h, y), span(window[1], w, x))
        if most(crop, (h, w)) or pipeline.runs_scaled(settings, content[crop].shape[:2]):
            return paint(content, self.record, progress)
        part = paint(np.ascontiguousarray(content[crop]), self._held(self._statistics), progress,
                     at=(x if crop[1].start == 0 else 0, y if crop[0].start == 0 else 0))
        out = np.empty(content.shape[:2] + part.image.shape[2:], np.float32)
        out[..., :3] = self.canvas.plate
        out[..., 3:] = np.clip(content[..., 3:], 0.0, 1.0)     # (alpha, where there is one)
        out[crop] = part.image
        part.image = out
        return part

    def _backdrop(self, backdrop, settings: Settings, paint, runtime, cancel) -> np.ndarray:
        """The painting of the backdrop the canvas asked for: of its crop (``Canvas.crop``) over
        the plate, where the networks would paint the crop at the frame's own scale and the
        method takes content statistics (``paints_crops``): from the whole backdrop's painted
        last, so the crop has the plate's look (from its own, the ghost ratio of the clean 720p
        scene rose 0.94 -> 1.26, AdaIN; with them 1.16; WCT 1.06 -> 1.12); else whole. There
        the extra network passes fell from 0.43 to 0.12 of a frame's, the mean cost of
        coherence from +64 to +37 % (AdaIN) and +50 to +20 % (WCT)."""
        crop = self.canvas.crop
        if crop is None or settings.seamless or not settings.method_object().paints_crops \
                or pipeline.runs_scaled(settings, backdrop.shape[:2]) \
                or pipeline.runs_scaled(settings, backdrop[crop].shape[:2]):
            seen = self._plate_statistics = {}

            def record(key, m: Moments) -> Moments:
                if m is not None and m.weight > 0:
                    seen[key] = _normalised(m)
                return m
            return paint(backdrop, record, None, settings.masks).image
        masks = None if settings.masks is None else [None if m is None else m[crop]
                                                     for m in settings.masks]
        part = pipeline.stylize_with(np.ascontiguousarray(backdrop[crop]),
                                     replace(settings, masks=masks), runtime=runtime, cancel=cancel,
                                     statistics=self._held(self._plate_statistics)).image
        out = self.canvas.plate.copy()
        out[crop] = part[..., :3]
        return out

    def _blend(self, frame, motion, result_blend, where, refresh, kept=None, surface=None,
               shows=None) -> np.ndarray:
        """``blend``, whose result may be ``previous`` itself; not made in bands of ``kept``
        rows (H bool: the canvas paints them over whole), nor outside the columns of ``shows``
        (a slice: the canvas paints over the rest) with two contrast cells around them, which
        keep the frame; on ``surface`` (H×W bool: what moves before a still camera) the
        previous result's share is at least SURFACE_SHARE (× strength): the canvas carries most
        of such a surface's painting, and a method's share that falls with speed (StyleBank's)
        renewed the rest with the fresh painting so much that its strokes boiled
        (docs/animation.md, 2026-12-05)."""
        out = frame
        share, halving = result_blend.share * self.strength, result_blend.halving
        least = np.float32(SURFACE_SHARE * self.strength)
        if surface is not None and (share >= least and halving is None or not surface.any()):
            surface = None                  # (the method's share is the larger everywhere)
        if (self.previous is not None and motion is not None and share > 0
                and self.previous.shape[:2] == frame.shape[:2]):
            rgb = np.ascontiguousarray(frame[..., :3], np.float32)
            warped = np.empty_like(rgb)     # the blended colour, contiguous: kept for the next frame
            (h, w), cell = rgb.shape[:2], CONTRAST_CELL
            c = slice(None) if shows is None else slice(   # (on the frame's cells: its match)
                max(shows.start // cell - 2, 0) * cell, min((-(-shows.stop // cell) + 2) * cell, w))

            def rows(r0, r1):               # with a cell above and below: the same contrast
                if kept is not None and kept[r0:r1].all():      # match as over the whole frame
                    warped[r0:r1] = rgb[r0:r1]
                    return
                if shows is not None:
                    warped[r0:r1, :c.start] = rgb[r0:r1, :c.start]
                    warped[r0:r1, c.stop:] = rgb[r0:r1, c.stop:]
                r, s = max(r0 - cell, 0), min(r1 + cell, h)
                a = share * motion.validity[r:s, c]             # the previous result's share
                if halving is not None:
                    a /= 1.0 + motion.speed2((r, s), c) / np.float32(halving ** 2)
                if surface is not None:
                    np.maximum(a, least * motion.validity[r:s, c] * surface[r:s, c], out=a)
                if where is not None:
                    a *= np.clip(np.asarray(where)[r:s, c], 0.0, 1.0)
                if refresh is not None:
                    a *= 1.0 - refresh[r:s, c]
                mixed = motion.carry(self.previous, (r, s), None if shows is None else c)
                here = rgb[r:s, c]
                mixed -= here
                flat = mixed.reshape(-1)        # × a per pixel: a broadcast over 3 channels is slow
                flat *= per_channel(a, mixed.shape[-1])
                mixed += here
                band = warped[r0:r1, c]
                band[:] = match_contrast(mixed, here)[r0 - r:r1 - r]
                # where nothing was blended (few pixels: occlusions, the border): the frame itself
                fresh = a[r0 - r:r1 - r] <= 0
                if fresh.any():
                    band[fresh] = rgb[r0:r1, c][fresh]
            in_bands(rows, rgb.shape, cell)
            self.previous = warped
            if frame.shape[-1] == 3:
                return warped
            out = np.array(frame, np.float32)
            out[..., :3] = warped
            return out
        self.previous = np.array(out[..., :3], np.float32)
        return out

    def _moving(self, motion: Motion | None, px: float = MOVING_PX) -> tuple[np.ndarray, bool]:
        """Which pixels of this frame move by over ``px`` relative to the networks' grid (H×W
        bool), by its Vector pass (backward and forward, so also on a sequence's first frame),
        and whether the camera is still (most of the picture does not move either way)."""
        backward, forward = self._flows
        square = lambda f: sum(np.square(f[..., k]) for k in range(f.shape[-1]))  # noqa: E731
        moving = np.empty(backward.shape[:2], bool)

        def rows(r0, r1):
            speed2 = motion.speed2((r0, r1)) if motion is not None else square(backward[r0:r1])
            np.logical_or(speed2 > px ** 2, square(forward[r0:r1]) > px ** 2, out=moving[r0:r1])
        in_bands(rows, moving.shape)
        return moving, still_camera(backward, forward)

    def motion(self, vector: np.ndarray | None, depth: np.ndarray | None = None,
               view: np.ndarray | None = None) -> Motion | None:
        """This frame's motion from its Vector pass (and depth, and the camera's ``view``: the
        world background's motion, ``motion.background``) and the previous frame's; None for
        the first frame, a frame without vectors, or no way to tell occlusions."""
        if vector is None:
            self._motion = None
            return None
        backward, forward = self._flows = flows(vector)
        previous, self._motion = self._motion, (backward.shape, forward, depth, view)
        if previous is None or previous[0] != backward.shape:
            return None
        background(backward, depth, view, *previous[1:])
        if previous[1] is None and (depth is None or previous[2] is None):
            return None
        sample = Sampler(backward)
        return Motion(sample, valid(backward, previous[1], depth, previous[2], sample), backward)

    def stylize(self, content: np.ndarray, settings: Settings, *, vector: np.ndarray | None = None,
                depth: np.ndarray | None = None, view: np.ndarray | None = None, runtime=None,
                progress=None, cancel=None) -> pipeline.StyleResult:
        """``pipeline.stylize_with`` of the next frame with its Vector pass and depth as Blender
        rendered them (top row first; None: a cut, nothing carries over) and its camera's
        ``view`` (``motion.background``): the render filtered along the motion, its statistics
        the frame's own, the result blended inside the style masks."""
        motion = self.motion(vector, depth, view) if self.strength > 0 else None
        moving, still = (None, 0) if self.strength <= 0 or vector is None else self._moving(motion)
        content = self.filter_content(content, motion, moving if still else None)
        rgb = np.ascontiguousarray(content[..., :3], np.float32)
        refresh = backdrop = surface = None
        if moving is not None:
            if still and motion is not None:
                not_from_the_border(motion, moving)
                motion.sharp = True     # (only what moves is resampled)
            stirring = None             # the clean plate's fit leaves out what moves at all: an
            if self.canvas.backdrop is None and self.canvas.clean is not None:  # object easing in
                stirring = self._moving(motion, STIRRING_PX)[0]     # (Blender's default keys)
            refresh, backdrop = self.canvas.plan(rgb, motion, moving, still, stirring)  # moved
                                        # under MOVING_PX on frame 1: the plate was refused for it
            surface = moving if still else None
        elif self.strength > 0:
            self.canvas = Canvas(self.clean)    # no vectors: no painting carries over
        # scaled, the networks' grid is not the frame's; tileable, the frame wraps around
        x, y = (0, 0) if pipeline.runs_scaled(settings, content.shape[:2]) or settings.seamless \
            else self.align(motion)

        def paint(image, statistics, progress, masks=settings.masks, at=(x, y)):
            px, py = at
            if (px or py) and masks is not None:
                masks = [None if m is None else tiling.mirror_pad_before(m, px, py) for m in masks]
            out = pipeline.stylize_with(tiling.mirror_pad_before(image, px, py),
                                        replace(settings, masks=masks), runtime=runtime,
                                        progress=progress, cancel=cancel, statistics=statistics)
            if px or py:
                out.image = np.ascontiguousarray(out.image[py:, px:])
            return out
        result = self._frame(content, settings, paint, progress, (x, y))
        if backdrop is not None:            # the still set without its moving objects, and its
            masks = None if settings.masks is None else [   # masks without them (a slot masked
                None if m is None else fill(m, self.canvas.objects)     # to a moving object
                for m in settings.masks]    # painted it into the plate where it was on the frame
                                            # the plate was made: a ghost, and a seam between
                                            # farm chunks: an artist trial)
            backdrop = self._backdrop(backdrop, replace(settings, masks=masks), paint, runtime,
                                      cancel)
        kept = self.canvas.weigh(backdrop, self.strength) if self.strength > 0 else None
        result.image = self._blend(result.image, motion, settings.method_object().result_blend,
                                   mask_union(settings.masks), refresh, kept, surface,
                                   shows=self.canvas.shows if self.strength > 0 else None)
        if self.strength > 0:               # (paint makes a new image: the blend's is not copied)
            result.image = self.canvas.paint(result.image, rgb)
            self.previous = self.canvas.painted     # not the caller's image: it may change it
        return result
