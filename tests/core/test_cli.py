"""The `nst` command line: real runs, and bad input reported in one line with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import nst_core
from nst_core import temporal
from conftest import styles_for


def nst(*args, env=None):
    return subprocess.run([sys.executable, "-m", "nst_core", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture
def images(tmp_path, photo, painting, painting2):
    paths = {}
    for name, arr in (("content", photo), ("style", painting), ("style2", painting2)):
        paths[name] = nst_core.save_image(tmp_path / f"{name}.png", arr)
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[:, : photo.shape[1] // 2] = 255
    paths["mask"] = tmp_path / "mask.png"
    Image.fromarray(mask).save(paths["mask"])
    return paths


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_stylize_writes_an_image(tmp_path, images, method):
    out = tmp_path / "out.png"
    style, style2 = styles_for(method, images["style"], images["style2"])
    r = nst("stylize", images["content"], "--style", style, "--style", style2,
            "--weights", "0.7,0.3", "--mask", f"1={images['mask']}", "--method", method,
            "--preserve-color", "--alpha", "0.8", "--device", "cpu", "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["provider"] == "CPUExecutionProvider" and summary["method"] == method
    img = nst_core.load_image(out)
    content = nst_core.load_image(images["content"])
    assert img.shape == content.shape and np.abs(img - content).mean() > 0.01


@pytest.mark.parametrize("method", nst_core.METHODS)
def test_alpha_zero_writes_the_content_back(tmp_path, images, method):
    """--alpha 0 gave the decoders' reconstruction, off by 26/255 on average (issue 43)."""
    out = tmp_path / "out.png"
    style = styles_for(method, images["style"], None)[0]
    r = nst("stylize", images["content"], "--style", style, "--method", method, "--alpha", "0",
            "--device", "cpu", "-o", out)
    assert r.returncode == 0, r.stderr
    got = np.asarray(Image.open(out), np.int16)
    assert np.abs(got - np.asarray(Image.open(images["content"]), np.int16)).max() <= 1


