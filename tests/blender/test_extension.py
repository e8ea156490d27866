"""The extension in the real `bpy` module: build the zip, install it into a temporary HOME,
run every operator on a small Cycles scene (driver.py, one Blender process) and check the facts
it measured. Also: the manifest passes Blender's own validation."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from conftest import DATA, ROOT, SCRIPTS

pytest.importorskip("bpy")
sys.path.insert(0, str(SCRIPTS))
import build_extension  # noqa: E402

DRIVER = Path(__file__).with_name("driver.py")
# Another bpy (`make test-blender42` / `test-blender45`: Blender 4.2 / 4.5 LTS in their own venvs)
# can run the same scenarios.
BLENDER_PYTHON = os.environ.get("NST_BLENDER_PYTHON", sys.executable)
STYLE = DATA / "style" / "vangogh_starry_night.jpg"


def _platform() -> str:
    machine = platform.machine().lower()
    if sys.platform.startswith("linux") and machine in ("x86_64", "amd64"):
        return "linux-x64"
    if sys.platform == "win32":
        return "windows-x64"
    if sys.platform == "darwin" and machine == "arm64":
        return "macos-arm64"
    pytest.skip(f"no extension build for {sys.platform} {machine}")


def _python(executable: str) -> str:
    """The Python version (e.g. "3.11") of the Blender that runs the scenarios."""
    r = subprocess.run([executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


BLENDER_PY = _python(BLENDER_PYTHON)
OTHER_PY = next(p for p in build_extension.PYTHONS if p != BLENDER_PY)


def _build(python: str, out: Path) -> Path:
    return build_extension.build(_platform(), "cpu", python, ROOT / "build" / "models",
                                 ROOT / "build" / "wheels", out)


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory) -> Path:
    """The zip for the Python of the Blender under test."""
    return _build(BLENDER_PY, tmp_path_factory.mktemp("dist"))


def _isolated_env(home: Path) -> dict:
    return {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


@pytest.fixture(scope="session")
def facts(extension_zip, tmp_path_factory) -> dict:
    if not STYLE.is_file():
        pytest.skip(f"{STYLE} not available")
    home = tmp_path_factory.mktemp("home")            # no real user configuration is touched
    work = tmp_path_factory.mktemp("work")
    r = subprocess.run([BLENDER_PYTHON, str(DRIVER), str(extension_zip), str(STYLE), str(work)],
                       capture_output=True, text=True, env=_isolated_env(home), timeout=900)
    lines = [l for l in r.stdout.splitlines() if l.startswith("NST-RESULTS ")]
    assert lines, f"the Blender driver printed no results (exit {r.returncode}):\n{r.stderr[-3000:]}"
    return json.loads(lines[-1][len("NST-RESULTS "):])


def fact(facts, name) -> dict:
    got = facts[name]
    assert "error" not in got, got.get("error")
    return got


def test_manifest_passes_blenders_validation(extension_zip):
    assert build_extension.validate(extension_zip).startswith("Success")
    with zipfile.ZipFile(extension_zip) as z:
        names = set(z.namelist())
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
    assert manifest["platforms"] == [_platform()] and manifest["schema_version"] == "1.0.0"
    low, high, label = build_extension.PYTHONS[BLENDER_PY]
    assert manifest["blender_version_min"] == low and manifest.get("blender_version_max") == high
    assert label in extension_zip.name
    assert len(manifest["tagline"]) <= 64 and set(manifest["permissions"]) == {"files", "network"}
    wheels = manifest["wheels"]
    assert all(w.removeprefix("./") in names for w in wheels)
    # compiled wheels for this Blender's Python only (Blender 4.2.0 would install the others
    # over them); no numpy bundled
    tag = "cp" + BLENDER_PY.replace(".", "")
    assert {w.split("-")[2] for w in wheels if "/onnxruntime-" in w or "/pillow-" in w} == {tag}
    assert not any("numpy" in w for w in wheels)
    assert "models/manifest.json" in names and "nst_core/pipeline.py" in names


def test_validation_refuses_a_bad_manifest(extension_zip, tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(extension_zip) as src, zipfile.ZipFile(bad, "w") as dst:
        text = src.read("blender_manifest.toml").decode()
        dst.writestr("blender_manifest.toml", text.replace(
            'tagline = "', 'tagline = "' + "far too long a tagline for Blender's rules " * 2))
        dst.writestr("__init__.py", src.read("__init__.py"))
    with pytest.raises(build_extension.BuildError, match="tagline"):
        build_extension.validate(bad)


def test_gpu_and_cpu_builds_share_the_id(tmp_path):
    """Same id: installing one build replaces the other, so onnxruntime and onnxruntime-gpu
    (both provide the package `onnxruntime`) never sit together in Blender's site-packages."""
    made = {}
    for variant in ("cpu", "gpu"):
        staged = build_extension.stage("linux-x64", variant, "3.11", ROOT / "build" / "models", [],
                                       tmp_path / variant)
        made[variant] = tomllib.loads((staged / "blender_manifest.toml").read_text())
    assert made["cpu"]["id"] == made["gpu"]["id"] == "neural_style_transfer"
    assert made["gpu"]["name"].endswith("(CUDA)") and made["cpu"]["platforms"] == ["linux-x64"]


INSTALL = """
import sys, bpy
import addon_utils
bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default",
                                         enable_on_install=True)
print("NST-ENABLED", addon_utils.check("bl_ext.user_default.neural_style_transfer")[1])
"""


