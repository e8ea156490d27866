"""nst_core/methods.py: the three methods behind one protocol, and the style statistics cache."""

from __future__ import annotations

import numpy as np
import pytest

from nst_core import methods
from nst_core.errors import StyleError
from nst_core.features import moments


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(StyleError, match="unknown method 'x'; expected one of wct, adain, stylebank"):
        methods.get("x")


@pytest.mark.parametrize("name,levels,decoders", [
    ("wct", (5, 4, 3, 2, 1), ["decoder5", "decoder4", "decoder3", "decoder2", "decoder1"]),
    ("wct", (3,), ["decoder3"]),
    ("adain", (5, 4, 3, 2, 1), ["adain_decoder4", "adain_decoder4"]),   # two passes
    ("stylebank", (5, 4, 3, 2, 1), ["adain_decoder4"]),
])
def test_stages(runtime, name, levels, decoders):
    stages = methods.get(name).stages(runtime, None, levels)
    assert [s.decoder for s in stages] == decoders
    assert all(runtime.store.has(s.encoder) for s in stages)


@pytest.mark.parametrize("levels", [(), (0,), (6,)])
def test_wct_refuses_bad_levels(runtime, levels):
    with pytest.raises(StyleError, match="levels must be a non-empty subset of 1..5"):
        methods.get("wct").stages(runtime, None, levels)


@pytest.mark.parametrize("name", ["wct", "adain"])
def test_affine_mapping_alpha_zero_is_identity_and_one_matches_the_style(runtime, photo, painting, name):
    """The protocol end to end on one stage's features: alpha 0 leaves them, alpha 1 gives
    them the style's channel means."""
    method = methods.get(name)
    stage = method.stages(runtime, None, (4,))[0]
    f = methods.features(runtime, stage.encoder, photo)
    whole = moments(f.reshape(f.shape[0], -1))
    stats = [method.style_stats(runtime, stage, painting)]
    mapping = method.mapping(runtime, [painting], stats, whole, [None])
    np.testing.assert_allclose(mapping.apply(f, [1.0], [None], 0.0), f, atol=1e-4)
    out = mapping.apply(f, [1.0], [None], 1.0)
    style_mean = methods.style_moments(runtime, stage.encoder, painting).mean()
    np.testing.assert_allclose(out.reshape(f.shape[0], -1).mean(1), style_mean, atol=1e-2)


def test_style_statistics_are_cached_by_image(runtime, painting):
    methods.clear_style_cache()
    enc = methods.get("adain").stages(runtime, None, (4,))[0].encoder
    a = methods.style_moments(runtime, enc, painting)
    assert methods.style_moments(runtime, enc, painting) is a
    assert methods.style_moments(runtime, enc, painting[::-1].copy()) is not a
    methods.clear_style_cache()
    assert methods.style_moments(runtime, enc, painting) is not a


def test_stylebank_takes_names_and_encodes_no_style(runtime):
    sb = methods.get("stylebank")
    banks = sb.resolve_styles("vangogh_starry_night", runtime)
    assert [b.name for b in banks] == ["vangogh_starry_night"] and not sb.encodes_styles
    with pytest.raises(StyleError, match="takes style images"):
        methods.get("adain").resolve_styles("vangogh_starry_night", runtime)
