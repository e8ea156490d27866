"""Compositor style blending: masks from render passes, the 'NST Style' node group.

Render passes cannot be read from Python, so Apply renders once with a temporary File Output
node writing the image and the needed passes (object index, material index, Cryptomatte mattes)
to EXR files, which also works headless. The stylized result is written to the image
'NST Style Result', shown by an Image node inside the node group 'NST Style', whose instance
feeds the compositor's output: the Group Output of `scene.compositing_node_group` in Blender 5,
the Composite node of `scene.node_tree` in 4.x. The artist can composite on top of it.
The Apply Styles operator and the slot list's operators live here too.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

import bpy
import numpy as np

from . import engine, jobs, pixels
from .animation import animation_frames, check_coherence, frame_props, frame_range
from .engine import UserError
from .preferences import engine_options
from .styles import style_for

GROUP = "NST Style"
RESULT = "NST Style Result"
MIN_PREVIEW = engine.MIN_WORK_SIZE   # the engine's smallest work_size
_TEMP = "NST temporary"


def scene_tree(scene, create: bool = True):
    """The scene's compositor tree (created with Render Layers -> output when missing)."""
    if hasattr(scene, "compositing_node_group"):          # Blender 5
        tree = scene.compositing_node_group
        if tree is None and create:
            tree = bpy.data.node_groups.new(f"{scene.name} Compositing", "CompositorNodeTree")
            tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
            rl = tree.nodes.new("CompositorNodeRLayers")
            rl.scene = scene                # a new node shows the window's scene, maybe another
            out = tree.nodes.new("NodeGroupOutput")
            out.location = (400, 0)
            tree.links.new(rl.outputs["Image"], out.inputs[0])
            scene.compositing_node_group = tree
        return tree
    scene.use_nodes = True                                  # Blender 4.x
    return scene.node_tree


def output_node(tree):
    kind = "GROUP_OUTPUT" if hasattr(bpy.context.scene, "compositing_node_group") else "COMPOSITE"
    for node in tree.nodes:
        if node.type == kind:
            return node
    node = tree.nodes.new("NodeGroupOutput" if kind == "GROUP_OUTPUT" else "CompositorNodeComposite")
    if kind == "GROUP_OUTPUT" and not tree.interface.items_tree:
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    return node


def _render_layers(tree, scene, view_layer):
    for node in tree.nodes:
        if node.type == "R_LAYERS" and node.scene in (None, scene) and node.layer == view_layer.name:
            return node, False
    node = tree.nodes.new("CompositorNodeRLayers")
    node.name = node.label = _TEMP
    node.scene, node.layer = scene, view_layer.name
    return node, True


def _file_output(tree, directory: str):
    node = tree.nodes.new("CompositorNodeOutputFile")
    node.name = node.label = _TEMP
    fmt = node.format
    if hasattr(fmt, "media_type"):
        fmt.media_type = "IMAGE"
    fmt.file_format, fmt.color_depth = "OPEN_EXR", "32"
    if hasattr(node, "file_output_items"):                 # Blender 5
        node.directory, node.file_name = directory, "nst_"
        node.file_output_items.clear()
        add = lambda name, kind: node.file_output_items.new(kind, name)  # noqa: E731
    else:                                                  # Blender 4.x
        node.base_path = directory + os.sep
        node.file_slots.clear()
        add = lambda name, kind: node.file_slots.new(f"nst_{name}")  # noqa: E731
    return node, add


def _output(node, *names):
    """The first output socket with one of ``names`` (Blender 5 renamed the passes: 'Object
    Index' was 'IndexOB', 'Material Index' was 'IndexMA')."""
    for name in names:
        if name in node.outputs:
            return node.outputs[name]
    raise UserError(f"the Render Layers node has no '{names[0]}' output")


def _find_input(node, name):
    for socket in node.inputs:
        if socket.name in (name, f"nst_{name}"):
            return socket
    return node.inputs[-2] if len(node.inputs) > 1 and not node.inputs[-1].name else node.inputs[-1]


def _read_pass(directory: str, name: str) -> np.ndarray:
    files = sorted(glob.glob(os.path.join(directory, f"nst_{name}*.exr")))
    if not files:
        raise UserError(f"the render wrote no '{name}' pass; is the compositor enabled for rendering?")
    return pixels.read_exr(files[0])


