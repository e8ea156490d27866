"""addon/results.py: what the add-on makes survives Save and reopening in a new Blender process,
as an artist keeps it: stylized textures (in the material), Render_styled, the compositor's
result, a replaced original and its Restore, an HDR texture's highlights, strength 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from harness import MODULE, env, error_of, fact, pixels, scenario

bpy = pytest.importorskip("bpy")

# The start of both scripts run by a new Blender process below: the pixels of an image, flat.
PX = """
import bpy, numpy as np
def px(image):
    buf = np.empty(len(image.pixels), np.float32)
    image.pixels.foreach_get(buf)
    return buf
"""

# Run by a new Blender process (the same bpy) on the saved file: each image's pixels, what the
# plane's material shows, and Restore Original on the replaced image.
REOPEN = PX + """
import json, sys
blend, out = sys.argv[1], sys.argv[2]
bpy.ops.wm.open_mainfile(filepath=blend)
found = {}
for name in ("Tex", "Tex_styled", "Render_styled", "NST Style Result", "Tex4", "Tex4.nst_original",
             "HdrTex_styled"):
    image = bpy.data.images.get(name)
    found[name] = None if image is None else px(image)
mat = bpy.data.materials["Mat"]
shown = [n.image.name for n in mat.node_tree.nodes if n.type == "TEX_IMAGE" and n.image]
bpy.ops.preferences.addon_enable(module=sys.argv[3])
styled4 = px(bpy.data.images["Tex4"])
bpy.ops.file.unpack_all(method="WRITE_LOCAL")      # File > External Data > Unpack Resources
unpacked = px(bpy.data.images["Tex4"])
restored = sorted(bpy.ops.nst.restore_image(image="Tex4"))
np.savez(out, restored_pixels=px(bpy.data.images["Tex4"]),
         **{k.replace(" ", "_").replace(".", "__"): v for k, v in found.items() if v is not None})
print("REOPENED " + json.dumps({"unpacked_styled_diff": float(np.abs(unpacked - styled4).max()),
                                "missing": [k for k, v in found.items() if v is None],
                                "material_shows": shown, "restored": restored,
                                "backup_left": "Tex4.nst_original" in bpy.data.images}))
