"""What an animation keeps of its earlier paintings: ``Canvas``.

A fresh painting of an unchanged picture is not the same painting: the networks' statistics
are the whole frame's and they see far, so a ball rolling across one corner repaints every
other corner (the strokes boil even on a clean render), and what they paint around a moving
object carries a halo of it, which, kept, leaves copies of its edge behind it. So:

- **Kept**: where the warp is valid and the render (as the networks see it) differs from what a
  painting was made from by at most REPAINT_CHANGE (smoothed over a few pixels: render noise is
  not a change), that painting is kept, carried along the motion, plus that small change (a
  light that dims, a bounce of colour). A moving surface carries its strokes the same way.
- **The clean plate** (a still camera): the set without its moving objects, painted on its own
  (the backdrop: the render with the moving objects filled in from around them, and, as they
  move, what they uncover). Still parts show the plate's painting, up to the moving objects'
  antialiased silhouettes, so what an object uncovers or leaves behind is painted as if it had
  never been there: no halo, no trail, no new strokes where nothing changed. The backdrop is
  painted again (from a crop, temporal.Coherence) only when an object uncovers some of the set
  never seen before, at once, and then only those pixels of the plate change.
- **A clean plate** (``Canvas(clean)``): the set without its moving objects as Blender rendered
  it, once for the shot. Where it fits the frame, it is the backdrop, whole from the start: the
  plate is painted once from it and never learnt patch by patch, so it is the same picture in
  every process that renders the shot, whichever frames it saw (a render farm's chunks), and
  what an object uncovers was painted before it was uncovered.
- **A shadow on the set** (darker, each channel by about as much: ``filters.shading``): the
  plate's painting darkened as the render is, not the frame's painting, which held the
  object's outline, kept where the shadow stayed: streaks and crescents in it.
- **Painted afresh**: a larger change, what a moving object uncovers where no plate fits, with a
  ramp of REPAINT_FEATHER px into what is kept. Without a plate (a moving camera), a painting
  made within HALO px of a moving object is painted once more from the frame alone when the
  object has gone, so its halo does not stay behind.
"""

from __future__ import annotations

import numpy as np

from .bands import around, in_bands
from .filters import bounds, box_blur, coverage, fill, grow, per_channel, shading
from .motion import Motion

REPAINT_CHANGE = 0.08   # a change of the render (0-1, the largest channel) above this is painted afresh
CHANGE_SMOOTHING = 2    # px: the render's change is averaged over (2·this + 1)² px
REPAINT_FEATHER = 2     # px: a fresh painting fades into the kept one over twice this
HALO = 12               # px: how far from a moving object its passing changes the networks' painting
MOVING_PX = 1.0         # px a frame relative to the networks' grid: a surface that moves
CARRIED_MOVING = 0.8     # the share of a moving surface's painting kept as carried (the rest renewed)
OBJECT_MARGIN = 1       # px around a moving object that its antialiased edge may colour
RELEARN_CHANGE = 0.01   # seen clear again, a part of the set changed by more than this is learnt again
EDGE = 2                # px around what is learnt whose plate is painted again with it
MATCH = 6               # px: the ring around a new patch of the plate its painting is matched on
MATCH_LEAST = 16        # pixels of that ring, at least, to match on
CROP_CONTEXT = 64       # px of the set around a new patch the networks see when they paint it
CROP_MOST = 0.5         # a crop above this share of the frame: the whole backdrop is painted
REVEALED_SHARE = 0.02   # the least share of the frame newly seen clear worth painting again for (batched)
SEEN_SHARE = 0.006      # or seen for the first time (where an object was when the plate was made): at
                        # once, or it shows the frame's painting until the batch, then the plate's
CLEAN_MISFIT = 0.25     # the clean plate (``Canvas(clean)``) is taken when at most this share of the
                        # set seen clear of moving objects differs from it by over REPAINT_CHANGE (an
                        # object that stands still before it moves is not in the plate; at 0.05 one of
                        # 7 % of the frame refused it: a ghost of it for the whole shot)


def _crop(new: np.ndarray) -> tuple[slice, slice] | None:
    """The part of the backdrop to paint for a patch of ``new`` pixels: the patch, its edge
    and the ring it is matched on, with CROP_CONTEXT px of the set around; None (the whole
    backdrop) when that is most of the frame (temporal.Coherence paints it at the whole
    backdrop's content statistics; measured in docs/animation.md)."""
    crop = bounds(new, EDGE + MATCH + CROP_CONTEXT)
    return None if most(crop, new.shape) else crop


