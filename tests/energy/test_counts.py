"""Counting: a hand-computed two-layer network (every count, per step, every energy model exact), convolutions against
an independent binary-copy count, the input layouts, matrix products, element-wise layers, what is not counted."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuro.energy import estimate


class KnownSpikes(nn.Module):
    """A 'neuron' that emits a fixed spike pattern (for exact hand counts)."""

    is_spiking = True

    def __init__(self, spikes):
        super().__init__()
        self.register_buffer("pattern", spikes)

    def forward(self, x):
        return self.pattern.expand_as(x)


def two_layer():
    """x (T=2, B=1, 3 real values; 2 then 1 non-zero) -> fc1 (one zero weight) -> known spikes (3 then 1 of 4) -> fc2."""
    x = torch.tensor([[[0.5, 0.0, 2.0]], [[0.0, 0.0, 1.5]]])
    spikes = torch.tensor([[[1.0, 0.0, 1.0, 1.0]], [[0.0, 0.0, 0.0, 1.0]]])
    model = nn.Sequential(nn.Linear(3, 4), KnownSpikes(spikes), nn.Linear(4, 5))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(1.0, 13.0).reshape(4, 3))
        model[0].weight[0, 2] = 0.0  # input 2 reaches 3 synapses, not 4
    return model, x


def test_two_layer_network_every_count_exact():
    model, x = two_layer()
    rep = estimate(model, x)
    fc1, neurons, fc2 = rep.layers
    # fc1: real input -> MACs over (non-zero input, non-zero weight) pairs: step 0: 4 + 3, step 1: 3
    assert (fc1.role, fc1.input_spiking, fc1.params) == ("synaptic", False, 16)
    assert (fc1.dense_macs, fc1.dense_synops, fc1.effective_macs, fc1.effective_acs) == (24, 24, 10, 0)
    assert fc1.steps["effective_macs"] == [7, 3] and fc1.steps["input_nonzeros"] == [2, 1] and fc1.steps["dense_macs"] == [12, 12]
    assert (fc1.input_elements, fc1.output_elements) == (6, 8)
    # neurons: 3 then 1 spike out of 4
    assert (neurons.neuron_updates, neurons.spikes, neurons.firing_rate, neurons.steps["spikes"]) == (8, 4, 0.5, [3, 1])
    # fc2: spikes in -> ACs: each spike reaches 5 synapses
    assert (fc2.input_spiking, fc2.dense_macs, fc2.effective_acs, fc2.effective_macs, fc2.steps["effective_acs"]) == (True, 40, 20, 0, [15, 5])
    assert (rep.time_steps, rep.batch, rep.total_params, rep.uncounted) == (2, 1, 41, [])
    assert rep.per_step("effective_acs") == [15, 5] and rep.per_step("spikes") == [3, 1]
    # counted operations: 10 MACs x 4.6 pJ + 20 ACs x 0.9 pJ
    ops = rep.energy("ops")
    assert ops.total_pj == pytest.approx(10 * 4.6 + 20 * 0.9) and rep.energy_pj == pytest.approx(64.0)
    assert ops.per_step_pj == pytest.approx([7 * 4.6 + 15 * 0.9, 3 * 4.6 + 5 * 0.9])
    # convention: first layer dense MACs of one step (12) x E_MAC once; fc2: rate 0.5 x T x 20 FLOPs x E_AC
    conv = rep.energy("convention")
    assert conv.layer("0")["total_pj"] == pytest.approx(12 * 4.6) and conv.layer("2")["total_pj"] == pytest.approx(0.5 * 2 * 20 * 0.9)
    assert rep.energy("convention", first_layer_once=False).layer("0")["total_pj"] == pytest.approx(24 * 4.6)
    # memory-aware: ops + 8 updates x (MAC + AC) + traffic; every structure fits the 8 KB SRAM: 10 pJ / 64 bit
    mem = rep.energy("memory")
    bit = 10.0 / 64
    expected_traffic = {
        "0": (10 * 32) + (3 * 32) + (2 * 10 * 32 + 8 * 32),  # weights per effective op, non-zero inputs, partial sums r/w + outputs
        "1": (8 * 32) + (2 * 8 * 32) + 8,  # input currents, membrane read + write, spike bits
        "2": (20 * 32) + (4 * 1) + (2 * 20 * 32 + 10 * 32),
    }
    for name, bits in expected_traffic.items():
        row = mem.layer(name)
        assert sum(v for k, v in row["terms"].items() if k.startswith("mem:")) == pytest.approx(bits * bit), name
    assert mem.layer("1")["terms"]["neuron"] == pytest.approx(8 * (4.6 + 0.9))
    assert mem.total_pj == pytest.approx(64 + 8 * 5.5 + sum(expected_traffic.values()) * bit)
    assert mem.memory["0"]["weights"] == {"level": "SRAM 8 KB", "structure_bytes": 64.0, "bits": 320.0}
    text = rep.format_table()
    assert "45 nm" in text and "fp32: MAC 4.60 pJ, AC 0.90 pJ" in text and "SRAM 8 KB 10" in text and "energy per sample" in text


def test_quantized_layer_is_priced_at_its_integer_precision():
    model, x = two_layer()
    model[2].weight_bits = 8
    model[2].act_bits = 4
    rep = estimate(model, x)
    assert (rep.layers[2].weight_bits, rep.layers[2].act_bits) == (8, 4)
    assert rep.energy("ops").layer("2")["total_pj"] == pytest.approx(20 * 0.03)  # int8 accumulates
    assert rep.energy("convention").layer("2")["total_pj"] == pytest.approx(20 * 0.9)  # the convention stays at fp32
    assert rep.energy("memory").memory["2"]["weights"]["bits"] == 20 * 8


def neurobench_style_count(module, x, total=False):
    """Independent reference (NeuroBench's method): a copy of the layer with non-zero weights set to 1 and no bias,
    applied to the input with non-zeros set to 1 (all ones for the dense count)."""
    layer = copy.deepcopy(module)
    with torch.no_grad():
        layer.weight.copy_(torch.ones_like(layer.weight) if total else (layer.weight != 0).float())
        if layer.bias is not None:
            layer.bias.zero_()
        xb = torch.ones_like(x) if total else (x != 0).float()
        return int(layer(xb).sum().round().item())


@pytest.mark.parametrize("conv,shape", [
    (nn.Conv1d(3, 4, kernel_size=3, stride=2, padding=1), (2, 3, 3, 11)),
    (nn.Conv2d(4, 6, kernel_size=3, padding=1, groups=2), (2, 3, 4, 7, 6)),
    (nn.Conv2d(2, 3, kernel_size=(3, 2), stride=(2, 1), dilation=(1, 2), padding=(2, 1)), (3, 2, 2, 8, 9)),
    (nn.Conv2d(2, 4, kernel_size=3, padding=1, padding_mode="reflect"), (2, 2, 2, 6, 6)),
    (nn.Conv2d(2, 4, kernel_size=3, padding="same"), (2, 2, 2, 5, 5)),
    (nn.Conv3d(2, 2, kernel_size=2, padding=1), (2, 2, 2, 3, 4, 4)),
])
def test_convolution_effective_and_dense_counts_equal_a_binary_copy(conv, shape):
    torch.manual_seed(0)
    with torch.no_grad():
        conv.weight.mul_((torch.rand_like(conv.weight) > 0.3).float())  # pruned weights trigger nothing
    t = shape[0]
    x = (torch.rand(shape) < 0.3).float()

    class Folded(nn.Module):  # time folded into the batch: the layer sees [T*B, C, ...]
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return self.conv(x.flatten(0, 1))

    rep = estimate(Folded(), x)
    (c,) = rep.layers
    flat = x.flatten(0, 1)
    assert c.effective_acs == neurobench_style_count(conv, flat) and c.effective_macs == 0
    assert c.dense_synops == neurobench_style_count(conv, flat, total=True)
    out = conv(flat)
    assert c.dense_macs == out.numel() * conv.in_channels // conv.groups * conv.weight[0, 0].numel()
    per_step = [neurobench_style_count(conv, x[i]) for i in range(t)]
    assert c.steps["effective_acs"] == per_step
    rate = rep.energy("convention").layer("conv")["total_pj"] / 0.9
    assert rate == pytest.approx(float((x != 0).float().mean()) * c.dense_macs)


def test_corner_and_centre_spikes_of_a_padded_convolution():
    conv = nn.Conv2d(1, 3, kernel_size=3, padding=1)
    x = torch.zeros(1, 1, 1, 4, 4)
    x[0, 0, 0, 0, 0] = 1.0  # a corner pixel reaches a 2x2 patch of outputs
    x[0, 0, 0, 2, 2] = 1.0  # an inner pixel a 3x3 patch

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return self.conv(x.flatten(0, 1))

    (c,) = estimate(Model(), x).layers
    assert c.effective_acs == (4 + 9) * 3 and c.dense_macs == 16 * 3 * 9
    assert c.dense_synops == 3 * (4 * 4 + 8 * 6 + 4 * 9)  # corners, edges, inner output positions


def test_convolution_counts_follow_weights_pruned_between_calls_and_run_under_inference_mode():
    """The per-position coefficients are kept between calls: pruning in place (through ``.data``), a new input size
    and a new padding must each give the count of a fresh binary copy, inside ``torch.inference_mode`` too."""
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, kernel_size=3, padding=1)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return self.conv(x.flatten(0, 1))

    model = Model()
    for step, shape in enumerate([(2, 1, 2, 5, 5), (2, 1, 2, 5, 5), (2, 1, 2, 7, 4), (2, 1, 2, 7, 4)]):
        x = (torch.rand(shape) < 0.4).float()
        if step == 1:
            conv.weight.data[:, 0] = 0.0  # no version-counter trace
        if step == 3:
            conv.padding = (0, 0)
        with torch.inference_mode():
            (c,) = estimate(model, x).layers
        assert c.effective_acs == neurobench_style_count(conv, x.flatten(0, 1))


class SingleStep(nn.Module):
    """Calls its layers once per time step on [B, ...] slices (snntorch style)."""

    def __init__(self, fc1, neuron, fc2, batch_first=False):
        super().__init__()
        self.fc1, self.neuron, self.fc2, self.batch_first = fc1, neuron, fc2, batch_first

    def forward(self, x):
        steps = x.shape[1] if self.batch_first else x.shape[0]
        out = []
        for t in range(steps):
            xt = x[:, t] if self.batch_first else x[t]
            out.append(self.fc2(self.neuron(self.fc1(xt))))
        return torch.stack(out)


class StepSpikes(nn.Module):
    is_spiking = True

    def forward(self, x):
        return (x > 0).float()


@pytest.mark.parametrize("layout", ["TB", "BT", "single-TB", "single-BT"])
def test_every_input_layout_gives_the_same_per_step_counts(layout):
    torch.manual_seed(1)
    fc1, fc2 = nn.Linear(6, 8), nn.Linear(8, 3)
    x = torch.rand(4, 3, 6) * (torch.rand(4, 3, 6) > 0.4)  # [T, B, F]
    reference = estimate(nn.Sequential(fc1, StepSpikes(), fc2), x)
    if layout == "TB":
        rep = reference
    elif layout == "BT":
        class BT(nn.Module):
            def __init__(self):
                super().__init__()
                self.seq = nn.Sequential(fc1, StepSpikes(), fc2)

            def forward(self, xb):
                return self.seq(xb)  # sees [B, T, F]

        rep = estimate(BT(), x.transpose(0, 1).contiguous(), layout="BT")
    elif layout == "single-TB":
        rep = estimate(SingleStep(fc1, StepSpikes(), fc2), x)
    else:
        rep = estimate(SingleStep(fc1, StepSpikes(), fc2, batch_first=True), x.transpose(0, 1).contiguous(), layout="BT")
    for ref, got in zip(reference.layers, rep.layers):
        assert got.steps == ref.steps, (layout, got.name)
        assert (got.effective_acs, got.effective_macs, got.spikes, got.unattributed_calls) == (ref.effective_acs, ref.effective_macs, ref.spikes, 0)
    assert rep.batch == 3 and rep.time_steps == 4


def test_dataloader_of_batches_accumulates_samples():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 4), StepSpikes(), nn.Linear(4, 2))
    xs = [(torch.rand(3, b, 5) > 0.5).float() for b in (2, 3)]
    rep = estimate(model, [(x, torch.zeros(x.shape[1])) for x in xs])
    one = [estimate(model, x) for x in xs]
    assert rep.batch == 5
    assert rep.layers[0].effective_acs == sum(r.layers[0].effective_acs for r in one)
    assert rep.layers[0].steps["effective_acs"] == [a + b for a, b in zip(*(r.layers[0].steps["effective_acs"] for r in one))]
    with pytest.raises(ValueError, match="same number of time steps"):
        estimate(model, [torch.rand(3, 2, 5), torch.rand(4, 2, 5)])


class SpikingAttention(nn.Module):
    """Q K^T V with spike tensors, then the same through scaled_dot_product_attention and a functional linear."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(3, 4))

    def forward(self, x):
        q, k, v = (x > 0.3).float(), (x > 0.6).float(), (x > 0.5).float()
        a = q @ k.transpose(-2, -1)  # spike x spike: ACs
        y = torch.matmul(a, v)  # integer scores x spikes: ACs
        z = F.scaled_dot_product_attention(x, x, x)  # real: MACs
        w = F.linear(x * 2.5, self.w * 0.5)  # real x real: MACs
        return y + z, w, torch.einsum("...ij,...kj->...ik", x, x)


def test_matrix_products_in_attention_are_counted_by_their_spike_form():
    torch.manual_seed(3)
    x = torch.rand(2, 3, 5, 4)  # [T, B, tokens, dim]
    rep = estimate(SpikingAttention(), x)
    mm0, mm1, qk, av, lin = rep.layers
    q, k, v = (x > 0.3).float(), (x > 0.6).float(), (x > 0.5).float()
    a = q @ k.transpose(-2, -1)
    assert (mm0.role, mm0.input_spiking, mm0.operand_spiking) == ("matmul", True, True)
    assert mm0.dense_macs == 2 * 3 * 5 * 4 * 5 and mm0.effective_acs == int(((q != 0).float() @ (k != 0).float().transpose(-2, -1)).sum())
    assert mm0.steps["effective_acs"] == [int(((q[i] != 0).float() @ (k[i] != 0).float().transpose(-2, -1)).sum()) for i in range(2)]
    assert (mm1.input_spiking, mm1.operand_spiking, mm1.effective_macs) == (False, True, 0)
    assert mm1.effective_acs == int(((a != 0).float() @ (v != 0).float()).sum())
    assert qk.effective_macs == qk.dense_macs == 2 * 3 * 5 * 4 * 5 and av.effective_macs == av.dense_macs == 2 * 3 * 5 * 5 * 4
    assert lin.effective_macs == lin.dense_macs == 2 * 3 * 5 * 4 * 3
    assert rep.uncounted == ["SpikingAttention: einsum (functional call)"]
    assert ("w", 12) in rep.loose_params
    assert estimate(SpikingAttention(), x, count_matmul=False).layers == []


def test_elementwise_layers_and_what_is_not_counted():
    class Custom(nn.Module):
        def forward(self, x):
            return x * 2

    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.LayerNorm(8), Custom(), nn.Dropout(0.1), nn.Linear(8, 2), nn.GRU(2, 2))
    model.pop(-1)
    model.eval()
    x = torch.randn(3, 2, 1, 4, 4)

    class Folded(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, x):
            return self.net(x.flatten(0, 1))

    rep = estimate(Folded(), x)
    by = {c.name: c for c in rep.layers}
    n = 3 * 2
    assert by["net.1"].other_ops == n * 2 * 16  # BatchNorm: 1 per element
    relu = by["net.2"]
    assert relu.other_ops == n * 32 and relu.output_nonzeros == int((model[2](model[1](model[0](x.flatten(0, 1)))) != 0).sum())
    assert by["net.3"].other_ops == n * 8 * 4  # max pool 2x2: 4 comparisons per output
    assert by["net.5"].other_ops == n * 8 * 4  # LayerNorm: 4 per element
    assert rep.uncounted == ["net.6 (Custom)"]
    assert "net.7" not in by  # dropout does no work


