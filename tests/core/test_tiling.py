"""Tiling within a memory budget and seamless textures: tiles agree, no seams, wrap-around holds."""

from __future__ import annotations

import numpy as np
import pytest

from nst_core import methods, tiling


@pytest.mark.parametrize("n,core,wrap", [(1000, 256, False), (1000, 256, True), (1024, 512, False),
                                         (530, 512, False), (100, 256, True), (17, 64, False)])
def test_blend_weights_are_a_partition_of_unity(n, core, wrap):
    total = np.zeros(n)
    previous_stop = 0
    for span in tiling.spans(n, core, wrap):
        assert span.start == previous_stop and span.stop > span.start   # cores partition the axis
        previous_stop = span.stop
        assert len(span.read) % tiling.ALIGN == 0 and len(span.read) >= tiling.MIN_READ
        assert span.start % tiling.ALIGN == 0        # every tile sees the whole image's pooling grid
        assert len(np.unique(span.out)) == len(span.out)
        assert np.array_equal(span.read[span.halo], span.start)
        # what a tile writes lies inside what it reads, at the same image positions
        assert np.array_equal(span.read[span.out_offset:span.out_offset + len(span.out)], span.out)
        np.add.at(total, span.out, span.weight)
    assert previous_stop == n
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_border_tiles_read_no_mirrored_halo():
    """Without wrap, the first tile starts at 0 and the last ends where the untiled padding ends."""
    first, *_, last = tiling.spans(1000, 256)
    assert first.read[0] == 0 and first.halo == 0
    assert len(last.read) - last.halo == 1008 - last.start       # padded to 1008 like untiled
    assert np.array_equal(last.read[-9:], [999, 999, 998, 997, 996, 995, 994, 993, 992])
    wrapped = tiling.spans(1000, 256, wrap=True)[0]
    assert wrapped.read[0] == 1000 - tiling.HALO       # seamless: context from the far side


def test_budget_decides_the_tiles():
    whole, dtype, _ = tiling.plan((1024, 1024), 3, 0, 2 << 30, None, False)
    assert len(whole) == 1 and dtype == np.float32
    tiles, dtype, cache = tiling.plan((8192, 8192), 3, 8192 * 8192 * 3, 2 << 30, None, False)
    assert len(tiles) > 1 and dtype == np.float16
    read = max(t.read_shape[0] * t.read_shape[1] for t in tiles)
    buffers = 8192 * 8192 * (3 + 2 * 3 + 4 * 3) + tiling.BASE_BYTES + cache
    assert buffers + read * tiling.TILE_BYTES_PER_PIXEL <= 2 << 30
    small, _, _ = tiling.plan((8192, 8192), 3, 8192 * 8192 * 3, 1 << 30, None, False)
    assert len(small) > len(tiles)       # a smaller budget gives more, smaller tiles


def test_gpu_budget_counts_each_methods_sessions():
    # On CUDA every cached session keeps its arena: WCT's ten networks need ~4x AdaIN's memory.
    budget = 24 << 30
    per_px = {name: m.gpu_bytes_per_pixel for name, m in methods.METHODS.items()}
    adain, _, _ = tiling.plan((4096, 4096), 3, 0, budget, None, False, per_px["adain"])
    wct, _, _ = tiling.plan((4096, 4096), 3, 0, budget, None, False, per_px["wct"])
    assert len(adain) == 1 and len(wct) > 1
    read = max(t.read_shape[0] * t.read_shape[1] for t in wct)
    assert read * per_px["wct"] <= budget
    odd, _, _ = tiling.plan((1080, 1920), 3, 0, 2 << 30, None, False)
    assert len(odd) == 1                 # sides off the 16-pixel grid still give one tile


