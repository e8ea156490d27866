"""Render passes, read through the compositor: Python cannot read a render's passes, so a
render is made with a temporary File Output node that writes the image and the passes asked
for (object and material index, Cryptomatte mattes, Vector and Depth) to EXR files, which also
works headless; the temporary nodes are removed afterwards. Also the scene's compositor tree
and its output node, which Blender 5 and 4.x keep in different places."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile

import bpy
import numpy as np
from bpy.app.handlers import persistent

from . import pixels
from .engine import BACKGROUND_DEPTH, UserError

TEMP = "NST temporary"
SET_BACK = "nst_set_back"   # on a capture's File Output node: [view layer, its passes before]
MUTED = "nst_muted_for_render"  # on an NST Style node muted for a render it cannot stylize
_OWN = []              # set while the add-on renders for itself: the live node stays out of it


@contextlib.contextmanager
def for_us(scene):
    """While the add-on renders ``scene`` for itself: the live 'NST Style' node (live.py)
    takes no part in it."""
    _OWN.append(scene.name)
    try:
        yield
    finally:
        _OWN.pop()


def render(scene) -> None:
    """Render ``scene``'s current frame for the add-on itself (blocking)."""
    with for_us(scene):
        bpy.ops.render.render(scene=scene.name)


def rendering_for_us() -> bool:
    return bool(_OWN)


def scene_tree(scene, create: bool = True):
    """The scene's compositor tree (created with Render Layers -> output when missing;
    ``create=False`` changes nothing: it may run in a render's thread)."""
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
    if create:                                              # Blender 4.x
        scene.use_nodes = True
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


def render_layers(tree, scene, view_layer, temporary: bool = True):
    """The Render Layers node of ``view_layer`` in ``tree`` (made, named as ``temporary`` or
    not, when there is none) and whether it was made."""
    for node in tree.nodes:
        if node.type == "R_LAYERS" and node.scene in (None, scene) and node.layer == view_layer.name:
            return node, False
    node = tree.nodes.new("CompositorNodeRLayers")
    if temporary:
        node.name = node.label = TEMP
    node.scene, node.layer = scene, view_layer.name
    return node, True


def file_output(tree, directory: str):
    node = tree.nodes.new("CompositorNodeOutputFile")
    node.name = node.label = TEMP
    fmt = node.format
    if hasattr(fmt, "media_type"):
        fmt.media_type = "IMAGE"
    fmt.file_format, fmt.color_depth = "OPEN_EXR", "32"
    fmt.exr_codec = "NONE"          # temporary files: written and read several times faster
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


def find_input(node, name):
    for socket in node.inputs:
        if socket.name in (name, f"nst_{name}"):
            return socket
    return node.inputs[-2] if len(node.inputs) > 1 and not node.inputs[-1].name else node.inputs[-1]


def pass_file(directory: str, name: str, frame: int | None = None, ext: str = "exr") -> str:
    """The file of the pass ``name`` a capture wrote into ``directory`` (of ``frame``; None:
    the one file)."""
    stem = f"nst_{name}" if frame is None else f"nst_{name}{frame:04d}"
    files = sorted(glob.glob(os.path.join(directory, f"{stem}*.{ext}")))
    if not files and frame is not None:             # Blender 5 names a still's file without
        files = glob.glob(os.path.join(directory, f"nst_{name}.{ext}"))    # the frame
    if not files:                   # Output › File Extensions off: Blender's file names have none
        files = sorted(f for f in glob.glob(os.path.join(directory, stem + "*" * (frame is None)))
                       if not os.path.splitext(f)[1])
    if not files:
        raise UserError(f"the render wrote no '{name}' pass; is the compositor enabled for rendering?")
    return files[0]


def read_pass(directory: str, name: str, frame: int | None = None) -> np.ndarray:
    return pixels.read_exr(pass_file(directory, name, frame))


def _as_shown(node) -> None:
    """The File Output node's newest item written as the Render window shows it: a 16-bit
    uncompressed TIFF with the scene's colour management (view transform, look, exposure,
    curves; no dither at 16 bits), which ``pixels.read_shown`` reads."""
    if hasattr(node, "file_output_items"):                 # Blender 5
        item = node.file_output_items[-1]
        item.override_node_format = True
    else:                                                  # Blender 4.x
        item = node.file_slots[-1]
        item.use_node_format = False
    item.save_as_render = True
    as_shown_format(item.format)


def as_shown_format(fmt) -> None:
    """Image format settings ``fmt`` for a file ``pixels.read_shown`` reads: a 16-bit
    uncompressed RGBA TIFF with the scene's colour management."""
    if hasattr(fmt, "media_type"):
        fmt.media_type = "IMAGE"
    fmt.file_format, fmt.color_depth, fmt.color_mode, fmt.tiff_codec = "TIFF", "16", "RGBA", "NONE"
    if hasattr(fmt, "color_management"):
        fmt.color_management = "FOLLOW_SCENE"


