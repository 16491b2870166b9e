"""Statistics shared between layers that read the same tensor, and the binary fast path, give the same counts as
counting every call on its own copy of the input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuro import nn as snn
from neuro.energy import estimate


class ThreeHeads(nn.Module):
    """One input read by three Linear layers (as q, k, v are), optionally each on its own copy."""

    def __init__(self, copies: bool):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(16, 8), nn.Linear(16, 8), nn.Linear(16, 8)
        self.lif = snn.LIF(tau=2.0)
        self.out = nn.Linear(8, 4)
        self.copies = copies

    def forward(self, x):
        xs = [x.clone() for _ in range(3)] if self.copies else [x, x, x]
        s = self.lif(self.q(xs[0]) + self.k(xs[1]) + self.v(xs[2]))
        return self.out(s)


def _counts(report):
    return {c.name: (c.effective_acs, c.effective_macs, c.input_nonzeros, c.spikes, c.steps.get("effective_acs")) for c in report.layers}


@pytest.mark.parametrize("kind", ["binary", "almost_binary", "signed", "real"])
def test_shared_input_counts_equal_separate_copies(kind):
    torch.manual_seed(0)
    x = (torch.rand(5, 3, 16) < 0.3).float()
    if kind == "almost_binary":
        x[0, 0, :4] = 0.5  # values in [0, 1] that are not spikes: must not take the binary path
    elif kind == "signed":
        x = x * torch.where(torch.rand_like(x) < 0.5, -1.0, 1.0)
    elif kind == "real":
        x = torch.rand(5, 3, 16)
    shared, copies = ThreeHeads(False), ThreeHeads(True)
    copies.load_state_dict(shared.state_dict())
    with torch.no_grad():
        a, b = _counts(estimate(shared, x)), _counts(estimate(copies, x))
    assert a == b
    q = estimate(shared, x).layer("q")
    nonzeros = int((x != 0).sum())
    assert q.input_nonzeros == nonzeros
    if kind in ("binary", "signed"):
        assert q.effective_acs == nonzeros * 8 and q.effective_macs == 0
    else:
        assert q.effective_macs == nonzeros * 8 and q.effective_acs == 0


def test_a_tensor_changed_in_place_is_counted_again():
    class InPlace(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(6, 6), nn.Linear(6, 6)

        def forward(self, x):
            y = self.a(x)
            x.mul_(0.0)  # the second layer reads a changed tensor (a new version of the same object)
            return self.b(x) + y

    x = (torch.rand(2, 3, 6) < 0.5).float()
    n = int((x != 0).sum())
    with torch.no_grad():
        r = estimate(InPlace(), x.clone())
    assert r.layer("a").input_nonzeros == n and r.layer("b").input_nonzeros == 0
