"""addon/operators.py: Stylize Image (new image, in place, seamless, into the node, replace and
restore), Stylize Textures, and the reports bad input gets."""

from __future__ import annotations

import os

import numpy as np
import pytest

from harness import addon_module, env, error_of, fact, pixels, scenario

bpy = pytest.importorskip("bpy")


@scenario(10)
def stylize_image():
    before = pixels(bpy.data.images["Tex"]).copy()
    r = bpy.ops.nst.stylize_image(image="Tex", style_path=env.style, method="WCT")
    styled = bpy.data.images.get("Tex_styled")
    return {"result": sorted(r), "exists": styled is not None,
            "size": list(styled.size), "source_size": list(bpy.data.images["Tex"].size),
            "diff": float(np.abs(pixels(styled) - before).mean()),
            "original_changed": float(np.abs(pixels(bpy.data.images["Tex"]) - before).max())}


def test_stylize_image_makes_a_new_image_and_keeps_the_original(facts):
    f = fact(facts, "stylize_image")
    assert f["result"] == ["FINISHED"] and f["exists"]
    assert f["size"] == f["source_size"]
    assert f["diff"] > 0.05                    # really stylized
    assert f["original_changed"] == 0.0        # original pixels untouched


@scenario(11)
def stylize_image_adain_seamless():
    r = bpy.ops.nst.stylize_image(image="Tex", style_path=env.style, method="ADAIN", seamless=True,
                                  strength=0.8, preserve_color=True)
    return {"result": sorted(r), "images_named_styled": sorted(
        i.name for i in bpy.data.images if i.name.startswith("Tex_styled"))}


def test_second_run_updates_the_styled_image_in_place(facts):
    f = fact(facts, "stylize_image_adain_seamless")
    assert f["result"] == ["FINISHED"] and f["images_named_styled"] == ["Tex_styled"]


@scenario(11.5)
def style_size_reaches_the_engine():
    """A setting goes from the panel to the engine by its name: the scene's Style Size is what
    the panel hands its operators, and a smaller style size paints larger strokes."""
    out = {}
    nst = bpy.context.scene.nst
    nst.style_path, nst.method = env.style, "WCT"
    for size in (512, 128):
        nst.style_size = size
        values = addon_module("properties").style_values(nst)
        bpy.ops.nst.stylize_image(image="Tex", **values)
        out[size] = (values["style_size"], pixels(bpy.data.images["Tex_styled"]).copy())
    nst.style_size, nst.style_path = 512, ""
    return {"handed": [out[512][0], out[128][0]],
            "diff": float(np.abs(out[512][1] - out[128][1]).mean())}


def test_style_size_reaches_the_engine(facts):
    f = fact(facts, "style_size_reaches_the_engine")
    assert f["handed"] == [512, 128] and f["diff"] > 0.02, f


@scenario(13)
def swap_node():
    mat = bpy.data.materials["Mat"]
    node = mat.node_tree.nodes.active
    with bpy.context.temp_override(active_object=bpy.data.objects["Plane"]):
        r = bpy.ops.nst.stylize_image(image="Tex", style_path=env.style, method="ADAIN", swap_node=True)
    return {"result": sorted(r), "node_image": node.image.name,
            "original_in_file": "Tex" in bpy.data.images}


def test_swap_node_keeps_the_original_in_the_file(facts):
    f = fact(facts, "swap_node")
    assert f["node_image"] == "Tex_styled" and f["original_in_file"]


@scenario(14)
def replace_and_restore():
    image = bpy.data.images["Rough"].copy()      # a colour copy to replace
    image.name = "Photo"
    image.colorspace_settings.name = "sRGB"
    y, x = np.mgrid[0:32, 0:32]
    image.pixels.foreach_set(np.stack([x / 32, y / 32, 0.5 + 0 * x, 1 + 0 * x], -1)
                             .astype(np.float32).ravel())
    before = pixels(image).copy()
    r = bpy.ops.nst.stylize_image(image="Photo", style_path=env.style, method="WCT", replace=True)
    replaced = float(np.abs(pixels(image) - before).mean())
    first_said = addon_module("jobs").STATE.last_report
    bpy.ops.nst.stylize_image(image="Photo", style_path=env.style, method="ADAIN", replace=True)
    second_said = addon_module("jobs").STATE.last_report    # (an artist trial: said nothing)
    r2 = bpy.ops.nst.restore_image(image="Photo")
    again = error_of(lambda: bpy.ops.nst.restore_image(image="Photo"))
    return {"result": sorted(r), "restore": sorted(r2), "replaced_diff": replaced, "again": again,
            "restored_diff": float(np.abs(pixels(image) - before).max()),
            "backup_left": "Photo.nst_original" in bpy.data.images,
            "said": [first_said, second_said]}


def test_replace_is_restorable(facts):
    """Replaced twice (the second stylizes the stylized pixels, and says so), then restored:
    the first original."""
    f = fact(facts, "replace_and_restore")
    assert f["replaced_diff"] > 0.05 and f["restored_diff"] == 0.0 and not f["backup_left"]
    assert "stylized before" not in f["said"][0] and "stylized before" in f["said"][1], f
    assert "put it back already" in f["again"], f   # (said "it was never replaced": it was)


