"""The fused LIF op is a proper torch custom op: opcheck passes, and torch.compile traces it (fake tensors, autograd)."""

from __future__ import annotations

import pytest
import torch

from neuro import nn as snn
from neuro.ops.lif import LIFParams
from neuro.ops.lif.autograd import _lif_backward_op, _lif_op


def test_opcheck_forward_and_backward_ops():
    torch.manual_seed(0)
    x = torch.randn(6, 40) + 0.7
    v0, beta = torch.zeros(40), torch.tensor([0.5])
    args = LIFParams().kernel_args()
    for need_h in (True, False):
        torch.library.opcheck(_lif_op, (x, v0, beta, *args, "numba", need_h), test_utils=("test_schema", "test_faketensor"))
    grads = (torch.ones(6, 40), torch.zeros(6, 40), torch.zeros(40))
    torch.library.opcheck(_lif_backward_op, (*grads, x, v0, beta, *args, "numba", True), test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("backend", [None, "numba"])
def test_torch_compile_traces_the_op_with_its_backward(backend):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(20, 30), snn.LIF(tau=2.0, backend=backend))

    def step(x):
        return model(x).sum()

    x = torch.randn(8, 4, 20)
    eager = step(x)
    eager.backward()
    g_eager = model[0].weight.grad.clone()
    model.zero_grad()
    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)  # fake-tensor tracing, no C++ codegen
    out = compiled(x)
    out.backward()
    assert out.item() == eager.item() > 0
    torch.testing.assert_close(model[0].weight.grad, g_eager, rtol=1e-6, atol=1e-6)
