r"""The spiking-transformer convention priced with firing rates a paper reports, on our own per-layer FLOPs.

Spikformer (Zhou et al., ICLR 2023, appendix), the Spike-driven Transformer (Yao et al., NeurIPS 2023,
supplement), Spikingformer, QKFormer and their successors estimate energy from the dense FLOPs of each
synaptic layer (convolution, linear map, matrix product of the self-attention) and the average firing
rate of its input measured on the test set, on 45 nm hardware (:math:`E_{MAC}` = 4.6 pJ, :math:`E_{AC}` = 0.9 pJ):

.. math::

    E = E_{MAC} \sum_{l \in \text{MAC}} n_l\, FL_l \;+\; E_{AC} \sum_{l \in \text{rated}} r_l\, T\, FL_l,
    \qquad SOP_l = r_l\, T\, FL_l

with :math:`FL_l` the dense MACs of layer :math:`l` for one sample and one step (here: counted by
:func:`~neuro.energy.estimate` on one forward pass of *our* model, so a T = 1, batch-1 run suffices),
:math:`r_l` the rate supplied for the layer (spikes per input element per step), :math:`T` the time steps
of the paper. A layer with a supplied rate counts as accumulates whatever its measured input was (the papers
price every non-first layer as ACs, Spikformer's integer-valued residual sums included). A layer without
one counts as MACs when its measured input is real-valued, :math:`n_l = T` steps, or once for the first
synaptic layer with ``first_layer_once`` (the papers' :math:`E_{MAC} \cdot FL^1_{Conv}`: the image repeats
over the steps under direct encoding); a layer with spike input and no supplied rate takes ``default_rate``,
else the rate measured in the report (listed in :attr:`RateEnergy.measured`). Neurons, normalisation,
pooling and memory are free, as in the papers. A rate of ``None`` makes a layer a MAC layer whatever its
measured input (the papers' "rate 100 %" layers: a classifier head on averaged spikes).

Rates are given per layer name or per ``fnmatch`` pattern (``"block.*.mlp.fc1_conv"``): an exact name wins,
then the first pattern in the mapping's order that matches. Example::

    from neuro.nn.models import spikformer
    model = spikformer("imagenet-8-512", time_steps=1)
    e = energy_from_rates(model, torch.rand(1, 1, 3, 224, 224), {"patch_embed.proj_conv1": 0.26, "block.*": 0.2},
                          time_steps=4, layout="BT", first_layer_once=False)
    e.per_sample_mj(), e.layer("block.0.mlp.fc1_conv")["sops"]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from .counting import LayerCounts
from .models import EnergyBreakdown
from .tables import EnergyTable


@dataclass
class RateEnergy(EnergyBreakdown):
    """Energy of one sample under the rate convention (``samples`` is 1; ``total_pj`` is per sample).

    Each row of ``layers`` has ``flops`` (dense MACs per sample and step), ``rate`` (None for a MAC layer),
    ``source`` (``given``, ``default``, ``measured`` or ``mac``), ``sops`` and ``macs`` (per sample, all steps)
    and the terms in pJ. ``measured``: layers priced with the report's own rate (no supplied rate matched);
    ``unmatched``: supplied names or patterns that matched no synaptic layer.
    """

    time_steps: int = 1
    measured: list = field(default_factory=list)
    unmatched: list = field(default_factory=list)

    @property
    def sops(self) -> float:
        """Synaptic operations (accumulates) per sample."""
        return float(sum(row["sops"] for row in self.layers))

    @property
    def macs(self) -> float:
        """Multiply-accumulates per sample."""
        return float(sum(row["macs"] for row in self.layers))


def _check_rates(rates: Mapping[str, float | None]) -> dict[str, float | None]:
    out = {}
    for key, r in rates.items():
        if not isinstance(key, str):
            raise ValueError(f"rate keys must be layer names or patterns (str), got {key!r}")
        if r is None:
            out[key] = None
            continue
        r = float(r)
        if not math.isfinite(r) or r < 0:
            raise ValueError(f"firing rate for {key!r} must be a finite number >= 0, got {r}")
        out[key] = r
    return out


def _match(name: str, rates: dict[str, float]) -> str | None:
    if name in rates:
        return name
    return next((pat for pat in rates if fnmatchcase(name, pat)), None)


def price_with_rates(layers: list[LayerCounts], table: EnergyTable, rates: Mapping[str, float | None], time_steps: int, *, samples: int,
                     report_time_steps: int, precision: str = "fp32", first_layer_once: bool = True, default_rate: float | None = None,
                     strict: bool = False) -> RateEnergy:
    """Price counted layers with supplied rates (see the module docstring); ``samples`` / ``report_time_steps``: those of the counting run."""
    if not isinstance(time_steps, int) or time_steps < 1:
        raise ValueError(f"time_steps must be a positive integer, got {time_steps!r}")
    rates = _check_rates(rates)
    if default_rate is not None:
        default_rate = _check_rates({"default_rate": default_rate})["default_rate"]
    e_ac, e_mac = table.ac(precision), table.mac(precision)
    t = time_steps
    per = 1.0 / (max(samples, 1) * report_time_steps)
    first = next((c.name for c in layers if c.role == "synaptic"), None)
    used, rows, measured = set(), [], []
    for c in layers:
        if c.role not in ("synaptic", "matmul"):
            continue
        fl = c.dense_macs * per
        key = _match(c.name, rates)
        rate, sops, macs = None, 0.0, 0.0
        if key is not None and rates[key] is not None:
            used.add(key)
            rate, source = rates[key], "given"
            sops = rate * t * fl
        elif key is not None or (c.role == "synaptic" and c.input_spiking is not True):
            used.update([key] if key is not None else [])
            source = "mac"
            macs = fl * (1 if c.name == first and first_layer_once else t)
        elif default_rate is not None:
            rate, source = default_rate, "default"
            sops = rate * t * fl
        else:
            source = "measured"
            measured.append(c.name)
            if c.role == "synaptic":
                rate = c.input_rate or 0.0
                sops = rate * t * fl
            else:  # a product of activations: the convention's effective pairs, as counted, at T steps
                sops, macs = c.effective_acs * per * t, c.effective_macs * per * t
        terms = {k: v for k, v in (("ac", sops * e_ac), ("mac", macs * e_mac)) if v}
        rows.append({"layer": c.name, "role": c.role, "flops": fl, "rate": rate, "source": source, "sops": sops, "macs": macs,
                     "terms": terms, "total_pj": float(sum(terms.values()))})
    unmatched = [k for k in rates if k not in used]
    if strict and (measured or unmatched):
        raise ValueError(f"rates given for no layer: {unmatched}; layers with spike input and no rate: {measured}")
    total = sum(row["total_pj"] for row in rows)
    return RateEnergy("convention (rates)", rows, [total / t] * t, 1, time_steps=t, measured=measured, unmatched=unmatched)


def energy_from_rates(model, inputs, rates: Mapping[str, float | None], time_steps: int, *, table: EnergyTable | str = "horowitz45nm",
                      precision: str = "fp32", first_layer_once: bool = True, default_rate: float | None = None, strict: bool = False,
                      layout: str | None = None, reset=None) -> RateEnergy:
    """Count ``model``'s per-layer FLOPs on ``inputs`` (one forward pass: :func:`~neuro.energy.estimate`), then price them
    with the supplied firing ``rates`` over ``time_steps`` steps (see the module docstring). ``inputs`` and ``layout`` are
    those of :func:`~neuro.energy.estimate`; a batch of 1 at T = 1 is enough, the FLOPs do not depend on the activity."""
    from .estimate import estimate

    # the FLOPs do not depend on the activity: a silent forward pass is fine here
    report = estimate(model, inputs, table=table, precision=precision, layout=layout, reset=reset, warn_silent=False)
    return report.energy_from_rates(rates, time_steps, first_layer_once=first_layer_once, default_rate=default_rate, strict=strict)


__all__ = ["RateEnergy", "energy_from_rates", "price_with_rates"]
