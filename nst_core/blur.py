"""Motion blur after the style, from Blender's Vector and Depth passes.

Blender renders no motion vectors while Motion Blur is on (Cycles and EEVEE give a Vector pass
of zeros, measured with bpy 5.0.1), and Temporal Coherence follows them. So a render with both
is rendered sharp, with its vectors; each frame is stylized coherently and then blurred along
the same vectors over the shutter, as a camera would film a moving painting: the strokes smear
along the motion. The shutter is centred on the frame (Blender's default, Center): its first
half follows the flow from the previous frame, its second the flow to the next.

The filter gathers, like McGuire et al.'s ("A Reconstruction Filter for Plausible Motion Blur",
I3D 2012): the tiles around each pixel name the farthest-moving pixel near it (its neighbour
max), and the pixel averages what it shows at SAMPLES moments of the shutter. At each moment it
shows its own surface, moved back along its own motion (past a moving edge: what that edge
uncovers, the set beside it), unless a nearer surface, found back along the farthest motion
near it, arrives on it at that moment (what passes in front). McGuire's per-sample weights left
the inside of a moving square's edge sharp (against the shutter's exact average, 1.49/255 off
over the frame, this 0.38); one surface per moment does not."""

from __future__ import annotations

import numpy as np

from .bands import in_bands
from .color import premultiply, unpremultiply
from .errors import StyleError
from .motion import OUTSIDE, background, flows

SAMPLES = 32            # at most, along both directions together (Blender's Vector Blur: 32)
SAMPLE_PX = 1.0         # px of the longest half-travel a sample: fewer for a short blur
STILL_PX = 0.5          # px: a half-travel below this does not blur
SOFT_DEPTH = 0.05       # relative depth by which a surface is in front of another
ARRIVE_PX = 1.0         # px: a surface this near a pixel at a moment of the shutter covers it


def travel(backward: np.ndarray, forward: np.ndarray | None, shutter: float,
           opens: float = 0.5) -> tuple:
    """Where each pixel's surface is when a ``shutter`` (frames) opens and closes, as (before,
    after) H×W×2 (x, y) px from the pixel: the flow from the previous frame × the part of the
    shutter before the frame (``opens``: 0.5 centred on it, Blender's Center; 0 Start on Frame;
    1 End on Frame), the flow to the next × the rest (a surface that stops moving at the frame
    is blurred on one side only). Blender 4.x's compositor drops the forward y: then the
    backward's. Where a flow is unusable (it leaves every picture, or is not finite), nothing
    moves."""
    backward = np.asarray(backward, np.float32)
    before = backward * np.float32(shutter * opens)
    after = backward * np.float32(-shutter * (1.0 - opens))
    if forward is not None:
        after[..., :forward.shape[-1]] = forward * np.float32(shutter * (1.0 - opens))
    for moved in (before, after):
        moved[~np.isfinite(moved).all(-1) | (np.abs(moved) >= OUTSIDE * shutter).any(-1)] = 0.0
    return before, after


def motion_blur(image: np.ndarray, vector: np.ndarray, depth: np.ndarray | None, shutter: float,
                straight: bool = False, opens: float = 0.5, views: tuple | None = None) -> np.ndarray:
    """``image`` (H×W×C float, top row first) as a shutter open ``shutter`` frames would film
    it moving along Blender's Vector pass ``vector`` (H×W×4, or ×3 from Blender 4.x's
    compositor), what is nearer in its Depth pass ``depth`` (H×W, or None) passing in front;
    ``opens``: the part of the shutter before the frame (``travel``). ``straight``: the alpha
    of an H×W×4 image is straight (blurred premultiplied). ``views``: the cameras' views (3×3,
    ``motion.background``; each may be None) of the previous frame, this one and the next: the
    world background, which Cycles gives no motion, moves as the camera turns. A new array."""
    if not np.isfinite(shutter) or shutter < 0 or not 0.0 <= opens <= 1.0:
        raise StyleError(f"a motion blur's shutter is a number of frames >= 0 and the part of it "
                         f"before the frame between 0 and 1, got {shutter} and {opens}")
    image = np.asarray(image, np.float32)
    backward, forward = flows(vector)
    if views is not None and depth is not None:
        previous, now, following = views
        background(backward, depth, now, None, None, previous)
        background(None, None, following, forward, depth, now)
    moved = travel(backward, forward, shutter, opens)
    if straight and image.shape[-1] == 4:
        return unpremultiply(blur(premultiply(image), *moved, depth, opens=opens))
    return blur(image, *moved, depth, opens=opens)