"""


def _key(name: str) -> str:
    return name.replace(" ", "_").replace(".", "__")


@scenario(85)
def results_survive_save_and_reopen():
    scene = bpy.context.scene
    nst = scene.nst
    # an HDR texture (a float ramp 0..8) and a fourth byte image to replace
    hdr = bpy.data.images.new("HdrTex", 64, 32, alpha=True, float_buffer=True)
    ramp = np.zeros((32, 64, 4), np.float32)
    ramp[..., 0] = np.linspace(0, 8, 64)[None]
    ramp[..., 1] = 0.5 * ramp[..., 0]
    ramp[..., 2], ramp[..., 3] = 0.2, 1.0
    hdr.pixels.foreach_set(ramp.ravel())
    made4 = bpy.data.images.new("Tex4 source", 40, 24, alpha=True)     # a texture file on disk
    made4.pixels.foreach_set(np.random.default_rng(4).random(40 * 24 * 4).astype(np.float32))
    tex4_path = os.path.join(env.work, "tex4.png")
    made4.filepath_raw, made4.file_format = tex4_path, "PNG"
    made4.save()
    bpy.data.images.remove(made4)
    tex4 = bpy.data.images.load(tex4_path)
    tex4.name = "Tex4"
    with open(tex4_path, "rb") as f:
        tex4_file = f.read()
    original4 = pixels(tex4).copy()
    style = dict(style_path=env.style, method="ADAIN")
    for node in bpy.data.materials["Mat"].node_tree.nodes:     # the plane shows 'Tex' again
        if node.type == "TEX_IMAGE" and node.image and node.image.name.startswith("Tex"):
            node.image = bpy.data.images["Tex"]
    bpy.ops.object.select_all(action="DESELECT")
    bpy.data.objects["Plane"].select_set(True)
    made = {}
    made["textures"] = sorted(bpy.ops.nst.stylize_textures(swap_nodes=True, **style))
    made["render"] = sorted(bpy.ops.nst.stylize_render(**style))
    nst.slots.clear()
    bpy.ops.nst.slot_add()
    nst.slots[0].style_path, nst.slots[0].mask_source = env.style, "NONE"
    nst.method, nst.strength, nst.work_size = "ADAIN", 1.0, 0
    made["compositor"] = sorted(bpy.ops.nst.compositor_apply())
    made["replace"] = sorted(bpy.ops.nst.stylize_image(image="Tex4", replace=True, **style))
    replaced = pixels(tex4).copy()
    tree = bpy.data.materials["Mat"].node_tree               # Tex4 in a material that renders
    user = tree.nodes.new("ShaderNodeTexImage")
    user.image = tex4
    tree.links.new(user.outputs["Color"], tree.nodes["Principled BSDF"].inputs["Emission Color"])
    bpy.ops.render.render()             # Blender reloaded the unchanged file here: the original
    after_render = float(np.abs(pixels(bpy.data.images["Tex4"]) - replaced).max())
    tree.nodes.remove(user)
    made["hdr"] = sorted(bpy.ops.nst.stylize_image(image="HdrTex", **style))
    hdr_out = pixels(bpy.data.images["HdrTex_styled"])
    bpy.ops.nst.stylize_image(image="Tex4", strength=0.0, **style)
    victim = tex4.copy()
    victim.name = "Victim"
    bpy.ops.nst.stylize_image(image="Victim", replace=True, **style)
    bpy.data.images.remove(bpy.data.images["Victim"])
    restore_deleted = error_of(lambda: bpy.ops.nst.restore_image(image="Victim"))
    strength0 = float(np.abs(pixels(bpy.data.images["Tex4_styled"])[..., :3]
                             - pixels(tex4)[..., :3]).max())
    before = {name: pixels(bpy.data.images[name]).ravel().copy() for name in (
        "Tex", "Tex_styled", "Render_styled", "NST Style Result", "Tex4", "HdrTex_styled")}
    blend = os.path.join(env.work, "kept.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend, copy=True)     # the file's first save
    out = os.path.join(env.work, "reopened.npz")
    r = subprocess.run([sys.executable, "-c", REOPEN, blend, out, MODULE], capture_output=True,
                       text=True, timeout=300)
    with open(tex4_path, "rb") as f:
        tex4_file_after = f.read()
    lines = [line for line in r.stdout.splitlines() if line.startswith("REOPENED ")]
    if not lines:
        return {"made": made, "reopen_error": r.stderr[-3000:]}
    reopened = json.loads(lines[-1][len("REOPENED "):])
    got = np.load(out)
    return {"made": made, **reopened,
            "max_diff": {name: float(np.abs(got[_key(name)] - px).max())
                         for name, px in before.items() if _key(name) in got},
            "restored_diff": float(np.abs(got["restored_pixels"] - original4.ravel()).max()),
            "hdr_in_max": float(ramp[..., :3].max()), "hdr_out_max": float(hdr_out[..., :3].max()),
            # the ramp's first 8 columns are at most 1, its last 8 above 7
            "hdr_dark_mean": float(hdr_out[:, :8, :3].mean()),
            "hdr_bright_mean": float(hdr_out[:, -8:, :3].mean()),
            "strength0_max": strength0, "restore_deleted": restore_deleted,
            "replaced_after_render": after_render,
            "original_file_unchanged": tex4_file_after == tex4_file,
            "unpacked_styled_diff": reopened["unpacked_styled_diff"]}


def test_every_result_has_the_same_pixels_after_save_and_reopen(facts):
    f = fact(facts, "results_survive_save_and_reopen")
    assert "reopen_error" not in f, f.get("reopen_error")
    assert all(r == ["FINISHED"] for r in f["made"].values()), f["made"]
    assert f["missing"] == [], f["missing"]
    assert all(d <= 1 / 255 for d in f["max_diff"].values()), (f["max_diff"], f)
    assert len(f["max_diff"]) == 6, f["max_diff"]


def test_the_material_shows_the_stylized_texture_and_keeps_the_original(facts):
    f = fact(facts, "results_survive_save_and_reopen")
    assert "Tex_styled" in f["material_shows"] and "Tex" not in f["material_shows"]
    assert "Tex" not in f["missing"]                   # unhooked, but kept in the file


def test_restore_original_works_after_reopening(facts):
    f = fact(facts, "results_survive_save_and_reopen")
    assert f["replaced_after_render"] == 0.0, f         # a render does not bring the file back
    assert f["restored"] == ["FINISHED"] and not f["backup_left"]
    assert f["restored_diff"] <= 1 / 255


def test_an_hdr_texture_keeps_its_highlights(facts):
    f = fact(facts, "results_survive_save_and_reopen")
    assert f["hdr_in_max"] == 8.0 and f["hdr_out_max"] > 1.5, f    # was 0.77: clipped to 1
    assert f["hdr_bright_mean"] > 3 * f["hdr_dark_mean"], f         # bright stays bright


def test_strength_zero_gives_the_image_back(facts):
    f = fact(facts, "results_survive_save_and_reopen")
    assert f["strength0_max"] <= 1 / 255, f["strength0_max"]      # was 0.027 on average


def test_unpacking_writes_over_neither_the_original_nor_the_result(facts):
    """File › External Data › Unpack Resources wrote the backup and the replaced image to one
    file (the original's), so the result was lost and the original file rewritten."""
    f = fact(facts, "results_survive_save_and_reopen")
    assert f["original_file_unchanged"] and f["unpacked_styled_diff"] <= 1 / 255, f


def test_restore_of_a_deleted_image_says_where_the_original_is(facts):
    f = fact(facts, "results_survive_save_and_reopen")["restore_deleted"]
    assert "no image 'Victim' to restore" in f and "'Victim.nst_original'" in f, f
    assert f.startswith("Error:") and "Traceback" not in f, f


# A new Blender process on the saved file of ``float_textures_replaced``: each texture's pixels,
# then Unpack Resources, the files it wrote, and Restore Original.
REOPEN_FLOAT = PX + """
import glob, json, os, sys
blend, module, names = sys.argv[1], sys.argv[2], sys.argv[3:]
bpy.ops.wm.open_mainfile(filepath=blend)
bpy.ops.preferences.addon_enable(module=module)
out = {}
for name in names:
    out[name] = {"styled": px(bpy.data.images[name]).tolist()}
bpy.ops.file.unpack_all(method="WRITE_LOCAL")
out["unpacked"] = sorted(os.path.basename(p) for p in glob.glob(os.path.join(
    os.path.dirname(blend), "textures", "*")))
for name in names:
    image = bpy.data.images[name]
    out[name]["restore"] = sorted(bpy.ops.nst.restore_image(image=name))
    out[name]["restored"] = px(image).tolist()
    out[name]["colorspace"] = image.colorspace_settings.name
print("REOPENED " + json.dumps(out))
"""


@scenario(86)
def float_textures_replaced():
    """Replace Original on a 16-bit PNG (Blender reads it as a float image, sRGB) and on an
    OpenEXR texture (linear): saved, reopened in a new Blender process, unpacked, restored."""
    folder = os.path.join(env.work, "float_textures")
    os.makedirs(os.path.join(folder, "textures"), exist_ok=True)
    blend = os.path.join(folder, "floats.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend, copy=True)
    scene, out, files = bpy.context.scene, {}, {}
    settings = scene.render.image_settings
    kept = (settings.file_format, settings.color_depth)
    ramp = np.zeros((24, 40, 4), np.float32)
    ramp[..., 0], ramp[..., 1] = np.linspace(0.05, 0.95, 40)[None], np.linspace(0.1, 0.9, 24)[:, None]
    ramp[..., 2], ramp[..., 3] = 0.3, 1.0
    for name, fmt, depth in (("wood16.png", "PNG", "16"), ("wood.exr", "OPEN_EXR", "32")):
        made = bpy.data.images.new("made", 40, 24, alpha=True, float_buffer=True)
        made.pixels.foreach_set(ramp.ravel())
        settings.file_format, settings.color_depth = fmt, depth
        path = os.path.join(folder, "textures", name)
        made.save_render(path, scene=scene)
        bpy.data.images.remove(made)
        with open(path, "rb") as f:
            files[name] = f.read()
        image = bpy.data.images.load(path)
        original = pixels(image).copy()
        result = sorted(bpy.ops.nst.stylize_image(image=name, replace=True, style_path=env.style,
                                                  method="ADAIN"))
        out[name] = {"float": image.is_float, "result": result, "original": original.tolist(),
                     "styled": pixels(image).tolist(), "colorspace": image.colorspace_settings.name}
    settings.file_format, settings.color_depth = kept
    bpy.ops.wm.save_as_mainfile(filepath=blend, copy=True)
    r = subprocess.run([sys.executable, "-c", REOPEN_FLOAT, blend, MODULE, *out], capture_output=True,
                       text=True, timeout=300)
    lines = [line for line in r.stdout.splitlines() if line.startswith("REOPENED ")]
    for name in out:
        bpy.ops.nst.restore_image(image=name)
        bpy.data.images.remove(bpy.data.images[name])
    if not lines:
        return {"reopen_error": r.stderr[-3000:]}
    reopened = json.loads(lines[-1][len("REOPENED "):])
    reopened["said"] = [line for line in r.stdout.splitlines() if "stay on disk" in line]
    for name, data in files.items():
        with open(os.path.join(folder, "textures", name), "rb") as f:
            out[name]["file_unchanged"] = f.read() == data
    return {"made": out, "reopened": reopened}


# Blender 5: a new Blender process whose file works in ACEScg makes an OpenEXR texture, replaces
# it by its stylization and saves the file.
ACES_NAMES = 'NAMES = ("aces.exr", "aces.exr_styled")\n'
ACESCG = ACES_NAMES + PX + """
import json, os, sys
blend, module, style = sys.argv[1:4]
bpy.ops.preferences.addon_enable(module=module)
bpy.ops.wm.set_working_color_space(working_space="ACEScg")
made = bpy.data.images.new("made", 40, 24, alpha=True, float_buffer=True)
ramp = np.zeros((24, 40, 4), np.float32)
ramp[..., 0], ramp[..., 1], ramp[..., 2], ramp[..., 3] = np.linspace(0.05, 0.95, 40)[None], 0.2, 0.1, 1
made.pixels.foreach_set(ramp.ravel())
settings = bpy.context.scene.render.image_settings
settings.file_format, settings.color_depth = "OPEN_EXR", "32"
path = os.path.join(os.path.dirname(blend), "textures", "aces.exr")
made.save_render(path, scene=bpy.context.scene)
image = bpy.data.images.load(path)
# the add-on's sRGB of the texture, and its sRGB written into a float image, against Blender's
# own colour management: each saved as an 8-bit PNG with the Standard view
import importlib
from PIL import Image
pixels = importlib.import_module(module + ".pixels")
scene = bpy.context.scene
scene.view_settings.view_transform, scene.view_settings.look = "Standard", "None"
scene.display_settings.display_device, scene.render.dither_intensity = "sRGB", 0.0
settings.file_format, settings.color_depth = "PNG", "8"
def shown(img):
    p = os.path.join(os.path.dirname(blend), "shown.png")
    img.save_render(p, scene=scene)
    return np.asarray(Image.open(p).convert("RGBA"), np.float32)[..., :3] / 255
read = pixels.read_image(image)
probe = bpy.data.images.new("probe", 40, 24, alpha=True, float_buffer=True)
pixels.write_image(read, "", target=probe)
errors = {"read": float(np.abs(read[..., :3] - shown(image)).max()),
          "written": float(np.abs(shown(probe) - read[..., :3]).max())}
bpy.data.images.remove(probe)
result = [sorted(bpy.ops.nst.stylize_image(image="aces.exr", replace=replace, style_path=style,
                                           method="ADAIN")) for replace in (False, True)]
bpy.ops.wm.save_as_mainfile(filepath=blend)
print("MADE " + json.dumps({"result": result, "space": bpy.data.colorspace.working_space,
                            "errors": errors,
                            **{name: px(bpy.data.images[name]).tolist() for name in NAMES}}))
"""
REOPEN_ACES = ACES_NAMES + PX + """
import json, sys
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
print("REOPENED " + json.dumps({name: px(bpy.data.images[name]).tolist() for name in NAMES}))
"""


@scenario(87)
def float_texture_in_an_acescg_file():
    """Blender 5's ACEScg working space: an OpenEXR texture read, stylized into `_styled` and
    replaced, saved and reopened, in new Blender processes (its float pixels are ACEScg's)."""
    if not hasattr(bpy.data, "colorspace"):
        return {"skip": f"Blender {bpy.app.version_string} has no working colour space"}
    folder = os.path.join(env.work, "acescg")
    os.makedirs(os.path.join(folder, "textures"), exist_ok=True)
    blend = os.path.join(folder, "aces.blend")
    runs = []
    for script, args in ((ACESCG, [blend, MODULE, env.style]), (REOPEN_ACES, [blend])):
        r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                           timeout=300)
        lines = [line for line in r.stdout.splitlines() if line.startswith(("MADE ", "REOPENED "))]
        if not lines:
            return {"error": r.stderr[-3000:]}
        runs.append(json.loads(lines[-1].split(" ", 1)[1]))
    return {"made": runs[0], "reopened": runs[1]}


def test_a_float_texture_reads_back_in_an_acescg_file(facts):
    """Blender 5's ACEScg working space: float pixels are ACEScg's. They were read and written
    as Rec.709's (an artist trial: a muted blue painted saturated cyan), and a float result was
    tagged Linear Rec.709, so it read back converted (0.8 0.2 0.1 as 0.56 0.24 0.13): a replaced
    texture at once, a new `_styled` image once the file was reopened. Now the add-on's sRGB of
    a float texture, and a float image it writes, are what Blender shows (Standard view, 8-bit:
    within 1/255 and rounding); both results are the same stylization, and read back as made."""
    f = fact(facts, "float_texture_in_an_acescg_file")
    if "skip" in f:
        pytest.skip(f["skip"])
    assert "error" not in f, f.get("error")
    made, again = f["made"], f["reopened"]
    assert made["result"] == [["FINISHED"]] * 2 and made["space"] == "ACEScg", made
    assert max(made["errors"].values()) <= 2.5 / 255, made["errors"]
    replaced, styled = np.array(made["aces.exr"]), np.array(made["aces.exr_styled"])
    assert np.abs(replaced - styled).max() <= 1e-3, np.abs(replaced - styled).max()
    for name in ("aces.exr", "aces.exr_styled"):
        assert np.abs(np.array(again[name]) - np.array(made[name])).max() <= 1e-3, name


def test_float_textures_survive_reopen_unpack_and_restore(facts):
    """Blender packed a replaced float texture under its original's file name and as OpenEXR of
    linear pixels tagged with the 16-bit PNG's sRGB (an artist trial): Unpack Resources wrote the
    stylized pixels over the original file, and the texture read back darker (0.29 off)."""
    f = fact(facts, "float_textures_replaced")
    assert "reopen_error" not in f, f.get("reopen_error")
    made, reopened = f["made"], f["reopened"]
    assert set(made) == {"wood16.png", "wood.exr"}, f
    for name, m in made.items():
        original, styled = np.array(m["original"]), np.array(m["styled"])
        assert m["float"] and m["result"] == ["FINISHED"], m
        assert np.abs(styled - original).mean() > 0.02, name           # it was stylized
        again = reopened[name]
        assert np.abs(np.array(again["styled"]).ravel() - styled.ravel()).max() <= 1e-3, name
        assert m["file_unchanged"], name                                # not unpacked over
        assert again["restore"] == ["FINISHED"], again
        assert np.abs(np.array(again["restored"]).ravel() - original.ravel()).max() <= 1e-3, name
    assert reopened["wood16.png"]["colorspace"] == "sRGB", reopened["wood16.png"]["colorspace"]
    assert {"wood16.nst_styled.exr", "wood16.nst_original.exr", "wood.nst_styled.exr",
            "wood.nst_original.exr"} <= set(reopened["unpacked"]), reopened["unpacked"]
    # Restore Original says which unpacked files it leaves on disk (it said nothing: a trial)
    said = reopened["said"]
    assert len(said) == 2 and all(f"{stem}.nst_styled.exr and {stem}.nst_original.exr" in line
                                  for stem, line in zip(("wood16", "wood"), said)), said
