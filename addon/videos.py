"""A video output (FFmpeg: Output Properties > Output > File Format) of the live 'NST Style'
node (live.py). Blender encodes each frame into the video as it renders it, so a video cannot
be rewritten frame by frame as image files are: each stylized frame goes to an uncompressed
Targa file in the render's capture folder, and once the frames are stylized (headless: as the
render completes; in a window: once the job after it is done or cancelled) the video is
encoded again by Blender's own encoder with the scene's FFmpeg settings (a render of a
temporary scene's sequencer) and put over Blender's file, whole (a partial file, renamed).
Under the stylized frames the temporary sequencer holds Blender's own video, so a frame that
was not stylized (it failed, or the job was cancelled) keeps Blender's plain frame; the sound
is the scene's, mixed down as Blender's encoder mixes it."""

from __future__ import annotations

import os
import shutil
import tempfile

import bpy
import numpy as np
from bpy.app.handlers import persistent

from . import outputs, passes, pixels
from .handlers import attach, detach

FOLDER = "video"                        # inside the render's capture folder
SCENE = "NST video"                     # the temporary scene that encodes the video


def frame_file(directory: str, frame: int, kind: str = "stylized") -> str:
    return os.path.join(directory, FOLDER, f"{kind}_{frame:04d}.tga")


def write_frame(scene, px: np.ndarray, directory: str, frame: int, inverse=None) -> str:
    """The stylized frame (display-encoded straight H×W×4) as a file for the video to come, as
    the video holds it (``outputs.as_written``, ``inverse()`` the view's ViewInverse: an artist
    trial found colour under an RGBA video's transparent pixels, where Blender's has none)."""
    path = frame_file(directory, frame)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = scene.render.image_settings.color_mode
    pixels.save_8bit(outputs.as_written(px, mode, scene, inverse), path,
                     "TARGA_RAW")       # (uncompressed: a PNG took 0.24 s at 720p)
    if scene.render.use_stamp:          # what Blender's frame held before its stamp (_stamp)
        shown = passes.read_composite(scene, directory, frame)
        pixels.save_8bit(outputs.as_written(shown, mode, scene, inverse),
                         frame_file(directory, frame, "shown"), "TARGA_RAW")
    return path


def _strips(scene):
    editor = scene.sequence_editor_create()
    return editor.strips if hasattr(editor, "strips") else editor.sequences     # Blender 5 / 4.x


def _copy_output(scene, to) -> None:
    """``scene``'s picture size, frame rate and video settings onto ``to``, whose colour
    management passes the frames' display values through unchanged."""
    r, t = scene.render, to.render
    for key in ("resolution_x", "resolution_y", "resolution_percentage", "pixel_aspect_x",
                "pixel_aspect_y", "fps", "fps_base"):
        setattr(t, key, getattr(r, key))
    if hasattr(t.image_settings, "media_type"):
        t.image_settings.media_type = "VIDEO"
    t.image_settings.file_format = "FFMPEG"
    for key in ["format", "codec"] + [p.identifier for p in r.ffmpeg.bl_rna.properties
                                      if not p.is_readonly and p.identifier != "rna_type"]:
        try:
            setattr(t.ffmpeg, key, getattr(r.ffmpeg, key))
        except (AttributeError, TypeError, ValueError):     # (another Blender's setting)
            pass
    for key in ("color_mode", "color_depth"):   # (after the codec, which says what it takes)
        try:
            setattr(t.image_settings, key, getattr(r.image_settings, key))
        except TypeError:               # (a depth this Blender's encoder settings lack)
            pass
    t.dither_intensity, t.use_compositing, t.use_sequencer = 0.0, False, True
    to.display_settings.display_device = "sRGB"
    view = to.view_settings
    view.view_transform, view.look, view.exposure, view.gamma = "Standard", "None", 0.0, 1.0
    view.use_curve_mapping = False
    to.sequencer_colorspace_settings.name = "sRGB"


def _sound(scene, folder: str, first: int) -> str:
    """The scene's sound over the rendered range, mixed down losslessly as Blender's encoder
    mixes it (so the video's sound is encoded once, not Blender's encoded sound again: AAC
    and MP3 then came out delayed and quieter, an artist trial); '' where there is none."""
    f = scene.render.ffmpeg
    if f.audio_codec == "NONE":
        return ""
    path = os.path.join(folder, "sound.wav")
    start = scene.frame_start
    try:
        scene.frame_start = first
        with bpy.context.temp_override(scene=scene):
            bpy.ops.sound.mixdown(filepath=path, check_existing=False, container="WAV",
                                  codec="PCM", format="F32", mixrate=f.audio_mixrate,
                                  channels=f.audio_channels)
    except (RuntimeError, TypeError):   # a Blender without sound (bpy 4.2.0 from PyPI)
        return ""
    finally:
        scene.frame_start = start
    return path


