"""One network across MPI ranks: ``Network(..., comm=MPI.COMM_WORLD)`` run under ``mpirun -n N``.

The script is the single-process one; every rank runs it. Each population is cut into ``N`` contiguous parts, rank
``r`` simulating part ``r`` of every population, and building only the synapses onto its own neurons (from the
network's seed: :meth:`~neuro.sim.Projection._draw` draws random connectivity per block of targets, so a rank draws
the blocks of its neurons and the single process draws the same blocks). The ranks exchange their spikes once per
minimum delay :math:`D` (steps; the scheme of Morrison et al. 2005): a spike emitted at step :math:`s` cannot reach any target before
:math:`s + D`, so the ranks run :math:`D` steps, gather the spikes of those steps (an ``Allgatherv`` of
(step, neuron) pairs) and go on.

How a rank runs (``_RankNetwork``, an ordinary :class:`~neuro.sim.Network` with the same ``dt`` and seed):

- its own neurons keep their global indices in its arrays (the rest of ``0 .. N_total - 1`` is filled with empty
  spike sources, which the loop never visits), so their random streams (noise, Poisson inputs, random initial values
  of user models: counters of (seed, step, neuron)) are the single process's;
- each population has a *proxy*, a spike source of the whole population, which replays every gathered spike
  :math:`D` steps late; every projection starts at the proxy of its presynaptic population, its delays shortened by
  :math:`D`. A spike so arrives at the step it arrives in the single process. The proxies are laid out in the order
  the single process keeps a step's spikes in (neurons by index, then spike sources), so every target adds its
  inputs in the same order and the sums are the same bits: the spikes are identical (``tests/sim/test_mpi.py``).

Monitors are filled on rank 0 (spike and rate monitors from the gathered spikes, state monitors gathered at the end
of each run); on the other ranks they stay empty. A spike monitor streaming to one HDF5 file is written by rank 0
alone: give ``h5=`` on rank 0 only (``SpikeMonitor(pop, h5=path if rank == 0 else None)``: two processes creating one
file race for its lock). :func:`gather_synapses` collects a projection's weights.

Not distributed (refused with an error naming the object): monitors of synapses or modulators, ``reward`` callbacks,
reward-modulated STDP, plasticity with a dendritic delay fraction, user-defined rules reading or writing presynaptic
neuron variables, ``(summed)`` variables, per-synapse or drawn rule values, spike sources with
``repeats="multiplicity"``, the GPU backends, and delays of 0 steps.

Faults: every exchange waits at most ``timeout`` seconds (``Network(comm=..., timeout=...)``); a rank whose partner
died or hangs writes ``neuro.sim rank r/N: ...`` to stderr and calls ``MPI_Abort``, which ends every rank. MPICH's
``mpirun`` by default kills the other ranks silently as soon as one dies; ``mpirun -disable-auto-cleanup`` lets them
report first.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ..ops.three_factor.params import RewardModulatedSTDP
from .monitors import PopulationRateMonitor, SpikeMonitor, StateMonitor
from .populations import LIF, ConductanceLIF, Izhikevich, ModelPopulation, PoissonInput, SpikeSource
from .projections import Projection, user_rule

_SUPPORTED = (LIF, ConductanceLIF, Izhikevich, PoissonInput, SpikeSource, ModelPopulation)


def part(n: int, rank: int, size: int) -> tuple[int, int]:
    """The neurons ``[lo, hi)`` of a population of ``n`` that rank ``rank`` of ``size`` simulates."""
    return n * rank // size, n * (rank + 1) // size


def _slice(pop, a: int, b: int):
    """A copy of population ``pop`` holding its neurons ``a .. b - 1`` (parameters, initial values, inputs)."""
    new = object.__new__(type(pop))
    d = new.__dict__
    d.update(pop.__dict__)
    d.update(n=b - a, name=f"{pop.name}[{a}:{b}]", network=None, start=0, _laid_out=False, _random_init={})
    d["_init"] = {k: np.array(v[a:b]) for k, v in pop._init.items()}
    if pop.current_table is not None:
        d["current_table"] = np.array(pop.current_table[:, a:b])
    if isinstance(pop, ModelPopulation):
        d["_values"] = {k: (np.array(np.asarray(v)[a:b]) if np.ndim(v) == 1 and len(v) == pop.n else v) for k, v in pop._values.items()}
    if isinstance(pop, SpikeSource):
        keep = (pop.indices >= a) & (pop.indices < b)
        d["times"], d["indices"] = pop.times[keep], pop.indices[keep] - a
    return new


def _check(net) -> None:
    """Refuse what a distributed run does not support, naming it."""
    if net.backend != "cpu":
        raise NotImplementedError(f"a distributed network runs on the CPU loop; got backend={net.backend!r}")
    for pop in net.populations:
        if not isinstance(pop, _SUPPORTED):
            raise NotImplementedError(f"{pop.name}: {type(pop).__name__} populations are not distributed yet "
                                      f"(supported: {', '.join(c.__name__ for c in _SUPPORTED)})")
        if isinstance(pop, SpikeSource) and pop.repeats == "multiplicity":
            raise NotImplementedError(f"{pop.name}: spike sources with repeats='multiplicity' are not distributed yet")
    for mon in net.monitors:
        if not isinstance(mon, SpikeMonitor | PopulationRateMonitor | StateMonitor):
            raise NotImplementedError(f"a {type(mon).__name__} is not distributed yet (spike, rate and state monitors are)")
    for proj in net.projections:
        rule = proj.plasticity
        if isinstance(rule, RewardModulatedSTDP):
            raise NotImplementedError(f"projection {proj.name}: reward-modulated STDP is not distributed yet")
        if rule is not None and float(getattr(rule, "dendritic_fraction", 0.0)) != 0.0:
            raise NotImplementedError(f"projection {proj.name}: plasticity with a dendritic delay fraction "
                                      f"({rule.dendritic_fraction}) is not distributed; use dendritic_fraction=0")
        plastic = user_rule(rule)
        if plastic is not None:
            model = plastic.model
            pre_vars = sorted(n for n in model.external if n.endswith("_pre"))
            if pre_vars:
                raise NotImplementedError(f"projection {proj.name}: its rule reads presynaptic neuron variables {pre_vars}, which live "
                                          "on other ranks; not distributed")
            if model.summed:
                raise NotImplementedError(f"projection {proj.name}: (summed) variables ({sorted(model.summed)}) are not distributed")
            varied = sorted(k for k, v in plastic.values.items() if callable(v) or np.ndim(v) > 0)
            if varied:
                raise NotImplementedError(f"projection {proj.name}: per-synapse or drawn rule values ({varied}) are not distributed; "
                                          "give scalars")


class _RankNetwork:
    """Marker base; the class itself is made in :func:`_rank_class` (it subclasses Network, imported late)."""


def _rank_class():
    from .network import Network

    class RankNetwork(Network, _RankNetwork):
        """A rank's part of a distributed network: captures the spikes of its own neurons (``local``) in every run."""

        def build(self):
            super().build()
            s = self._s
            s.rec_mask[:] = False
            for pop in self.local:
                s.rec_mask[pop.start : pop.start + pop.n] = True
            self.local_gen = (s.gen_steps, s.gen_idx)
            # room for the spikes of a whole exchange interval: no run stopped early for a full buffer
            self._SPIKE_BUFFER_MIN = (self.interval + 1) * s.hist_idx.shape[1]

        def _collect(self, steps_done, spk_step, spk_idx, *rest):
            self.spikes.append((spk_step.copy(), spk_idx.copy()))
            if self.monitors:  # state monitors of the rank's neurons
                super()._collect(steps_done, spk_step, spk_idx, *rest)
            else:  # the counts only (the spikes are counted by the distributed network from the gathered ones)
                self.counts["steps"] += int(steps_done)

        def begin(self) -> None:
            """Before the intervals of one run of the user's: the per-run preparation and checks of :meth:`Network.run`."""
            self._ensure_built()
            self._prepare_run()
            self._check_finite(None)
            self._args = None  # the loop's arguments, made by the first interval of this run

        def interval_run(self, k: int) -> None:
            """``k`` steps (at most one exchange interval): :meth:`Network.run`'s CPU path without its per-run preparation,
            checks and progress bar (done once per user run by :meth:`begin` / :meth:`end`: nothing changes between intervals),
            with buffers kept from one interval to the next."""
            from . import engine_cpu as E

            if self._threads > 1:  # the threaded loop: through Network.run
                self.run(k * self.dt, progress=False)
                return
            s = self._s
            if self._args is None or self._args[1] != k:  # the arguments by name (engine_cpu.LOOP_ARGS), buffers for k steps
                cap = (max(k, self.interval) + 1) * s.hist_idx.shape[1]
                counters = np.zeros(4, np.int64)  # spikes, synaptic events, state rows, synapse rows (views below)
                now = {"t0": self.step, "n_steps": k, "dt": self.dt, "seed": self.seed, "n_threads": 1, "tgt": s.tgt.reshape(-1),
                       "syn_split": self._delivery_splits(s), "spk_step": np.empty(cap, np.int64), "spk_idx": np.empty(cap, np.int64),
                       "spk_count": counters[0:1], "pop_counts": np.zeros((k, max(1, len(self.populations))), np.int64),
                       "ev_count": counters[1:2], "st_out": np.zeros((k // s.st_every + 2, s.st_idx.size)), "st_count": counters[2:3],
                       "sm_out": np.zeros((k // s.sm_every + 2, s.sm_idx.size)), "sm_count": counters[3:4]}
                self._args = [now[name] if name in now else getattr(s, name) for name in E.LOOP_ARGS]
                self._at = {name: E.LOOP_ARGS.index(name) for name in ("t0", "gen_steps", "gen_idx", "gen_ptr")}
                self._out = (counters, now["spk_step"], now["spk_idx"], now["pop_counts"], now["st_out"], now["sm_out"])
            args, at = self._args, self._at
            counters, spk_step, spk_idx, pop_counts, st_out, sm_out = self._out
            counters[:] = 0
            pop_counts[:] = 0
            args[at["t0"]], args[at["gen_steps"]], args[at["gen_idx"]], args[at["gen_ptr"]] = self.step, s.gen_steps, s.gen_idx, s.gen_ptr
            got = E.run_steps(*args)
            if got != k:
                raise AssertionError(f"the loop stopped after {got} of {k} steps (spike buffer of {spk_step.size})")
            self.counts["synaptic_events"] += int(counters[1])
            n = int(counters[0])
            self._collect(got, spk_step[:n], spk_idx[:n], pop_counts, st_out[: counters[2]], sm_out[: counters[3]])
            self.step += got

        def end(self, t_from: float) -> None:
            self._check_finite(t_from)

    return RankNetwork


class Distributed:
    """The rank's side of a distributed :class:`~neuro.sim.Network` (made by its first :meth:`~neuro.sim.Network.run`)."""

    def __init__(self, net, comm, timeout: float):
        _check(net)
        self.net, self.comm, self.timeout = net, comm, float(timeout)
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        # what this rank measured (benchmarks/sim_mpi.py): exchanges, bytes it sent in them (counts and spikes), seconds
        # in its part's loop (and the replay set-up), seconds in the exchanges (waiting for the others included)
        self.exchanges, self.bytes_sent, self.compute_s, self.exchange_s = 0, 0, 0.0, 0.0
        self._build()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        net, rank, size = self.net, self.rank, self.size
        pops = net.populations
        starts = np.cumsum([0] + [p.n for p in pops])
        n_total = int(starts[-1])
        self.ranges = [part(p.n, rank, size) for p in pops]
        # proxies: neurons' populations, then spike sources (a step's spikes in the single process: neurons, then sources)
        order = [k for k, p in enumerate(pops) if not isinstance(p, SpikeSource)] + [k for k, p in enumerate(pops) if isinstance(p, SpikeSource)]
        self.key = np.empty(max(n_total, 1), np.int64)  # global neuron -> its proxy's index in the rank's arrays
        at = n_total
        proxy_start = {}
        for k in order:
            proxy_start[k] = at
            self.key[starts[k] : starts[k + 1]] = np.arange(at, at + pops[k].n)
            at += pops[k].n
        # each rank draws the synapses onto its neurons; the smallest delay over all ranks sets the exchange interval
        drawn = []
        low = np.iinfo(np.int64).max
        for proj in net.projections:
            q = pops.index(proj.post)
            lo, hi = self.ranges[q]
            mine = object.__new__(Projection)
            mine.__dict__.update(proj.__dict__)
            if proj._drawn:  # drawn already (seed= given, or no randomness): keep the synapses onto [lo, hi)
                keep = (proj._post >= lo) & (proj._post < hi)
                mine._pre, mine._post = proj._pre[keep], proj._post[keep]
                mine._w = proj._w[keep] if proj._w.strides[0] else proj._w[: int(keep.sum())]
                mine._delay_ms = proj._delay_ms[keep] if proj._delay_ms.strides[0] else proj._delay_ms[: int(keep.sum())]
            else:
                mine._draw(proj._key, (lo, hi))
            steps = mine.delay_steps(net.dt)
            if steps.size:
                low = min(low, int(steps.min()))
            drawn.append((proj, mine, steps))
        self.interval = int(self._allreduce_min(low))
        if self.interval == 0:
            raise ValueError("a distributed network needs every delay to be at least one step (dt = "
                             f"{net.dt} ms): the ranks exchange spikes once per minimum delay, and this network has delays of 0")
        if self.interval == np.iinfo(np.int64).max:  # no synapses: exchange for the monitors only
            self.interval = max(1, int(round(10.0 / net.dt)))
        D = self.interval
        R = _rank_class()(dt=net.dt, seed=net.seed, threads=net.threads)
        R.interval = D
        R.spikes = []
        R.local = []
        local_of = {}
        for k, pop in enumerate(pops):
            lo, hi = self.ranges[k]
            if lo > 0:
                R.add(SpikeSource(lo, [], [], name=f"{pop.name}[:{lo}]"))
            if hi > lo:
                mine = _slice(pop, lo, hi)
                R.add(mine)
                R.local.append(mine)
                local_of[k] = mine
            if pop.n > hi:
                R.add(SpikeSource(pop.n - hi, [], [], name=f"{pop.name}[{hi}:]"))
        self.proxies = {}
        for k in order:
            self.proxies[k] = R.add(SpikeSource(pops[k].n, [], [], name=f"{pops[k].name} (proxy)"))
        self.projections = {}
        for proj, mine, steps in drawn:
            q = pops.index(proj.post)
            if q not in local_of:
                continue
            lo = self.ranges[q][0]
            rp = Projection(self.proxies[pops.index(proj.pre)], local_of[q], (mine._pre, mine._post - lo), weight=np.array(mine._w, dtype=np.float64),
                            delay=(steps - D) * net.dt, receptor=proj.receptor, plasticity=proj.plasticity, autapses=True, multapses=True,
                            name=proj.name)
            R.add(rp)
            self.projections[id(proj)] = (rp, mine)
        self.states = []  # (user's monitor, the rank's monitor or None, global indices it records)
        for mon in net.monitors:
            if isinstance(mon, StateMonitor):
                k = pops.index(mon.pop)
                lo, hi = self.ranges[k]
                sel = mon.indices[(mon.indices >= lo) & (mon.indices < hi)]
                mine = R.add(StateMonitor(local_of[k], mon.var, sel - lo, every=mon.every)) if sel.size else None
                self.states.append((mon, mine, sel))
        R.modulators = dict(net.modulators)
        R.build()
        self.R = R
        self.starts = starts
        self.pending = (np.zeros(0, np.int64), np.zeros(0, np.int64))  # gathered spikes to replay: (step, proxy index)

    # ------------------------------------------------------------------ communication
    def _wait(self, req, what: str) -> None:
        """Wait for ``req`` at most ``timeout`` seconds; past that, report and abort every rank."""
        deadline = time.monotonic() + self.timeout
        spins = 0
        while not req.Test():
            spins += 1
            if spins > 200:
                time.sleep(2e-4)
            if time.monotonic() > deadline:
                msg = (f"neuro.sim rank {self.rank}/{self.size}: {what} did not complete within {self.timeout:g} s "
                       f"(network time {self.net.t:g} ms): another rank died or hangs; ending the run (MPI_Abort)")
                print(msg, file=sys.stderr, flush=True)
                self.comm.Abort(1)
                raise RuntimeError(msg)  # not reached: Abort ends the process

    def _allreduce_min(self, value: int) -> int:
        from mpi4py import MPI

        out = np.zeros(1, np.int64)
        self._wait(self.comm.Iallreduce(np.array([value], np.int64), out, op=MPI.MIN), "the agreement on the minimum delay")
        return int(out[0])

    def _exchange(self, steps: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every rank's spikes of this interval: (step, global neuron) in the single process's order."""
        counts = np.zeros(self.size, np.int64)
        self._wait(self.comm.Iallgather(np.array([steps.size], np.int64), counts), "the spike count exchange")
        send = np.empty(2 * steps.size, np.int64)
        send[0::2], send[1::2] = steps, idx
        recv = np.empty(2 * int(counts.sum()), np.int64)
        self._wait(self.comm.Iallgatherv(send, [recv, 2 * counts]), "the spike exchange")
        self.bytes_sent += 8 + send.nbytes
        self.exchanges += 1
        st, ix = recv[0::2], recv[1::2]
        order = np.lexsort((self.key[ix], st))
        return st[order], ix[order]

    # ------------------------------------------------------------------ running
    def run(self, n_steps: int) -> None:
        net, R, D = self.net, self.R, self.interval
        done = 0
        R.begin()
        t_from = R.t
        t_run = net.step
        got = []  # rank 0: the gathered spikes, recorded once at the end of the run
        s = R._s
        while done < n_steps:
            t_start = time.perf_counter()
            t0 = net.step
            k = min(D, n_steps - done)
            # this interval's source spikes: the rank's own spike sources and the replayed spikes of every rank
            ls, li = R.local_gen
            a, b = np.searchsorted(ls, [t0, t0 + k])
            ps, pi = self.pending
            c = np.searchsorted(ps, t0 + k)
            st, ix = np.concatenate([ls[a:b], ps[:c]]), np.concatenate([li[a:b], pi[:c]])
            o = np.lexsort((ix, st))
            s.gen_steps, s.gen_idx, s.gen_ptr = st[o], ix[o], np.zeros(1, np.int64)
            self.pending = (ps[c:], pi[c:])
            R.spikes = []
            R.interval_run(k)
            my_st = np.concatenate([m[0] for m in R.spikes]) if R.spikes else np.zeros(0, np.int64)
            my_ix = np.concatenate([m[1] for m in R.spikes]) if R.spikes else np.zeros(0, np.int64)
            t1 = time.perf_counter()
            g_st, g_ix = self._exchange(my_st, my_ix)
            t2 = time.perf_counter()
            self.compute_s += t1 - t_start
            self.exchange_s += t2 - t1
            self.pending = (np.concatenate([self.pending[0], g_st + D]), np.concatenate([self.pending[1], self.key[g_ix]]))
            if self.rank == 0:
                got.append((g_st, g_ix))
            net.counts["steps"] += k
            net.counts["spikes"] += int(g_st.size)
            net.step += k
            done += k
        R.end(t_from)
        if self.rank == 0:
            st = np.concatenate([g[0] for g in got]) if got else np.zeros(0, np.int64)
            ix = np.concatenate([g[1] for g in got]) if got else np.zeros(0, np.int64)
            step = net.step
            net.step = t_run  # monitors note the time their recording started
            self._record(t_run, n_steps, st, ix)
            net.step = step
        self._gather_states()

    def _record(self, t0: int, k: int, st: np.ndarray, ix: np.ndarray) -> None:
        net = self.net
        for mon in net.monitors:
            p = net.populations.index(mon.pop)
            lo, hi = self.starts[p], self.starts[p + 1]
            if isinstance(mon, SpikeMonitor):
                sel = (ix >= lo) & (ix < hi)
                if mon.indices is not None:
                    sel &= np.isin(ix - lo, mon.indices)
                mon._append(st[sel] * net.dt, ix[sel] - lo)
            elif isinstance(mon, PopulationRateMonitor):
                mon.dt = net.dt
                if not mon._counts:
                    mon._t0 = t0 * net.dt
                sel = (ix >= lo) & (ix < hi)
                mon._counts.append(np.bincount(st[sel] - t0, minlength=k).astype(np.int64))

    def _gather_states(self) -> None:
        """Each state monitor's new samples, gathered on rank 0 (columns in the monitor's order)."""
        for mon, mine, sel in self.states:
            t = mine.t if mine is not None else None
            vals = mine.values if mine is not None else None
            if mine is not None:
                mine._t, mine._v = [], []
            parts = self.comm.gather((sel, t, vals), root=0)
            if self.rank != 0:
                continue
            have = [(s_, t_, v_) for s_, t_, v_ in parts if s_.size]
            if not have:
                continue
            t = have[0][1]
            out = np.empty((t.size, mon.indices.size))
            for s_, _, v_ in have:
                out[:, np.searchsorted(mon.indices, s_)] = v_
            mon._t.append(t)
            mon._v.append(out)


def gather_synapses(net, proj) -> dict[str, np.ndarray] | None:
    """A projection's synapses now, ordered by postsynaptic neuron (ties in creation order): ``{"pre", "post", "w"}``
    (indices in the populations). On a distributed network gathered from every rank: rank 0 gets them, the others None;
    on a single process, the same arrays."""
    dist = getattr(net, "_dist", None)
    if dist is None:
        net._ensure_built()
        pre, post, w = proj.pre_index, proj.post_index, proj.weights
        o = np.argsort(post, kind="stable")
        return {"pre": pre[o], "post": post[o], "w": w[o]}
    q = net.populations.index(proj.post)
    lo = dist.ranges[q][0]
    got = dist.projections.get(id(proj))
    if got is None:
        mine = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    else:
        rp = got[0]
        mine = (rp.pre_index, rp.post_index + lo, rp.weights)
    parts = dist.comm.gather(mine, root=0)
    if dist.rank != 0:
        return None
    pre, post, w = (np.concatenate([p[j] for p in parts]) for j in range(3))
    o = np.argsort(post, kind="stable")
    return {"pre": pre[o], "post": post[o], "w": w[o]}


def is_rank_network(net) -> bool:
    return isinstance(net, _RankNetwork)


__all__ = ["Distributed", "gather_synapses", "part"]