def test_foreign_neurons_are_recognised_without_importing_their_packages():
    from neuro.energy.recognise import foreign_family, is_spiking

    def fake(module_path, name, base=nn.Module):
        return type(name, (base,), {"__module__": module_path})()

    base_node = type("BaseNode", (nn.Module,), {"__module__": "spikingjelly.activation_based.neuron.base_node"})
    snn_base = type("SpikingNeuron", (nn.Module,), {"__module__": "snntorch._neurons.neurons"})
    assert foreign_family(fake("spikingjelly.activation_based.neuron.lif", "LIFNode", base_node)) == "spikingjelly"
    assert foreign_family(fake("snntorch._neurons.leaky", "Leaky", snn_base)) == "snntorch"
    assert foreign_family(fake("norse.torch.module.lif", "LIFCell")) == "norse"
    assert not is_spiking(fake("norse.torch.module.lif", "LIFRecurrentCell")) and not is_spiking(fake("mylib", "LIFNode"))
    assert not is_spiking(nn.ReLU())


def test_spikingjelly_multistep_neuron_counted():
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    layer = pytest.importorskip("spikingjelly.activation_based.layer")
    model = nn.Sequential(layer.Linear(6, 5), neuron.LIFNode(tau=2.0, step_mode="m"), layer.Linear(5, 2))
    torch.manual_seed(4)
    x = torch.rand(4, 3, 6) * 3
    functional = pytest.importorskip("spikingjelly.activation_based.functional")
    rep = estimate(model, x, reset=functional.reset_net)
    fc1, lif, fc2 = rep.layers
    functional.reset_net(model)
    with torch.no_grad():
        spikes = model[1](model[0](x))
    assert lif.kind.endswith("(spikingjelly)") and lif.neuron_updates == 4 * 3 * 5 and lif.spikes == int(spikes.sum())
    assert fc2.effective_acs == int(spikes.sum()) * 2 and fc1.effective_macs == int((x != 0).sum()) * 5