def render_passes(scene, view_layer, slots, motion: bool = False, with_image: bool = True):
    """Render once; return the image as rendered (scene-linear premultiplied H×W×4, HDR values
    kept; None without ``with_image``, for a caller that reads the Render Result instead), one
    mask per slot (or None; masks need the image) and, with ``motion``, the Vector pass
    (H×W×4) and the depth (H×W) of the frame, else None for each."""
    kinds = {s.mask_source for s in slots}
    if motion:
        view_layer.use_pass_vector = view_layer.use_pass_z = True
    if "OBJECT_INDEX" in kinds:
        view_layer.use_pass_object_index = True
    if "MATERIAL_INDEX" in kinds:
        view_layer.use_pass_material_index = True
    if "CRYPTOMATTE" in kinds:
        view_layer.use_pass_cryptomatte_object = True
    tree = scene_tree(scene)
    tmp = tempfile.mkdtemp(prefix="nst_passes_")
    temporary = []
    try:
        rl, made = _render_layers(tree, scene, view_layer)
        if made:
            temporary.append(rl)
        fo, add = _file_output(tree, tmp)
        temporary.append(fo)
        if with_image:
            add("image", "RGBA")
            tree.links.new(rl.outputs["Image"], _find_input(fo, "image"))
        if "OBJECT_INDEX" in kinds:
            add("object", "FLOAT")
            tree.links.new(_output(rl, "Object Index", "IndexOB"), _find_input(fo, "object"))
        if "MATERIAL_INDEX" in kinds:
            add("material", "FLOAT")
            tree.links.new(_output(rl, "Material Index", "IndexMA"), _find_input(fo, "material"))
        for i, slot in enumerate(slots):
            if slot.mask_source == "CRYPTOMATTE":
                crypto = tree.nodes.new("CompositorNodeCryptomatteV2")
                crypto.name = crypto.label = _TEMP
                temporary.append(crypto)
                crypto.scene, crypto.layer_name = scene, f"{view_layer.name}.CryptoObject"
                crypto.matte_id = slot.mask_objects
                add(f"crypto{i}", "FLOAT")
                tree.links.new(crypto.outputs["Matte"], _find_input(fo, f"crypto{i}"))
        if motion:
            add("vector", "RGBA")
            tree.links.new(_output(rl, "Vector"), _find_input(fo, "vector"))
            add("depth", "FLOAT")
            tree.links.new(_output(rl, "Depth", "Z"), _find_input(fo, "depth"))
        bpy.ops.render.render(scene=scene.name)
        image = _read_pass(tmp, "image") if with_image else None
        masks = [_mask(slot, i, tmp, image.shape[:2]) for i, slot in enumerate(slots)]
        vector = _read_pass(tmp, "vector") if motion else None
        if vector is not None and not hasattr(scene, "compositing_node_group"):
            vector = vector[..., :3]    # Blender 4.x's compositor carries 3D vectors: the 4th
                                        # component (forward y) does not reach the file
        depth = _read_pass(tmp, "depth")[..., 0] if motion else None
    finally:
        for node in temporary:
            tree.nodes.remove(node)
        shutil.rmtree(tmp, ignore_errors=True)
    return image, masks, vector, depth


def _mask(slot, i: int, directory: str, shape) -> np.ndarray | None:
    source = slot.mask_source
    if source == "NONE":
        return None
    if source == "OBJECT_INDEX":
        return (np.abs(_read_pass(directory, "object")[..., 0] - slot.mask_index) < 0.5).astype(np.float32)
    if source == "MATERIAL_INDEX":
        return (np.abs(_read_pass(directory, "material")[..., 0] - slot.mask_index) < 0.5).astype(np.float32)
    if source == "CRYPTOMATTE":
        return np.clip(_read_pass(directory, f"crypto{i}")[..., 0], 0, 1)
    if slot.mask_image is None:
        raise UserError(f"style slot {i + 1}: choose the mask image")
    px = pixels.read_image(slot.mask_image, allow_data=True)
    if px.shape[:2] != tuple(shape):
        ys = np.arange(shape[0]) * px.shape[0] // shape[0]
        xs = np.arange(shape[1]) * px.shape[1] // shape[1]
        px = px[ys][:, xs]
    return px[..., :3].mean(axis=2)


