"""The nodes after the 'NST Style' node (a Glare, a grade, a Lens Distortion, a File Output,
...) applied to the stylized frame as Blender applies them to the render.

live.py writes each frame stylized over Blender's file; what the compositor did after the
NST Style node to the plain render must then be done again to the stylized frame. When the
render starts, ``capture`` finds the nodes the NST Style node feeds (through any path, Viewers
and the add-on's own capture left out) and the nodes that feed those without depending on the
render (a Value, an RGB, an Image of a file, a Mask: computed again at each frame, keyframes
included), and makes the render write, beside its other passes, the render itself and every
value that comes into them from the render (a Render Layers pass, a branch of the tree that
reads the render), scene-linear (OpenEXR, full float: read back as they were). For each frame,
``apply`` renders a copy of the scene that holds no objects and whose compositor holds only
those nodes, with the stylized frame (scene-linear, the render's own values outside the masks)
where the NST Style node's output went and the captured values where theirs came in: Blender
renders no 3D for a compositor without a Render Layers node, and its compositor then does
what it did to the plain render, at that frame. A File Output node among them writes its
files again, stylized. The copy is made once per render."""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np
from bpy.app.handlers import persistent

from . import frames, jobs, passes, pixels
from .engine import UserError
from .handlers import attach, detach

SCENE = "NST nodes after"
STYLIZED = "NST stylized"


def nodes_after(tree, node) -> set[str]:
    """The names of the nodes ``node``'s output feeds, through any path (unmuted links; the
    add-on's capture and Viewers left out: they write nothing the artist keeps)."""
    seen, todo = set(), [node]
    while todo:
        for out in todo.pop().outputs:
            for link in out.links:
                to = link.to_node
                if to.name not in seen and not link.is_muted and to.label != passes.TEMP \
                        and to.type != "VIEWER":
                    seen.add(to.name)
                    todo.append(to)
    return seen


def _rendered(tree, node) -> set[str]:
    """The names of the nodes whose output depends on this render: Render Layers, a
    Cryptomatte node or an Image node reading the render, the NST Style ``node``, and every
    node they feed."""
    found = {n.name for n in tree.nodes if n == node or n.type == "R_LAYERS"
             or (n.type == "CRYPTOMATTE_V2" and n.source == "RENDER")
             or (n.type == "IMAGE" and n.image is not None
                 and n.image.type in ("RENDER_RESULT", "COMPOSITING"))}
    grown = True
    while grown:
        more = {link.to_node.name for link in tree.links if link.from_node.name in found}
        grown = not more <= found
        found |= more
    return found


def _kept(tree, node, names: set[str]) -> tuple[set[str], list[tuple[str, str]]]:
    """The nodes the copy's compositor holds: ``names`` and every node that feeds them without
    depending on the render (a Value, an Image of a file, a Mask, ...: the copy computes them
    at the frame), and what flows into those from the render (but ``node``): (node, output
    identifier) of each source, once, for the capture."""
    rendered, kept, sources = _rendered(tree, node), set(names), []
    todo = list(names)
    while todo:
        for socket in tree.nodes[todo.pop()].inputs:
            for link in socket.links:
                source = (link.from_node.name, link.from_socket.identifier)
                if link.is_muted or link.from_node == node or source[0] in kept:
                    continue
                if source[0] not in rendered:
                    kept.add(source[0])
                    todo.append(source[0])
                elif source not in sources:
                    sources.append(source)
    return kept, sources


@dataclass
class Nodes:
    """The nodes after the NST Style node of one render, and what its capture writes for
    them."""

    node: str                           # the NST Style node
    names: set                          # the nodes after it, and what feeds them (_kept)
    sources: list                       # what flows into those from the render (_kept)
    directory: str                      # the capture's folder
    temp: str = ""                      # the copy of the scene that composites them (_copy)
    images: list = field(default_factory=list)


