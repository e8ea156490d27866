"""Run by Debian's `blender -b --python farm_shot.py -- FRAMES COHERENCE MASK OUT` inside the
chroot (test_farm.py): builds OUT (a .blend) with a cube moving over a plane, one style slot
(MASK: "cube", masked to the cube by its object index, or "none", everywhere), Temporal
Coherence COHERENCE, Apply Styles at frame 1 (the NST Style node in the compositor) and PNG
frames to //frames/. The extension is installed and enabled beforehand, from the command line.
MASK "sky": no slot mask, the cube stays and the camera turns under a textured sky (a noise
texture in the world), 192×108; each frame's camera view (the add-on's cameras.py) is written
beside OUT as OUT.views.npy."""
import sys

import bpy

frames, coherence, mask, out = sys.argv[sys.argv.index("--") + 1:][:4]
frames, coherence = int(frames), float(coherence)
bpy.ops.wm.read_homefile(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples, scene.cycles.device = 16, "CPU"
scene.cycles.use_denoising = False
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = \
    (192, 108, 100) if mask == "sky" else (96, 64, 100)
scene.render.image_settings.file_format, scene.render.image_settings.color_mode = "PNG", "RGB"
scene.render.dither_intensity = 0.0
scene.render.filepath = "//frames/frame_"
scene.frame_start, scene.frame_end = 1, frames
world = bpy.data.worlds.new("World")
world.color = (0.05, 0.05, 0.08)
scene.world = world
if mask == "sky":                       # (Cycles gives the world background no motion vectors)
    world.use_nodes = True
    noise = world.node_tree.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 6.0
    world.node_tree.links.new(noise.outputs["Color"], world.node_tree.nodes["Background"].inputs["Color"])
bpy.ops.mesh.primitive_plane_add(size=8, location=(0, 0, -1))
bpy.ops.mesh.primitive_cube_add(size=1.6, location=(0, 0, 0))
cube = bpy.context.object
cube.pass_index = 3
for f in range(1, frames + 1) if mask != "sky" else ():
    cube.location.x = -2 + 4 * (f - 1) / max(frames - 1, 1)
    cube.keyframe_insert("location", frame=f)
bpy.ops.object.camera_add(location=(0, -6, 2.5), rotation=(1.2, 0, 0))
scene.camera = camera = bpy.context.object
for f in range(1, frames + 1) if mask == "sky" else ():    # turning 1° a frame, looking up
    camera.rotation_euler = (1.6, 0, 0.02 * (f - 1))
    camera.keyframe_insert("rotation_euler", frame=f)
bpy.ops.object.light_add(type="SUN", location=(2, -2, 5))
bpy.context.object.data.energy = 4
nst = scene.nst
bpy.ops.nst.slot_add()
nst.slots[0].style_path, nst.slots[0].mask_index = "/nst/style.jpg", 3
nst.slots[0].mask_source = "OBJECT_INDEX" if mask == "cube" else "NONE"
nst.method, nst.temporal_coherence = "ADAIN", coherence
scene.frame_set(1)
print("APPLY", bpy.ops.nst.compositor_apply())
bpy.ops.wm.save_as_mainfile(filepath=out)
if mask == "sky":
    import numpy as np
    from bl_ext.user_default.neural_style_transfer import cameras
    np.save(out + ".views.npy", np.stack([cameras.view(scene, f) for f in range(1, frames + 1)]))
