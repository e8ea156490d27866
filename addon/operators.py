"""Operators: stylize images and textures, renders and animations, and the compositor blend.

Every operator works from Python with explicit properties, e.g.
``bpy.ops.nst.stylize_image(image="Name", style_path="/abs/style.jpg", method='WCT')``.
"""


import os
import shutil
import tempfile

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import bridge, compositor, jobs
from .bridge import UserError
from .nst_core import clear_runtimes

STYLED_SUFFIX = "_styled"
BACKUP_SUFFIX = ".nst_original"


def _style_props(cls):
    """The style settings every stylizing operator takes."""
    cls.__annotations__.update({
        "style_path": StringProperty(name="Style Image", subtype="FILE_PATH",
                                     description="Painting or picture whose style is applied"),
        "style_name": StringProperty(name="StyleBank Style", search=bridge.search_style_names,
                                     description="Built-in or learned StyleBank style (method StyleBank)"),
        "method": EnumProperty(name="Method", items=bridge.METHOD_ITEMS, default="WCT"),
        "strength": FloatProperty(name="Strength", min=0.0, max=1.0, default=1.0,
                                  description="0 keeps the image, 1 is full style"),
        "preserve_color": BoolProperty(name="Preserve Colour", default=False,
                                       description="Keep the image's own colours, take the style's texture"),
    })
    return cls


def _settings(op) -> dict:
    """What the worker needs, read on the main thread."""
    return {"styles": [bridge.style_for(op.method, op.style_path, op.style_name)], "method": op.method,
            "strength": op.strength, "preserve_color": op.preserve_color,
            "options": bridge.engine_options()}


def _work(pixels, settings, **kw):
    def work(progress, cancel):
        return bridge.stylize(pixels, settings["styles"], settings["method"],
                              strength=settings["strength"], preserve_color=settings["preserve_color"],
                              options=settings["options"], progress=progress, cancel=cancel, **kw)
    return work


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


def stylize_image_job(op, image: bpy.types.Image, settings: dict, replace: bool, seamless: bool):
    """Generator job: read pixels, stylize in the worker, write `<name>_styled` or replace."""
    pixels = bridge.read_image(image)
    result = yield _work(pixels, settings, seamless=seamless)
    if replace:
        backup = bpy.data.images.get(image.name + BACKUP_SUFFIX)
        if backup is None:           # the first Replace keeps the original for Restore Original
            backup = image.copy()
            backup.name = image.name + BACKUP_SUFFIX
            backup.use_fake_user = True
            bridge.write_image(pixels, "", target=backup, like=image)
        bridge.write_image(result, "", target=image, like=image)
        op.result_name = image.name
    else:
        styled = bridge.write_image(result, image.name + STYLED_SUFFIX, like=image)
        op.result_name = styled.name


@_style_props
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
        settings = _settings(self)
        yield from stylize_image_job(self, image, settings, self.replace, self.seamless)
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
        pixels = np.empty(len(backup.pixels), np.float32)
        backup.pixels.foreach_get(pixels)
        image.pixels.foreach_set(pixels)
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


@_style_props
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
        settings = _settings(self)
        done = {}
        for node in nodes:
            if node.image.name not in done:
                yield from stylize_image_job(self, node.image, settings, False, self.seamless)
                done[node.image.name] = self.result_name
            if self.swap_nodes:
                node.image = bpy.data.images[done[node.image.name]]
        self.report({"INFO"}, f"stylized {len(done)} texture(s)"
                    + (f"; skipped {', '.join(skipped)}" if skipped else ""))

    result_name: StringProperty(options={"SKIP_SAVE", "HIDDEN"})


# -- renders ----------------------------------------------------------------------------------

def render_to_array(scene) -> np.ndarray:
    """Render the scene (blocking) and read the Render Result through a float EXR."""
    bpy.ops.render.render(scene=scene.name)
    return read_render_result(scene)


def read_render_result(scene) -> np.ndarray:
    result = bpy.data.images.get("Render Result")
    if result is None:
        raise UserError("there is no render result; render first")
    settings = scene.render.image_settings
    saved = {k: getattr(settings, k) for k in ("file_format", "color_depth")}
    media = getattr(settings, "media_type", None)
    tmp = tempfile.mkdtemp(prefix="nst_render_")
    try:
        if media is not None:
            settings.media_type = "IMAGE"
        settings.file_format, settings.color_depth = "OPEN_EXR", "32"
        path = os.path.join(tmp, "render.exr")
        result.save_render(path, scene=scene)
        px = bridge.read_exr(path)
    finally:
        if media is not None:
            settings.media_type = media
        for k, v in saved.items():
            setattr(settings, k, v)
        shutil.rmtree(tmp, ignore_errors=True)
    return _linear_to_straight_srgb(px)


def _linear_to_straight_srgb(px: np.ndarray) -> np.ndarray:
    from .nst_core import color
    out = color.unpremultiply(px)
    out[..., :3] = color.linear_to_srgb(out[..., :3])
    return np.clip(out, 0, 1)


