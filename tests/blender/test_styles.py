"""addon/styles.py: StyleBank styles by name, their search and thumbnails."""

from __future__ import annotations

import numpy as np
import pytest

from harness import addon_module, fact, pixels, scenario

bpy = pytest.importorskip("bpy")


@scenario(12)
def stylize_image_stylebank():
    before = pixels(bpy.data.images["Tex"]).copy()
    r = bpy.ops.nst.stylize_image(image="Tex", method="STYLEBANK", style_name="vangogh_starry_night")
    styled = bpy.data.images["Tex_styled"]
    styles = addon_module("styles")
    return {"result": sorted(r), "size": list(styled.size), "source_size": list(bpy.data.images["Tex"].size),
            "diff": float(np.abs(pixels(styled) - before).mean()),
            "original_changed": float(np.abs(pixels(bpy.data.images["Tex"]) - before).max()),
            "names": styles.style_names(),
            "search": styles.search_style_names(None, None, "VANGOGH"),
            "preview": list(styles.style_preview("vangogh_starry_night").image_size),
            "same_preview": styles.style_preview("hokusai_great_wave") == styles.style_preview("hokusai_great_wave"),
            "preview_unknown": styles.style_preview("no_such_style") is None,
            "icon_unknown": styles.style_icon("no_such_style")}


def test_stylebank_style_by_name(facts):
    f = fact(facts, "stylize_image_stylebank")
    assert f["result"] == ["FINISHED"] and f["size"] == f["source_size"]
    assert f["diff"] > 0.05 and f["original_changed"] == 0.0
    assert len(f["names"]) >= 12 and "hokusai_great_wave" in f["names"]
    assert f["search"] and all("vangogh" in n for n in f["search"])
    # the thumbnail loads (headless Blender makes no icon ids, so the image's size is checked)
    assert f["preview"] == [128, 128] and f["same_preview"] and f["preview_unknown"]
    assert f["icon_unknown"] == 0