def capture(scene, view_layer, slots, directory: str, motion: bool = False,
            with_image: bool = True, shown: bool = False, composite: bool = False) -> list:
    """Nodes in the scene's compositor that make every render write, into ``directory``, what
    ``read_captured`` reads: the active view layer's image as rendered (before any other node;
    with ``shown``, as the Render window shows it instead of scene-linear), the passes the
    slots' masks need and, with ``motion``, the Vector and Depth passes (turned on in the view
    layer); with ``composite``, what the compositor's output shows too (``read_composite``).
    Returns the nodes added, for the caller to remove."""
    kinds = {s.mask_source for s in slots}
    flags = json.dumps([view_layer.name, pass_flags(view_layer)])
    if motion:
        view_layer.use_pass_vector = view_layer.use_pass_z = True
    if "OBJECT_INDEX" in kinds:
        view_layer.use_pass_object_index = True
    if "MATERIAL_INDEX" in kinds:
        view_layer.use_pass_material_index = True
    if "CRYPTOMATTE" in kinds:
        view_layer.use_pass_cryptomatte_object = True
    tree = scene_tree(scene)
    added = []
    rl, made = render_layers(tree, scene, view_layer)
    if made:
        added.append(rl)
    fo, add = file_output(tree, directory)
    fo[SET_BACK] = flags
    added.append(fo)
    if with_image:
        add("image", "RGBA")
        tree.links.new(rl.outputs["Image"], find_input(fo, "image"))
        if shown:
            _as_shown(fo)
    if "OBJECT_INDEX" in kinds:
        add("object", "FLOAT")
        tree.links.new(_output(rl, "Object Index", "IndexOB"), find_input(fo, "object"))
    if "MATERIAL_INDEX" in kinds:
        add("material", "FLOAT")
        tree.links.new(_output(rl, "Material Index", "IndexMA"), find_input(fo, "material"))
    for i, slot in enumerate(slots):
        if slot.mask_source == "CRYPTOMATTE":
            crypto = tree.nodes.new("CompositorNodeCryptomatteV2")
            crypto.name = crypto.label = TEMP
            added.append(crypto)
            crypto.scene, crypto.layer_name = scene, f"{view_layer.name}.CryptoObject"
            crypto.matte_id = slot.mask_objects
            add(f"crypto{i}", "FLOAT")
            tree.links.new(crypto.outputs["Matte"], find_input(fo, f"crypto{i}"))
    if motion:
        add("vector", "RGBA")
        tree.links.new(_output(rl, "Vector"), find_input(fo, "vector"))
        add("depth", "FLOAT")
        tree.links.new(_output(rl, "Depth", "Z"), find_input(fo, "depth"))
    out = output_node(tree)
    if composite and out.inputs[0].links:
        add("composite", "RGBA")
        tree.links.new(out.inputs[0].links[0].from_socket, find_input(fo, "composite"))
        _as_shown(fo)
    return added


@persistent
def forget_saved_capture(*_):
    """load_post, undo_post, redo_post: a render's capture in a file saved while it ran, or in
    an undo step taken then, is taken out and the passes it turned on set back; the NST Style
    node it muted (``MUTED``) is unmuted (artist trials: kept, every later render wrote its
    passes into the capture's long-gone temporary folder, or the shot rendered plain for good).
    Not while a render runs (its own capture; its thread reads the tree)."""
    if bpy.app.is_job_running("RENDER"):
        return
    for scene in bpy.data.scenes:
        tree = scene_tree(scene, create=False)
        for node in [n for n in tree.nodes if n.label == TEMP] if tree is not None else []:
            if SET_BACK in node:
                name, flags = json.loads(node[SET_BACK])
                if name in scene.view_layers:
                    set_pass_flags(scene.view_layers[name], flags)
            tree.nodes.remove(node)
        for node in [n for n in tree.nodes if n.get(MUTED)] if tree is not None else []:
            del node[MUTED]
            node.mute = False


def read_composite(scene, directory: str, frame: int) -> np.ndarray:
    """What the compositor's output showed at ``frame`` (``capture`` with ``composite``): the
    picture Blender writes, before its stamp (at Apply's frame, Apply's picture), as shown."""
    return pixels.read_shown(scene, pass_file(directory, "composite", frame, "tif"))