def ensure_group(result: bpy.types.Image):
    """The node group 'NST Style': an Image node showing the result -> Group Output."""
    group = bpy.data.node_groups.get(GROUP)
    if group is None:
        group = bpy.data.node_groups.new(GROUP, "CompositorNodeTree")
        group.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        node = group.nodes.new("CompositorNodeImage")
        node.name = "NST Result"
        out = group.nodes.new("NodeGroupOutput")
        out.location = (300, 0)
        group.links.new(node.outputs["Image"], out.inputs[0])
    group.nodes["NST Result"].image = result
    return group


def insert_group(scene, group):
    """Place one instance of the group in the compositor, feeding its output (idempotent)."""
    tree = scene_tree(scene)
    node = next((n for n in tree.nodes if n.type == "GROUP" and n.node_tree == group), None)
    if node is None:
        node = tree.nodes.new("CompositorNodeGroup")
        node.node_tree = group
        node.name = node.label = GROUP
        out = output_node(tree)
        node.location = (out.location.x, out.location.y + 250)    # beside, not over, the output
        tree.links.new(node.outputs[0], out.inputs[0])
    return node


def _slot_settings(context) -> dict:
    """The style slots and settings of Apply Styles, checked before anything renders."""
    scene = context.scene
    nst = scene.nst
    slots = [s for s in nst.slots if s.weight > 0]
    if not slots:
        raise UserError("the style list is empty; add a style slot with a weight above 0")
    styles = []
    for i, slot in enumerate(slots):
        if (slot.kind == "BUILTIN") != (nst.method == "STYLEBANK"):
            raise UserError(f"style slot {i + 1} is {'a built-in style' if slot.kind == 'BUILTIN' else 'an image'}"
                            f" but the method is {engine.METHOD_LABELS[nst.method]}: built-in styles need method "
                            "StyleBank, style images WCT or AdaIN")
        styles.append(style_for(nst.method, slot.style_path, slot.style_name,
                                where=f"style slot {i + 1}: "))
    if 0 < nst.preview_size < MIN_PREVIEW:
        raise UserError(f"Preview Size {nst.preview_size} px is too small; use 0 (full resolution) "
                        f"or at least {MIN_PREVIEW} px")
    check_before_render(scene, slots)
    return {"slots": slots, "styles": styles, "weights": [s.weight for s in slots],
            "method": nst.method, "strength": nst.strength, "keep": nst.preserve_color,
            "options": dict(engine_options(), work_size=nst.preview_size or None)}


def _cover(masks) -> np.ndarray | None:
    """Where any slot applies (H×W in [0, 1]); None when one slot applies everywhere."""
    return np.minimum(np.sum(masks, axis=0), 1.0) if all(m is not None for m in masks) else None


def _as_shown(scene, raw: np.ndarray) -> np.ndarray:
    """The render ``raw`` (scene-linear premultiplied H×W×4) as the Render window shows it:
    display-encoded straight H×W×4, the scene's view transform, look and exposure applied."""
    px = engine.color.unpremultiply(raw)
    px[..., :3] = pixels.shown(scene, px[..., :3])
    px[..., 3] = np.clip(px[..., 3], 0.0, 1.0)
    return px


def _over(top: np.ndarray, under: np.ndarray, cover) -> np.ndarray:
    """``top`` where the slots apply, ``under`` elsewhere, mixed by the soft cover (None:
    everywhere), pixel by pixel (…×4, the cover …)."""
    if cover is None:
        return top
    return cover[..., None] * top + (1 - cover[..., None]) * under


def _styles_work(px, masks, settings: dict, coherence=None, vector=None, depth=None):
    """The worker's part: the slots' styles blended by weight and mask on ``px`` (the render as
    shown), as the engine gives them; the caller puts them over the render with ``_over``."""
    def work(progress, cancel):
        return engine.stylize(px, settings["styles"], settings["method"], weights=settings["weights"],
                              masks=masks, strength=settings["strength"], preserve_color=settings["keep"],
                              options=settings["options"], progress=progress, cancel=cancel,
                              coherence=coherence, vector=vector, depth=depth, where=_cover(masks))
    return work


REFINE_ROUNDS = 2       # corrections of the inverse view transform by the true one


