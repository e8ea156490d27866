"""addon/seams.py: a render farm's seam, dissolved (``nst.dissolve_seam``, what the Flamenco
job type runs once two chunks are done): the earlier chunk's frames where the later chunk's
warm-up overlaps them turn into the later chunk's painting, frame by frame. Its use on real
chunks rendered by two Blender processes: tests/gui/test_farm.py."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from harness import addon_module, compositor_scene, env, error_of, fact, multilayer, pixels, scenario

bpy = pytest.importorskip("bpy")

W, H, FRAMES = 64, 48, (5, 6, 7)


def _save(px: np.ndarray, path: str, file_format: str) -> None:
    """H×W×4 pixels (top row first) to a file, by Blender's image writer (OpenEXR: its render
    writer with the scene's settings, as a render writes it; Blender 4.2's ``Image.save`` wrote
    a float image's values sRGB-encoded: 7.5 read back 2.39)."""
    image = bpy.data.images.new("seam test", px.shape[1], px.shape[0], alpha=True,
                                float_buffer=file_format == "OPEN_EXR")
    try:
        image.pixels.foreach_set(np.ascontiguousarray(px[::-1], np.float32).ravel())
        if file_format == "OPEN_EXR":
            image.save_render(path, scene=bpy.context.scene)
        else:
            image.filepath_raw, image.file_format = path, file_format
            image.save()
    finally:
        bpy.data.images.remove(image)


def _load(path: str) -> np.ndarray:
    image = bpy.data.images.load(path, check_existing=False)
    try:
        return pixels(image)[::-1].copy()
    finally:
        bpy.data.images.remove(image)


def _save_multilayer(px: np.ndarray, path: str) -> None:
    """A multilayer OpenEXR as Blender writes one (a compositor of one colour, rendered), its
    composite then set to ``px`` (exr.py)."""
    with compositor_scene(px.shape[1], px.shape[0]) as (scene, tree, out):
        colour = tree.nodes.new("CompositorNodeRGB")
        tree.links.new(colour.outputs[0], out.inputs[0])
        multilayer(scene.render.image_settings)
        scene.render.filepath = path
        bpy.ops.render.render(write_still=True, scene=scene.name)
    addon_module("exr").replace(path, px)