# Codecs that give back the frames they were given (in RGB): a stamp is read from them exactly
LOSSLESS = {"FFV1", "PNG", "QTRLE", "HUFFYUV"}


def _stamp(scene, temp, directory: str, video: str, done: list, first: int, step: int,
           count: int, inverse, out: str) -> None:
    """Blender's stamp (Burn Into Image), read from its own video's frames (decoded by a
    render of ``temp``'s sequencer) against what its compositor showed, laid over the stylized
    frames (stamps.py, ``outputs.with_stamp``)."""
    _copy_output(scene, temp)
    settings = temp.render.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = "IMAGE"
    settings.file_format = "TARGA_RAW"
    settings.color_mode = "RGBA" if scene.render.image_settings.color_mode == "RGBA" else "RGB"
    _strips(temp).new_movie("plain", video, 1, first)
    temp.frame_start, temp.frame_end = first, first + count - 1
    temp.render.filepath = os.path.join(out, "decoded_")
    with passes.for_us(temp):
        bpy.ops.render.render(animation=True, scene=temp.name)
    temp.sequence_editor_clear()
    lossy = scene.render.ffmpeg.codec not in LOSSLESS
    for frame in done:
        at = first + (frame - first) // step
        shown = frame_file(directory, frame, "shown")
        if first <= at < first + count and os.path.isfile(shown):
            path = frame_file(directory, frame)
            laid = outputs.with_stamp(
                scene, outputs.read_file(path, False), outputs.read_file(shown, False),
                outputs.read_file(temp.render.frame_path(frame=at), False), inverse, lossy)
            pixels.save_8bit(laid, path, "TARGA_RAW")


def encode(scene, directory: str, video: str, first: int, step: int, count: int,
           inverse) -> None:
    """Blender's video ``video`` of ``count`` frames (``first``, ``first + step``, ... of
    ``scene``) encoded again with the stylized frames in ``directory`` over its own (with
    Blender's stamp, if it burns one in: ``inverse()`` gives the view's inverse)."""
    folder = os.path.join(directory, FOLDER)
    done = sorted(int(name[-8:-4]) for name in os.listdir(folder)
                  if name.startswith("stylized_")) if os.path.isdir(folder) else []
    if not done:
        return
    temp = bpy.data.scenes.get(SCENE) or bpy.data.scenes.new(SCENE)
    out = tempfile.mkdtemp(prefix="nst_video_")
    try:
        if scene.render.use_stamp:
            _stamp(scene, temp, directory, video, done, first, step, count, inverse, out)
        _copy_output(scene, temp)
        strips = _strips(temp)
        strips.new_movie("plain", video, 1, first)      # (its length counts its sound too)
        for frame in done:
            at = first + (frame - first) // step        # (the video's frames follow on)
            if first <= at < first + count:
                strip = strips.new_image(f"stylized {frame}", frame_file(directory, frame), 2, at)
                strip.blend_type = "REPLACE"
        sound = _sound(scene, folder, first)
        if sound:
            strips.new_sound("sound", sound, 3, first)
        temp.frame_start, temp.frame_end = first, first + count - 1
        temp.render.filepath = os.path.join(out, "video_")
        with passes.for_us(temp):
            bpy.ops.render.render(animation=True, scene=temp.name)
        partial = video + ".partial"
        shutil.move(temp.render.frame_path(frame=first), partial)
        os.replace(partial, video)
    finally:
        shutil.rmtree(out, ignore_errors=True)
        temp.sequence_editor_clear()
        if not bpy.app.background:      # headless it is kept: removing the scene just rendered,
            bpy.data.scenes.remove(temp)    # inside the render's handler, crashed Blender 4.3


@persistent
def _not_saved(*_):
    """save_pre: the encoding scene a headless render kept is not saved into the file."""
    temp = bpy.data.scenes.get(SCENE)
    if temp is not None:
        bpy.data.scenes.remove(temp)


HANDLERS = ((bpy.app.handlers.save_pre, _not_saved),)


def register():
    attach(HANDLERS)


def unregister():
    detach(HANDLERS)
