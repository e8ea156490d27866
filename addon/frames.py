"""One rendered frame as Apply Styles treats it: the style slots' settings (checked before
anything renders), the render as the Render window shows it, stylized and put over the render
by the slots' masks. Shared by Apply Styles, Apply Styles to Animation and renders with the live
'NST Style' node (live.py)."""

from __future__ import annotations

import numpy as np

from . import engine, pixels
from .engine import UserError
from .properties import settings_from
from .styles import style_for

MIN_PREVIEW = engine.MIN_WORK_SIZE   # the engine's smallest work_size


def slots_key(scene) -> tuple:
    """What a carried coherence must have been made with: the method and the slots."""
    nst = scene.nst
    return (nst.method, nst.strength, nst.preserve_color, nst.work_size, nst.style_size,
            tuple((s.kind, s.style_path, s.style_name, s.weight, s.mask_source, s.mask_index,
                   s.mask_objects) for s in nst.slots))


def slot_settings(scene):
    """The style slots of Apply Styles (weight above 0) and the Settings they and the panel
    give, checked before anything renders; the masks come with the render."""
    nst = scene.nst
    slots = [s for s in nst.slots if s.weight > 0]
    if not nst.slots:
        raise UserError("the style list is empty; add a style slot with a weight above 0")
    if not slots:
        raise UserError(f"every style slot's weight is 0 ({len(nst.slots)} slot(s)); give at "
                        "least one a weight above 0")
    method = engine.METHODS[nst.method.lower()]
    styles = []
    for i, slot in enumerate(slots):
        if (slot.kind == "BUILTIN") != method.takes_style_names:
            raise UserError(f"style slot {i + 1} is {'a built-in style' if slot.kind == 'BUILTIN' else 'an image'}"
                            f" but the method is {method.label}: built-in styles need method "
                            "StyleBank, style images WCT or AdaIN")
        styles.append(style_for(nst.method, slot.style_path, slot.style_name,
                                where=f"style slot {i + 1}: "))
    if 0 < nst.work_size < MIN_PREVIEW:
        raise UserError(f"Preview Size {nst.work_size} px is too small; use 0 (full resolution) "
                        f"or at least {MIN_PREVIEW} px")
    check_before_render(scene, slots)
    return slots, settings_from(nst, styles=styles, weights=[s.weight for s in slots])


def as_shown(scene, raw: np.ndarray) -> np.ndarray:
    """The render ``raw`` (scene-linear premultiplied H×W×4) as the Render window shows it:
    display-encoded straight H×W×4, the scene's view transform, look and exposure applied."""
    px = engine.unpremultiply(raw)
    px[..., :3] = pixels.shown(scene, px[..., :3])
    px[..., 3] = np.clip(px[..., 3], 0.0, 1.0)
    return px


def over(top: np.ndarray, under: np.ndarray, cover) -> np.ndarray:
    """``top`` where the slots apply, ``under`` elsewhere, mixed by the soft cover (None:
    everywhere), pixel by pixel (…×4, the cover …)."""
    if cover is None:
        return top
    return cover[..., None] * top + (1 - cover[..., None]) * under


def finished(styled: np.ndarray, px: np.ndarray, cover, blur, whole: bool = True) -> np.ndarray:
    """A worker's end of a frame (the main thread stays free): ``styled`` over ``px`` by the
    ``cover`` and blurred (``blur``: shutter.along's, or None) when ``whole``; else as it is
    (the nodes after the NST Style node, or an OpenEXR output: the main thread composites it)."""
    if not whole:
        return styled
    out = over(styled, px, cover)
    return out if blur is None else blur(out, True)


def scene_linear(inverse, styled: np.ndarray, raw: np.ndarray, cover) -> np.ndarray:
    """The stylized picture ``styled`` (as shown) back into scene-linear premultiplied H×W×4
    such that, shown with the scene's view transform (``inverse``: its ViewInverse), it is that
    picture (colours the transform cannot show come as close as it can); mixed over the render
    ``raw`` by the soft ``cover`` (None: everywhere), outside which ``raw`` stays exactly as it
    was, HDR values included."""
    inside = np.ones(raw.shape[:2], bool) if cover is None else cover > 0
    out = raw.copy()
    if not inside.any():                     # the masks cover nothing (no such object index)
        return out
    picked = styled[inside]
    alpha = picked[:, 3:]
    out[inside] = over(np.concatenate([inverse(picked[:, :3]) * alpha, alpha], -1), raw[inside],
                       None if cover is None else cover[inside])
    return out


def stylized_over(px: np.ndarray, settings, coherence=None, vector=None, depth=None, view=None):
    """The worker's part for one frame ``px`` (as shown): stylized as ``settings`` say (their
    masks included; an animation frame with its coherence, Vector pass, depth and camera's
    view) and put over ``px`` by the masks. A ``work(progress, cancel)`` for a job, or call it
    with (None, None)."""
    def work(progress, cancel):
        styled = engine.stylize(px, settings, progress, cancel, coherence, vector, depth, view)
        return over(styled, px, engine.mask_union(settings.masks))
    return work


def render_size(scene) -> tuple[int, int]:
    r = scene.render
    return (r.resolution_x * r.resolution_percentage // 100,
            r.resolution_y * r.resolution_percentage // 100)


def check_before_render(scene, slots) -> None:
    """What would only fail after a whole render, said before it starts."""
    if not scene.render.use_compositing:
        raise UserError("Compositing is off (Output Properties › Post Processing): Apply Styles "
                        "reads the render passes through the compositor; turn it on")
    for i, slot in enumerate(slots):
        if slot.mask_source == "IMAGE" and slot.mask_image is None:
            raise UserError(f"style slot {i + 1}: choose the mask image")
        if slot.mask_source == "CRYPTOMATTE":
            names = [n.strip() for n in slot.mask_objects.split(",") if n.strip()]
            if not names:
                raise UserError(f"style slot {i + 1}: name the objects for its Cryptomatte mask")
            unknown = [n for n in names if n not in scene.objects]
            if unknown:
                raise UserError(f"style slot {i + 1}: no object named {', '.join(map(repr, unknown))} "
                                "in this scene for the Cryptomatte mask (names are comma separated)")