def test_the_other_blender_versions_zip_is_refused_with_a_message(tmp_path):
    """The zip for the other Python's Blender versions does not install here, and Blender says
    which versions it needs (instead of loading wheels built for another Python)."""
    other = _build(OTHER_PY, tmp_path / "dist")
    r = subprocess.run([BLENDER_PYTHON, "-c", INSTALL, str(other)], capture_output=True, text=True,
                       env=_isolated_env(tmp_path / "home"), timeout=300)
    low, high, _ = build_extension.PYTHONS[OTHER_PY]
    said = r.stdout + r.stderr
    assert (f"minimum supported version ({low})" in said if high is None
            else f"({high})" in said), said[-2000:]
    assert "NST-ENABLED False" in r.stdout


def test_installs_and_registers(facts):
    f = fact(facts, "install")
    assert f["result"] == ["FINISHED"] and f["enabled"] and f["operator"] and f["loaded"]


def test_stylize_image_makes_a_new_image_and_keeps_the_original(facts):
    f = fact(facts, "stylize_image")
    assert f["result"] == ["FINISHED"] and f["exists"]
    assert f["size"] == f["source_size"]
    assert f["diff"] > 0.05                    # really stylized
    assert f["original_changed"] == 0.0        # original pixels untouched


def test_second_run_updates_the_styled_image_in_place(facts):
    f = fact(facts, "stylize_image_adain_seamless")
    assert f["result"] == ["FINISHED"] and f["images_named_styled"] == ["Tex_styled"]


def test_stylebank_style_by_name(facts):
    f = fact(facts, "stylize_image_stylebank")
    assert f["result"] == ["FINISHED"] and f["size"] == f["source_size"]
    assert f["diff"] > 0.05 and f["original_changed"] == 0.0
    assert len(f["names"]) >= 12 and "hokusai_great_wave" in f["names"]
    assert f["search"] and all("vangogh" in n for n in f["search"])
    # the thumbnail loads (headless Blender makes no icon ids, so the image's size is checked)
    assert f["preview"] == [128, 128] and f["same_preview"] and f["preview_unknown"]
    assert f["icon_unknown"] == 0


def test_compositor_blends_builtin_styles(facts):
    f = fact(facts, "compositor_stylebank")
    assert "built-in styles need method StyleBank" in f["mixed"] and f["mixed"].startswith("Error:")
    assert f["result"] == ["FINISHED"] and f["changed"] > 0.01


def test_swap_node_keeps_the_original_in_the_file(facts):
    f = fact(facts, "swap_node")
    assert f["node_image"] == "Tex_styled" and f["original_in_file"]


def test_replace_is_restorable(facts):
    f = fact(facts, "replace_and_restore")
    assert f["replaced_diff"] > 0.05 and f["restored_diff"] == 0.0 and not f["backup_left"]


def test_batch_skips_non_color_textures(facts):
    f = fact(facts, "batch_textures")
    assert f["result"] == ["FINISHED"]
    assert f["node_images"] == ["Rough", "Tex_styled"] and not f["rough_styled"]


def test_stylize_render(facts):
    f = fact(facts, "stylize_render")
    assert f["result"] == ["FINISHED"] and f["size"] == [96, 64] and f["mean"] > 0.01


def test_after_each_render(facts):
    f = fact(facts, "after_each_render")
    assert f["exists"] and f["size"] == [96, 64]


def test_compositor_group_is_created_updated_and_rendered(facts):
    f = fact(facts, "compositor")
    assert f["result"] == ["FINISHED", "FINISHED"]
    assert f["groups"] == [["NST Style"], ["NST Style"]]          # updated in place
    assert f["instances"] == [["NST Style"], ["NST Style"]]
    assert f["output_linked"]
    assert f["update_changed"] > 0.001                            # strength change took effect
    assert f["composite_vs_result"] < 1e-3                        # the render outputs our pixels


def test_object_index_mask_changes_only_the_masked_object(facts):
    f = fact(facts, "compositor")
    assert f["cube_pixels"] > 100
    assert f["diff_inside"] > 0.05
    assert f["diff_outside_max"] < 1e-3


def test_compositor_preview_size(facts):
    f = fact(facts, "compositor")["preview"]
    assert f["too_small"].startswith("Error:") and "Preview Size 10 px is too small" in f["too_small"]
    assert f["result"] == ["FINISHED"] and f["shape"] == [64, 96, 4]
    assert f["diff_inside"] > 0.05 and f["vs_full"] > 0.005    # stylized, and not the full-size result
    assert f["diff_outside_max"] < 1e-3                         # outside the mask the render is untouched


def test_animation_writes_every_frame(facts):
    f = fact(facts, "animation")
    assert f["result"] == ["FINISHED"] and f["files"] == ["frame_0001.png", "frame_0002.png"]


@pytest.mark.parametrize("case,words", [
    ("no_image", "no image selected"),
    ("unknown_image", "no image named 'Nope'"),
    ("non_color", "Non-Color"),
    ("not_an_image", "not an image"),
    ("no_style", "no style image"),
    ("stylebank", "unknown StyleBank style 'x'; known styles: cezanne_still_life_apples"),
    ("empty_styles", "style list is empty"),
    ("missing_models", "no models in"),
])
def test_bad_input_is_a_report_not_a_traceback(facts, case, words):
    f = fact(facts, "bad_input")
    assert words in f[case] and f[case].startswith("Error:")
    assert "Traceback" not in f[case]


def test_errors_leave_no_data_behind(facts):
    assert fact(facts, "bad_input")["images_added_on_error"] == []


def test_register_unregister_register(facts):
    f = fact(facts, "reregister")
    assert not f["registered_after_disable"] and f["after_enable"]
    assert f["works_after_reenable"] == ["FINISHED"] and f["disabled_cleanly"]
