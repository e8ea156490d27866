"""What the add-on makes stays in the artist's file: every image it writes (stylized textures,
Render_styled, the compositor's result, replaced originals and their backups) is packed into the
.blend, float images as OpenEXR (HDR values kept), byte images as PNG, and kept with a fake
user, so Save and reopening give the same pixels; the originals it replaces or unhooks from a
material keep a fake user too. Packing needs no saved file, so an unsaved .blend keeps them at
its first save; a ``save_pre`` handler packs again any result that changed since it was packed
(painted on, or written by a job the artist did not save after).
"""

from __future__ import annotations

import bpy
from bpy.app.handlers import persistent

from .handlers import attach, detach

MARK = "nst_result"      # custom property of the images the add-on made or wrote
COLOURS = "nst_colorspace"  # on a float image packed here: the colour space it had before


def scene_linear() -> str:
    """The colour space of Blender's float pixels (as packed in OpenEXR): the file's working
    space in Blender 5 (Linear Rec.709, Linear Rec.2020 or ACEScg; tagged Linear Rec.709 in an
    ACEScg file, a result read back 0.8 0.2 0.1 as 0.56 0.24 0.13), Linear Rec.709 before."""
    space = getattr(bpy.data, "colorspace", None)
    return "Linear Rec.709" if space is None else space.working_space


def keep(image: bpy.types.Image, png: bytes | None = None) -> bpy.types.Image:
    """Pack ``image`` (just written) into the .blend and give it a fake user; or pack ``png``
    (``pixels.png_for``, made in the worker) as its pixels: the image is then read from it,
    and Blender encodes nothing on the main thread. The packed file is named as the image's
    own path (``operators._own_file``): Blender named a float image's after the file it was
    read from, so Unpack Resources wrote the stylized pixels over the artist's original (an
    artist trial). A float image is packed as OpenEXR of its scene-linear pixels: tagged with
    another colour space (a 16-bit PNG's sRGB), it read back darker; it is tagged scene-linear
    (``scene_linear``; the colour space it had is kept for Restore Original: ``COLOURS``)."""
    image[MARK] = True
    image.use_fake_user = True
    if png is None:
        image.pack()
        linear = scene_linear()
        if image.is_float and image.colorspace_settings.name != linear:
            if COLOURS not in image:
                image[COLOURS] = image.colorspace_settings.name
            image.colorspace_settings.name = linear
    else:
        image.pack(data=png, data_len=len(png))
        image.source, image.file_format = "FILE", "PNG"
        image.buffers_free()            # (read again from the packed PNG when next used)
    if image.filepath_raw:
        for packed in image.packed_files:
            packed.filepath = image.filepath_raw
    return image


def keep_original(image: bpy.types.Image) -> None:
    """An original the add-on replaced in a material stays in the file (Restore, a second try);
    one whose pixels live only in memory (painted, generated) is packed, or Blender would
    drop them at the next save."""
    image.use_fake_user = True
    if image.is_dirty:
        image.pack()


def is_result(image: bpy.types.Image) -> bool:
    return bool(image.get(MARK))


@persistent
def pack_changed_results(*_):
    """save_pre: results whose pixels changed since they were packed are packed again."""
    for image in bpy.data.images:
        if image.get(MARK) and image.is_dirty and image.has_data:
            keep(image)


HANDLERS = ((bpy.app.handlers.save_pre, pack_changed_results),)


def register():
    attach(HANDLERS)


def unregister():
    detach(HANDLERS)