def blur(image: np.ndarray, before: np.ndarray, after: np.ndarray,
         depth: np.ndarray | None = None, samples: int = SAMPLES, opens: float = 0.5) -> np.ndarray:
    """``image`` (H×W×C float, premultiplied where it has alpha) as the shutter sees it while
    each pixel's surface goes from ``before`` to ``after`` (``travel``; ``opens`` of its moments
    before the frame); ``depth`` (H×W, or None: what moves more is in front) tells which
    surface passes in front. A new array."""
    image = np.asarray(image, np.float32)
    h, w = image.shape[:2]
    if before.shape != (h, w, 2) or after.shape != (h, w, 2) \
            or depth is not None and depth.shape[:2] != (h, w):
        raise StyleError(f"motion blur needs travels of {h}×{w}×2 and a depth of {h}×{w}; got "
                         f"{before.shape}, {after.shape} and "
                         f"{None if depth is None else depth.shape}")
    radius = np.maximum(np.hypot(before[..., 0], before[..., 1]),
                        np.hypot(after[..., 0], after[..., 1]))
    out = image.copy()
    longest = float(radius.max(initial=0.0))
    if longest < STILL_PX:
        return out
    most = _neighbour_max(radius, max(int(np.ceil(longest)), 1))   # the farthest-moving pixel near
    active = np.flatnonzero(radius.ravel()[most] >= STILL_PX)
    if not active.size:
        return out
    flat, result = image.reshape(h * w, -1), out.reshape(h * w, -1)
    ways = (before.reshape(-1, 2), after.reshape(-1, 2))
    z_flat = -radius.ravel() if depth is None else np.asarray(depth, np.float32).ravel()
    most = most.ravel()
    steps = int(min(samples, max(4, np.ceil(2 * longest / SAMPLE_PX))))
    early = int(round(steps * opens))                   # moments before the frame

    def chunk(c0: int, c1: int) -> None:
        here = active[c0:c1]
        iy, ix = np.divmod(here, w)
        ys, xs = iy.astype(np.float32), ix.astype(np.float32)
        jitter = _noise(xs, ys)                         # fixed per pixel: farm chunks agree
        z_x = z_flat[here] * np.float32(1.0 - SOFT_DEPTH)
        own = [way[here] for way in ways]
        far = [way[most[here]] for way in ways]
        total = np.zeros((here.size, flat.shape[1]), np.float32)
        for k in range(steps):                          # moments of the shutter: u of the way
            side = k >= early                           # from the frame to its opening (before
            n, j = (early, k) if not side else (steps - early, k - early)   # it) or closing;
            u = (np.float32(j + 0.5) + (jitter if side else -jitter)) * np.float32(1.0 / n)
                                                        # (the jitter mirrored: antithetic)
            at = _at(xs - own[side][:, 0] * u, ys - own[side][:, 1] * u, h, w)
            seen = flat[at]                             # this pixel's own surface then (or what
            limit = np.minimum(z_flat[at] * np.float32(1.0 - SOFT_DEPTH), z_x)  # it uncovered)
            ox = np.clip(np.rint(xs - far[side][:, 0] * u), 0, w - 1)
            oy = np.clip(np.rint(ys - far[side][:, 1] * u), 0, h - 1)
            other = oy.astype(np.intp) * w + ox.astype(np.intp)
            moved = ways[side][other]
            dx, dy = ox + moved[:, 0] * u - xs, oy + moved[:, 1] * u - ys
            passing = (dx * dx + dy * dy <= np.float32(ARRIVE_PX ** 2)) & (z_flat[other] < limit)
            seen[passing] = flat[other[passing]]        # what moves past in front of it, then
            total += seen
        result[here] = total * np.float32(1.0 / steps)
    in_bands(chunk, (active.size, 1))
    return out


def _at(x: np.ndarray, y: np.ndarray, h: int, w: int) -> np.ndarray:
    """The flat index of the pixel nearest (x, y), within the picture."""
    return (np.clip(np.rint(y), 0, h - 1).astype(np.intp) * w
            + np.clip(np.rint(x), 0, w - 1).astype(np.intp))


def _noise(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Interleaved gradient noise (Jimenez 2014) in [-0.5, 0.5): a sample offset per pixel that
    turns the samples' steps into a fine, fixed grain."""
    return (np.modf(52.9829189 * np.modf(0.06711056 * xs + 0.00583715 * ys)[0])[0]
            - 0.5).astype(np.float32)


def _neighbour_max(radius: np.ndarray, tile: int) -> np.ndarray:
    """Per pixel, the flat index of the pixel that moves farthest in the tiles (``tile`` px)
    around its own (McGuire's neighbour max), H×W."""
    h, w = radius.shape
    th, tw = -(-h // tile), -(-w // tile)
    r = np.full((th * tile, tw * tile), -1.0, np.float32)
    r[:h, :w] = radius
    blocks = r.reshape(th, tile, tw, tile).transpose(0, 2, 1, 3).reshape(th, tw, -1)
    best = blocks.argmax(-1)
    iy = np.minimum(np.arange(th)[:, None] * tile + best // tile, h - 1)
    ix = np.minimum(np.arange(tw)[None, :] * tile + best % tile, w - 1)
    padded = np.pad(radius[iy, ix], 1, constant_values=-1.0)
    pick = np.stack([padded[1 + dy:1 + dy + th, 1 + dx:1 + dx + tw]
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1)]).argmax(0)
    ty = np.clip(np.arange(th)[:, None] + pick // 3 - 1, 0, th - 1)
    tx = np.clip(np.arange(tw)[None, :] + pick % 3 - 1, 0, tw - 1)
    index = iy[ty, tx] * w + ix[ty, tx]
    return np.repeat(np.repeat(index, tile, 0), tile, 1)[:h, :w]