def capture(scene, node, view_layer, directory: str, added: list) -> Nodes | None:
    """When nodes other than the compositor's output follow the NST Style ``node``: their
    Nodes, and a node (put in ``added``) that makes the render write what ``apply`` needs into
    ``directory``: the render of ``view_layer``, scene-linear, and each value that comes into
    them from the render; else None."""
    tree = passes.scene_tree(scene)
    names = nodes_after(tree, node)
    out = passes.output_node(tree).name
    if all(n == out or tree.nodes[n].type == "REROUTE" for n in names):
        return None
    reads = sorted(n for n in names if tree.nodes[n].type == "CRYPTOMATTE_V2"
                   and tree.nodes[n].source == "RENDER")
    if reads:                   # (its matte comes from the render's metadata, not its input)
        jobs.tell(f"the nodes after the NST Style node are not in the stylized frames: "
                  f"{', '.join(reads)} reads the render itself; feed the Cryptomatte node from "
                  "the Render Layers node and mix the NST Style node in after it")
        return None
    names, sources = _kept(tree, node, names)
    fo, add = passes.file_output(tree, directory)
    added.append(fo)
    add("linear", "RGBA")
    rl = passes.render_layers(tree, scene, view_layer)[0]
    tree.links.new(rl.outputs["Image"], passes.find_input(fo, "linear"))
    for i, (name, identifier) in enumerate(sources):
        add(f"after{i}", "RGBA")
        socket = next(s for s in tree.nodes[name].outputs if s.identifier == identifier)
        tree.links.new(socket, passes.find_input(fo, f"after{i}"))
    return Nodes(node.name, names, sources, directory)


def composited(nodes: Nodes | None, scene, frame: int, styled: np.ndarray, raw, cover, inverse,
               shown: bool, still: bool = False, blur=None) -> np.ndarray:
    """The stylized ``frame`` (``styled``, as shown, over the render by the masks' ``cover``) as
    the compositor's output gives it: through the nodes after the NST Style node (``nodes``;
    None: none; of a ``still`` render or an animation's frame), as shown (``shown``) or
    scene-linear (an OpenEXR output). Scene-linear, the render's own values (``raw``; with
    nodes after: captured) stay outside the masks. ``blur``: the Motion Blur made after the
    style (shutter.py), before the nodes after."""
    if nodes is not None:
        raw = passes.read_pass(nodes.directory, "linear", frame)
    linear = frames.scene_linear(inverse, styled, raw, cover)
    linear = linear if blur is None else blur(linear, False)
    return linear if nodes is None else apply(nodes, scene, frame, linear, shown, still)


def _copy(scene, nodes: Nodes, frame: int, shape: tuple):
    """A copy of ``scene`` without its objects, whose compositor holds only the nodes after the
    NST Style node: the stylized frame (an image of ``shape``) and each value captured at
    ``frame`` come in through Image nodes."""
    tree = passes.scene_tree(scene, create=False)
    links = [(link.from_node.name, link.from_socket.identifier, link.to_node.name,
              link.to_socket.identifier) for link in tree.links
             if link.to_node.name in nodes.names and not link.is_muted]
    missing = (nodes.names | {name for name, _ in nodes.sources}) - set(tree.nodes.keys())
    if missing:
        raise UserError(f"the nodes after the NST Style node changed during the render "
                        f"({', '.join(sorted(missing))} gone); render again")
    temp = scene.copy()
    temp.name = SCENE
    nodes.temp = temp.name
    for child in list(temp.collection.children):
        temp.collection.children.unlink(child)
    for obj in list(temp.collection.objects):
        temp.collection.objects.unlink(obj)
    if hasattr(temp, "compositing_node_group"):             # Blender 5: the tree is shared
        temp.compositing_node_group = tree.copy()
    r = temp.render                     # (the dither stays: a File Output node's 8-bit files)
    r.use_compositing, r.use_sequencer, r.use_stamp = True, False, False
    copied = passes.scene_tree(temp, create=False)
    for n in list(copied.nodes):
        if n.name not in nodes.names:
            copied.nodes.remove(n)
    stylized = bpy.data.images.new(STYLIZED, shape[1], shape[0], alpha=True, float_buffer=True)
    stylized.alpha_mode = "PREMUL"
    nodes.images = [stylized.name]
    feeds = {(nodes.node, None): stylized}
    for i, source in enumerate(nodes.sources):
        image = bpy.data.images.load(passes.pass_file(nodes.directory, f"after{i}", frame),
                                     check_existing=False)
        image.name = f"{STYLIZED} {i}"
        image.colorspace_settings.is_data = True     # the values as written: no colour change
        nodes.images.append(image.name)
        feeds[source] = image
    for from_node, from_socket, to_node, to_socket in links:
        image = feeds.get((from_node, None if from_node == nodes.node else from_socket))
        if image is None:
            continue                                # between two nodes after: copied with them
        reader = copied.nodes.new("CompositorNodeImage")
        reader.image = image
        to = copied.nodes[to_node]
        copied.links.new(reader.outputs["Image"],
                         next(s for s in to.inputs if s.identifier == to_socket))
    return temp


