"""Agreement with NeuroBench 2.3 on the same model and inputs, exactly.

Mapping of the definitions (ours -> NeuroBench), per sample:

* ``effective_acs`` / ``effective_macs`` / ``dense_synops`` summed over Linear and Conv layers
  -> ``SynapticOperations`` ``Effective_ACs`` / ``Effective_MACs`` / ``Dense``. Both count the
  (input, weight) pairs with both non-zero, as ACs when every input value is in {-1, 0, 1}; ``Dense``
  takes every input and weight as non-zero and so skips zero-padded borders (our ``dense_macs``, the
  FLOPs convention, does not: it differs from ``Dense`` for padded convolutions).
* ``Report.activation_sparsity()`` -> ``ActivationSparsity``: zero outputs over all outputs of the spiking
  neurons and of ReLU / Sigmoid layers.
* ``Report.membrane_updates()`` -> ``MembraneUpdates``: for neurons exposing ``mem`` (snntorch), the
  elements of ``mem`` that changed at each call, all of them at the first call. Our ``neuron_updates``
  (one per neuron per step, the dense count) is the upper bound it reaches when every potential moves.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuro.energy import estimate

snntorch = pytest.importorskip("snntorch")
workload = pytest.importorskip("neurobench.metrics.workload")
benchmarks = pytest.importorskip("neurobench.benchmarks")
models = pytest.importorskip("neurobench.models")


class ConvSNN(nn.Module):
    """snntorch single-step net: conv (padded, some weights pruned) -> Leaky -> pool -> linear -> Leaky -> linear -> Leaky."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.lif1 = snntorch.Leaky(beta=0.8, init_hidden=True, threshold=0.3)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(4 * 3 * 3, 12)
        self.lif2 = snntorch.Leaky(beta=0.8, init_hidden=True, threshold=0.3)
        self.fc2 = nn.Linear(12, 5)
        self.lif3 = snntorch.Leaky(beta=0.8, init_hidden=True, threshold=0.3, output=True)
        with torch.no_grad():
            self.conv.weight.mul_((torch.rand_like(self.conv.weight) > 0.25).float())

    def forward(self, x):
        s = self.lif1(self.conv(x))
        s = self.lif2(self.fc1(self.pool(s).flatten(1)))
        return self.lif3(self.fc2(s))


class OverTime(nn.Module):
    """What NeuroBench's SNNTorchModel does with [B, T, ...] data, as a module: reset, then one call per step."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        snntorch.utils.reset(self.net)
        return torch.stack([self.net(x[:, t])[0] for t in range(x.shape[1])], 1)


def neurobench_counts(net, x):
    data = [(x, torch.zeros(x.shape[0]))]
    bench = benchmarks.Benchmark(models.SNNTorchModel(net), data, [], [],
                                 [[], [workload.SynapticOperations, workload.ActivationSparsity, workload.MembraneUpdates]])
    try:
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(x.shape[0])), batch_size=x.shape[0])
        return bench.run(dataloader=loader, quiet=True)
    finally:
        bench.workload_metric_manager.cleanup_hooks(bench.model)


@pytest.mark.parametrize("input_kind", ["real", "spikes", "signed spikes"])
def test_synops_sparsity_and_membrane_updates_equal_neurobench(input_kind):
    torch.manual_seed(0)
    net = ConvSNN().eval()
    shape = (3, 4, 2, 6, 6)  # [B, T, C, H, W], NeuroBench's layout
    if input_kind == "real":
        x = torch.rand(shape) * (torch.rand(shape) > 0.5)
    elif input_kind == "spikes":
        x = (torch.rand(shape) < 0.3).float()
    else:
        x = (torch.rand(shape) < 0.2).float() - (torch.rand(shape) < 0.2).float()
    theirs = neurobench_counts(net, x)
    rep = estimate(OverTime(net), x, layout="BT")
    ours = rep.synaptic_operations()
    assert ours == {k: theirs["SynapticOperations"][k] for k in ("Effective_MACs", "Effective_ACs", "Dense")}
    assert rep.activation_sparsity() == pytest.approx(theirs["ActivationSparsity"], abs=0, rel=1e-12)
    assert rep.membrane_updates() / rep.samples == theirs["MembraneUpdates"]
    # the definitions that differ, stated: FLOPs-convention dense MACs exceed NeuroBench's Dense at the padded border
    conv = rep.layer("net.conv")
    assert conv.dense_macs > conv.dense_synops
    assert rep.membrane_updates() <= rep.total("neuron_updates")
    if input_kind == "real":
        assert theirs["SynapticOperations"]["Effective_MACs"] > 0 and conv.effective_acs == 0
    else:
        assert conv.effective_macs == 0
    # every step of the loop was attributed to its time step
    assert all(c.unattributed_calls == 0 for c in rep.layers) and rep.time_steps == 4
