"""The node group 'NST Style' that Apply Styles puts between a scene's render and its
compositor's output: Render in -> Switch (off: the render; on: Apply's picture) -> out, the
switch driven by ``frame == N`` so Apply's picture shows only at the frame it was made for
(live.py stylizes every other frame a render writes). One group per scene: the switch knows
only the frame."""

from __future__ import annotations

import bpy

from . import passes
from .after import nodes_after
from .engine import UserError

GROUP = "NST Style"
RESULT_NODE = "NST Result"
SWITCH_NODE = "NST Switch"


def _drive_switch(node, frame: int) -> None:
    """The switch on at ``frame`` only: a driver Blender evaluates for every frame it renders
    (a simple expression: it runs without Python scripts allowed)."""
    owner, prop = (node.inputs["Switch"], "default_value") if "Switch" in node.inputs \
        else (node, "check")                        # Blender 5: a boolean input; 4.x: a property
    owner.driver_remove(prop)
    curve = owner.driver_add(prop)
    curve.driver.type = "SCRIPTED"
    curve.driver.expression = f"frame == {frame}"


def rendered_layer(scene, node):
    """The view layer whose render feeds the NST Style ``node`` (else the active one); a render
    that does not render it cannot stylize (an artist trial: the reason said was a pass)."""
    layer = next((scene.view_layers[link.from_node.layer] for link in node.inputs[0].links
                  if link.from_node.type == "R_LAYERS"
                  and link.from_node.layer in scene.view_layers), None)
    layer = layer or (bpy.context.view_layer if bpy.context.scene == scene else None) \
        or scene.view_layers[0]
    if not layer.use:
        raise UserError(f"the NST Style node reads view layer '{layer.name}', whose Use for "
                        "Rendering is off; turn it on, or feed the node from a rendered layer")
    active = None if bpy.app.background else next(      # (a window renders its own layer)
        (w.view_layer for w in bpy.context.window_manager.windows if w.scene == scene), None)
    if scene.render.use_single_layer and active not in (None, layer):
        raise UserError(f"the NST Style node reads view layer '{layer.name}', but Render Single "
                        f"Layer renders only the active one, '{active.name}'; make "
                        f"'{layer.name}' active or turn Render Single Layer off")
    return layer


def applied_frame(scene) -> int | None:
    """The frame whose picture Apply Styles put in the scene's live NST Style node (the frame its
    switch is on at, and Blender writes that picture at), or None."""
    node = live_node(scene)
    data = node.node_tree.animation_data if node is not None else None
    for curve in data.drivers if data is not None else ():
        expression = curve.driver.expression
        if expression.startswith("frame == ") and expression[9:].lstrip("-").isdigit():
            return int(expression[9:])
    return None


def _ours(group) -> bool:
    """An 'NST Style' group (Blender names a second one 'NST Style.001')."""
    return group is not None and group.bl_idname == "CompositorNodeTree" \
        and (group.name == GROUP or group.name.startswith(GROUP + "."))


def _holds(scene, group) -> bool:
    tree = passes.scene_tree(scene, create=False)
    return tree is not None and any(n.type == "GROUP" and n.node_tree == group for n in tree.nodes)


def scene_group(scene):
    """The 'NST Style' group of this scene's compositor, made or rebuilt as ``ensure_group``
    does. The switch knows only the frame, so no two scenes share one: a group another scene's
    compositor holds too (a scene copied with its compositor) is copied for this one; a
    compositor tree two scenes share (Blender 5) is refused."""
    tree = passes.scene_tree(scene)
    sharing = [o.name for o in bpy.data.scenes
               if o != scene and passes.scene_tree(o, create=False) == tree]
    if sharing:
        raise UserError(f"the compositor node tree '{tree.name}' is shared with scene "
                        f"'{sharing[0]}', and the NST Style node can show one scene's picture; "
                        "make it single-user (the number beside its name in the compositor's "
                        "header) and apply again")
    node = next((n for n in tree.nodes if n.type == "GROUP" and _ours(n.node_tree)), None)
    if node is not None:
        if any(other != scene and _holds(other, node.node_tree) for other in bpy.data.scenes):
            node.node_tree = node.node_tree.copy()
        return ensure_group(node.node_tree)
    free = [g for g in bpy.data.node_groups
            if _ours(g) and not any(_holds(other, g) for other in bpy.data.scenes)]
    return ensure_group(free[0] if free else None)


