r"""Bit budget of a spiking model and of its quantized-ANN counterpart.

Following Shen et al., "Is Conventional SNN Really Efficient? A Perspective from Network Quantization"
(CVPR 2024): a T-step binary spike train carries as much as one activation of
:math:`b_a = \lceil \log_2(T+1) \rceil` bits (its spike count), so the fair ANN counterpart of a spiking layer
is the same layer with :math:`b_a`-bit activations, run once. Per layer, with :math:`M` the dense MACs of
one step of one sample and :math:`b_w` the weight bits (a layer's ``weight_bits``, else the default):

.. math::

    \text{SNN: } M\, T\, b_w\, b_{in}, \qquad \text{ANN: } M\, b_w\, b_a

where :math:`b_{in} = 1` for spike input, else the activation width (the layer's ``act_bits`` or the default);
a layer with real-valued input keeps :math:`b_{in}` in the ANN too. A product of two activations
(attention) uses the operands' widths in place of :math:`b_w`. The *effective* SNN bit-operations count only
the operations the spikes triggered (effective ACs and MACs). Storage: weights :math:`\text{params}\cdot b_w`
for both, plus one membrane potential of ``state_bits`` per neuron for the SNN. All numbers are per sample.
"""

from __future__ import annotations

import math

from .counting import LayerCounts


def activation_bits_for(time_steps: int) -> int:
    """:math:`\\lceil \\log_2(T+1) \\rceil`: bits of an activation holding a T-step spike count."""
    if time_steps < 1:
        raise ValueError(f"time_steps must be >= 1, got {time_steps}")
    return math.ceil(math.log2(time_steps + 1))


def _layer_terms(c: LayerCounts, t: int, samples: int, weight_bits: int, act_bits: int) -> dict | None:
    if c.role not in ("synaptic", "matmul") or not c.dense_macs:
        return None
    spike_in = bool(c.input_spiking)
    b_in = 1 if spike_in else (c.act_bits or act_bits)
    if c.role == "synaptic":
        b_w, w_spike = c.weight_bits or weight_bits, False
    else:
        w_spike = bool(c.operand_spiking)
        b_w = 1 if w_spike else act_bits
    per_step = c.dense_macs / (t * samples)
    return {"layer": c.name, "per_step_macs": per_step, "weight_bits": b_w, "input_bits": b_in, "input_spiking": spike_in,
            "operand_spiking": w_spike, "effective_ops": (c.effective_acs + c.effective_macs) / samples,
            "weight_storage_bits": c.params * b_w if c.role == "synaptic" else 0}


def _at(rows: list[dict], t: int, act_bits_ann: int | None = None) -> tuple[float, float]:
    b_a = act_bits_ann or activation_bits_for(t)
    snn = ann = 0.0
    for r in rows:
        snn += r["per_step_macs"] * t * r["weight_bits"] * r["input_bits"]
        ann_in = b_a if r["input_spiking"] else r["input_bits"]
        ann_w = b_a if r["operand_spiking"] else r["weight_bits"]
        ann += r["per_step_macs"] * ann_w * ann_in
    return snn, ann


def bit_budget(layers: list[LayerCounts], time_steps: int, samples: int, weight_bits: int = 32, activation_bits: int = 32,
               state_bits: int = 32, sweep: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)) -> dict:
    """Per-layer and total bit-operations and storage bits of the SNN and its quantized ANN (per sample).

    ``weight_bits`` / ``activation_bits`` apply to layers without ``weight_bits`` / ``act_bits``; ``sweep`` gives the
    totals at other numbers of time steps (same per-step work), for the bit budget vs T chart.
    """
    for name, v in (("weight_bits", weight_bits), ("activation_bits", activation_bits), ("state_bits", state_bits)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    t = time_steps
    b_a = activation_bits_for(t)
    rows = [r for r in (_layer_terms(c, t, samples, weight_bits, activation_bits) for c in layers) if r]
    out_rows = []
    for r in rows:
        snn, ann = _at([r], t)
        out_rows.append({**r, "snn_bit_ops": snn, "snn_effective_bit_ops": r["effective_ops"] * r["weight_bits"] * r["input_bits"],
                         "ann_bit_ops": ann})
    neurons = sum(c.neuron_updates for c in layers if c.role == "neuron") / (t * samples)
    w_storage = sum(r["weight_storage_bits"] for r in rows)
    snn_total, ann_total = _at(rows, t)
    return {"time_steps": t, "ann_activation_bits": b_a, "weight_bits": weight_bits, "activation_bits": activation_bits,
            "state_bits": state_bits, "layers": out_rows, "snn_bit_ops": snn_total,
            "snn_effective_bit_ops": sum(r["snn_effective_bit_ops"] for r in out_rows), "ann_bit_ops": ann_total,
            "neurons": neurons, "snn_storage_bits": w_storage + neurons * state_bits, "ann_storage_bits": w_storage,
            "sweep": [{"time_steps": s, "ann_activation_bits": activation_bits_for(s), "snn_bit_ops": _at(rows, s)[0],
                       "ann_bit_ops": _at(rows, s)[1]} for s in sweep]}
