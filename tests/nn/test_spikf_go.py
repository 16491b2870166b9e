"""SpikF-GO (neuro.nn.models.spikf_go): shapes, the Fourier graph operator against the dense graph convolution, training
on the generated VAR(2) series of examples/spikf_go.py against the naive last-value forecast, and input errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neuro.nn.models import count_parameters
from neuro.nn.models.spikf_go import ComplexLinear, HardConcreteGate, SpikFGO, fourier_graph_conv

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
import spikf_go as example  # noqa: E402


@pytest.mark.parametrize("spiking", [True, False])
def test_shapes_parameters_and_spikes(spiking):
    torch.manual_seed(0)
    model = SpikFGO(num_vars=3, window=10, horizon=5, embed=8, time_steps=3, spiking=spiking)
    seen = []
    if spiking:
        model.encoder.register_forward_hook(lambda m, i, o: seen.append(o))
    y = model(torch.randn(4, 10, 3))
    assert y.shape == (4, 5, 3) and torch.isfinite(y).all()
    y.sum().backward()
    assert model.embed_weight.grad is not None and model.spectral[0].weight_re.grad.abs().sum() > 0
    if spiking:
        s = seen[0]
        assert s.shape == (3, 4, 30, 8) and set(s.unique().tolist()) <= {0.0, 1.0} and 0 < s.mean() < 1
    other = SpikFGO(num_vars=3, window=10, horizon=5, embed=8, time_steps=3, spiking=not spiking)
    assert count_parameters(model) == count_parameters(other)


def _dense_fourier_graph_conv(x: np.ndarray, wr: np.ndarray, wi: np.ndarray, br: np.ndarray, bi: np.ndarray,
                              gate: np.ndarray) -> np.ndarray:
    """The circular graph convolution on M nodes written out with explicit DFT sums (no FFT)."""
    m = x.shape[0]
    nb = m // 2 + 1
    s_full = np.zeros((m, *wr.shape), complex)
    b_full = np.zeros((m, br.shape[0]), complex)
    for f in range(nb):
        w = gate[f] * (wr + 1j * wi)
        b = br + 1j * bi
        if f == 0 or (m % 2 == 0 and f == m // 2):   # the inverse real FFT keeps the real part of these bins
            w, b = w.real.astype(complex), b.real.astype(complex)
        s_full[f], b_full[f] = w, b
        if 0 < f < m - f:
            s_full[m - f], b_full[m - f] = np.conj(w), np.conj(b)
    n = np.arange(m)
    phase = np.exp(2j * np.pi * np.outer(n, n) / m)                    # phase[m, f] = e^{2 pi i f m / M}
    kernel = np.einsum("mf,fab->mab", phase, s_full).real / m           # kappa_m, [M, E, E']
    y = np.zeros((m, wr.shape[1]))
    for i in range(m):
        for j in range(m):
            y[i] += x[j] @ kernel[(i - j) % m]
    return y + (phase @ b_full).real / np.sqrt(m)


@pytest.mark.parametrize("nodes", [6, 7])
def test_fourier_graph_operator_equals_dense_graph_convolution(nodes):
    torch.manual_seed(1)
    lin = ComplexLinear(3, 2)
    with torch.no_grad():
        lin.bias_re.normal_()
        lin.bias_im.normal_()
    gate = torch.rand(nodes // 2 + 1, dtype=torch.float64)
    x = torch.randn(nodes, 3, dtype=torch.float64)
    lin = lin.double()
    got = fourier_graph_conv(x, lin, gate).detach().numpy()
    want = _dense_fourier_graph_conv(x.numpy(), *(p.detach().numpy() for p in (lin.weight_re, lin.weight_im, lin.bias_re,
                                                                                  lin.bias_im)), gate.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # a gate that is not constant over frequency couples distant nodes: the operator is not node-wise
    node_wise = (x @ lin.weight_re.double()).detach().numpy()
    assert np.abs(got - node_wise).max() > 1e-3


def test_hard_concrete_gate_in_unit_interval_and_deterministic_in_eval():
    torch.manual_seed(0)
    g = HardConcreteGate(9, init_log_alpha=0.0)
    a, b = g(), g()
    assert ((a >= 0) & (a <= 1)).all() and not torch.equal(a, b)
    g.eval()
    assert torch.equal(g(), g()) and torch.allclose(g(), torch.full((9,), 0.5))


def test_var2_series_is_seeded_and_coupled_along_the_chain():
    x, a1, a2 = example.var2_series(400, num_vars=4, seed=3)
    y, _, _ = example.var2_series(400, num_vars=4, seed=3)
    assert np.array_equal(x, y) and x.shape == (400, 4)
    assert a2[2, 1] == pytest.approx(0.3) and a2[1, 2] == 0.0 and np.count_nonzero(a2 - np.diag(np.diag(a2))) == 3
    with pytest.raises(ValueError, match="unstable"):
        example.var2_coefficients(4, radius=1.0, coupling=0.3)


def test_split_by_time_keeps_segments_in_order():
    series = np.arange(200, dtype=np.float32)[:, None].repeat(2, 1)
    d = example.split_by_time(series, window=8, horizon=3)
    a, b = d["bounds"]
    (xt, yt), (xv, yv), (xs, ys) = d["train"], d["valid"], d["test"]
    raw = lambda z: z * d["std"][0] + d["mean"][0]  # noqa: E731
    assert float(raw(yt[-1, -1, 0])) == pytest.approx(a - 1) and float(raw(yv[0, 0, 0])) == pytest.approx(a)
    assert float(raw(yv[-1, -1, 0])) == pytest.approx(b - 1) and float(raw(ys[0, 0, 0])) == pytest.approx(b)
    assert float(raw(xv[0, -1, 0])) == pytest.approx(a - 1) and float(raw(xs[0, -1, 0])) == pytest.approx(b - 1)
    assert xt.shape[1:] == (8, 2) and ys.shape[1:] == (3, 2)


@pytest.fixture
def one_thread():
    """Train on one thread (restored after): on a shared 2-core machine the thread pools' contention made the 100 steps
    take 70 s instead of 3 s; the test passed both ways."""
    import numba

    torch_threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(torch_threads)
    numba.set_num_threads(numba_threads)


def test_spikf_go_beats_the_naive_forecast_on_the_var2_series(one_thread):
    series, a1, a2 = example.var2_series(1500, num_vars=4, seed=0)
    data = example.split_by_time(series, window=24, horizon=4)
    x_test, y_test = data["test"]
    naive = example.errors(x_test[:, -1:].expand_as(y_test), y_test)["mse"]
    torch.manual_seed(0)
    model = SpikFGO(4, 24, 4, embed=8, time_steps=2)
    example.train(model, data, steps=100, batch=32, lr=2e-2, seed=0, eval_every=50)
    mse = example.errors(example.predict(model, x_test), y_test)["mse"]
    assert mse < 0.6 * naive, (mse, naive)  # measured 0.41 x naive


def test_bad_inputs_raise_clear_errors():
    model = SpikFGO(num_vars=3, window=10, horizon=2, embed=4, time_steps=2)
    with pytest.raises(ValueError, match=r"x must have shape \[B, 10, 3\].*got \(4, 3, 10\)"):
        model(torch.randn(4, 3, 10))
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.randn(10, 3))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.zeros(2, 10, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        model(torch.full((2, 10, 3), float("nan")))
    with pytest.raises(ValueError, match="window must be a positive integer, got 0"):
        SpikFGO(num_vars=3, window=0, horizon=2)
    with pytest.raises(ValueError, match="tau must be > 1"):
        SpikFGO(num_vars=3, window=4, horizon=2, tau=0.5)
    with pytest.raises(ValueError, match=r"freq_gate must have shape \(4,\) for 6 nodes"):
        fourier_graph_conv(torch.randn(6, 3), ComplexLinear(3, 3), torch.ones(3))
    with pytest.raises(ValueError, match="holds no window"):
        example.windows(np.zeros((5, 2), np.float32), window=4, horizon=3)