def most(box: tuple[slice, slice], shape: tuple[int, int]) -> bool:
    """Whether a window (rows, columns) covers over CROP_MOST of a frame of ``shape``."""
    (rows, columns), (h, w) = box, shape
    return (rows.stop - rows.start) * (columns.stop - columns.start) > CROP_MOST * h * w


def _ramp(mask: np.ndarray, reach: int, wanted: np.ndarray | None = None) -> np.ndarray:
    """1 within ``reach`` px of ``mask``, falling to 0 at reach + 2·REPAINT_FEATHER px (in bands;
    ``wanted``: as ``in_bands``, 0 in the bands left out)."""
    out = np.zeros(mask.shape, np.float32)

    def rows(r0, r1):
        wide, band = around(r0, r1, len(mask), reach + 2 * REPAINT_FEATHER)
        if mask[wide].any():            # (most bands of a still set: none, and the ramp 0)
            out[r0:r1] = box_blur(grow(mask[wide], reach + REPAINT_FEATHER), REPAINT_FEATHER)[band]
    in_bands(rows, mask.shape, wanted=wanted)
    return out


def _change(rgb: np.ndarray, reference: np.ndarray, wanted: np.ndarray | None = None,
            apart: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The render's change since a painting (H×W×3), averaged over (2·CHANGE_SMOOTHING + 1)² px
    (a change of light is smooth, render noise is not), and its size: the largest channel's
    (H×W); ``wanted``: as ``in_bands``, 0 in the bands left out. ``apart`` (H×W bool, e.g. what
    moves): pixels left out of the average of the others, so a still pixel beside a moving
    object is measured by the set around it (averaged with the object, the 2 px around it
    boiled; not with ``wanted``). (Over 2×2 px cells a moving object's painting went blocky.)"""
    cells, size = np.zeros(rgb.shape, np.float32), np.zeros(rgb.shape[:2], np.float32)

    def rows(r0, r1):
        wide, band = around(r0, r1, len(rgb), CHANGE_SMOOTHING)
        c = box_blur(rgb[wide] - reference[wide], CHANGE_SMOOTHING)[band]
        cells[r0:r1] = c
        c = np.abs(c, out=c)            # (the blur's own array: ``cells`` has a copy)
        np.maximum(np.maximum(c[..., 0], c[..., 1]), c[..., 2], out=size[r0:r1])
    in_bands(rows, rgb.shape, wanted=wanted)
    if apart is not None:
        _apart(rgb, reference, apart, cells, size)
    return cells, size


def _apart(rgb, reference, apart, cells, size) -> None:
    """``_change``'s average (``cells``, and its ``size``) of the still pixels within
    CHANGE_SMOOTHING px of an ``apart`` one taken over the still pixels alone: worked out in the
    window around them only (elsewhere every pixel's square is still: the average of all; a
    moving pixel's stays that too). Over whole bands of rows it took 16 of 28 ms at 720p."""
    ring = grow(apart, CHANGE_SMOOTHING) & ~apart
    window = bounds(ring, CHANGE_SMOOTHING)
    if window is None:
        return
    r, c = window
    w = (~apart[r, c]).astype(np.float32)
    n = box_blur(w, CHANGE_SMOOTHING)
    mean = box_blur((rgb[r, c] - reference[r, c]) * w[..., None], CHANGE_SMOOTHING)
    at = ring[r, c]         # (each one's square lies inside the window, or at the frame's edge)
    cells[r, c][at] = change = mean[at] / n[at][:, None]
    size[r, c][at] = np.abs(change).max(-1)


class Canvas:
    """The paintings of one sequence: ``plan`` a frame (which may ask for the backdrop to be
    painted), ``weigh`` what is kept of it, then ``paint`` the frame's blended result over with
    what is kept (which also remembers it)."""

    def __init__(self, clean: np.ndarray | None = None):
        self.clean = clean                          # the clean plate, or None (see ``plan``),
        self.clean_misfit = False                   # and whether a frame found it did not fit
        self.painted = self.reference = None        # the last painting, the render it was made from
        self.backdrop = self.known = self.settled = None    # the set without moving objects,
                                                    # where it was seen, where seen clear of them
        self._pending = None                        # learnt since the plate was painted
        self.crop = None                            # (rows, columns) of the backdrop to paint
        self.plate = self.plate_ok = None           # the backdrop's painting, where it is one
        self.provisional = None                     # H×W: made near a moving object (no plate)
        self._plan = self._weights = self._shaded = None
        self.shows = self.window = None             # the columns where the frame's result shows,
                                                    # the (rows, columns) outside which it cannot

    @property
    def objects(self) -> np.ndarray:
        """The frame's moving objects with their antialiased edge (H×W bool, ``plan``)."""
        return self._object

    def cut(self) -> None:
        """A jump in the frames: the painting carried along the motion is dropped; the plate
        stays, for where the set still looks as it did (``plan`` checks every pixel)."""
        self.painted = self.reference = self.provisional = self._plan = None

    def plan(self, rgb: np.ndarray, motion: Motion | None, moving: np.ndarray,
             still_camera: bool, stirring: np.ndarray | None = None
             ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """For the frame whose render (as the networks see it) is ``rgb`` (H×W×3), whose
        ``moving`` pixels move relative to the networks' grid, seen by a ``still_camera`` or
        not: where the result blend should take the frame alone (H×W float32 in [0, 1], or
        None), and the backdrop to paint for the plate (H×W×3), or None."""
        self._plan = None
        if any(a is not None and a.shape != rgb.shape for a in (self.painted, self.backdrop)):
            self.__init__(self.clean)           # (a render of another size: nothing fits)
        if not still_camera:
            self.backdrop = self.known = self.settled = self.plate = self.plate_ok = None
        object_ = grow(moving, OBJECT_MARGIN)
        backdrop = None
        if still_camera:                    # the set is seen for sure where no moving object
            clear = ~grow(moving, HALO)     # is within HALO px (its shadow, its bounce light)
        if still_camera and self.backdrop is None and self._clean_fits(
                rgb, moving, clear if stirring is None else clear & ~grow(stirring, HALO)):
            self.backdrop = self.clean.copy()           # the whole set, as Blender rendered it
            self.known, self.settled = np.ones_like(clear), np.ones_like(clear)
            seen = np.zeros_like(clear)
            self._pending = self.known.copy()
        elif still_camera and self.backdrop is None:
            self.known, self.settled = ~object_, clear
            seen = self.known
            self.backdrop = fill(rgb, object_)
            self._pending = self.known.copy()
            self._backdrop_change = _change(rgb, self.backdrop, apart=moving)
        elif still_camera:
            seen = ~object_ & ~self.known       # seen for the first time: learnt now,
            self.backdrop[seen] = rgb[seen]
            self.known |= seen
            revealed = clear & ~self.settled    # seen clear of objects for the first time:
            delta, size = _change(rgb, self.backdrop, apart=moving)     # learnt again if it
                                                # changed (a shadow gone)
            again = revealed & (size > np.float32(RELEARN_CHANGE))
            self.backdrop[again] = rgb[again]
            delta[again], size[again] = 0.0, 0.0
            self.settled |= revealed
            self._pending |= seen | again
            self._backdrop_change = delta, size
        if still_camera and self._pending.any() and (np.count_nonzero(self._pending) >= min(
                REVEALED_SHARE * rgb[..., 0].size, np.count_nonzero(self.known))
                or np.count_nonzero(seen) >= SEEN_SHARE * rgb[..., 0].size):
            if not self.known.all():            # (what is not seen yet: filled again from
                self.backdrop = fill(self.backdrop, ~self.known)    # what is, beside it)
            backdrop = self.backdrop            # painted when enough is new (the first time:
                                                # all of it); the plate takes what is new
            self.crop = None if self.plate is None else _crop(self._pending)
        delta, size = self._backdrop_change if still_camera else (None, None)   # a shadow on the
        self._shaded = still_camera and shading(rgb, self.backdrop, delta, (size > np.float32(
            REPAINT_CHANGE)) & self.known & ~object_, CHANGE_SMOOTHING) or None     # set fits:
        if self._shaded is not None:        # the plate shows, darkened (``paint``)
            (r, c), at, _ = self._shaded
            size[r, c][at] = 0.0
        refresh, (wanted, window) = None, self._shows_carried(moving)
        self.window = window
        if motion is None or self.painted is None:
            self.painted = self.reference = self.provisional = None
        else:
            r, c = window or (slice(None), slice(None))
            motion.keep(self.painted, c)    # (the result blend carries it again: ``Motion.keep``)
            reference, painted = np.zeros(rgb.shape, np.float32), np.zeros(rgb.shape, np.float32)
            ref, held = reference[r, c], painted[r, c]      # (views: the window worked in)
            if window is not None:
                ref[:] = motion.carry(self.reference, (r.start, r.stop), c)
                held[:] = motion.carry(self.painted, (r.start, r.stop), c)
            else:
                def warp(r0, r1):
                    reference[r0:r1] = motion.carry(self.reference, (r0, r1))
                    painted[r0:r1] = motion.carry(self.painted, (r0, r1))
                in_bands(warp, rgb.shape, wanted=wanted)
            delta, size = _change(rgb[r, c], ref, wanted)
            big = size > np.float32(REPAINT_CHANGE)
            big |= motion.validity[r, c] <= 0
            carried = 1.0 - _ramp(big, 0, wanted)   # where the painting carried along the motion is kept
            # a painting carried by a motion is resampled each frame: renewed a little, or its
            # strokes would smear (a moving camera: not; the result blend carries its strokes)
            flow = motion.flow[r, c]
            np.multiply(carried, np.float32(CARRIED_MOVING if still_camera else 0.0), out=carried,
                        where=np.square(flow[..., 0]) + np.square(flow[..., 1]) > np.float32(0.25))
            if not still_camera:            # no plate: what was painted near a moving object
                near = grow(moving | big, HALO + 2 * REPAINT_FEATHER)   # (not the object itself)
                near &= ~moving             # is painted again once it has gone, with its halo
                                            # (near: where _ramp(moving | big, HALO) > 0)
                if self.provisional is not None:
                    refresh = motion.sample(self.provisional) * ~near * carried
                    carried -= refresh
                self.provisional = near.astype(np.float32)
            held += delta                   # with the render's change since it was made, and
            ref += delta                    # the render it stands for now (not: added again)
            if window is not None:          # (outside it the plate is shown whole: kept as 1)
                carried, inside = np.ones(rgb.shape[:2], np.float32), carried
                carried[r, c] = inside
            self._plan = (carried, painted, reference)
        self._moving, self._object, self._rgb = moving, object_, rgb
        return refresh, backdrop

    def _clean_fits(self, rgb: np.ndarray, moving: np.ndarray, clear: np.ndarray) -> bool:
        """Whether the clean plate is this frame's set: same size, and the part of the frame
        seen clear of moving objects differs from it by over REPAINT_CHANGE in at most
        CLEAN_MISFIT of its pixels (a plate made before the set or the view changed is not
        taken: the backdrop is learnt from the frames as without one). Then
        ``_backdrop_change`` is the frame's change from it."""
        if self.clean is None or self.clean.shape != rgb.shape or not clear.any():
            return False
        change = _change(rgb, self.clean, apart=moving)
        if np.count_nonzero(change[1][clear] > np.float32(REPAINT_CHANGE)) \
                > CLEAN_MISFIT * np.count_nonzero(clear):
            self.clean_misfit = True
            return False
        self._backdrop_change = change
        return True

    def _shows_carried(self, moving: np.ndarray) -> tuple:
        """Where the painting carried along the motion (what ``plan`` works out) may show
        through the plate (not far from what does not fit it), with what the change and the ramp
        read around it: (the rows, H bool, or None: all; the window of rows and columns around
        it, as much again on each side for the filters' edges, or None: over CROP_MOST)."""
        if self.plate is None:
            return None, None
        fits = (self._backdrop_change[1] <= np.float32(REPAINT_CHANGE)) & ~moving & self.plate_ok
        reach = 2 * (2 * REPAINT_FEATHER) + CHANGE_SMOOTHING    # the plate's ramp, the carried
        window = bounds(~fits, 2 * reach)                       # one's ramp, the change
        if window is not None and not most(window, fits.shape):
            return None, window
        return grow((~fits).any(1)[:, None], reach)[:, 0], None

    def weigh(self, backdrop: np.ndarray | None, strength: float) -> np.ndarray | None:
        """Before the frame's result blend: the painting of the backdrop ``plan`` asked for
        (or None) taken into the plate, and how much of each pixel is kept, by ``strength``
        (0-1). Returns the rows kept whole (H bool: the blend does not show there), or None."""
        if backdrop is not None:
            painting = np.asarray(backdrop[..., :3], np.float32)
            if self.plate is None:
                self.plate, self.plate_ok = painting.copy(), self.known.copy()
                if self._plan is not None:  # made mid-shot (the camera stopped): the set as
                    carried, held, _ = self._plan   # on screen, carried along the pan (a fresh
                    # painting popped in: warping ratio 11 on that frame, WCT; faded in over 6
                    # frames, the mix of two paintings cost WCT 0.11 of style gain)
                    use = self.known & (carried >= 1)
                    self.plate[use] = np.clip(held[use], 0.0, 1.0)
            else:                           # what was learnt and around it (where the
                self._patch(painting, grow(self._pending, EDGE) & self.known)   # edge of what
                                            # was not yet known was painted): the rest stays
            self._pending = np.zeros_like(self.known)
        keep = held = source = plate = None     # how much is kept, of what, made from which
        if self._plan is not None:              # render; how much of that is the plate
            keep, held, source = self._plan
        if self.plate is not None:          # the still set as painted without its objects
            # shown whole on the still set up to what moves (the silhouette, a seam there is an
            # edge of the picture, its edge pixels as much as the render's antialiasing shows
            # the set: cut at whole pixels it was stair-stepped; so is the margin not yet seen
            # clear), faded over 2·REPAINT_FEATHER px into still pixels that do not fit it (a
            # change of the set). (Faded out from the moving object too, the 4-7 px around it
            # took the frame's painting with the object's halo: 10-30× the render's change.)
            hard = self._moving | (self._object & ~self.plate_ok)
            misfit = (self._backdrop_change[1] > np.float32(REPAINT_CHANGE)) | ~self.plate_ok
            misfit &= ~hard
            plate = 1.0 - _ramp(misfit, 0)
            plate[hard] = 0.0
            if (edge := coverage(self._rgb, self.backdrop, self._moving)) is not None:
                (r, c), at, alpha = edge
                plate[r, c][at] = np.where(self.plate_ok[r, c][at], 1.0 - alpha[at], 0.0)
            if keep is None:                # nothing carried: what is kept is the plate alone
                keep, held, source = plate, None, np.empty_like(self.backdrop)
            else:
                keep *= 1.0 - plate
                keep += plate
        self._weights = None if keep is None else (keep * np.float32(strength), held, source, plate)
        if keep is None:
            self.shows = None
            return None
        shows = self._weights[0] < 1            # where the frame's result shows at all
        box = bounds(shows, 0)
        self.shows = box and box[1]
        return ~shows.any(1)

    def _patch(self, painting: np.ndarray, new: np.ndarray) -> None:
        """The plate's ``new`` pixels from ``painting``, another painting of the set, matched
        to the plate around them: each channel's mean and spread over a MATCH px ring where both
        paint the same set. Copied as they were, they showed as boxes of another colour behind a
        moving cube (an artist trial, WCT at 160×90). (Faded into the plate over 4 px as well,
        the still set changed more: clear ratio 1.03 -> 1.20 for WCT on the clean scene.)"""
        ring = grow(new, MATCH) & ~new & self.plate_ok
        if np.count_nonzero(ring) >= MATCH_LEAST:
            a, b = painting[ring], self.plate[ring]
            scale = np.clip(b.std(0) / np.maximum(a.std(0), 1e-3), 0.5, 2.0)
            painting = (painting - a.mean(0)) * scale.astype(np.float32) + b.mean(0)
        self.plate[new] = painting[new]
        self.plate_ok |= new

    def paint(self, frame: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """``frame`` (H×W×3 or ×4, the blended result of the frame whose render is ``rgb``)
        with what is kept over it (``weigh``). Remembered for the next frame."""
        out = np.empty(frame.shape, np.float32)
        if self._weights is None:
            out[:] = frame
            self.painted, self.reference = out[..., :3].copy(), rgb.copy()
            return out
        keep, held, source, plate = self._weights
        self.painted = painted = np.empty_like(rgb)
        if plate is not None and self._shaded is not None:     # a shadow: the plate's painting
            (r, c), at, factor = self._shaded                   # × its factors (not + the change)
            self._backdrop_change[0][r, c][at] = self.plate[r, c][at] * (factor[at] - 1)

        def rows(r0, r1):                   # the plate's painting, with the render's change,
            r = slice(r0, r1)               # over what is kept; that over the frame
            s, h = source[r], None if held is None else held[r]
            if plate is not None:
                delta = self._backdrop_change[0][r]
                delta += self.plate[r]
                if h is None or (plate[r] >= 1).all():      # the plate's painting alone
                    h = delta
                    s[:] = self.backdrop[r]
                else:
                    p = per_channel(plate[r])
                    delta -= h
                    delta.reshape(-1)[:] *= p
                    h += delta
                    delta = self.backdrop[r] - s
                    delta.reshape(-1)[:] *= p
                    s += delta
            np.clip(h, 0.0, 1.0, out=h)
            o = painted[r]
            if (keep[r] >= 1).all():        # the frame does not show (nor was it blended)
                o[:] = h
            else:
                k = per_channel(keep[r])
                o[:] = frame[r, :, :3]
                h -= o
                h.reshape(-1)[:] *= k
                o += h
                s -= rgb[r]
                s.reshape(-1)[:] *= k
                s += rgb[r]
            out[r, :, :3] = o
            out[r, :, 3:] = frame[r, :, 3:]     # alpha passes through
        in_bands(rows, rgb.shape)
        self.reference = source
        return out
