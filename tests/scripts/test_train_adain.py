"""scripts/train_adain.py's transforms: EFDM gives each content channel the style channel's
values in the content's order."""

from __future__ import annotations

import torch

import train_adain


def test_efdm_gives_the_style_distribution_in_the_content_order():
    g = torch.Generator().manual_seed(0)
    c = torch.rand(2, 4, 6, 5, generator=g)
    s = torch.rand(2, 4, 6, 5, generator=g) * 3 + 1
    t = train_adain.efdm(c, s)
    assert t.shape == c.shape
    assert torch.equal(t.flatten(2).sort(2).values, s.flatten(2).sort(2).values)     # the values
    assert torch.equal(t.flatten(2).argsort(2), c.flatten(2).argsort(2))               # the ranks
    small = train_adain.efdm(c, s[..., :3, :3])        # fewer style values: resampled, in range
    assert small.shape == c.shape and small.min() >= s[..., :3, :3].min() and small.max() <= s[..., :3, :3].max()
    values = small.flatten(2)
    order = c.flatten(2).argsort(2)
    assert (values.gather(2, order).diff(dim=2) >= 0).all()       # monotone in the content's order
