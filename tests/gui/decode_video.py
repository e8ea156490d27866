"""Run by Debian's `blender -b --python decode_video.py -- VIDEO FRAMES OUT` inside the chroot
(test_farm.py): the first FRAMES frames of VIDEO as Blender's own decoder gives them (a
sequencer render, the Standard view: the display values the video holds), to OUT####.png."""
import sys

import bpy

video, frames, out = sys.argv[sys.argv.index("--") + 1:][:3]
scene = bpy.context.scene
editor = scene.sequence_editor_create()
strips = editor.strips if hasattr(editor, "strips") else editor.sequences
movie = strips.new_movie("movie", video, 1, 1)
scene.render.resolution_x = movie.elements[0].orig_width
scene.render.resolution_y = movie.elements[0].orig_height
scene.render.resolution_percentage, scene.render.dither_intensity = 100, 0.0
scene.view_settings.view_transform, scene.view_settings.look = "Standard", "None"
scene.render.use_compositing = False
scene.render.image_settings.file_format, scene.render.image_settings.color_mode = "PNG", "RGB"
scene.frame_start, scene.frame_end = 1, int(frames)
scene.render.filepath = out
bpy.ops.render.render(animation=True)
