r"""Energy models: the same counts priced three ways, side by side.

**convention** — the spiking-transformer papers' estimate (Spikformer, Spike-driven Transformer; 45 nm):

.. math::

    E = E_{MAC} \sum_{l \in \text{real input}} FL_l \;+\; E_{AC} \sum_{l \in \text{spike input}} r_l\, T\, FL_l

with :math:`FL_l` the dense MACs of one step of one sample and :math:`r_l` the firing rate of the layer's
input. The first synaptic layer, when its input is real-valued (the encoding layer), counts once per
sample (``first_layer_once``: the papers' :math:`E_{MAC} \cdot FL^1`, the input repeating over the T steps
under direct encoding) or T times; any other layer with real-valued input counts T times. Matrix
products between activations (spiking self-attention) count in their spike-driven form: the
effective pairs, as ACs when an operand is a spike tensor. Neurons, normalisation and memory are free.

**ops** — the counted operations only: effective ACs x :math:`E_{AC}` + effective MACs x :math:`E_{MAC}`, each
layer at its own precision (a layer with ``weight_bits`` at the narrowest integer precision of the table
holding them). This is NeuroBench's synaptic-operation count priced with the table.

**memory** — a memory-aware model in the spirit of Lemaire et al. (2022) and the STEP benchmark: the
operations of *ops*, plus every neuron update (``neuron_macs`` MACs for the leak, ``neuron_acs`` ACs for the
threshold; a layer built from a definition, :class:`neuro.nn.Neuron`, is priced by its own law's arithmetic from
``update_ops()``: the update's and threshold's MACs and ACs at every step, the reset's at every spike), element-wise
layers (normalisation as MACs, pooling and activations as ACs), and every memory
access, without data reuse below the level that holds the data:

* synaptic layer: each effective operation reads its weight (:math:`b_w` bits) and reads and writes its
  partial sum (:math:`2 b_s`); each non-zero input is read once (1 bit for a spike, :math:`b_a` otherwise);
  each output is written once (:math:`b_s`);
* neuron layer: each update reads its input current (:math:`b_s`), reads and writes its membrane
  potential (:math:`2 b_s`; every state variable, :math:`2 k b_s`, for a neuron of :math:`k` variables) and writes
  its spike (1 bit);
* element-wise layer: reads its input and writes its output (:math:`b_a` each).

A structure (a layer's weights; its inputs, outputs or potentials for one sample and one step) lives in
the smallest memory level of the table that holds it, and each bit costs :math:`E_{64}/64` of that level.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .counting import LayerCounts
from .tables import EnergyTable

MODELS = ("convention", "ops", "memory")


@dataclass(frozen=True)
class EnergyOptions:
    """Assumptions of the energy models, printed with every report.

    ``weight_bits`` / ``activation_bits`` / ``state_bits``: widths of weights (for layers without ``weight_bits``),
    of real-valued activations (for layers without ``act_bits``) and of membrane potentials and partial sums;
    ``None`` takes the width of ``precision``. ``neuron_macs`` / ``neuron_acs``: operations per neuron update.
    ``first_layer_once``: in the convention, the first synaptic layer, when its input is real-valued, counts once
    per sample, not T times.
    """

    precision: str = "fp32"
    weight_bits: int | None = None
    activation_bits: int | None = None
    state_bits: int | None = None
    neuron_macs: float = 1.0
    neuron_acs: float = 1.0
    first_layer_once: bool = True

    def __post_init__(self):
        for name in ("weight_bits", "activation_bits", "state_bits"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {v!r}")
        if self.neuron_macs < 0 or self.neuron_acs < 0:
            raise ValueError(f"neuron_macs and neuron_acs must be >= 0, got {self.neuron_macs}, {self.neuron_acs}")


@dataclass(frozen=True)
class LayerBits:
    weight: int
    input: int
    operand: int
    state: int
    activation: int


def layer_precision(c: LayerCounts, table: EnergyTable, opts: EnergyOptions) -> str:
    """A quantized layer's operations use the narrowest integer precision holding its weights, if the table has one."""
    if c.weight_bits is not None:
        p = table.integer_precision(c.weight_bits)
        if p is not None:
            return p
    return opts.precision


def layer_bits(c: LayerCounts, table: EnergyTable, opts: EnergyOptions) -> LayerBits:
    width = table.bits(opts.precision)
    act = c.act_bits or opts.activation_bits or width
    weight = c.weight_bits or opts.weight_bits or width
    inp = 1 if c.input_spiking else act
    operand = 1 if c.operand_spiking else act
    return LayerBits(weight=weight if c.role == "synaptic" else operand, input=inp, operand=operand, state=opts.state_bits or width,
                     activation=act)


@dataclass
class EnergyBreakdown:
    """One model's energy: per layer, by term (pJ, for the whole run), per step, and in total.

    ``memory`` (memory-aware model only): per layer and category, the level used, the structure size and the bits moved.
    """

    model: str
    layers: list[dict]
    per_step_pj: list[float]
    samples: int
    memory: dict = field(default_factory=dict)

    @property
    def total_pj(self) -> float:
        return float(sum(row["total_pj"] for row in self.layers))

    @property
    def per_sample_pj(self) -> float:
        return self.total_pj / max(self.samples, 1)

    def per_sample_mj(self) -> float:
        return self.per_sample_pj * 1e-9

    def by_term(self) -> dict:
        out: dict[str, float] = {}
        for row in self.layers:
            for k, v in row["terms"].items():
                out[k] = out.get(k, 0.0) + v
        return out

    def layer(self, name: str) -> dict:
        for row in self.layers:
            if row["layer"] == name:
                return row
        raise KeyError(f"no layer {name!r} in the {self.model} breakdown")

    def to_dict(self) -> dict:
        return {**asdict(self), "total_pj": self.total_pj, "per_sample_pj": self.per_sample_pj, "by_term_pj": self.by_term()}


