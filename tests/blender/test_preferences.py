"""addon/preferences.py: a Models Folder without models is a clear report, and a failed job
leaves no data behind."""

from __future__ import annotations

import os

import pytest

from harness import MODULE, env, error_of, fact, scenario

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
