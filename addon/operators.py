"""Operators on images and textures, Restore Original and Cancel; the worker's part every
stylizing job shares.

Every operator works from Python with explicit properties, e.g.
``bpy.ops.nst.stylize_image(image="Name", style_path="/abs/style.jpg", method='WCT')``.
"""

from __future__ import annotations

import os

import bpy
import numpy as np
from bpy.props import BoolProperty, StringProperty

from . import engine, jobs, pixels
from .engine import UserError
from .properties import settings_from, style_props
from .results import COLOURS, MARK, keep, keep_original

STYLED_SUFFIX = "_styled"
BACKUP_SUFFIX = ".nst_original"
# A replaced image and its backup are packed under file names of their own beside the
# original's, so File › External Data › Unpack writes neither over the original file nor the
# one over the other; the original's path is kept for Restore.
STYLED_PATH_SUFFIX, ORIGINAL_PATH_SUFFIX = ".nst_styled", ".nst_original"
ORIGINAL_PATH = "nst_original_path"
EXTERNAL = "nst_original_external"      # the original was a file's, not packed nor changed


def _own_file(image, suffix: str, ext: str = ""):
    """Point a file-backed image (its pixels written, about to be packed) at a file name of its
    own: name.suffix.ext (``ext``: another extension than its file's, e.g. ".png")."""
    path = image.get(ORIGINAL_PATH) or image.filepath_raw
    if path:
        stem, own = os.path.splitext(path)
        image.filepath_raw = f"{stem}{suffix}{ext or own}"
    return image