def _chunks(folder: str, file_format: str, ext: str, highlight: float = 1.0) -> dict:
    """Two chunks' paintings of FRAMES: alike on the left half, apart on the right."""
    rng = np.random.default_rng(3)
    paths = {}
    for f in FRAMES:
        a, b = (rng.random((H, W, 4), dtype=np.float32) * 0.6 + 0.2 for _ in range(2))
        a[..., 3] = b[..., 3] = 1.0
        b[:, :W // 2] = a[:, :W // 2]
        a[:4, :4, :3] = b[:4, :4, :3] = highlight
        mine, theirs = (os.path.join(folder, sub, f"frame_{f:04d}{ext}") for sub in ("shot", "warm"))
        for px, path in ((a, mine), (b, theirs)):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if file_format == "OPEN_EXR_MULTILAYER":
                _save_multilayer(px, path)
            else:
                _save(px, path, file_format)
        paths[f] = (mine, theirs)
    return paths


@scenario(94)
def seam_dissolved():
    scene = bpy.context.scene
    settings = scene.render.image_settings
    saved = (settings.file_format, settings.color_mode, settings.color_depth, scene.render.filepath)
    out = {}
    try:
        settings.file_format, settings.color_mode, settings.color_depth = "PNG", "RGBA", "8"
        folder = os.path.join(env.work, "seam_png")
        paths = _chunks(folder, "PNG", ".png")
        before = {f: (_load(a), _load(b)) for f, (a, b) in paths.items()}
        dissolve = lambda: bpy.ops.nst.dissolve_seam(        # noqa: E731
            output=os.path.join(folder, "shot", "frame_####"),
            overlap=os.path.join(folder, "warm", "frame_####"), frame_start=FRAMES[0],
            frame_end=FRAMES[-1])
        out["result"] = sorted(dissolve())
        written = {f: _load(paths[f][0]) for f in FRAMES}
        half = W // 2
        out["left_same"] = [bool(np.array_equal(written[f][:, :half], before[f][0][:, :half]))
                            for f in FRAMES]
        out["to_earlier"] = [float(np.abs(written[f] - before[f][0])[:, half:, :3].mean())
                             for f in FRAMES]
        out["to_later"] = [float(np.abs(written[f] - before[f][1])[:, half:, :3].mean())
                           for f in FRAMES]
        middle = FRAMES[1]
        out["contrast"] = float(written[middle][:, half:, :3].std()
                                / before[middle][1][:, half:, :3].std())
        out["plain_mix_contrast"] = float(((before[middle][0] + before[middle][1]) / 2)[:, half:, :3].std()
                                          / before[middle][1][:, half:, :3].std())
        out["kept"] = [bool(np.array_equal(_load(os.path.join(folder, "warm", f"before_frame_{f:04d}.png")),
                                           before[f][0])) for f in FRAMES]
        dissolve()                                  # a farm task requeued: the same frames
        out["again_same"] = all(np.array_equal(_load(paths[f][0]), written[f]) for f in FRAMES)
        out["same_folder"] = error_of(lambda: bpy.ops.nst.dissolve_seam(
            output=os.path.join(folder, "shot", "frame_####"),
            overlap=os.path.join(folder, "shot", "warm_####"), frame_start=5, frame_end=7))
        out["no_range"] = error_of(lambda: bpy.ops.nst.dissolve_seam(
            output=os.path.join(folder, "shot", "frame_####"),
            overlap=os.path.join(folder, "warm", "frame_####")))
        # the chunk before rendered again into the same folder (a job submitted again): its new
        # frame is dissolved, not the one kept from the first job
        rng = np.random.default_rng(11)
        new = rng.random((H, W, 4), dtype=np.float32) * 0.6 + 0.2
        new[..., 3] = 1.0
        _save(new, paths[FRAMES[0]][0], "PNG")
        new = _load(paths[FRAMES[0]][0])
        dissolve()
        again = _load(paths[FRAMES[0]][0])[:, half:, :3]
        out["rerendered"] = [float(np.abs(again - new[:, half:, :3]).mean()),
                             float(np.abs(again - written[FRAMES[0]][:, half:, :3]).mean())]
        # a warm-up frame of another size: nothing is written
        first = open(paths[FRAMES[0]][0], "rb").read()
        os.replace(paths[FRAMES[1]][1], paths[FRAMES[1]][1] + ".was")
        _save(np.ones((H // 2, W // 2, 4), np.float32), paths[FRAMES[1]][1], "PNG")
        out["sizes"] = error_of(dissolve)
        out["sizes_untouched"] = open(paths[FRAMES[0]][0], "rb").read() == first
        os.replace(paths[FRAMES[1]][1] + ".was", paths[FRAMES[1]][1])
        # the warm-up rendered as JPEG while the scene says PNG; then not at all
        _save(before[FRAMES[-1]][1], paths[FRAMES[-1]][1][:-4] + ".jpg", "JPEG")
        os.remove(paths[FRAMES[-1]][1])
        out["other_format"] = error_of(dissolve)
        os.remove(paths[FRAMES[-1]][1][:-4] + ".jpg")
        out["missing"] = error_of(dissolve)
        # OpenEXR: scene-linear, its highlights kept where both chunks painted alike
        settings.file_format = "OPEN_EXR"
        folder = os.path.join(env.work, "seam_exr")
        paths = _chunks(folder, "OPEN_EXR", ".exr", highlight=7.5)
        bpy.ops.nst.dissolve_seam(output=os.path.join(folder, "shot", "frame_####"),
                                  overlap=os.path.join(folder, "warm", "frame_####"),
                                  frame_start=FRAMES[0], frame_end=FRAMES[-1])
        out["exr_highlight"] = float(_load(paths[middle][0])[:2, :2, :3].min())
        # multilayer OpenEXR: the composite dissolved as one layer's frame is, in the file
        exr = [_load(paths[f][0]) for f in FRAMES]
        multilayer(settings)
        folder = os.path.join(env.work, "seam_multilayer")
        paths = _chunks(folder, "OPEN_EXR_MULTILAYER", ".exr", highlight=7.5)
        bpy.ops.nst.dissolve_seam(output=os.path.join(folder, "shot", "frame_####"),
                                  overlap=os.path.join(folder, "warm", "frame_####"),
                                  frame_start=FRAMES[0], frame_end=FRAMES[-1])
        read = addon_module("exr").read
        out["multilayer_vs_one_layer"] = [float(np.abs(read(paths[f][0]) - px).max())
                                          for f, px in zip(FRAMES, exr)]
        out["multilayer_changed"] = float(np.abs(read(paths[middle][0])
                                                 - read(os.path.join(folder, "warm", f"before_frame_{middle:04d}.exr"))).max())
    finally:
        if hasattr(settings, "media_type"):
            settings.media_type = "IMAGE"
        (settings.file_format, settings.color_mode, settings.color_depth,
         scene.render.filepath) = saved
    return out


def test_a_seam_turns_one_chunks_painting_into_the_nexts(facts):
    """Frame 5 of 5-7 takes a quarter of the later chunk's painting, frame 7 three quarters
    (each nearer the later one than the frame before), with the strokes' contrast kept (a plain
    halfway mix keeps about 1/√2 of it); where the chunks painted alike the frame is the same
    bytes; the earlier chunk's frames are kept beside the overlap, and a second run (a requeued
    farm task) writes the same frames."""
    f = fact(facts, "seam_dissolved")
    assert f["result"] == ["FINISHED"], f
    assert all(f["left_same"]), f
    assert f["to_earlier"] == sorted(f["to_earlier"]) and f["to_later"] == sorted(f["to_later"], reverse=True), f
    assert f["to_earlier"][0] < f["to_later"][0] and f["to_earlier"][-1] > f["to_later"][-1], f
    assert f["plain_mix_contrast"] < 0.8 and f["contrast"] > 0.9, f
    assert all(f["kept"]) and f["again_same"], f


def test_a_seam_it_cannot_dissolve_says_what_is_missing(facts):
    f = fact(facts, "seam_dissolved")
    assert "frame_0007.png" in f["missing"] and "warm-up frame" in f["missing"], f
    assert "shot's own folder" in f["same_folder"], f       # (its kept frames would join the shot)
    assert "first and last frame" in f["no_range"], f
    assert "2 sizes" in f["sizes"] and "64×48" in f["sizes"] and "32×24" in f["sizes"], f
    assert f["sizes_untouched"], f                          # checked before any frame is written
    assert "frame_0007.jpg is there" in f["other_format"] and "(PNG)" in f["other_format"], f


def test_a_chunk_rendered_again_is_dissolved_anew(facts):
    """A seam run after the chunk before was rendered again into the same folder (a job
    submitted again) dissolves the new frame, not the one it kept from the first job (an
    artist trial: the first job's frame 5 came back, 43/255 from the new job's)."""
    to_new, to_first_job = fact(facts, "seam_dissolved")["rerendered"]
    assert to_new < 0.5 * to_first_job, (to_new, to_first_job)


def test_an_openexr_seam_keeps_its_highlights(facts):
    assert fact(facts, "seam_dissolved")["exr_highlight"] == pytest.approx(7.5, abs=0.01)


def test_a_multilayer_openexr_seam_dissolves_its_composite(facts):
    """Multilayer frames (Blender's passes beside the composite): the composite is dissolved
    as the same frames in one-layer OpenEXR are, highlights included."""
    f = fact(facts, "seam_dissolved")
    assert max(f["multilayer_vs_one_layer"]) <= 0.01 and f["multilayer_changed"] > 0.05, f
