"""The report of :func:`neuro.energy.estimate`: counts per layer and per step, three energy models, bit budget, table, JSON, charts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .bitbudget import bit_budget as _bit_budget
from .counting import STEP_KEYS, LayerCounts
from .models import MODELS, EnergyBreakdown, EnergyOptions, evaluate
from .tables import EnergyTable

_NEUROBENCH_ACTIVATIONS = ("ReLU", "Sigmoid")

#: a model whose neurons fire less than this (spikes per neuron per step, over all its spiking layers) is called silent
SILENT_RATE = 1e-3
_CALIBRATE_HINT = ("a network with random weights usually falls silent: set BatchNorm statistics from real inputs "
                   "(neuro energy --calibrate-bn N; neuro.energy.cli.calibrate_batchnorm) or load trained weights")


class SilentNetworkWarning(RuntimeWarning):
    """The model barely fired (or some spiking layers never fired): its energy describes a network that does (almost) nothing."""


@dataclass
class Report:
    """Counts of every layer (whole run: all batches, all steps), with the table and assumptions used to price them.

    ``batch`` is the number of samples; ``energy(model)`` prices the counts with ``convention``, ``ops`` or ``memory``
    (see :mod:`neuro.energy.models`); ``LayerCounts.energy_pj`` holds the ``ops`` model.
    """

    layers: list[LayerCounts]
    table: EnergyTable
    time_steps: int
    batch: int
    uncounted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    precision: str = "fp32"
    total_params: int = 0
    loose_params: list = field(default_factory=list)
    options: EnergyOptions | None = None

    def __post_init__(self):
        if self.options is None:
            self.options = EnergyOptions(precision=self.precision)
        ops = self.energy("ops")
        for c, row in zip(self.layers, ops.layers):
            c.energy_pj = row["total_pj"]

    # -- numbers --------------------------------------------------------------------------------
    @property
    def samples(self) -> int:
        return self.batch

    def layer(self, name: str) -> LayerCounts:
        for c in self.layers:
            if c.name == name:
                return c
        raise KeyError(f"no layer {name!r}; layers: {[c.name for c in self.layers]}")

    def total(self, key: str) -> float:
        return sum(getattr(c, key) or 0 for c in self.layers)

    def per_step(self, key: str) -> list[int]:
        """The whole model's count ``key`` at each time step (summed over layers and samples)."""
        if key not in STEP_KEYS:
            raise ValueError(f"per-step counts exist for {STEP_KEYS}, not {key!r}")
        out = [0] * self.time_steps
        for c in self.layers:
            for i, v in enumerate(c.steps.get(key, ())):
                out[i] += v
        return out

    def energy(self, model: str = "memory", **overrides) -> EnergyBreakdown:
        """Price the counts with one model; ``overrides`` change the :class:`EnergyOptions` (e.g. ``state_bits=16``)."""
        opts = replace(self.options, **overrides) if overrides else self.options
        return evaluate(model, self.layers, self.table, opts, self.time_steps, self.batch)

    def energy_from_rates(self, rates, time_steps: int | None = None, *, first_layer_once: bool | None = None, default_rate: float | None = None,
                          strict: bool = False):
        """The convention re-priced with supplied input firing rates per layer (name or ``fnmatch`` pattern) over
        ``time_steps`` steps (default: the report's), on this report's dense FLOPs per sample and step; see
        :mod:`neuro.energy.rates`. Returns a :class:`~neuro.energy.rates.RateEnergy` (per sample)."""
        from .rates import price_with_rates

        return price_with_rates(self.layers, self.table, rates, self.time_steps if time_steps is None else time_steps, samples=self.batch,
                                report_time_steps=self.time_steps, precision=self.options.precision,
                                first_layer_once=self.options.first_layer_once if first_layer_once is None else first_layer_once,
                                default_rate=default_rate, strict=strict)

    @property
    def energy_pj(self) -> float:
        """Counted-operations energy (``ops`` model) of the whole run."""
        return self.total("energy_pj")

    def per_sample_mj(self, model: str = "ops") -> float:
        return self.energy(model).per_sample_mj() if model != "ops" else self.energy_pj / self.batch * 1e-9

    def activation_sparsity(self) -> float:
        """NeuroBench's activation sparsity: zero outputs / all outputs of spiking neurons, ReLU and Sigmoid layers."""
        acts = [c for c in self.layers if c.role == "neuron" or (c.role == "activation" and c.kind in _NEUROBENCH_ACTIVATIONS)]
        total = sum(c.output_elements for c in acts)
        return (total - sum(c.output_nonzeros for c in acts)) / total if total else 0.0

    def spike_rate(self) -> float | None:
        """Spikes per neuron per step over all spiking layers (None: the model has no spiking layer)."""
        neurons = [c for c in self.layers if c.role == "neuron" and c.neuron_updates]
        if not neurons:
            return None
        return sum(c.spikes for c in neurons) / sum(c.neuron_updates for c in neurons)

    def silent_layers(self) -> list[str]:
        """Names of the spiking layers that did not fire once in the whole run."""
        return [c.name for c in self.layers if c.role == "neuron" and c.neuron_updates and c.spikes == 0]

    def silence(self) -> str | None:
        """Why these numbers may describe a network that does (almost) nothing, or ``None``: the model's firing rate is
        below :data:`SILENT_RATE`, or some spiking layers never fired (named)."""
        rate = self.spike_rate()
        if rate is None:
            return None
        silent = self.silent_layers()
        n_spiking = sum(1 for c in self.layers if c.role == "neuron" and c.neuron_updates)
        shown = ", ".join(silent[:8]) + (f" and {len(silent) - 8} more" if len(silent) > 8 else "")
        if rate < SILENT_RATE:
            what = "silent" if rate == 0 else "nearly silent"
            return (f"{what} network: {rate:.3g} spikes per neuron per step over all spiking layers (< {SILENT_RATE:g}); "
                    f"{len(silent)} of {n_spiking} spiking layers never fired" + (f" ({shown})" if silent else "")
                    + f". Spike-driven work and its energy are then close to zero: {_CALIBRATE_HINT}")
        if silent:
            return (f"{len(silent)} of {n_spiking} spiking layers never fired ({shown}): the layers they feed count no spike-driven "
                    f"work. If that is not expected, {_CALIBRATE_HINT}")
        return None

    def membrane_updates(self) -> int | None:
        """NeuroBench's membrane updates (whole run), from the neurons that expose ``mem``; None if none does."""
        vals = [c.membrane_changes for c in self.layers if c.membrane_changes is not None]
        return sum(vals) if vals else None

    def synaptic_operations(self) -> dict:
        """NeuroBench's ``SynapticOperations`` per sample: Effective_MACs, Effective_ACs, Dense (Linear and Conv layers)."""
        syn = [c for c in self.layers if c.role == "synaptic"]
        n = self.batch
        return {"Effective_MACs": sum(c.effective_macs for c in syn) / n, "Effective_ACs": sum(c.effective_acs for c in syn) / n,
                "Dense": sum(c.dense_synops for c in syn) / n}

    def bit_budget(self, weight_bits: int | None = None, state_bits: int | None = None, activation_bits: int | None = None) -> dict:
        """Bit budget of the SNN and its quantized-ANN counterpart, per sample (see :mod:`neuro.energy.bitbudget`)."""
        width = self.table.bits(self.options.precision)

        def pick(given, option):
            return given if given is not None else (option or width)

        return _bit_budget(self.layers, self.time_steps, self.batch, pick(weight_bits, self.options.weight_bits),
                           pick(activation_bits, self.options.activation_bits), pick(state_bits, self.options.state_bits))

    # -- output ---------------------------------------------------------------------------------
    def describe_options(self) -> str:
        o = self.options
        width = self.table.bits(o.precision)
        return (f"assumptions: precision {o.precision}; weights {o.weight_bits or width} b, real activations {o.activation_bits or width} b, "
                f"potentials / partial sums {o.state_bits or width} b (unless a layer sets weight_bits / act_bits); neuron update = "
                f"{o.neuron_macs:g} MAC + {o.neuron_acs:g} AC; the convention counts a real-input first layer "
                + ("once per sample" if o.first_layer_once else "at every step"))

    def format_table(self) -> str:
        e = {m: self.energy(m) for m in MODELS}
        n = self.batch
        silence = self.silence()
        rows = [f"WARNING: {silence}"] if silence else []
        rows += [self.table.describe(), self.describe_options(),
                f"T = {self.time_steps}, samples = {n}; counts are for the whole run (all samples, all steps), energies per sample"]
        w = max([5] + [len(c.name) for c in self.layers]) + 2
        k = max([4] + [len(c.kind) for c in self.layers]) + 2
        head = (f"{'layer':<{w}}{'kind':<{k}}{'params':>11}{'dense MAC':>15}{'eff. AC':>15}{'eff. MAC':>15}{'other ops':>13}"
                f"{'updates':>13}{'rate':>7}{'conv. nJ':>14}{'ops nJ':>14}{'memory nJ':>14}")
        rows += [head, "-" * len(head)]
        for i, c in enumerate(self.layers):
            rate = c.firing_rate if c.role == "neuron" else None
            rate_s = "" if rate is None else f"{rate:.3f}"
            en = [e[m].layers[i]["total_pj"] / n / 1e3 for m in MODELS]
            rows.append(f"{c.name:<{w}}{c.kind:<{k}}{c.params:>11}{c.dense_macs:>15}{c.effective_acs:>15}{c.effective_macs:>15}"
                        f"{c.other_ops:>13}{c.neuron_updates:>13}{rate_s:>7}{en[0]:>14.3f}{en[1]:>14.3f}{en[2]:>14.3f}")
        rows.append("-" * len(head))
        tot = [e[m].per_sample_pj / 1e3 for m in MODELS]
        rows.append(f"{'total':<{w + k}}{self.total_params:>11}{self.total('dense_macs'):>15}{self.total('effective_acs'):>15}"
                    f"{self.total('effective_macs'):>15}{self.total('other_ops'):>13}{self.total('neuron_updates'):>13}{'':>7}"
                    f"{tot[0]:>14.3f}{tot[1]:>14.3f}{tot[2]:>14.3f}")
        mem_terms = {k: v for k, v in e["memory"].by_term().items() if k.startswith("mem:")}
        mem_total = sum(mem_terms.values())
        rows.append(f"energy per sample: convention {e['convention'].per_sample_mj():.4e} mJ | counted ops {e['ops'].per_sample_mj():.4e} mJ | "
                    f"memory-aware {e['memory'].per_sample_mj():.4e} mJ (memory {mem_total / n * 1e-9:.4e} mJ: "
                    + ", ".join(f"{k[5:]} {v / n * 1e-9:.3e}" for k, v in mem_terms.items()) + ")")
        spikes = self.per_step("spikes")
        rows.append("per step (all samples): effective ops " + str([a + b for a, b in zip(self.per_step("effective_acs"), self.per_step("effective_macs"))])
                    + f"; spikes {spikes}; memory-aware energy nJ/sample " + str([round(v / n / 1e3, 3) for v in e["memory"].per_step_pj]))
        sparsity = self.activation_sparsity()
        rows.append(f"activation sparsity {sparsity:.4f}; firing rate over all neurons "
                    f"{self.total('spikes') / max(self.total('neuron_updates'), 1):.4f}")
        bb = self.bit_budget()
        rows.append(f"bit budget per sample: SNN {bb['snn_bit_ops']:.4g} bit-ops ({bb['snn_effective_bit_ops']:.4g} effective), "
                    f"storage {bb['snn_storage_bits']:.4g} b | quantized ANN ({bb['ann_activation_bits']}-bit activations) "
                    f"{bb['ann_bit_ops']:.4g} bit-ops, storage {bb['ann_storage_bits']:.4g} b")
        if self.uncounted:
            rows.append(f"not counted (no rule for these modules): {', '.join(self.uncounted)}")
        if self.loose_params:
            rows.append("parameters outside counted layers: " + ", ".join(f"{k} ({v})" for k, v in self.loose_params))
        rows += [f"note: {t}" for t in self.notes]
        if silence:
            rows.append(f"WARNING: {silence}")
        return "\n".join(rows)

    def to_dict(self) -> dict:
        return {"table": self.table.to_dict(), "options": asdict(self.options), "time_steps": self.time_steps, "samples": self.batch,
                "batch": self.batch, "total_params": self.total_params, "layers": [c.to_dict() for c in self.layers],
                "per_step": {k: self.per_step(k) for k in STEP_KEYS},
                "energy": {m: self.energy(m).to_dict() for m in MODELS},
                "energy_pj": self.energy_pj, "energy_per_sample_mj": self.per_sample_mj(),
                "neurobench": {**self.synaptic_operations(), "ActivationSparsity": self.activation_sparsity(),
                               "MembraneUpdates": None if self.membrane_updates() is None else self.membrane_updates() / self.batch},
                "bit_budget": self.bit_budget(), "uncounted": self.uncounted, "loose_params": self.loose_params, "notes": self.notes,
                "spike_rate": self.spike_rate(), "silent_layers": self.silent_layers(), "warnings": [w for w in [self.silence()] if w]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def plot(self, path: str | Path) -> Path:
        """One PNG: energy by layer (three models), by term, firing rate by layer, bit budget vs T."""
        from ..viz.energy import plot_report

        return plot_report(self.to_dict(), path)

    def save(self, folder: str | Path, stem: str = "energy") -> dict:
        """Write ``<stem>.txt``, ``<stem>.json`` and ``<stem>.png`` into ``folder``; returns their paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"txt": folder / f"{stem}.txt", "json": folder / f"{stem}.json", "png": folder / f"{stem}.png"}
        paths["txt"].write_text(self.format_table() + "\n")
        paths["json"].write_text(self.to_json())
        self.plot(paths["png"])
        return paths