def stylize_work(px, settings, coherence=None, vector=None, depth=None, view=None):
    """The worker's part of a job: stylize ``px`` (sRGB straight H×W×4) as ``settings`` say
    (an animation frame: with its ``coherence``, Vector pass, depth and camera's view)."""
    return lambda progress, cancel: engine.stylize(px, settings, progress, cancel, coherence,
                                                   vector, depth, view)


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
    """Generator job: read pixels, stylize in the worker, write `<name>_styled` or replace; what
    it writes is packed into the .blend (results.keep): a byte image's as a PNG the worker
    encodes. A float image's colours above 1 keep their ratio (``pixels.read_image_hdr``).
    Returns whether it replaced pixels an earlier Replace had stylized."""
    name = image.name           # data-blocks are looked up again after the worker: undo, a file
    px, over = yield from pixels.read_image_hdr_job(image)  # load or a deletion frees them
    first = replace and bpy.data.images.get(name + BACKUP_SUFFIX) is None    # (kept for Restore)
    linear = None if image.is_float else pixels.holds_linear(image)
    result = yield stylize_work(px, settings)
    png = backup_png = None
    if linear is not None:
        png, backup_png = yield lambda progress, cancel: (
            pixels.png_for(result, linear), pixels.png_for(px, linear) if first else None)
    image = bpy.data.images.get(name)
    if image is None:
        raise UserError(f"image '{name}' was deleted while it was being stylized; nothing was written")
    ext = ".exr" if png is None else ".png"   # (how keep packs it)
    if replace:
        backup = bpy.data.images.get(image.name + BACKUP_SUFFIX)
        if backup is None:           # the first Replace keeps the original for Restore Original
            backup = image.copy()
            backup.name = image.name + BACKUP_SUFFIX
            if backup_png is None:
                pixels.write_image(px, "", target=backup, like=image, gain=over)
            keep(_own_file(backup, ORIGINAL_PATH_SUFFIX, ext), backup_png)
            if image.filepath_raw and ORIGINAL_PATH not in image:
                image[ORIGINAL_PATH] = image.filepath_raw
                image[EXTERNAL] = image.source == "FILE" and image.packed_file is None \
                    and not image.is_dirty
        if png is None:
            pixels.write_image(result, "", target=image, like=image, gain=over)
        keep(_own_file(image, STYLED_PATH_SUFFIX, ext), png)  # unpacking never writes over
        op.result_name = image.name                           # the original
        return not first
    else:
        h, w = result.shape[:2]
        styled = pixels.image_for(image.name + STYLED_SUFFIX, w, h, image.is_float, image)
        if png is None:
            pixels.write_image(result, "", target=styled, like=image, gain=over)
        op.result_name = keep(styled, png).name
    return False


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
        node = _node_name(_active_image_node(context)) if self.swap_node else None
        again = yield from stylize_image_job(self, _image_by_name(name), settings_from(self),
                                             self.replace)
        node = _node(node)
        if not self.replace and node is not None and node.image is not None \
                and node.image.name == name:
            keep_original(node.image)
            node.image = bpy.data.images[self.result_name]
        self.say("INFO", f"wrote image '{self.result_name}'" + (
            "; it had been stylized before, so its stylized pixels were stylized again (Restore "
            "Original gives back the original, kept from the first Replace)" if again else ""))


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
            self.report({"ERROR"}, f"no original kept for '{name}': it was never replaced, or "
                        "Restore Original put it back already")
            return {"CANCELLED"}
        image = bpy.data.images.get(name)
        if image is None:
            self.report({"ERROR"}, f"there is no image '{name}' to restore any more; its original "
                        f"pixels are kept as the image '{backup.name}'")
            return {"CANCELLED"}
        left = [bpy.path.abspath(i.filepath_raw) for i in (image, backup)     # (Unpack
                if i.packed_file is None and i.filepath_raw     # Resources wrote them)
                and os.path.isfile(bpy.path.abspath(i.filepath_raw))
                and (STYLED_PATH_SUFFIX in i.filepath_raw or ORIGINAL_PATH_SUFFIX in i.filepath_raw)]
        px = np.empty(len(backup.pixels), np.float32)
        backup.pixels.foreach_get(px)
        image.pixels.foreach_set(px)
        image.update()
        if ORIGINAL_PATH in image:   # the original's file again
            image.filepath_raw = image[ORIGINAL_PATH]
            del image[ORIGINAL_PATH]
        external = image.pop(EXTERNAL, False)  # read from its file, not packed, as it was
        if external and os.path.isfile(bpy.path.abspath(image.filepath_raw)):    # (an artist
            if image.packed_file is not None:   # trial: a relative file's image came back packed)
                image.unpack(method="REMOVE")
            if COLOURS in image:                # (its file's colour space: a 16-bit PNG's sRGB)
                image.colorspace_settings.name = image.pop(COLOURS)
            image.reload()
            image.pop(MARK, None)
        else:                        # (its file gone: the pixels kept are the original)
            keep(image)              # the original's pixels, packed over the stylized ones
        bpy.data.images.remove(backup)
        if left:
            self.report({"INFO"}, f"restored '{name}'; the unpacked "
                        f"{' and '.join(os.path.basename(p) for p in left)} stay on disk in "
                        f"{os.path.dirname(left[0])}: the file no longer uses them; delete them "
                        "if you do not need them")
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


def _node_name(node) -> tuple[str, str] | None:
    """A shader node as (material, node) names, to find it again after a job's worker ran."""
    if node is None:
        return None
    return next(((m.name, node.name) for m in bpy.data.materials if m.node_tree == node.id_data), None)


def _node(names: tuple[str, str] | None):
    """The node ``_node_name`` named, or None when it (or its material) is gone."""
    mat = bpy.data.materials.get(names[0]) if names else None
    return mat.node_tree.nodes.get(names[1]) if mat is not None and mat.node_tree else None


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
        for names, image in [(_node_name(n), n.image.name) for n in nodes]:
            if image not in done:
                yield from stylize_image_job(self, _image_by_name(image), settings, False)
                done[image] = self.result_name
            node = _node(names)
            if self.swap_nodes and node is not None and node.image is not None \
                    and node.image.name == image:
                keep_original(node.image)
                node.image = bpy.data.images[done[image]]
        self.say("INFO", f"stylized {len(done)} texture(s)"
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
