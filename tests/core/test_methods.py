"""nst_core/methods.py: the three methods behind one protocol, and the style statistics cache."""

from __future__ import annotations

import dataclasses

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


class _Identity:
    """A fourth method, defined here alone: level 4's encoder and decoder with the features
    left as they are (the decoder's reconstruction of the content). It takes style images and
    ignores them."""

    name = "identity"
    label = "Identity"
    description = "The content through level 4's encoder and decoder"
    encodes_styles = False
    takes_style_names = False
    mask_statistics = False
    supports_regions = False
    gpu_bytes_per_pixel = 5000          # more than the others: CUDA plans tiles sooner
    result_blend = methods.ResultBlend(0.5)

    def resolve_styles(self, styles, rt):
        return [np.asarray(s, np.float32) for s in styles]

    def stages(self, rt, decoder, levels, alpha=1.0):
        dec = decoder or "adain_decoder4"
        return [methods.Stage(4, rt.store.encoder_for(dec, 4), dec)]

    def style_stats(self, rt, stage, style):
        return None

    def mapping(self, rt, styles, stats, whole, region_moments, sample=None):
        return self

    def apply(self, f, weights, masks, alpha):
        return f

    def apply_device(self, rt, f, weights, alpha):
        return f


@pytest.fixture
def identity():
    methods.register(_Identity())
    yield "identity"
    methods.unregister("identity")


def test_a_fourth_method_runs_everywhere_with_no_other_file_changed(runtime, photo, painting, identity):
    """stylize, tiles, the CUDA planner (planning only: no GPU here) and temporal coherence ask
    the method object for everything that differs per method."""
    import nst_core
    from nst_core import pipeline, temporal
    from nst_core.runtime import CUDA

    whole = nst_core.stylize(photo, painting, "Identity", runtime=runtime).image
    tiled = nst_core.stylize(photo, painting, identity, tile_size=64, runtime=runtime).image
    assert whole.shape == photo.shape and np.abs(whole - tiled).mean() < 0.01
    assert np.abs(whole - photo).mean() < 0.15          # the decoder's reconstruction
    settings = nst_core.Settings(identity, painting, memory_budget=1 << 30)
    request = pipeline._request(runtime, photo, settings, None)
    cpu, _, _ = pipeline.plan(request, "CPUExecutionProvider")
    large = dataclasses.replace(request, source=np.zeros((2048, 2048, 3), np.float32))
    cuda, _, _ = pipeline.plan(large, CUDA)
    assert len(cpu) == 1 and len(cuda) > 1
    assert max(t.read_shape[0] * t.read_shape[1] for t in cuda) * _Identity.gpu_bytes_per_pixel <= 1 << 30
    coherence, alone = temporal.Coherence(1.0), temporal.Coherence(0.0)
    vector = np.zeros(photo.shape[:2] + (4,), np.float32)     # a still camera
    frames = [np.clip(photo + 0.03 * k, 0, 1) for k in range(3)]
    out = [coherence.stylize(f, settings, vector=vector, runtime=runtime).image for f in frames]
    own = [alone.stylize(f, settings, vector=vector, runtime=runtime).image for f in frames]
    assert np.array_equal(out[0], own[0])               # the first frame is the frame alone
    assert np.abs(out[2] - own[2]).mean() > 1e-3        # later ones carry the previous result
