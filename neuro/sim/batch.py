"""Many small networks run as one: :class:`Batch` lays out independent networks side by side in one
:class:`~neuro.sim.Network` (one layout, one call of the compiled loop) and hands each network its results back.

Networks of the same structure are **merged**: their ``k``-th populations become one population of all their neurons
(per-neuron values such as initial potentials, ``i_ext``, ``noise``, Poisson rates or Izhikevich ``a, b, c, d``
concatenated), their ``k``-th projections one projection whose synapses are the copies' own, with indices offset to
their copy's neurons, and their spike monitors one monitor whose spikes are split back per network after the run. The
loop then pays its per-population costs once per role, not once per network. Same structure means: the same
population types in the same order with equal scalar parameters (``tau_m``, ``v_th``, ``t_ref``, ``scheme`` ...; sizes
may differ), projections between the same populations onto the same receptors, without plasticity, and spike monitors
of whole populations in memory. Networks that differ in a scalar parameter form separate groups; networks with
anything else (user-defined models, injected currents, plasticity, state or rate monitors ...) are run as they are,
their objects moved into the batched network (and so still each their own populations).

After :meth:`Batch.run`, a merged network reads as if it had run itself for the purpose of measuring it: its clock
(``net.t``) is at the end of the run, its spike monitors hold its own spikes (indices in its own populations), and its
populations' ``v``, ``u``, currents etc. read the final state. The synapses' delay buffers and refractory counters
are not handed back: such a network is measured, not continued; nor are the event counts (``net.counts`` stays
zero; the batched network's are ``batch.network.counts``). What each network drew when it was built
(connectivity, weights, delays, initial values) is its own; what the run draws (Poisson spikes, noise) is drawn per
neuron of the batched network from ``seed``, as for any network of that size.

Example::

    nets = [build(g=g, seed=k) for k, g in enumerate(values)]
    batch = Batch(nets, seed=0)
    batch.run(200.0)
    rates = [net.monitors[0].rate(200.0) for net in nets]
"""

from __future__ import annotations

import copy

import numpy as np

from .monitors import SpikeMonitor
from .network import Network
from .populations import LIF, ConductanceLIF, Izhikevich, PoissonInput, SpikeSource
from .projections import Projection

_MERGEABLE_POPULATIONS = (LIF, ConductanceLIF, Izhikevich, PoissonInput, SpikeSource)
# attributes a population holds per neuron or per place in a network (the rest are its scalar parameters)
_POPULATION_OWN = frozenset(("n", "name", "network", "start", "_init", "_random_init", "current_table", "times", "indices"))
# the per-neuron state a run changes, handed back (x1, x2 as currents); i_ext, sigma, rate, na .. nd stay as given
_STATE = ("v", "u")
_SCALARS = (bool, int, float, str, np.integer, np.floating, np.bool_, type(None))


def _population_key(pop) -> tuple | None:
    if type(pop) not in _MERGEABLE_POPULATIONS or pop.current_table is not None or pop._random_init:
        return None
    rest = tuple((k, v) for k, v in vars(pop).items() if k not in _POPULATION_OWN)  # in the order the constructor set them
    if not all(isinstance(v, _SCALARS) for _, v in rest):
        return None
    return (type(pop), rest)


def structure(net: Network) -> tuple | None:
    """What networks must share to be merged (a hashable key), or ``None`` where ``net`` cannot be merged."""
    if net.modulators:
        return None
    where = {id(p): k for k, p in enumerate(net.populations)}
    pops = []
    for pop in net.populations:
        key = _population_key(pop)
        if key is None:
            return None
        pops.append(key)
    projs = []
    for proj in net.projections:
        # drawn synapses (pairs, weights, delays) are all a projection without plasticity carries into the run
        if (type(proj) is not Projection or proj.plasticity is not None or proj.modulator is not None or not proj._drawn
                or proj._order is not None or id(proj.pre) not in where or id(proj.post) not in where):
            return None  # (a population outside the network: left to the network's own error)
        projs.append((where[id(proj.pre)], where[id(proj.post)], proj.receptor))
    mons = []
    for mon in net.monitors:
        if type(mon) is not SpikeMonitor or mon.h5 is not None or mon.indices is not None or mon.count or mon._t or id(mon.pop) not in where:
            return None
        mons.append(where[id(mon.pop)])
    return (tuple(pops), tuple(projs), tuple(mons))


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    """Per-synapse values of the copies, one after another; one value shared by all stays one broadcast value (the
    layout treats a delay given once for a projection as one delay)."""
    shared = [p for p in parts if p.size]
    if shared and all(p.strides[0] == 0 for p in shared) and len({float(p[0]) for p in shared}) == 1:
        return np.broadcast_to(np.array(float(shared[0][0])), (sum(p.size for p in parts),))
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts]) if parts else np.zeros(0)