def _div(a, b):
    return np.divide(a, b, out=np.zeros_like(np.asarray(a, dtype=float), dtype=float), where=np.asarray(b) != 0) if np.ndim(a) else (a / b if b else 0.0)


def _convention(c: LayerCounts, g, table: EnergyTable, opts: EnergyOptions, t: int, first: bool) -> tuple[dict, dict]:
    p = opts.precision
    if c.role == "matmul":
        return {"ac": g("effective_acs") * table.ac(p), "mac": g("effective_macs") * table.mac(p)}, {}
    if c.role != "synaptic":
        return {}, {}
    if c.input_spiking:
        sop = _div(g("input_nonzeros") * g("dense_macs"), g("input_elements"))
        return {"ac": sop * table.ac(p)}, {}
    return {"mac": g("dense_macs") * table.mac(p) / (t if first and opts.first_layer_once else 1)}, {}


def _ops(c: LayerCounts, g, table: EnergyTable, opts: EnergyOptions, t: int) -> tuple[dict, dict]:
    if c.role not in ("synaptic", "matmul"):
        return {}, {}
    p = layer_precision(c, table, opts)
    return {"ac": g("effective_acs") * table.ac(p), "mac": g("effective_macs") * table.mac(p)}, {}


def _memory(c: LayerCounts, g, table: EnergyTable, opts: EnergyOptions, t: int, per_sample_step: float) -> tuple[dict, dict]:
    p = layer_precision(c, table, opts)
    bits = layer_bits(c, table, opts)
    terms: dict = {}
    traffic: dict = {}  # category -> (bits moved, structure size in bytes)

    def size(elements_key: str, nbits: float) -> float:
        return getattr(c, elements_key) * per_sample_step * nbits / 8

    if c.role in ("synaptic", "matmul"):
        terms["ac"] = g("effective_acs") * table.ac(p)
        terms["mac"] = g("effective_macs") * table.mac(p)
        eff = g("effective_acs") + g("effective_macs")
        w_size = c.params * bits.weight / 8 if c.role == "synaptic" else size("operand_elements", bits.operand)
        traffic["weights"] = (eff * bits.weight, w_size)
        traffic["inputs"] = (g("input_nonzeros") * bits.input, size("input_elements", bits.input))
        traffic["partial sums"] = (2 * eff * bits.state + g("output_elements") * bits.state, size("output_elements", bits.state))
    elif c.role == "neuron":
        u = g("neuron_updates")
        mac, ac = table.mac(opts.precision), table.ac(opts.precision)
        k = c.state_variables
        if c.neuron_ops is None:
            terms["neuron"] = u * (opts.neuron_macs * mac + opts.neuron_acs * ac)
        else:  # the layer's own law: its update at every step, its reset at every spike
            o = c.neuron_ops
            terms["neuron"] = u * (o["macs"] * mac + o["acs"] * ac) + g("spikes") * (o["reset_macs"] * mac + o["reset_acs"] * ac)
        traffic["inputs"] = (u * bits.state, size("neuron_updates", bits.state))
        traffic["membrane"] = (2 * k * u * bits.state, size("neuron_updates", k * bits.state))
        traffic["spikes"] = (u * 1, size("neuron_updates", 1))
    else:
        e = table.mac(opts.precision) if c.role == "norm" else table.ac(opts.precision)
        terms["other"] = g("other_ops") * e
        traffic["activations"] = (g("input_elements") * bits.activation + g("output_elements") * bits.activation,
                                  size("input_elements", bits.activation))
    info = {}
    for cat, (moved, struct) in traffic.items():
        level = table.memory_level(struct)
        terms[f"mem: {cat}"] = moved * level.pj_per_bit()
        info[cat] = {"level": level.name, "structure_bytes": float(struct), "bits": float(np.sum(moved))}
    return terms, info


def evaluate(model: str, layers: list[LayerCounts], table: EnergyTable, opts: EnergyOptions, time_steps: int, samples: int) -> EnergyBreakdown:
    """Price the counts with one model (``convention``, ``ops`` or ``memory``)."""
    if model not in MODELS:
        raise ValueError(f"energy model must be one of {MODELS}, got {model!r}")
    t = time_steps
    per_sample_step = 1.0 / (t * max(samples, 1))
    rows, per_step, memory = [], np.zeros(t), {}
    first = next((c.name for c in layers if c.role == "synaptic"), None)
    for c in layers:
        def total(name, c=c):
            return float(getattr(c, name))

        def step(name, c=c):
            return np.asarray(c.steps.get(name, np.zeros(t)), dtype=float)

        if model == "convention":
            terms, _ = _convention(c, total, table, opts, t, c.name == first)
            sterms, _ = _convention(c, step, table, opts, t, c.name == first)
        elif model == "ops":
            terms, _ = _ops(c, total, table, opts, t)
            sterms, _ = _ops(c, step, table, opts, t)
        else:
            terms, lv = _memory(c, total, table, opts, t, per_sample_step)
            sterms, _ = _memory(c, step, table, opts, t, per_sample_step)
            memory[c.name] = lv
        terms = {k: float(v) for k, v in terms.items() if v}
        rows.append({"layer": c.name, "role": c.role, "terms": terms, "total_pj": float(sum(terms.values()))})
        for v in sterms.values():
            per_step = per_step + np.broadcast_to(np.asarray(v, dtype=float), (t,))
    return EnergyBreakdown(model, rows, per_step.tolist(), samples, memory)
