"""addon/__init__.py and packaging: the zip passes Blender's own validation, installs and
registers, refuses the other Blender versions, and registers again after a disable."""

from __future__ import annotations

import subprocess
import tomllib
import zipfile

import pytest

import extension
from harness import MODULE, env, fact, scenario

bpy = pytest.importorskip("bpy")


@scenario(0)
def install():
    result = bpy.ops.extensions.package_install_files(filepath=env.zip, repo="user_default",
                                                      enable_on_install=True)
    import addon_utils
    return {"result": sorted(result), "enabled": MODULE in bpy.context.preferences.addons,
            "operator": hasattr(bpy.types, "NST_OT_stylize_image"),
            "loaded": addon_utils.check(MODULE)[1]}


def test_installs_and_registers(facts):
    f = fact(facts, "install")
    assert f["result"] == ["FINISHED"] and f["enabled"] and f["operator"] and f["loaded"]


@scenario(999)                  # last: it disables the extension
def reregister():
    bpy.ops.preferences.addon_disable(module=MODULE)
    after_disable = hasattr(bpy.types, "NST_OT_stylize_image") or hasattr(bpy.types.Scene, "nst")
    bpy.ops.preferences.addon_enable(module=MODULE)
    after_enable = hasattr(bpy.types, "NST_OT_stylize_image")
    bpy.ops.preferences.addon_disable(module=MODULE)
    bpy.ops.preferences.addon_enable(module=MODULE)
    r = bpy.ops.nst.stylize_image(image="Tex", style_path=env.style, method="ADAIN")
    bpy.ops.preferences.addon_disable(module=MODULE)
    return {"registered_after_disable": after_disable, "after_enable": after_enable,
            "works_after_reenable": sorted(r),
            "disabled_cleanly": MODULE not in bpy.context.preferences.addons}


def test_register_unregister_register(facts):
    f = fact(facts, "reregister")
    assert not f["registered_after_disable"] and f["after_enable"]
    assert f["works_after_reenable"] == ["FINISHED"] and f["disabled_cleanly"]


def test_manifest_passes_blenders_validation(extension_zip):
    build = extension.build_extension()
    assert build.validate(extension_zip).startswith("Success")
    with zipfile.ZipFile(extension_zip) as z:
        names = set(z.namelist())
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
    assert manifest["platforms"] == [extension.platform_name()] and manifest["schema_version"] == "1.0.0"
    python = extension.python_version()
    low, high, label = build.PYTHONS[python]
    assert manifest["blender_version_min"] == low and manifest.get("blender_version_max") == high
    assert label in extension_zip.name
    assert len(manifest["tagline"]) <= 64 and set(manifest["permissions"]) == {"files", "network"}
    wheels = manifest["wheels"]
    assert all(w.removeprefix("./") in names for w in wheels)
    # compiled wheels for this Blender's Python only (Blender 4.2.0 would install the others
    # over them); no numpy bundled
    tag = "cp" + python.replace(".", "")
    assert {w.split("-")[2] for w in wheels if "/onnxruntime-" in w or "/pillow-" in w} == {tag}
    assert not any("numpy" in w for w in wheels)
    assert "models/manifest.json" in names and "nst_core/pipeline.py" in names


def test_validation_refuses_a_bad_manifest(extension_zip, tmp_path):
    build = extension.build_extension()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(extension_zip) as src, zipfile.ZipFile(bad, "w") as dst:
        text = src.read("blender_manifest.toml").decode()
        dst.writestr("blender_manifest.toml", text.replace(
            'tagline = "', 'tagline = "' + "far too long a tagline for Blender's rules " * 2))
        dst.writestr("__init__.py", src.read("__init__.py"))
    with pytest.raises(build.BuildError, match="tagline"):
        build.validate(bad)


def test_gpu_and_cpu_builds_share_the_id(tmp_path):
    """Same id: installing one build replaces the other, so onnxruntime and onnxruntime-gpu
    (both provide the package `onnxruntime`) never sit together in Blender's site-packages."""
    build = extension.build_extension()
    made = {}
    for variant in ("cpu", "gpu"):
        staged = build.stage("linux-x64", variant, "3.11", extension.ROOT / "build" / "models", [],
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
    other_py = extension.other_python()
    other = extension.build(other_py, tmp_path / "dist")
    r = subprocess.run([extension.BLENDER_PYTHON, "-c", INSTALL, str(other)], capture_output=True,
                       text=True, env=extension.isolated_env(tmp_path / "home"), timeout=300)
    low, high, _ = extension.build_extension().PYTHONS[other_py]
    said = r.stdout + r.stderr
    assert (f"minimum supported version ({low})" in said if high is None
            else f"({high})" in said), said[-2000:]
    assert "NST-ENABLED False" in r.stdout
