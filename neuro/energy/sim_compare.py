r"""Measured against estimated: a deployed network's counted events beside :func:`~neuro.energy.estimate` of its ``nn`` model.

:func:`compare_sim` runs the same input spikes through the ``nn`` model (counted with forward hooks by
:func:`~neuro.energy.estimate`) and through the network :func:`neuro.sim.from_nn` built from it (its
:meth:`present` and ``last_counts``), and prices both with the same :class:`~neuro.energy.EnergyTable`.
Three columns per quantity:

* **nn** — the estimator's count (effective accumulates of a synaptic layer: non-zero input x non-zero
  fan-out weight; neuron updates: neurons x T);
* **sim (horizon)** — the simulator's events within the ``nn``'s T steps, read from its spikes: each
  spike of a projection's presynaptic layer at an ``nn`` step counts its out-degree (the engine's own count
  of one delivery); neuron updates T x neurons;
* **sim (run)** — ``Network.counts`` of the whole run.

They agree where they count the same thing: a projection made of one Linear or convolution has exactly the
estimator's effective ACs (both are input spikes x non-zero synapses). They differ, and the report says so,
where (1) the run is longer than T: layer :math:`k` answers :math:`k` steps late, so the run takes
:math:`T + K` steps, updates every neuron each step (clock-driven) and delivers the spikes the layers emit
after the ``nn``'s horizon; (2) layers were folded into one projection (pooling, batch norm, a chain of
linear layers): the simulator delivers each spike through the composed synapses, while the estimator counts
each layer apart, the layer after an average pooling on real values as MACs, the pooling as other operations;
(3) the energy models price different things: :func:`~neuro.energy.simulation_energy` charges each neuron
update ``neuron_update_macs`` MACs, the estimator's ``ops`` model prices synaptic operations only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .estimate import estimate
from .simulation import SimCounts, simulation_energy

__all__ = ["SimComparison", "compare_sim"]


@dataclass
class SimComparison:
    """Rows ``(quantity, nn, sim_horizon, sim_run, note)``; energies (pJ, per the whole input set) in ``energy``."""

    rows: list[dict] = field(default_factory=list)
    energy: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def row(self, quantity: str) -> dict:
        for r in self.rows:
            if r["quantity"] == quantity:
                return r
        raise KeyError(f"no row {quantity!r}; rows: {[r['quantity'] for r in self.rows]}")

    def format_table(self) -> str:
        def fmt(v):
            if v is None:
                return "-"
            return f"{v:.4g}" if isinstance(v, float) and not float(v).is_integer() else f"{int(v)}"

        head = f"{'quantity':<34} {'nn estimate':>14} {'sim (horizon)':>14} {'sim (run)':>14}  note"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r['quantity']:<34} {fmt(r['nn']):>14} {fmt(r['sim_horizon']):>14} {fmt(r['sim_run']):>14}  {r['note']}")
        lines.append("")
        for k, v in self.energy.items():
            lines.append(f"{k:<34} {v:14.4g} pJ")
        lines += [f"* {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "energy": self.energy, "notes": self.notes}


def _matches(report_name: str, sources: tuple[str, ...]) -> bool:
    return any(report_name == s or report_name.startswith(s + ".") for s in sources)


def compare_sim(model, inputs, net, table="horowitz45nm", precision: str = "fp32", neuron_update_macs: float = 1.0) -> SimComparison:
    """Count ``inputs`` (spikes ``[T, B, ...]``, 0/1) through ``model`` and through ``net = neuro.sim.from_nn(model, ...)``.

    Each of the B samples is presented to ``net`` from rest (as the ``nn`` forward starts each sample).
    """
    import torch

    x = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
    if x.dim() < 3:
        raise ValueError(f"inputs must be spikes [T, B, ...], got shape {tuple(x.shape)}")
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    report = estimate(model, x.to(dtype), table=table, precision=precision)
    T, B = x.shape[0], x.shape[1]
    n_proj = len(net.synapses)
    outdeg = [np.bincount(p.pre_index, minlength=p.pre.n) for p in net.synapses]
    horizon_events = np.zeros(n_proj, dtype=np.int64)
    layer_spikes = np.zeros(n_proj, dtype=np.int64)
    run = {"synaptic_events": 0, "neuron_updates": 0, "spikes": 0, "steps": 0}
    for b in range(B):
        sample = x[:, b].detach().cpu().numpy()
        out = net.present(sample)
        pre = [sample.reshape(T, -1)] + [o.reshape(T, -1) for o in out[:-1]]
        for k in range(n_proj):
            horizon_events[k] += int((pre[k].sum(0) * outdeg[k]).sum())
            layer_spikes[k] += int(out[k].sum())
        for key in run:
            run[key] += int(net.last_counts.get(key, 0))
    n_neurons = sum(p.n for p in net.layers)
    cmp = SimComparison()
    by_name = {c.name: c for c in report.layers}
    for k, (pop, sources) in enumerate(zip(net.layers, net.sources)):
        syn = [c for c in report.layers if c.role == "synaptic" and _matches(c.name, sources)]
        other = [c for c in report.layers if c.role != "synaptic" and c.role != "neuron" and _matches(c.name, sources)]
        nn_acs = sum(c.effective_acs for c in syn)
        nn_macs = sum(c.effective_macs for c in syn)
        if len(syn) == 1 and not other and nn_macs == 0:  # reshapes and scalings keep the synapse structure
            note = "same quantity: input spikes x non-zero synapses (must agree exactly)"
        elif not syn:
            note = f"{'+'.join(sources) or 'identity'}: no synaptic layer counted by the estimator"
        else:
            note = (f"folded {'+'.join(sources)} into one projection: the estimator counts each layer apart "
                    f"({nn_macs} effective MACs on real-valued inputs, {sum(c.other_ops for c in other)} other ops)")
        cmp.rows.append({"quantity": f"synaptic events -> {pop.name}", "nn": nn_acs + nn_macs, "sim_horizon": int(horizon_events[k]),
                         "sim_run": None, "note": note, "same_quantity": note.startswith("same quantity")})
        neuron = by_name.get(pop.name)
        cmp.rows.append({"quantity": f"spikes of {pop.name}", "nn": None if neuron is None else neuron.spikes,
                         "sim_horizon": int(layer_spikes[k]), "sim_run": None, "note": "identical spikes", "same_quantity": True})
    cmp.rows.append({"quantity": "synaptic events (total)", "nn": sum(r["nn"] for r in cmp.rows if r["quantity"].startswith("synaptic events ->")),
                     "sim_horizon": int(horizon_events.sum()), "sim_run": run["synaptic_events"],
                     "note": f"run: + deliveries of spikes emitted after the nn's {T} steps (pipeline drain)", "same_quantity": False})
    nn_updates = sum(c.neuron_updates for c in report.layers if c.role == "neuron")
    cmp.rows.append({"quantity": "neuron updates", "nn": nn_updates, "sim_horizon": T * n_neurons * B, "sim_run": run["neuron_updates"],
                     "note": f"run: {T}+{net.latency} steps per sample, every neuron every step (clock-driven, layer k held k steps)",
                     "same_quantity": True})
    cmp.rows.append({"quantity": "spikes (all layers)", "nn": sum(c.spikes for c in report.layers if c.role == "neuron"),
                     "sim_horizon": int(layer_spikes.sum()), "sim_run": run["spikes"] - int(x.ne(0).sum()),
                     "note": "run: input spikes excluded; + spikes after the horizon", "same_quantity": True})
    n_syn = sum(len(p) for p in net.synapses)
    horizon = SimCounts(synaptic_events=int(horizon_events.sum()), neuron_updates=T * n_neurons * B, steps=T * B, spikes=int(layer_spikes.sum()),
                        n_neurons=n_neurons, n_synapses=n_syn)
    whole = SimCounts(synaptic_events=run["synaptic_events"], neuron_updates=run["neuron_updates"], steps=run["steps"], spikes=run["spikes"],
                      n_neurons=n_neurons, n_synapses=n_syn)
    e_h = simulation_energy(horizon, table, precision, neuron_update_macs)
    e_r = simulation_energy(whole, table, precision, neuron_update_macs)
    ops = report.energy("ops")
    mem = report.energy("memory")
    cmp.energy = {"nn ops model (synaptic ops)": ops.total_pj, "nn memory model (ops+neurons+memory)": mem.total_pj,
                  "sim horizon: synaptic": e_h["synaptic_pj"], "sim horizon: neurons": e_h["neuron_pj"], "sim horizon: memory": e_h["memory_pj"],
                  "sim horizon: total": e_h["total_pj"], "sim run: total": e_r["total_pj"]}
    cmp.notes = [
        f"table {e_h['table']}, {precision}; the simulator's synaptic energy is events x E_AC, like the estimator's effective ACs",
        f"simulation_energy charges {neuron_update_macs} MAC per neuron update; the estimator's 'ops' model charges neurons nothing, "
        "its 'memory' model charges updates and every memory access by its own rules",
        f"the run takes T + {net.latency} steps per sample: layer k answers k steps late (delivery at the end of a step)",
    ]
    if report.uncounted:
        cmp.notes.append("not counted by the estimator: " + ", ".join(report.uncounted))
    return cmp
