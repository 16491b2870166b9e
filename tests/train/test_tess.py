"""TESS: the --quick run of examples/tess_digits.py (local learning beats chance and the untrained network on the digits;
its memory does not grow with T while BPTT's does); the rule is local."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from neuro.train.tess import TESSNetwork, TESSParameters, fit, heap_in_use


@pytest.fixture(autouse=True)
def one_thread():
    """Small matrices: one torch thread is faster, and much faster on a loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm[360:]], y[perm[360:]], x[perm[:360]], y[perm[:360]]


def test_quick_run_learns_the_digits_and_tess_memory_does_not_grow_with_T(tmp_path):
    """The example's --quick run. Digits (64-128-128-10, T = 10, 2 epochs): TESS's test accuracy at least 0.3 above
    chance (0.1) and above the same network untrained; BPTT from the same weights learns too. Peak heap of one
    training step from T = 10 to 100: TESS's constant, BPTT's growing with T and 10x TESS's at T = 100."""
    pytest.importorskip("sklearn")
    try:
        heap_in_use()
    except RuntimeError as exc:
        pytest.skip(str(exc))  # not glibc: the heap cannot be read
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
    import tess_digits as ex

    r = ex.main(["--quick", "--no-progress", "--out", str(tmp_path)])
    assert r["config"]["epochs"] == ex.QUICK["epochs"] == 2 and ex.QUICK["memory_T"] == [10, 25, 50, 100]
    acc = r["accuracy"]
    assert acc["digits_tess"] >= 0.1 + 0.3 and acc["digits_tess"] >= acc["digits_untrained"] + 0.3, acc
    assert acc["digits_bptt"] >= 0.1 + 0.3, acc
    tess, bptt = r["memory_bytes"]["tess"], r["memory_bytes"]["bptt"]
    assert tess[-1] < 1.5 * tess[0], tess  # constant in T (10x more steps)
    assert bptt[-1] > 5 * bptt[0], bptt  # linear in T
    assert bptt[-1] > 10 * tess[-1], (tess, bptt)
    assert (tmp_path / "tess_digits.png").is_file() and (tmp_path / "tess_digits.json").is_file()


def test_hidden_layers_learn_from_their_own_signal_only():
    """Spatial locality: a layer's update does not change when the layers above it (or the readout) change."""
    torch.manual_seed(0)
    x = (torch.rand(12, 16, 20) < 0.4).float()
    y = torch.randint(0, 4, (16,))
    a = TESSNetwork([20, 30, 30], 4, seed=3)
    b = TESSNetwork([20, 30, 30], 4, seed=3)
    with torch.no_grad():
        b.layers[1].weight.mul_(-2.0)
        b.readout.weight.normal_()
    a.tess_step(x, y)
    b.tess_step(x, y)
    assert a.layers[0].weight.grad.abs().sum() > 0
    torch.testing.assert_close(a.layers[0].weight.grad, b.layers[0].weight.grad, rtol=0, atol=0)
    assert not torch.equal(a.layers[1].weight.grad, b.layers[1].weight.grad)


def test_update_uses_only_the_learning_window():
    """Temporal locality: with learn_steps=2, inputs changed after the window's start do not matter before it and a
    step-by-step eligibility sum matches the layer's gradient."""
    torch.manual_seed(1)
    p = TESSParameters(learn_steps=2, alpha_post=0.7, alpha_pre=1.3, lambda_post=0.3, lambda_pre=0.6)
    net = TESSNetwork([5, 7], 3, params=p, seed=0)
    x = (torch.rand(6, 4, 5) < 0.5).float()
    y = torch.tensor([0, 1, 2, 0])
    net.tess_step(x, y)
    # the rule by hand, one neuron at a time, from its definition
    w = net.layers[0].weight.detach()
    basis = net.basis0
    u = torch.zeros(4, 7)
    s = torch.zeros(4, 7)
    tr_x, tr_psi = torch.zeros(4, 5), torch.zeros(4, 7)
    expected = torch.zeros_like(w)
    for t in range(6):
        u = (p.beta * (u - p.v_th * s) + x[t] @ w.T) if t else x[t] @ w.T
        s = (u >= p.v_th).float()
        psi = 1.0 / (p.slope * (u - p.v_th).abs() + 1.0) ** 2
        tr_x = p.lambda_pre * tr_x + x[t]
        if t >= 4:
            delta = (torch.softmax(s @ basis.T, 1) - torch.nn.functional.one_hot(y, 3)) @ basis / 4
            for b in range(4):
                expected += delta[b][:, None] * (p.alpha_post * tr_psi[b][:, None] * x[t, b][None] + p.alpha_pre * psi[b][:, None] * tr_x[b][None])
        tr_psi = p.lambda_post * tr_psi + psi
    torch.testing.assert_close(net.layers[0].weight.grad, expected, rtol=1e-5, atol=1e-7)


def test_bad_input():
    with pytest.raises(ValueError, match="lambda_pre must be in \\[0, 1\\], got 1.5"):
        TESSParameters(lambda_pre=1.5)
    with pytest.raises(ValueError, match="learn_steps must be an integer >= 1 or None, got 0"):
        TESSParameters(learn_steps=0)
    with pytest.raises(ValueError, match="sizes must list >= 2 positive integers"):
        TESSNetwork([64], 10)
    net = TESSNetwork([8, 4], 3)
    with pytest.raises(ValueError, match=r"x_seq must be \[T, B, 8\], got \[2, 8\]"):
        net(torch.zeros(2, 8))
    with pytest.raises(ValueError, match=r"y must be \[B\] = \[2\] class indices, got \[3\]"):
        net.tess_step(torch.zeros(5, 2, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="method must be 'tess' or 'bptt', got 'sgd'"):
        fit(net, torch.zeros(4, 8), torch.zeros(4, dtype=torch.long), lambda b: b[None], method="sgd")