@scenario(16)
def replace_and_restore_a_files_image():
    path = os.path.join(env.work, "photo_on_disk.png")
    made = bpy.data.images.new("on disk", 32, 32)
    y, x = np.mgrid[0:32, 0:32]
    made.pixels.foreach_set(np.stack([x / 32, y / 32, 0.5 + 0 * x, 1 + 0 * x], -1)
                            .astype(np.float32).ravel())
    made.filepath_raw, made.file_format = path, "PNG"
    made.save()
    bpy.data.images.remove(made)
    on_disk = open(path, "rb").read()
    image = bpy.data.images.load(path)
    before = pixels(image).copy()
    bpy.ops.nst.stylize_image(image=image.name, style_path=env.style, method="WCT", replace=True)
    replaced = (image.packed_file is not None, float(np.abs(pixels(image) - before).mean()))
    bpy.ops.nst.restore_image(image=image.name)
    out = {"replaced": replaced, "packed": image.packed_file is not None,
           "path": bpy.path.abspath(image.filepath) == path, "is_result": "nst_result" in image,
           "restored_diff": float(np.abs(pixels(image) - before).max()),
           "file_untouched": open(path, "rb").read() == on_disk}
    bpy.ops.nst.stylize_image(image=image.name, style_path=env.style, method="WCT", replace=True)
    os.remove(path)                 # its file gone before Restore: the pixels kept come back
    bpy.ops.nst.restore_image(image=image.name)
    out["file_gone"] = [image.packed_file is not None, float(np.abs(pixels(image) - before).max())]
    bpy.data.images.remove(image)
    return out


def test_restore_gives_a_files_image_back_its_file(facts):
    """An image read from a file, not packed, replaced then restored: it reads its file again,
    not packed, at its path (an artist trial: it came back packed, its relative path made
    absolute, so edits to the file no longer showed); the file was never written."""
    f = fact(facts, "replace_and_restore_a_files_image")
    assert f["replaced"][0] and f["replaced"][1] > 0.05, f
    assert not f["packed"] and f["path"] and not f["is_result"], f
    assert f["restored_diff"] == 0.0 and f["file_untouched"], f
    assert f["file_gone"] == [True, 0.0], f     # (its file deleted meanwhile: the kept pixels)


@scenario(15)
def batch_textures():
    mat = bpy.data.materials["Mat"]
    for node in mat.node_tree.nodes:
        if node.type == "TEX_IMAGE" and node.image.name.startswith("Tex"):
            node.image = bpy.data.images["Tex"]
    styled = bpy.data.images.get("Tex_styled")
    if styled:
        bpy.data.images.remove(styled)
    r = bpy.ops.nst.stylize_textures(style_path=env.style, method="ADAIN")
    images = {n.image.name for n in mat.node_tree.nodes if n.type == "TEX_IMAGE"}
    return {"result": sorted(r), "node_images": sorted(images),
            "rough_styled": "Rough_styled" in bpy.data.images}


def test_batch_skips_non_color_textures(facts):
    f = fact(facts, "batch_textures")
    assert f["result"] == ["FINISHED"]
    assert f["node_images"] == ["Rough", "Tex_styled"] and not f["rough_styled"]


@scenario(80)
def bad_input():
    not_image = os.path.join(env.work, "notes.txt")
    with open(not_image, "w") as f:
        f.write("not an image")
    truncated = os.path.join(env.work, "truncated.jpg")
    with open(env.style, "rb") as src, open(truncated, "wb") as dst:
        data = src.read()
        dst.write(data[: len(data) // 2])
    bpy.context.view_layer.objects.active = None      # no Image Editor, no active texture node
    style = env.style
    return {
        "no_image": error_of(lambda: bpy.ops.nst.stylize_image(style_path=style)),
        "unknown_image": error_of(lambda: bpy.ops.nst.stylize_image(image="Nope", style_path=style)),
        "non_color": error_of(lambda: bpy.ops.nst.stylize_image(image="Rough", style_path=style)),
        "not_an_image": error_of(lambda: bpy.ops.nst.stylize_image(image="Tex", style_path=not_image)),
        "no_style": error_of(lambda: bpy.ops.nst.stylize_image(image="Tex")),
        "stylebank": error_of(lambda: bpy.ops.nst.stylize_image(image="Tex", method="STYLEBANK",
                                                                style_name="x")),
        "truncated_style": error_of(lambda: bpy.ops.nst.stylize_image(image="Tex", style_path=truncated)),
        "folder_style": error_of(lambda: bpy.ops.nst.stylize_image(image="Tex", style_path=env.work)),
        "relative_unsaved": error_of(lambda: bpy.ops.nst.stylize_image(
            image="Tex", style_path="//styles/candy.jpg")) if not bpy.data.filepath else "unsaved?",
    }


@pytest.mark.parametrize("case,words", [
    ("no_image", "no image selected"),
    ("unknown_image", "no image named 'Nope'"),
    ("non_color", "Non-Color"),
    ("not_an_image", "not an image"),
    ("no_style", "no style image"),
    ("stylebank", "unknown StyleBank style 'x'; known styles: cezanne_still_life_apples"),
    ("truncated_style", "truncated or damaged"),     # Blender would fill the rest with grey
    ("folder_style", "is a folder; choose an image file in it"),     # said "not found"
    ("relative_unsaved", "relative to the .blend file, which is not saved yet"),  # "not found"
])
def test_bad_input_is_a_report_not_a_traceback(facts, case, words):
    f = fact(facts, "bad_input")
    assert words in f[case] and f[case].startswith("Error:")
    assert "Traceback" not in f[case]
