"""A trainable neuron added as one definition: neuro.dynamics.library.qif_adaptation (Izhikevich's 2007 quadratic
integrate-and-fire with an adaptation current) in neuro.nn.Neuron. Its forward equals a readable Euler loop of the
equations written here by hand (float64), it adapts, and a small network of it learns the bundled digits by surrogate
gradients. The layers run the generated torch reference (backend="torch"): the fused kernels of definitions are held to
that reference in test_neuron_definitions.py, and compiling them for this law would cost this file ~20 s."""

from __future__ import annotations

import torch
from torch import nn

from neuro.demo import load_digits_split
from neuro.dynamics.library import qif_adaptation
from neuro.nn import Neuron
from neuro.nn.layers import Scale

F64 = torch.float64
DT = 1.0  # ms


def _readable_reference(current: torch.Tensor):
    """Forward Euler at DT of C v' = k (v - v_r)(v - v_t) - u + I, u' = a (b (v - v_r) - u); v > v_peak: v = c, u += d
    (regular spiking: C = 100 pF, k = 0.7 nS/mV, mV, pA, a = 0.03 / ms)."""
    C, k, v_r, v_t, v_peak, a, b, c, d = 100.0, 0.7, -60.0, -40.0, 35.0, 0.03, -2.0, -50.0, 100.0
    v = torch.full(current.shape[1:], v_r, dtype=F64)
    u = torch.zeros(current.shape[1:], dtype=F64)
    spikes, vs, us = [], [], []
    for i in current:
        v, u = v + DT * (k * (v - v_r) * (v - v_t) - u + i) / C, u + DT * a * (b * (v - v_r) - u)
        s = v > v_peak
        v, u = torch.where(s, c, v), torch.where(s, u + d, u)
        spikes.append(s.to(F64))
        vs.append(v)
        us.append(u)
    return torch.stack(spikes), torch.stack(vs), torch.stack(us)


def test_forward_equals_the_readable_reference_and_adapts():
    g = torch.Generator().manual_seed(0)
    current = torch.rand(120, 3, 8, generator=g, dtype=F64) * 600.0  # pA
    layer = Neuron(qif_adaptation(), dt=DT, input="I", backend="torch", store_state=True, dtype=F64)
    s = layer(current)
    s_ref, v_ref, u_ref = _readable_reference(current)
    assert s_ref.sum() > 50
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(layer.state_seq["v"], v_ref, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(layer.state_seq["u"], u_ref, rtol=1e-12, atol=1e-9)
    # under a constant 400 pA the interspike intervals lengthen (the adaptation current grows with each spike)
    times = torch.nonzero(layer(torch.full((200, 1, 1), 400.0, dtype=F64))[:, 0, 0]).flatten()
    isi = times.diff()
    assert len(isi) >= 5 and isi[-1] > isi[0]


def test_trains_on_digits_above_chance():
    """64 pixels -> Linear -> fixed gain (pA) -> 48 QIF neurons with a learned spike-triggered adaptation increment d ->
    Linear on the spike counts; 3 epochs of 512 training digits in batches of 128, pixel intensities as constant currents
    over 12 ms. Test accuracy on 359 held-out digits measured 0.84 (chance 0.10); asserted >= 0.50, five times chance."""
    torch.manual_seed(0)
    xtr, ytr, xte, yte = load_digits_split(0)
    xtr, ytr = xtr[:512], ytr[:512]
    T = 12
    model = nn.Sequential(nn.Linear(64, 48), Scale(1500.0),
                          Neuron(qif_adaptation(), dt=DT, input="I", learnable=["d"], surrogate="fast_sigmoid", alpha=0.2, backend="torch"),
                          nn.Linear(48, 10))
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    gen = torch.Generator().manual_seed(1)

    def logits(x):
        return model(x.unsqueeze(0).expand(T, *x.shape)).sum(0)

    for _ in range(3):
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(perm), 128):
            idx = perm[i:i + 128]
            loss = nn.functional.cross_entropy(logits(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = float((logits(xte).argmax(1) == yte).float().mean())
    assert acc >= 0.5, acc
    assert float(model[2].learned["d"].detach()) != 100.0  # the adaptation increment was learned