def apply(nodes: Nodes, scene, frame: int, linear: np.ndarray, shown: bool,
          still: bool = False) -> np.ndarray:
    """The stylized ``frame`` (``linear``: scene-linear premultiplied H×W×4) through the nodes
    after the NST Style node, as the compositor's output gives it: as shown (``shown``:
    display-encoded straight, ``pixels.read_shown``) or scene-linear (an OpenEXR output). The
    copy renders a ``still`` as a still, an animation's frame as an animation of that frame: a
    File Output node among the nodes names its files as Blender named them (Blender 5 numbers
    a still's files not, an animation's)."""
    temp = bpy.data.scenes.get(nodes.temp) if nodes.temp else None
    if temp is None:
        temp = _copy(scene, nodes, frame, linear.shape)
    else:
        for i, name in enumerate(nodes.images[1:]):
            bpy.data.images[name].filepath = passes.pass_file(nodes.directory, f"after{i}", frame)
            bpy.data.images[name].reload()
    pixels.write_raw(linear, bpy.data.images[nodes.images[0]])
    settings = temp.render.image_settings
    if shown:
        passes.as_shown_format(settings)
        if scene.render.image_settings.color_mode != "RGBA":   # the colour Blender writes
            settings.color_mode = "RGB"     # in RGB: the premultiplied colour shown (over black)
    else:
        if hasattr(settings, "media_type"):     # Blender 5 (the scene's: maybe multilayer)
            settings.media_type = "IMAGE"
        settings.file_format, settings.color_depth, settings.exr_codec = "OPEN_EXR", "32", "NONE"
        settings.color_mode = "RGBA"
    temp.render.filepath = f"{nodes.directory}/nst_after_out" + (f"{frame:04d}" if still else "")
    temp.frame_start = temp.frame_end = temp.frame_current = frame
    with passes.for_us(temp):
        bpy.ops.render.render(animation=not still, write_still=still, scene=temp.name)
    path = passes.pass_file(nodes.directory, "after_out", frame, "tif" if shown else "exr")
    return pixels.read_shown(scene, path) if shown else pixels.read_exr(path)


def remove(nodes: Nodes | None) -> None:
    """The copy and its images gone (in a window; headless they are kept until the file is
    saved: a scene removed inside a render's handler crashed Blender 4.3, just rendered, and
    when the next render started)."""
    if nodes is not None and not bpy.app.background:
        _remove([nodes.temp], nodes.images)


def _remove(temps: list, images: list) -> None:
    for scene in [bpy.data.scenes[name] for name in temps if name in bpy.data.scenes]:
        group = getattr(scene, "compositing_node_group", None)
        bpy.data.scenes.remove(scene)
        if group is not None and not group.users:
            bpy.data.node_groups.remove(group)
    for name in images:
        if name in bpy.data.images:
            bpy.data.images.remove(bpy.data.images[name])


def _remove_kept() -> None:
    _remove([s.name for s in bpy.data.scenes if s.name.startswith(SCENE)],
            [i.name for i in bpy.data.images if i.name.startswith(STYLIZED)])


# save_pre: the copies a headless render kept are not saved into the file
HANDLERS = ((bpy.app.handlers.save_pre, persistent(lambda *_: _remove_kept())),)


def register():
    attach(HANDLERS)


def unregister():
    detach(HANDLERS)
