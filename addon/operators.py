"""Operators on images and textures, Restore Original and Cancel; the worker's part every
stylizing job shares.

Every operator works from Python with explicit properties, e.g.
``bpy.ops.nst.stylize_image(image="Name", style_path="/abs/style.jpg", method='WCT')``.
"""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, StringProperty

from . import engine, jobs, pixels
from .engine import UserError
from .properties import settings_from, style_props

STYLED_SUFFIX = "_styled"
BACKUP_SUFFIX = ".nst_original"


def stylize_work(px, settings, coherence=None, vector=None, depth=None):
    """The worker's part of a job: stylize ``px`` (sRGB straight H×W×4) as ``settings`` say
    (an animation frame: with its ``coherence``, Vector pass and depth)."""
    return lambda progress, cancel: engine.stylize(px, settings, progress, cancel, coherence,
                                                   vector, depth)


# -- images and textures ----------------------------------------------------------------------

def _image_by_name(name: str) -> bpy.types.Image:
    if not name:
        raise UserError("no image selected; open one in the Image Editor or pass image=\"Name\"")
    image = bpy.data.images.get(name)
    if image is None:
        raise UserError(f"there is no image named '{name}'")
    if image.type in ("RENDER_RESULT", "COMPOSITING"):
        raise UserError(f"'{name}' is a render result; use Stylize Render")
    return image


def stylize_image_job(op, image: bpy.types.Image, settings, replace: bool):
    """Generator job: read pixels, stylize in the worker, write `<name>_styled` or replace."""
    px = pixels.read_image(image)
    result = yield stylize_work(px, settings)
    if replace:
        backup = bpy.data.images.get(image.name + BACKUP_SUFFIX)
        if backup is None:           # the first Replace keeps the original for Restore Original
            backup = image.copy()
            backup.name = image.name + BACKUP_SUFFIX
            backup.use_fake_user = True
            pixels.write_image(px, "", target=backup, like=image)
        pixels.write_image(result, "", target=image, like=image)
        op.result_name = image.name
    else:
        styled = pixels.write_image(result, image.name + STYLED_SUFFIX, like=image)
        op.result_name = styled.name


@style_props
class NST_OT_stylize_image(jobs.JobOperator, bpy.types.Operator):
    """Stylize an image into a new image <name>_styled (the original is kept)"""

    bl_idname = "nst.stylize_image"
    bl_label = "Stylize Image"
    bl_options = {"REGISTER", "UNDO"}
    label = "Stylize Image"

    image: StringProperty(name="Image", description="Name of the image to stylize (default: the "
                          "Image Editor's image or the active Image Texture node's)")
    replace: BoolProperty(name="Replace Original", default=False,
                          description="Overwrite the image itself; Restore Original brings it back")
    swap_node: BoolProperty(name="Use in Node", default=False,
                            description="Point the active Image Texture node at the styled image")
    seamless: BoolProperty(name="Seamless", default=False,
                           description="Keep a tileable texture tileable")
    result_name: StringProperty(options={"SKIP_SAVE", "HIDDEN"})

    def job(self, context):
        name = self.image or _context_image_name(context)
        image = _image_by_name(name)
        yield from stylize_image_job(self, image, settings_from(self), self.replace)
        node = _active_image_node(context)
        if self.swap_node and not self.replace and node is not None and node.image == image:
            node.image = bpy.data.images[self.result_name]
        self.report({"INFO"}, f"wrote image '{self.result_name}'")


class NST_OT_restore_image(bpy.types.Operator):
    """Put back the pixels an image had before Replace Original"""

    bl_idname = "nst.restore_image"
    bl_label = "Restore Original"
    bl_options = {"REGISTER", "UNDO"}

    image: StringProperty(name="Image")

    def execute(self, context):
        name = self.image or _context_image_name(context)
        backup = bpy.data.images.get((name or "") + BACKUP_SUFFIX)
        if backup is None:
            self.report({"ERROR"}, f"no original kept for '{name}' (it was never replaced)")
            return {"CANCELLED"}
        image = bpy.data.images[name]
        px = np.empty(len(backup.pixels), np.float32)
        backup.pixels.foreach_get(px)
        image.pixels.foreach_set(px)
        image.update()
        bpy.data.images.remove(backup)
        return {"FINISHED"}


def _context_image_name(context) -> str:
    space = getattr(context, "space_data", None)
    if space is not None and getattr(space, "type", "") == "IMAGE_EDITOR" and space.image:
        return space.image.name
    node = _active_image_node(context)
    return node.image.name if node is not None and node.image else ""


def _active_image_node(context):
    obj = getattr(context, "active_object", None)
    material = obj.active_material if obj is not None else None
    if material is None or material.node_tree is None:
        return None
    node = material.node_tree.nodes.active
    return node if node is not None and node.type == "TEX_IMAGE" else None


def _material_images(objects) -> tuple[list, list[str]]:
    """Image Texture nodes of the objects' materials: (colour ones, skipped with reasons)."""
    nodes, skipped, seen = [], [], set()
    for obj in objects:
        for slot in getattr(obj, "material_slots", []):
            mat = slot.material
            if mat is None or mat.node_tree is None:
                continue
            for node in mat.node_tree.nodes:
                if node.type != "TEX_IMAGE" or node.image is None:
                    continue
                image = node.image
                if image.colorspace_settings.is_data:
                    skipped.append(f"{image.name} (Non-Color data)")
                elif image.source == "TILED":
                    skipped.append(f"{image.name} (UDIM)")
                else:
                    nodes.append(node)
                    seen.add(image.name)
    return nodes, sorted(set(skipped))


@style_props
class NST_OT_stylize_textures(jobs.JobOperator, bpy.types.Operator):
    """Stylize every colour image texture of the selected objects' materials with one style"""

    bl_idname = "nst.stylize_textures"
    bl_label = "Stylize Selected Objects' Textures"
    bl_options = {"REGISTER", "UNDO"}
    label = "Stylize Textures"

    swap_nodes: BoolProperty(name="Use in Materials", default=True,
                             description="Point the texture nodes at the styled images")
    seamless: BoolProperty(name="Seamless", default=False)

    def job(self, context):
        objects = list(context.selected_objects)
        if not objects:
            raise UserError("no objects selected; select the objects whose textures to stylize")
        nodes, skipped = _material_images(objects)
        if not nodes:
            raise UserError("the selected objects' materials have no colour image textures"
                            + (f" (skipped: {', '.join(skipped)})" if skipped else ""))
        settings = settings_from(self)
        done = {}
        for node in nodes:
            if node.image.name not in done:
                yield from stylize_image_job(self, node.image, settings, False)
                done[node.image.name] = self.result_name
            if self.swap_nodes:
                node.image = bpy.data.images[done[node.image.name]]
        self.report({"INFO"}, f"stylized {len(done)} texture(s)"
                    + (f"; skipped {', '.join(skipped)}" if skipped else ""))

    result_name: StringProperty(options={"SKIP_SAVE", "HIDDEN"})


class NST_OT_cancel(bpy.types.Operator):
    """Cancel the running stylization (nothing is written)"""

    bl_idname = "nst.cancel"
    bl_label = "Cancel Stylization"

    def execute(self, context):
        jobs.STATE.cancel.set()
        return {"FINISHED"}


classes = (NST_OT_stylize_image, NST_OT_restore_image, NST_OT_stylize_textures, NST_OT_cancel)

register, unregister = bpy.utils.register_classes_factory(classes)
