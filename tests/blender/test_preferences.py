"""addon/preferences.py: a Models Folder without models is a clear report, and a failed job
leaves no data behind."""

from __future__ import annotations

import os

import pytest

from harness import MODULE, addon_module, env, error_of, fact, scenario

bpy = pytest.importorskip("bpy")


@scenario(82)
def missing_models():
    empty_models = os.path.join(env.work, "no_models")
    os.makedirs(empty_models, exist_ok=True)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.models_dir = empty_models
    before = set(bpy.data.images.keys())
    said = error_of(lambda: bpy.ops.nst.stylize_image(image="Tex", style_path=env.style))
    added = sorted(set(bpy.data.images.keys()) - before)
    prefs.models_dir = ""
    return {"missing_models": said, "images_added_on_error": added}


def test_missing_models_is_a_report_not_a_traceback(facts):
    f = fact(facts, "missing_models")["missing_models"]
    assert "no models in" in f and f.startswith("Error:") and "Traceback" not in f


def test_errors_leave_no_data_behind(facts):
    assert fact(facts, "missing_models")["images_added_on_error"] == []


@scenario(83)
def worker_environment():
    """A farm worker sets the device and memory budget by environment variables."""
    prefs = addon_module("preferences")
    out = {}
    for device, memory in (("CPU", "6"), ("", ""), ("gpu", ""), ("", "0.1")):
        os.environ["NST_DEVICE"], os.environ["NST_MEMORY_GB"] = device, memory
        try:
            options = prefs.engine_options()
            out[f"{device}|{memory}"] = [options["device"], options["memory_budget"] / (1 << 30)]
        except Exception as exc:                # noqa: BLE001 (the message is the fact)
            out[f"{device}|{memory}"] = str(exc)
    del os.environ["NST_DEVICE"], os.environ["NST_MEMORY_GB"]
    return out


def test_a_worker_sets_device_and_memory_by_environment(facts):
    f = fact(facts, "worker_environment")
    assert f["CPU|6"] == ["cpu", 6.0] and f["|"] == ["auto", 2.0], f
    assert "NST_DEVICE='gpu': use one of auto, cpu, cuda" in f["gpu|"], f
    assert "at least 0.25" in f["|0.1"], f
