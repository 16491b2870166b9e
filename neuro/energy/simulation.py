r"""Energy of a simulator run from the events it counted, with the same tables.

The simulator (``neuro.sim``) counts what happened; :class:`SimCounts` is all this needs::

    counts = SimCounts(synaptic_events=..., neuron_updates=..., steps=..., spikes=...)
    simulation_energy(counts)                   # or simulation_energy(net.counts), a dict with those keys

Operations: each synaptic event is one accumulate, :math:`E_{AC}`; each neuron update costs
``neuron_update_macs`` MACs (1: the leak's multiply-add of a LIF neuron; raise it for richer models).
With ``n_neurons`` and ``n_synapses`` given, the memory-aware terms are added as in
:mod:`neuro.energy.models`: each event reads its weight (``weight_bits``) and reads and writes its
target's state (``2 state_bits``), each update reads and writes its own state (``2 state_bits``) and each
spike is written (1 bit), in the smallest memory level holding the synapse table / the neuron states.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from .tables import EnergyTable


@dataclass(frozen=True)
class SimCounts:
    """Events counted in one simulator run.

    ``synaptic_events``: spikes delivered through a synapse (one per synapse per presynaptic spike);
    ``neuron_updates``: neuron state updates (neurons x steps for clock-driven populations); ``steps``: time
    steps run; ``spikes``: spikes emitted; ``n_neurons`` / ``n_synapses`` (optional): sizes, for the memory terms.
    """

    synaptic_events: int
    neuron_updates: int
    steps: int = 0
    spikes: int = 0
    n_neurons: int | None = None
    n_synapses: int | None = None

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None and (not isinstance(v, (int,)) or v < 0):
                raise ValueError(f"SimCounts.{f.name} must be a non-negative integer, got {v!r}")

    @classmethod
    def from_mapping(cls, counts: Mapping) -> SimCounts:
        for key in ("synaptic_events", "neuron_updates"):
            if key not in counts:
                raise ValueError(f"counts must have {key!r} (a Network.counts dict or SimCounts), got keys {sorted(counts)}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in counts.items() if k in known and v is not None})


def simulation_energy(counts: SimCounts | Mapping, table: EnergyTable | str = "horowitz45nm", precision: str = "fp32",
                      neuron_update_macs: float = 1.0, weight_bits: int | None = None, state_bits: int | None = None) -> dict:
    """Energy (pJ) of a simulator run: ``synaptic_pj``, ``neuron_pj``, ``memory_pj`` (0 without sizes), ``total_pj``."""
    table = EnergyTable.load(table)
    c = counts if isinstance(counts, SimCounts) else SimCounts.from_mapping(counts)
    if neuron_update_macs < 0:
        raise ValueError(f"neuron_update_macs must be >= 0, got {neuron_update_macs}")
    syn = c.synaptic_events * table.ac(precision)
    neu = c.neuron_updates * neuron_update_macs * table.mac(precision)
    width = table.bits(precision)
    wb, sb = weight_bits or width, state_bits or width
    mem, detail = 0.0, {}
    if c.n_neurons is not None and c.n_synapses is not None and table.memory:
        syn_level = table.memory_level(c.n_synapses * wb / 8)
        state_level = table.memory_level(c.n_neurons * sb / 8)
        detail = {"weights_pj": c.synaptic_events * wb * syn_level.pj_per_bit(),
                  "state_pj": (2 * c.synaptic_events + 2 * c.neuron_updates) * sb * state_level.pj_per_bit(),
                  "spikes_pj": c.spikes * state_level.pj_per_bit(), "weight_memory": syn_level.name, "state_memory": state_level.name}
        mem = detail["weights_pj"] + detail["state_pj"] + detail["spikes_pj"]
    return {"table": table.name, "precision": precision, "synaptic_pj": syn, "neuron_pj": neu, "memory_pj": mem, "total_pj": syn + neu + mem,
            **detail, **asdict(c)}
