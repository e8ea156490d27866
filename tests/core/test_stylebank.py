"""StyleBank: built-in banks, torch reference, linear and region fusion, k-means regions, tiling,
bad input and the command line (styles, stylize)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import nst_core
from nst_core import metrics, stylebank
from nst_core.errors import ModelError, StyleError

from conftest import DATA, ROOT

A, B = "vangogh_starry_night", "hokusai_great_wave"


def run(runtime, content, styles, **kw):
    return nst_core.stylize(content, styles, "stylebank", runtime=runtime, **kw).image


def psnr(a, b):
    return 10 * np.log10(1.0 / max(float(((a - b) ** 2).mean()), 1e-12))


def test_at_least_twelve_public_domain_builtins(runtime):
    builtins = {n: p for n, (p, source, _) in stylebank.available(runtime.store).items()
                if source == "built-in"}
    assert len(builtins) >= 12, sorted(builtins)
    sources = DATA / "SOURCES.tsv"
    if not sources.is_file():
        pytest.skip("../shared/data/SOURCES.tsv not available")
    rows = {r["file"].split("/", 1)[-1].rsplit(".", 1)[0]: r
            for r in csv.DictReader(open(sources, encoding="utf-8"), delimiter="\t")}
    for name in builtins:
        assert name in rows, f"built-in {name} is not a painting of ../shared/data/style"
        licence = rows[name]["description"].lower()
        assert "public domain" in licence and "not public domain" not in licence, (name, licence)
        bank = stylebank.load_bank(builtins[name], "built-in")
        assert bank.meta.get("heldout"), f"{name}: bank has no training record"


def test_matches_torch_reference(runtime, weights_dir, paddings, photo):
    torch = pytest.importorskip("torch")
    import torch_models as tm
    import train_stylebank as tsb

    bank = stylebank.resolve(A, runtime.store)[0]
    padding = paddings[stylebank.DECODER]                  # the encoder is padded like it
    encoder = tm.load_encoder(weights_dir, 4, padding)
    decoder = tm.Decoder(tm.load_state_dict(ROOT / "scripts" / "trained" / "adain_decoder4.pth"), 4, padding).eval()
    with torch.no_grad():
        x = torch.from_numpy(photo.transpose(2, 0, 1)[None].astype(np.float32))
        f = tsb.prepare(encoder(x), bank.input)
        y = decoder(tsb.bank_conv(f, torch.from_numpy(bank.weight), torch.from_numpy(bank.bias)))
    expected = y[0].clamp(0, 1).permute(1, 2, 0).numpy()
    got = run(runtime, photo, A)
    assert np.abs(got - expected).max() < 2e-3


def test_an_untrained_whitened_bank_is_wct_at_level_4(runtime, photo, painting, monkeypatch):
    """A bank on whitened features, set to the style's colouring (centre tap C_s^½, bias μ_s:
    what training starts from), gives one pass of AdaIN's covariance transform with the same
    decoder."""
    from nst_core import methods, wct

    monkeypatch.setattr(methods.AdaIN, "PASSES", 1)

    enc = methods.get("stylebank").stages(runtime, None, (4,))[0].encoder
    style = nst_core.tiling.mirror_pad(painting, 1)
    m = methods.style_moments(runtime, enc, style)
    weight = np.zeros((128, 128, 3, 3), np.float32)
    weight[:, :, 1, 1] = wct.coloring(m.cov())
    bank = stylebank.Bank("coloured", weight, m.mean().astype(np.float32), meta={"input": "whitened"})
    adain = nst_core.stylize(photo, painting, "adain", runtime=runtime).image
    np.testing.assert_allclose(run(runtime, photo, bank), adain,
                               atol=2 / 255)


def test_banks_on_different_inputs_fuse_by_their_outputs(runtime, photo):
    """An earlier (normalised-input) bank beside a whitened one: the weighted sum of what each
    gives, tiled or on the fused path alike."""
    a = stylebank.resolve(A, runtime.store)[0]
    old = stylebank.Bank("old", a.weight, a.bias, meta={"input": "normalised"})
    new = stylebank.Bank("new", a.weight, a.bias, meta={"input": "whitened"})
    f = runtime.session("encoder4_once")(photo.transpose(2, 0, 1)[None].astype(np.float32))[0]
    fusion = stylebank.Fusion(runtime, [old, new], nst_core.features.moments(f.reshape(f.shape[0], -1)))
    mixed = fusion.apply(f, [0.3, 0.7], [None, None], 1.0)
    each = [stylebank.Fusion(runtime, [b], fusion_moments(f)).apply(f, [1.0], [None], 1.0) for b in (old, new)]
    np.testing.assert_allclose(mixed, 0.3 * each[0] + 0.7 * each[1], atol=1e-3 * np.abs(mixed).max())
    assert np.abs(each[0] - each[1]).mean() > 0.01          # the two inputs really differ


def fusion_moments(f):
    return nst_core.features.moments(f.reshape(f.shape[0], -1))


def test_weights_one_zero_equal_first_bank_alone(runtime, photo):
    np.testing.assert_array_equal(run(runtime, photo, [A, B], weights=[1, 0]), run(runtime, photo, A))


def test_fusion_is_linear_in_the_banks(runtime, photo):
    banks = stylebank.resolve([A, B], runtime.store)
    f = runtime.session("encoder4")(photo.transpose(2, 0, 1)[None].astype(np.float32))[0]
    fusion = stylebank.Fusion(runtime, banks, nst_core.features.moments(f.reshape(f.shape[0], -1)))
    mixed = fusion.apply(f, [0.3, 0.7], [None, None], 1.0)
    parts = 0.3 * fusion.apply(f, [1, 0], [None, None], 1.0) + 0.7 * fusion.apply(f, [0, 1], [None, None], 1.0)
    np.testing.assert_allclose(mixed, parts, atol=1e-3 * np.abs(parts).max())


def test_fusion_moves_the_style_distance_monotonically(runtime, photo):
    def stats(image):
        return metrics.features_of(runtime, metrics._prepare(image, "x")).stats

    sa, sb = stats(metrics._prepare(np.asarray(nst_core.load_image(DATA / "style" / f"{A}.jpg"))[..., :3], "a")), \
        stats(metrics._prepare(np.asarray(nst_core.load_image(DATA / "style" / f"{B}.jpg"))[..., :3], "b"))
    da, db = [], []
    for w in (0.0, 0.25, 0.5, 0.75, 1.0):
        s = stats(run(runtime, photo, [A, B], weights=[w, 1 - w]))
        da.append(metrics.style_distance(s, sa))
        db.append(metrics.style_distance(s, sb))
    assert all(x > y for x, y in zip(da, da[1:])), da      # closer to A as its weight grows
    assert all(x < y for x, y in zip(db, db[1:])), db      # and further from B


def test_mask_gives_each_region_its_bank(runtime, photo):
    h, w = photo.shape[:2]
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1
    out = run(runtime, photo, [A, B], masks=[left, 1 - left])
    only_a, only_b = run(runtime, photo, A), run(runtime, photo, B)
    margin = 40          # receptive field of the bank and decoder around the border
    assert np.abs(out[:, : w // 2 - margin] - only_a[:, : w // 2 - margin]).max() < 0.02
    assert np.abs(out[:, w // 2 + margin:] - only_b[:, w // 2 + margin:]).max() < 0.02
    assert np.abs(only_a - only_b).mean() > 0.05         # the two styles really differ


def test_kmeans_regions_use_each_bank_in_its_region(runtime):
    from conftest import _load

    photo = _load("content/bike.jpg", (192, 288))
    banks = stylebank.resolve([A, B], runtime.store)
    f = runtime.session("encoder4")(photo.transpose(2, 0, 1)[None].astype(np.float32))[0]
    fusion = stylebank.Fusion(runtime, banks, nst_core.features.moments(f.reshape(f.shape[0], -1)))
    fusion.centroids = stylebank.kmeans(fusion.normalise_rows(f.reshape(f.shape[0], -1).T), 2)
    label = stylebank.assign(fusion.normalise_rows(f.reshape(f.shape[0], -1).T), fusion.centroids)
    assert 0.1 < label.mean() < 0.9                       # two real regions
    out = fusion.apply(f, [1.0, 1.0], [None, None], 1.0).reshape(f.shape[0], -1)
    each = [fusion.apply(f, [1.0 - j, float(j)], [None, None], 1.0).reshape(f.shape[0], -1) for j in (0, 1)]
    for j in (0, 1):      # features of region j are bank j's, exactly
        np.testing.assert_allclose(out[:, label == j], each[j][:, label == j], atol=1e-4)
    # and end to end the image mixes both single-style results
    image = run(runtime, photo, [A, B], regions=True)
    near_a = np.abs(image - run(runtime, photo, A)).mean(axis=2) < 0.01
    near_b = np.abs(image - run(runtime, photo, B)).mean(axis=2) < 0.01
    assert near_a.mean() > 0.1 and near_b.mean() > 0.1, (near_a.mean(), near_b.mean())


def test_kmeans_is_deterministic_and_separates_clusters():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 0.1, (200, 4)), rng.normal(3, 0.1, (100, 4))]).astype(np.float32)
    c1, c2 = stylebank.kmeans(x, 2), stylebank.kmeans(x, 2)
    np.testing.assert_array_equal(c1, c2)
    label = stylebank.assign(x, c1)
    assert len(set(label[:200])) == 1 and len(set(label[200:])) == 1 and label[0] != label[-1]


def test_tiled_matches_untiled(runtime):
    from conftest import _load

    photo = _load("content/chicago.jpg", (256, 384))
    whole = run(runtime, photo, [A, B], weights=[0.5, 0.5])
    tiled = run(runtime, photo, [A, B], weights=[0.5, 0.5], tile_size=96)
    assert psnr(whole, tiled) >= 35


def test_unknown_name_lists_the_known_ones(runtime, photo):
    with pytest.raises(StyleError, match=f"unknown StyleBank style 'nope'.*{A}"):
        run(runtime, photo, "nope")


@pytest.mark.parametrize("content", [b"not a bank", b"PK\x03\x04broken zip"])
def test_corrupted_learned_bank_is_a_clear_error(runtime, photo, tmp_path, monkeypatch, content):
    monkeypatch.setenv(stylebank.ENV_STYLES_DIR, str(tmp_path))
    (tmp_path / "broken.npz").write_bytes(content)
    with pytest.raises(ModelError, match="broken.npz is corrupted or not a bank file.*learn the style again"):
        run(runtime, photo, "broken")


def test_wrong_shape_bank_is_refused(tmp_path):
    path = tmp_path / "small.npz"
    np.savez(path, weight=np.zeros((64, 64, 3, 3), np.float16), bias=np.zeros(64, np.float16))
    with pytest.raises(ModelError, match=r"expected \(128, 128, 3, 3\)"):
        stylebank.load_bank(path)


def test_builtin_bank_checked_against_manifest(runtime, tmp_path):
    name, (path, _, sha) = next((n, v) for n, v in stylebank.available(runtime.store).items()
                                if v[1] == "built-in")
    copy = tmp_path / path.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupted.*make models"):
        stylebank.load_bank(copy, "built-in", sha)


@pytest.mark.parametrize("method, styles, kwargs, message", [
    ("stylebank", [np.zeros((8, 8, 3))], {}, "takes style names"),
    ("wct", ["vangogh_starry_night"], {}, "style names are for method 'stylebank'"),
    ("adain", [np.zeros((32, 32, 3))], {"regions": True}, "regions"),
])
def test_bad_arguments(runtime, photo, method, styles, kwargs, message):
    with pytest.raises(StyleError, match=message):
        nst_core.stylize(photo, styles, method, runtime=runtime, **kwargs)


def _nst(*args, env=None):
    return subprocess.run([sys.executable, "-m", "nst_core", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})})


def test_cli_styles_and_stylize(tmp_path):
    r = _nst("styles", "--json", env={"NST_STYLES_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert {A, B} <= set(rows)
    assert all(rows[n]["preview"] and os.path.isfile(rows[n]["preview"]) for n in (A, B))
    content = DATA / "content" / "bike.jpg"
    if not content.is_file():
        pytest.skip("../shared/data is needed")
    out = tmp_path / "out.png"
    r = _nst("stylize", content, "--method", "stylebank", "--style", A, "--style", B,
             "--weights", "3,1", "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    assert "normalised to sum 1" in r.stderr
    assert json.loads(r.stdout)["method"] == "stylebank" and out.is_file()
    r = _nst("stylize", content, "--method", "stylebank", "--style", A, "--regions", "2", "-o", out)
    assert r.returncode == 2 and "--regions 2 needs 2 styles" in r.stderr