def _back_to_scene_linear(scene, styled, raw, cover):
    """(A job's part.) The stylized picture ``styled`` (as shown) back into scene-linear
    premultiplied H×W×4 such that the compositor's output, shown with the scene's view
    transform, is that picture (colours the transform cannot show come as close as it can);
    outside every mask the render ``raw`` stays exactly as it was, HDR values included."""
    inside = np.ones(raw.shape[:2], bool) if cover is None else cover > 0
    if not inside.any():                     # the masks cover nothing (no such object index)
        return raw.copy()
    picked = styled[inside]
    inverse = engine.color.ViewInverse(pixels.shown(scene, engine.color.transform_lattice()))

    def solve(progress, cancel):
        progress(1.0, "matching the scene's view transform")
        return inverse.linear(picked[:, :3])
    linear = yield solve
    for _ in range(REFINE_ROUNDS):
        seen = pixels.shown(scene, linear)
        linear = yield lambda progress, cancel, seen=seen: inverse.refine(seen)
    alpha = picked[:, 3:]
    out = raw.copy()
    out[inside] = _over(np.concatenate([linear * alpha, alpha], -1), raw[inside],
                        None if cover is None else cover[inside])
    return out


def apply_job(op, context):
    scene = context.scene
    settings = _slot_settings(context)
    raw, masks, _, _ = render_passes(scene, context.view_layer, settings["slots"])
    styled = yield _styles_work(_as_shown(scene, raw), masks, settings)
    result = yield from _back_to_scene_linear(scene, styled, raw, _cover(masks))
    image = pixels.write_raw(result, pixels.image_for(RESULT, result.shape[1], result.shape[0]))
    insert_group(scene, ensure_group(image))
    said = f"'{GROUP}' updated with {len(settings['slots'])} style(s)"
    long_side = max(render_size(scene))
    if scene.nst.preview_size >= long_side:
        said += (f"; Preview Size {scene.nst.preview_size} px is not below the render's {long_side} px, "
                 "so it ran at full resolution")
    op._say("INFO", said)


def apply_animation_job(op, context):
    """Apply Styles on every frame of a range into frame_####.png (as the Render window shows
    each frame, stylized), coherent along the motion."""
    scene = context.scene
    frames, folder = frame_range(op, scene)
    settings = _slot_settings(context)
    coherence = check_coherence(scene, scene.nst.temporal_coherence)

    def render():
        return render_passes(scene, context.view_layer, settings["slots"], motion=coherence is not None)

    def work(rendered):
        raw, masks, vector, depth = rendered
        px = _as_shown(scene, raw)
        styled = _styles_work(px, masks, settings, coherence, vector, depth)
        return lambda progress, cancel: _over(styled(progress, cancel), px, _cover(masks))
    yield from animation_frames(op, scene, frames, folder, render, work)


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


class NST_OT_compositor_apply(jobs.JobOperator, bpy.types.Operator):
    """Render, blend the style slots by weight and region, and feed the result into the
    compositor through the node group 'NST Style' (applying again updates it)"""

    bl_idname = "nst.compositor_apply"
    bl_label = "Apply Styles"
    label = "Apply Styles"

    def job(self, context):
        yield from apply_job(self, context)


@frame_props("//nst_styled/", coherence=False)
class NST_OT_compositor_apply_animation(jobs.JobOperator, bpy.types.Operator):
    """Apply the style slots to every frame of the scene's range, written as an image sequence;
    the scene's Temporal Coherence keeps strokes on the surfaces from frame to frame"""

    bl_idname = "nst.compositor_apply_animation"
    bl_label = "Apply Styles to Animation"
    label = "Apply Styles to Animation"

    def job(self, context):
        yield from apply_animation_job(self, context)


class NST_OT_slot_add(bpy.types.Operator):
    """Add a style slot"""

    bl_idname = "nst.slot_add"
    bl_label = "Add Style"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        nst = context.scene.nst
        nst.slots.add()
        nst.active_slot = len(nst.slots) - 1
        return {"FINISHED"}


class NST_OT_slot_remove(bpy.types.Operator):
    """Remove the active style slot"""

    bl_idname = "nst.slot_remove"
    bl_label = "Remove Style"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        nst = context.scene.nst
        if not 0 <= nst.active_slot < len(nst.slots):
            self.report({"ERROR"}, "no style slot selected")
            return {"CANCELLED"}
        nst.slots.remove(nst.active_slot)
        nst.active_slot = max(0, nst.active_slot - 1)
        return {"FINISHED"}


classes = (NST_OT_compositor_apply, NST_OT_compositor_apply_animation, NST_OT_slot_add,
           NST_OT_slot_remove)

register, unregister = bpy.utils.register_classes_factory(classes)