def ensure_group(group=None, result: bpy.types.Image | None = None):
    """The node group ``group`` (None: a new 'NST Style'): Render in -> Switch (off: the render;
    on: an Image node showing ``result``) -> out. A group from before the switch is rebuilt."""
    if group is None:
        group = bpy.data.node_groups.new(GROUP, "CompositorNodeTree")
    if SWITCH_NODE not in group.nodes:          # new, or made before the switch: (re)built
        group.nodes.clear()
        group.interface.clear()
        group.interface.new_socket("Render", in_out="INPUT", socket_type="NodeSocketColor")
        group.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        inp = group.nodes.new("NodeGroupInput")
        inp.location = (-400, -150)
        image = group.nodes.new("CompositorNodeImage")
        image.name = RESULT_NODE
        image.location = (-400, 150)
        switch = group.nodes.new("CompositorNodeSwitch")
        switch.name = SWITCH_NODE
        out = group.nodes.new("NodeGroupOutput")
        out.location = (300, 0)
        group.links.new(inp.outputs[0], switch.inputs["Off"])
        group.links.new(image.outputs["Image"], switch.inputs["On"])
        group.links.new(switch.outputs[0], out.inputs[0])
    if result is not None:
        group.nodes[RESULT_NODE].image = result
    return group


def insert_group(scene, group, view_layer):
    """One instance of the group in the compositor, between the view layer's render and the
    output (idempotent): right after the render, so that the artist's nodes on its way to the
    output (a grade) apply to the stylized picture (an artist trial: linked to the output, it
    cut them out); where the output is not fed from the render, into the output."""
    tree = passes.scene_tree(scene)
    node = next((n for n in tree.nodes if n.type == "GROUP" and n.node_tree == group), None)
    if node is None:
        node = tree.nodes.new("CompositorNodeGroup")
        node.node_tree = group
        node.name = node.label = GROUP
        out = passes.output_node(tree)
        rl, _ = passes.render_layers(tree, scene, view_layer, temporary=False)
        ways = [link for link in rl.outputs["Image"].links if link.to_node == out
                or out.name in nodes_after(tree, link.to_node)]     # (the render's way out)
        for link in ways:
            socket = link.to_socket
            tree.links.remove(link)
            tree.links.new(node.outputs[0], socket)
        if not ways:
            tree.links.new(node.outputs[0], out.inputs[0])
        at = rl if ways else out                            # beside, not over, the nodes
        node.location = (at.location.x + 100 * bool(ways), at.location.y + 250)
    if not node.inputs[0].is_linked:
        rl, _ = passes.render_layers(tree, scene, view_layer, temporary=False)
        tree.links.new(rl.outputs["Image"], node.inputs[0])
    return node


def show_result(group, result: bpy.types.Image, frame: int) -> None:
    """Apply Styles made ``result`` for ``frame``: the group shows it (at that frame only)."""
    _drive_switch(ensure_group(group, result).nodes[SWITCH_NODE], frame)


def live_node(scene, compositing: bool = True):
    """The unmuted 'NST Style' instance feeding the scene's compositor output, through any
    path, or None (also with Compositing off, unless ``compositing`` is False: the node as it is
    in the tree). One feeding only a Viewer or a File Output is not in the frames Blender
    writes (an artist trial: its picture was written over a render that did not show it)."""
    tree = passes.scene_tree(scene, create=False) \
        if scene.render.use_compositing or not compositing else None
    if tree is None:
        return None
    for node in tree.nodes:
        if node.type == "GROUP" and _ours(node.node_tree) and not node.mute \
                and any(tree.nodes[n].type in ("GROUP_OUTPUT", "COMPOSITE")
                        for n in nodes_after(tree, node)):
            return node
    return None
