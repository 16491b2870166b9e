"""Our multi-step LIF equals SpikingJelly 2.0's LIFNode(step_mode='m'): spikes, membrane potentials, input gradients (float32, 1e-5)."""

from __future__ import annotations

import pytest
import torch

from neuro.ops.lif import LIFParams
from neuro.ops.lif.autograd import lif_multi_step

neuron = pytest.importorskip("spikingjelly.activation_based.neuron", reason="spikingjelly comes with the test environment")
surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")


def _v_after_reset(h, s, p: LIFParams):
    s = s.detach() if p.detach_reset else s  # the same reset path as inside the op
    return h - p.v_th * s if p.soft_reset else h * (1 - s) + p.v_reset * s


@pytest.mark.parametrize("backend", ["torch", "numba"])
@pytest.mark.parametrize(
    "tau, v_reset, decay_input, detach_reset",
    [(2.0, 0.0, True, False), (2.0, 0.0, True, True), (3.0, None, True, False), (1.5, -0.2, False, False), (4.0, None, False, True)],
)
def test_matches_spikingjelly_lifnode(backend, tau, v_reset, decay_input, detach_reset):
    torch.manual_seed(0)
    x = (torch.randn(16, 4, 64) * 1.5 + 0.8).requires_grad_(True)
    sj = neuron.LIFNode(tau=tau, decay_input=decay_input, v_threshold=1.0, v_reset=v_reset, surrogate_function=surrogate.Sigmoid(alpha=4.0),
                        detach_reset=detach_reset, step_mode="m", store_v_seq=True)
    s_ref = sj(x)
    v_ref = sj.v_seq
    g = torch.randn_like(s_ref)
    (gx_ref,) = torch.autograd.grad((s_ref * g).sum() + (v_ref * 0.3).sum(), x)

    # SpikingJelly leaks towards v_reset (0 under soft reset)
    p = LIFParams(v_th=1.0, v_reset=v_reset, v_leak=0.0 if v_reset is None else v_reset, decay_input=decay_input,
                  detach_reset=detach_reset, surrogate="sigmoid", alpha=4.0)
    s, h, _ = lif_multi_step(x, None, 1.0 - 1.0 / tau, p, backend=backend)
    v = _v_after_reset(h, s, p)
    (gx,) = torch.autograd.grad((s * g).sum() + (v * 0.3).sum(), x)

    assert s.sum() > 0
    torch.testing.assert_close(s, s_ref, rtol=0, atol=0)
    torch.testing.assert_close(v, v_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-5)
