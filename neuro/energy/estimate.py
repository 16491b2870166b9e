r"""Counting operations from a model's real activity, and pricing them.

Definitions (per layer, summed over the T steps and the batch of the given inputs):

* **dense MACs** — what the layer would do on dense input: output elements x fan-in
  (``in_features`` for Linear, ``in_channels / groups * prod(kernel)`` for convolutions);
* **effective ACs** — when the input is binary (spikes), the synaptic operations actually
  triggered: each non-zero input element times the number of weights it touches (Linear:
  ``out_features``; convolution: counted exactly by convolving the non-zero mask with ones);
  this is NeuroBench's "effective" synaptic-operation count for spiking inputs;
* **effective MACs** — when the input is real-valued (first layer, analog paths): the same
  count over non-zero inputs, priced as MACs;
* **neuron updates** — one per neuron per step for spiking modules (``is_spiking = True``, or
  SpikingJelly / snntorch / norse neurons recognised by name), with their **firing rate**.

Energy follows the spiking-transformer convention: effective MACs x E_MAC + effective ACs x
E_AC (45 nm: 4.6 / 0.9 pJ in fp32). Neuron updates are reported, not priced, in that
convention; :func:`simulation_energy` prices a simulator run's events with the same table.
Modules that do work but are not understood are listed in ``Report.uncounted``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .tables import EnergyTable

_FOREIGN_SPIKING = ("spikingjelly", "snntorch", "norse")
_SYNAPTIC = (nn.Linear, nn.Conv1d, nn.Conv2d)
_NO_WORK = (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.Identity, nn.Dropout, nn.Flatten, nn.ReLU)


def is_spiking(module: nn.Module) -> bool:
    if getattr(type(module), "is_spiking", False):
        return True
    mod = type(module).__module__
    return mod.startswith(_FOREIGN_SPIKING) and any(k in type(module).__name__ for k in ("Node", "Leaky", "LIF", "IF", "Synaptic", "Cell"))


@dataclass
class LayerCounts:
    name: str
    kind: str
    params: int = 0
    dense_macs: int = 0
    effective_acs: int = 0
    effective_macs: int = 0
    neuron_updates: int = 0
    spikes: int = 0
    input_binary: bool | None = None
    weight_bits: int | None = None
    energy_pj: float = 0.0

    @property
    def firing_rate(self) -> float | None:
        return self.spikes / self.neuron_updates if self.neuron_updates else None


@dataclass
class Report:
    layers: list[LayerCounts]
    table: EnergyTable
    time_steps: int
    batch: int
    uncounted: list[str] = field(default_factory=list)

    def total(self, key: str) -> float:
        return sum(getattr(layer, key) for layer in self.layers)

    @property
    def energy_pj(self) -> float:
        return self.total("energy_pj")

    def per_sample_mj(self) -> float:
        return self.energy_pj / self.batch * 1e-9

    def bit_budget(self, weight_bits: int = 32, state_bits: int = 32) -> dict:
        r"""Bit budget of the spiking model and of its quantized-ANN counterpart (Shen et al., "Is Conventional SNN Really
        Efficient? A Perspective from Network Quantization", CVPR 2024).

        Per synaptic layer, with dense MACs per time step :math:`M`, weight bits :math:`b_w` (read from a layer's
        ``weight_bits`` when it has one) and :math:`T` steps: the SNN spends :math:`M\,T\,b_w \cdot 1` bit-operations
        on binary spikes; the ANN counterpart whose activations carry the same information as a T-step spike count uses
        :math:`b_a = \lceil \log_2(T + 1) \rceil` bits once: :math:`M\, b_w\, b_a`. Storage: weights
        :math:`\text{params} \cdot b_w` plus, for the SNN, one membrane state of ``state_bits`` per spiking neuron.
        """
        t = self.time_steps
        act_bits = math.ceil(math.log2(t + 1))
        rows, snn_ops, ann_ops = [], 0, 0
        for c in self.layers:
            if c.dense_macs:
                wb = c.weight_bits or weight_bits
                per_step = c.dense_macs / t / self.batch
                snn, ann = per_step * t * wb, per_step * wb * act_bits
                snn_ops, ann_ops = snn_ops + snn, ann_ops + ann
                rows.append({"layer": c.name, "weight_bits": wb, "snn_bit_ops": snn, "ann_bit_ops": ann, "weight_storage_bits": c.params * wb})
        neurons = sum(c.neuron_updates for c in self.layers) / t / self.batch
        w_storage = sum(r["weight_storage_bits"] for r in rows)
        return {"time_steps": t, "ann_activation_bits": act_bits, "layers": rows, "snn_bit_ops": snn_ops, "ann_bit_ops": ann_ops,
                "snn_storage_bits": w_storage + neurons * state_bits, "ann_storage_bits": w_storage}

    def format_table(self) -> str:
        rows = [f"energy table: {self.table.describe()}", f"T = {self.time_steps}, batch = {self.batch} (counts are per batch)",
                f"{'layer':<16}{'kind':<12}{'params':>10}{'dense MAC':>14}{'eff. AC':>14}{'eff. MAC':>14}{'updates':>12}{'rate':>8}{'energy nJ':>12}"]
        for c in self.layers:
            rate = "" if c.firing_rate is None else f"{c.firing_rate:.3f}"
            rows.append(f"{c.name:<16.16}{c.kind:<12.12}{c.params:>10}{c.dense_macs:>14}{c.effective_acs:>14}{c.effective_macs:>14}"
                        f"{c.neuron_updates:>12}{rate:>8}{c.energy_pj / 1e3:>12.2f}")
        rows.append(f"{'total':<28}{self.total('params'):>10}{self.total('dense_macs'):>14}{self.total('effective_acs'):>14}"
                    f"{self.total('effective_macs'):>14}{self.total('neuron_updates'):>12}{'':>8}{self.energy_pj / 1e3:>12.2f}")
        rows.append(f"energy per sample: {self.per_sample_mj():.4e} mJ")
        if self.uncounted:
            rows.append(f"not counted (no rule for these modules): {', '.join(self.uncounted)}")
        return "\n".join(rows)

    def to_json(self) -> str:
        return json.dumps({"table": self.table.name, "time_steps": self.time_steps, "batch": self.batch,
                           "layers": [{**asdict(c), "firing_rate": c.firing_rate} for c in self.layers],
                           "energy_pj": self.energy_pj, "energy_per_sample_mj": self.per_sample_mj(), "uncounted": self.uncounted}, indent=1)

    def plot(self, path: str | Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [c.name for c in self.layers]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
        a1.bar(names, [c.energy_pj / 1e3 for c in self.layers], color="tab:orange")
        a1.set_ylabel("energy per batch (nJ)")
        a1.set_title(f"Energy by layer ({self.table.name.split(',')[0]})")
        rates = [(c.name, c.firing_rate) for c in self.layers if c.firing_rate is not None]
        a2.bar([n for n, _ in rates], [r for _, r in rates], color="tab:blue")
        a2.set_ylabel("firing rate (spikes / neuron / step)")
        a2.set_title("Firing rate by spiking layer")
        for ax in (a1, a2):
            ax.tick_params(axis="x", rotation=30)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


def _fan(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return module.in_features
    return module.in_channels // module.groups * math.prod(module.kernel_size)


def _effective(module: nn.Module, x: torch.Tensor) -> int:
    """Weights touched by the non-zero inputs (exact, including convolution borders, stride and padding)."""
    mask = (x != 0).to(torch.float32)
    if isinstance(module, nn.Linear):
        return int(mask.sum().item()) * module.out_features
    ones = torch.ones(module.out_channels, module.in_channels // module.groups, *module.kernel_size)
    conv = F.conv1d if isinstance(module, nn.Conv1d) else F.conv2d
    padding = module.padding if isinstance(module.padding, str) else module.padding
    out = conv(mask.cpu(), ones, stride=module.stride, padding=padding, dilation=module.dilation, groups=module.groups)
    return int(out.sum().item())


@torch.no_grad()
def estimate(model: nn.Module, inputs: torch.Tensor, table: EnergyTable | str = "horowitz45nm", precision: str = "fp32",
             time_steps: int | None = None) -> Report:
    """Run ``model(inputs)`` once and count every layer's operations (see the module docstring).

    ``inputs`` is ``[T, B, ...]`` for multi-step models (``time_steps`` defaults to ``inputs.shape[0]``
    and the batch to ``inputs.shape[1]``); layers may see ``[T, B, ...]`` or flattened ``[T*B, ...]`` tensors.
    """
    table = EnergyTable.load(table) if isinstance(table, str) else table
    e_mac, e_ac = table.mac(precision), table.ac(precision)
    counts: dict[nn.Module, LayerCounts] = {}
    order: list[nn.Module] = []
    uncounted: list[str] = []
    hooks = []

    def synaptic_hook(module, args, output):
        x = args[0]
        c = counts[module]
        batch_items = x.shape[: x.dim() - (1 if isinstance(module, nn.Linear) else (2 if isinstance(module, nn.Conv1d) else 3))]
        n_items = math.prod(batch_items) if len(batch_items) else 1
        per_item_out = output.numel() // max(n_items, 1)
        c.dense_macs += n_items * per_item_out * _fan(module)
        binary = bool(((x == 0) | (x == 1)).all())
        c.input_binary = binary if c.input_binary is None else (c.input_binary and binary)
        flat = x.reshape(-1, *x.shape[x.dim() - (1 if isinstance(module, nn.Linear) else (2 if isinstance(module, nn.Conv1d) else 3)):])
        eff = _effective(module, flat)
        if binary:
            c.effective_acs += eff
        else:
            c.effective_macs += eff

    def neuron_hook(module, args, output):
        out = output[0] if isinstance(output, tuple) else output
        c = counts[module]
        c.neuron_updates += out.numel()
        c.spikes += int((out != 0).sum().item())

    for name, module in model.named_modules():
        if isinstance(module, _SYNAPTIC):
            counts[module] = LayerCounts(name or type(module).__name__, type(module).__name__, params=sum(p.numel() for p in module.parameters()),
                                         weight_bits=getattr(module, "weight_bits", None))
            hooks.append(module.register_forward_hook(synaptic_hook))
            order.append(module)
        elif is_spiking(module):
            counts[module] = LayerCounts(name or type(module).__name__, type(module).__name__)
            hooks.append(module.register_forward_hook(neuron_hook))
            order.append(module)
        elif not list(module.children()) and not isinstance(module, _NO_WORK) and name:
            uncounted.append(f"{name} ({type(module).__name__})")
    try:
        model(inputs)
    finally:
        for h in hooks:
            h.remove()
    layers = [counts[m] for m in order]
    for c in layers:
        c.energy_pj = c.effective_macs * e_mac + c.effective_acs * e_ac
    t = time_steps if time_steps is not None else inputs.shape[0]
    batch = inputs.shape[1] if inputs.dim() > 1 else 1
    return Report(layers, table, t, batch, uncounted)


def simulation_energy(counts: dict, table: EnergyTable | str = "horowitz45nm", precision: str = "fp32",
                      neuron_update_macs: float = 1.0) -> dict:
    """Energy of a simulator run from its counted events (``Network.counts``).

    Each synaptic event is one accumulate (E_AC); each neuron update is priced as
    ``neuron_update_macs`` MACs (one multiply-add for the leak of a LIF neuron; raise it for
    richer models). Returns the counts, the per-kind energies (pJ) and the table used.
    """
    table = EnergyTable.load(table) if isinstance(table, str) else table
    for key in ("synaptic_events", "neuron_updates"):
        if key not in counts:
            raise ValueError(f"counts must have {key!r} (a Network.counts dict), got keys {sorted(counts)}")
    syn = counts["synaptic_events"] * table.ac(precision)
    neu = counts["neuron_updates"] * neuron_update_macs * table.mac(precision)
    return {"table": table.name, "synaptic_pj": syn, "neuron_pj": neu, "total_pj": syn + neu, **counts}