def test_info_lists_models_and_providers():
    r = nst("info", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert "CPUExecutionProvider" in info["providers"]
    assert {m["name"] for m in info["models"] if m["status"] == "ok"} >= {"encoder4", "decoder4"}


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("style_name", "add --method stylebank"),
    ("truncated", "truncated"),
    ("not_image", "not an image"),
    ("method", "unknown method"),
    ("weights", "--weights"),
    ("mask_size", "does not match"),
    ("mask_index", "only 1 style"),
    ("models", "make models"),
    ("overwrite", "never overwritten"),
])
def test_errors_are_one_line(tmp_path, images, case, message):
    content, style, out = images["content"], images["style"], tmp_path / "out.png"
    extra, env = [], None
    if case == "missing":
        content = tmp_path / "nope.png"
    elif case == "style_name":                  # a built-in style's name given to WCT
        style = "vangogh_starry_night"
    elif case == "truncated":
        data = content.read_bytes()
        content = tmp_path / "cut.png"
        content.write_bytes(data[: len(data) // 3])
    elif case == "not_image":
        style = tmp_path / "style.png.txt"
        style.write_text("hello")
    elif case == "method":
        extra = ["--method", "cyclegan"]
    elif case == "weights":
        extra = ["--weights", "a,b"]
    elif case == "mask_size":
        Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "small.png")
        extra = ["--mask", f"0={tmp_path / 'small.png'}"]
    elif case == "mask_index":
        extra = ["--mask", f"3={images['mask']}"]
    elif case == "models":
        env = {"NST_MODELS_DIR": str(tmp_path / "no_models")}
    elif case == "overwrite":
        out = content
    before = content.read_bytes() if content.exists() else None
    r = nst("stylize", content, "--style", style, "-o", out, *extra, env=env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr and message in lines[0], r.stderr
    if before is not None:
        assert content.read_bytes() == before


def test_seamless_and_memory_budget_reach_the_engine(tmp_path, images, runtime):
    out = tmp_path / "out.png"
    r = nst("stylize", images["content"], "--style", images["style"], "--method", "adain",
            "--seamless", "--memory-gb", "0.01", "--device", "cpu", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "warning: --memory-gb 0.01 is below" in r.stderr and "slower" in r.stderr   # said nothing
    content, style = nst_core.load_image(images["content"]), nst_core.load_image(images["style"])
    expected = nst_core.stylize(content, style, "adain", seamless=True, memory_budget=int(0.01 * (1 << 30)),
                                runtime=runtime).image
    plain = nst_core.stylize(content, style, "adain", runtime=runtime).image
    got = nst_core.load_image(out)
    assert np.abs(got - expected).max() <= 1.5 / 255       # 8-bit rounding only
    assert np.abs(got - plain).max() > 10 / 255            # the options changed the result


def test_work_size_reaches_the_engine(tmp_path, images, runtime):
    out = tmp_path / "out.png"
    r = nst("stylize", images["content"], "--style", images["style"], "--method", "adain",
            "--work-size", "96", "--device", "cpu", "-o", out)
    assert r.returncode == 0, r.stderr
    content, style = nst_core.load_image(images["content"]), nst_core.load_image(images["style"])
    expected = nst_core.stylize(content, style, "adain", work_size=96, runtime=runtime).image
    plain = nst_core.stylize(content, style, "adain", runtime=runtime).image
    got = nst_core.load_image(out)
    assert got.shape == content.shape
    assert np.abs(got - expected).max() <= 1.5 / 255       # 8-bit rounding only
    assert np.abs(got - plain).max() > 10 / 255            # the option changed the result
    bad = nst("stylize", images["content"], "--style", images["style"], "--work-size", "8", "-o", out)
    assert bad.returncode == 2 and "work_size" in bad.stderr and "Traceback" not in bad.stderr


def _write_exr(path, array):
    import OpenEXR
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"RGBA": np.ascontiguousarray(array, np.float32)}) as f:
        f.write(str(path))


def test_stylize_frames_follows_the_vector_passes(tmp_path, images):
    """A square moving 4 px right per frame over a still background, with fresh noise on every
    frame, and its Vector passes as EXR (Blender's convention): stylize-frames with coherence
    writes every frame, and evaluate-frames finds less flicker than without."""
    from test_temporal import _flicker_sequence
    frames, vectors, _ = _flicker_sequence(5)
    for t, (f, v) in enumerate(zip(frames, vectors)):
        nst_core.save_image(tmp_path / "render" / f"image_{t + 1:04d}.png", f)
        (tmp_path / "passes").mkdir(exist_ok=True)
        _write_exr(tmp_path / "passes" / f"vector_{t + 1:04d}.exr", v)
    scores = {}
    for coherence in ("0", "1"):
        out = tmp_path / f"out{coherence}"
        r = nst("stylize-frames", tmp_path / "render", "--vectors", tmp_path / "passes", "--style",
                images["style"], "--method", "adain", "--coherence", coherence, "-o", out)
        assert r.returncode == 0, r.stderr
        assert sorted(p.name for p in out.iterdir()) == [f"image_{t:04d}.png" for t in range(1, 6)]
        r = nst("evaluate-frames", tmp_path / "render", out, "--vectors", tmp_path / "passes", "--json")
        assert r.returncode == 0, r.stderr
        scores[coherence] = json.loads(r.stdout)
    assert scores["1"]["warping_error"] < 0.6 * scores["0"]["warping_error"], scores
    assert scores["0"]["warping_error_plain"] == scores["1"]["warping_error_plain"] > 0
    r = nst("evaluate-frames", tmp_path / "render", tmp_path / "out1", "--vectors", tmp_path / "passes")
    assert r.returncode == 0 and "worst pair" in r.stdout and "away from what moves" in r.stdout, r.stderr
    # the ghost ratio looks 2-4 frames behind and ahead of what moves: 5 frames are too few
    r = nst("evaluate-frames", tmp_path / "render", tmp_path / "out1", "--vectors", tmp_path / "passes",
            "--alone", tmp_path / "out0")
    assert r.returncode == 2 and "--alone" in r.stderr and "ghost ratio" in r.stderr


def test_stylize_frames_paints_the_still_set_from_a_clean_plate(tmp_path, images, runtime):
    """--clean-plate (the set without the square, as Blender renders it with the moving objects
    hidden): the frames are the engine's with that plate (8-bit rounding), not those without;
    one of another size is refused with both sizes, one of another set is said not to fit."""
    from test_temporal import _flicker_sequence
    frames, vectors, _ = _flicker_sequence(5)
    for t, (f, v) in enumerate(zip(frames, vectors)):
        nst_core.save_image(tmp_path / "render" / f"image_{t + 1:04d}.png", f)
        (tmp_path / "passes").mkdir(exist_ok=True)
        _write_exr(tmp_path / "passes" / f"vector_{t + 1:04d}.exr", v)
    rng = np.random.default_rng(1)                  # _moving_square's set, without the square
    plate = np.repeat(rng.random((64, 96, 1), dtype=np.float32) * 0.5, 3, -1)
    nst_core.save_image(tmp_path / "plate.png", plate)
    run = ("stylize-frames", tmp_path / "render", "--vectors", tmp_path / "passes", "--style",
           images["style"], "--method", "adain", "-o")
    r = nst(*run, tmp_path / "out", "--clean-plate", tmp_path / "plate.png")
    assert r.returncode == 0 and "does not fit" not in r.stderr, r.stderr
    read = [nst_core.load_image(tmp_path / "render" / f"image_{t:04d}.png") for t in range(1, 6)]
    style = nst_core.load_image(images["style"])
    settings = nst_core.Settings("adain", style)
    for clean, near in ((nst_core.load_image(tmp_path / "plate.png"), True), (None, False)):
        coherence = temporal.Coherence(1.0, clean=clean)
        expected = [coherence.stylize(f, settings, vector=v, runtime=runtime).image
                    for f, v in zip(read, vectors)]
        got = [nst_core.load_image(tmp_path / "out" / f"image_{t:04d}.png") for t in range(1, 6)]
        assert (max(np.abs(a - b).max() for a, b in zip(got, expected)) <= 1.5 / 255) == near
    nst_core.save_image(tmp_path / "small.png", plate[:32])
    r = nst(*run, tmp_path / "out2", "--clean-plate", tmp_path / "small.png")
    assert r.returncode == 2 and "96×32" in r.stderr and "96×64" in r.stderr, r.stderr
    nst_core.save_image(tmp_path / "stale.png", np.clip(plate + 0.3, 0, 1))
    r = nst(*run, tmp_path / "out3", "--clean-plate", tmp_path / "stale.png")
    assert r.returncode == 0 and "does not fit" in r.stderr, r.stderr


def test_stylize_frames_says_what_is_missing(tmp_path, images):
    nst_core.save_image(tmp_path / "render" / "image_0001.png", np.zeros((32, 32, 3), np.float32))
    r = nst("stylize-frames", tmp_path / "render", "--style", images["style"], "-o", tmp_path / "out")
    assert r.returncode == 2 and "give --vectors" in r.stderr
    r = nst("stylize-frames", tmp_path / "render", "--vectors", tmp_path / "none", "--style",
            images["style"], "-o", tmp_path / "out")
    assert r.returncode == 2 and "--vectors" in r.stderr and "no files" in r.stderr
    picture = np.concatenate([np.full((32, 32, 3), 0.5, np.float32), np.ones((32, 32, 1), np.float32)], -1)
    (tmp_path / "beauty").mkdir()
    _write_exr(tmp_path / "beauty" / "image_0001.exr", picture)      # was taken as motion
    r = nst("stylize-frames", tmp_path / "render", "--vectors", tmp_path / "beauty", "--style",
            images["style"], "-o", tmp_path / "out")
    assert r.returncode == 2 and "not a Vector pass" in r.stderr and "Traceback" not in r.stderr