def read_captured(scene, directory: str, slots, motion: bool = False, with_image: bool = True,
                  frame: int | None = None, shown: bool = False):
    """What ``capture`` made a render write (of ``frame``; None: the one render): the image as
    rendered (scene-linear premultiplied H×W×4, HDR values kept; captured ``shown``: as
    ``frames.as_shown`` gives it; None without ``with_image``), one mask per slot (or None;
    masks need the image) and, with ``motion``, the Vector pass (H×W×4) and the depth (H×W),
    else None for each."""
    image = None
    if with_image and shown:
        image = pixels.read_shown(scene, pass_file(directory, "image", frame, "tif"))
    elif with_image:
        image = read_pass(directory, "image", frame)
    masks = [_mask(slot, i, directory, image.shape[:2], frame) for i, slot in enumerate(slots)]
    vector = read_pass(directory, "vector", frame) if motion else None
    if vector is not None and not hasattr(scene, "compositing_node_group"):
        vector = vector[..., :3]        # Blender 4.x's compositor carries 3D vectors: the 4th
                                        # component (forward y) does not reach the file
    depth = read_pass(directory, "depth", frame)[..., 0] if motion else None
    outside = _outside_border(scene, image.shape[:2]) if image is not None else None
    if outside is not None:             # empty, as Blender leaves them in its frame
        for px, empty in ((image, 0.0), (vector, 0.0), (depth, BACKGROUND_DEPTH),
                          *((mask, 0.0) for mask in masks)):
            if px is not None:
                px[outside] = empty
    return image, masks, vector, depth


def _outside_border(scene, shape) -> np.ndarray | None:
    """The pixels (top row first) outside a border render that is not cropped: Blender leaves
    them empty in its frame, but the capture's files may hold what an earlier render left there
    (Blender 4.2, an artist trial: stylized strokes painted around the border)."""
    r = scene.render
    if not r.use_border or r.use_crop_to_border:
        return None
    h, w = shape                        # (Blender's own rounding of the border: down)
    x0, x1, y0, y1 = (int(v * n) for v, n in ((r.border_min_x, w), (r.border_max_x, w),
                                                (r.border_min_y, h), (r.border_max_y, h)))
    outside = np.ones((h, w), bool)
    outside[h - y1:h - y0, x0:x1] = False
    return outside


PASS_FLAGS = ("use_pass_vector", "use_pass_z", "use_pass_object_index",
              "use_pass_material_index", "use_pass_cryptomatte_object")


def pass_flags(view_layer) -> dict:
    """The view layer's passes that ``capture`` may turn on, as they are: set them back after
    the render, so the artist's own outputs (a multilayer EXR) and file keep what they had."""
    return {k: getattr(view_layer, k) for k in PASS_FLAGS}


_LAYERS = {"use_pass_vector": ("Vector.",), "use_pass_z": ("Depth.",),      # as a multilayer
           "use_pass_object_index": ("IndexOB.", "Object Index."),      # OpenEXR names them
           "use_pass_material_index": ("IndexMA.", "Material Index."),  # (Blender 4.x, 5)
           "use_pass_cryptomatte_object": ("CryptoObject",)}


def not_asked(view_layer: str, flags: dict) -> tuple:
    """The channels (name prefixes) a multilayer OpenEXR of ``view_layer`` holds only because
    ``capture`` turned their passes on: those off in the artist's ``flags``."""
    return tuple(f"{view_layer}.{name}" for k, names in _LAYERS.items() if not flags[k]
                 for name in names)


def set_pass_flags(view_layer, flags: dict) -> None:
    for k, v in flags.items():
        setattr(view_layer, k, v)


def render_passes(scene, view_layer, slots, motion: bool = False, with_image: bool = True,
                  shown: bool = False):
    """Render once and return what ``read_captured`` reads of it."""
    tree = scene_tree(scene)
    tmp = tempfile.mkdtemp(prefix="nst_passes_")
    added, flags = [], pass_flags(view_layer)
    try:
        added = capture(scene, view_layer, slots, tmp, motion, with_image, shown)
        render(scene)
        return read_captured(scene, tmp, slots, motion, with_image, shown=shown)
    finally:
        for node in added:
            tree.nodes.remove(node)
        set_pass_flags(view_layer, flags)
        shutil.rmtree(tmp, ignore_errors=True)


def _mask(slot, i: int, directory: str, shape, frame: int | None = None) -> np.ndarray | None:
    source = slot.mask_source
    if source == "NONE":
        return None
    if source == "OBJECT_INDEX":
        return (np.abs(read_pass(directory, "object", frame)[..., 0] - slot.mask_index) < 0.5).astype(np.float32)
    if source == "MATERIAL_INDEX":
        return (np.abs(read_pass(directory, "material", frame)[..., 0] - slot.mask_index) < 0.5).astype(np.float32)
    if source == "CRYPTOMATTE":
        return np.clip(read_pass(directory, f"crypto{i}", frame)[..., 0], 0, 1)
    if slot.mask_image is None:
        raise UserError(f"style slot {i + 1}: choose the mask image")
    px = pixels.read_image(slot.mask_image, allow_data=True)
    if px.shape[:2] != tuple(shape):
        ys = np.arange(shape[0]) * px.shape[0] // shape[0]
        xs = np.arange(shape[1]) * px.shape[1] // shape[1]
        px = px[ys][:, xs]
    return px[..., :3].mean(axis=2)