@_style_props
class NST_OT_stylize_render(jobs.JobOperator, bpy.types.Operator):
    """Render the scene and stylize the result into the image 'Render_styled'"""

    bl_idname = "nst.stylize_render"
    bl_label = "Stylize Render"
    label = "Stylize Render"

    render: BoolProperty(name="Render First", default=True,
                         description="Render now; off: stylize the current Render Result")

    def job(self, context):
        settings = _settings(self)
        scene = context.scene
        pixels = render_to_array(scene) if self.render else read_render_result(scene)
        result = yield _work(pixels, settings)
        image = bridge.write_image(result, "Render" + STYLED_SUFFIX)
        _show(context, image)
        self.report({"INFO"}, f"wrote image '{image.name}'")


@_style_props
class NST_OT_stylize_animation(jobs.JobOperator, bpy.types.Operator):
    """Render a frame range and stylize every frame into an image sequence (same style
    statistics on every frame)"""

    bl_idname = "nst.stylize_animation"
    bl_label = "Stylize Animation"
    label = "Stylize Animation"

    frame_start: IntProperty(name="Start", default=-1, description="-1: the scene's start")
    frame_end: IntProperty(name="End", default=-1, description="-1: the scene's end")
    directory: StringProperty(name="Folder", subtype="DIR_PATH", default="//nst_frames/")

    def job(self, context):
        scene = context.scene
        start = scene.frame_start if self.frame_start < 0 else self.frame_start
        end = scene.frame_end if self.frame_end < 0 else self.frame_end
        if end < start:
            raise UserError(f"frame range {start}..{end} is empty")
        folder = bpy.path.abspath(self.directory)
        if not folder or folder.startswith("//"):
            raise UserError("save the .blend file first, or give an absolute output folder")
        os.makedirs(folder, exist_ok=True)
        settings = _settings(self)      # one style, encoded once: identical statistics per frame
        current = scene.frame_current
        try:
            for frame in range(start, end + 1):
                scene.frame_set(frame)
                pixels = render_to_array(scene)
                result = yield _work(pixels, settings)
                path = os.path.join(folder, f"frame_{frame:04d}.png")
                _save_png(result, path)
        finally:
            scene.frame_set(current)
        self.report({"INFO"}, f"wrote frames {start}..{end} to {folder}")


def _save_png(pixels: np.ndarray, path: str) -> None:
    image = bpy.data.images.new("nst_frame", pixels.shape[1], pixels.shape[0], alpha=True)
    try:
        image.pixels.foreach_set(np.ascontiguousarray(pixels[::-1], np.float32).ravel())
        image.filepath_raw, image.file_format = path, "PNG"
        image.save()
    finally:
        bpy.data.images.remove(image)


def _show(context, image) -> None:
    for area in context.screen.areas if context.screen else []:
        if area.type == "IMAGE_EDITOR":
            area.spaces.active.image = image
            return


def after_render(scene, *_):
    """render_complete handler: stylize each still render when the scene asks for it."""
    settings = getattr(scene, "nst", None)
    if settings is None or not settings.after_render or jobs.STATE.running:
        return
    if bpy.ops.nst.stylize_render.poll():
        bpy.ops.nst.stylize_render(render=False, style_path=settings.render_style_path,
                                   style_name=settings.render_style_name, method=settings.method, strength=settings.strength,
                                   preserve_color=settings.preserve_color)


# -- compositor -------------------------------------------------------------------------------

class NST_OT_compositor_apply(jobs.JobOperator, bpy.types.Operator):
    """Render, blend the style slots by weight and region, and feed the result into the
    compositor through the node group 'NST Style' (applying again updates it)"""

    bl_idname = "nst.compositor_apply"
    bl_label = "Apply Styles"
    label = "Apply Styles"

    def job(self, context):
        yield from compositor.apply_job(self, context)


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


class NST_OT_cancel(bpy.types.Operator):
    """Cancel the running stylization (nothing is written)"""

    bl_idname = "nst.cancel"
    bl_label = "Cancel Stylization"

    def execute(self, context):
        jobs.STATE.cancel.set()
        return {"FINISHED"}


class NST_OT_free_memory(bpy.types.Operator):
    """Drop every loaded model session (frees GPU memory)"""

    bl_idname = "nst.free_memory"
    bl_label = "Free GPU Memory"

    def execute(self, context):
        if jobs.STATE.running:
            self.report({"ERROR"}, "a stylization is running; cancel it first")
            return {"CANCELLED"}
        clear_runtimes()
        return {"FINISHED"}


CLASSES = (NST_OT_stylize_image, NST_OT_restore_image, NST_OT_stylize_textures,
           NST_OT_stylize_render, NST_OT_stylize_animation, NST_OT_compositor_apply,
           NST_OT_slot_add, NST_OT_slot_remove, NST_OT_cancel, NST_OT_free_memory)