class _Group:
    """Networks of one structure merged into populations, projections and spike monitors of ``big``."""

    def __init__(self, nets: list[Network], big: Network, label: int):
        self.nets = nets
        first = nets[0]
        self.offsets = []  # per role: [copies + 1] first neuron of each copy in the merged population
        self.pops = []
        for r, pop0 in enumerate(first.populations):
            members = [net.populations[r] for net in nets]
            off = np.zeros(len(members) + 1, np.int64)
            np.cumsum([p.n for p in members], out=off[1:])
            m = copy.copy(pop0)
            m.n, m.name, m.network, m.start = int(off[-1]), f"{pop0.name}[batch {label}]", None, 0
            m._init = {key: np.concatenate([p._init[key] for p in members]) for key in pop0._init}
            m._random_init = {}
            if isinstance(pop0, SpikeSource):
                m.times = np.concatenate([p.times for p in members])
                m.indices = np.concatenate([p.indices + o for p, o in zip(members, off[:-1])])
            self.offsets.append(off)
            self.pops.append(m)
        big.add(*self.pops)
        where = {id(p): k for k, p in enumerate(first.populations)}
        for j, proj0 in enumerate(first.projections):
            a, b = where[id(proj0.pre)], where[id(proj0.post)]
            members = [net.projections[j] for net in nets]
            m = copy.copy(proj0)
            m.pre, m.post, m.network, m._order, m.name = self.pops[a], self.pops[b], None, None, f"{proj0.name}[batch {label}]"
            sizes = [p._pre.size for p in members]
            m._pre = np.concatenate([p._pre for p in members]).astype(np.int64) + np.repeat(self.offsets[a][:-1], sizes)
            m._post = np.concatenate([p._post for p in members]).astype(np.int64) + np.repeat(self.offsets[b][:-1], sizes)
            m._w = _concat([p._w for p in members])
            m._delay_ms = _concat([p._delay_ms for p in members])
            big.add(m)
        roles = {id(p): k for k, p in enumerate(first.populations)}
        self.monitors = [(roles[id(mon.pop)], k) for k, mon in enumerate(first.monitors)]
        self.merged_monitors = [big.add(SpikeMonitor(self.pops[r])) for r, _ in self.monitors]

    def hand_back(self, big: Network) -> None:
        """Spikes, clock and final state to each network of the group."""
        for (r, k), mm in zip(self.monitors, self.merged_monitors):
            t, i = mm.t, mm.i.astype(np.int64)
            off = self.offsets[r]
            copy_of = np.searchsorted(off, i, side="right") - 1
            order = np.argsort(copy_of, kind="stable")  # time order kept within each copy
            bounds = np.searchsorted(copy_of[order], np.arange(len(self.nets) + 1))
            for c, net in enumerate(self.nets):
                sel = order[bounds[c] : bounds[c + 1]]
                mon = net.monitors[k]
                mon._t, mon._i = ([t[sel]], [(i[sel] - off[c]).astype(np.int32)]) if sel.size else ([], [])
                mon.count = int(sel.size)
                mon._t_start = mm._t_start
        for r, m in enumerate(self.pops):
            state = {key: np.array(m._state(key)) for key in _STATE}  # copies: each network gets views of its part
            state["x1"], state["x2"] = m._current(0), m._current(1)
            cuts = self.offsets[r][1:-1]
            parts = {key: np.split(arr, cuts) for key, arr in state.items()}
            for c, net in enumerate(self.nets):
                net.populations[r]._init.update({key: part[c] for key, part in parts.items()})
        for net in self.nets:
            net.step = big.step


class Batch:
    """Independent networks (not yet run, without neuromodulators, all of one ``dt`` and backend) run as one network
    seeded with ``seed``: networks of one structure merged, the others moved in as they are (module docstring).

    ``groups``: the merged groups, as lists of indices into ``nets``; ``network``: the batched network.
    """

    def __init__(self, nets: list[Network], seed: int = 0):
        nets = list(nets)
        if not nets:
            raise ValueError("Batch needs at least one network, got none")
        for k, net in enumerate(nets):
            if not isinstance(net, Network):
                raise TypeError(f"nets[{k}] must be a neuro.sim.Network, got {type(net).__name__}")
            if net.modulators:
                raise ValueError(f"nets[{k}] has neuromodulators ({sorted(net.modulators)}), whose names would collide in one network")
            if net.built or net.step:
                raise ValueError(f"nets[{k}] was already built or run; a batch needs fresh networks")
            if getattr(net, "comm", None) is not None:
                raise ValueError(f"nets[{k}] is a distributed network (comm=...); a batch runs networks in this process")
            if net.dt != nets[0].dt or net.backend != nets[0].backend:
                raise ValueError(f"nets[{k}]: dt = {net.dt} ms, backend {net.backend!r}; nets[0] has dt = {nets[0].dt} ms, backend "
                                 f"{nets[0].backend!r} (one batched network has one of each)")
        self.nets = nets
        self.network = big = Network(dt=nets[0].dt, seed=int(seed), backend=nets[0].backend)
        by_key: dict = {}
        alone = []
        for k, net in enumerate(nets):
            key = structure(net)
            if key is None:
                alone.append(k)
            else:
                by_key.setdefault(key, []).append(k)
        self.groups = list(by_key.values())
        self._groups = [_Group([nets[k] for k in ks], big, g) for g, ks in enumerate(self.groups)]
        for k in alone:
            net = nets[k]
            for obj in net.populations + net.projections:
                obj.network = None  # moved: the batched network owns it now (the network still lists it, for measuring)
            big.add(*net.populations, *net.projections, *net.monitors)

    def run(self, duration: float, progress: bool | None = None) -> None:
        """Runs the batched network for ``duration`` ms, then hands each merged network its spikes, clock and state."""
        self.network.run(duration, progress=progress)
        for group in self._groups:
            group.hand_back(self.network)
