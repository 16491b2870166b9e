"""The network: populations, projections, modulators and monitors, run by the compiled loop.

Example::

    from neuro import sim
    net = sim.Network(dt=0.1, seed=1)
    exc = sim.LIF(800, v_rest=-49.0, v_th=-50.0, v_reset=-60.0, t_ref=5.0)
    net.add(exc, sim.Projection(exc, exc, sim.FixedProbability(0.02), weight=1.62, delay=1.0))
    spikes = net.add(sim.SpikeMonitor(exc))
    net.run(1000.0)                       # ms, with a progress bar for long runs
    print(spikes.rate(1000.0), "Hz")

Between runs, population state (``pop.v``), weights (``proj.weights``) and modulators can be
read and changed; :meth:`Network.save` / :meth:`Network.restore` write and read the whole
dynamic state (atomically), so a run can be continued exactly later.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from tqdm.auto import tqdm

from ..ops.stdp.cpu import pack as pack_stdp
from ..ops.stdp.params import PairSTDP, TripletSTDP
from ..ops.three_factor.params import Neuromodulator, RewardModulatedSTDP
from ..units import check_dt, to_ms, too_short_run
from . import engine_cpu as E
from . import projections as _layout
from .monitors import VARIABLES, ModulatorMonitor, PopulationRateMonitor, SpikeMonitor, StateMonitor, SynapseMonitor
from .populations import ModelPopulation, Population, SpikeSource
from .projections import RECEPTORS, Projection

_POPULATION_STREAM = 0x504F5055  # ... and of the populations' initial values
_PROJECTION_STREAM = 0x50524F4A  # entropy word of the projections' draws (SeedSequence([seed, this, index]))
_N_PAR = 30  # proj_par columns; 29: 1 where a pair / triplet rule delivers the weight before its update (delivery)
FRAME_MAX = 1024  # longest period of a current frame (steps); see Network._build_frames
FRAME_FLOOR = 1e-100  # smallest frame factor used inside a period (1 / F stays below 1e100)
_STATE_KEYS = ("v", "u", "x1", "x2", "isyn", "refrac", "syn_w", "ntr", "elig", "elig_post", "modulator",
               "period_next", "period_last", "hist_idx", "hist_n", "hist_step", "gen_ptr", "gen_state", "syn_state")
_TARGET_ROWS = ("x1", "x2", "isyn", "v")  # rows of the delivery matrix s.tgt, in engine order (row 3: direct synapses)
# the arrays the time loop reads at random (per synapse, per plastic event, per neuron), kept in one buffer on huge pages
_HOT_KEYS = ("syn_w", "syn_tgt", "syn_fk", "off", "seg_code", "seg_proj", "pre_off", "pre_code", "pre_ev", "post_off", "post_ev",
             "post_one", "post_pk", "post_syn", "elig", "elig_post", "syn_postpos",
             "proj_syn", "ntr", "tgt", "u", "refrac", "i_ext", "rate", "na", "nb", "nc", "nd", "hist_idx")
_HUGE_PAGE = 2 << 20
_OWN_HUGE = 4 << 20  # NumPy advises huge pages for allocations of this size or more (numpy/_core/src/multiarray/alloc.c)


def _into_huge_pages(s: SimpleNamespace, keys, min_bytes: int = 1 << 20) -> None:
    """Moves the arrays ``keys`` of ``s`` into one buffer aligned to 2 MiB, which the kernel backs with transparent huge
    pages (NumPy advises it to for buffers of 4 MiB or more; nothing changes where THP is off).

    The loop's random reads into several MiB of synapse and event arrays otherwise miss the TLB as much as the
    caches: measured on spnet (100k synapses), 5-10 % of the loop in every one of six interleaved pairs. Views of
    the moved arrays must be taken again after the move (``s.tgt``'s rows). Skipped below ``min_bytes`` in all.
    Arrays of ``_OWN_HUGE`` bytes or more stay where they are: NumPy already asks for huge pages for them, and
    copying them was most of the build time of large networks (first touches of fresh memory: 2.4 of 5.6 s at 5 M
    synapses).
    """
    arrs = [(k, a) for k in keys if (a := getattr(s, k)).nbytes < _OWN_HUGE]
    sizes = [(a.nbytes + 63) // 64 * 64 for _, a in arrs]
    if sum(sizes) < min_bytes:
        return
    buf = np.empty(max(sum(sizes), 4 << 20) + _HUGE_PAGE, np.uint8)
    pos = (-buf.ctypes.data) % _HUGE_PAGE
    for (k, a), size in zip(arrs, sizes):
        v = buf[pos : pos + a.nbytes].view(a.dtype).reshape(a.shape)
        v[...] = a
        setattr(s, k, v)
        pos += size


# absent from states saved before the per-neuron trace banks (those kept traces per synapse): restored as zero traces
_OPTIONAL_STATE_KEYS = ("ntr", "elig_post", "gen_state", "syn_state")
_RULE_STREAM = 0x53594E56  # entropy word of the user-defined rules' drawn values (SeedSequence([seed, this, index]))


_BACKENDS = ("cpu", "cuda", "emulate")


class Network:
    """A spiking network simulated with time step ``dt`` (ms, or a time quantity with units: :mod:`neuro.units`);
    ``seed`` fixes every random stream of the run.

    ``backend``: ``"cpu"`` (the Numba loop of :mod:`neuro.sim.engine_cpu`), ``"cuda"`` (the CUDA kernels of
    :mod:`neuro.sim.engine_gpu`, needs CuPy and a GPU) or ``"emulate"`` (those CUDA kernels compiled as C++
    and run sequentially on the CPU: slow, for testing the GPU path on a machine without one). The
    random streams are the same function of (seed, step, neuron) on every backend.

    ``comm``: an MPI communicator (mpi4py's ``MPI.COMM_WORLD``) to run the network across its ranks under
    ``mpirun -n N``, each rank simulating its part, with the spikes of the single process (:mod:`neuro.sim.distributed`);
    ``timeout``: the seconds a rank waits for the others at a spike exchange before it reports and ends the run.
    """

    # a run's spike buffer: the loop stops before a step whose spikes might not fit, and the run goes on with a doubled buffer
    _SPIKE_BUFFER_MIN = 1 << 15
    _SPIKE_BUFFER_PER_NEURON = 16

    def __init__(self, dt: float = 0.1, seed: int = 0, backend: str = "cpu", threads: int = 1, comm=None, timeout: float = 120.0):
        dt = to_ms(dt, "dt")  # a Brian2 / pint / brainunit time, checked and converted; a number is ms
        if isinstance(dt, bool) or not isinstance(dt, int | float | np.integer | np.floating) or not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a finite number > 0 ms, got {dt!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
            raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
        check_dt(float(dt))
        self.backend = backend
        self.threads = threads
        self._engine = None
        self.dt = float(dt)
        self.seed = int(seed) & 0xFFFFFFFF
        self.populations: list[Population] = []
        self.projections: list[Projection] = []
        self.monitors: list = []
        self.modulators: dict[str, Neuromodulator] = {}
        self.step = 0
        self.built = False
        self._s = SimpleNamespace()
        self.counts = {"steps": 0, "neuron_updates": 0, "synaptic_events": 0, "spikes": 0}
        if comm is not None and not all(hasattr(comm, a) for a in ("Get_rank", "Get_size", "Iallgatherv")):
            raise TypeError(f"comm must be an MPI communicator (mpi4py's MPI.COMM_WORLD) or None, got {type(comm).__name__}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
        self.comm, self.timeout = comm, float(timeout)
        self._dist = None  # the rank's side of a distributed run (neuro.sim.distributed), made by the first run

    @property
    def distributed(self) -> bool:
        """True when the network runs across the ranks of ``comm`` (more than one)."""
        return self.comm is not None and self.comm.Get_size() > 1

    @property
    def t(self) -> float:
        """Current time (ms)."""
        return self.step * self.dt

    @property
    def threads(self) -> int:
        """Threads of the CPU loop (default 1, at most the cores this process may use): each population of at least
        ``2 x 4096`` neurons is updated in chunks, one per thread, and the delivery is partitioned by target neuron
        (``engine_cpu.run_threads``). The spikes and the state are the same bits with any number of threads
        (tests/sim/test_threads.py). Settable between runs; the GPU engine ignores it."""
        return self._threads

    @threads.setter
    def threads(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"threads must be an integer >= 1, got {n!r}")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if n > cores:  # the workers wait for each other at every step, spinning: one without a core stalls them all
            raise ValueError(f"threads = {n} is more than the {cores} cores this process may use")
        self._threads = int(n)

    # ------------------------------------------------------------------ building
    def add(self, *objs):
        """Add populations, projections and monitors; returns the (last) object added."""
        if self._dist is not None:
            raise RuntimeError("a distributed network cannot be changed after its first run (each rank has built its part)")
        for obj in objs:
            if isinstance(obj, Population):
                if obj.network is not None and obj.network is not self:
                    raise ValueError(f"{obj.name} already belongs to another network")
                if obj.network is self:
                    continue
                obj.network = self
                if obj._random_init:  # initial values given as f(rng, n): from this network's seed and the population's place
                    obj._draw_init(np.random.default_rng(np.random.SeedSequence([self.seed, _POPULATION_STREAM, len(self.populations)])))
                self.populations.append(obj)
            elif isinstance(obj, Projection):
                if obj.network is not None and obj.network is not self:
                    raise ValueError(f"projection {obj.name} already belongs to another network")
                if obj.network is self:
                    continue
                obj._key = [self.seed, _PROJECTION_STREAM, len(self.projections)]
                if not obj._drawn and not self.distributed:  # its random draws come from this network's seed and its place among the
                    obj._draw(obj._key)  # projections (distributed: each rank draws the synapses onto its neurons, on the first run)
                self.projections.append(obj)
                obj.network = self
            elif isinstance(obj, SpikeMonitor | StateMonitor | PopulationRateMonitor | SynapseMonitor | ModulatorMonitor):
                self.monitors.append(obj)
            else:
                raise TypeError(f"cannot add a {type(obj).__name__} to a Network")
            self.built = False
        return objs[-1] if objs else None

    def add_modulator(self, name: str, tau: float | None = None, initial: float = 0.0) -> Neuromodulator:
        """A global neuromodulator (e.g. dopamine) whose concentration decays with ``tau`` ms (default: Izhikevich 2007's)."""
        mod = Neuromodulator(initial=initial) if tau is None else Neuromodulator(tau=tau, initial=initial)
        self.modulators[name] = mod
        self.built = False
        return mod

    def release(self, name: str, amount: float) -> None:
        """Raise modulator ``name`` by ``amount`` now."""
        if name not in self.modulators:
            raise KeyError(f"no modulator {name!r}; known: {sorted(self.modulators)}")
        if not math.isfinite(amount):
            raise ValueError(f"release({name!r}, amount): amount must be finite, got {amount}")
        self._ensure_built()
        self._s.modulator[list(self.modulators).index(name)] += amount

    def modulator(self, name: str) -> float:
        self._ensure_built()
        return float(self._s.modulator[list(self.modulators).index(name)])

    def _ensure_built(self) -> None:
        if not self.built:
            self.build()

    def build(self) -> None:
        """Lay out the flat arrays of the compiled loop (done by :meth:`run` when needed)."""
        if self.distributed:
            raise RuntimeError("a distributed network (comm with more than one rank) is laid out by each rank for its own neurons on the "
                               "first run(); its state lives on the ranks: read it with monitors or neuro.sim.distributed.gather_synapses")
        old = self._s if hasattr(self._s, "v") else None
        dt = self.dt
        if old is not None:
            # carry the dynamic state of populations laid out before into the new layout
            for pop in self.populations:
                if getattr(pop, "_laid_out", False) and isinstance(pop, ModelPopulation):
                    pop._keep_values()
                if getattr(pop, "_laid_out", False):
                    for key in ("v", "u", "x1", "x2", "i_ext", "sigma", "rate", "na", "nb", "nc", "nd"):
                        pop._init[key] = getattr(old, key)[pop.start : pop.start + pop.n].copy()
                    for c, key in enumerate(("x1", "x2")):  # currents as currents, not in the old layout's frame
                        pop._init[key] *= self._frame_factor(old, int(old.npop[pop.start]), c)
            for proj in self.projections:  # the variables of user-defined rules, by synapse in creation order
                if getattr(proj, "_rule_offsets", None) is not None and hasattr(old, "syn_state"):
                    proj._rule_values = {k: old.syn_state[off : off + len(proj)].copy() for k, off in proj._rule_offsets.items()}
        for proj in self.projections:
            for pop in (proj.pre, proj.post):
                if pop.network is not self:
                    raise ValueError(f"projection {proj.name} uses population {pop.name}, which is not in this network")
            if isinstance(proj.post, ModelPopulation) and proj.receptor not in proj.post.definition.inputs:
                raise ValueError(f"projection {proj.name}: {proj.post.name} (a {proj.post.definition.name or 'user-defined'} model) has no "
                                 f"input {proj.receptor!r}; its inputs: {proj.post.definition.inputs or 'none (give inputs= to the model)'}")
            if proj.modulator is not None and proj.modulator not in self.modulators:
                raise ValueError(f"projection {proj.name} needs modulator {proj.modulator!r}; add it with add_modulator()")
        for mon in self.monitors:
            if isinstance(mon, SynapseMonitor):
                if mon.proj.network is not self:
                    raise ValueError(f"a synapse monitor watches {mon.proj.name}, which is not in this network")
            elif isinstance(mon, ModulatorMonitor):
                if mon.name not in self.modulators:
                    raise ValueError(f"a modulator monitor watches {mon.name!r}; add it with add_modulator() (known: {sorted(self.modulators)})")
            elif mon.pop.network is not self:
                raise ValueError(f"a monitor watches {mon.pop.name}, which is not in this network")
        s = SimpleNamespace()
        start = 0
        for pop in self.populations:
            pop.start = start
            start += pop.n
            pop.check_dt(dt)
        n = start
        for pop in self.populations:  # a user-defined model's input variables live in the delivery matrix's rows
            if isinstance(pop, ModelPopulation):
                for var, row in pop._rows.items():
                    pop._init[row] = np.asarray(pop._values[var], dtype=np.float64).copy()
        for key in ("v", "u", "x1", "x2", "i_ext", "sigma", "rate", "na", "nb", "nc", "nd"):
            parts = [p._init[key] for p in self.populations]
            setattr(s, key, np.concatenate(parts).astype(np.float64) if parts else np.zeros(0))
        s.isyn = np.zeros(n)
        s.xdrive = np.zeros(n)
        s.refrac = np.zeros(n, dtype=np.int64)
        s.pop_start = np.array([p.start for p in self.populations], dtype=np.int64)
        s.pop_end = np.array([p.start + p.n for p in self.populations], dtype=np.int64)
        s.pop_model = np.array([p.model for p in self.populations], dtype=np.int64)
        s.pop_par = np.stack([p.params(dt) for p in self.populations]) if self.populations else np.zeros((0, 12))
        s.npop = np.repeat(np.arange(len(self.populations), dtype=np.int64), [p.n for p in self.populations]) if n else np.zeros(0, np.int64)
        # external current tables
        s.cur_col = np.full(n, -1, dtype=np.int64)
        tables = [(p, p.current_table) for p in self.populations if p.current_table is not None]
        if tables:
            rows = max(t.shape[0] for _, t in tables)
            s.cur_table = np.zeros((rows, sum(p.n for p, _ in tables)))
            col = 0
            for p, t in tables:
                s.cur_table[: t.shape[0], col : col + p.n] = t
                s.cur_col[p.start : p.start + p.n] = np.arange(col, col + p.n)
                col += p.n
        else:
            s.cur_table = np.zeros((0, 1))
        s.cur_t0 = self.step
        # spike sources
        steps, idx = [], []
        surplus = 0  # spikes beyond one per neuron in one step (SpikeSource repeats="multiplicity"): room in the spike rows
        for p in self.populations:
            if isinstance(p, SpikeSource):
                surplus += p.check_repeats(dt)
                steps.append(p.steps(dt))
                idx.append(p.indices + p.start)
        if steps:
            st, ix = np.concatenate(steps), np.concatenate(idx)
            order = np.lexsort((ix, st))
            s.gen_steps, s.gen_idx = st[order], ix[order]
        else:
            s.gen_steps, s.gen_idx = np.zeros(0, np.int64), np.zeros(0, np.int64)
        s.gen_ptr = np.array([np.searchsorted(s.gen_steps, self.step)], dtype=np.int64)
        s.repeats = np.zeros(max(n, 1), dtype=bool)  # neurons that may spike several times in a step
        for p in self.populations:
            if isinstance(p, SpikeSource) and p.repeats == "multiplicity":
                s.repeats[p.start : p.start + p.n] = True
        self._build_synapses(s, n)
        # modulators
        s.modulator = np.array([m.initial for m in self.modulators.values()], dtype=np.float64)
        s.mod_decay = np.array([math.exp(-dt / m.tau) for m in self.modulators.values()], dtype=np.float64)
        if s.modulator.size == 0:
            s.modulator, s.mod_decay = np.zeros(1), np.ones(1)
        # ring buffer of recent spikes
        R = s.off.shape[1] - 1
        s.hist_idx = np.zeros((R, max(n, 1) + surplus), dtype=np.int64)  # one row: a step's spikes (at most n + surplus)
        s.hist_n = np.zeros(R, dtype=np.int64)
        s.hist_step = np.full(R, -1, dtype=np.int64)
        # keep what can be kept from the previous layout (state is preserved across rebuilds)
        if old is not None and old.v.shape == s.v.shape:
            for key in ("isyn", "refrac"):  # x1, x2: below, once the frames are known
                setattr(s, key, getattr(old, key))
            if old.syn_w.shape == s.syn_w.shape:
                for key in ("elig", "elig_post", "period_last", "period_next"):
                    setattr(s, key, getattr(old, key))
            if old.ntr.shape == s.ntr.shape:
                s.ntr = old.ntr
            if old.hist_idx.shape == s.hist_idx.shape:
                s.hist_idx, s.hist_n, s.hist_step = old.hist_idx, old.hist_n, old.hist_step
            if old.modulator.shape == s.modulator.shape:
                s.modulator = old.modulator
        # the four arrays synapses add into are rows of one matrix, so delivery is one indexed add per synapse
        s.tgt = np.zeros((len(_TARGET_ROWS), max(n, 1)))
        for r, key in enumerate(_TARGET_ROWS):
            s.tgt[r, :n] = getattr(s, key)
            setattr(s, key, s.tgt[r, :n])
        s.syn_tgt = self._synapse_targets(s, max(n, 1))
        self._build_frames(s)
        self._carry_frames(old, s)
        # per (neuron, delay): 0 no synapse, 1 synapses, 2 synapses onto one contiguous run of targets;
        # 3, 4 the same with weights scaled into one current frame, 5 into several (see _build_frames)
        s.seg_code = self._segment_codes(s)
        self._fuse_pre_events(s, max(n, 1))
        self._compact_post_events(s)
        _into_huge_pages(s, _HOT_KEYS)
        for r, key in enumerate(_TARGET_ROWS):  # the rows of the (possibly moved) delivery matrix
            setattr(s, key, s.tgt[r, :n])
        self._layout_models(s)
        self._layout_rules(s)
        s.rec_mask = np.zeros(n, dtype=np.bool_)
        for mon in self.monitors:
            if isinstance(mon, SpikeMonitor):
                if mon.indices is None:
                    s.rec_mask[mon.pop.start : mon.pop.start + mon.pop.n] = True
                else:
                    s.rec_mask[mon.pop.start + mon.indices] = True
        states = [m for m in self.monitors if isinstance(m, StateMonitor)]
        every = [max(1, int(round((m.every or dt) / dt))) for m in states]
        for m, ev in zip(states, every):
            if abs(ev * dt - (m.every or dt)) > 1e-6 * dt:
                raise ValueError(f"a StateMonitor of {m.pop.name} samples every {m.every} ms, not a multiple of dt = {dt} ms")
        s.st_every = int(np.gcd.reduce(every)) if every else 1
        cols_idx, cols_var = [], []
        for m, ev in zip(states, every):
            m._cols = slice(len(cols_idx), len(cols_idx) + m.indices.size)
            m._every_steps = ev
            if isinstance(m.pop, ModelPopulation):  # a variable of a user-defined model
                if m.var in m.pop._rows:  # a variable kept in a delivery-matrix row
                    cols_idx += list(m.pop.start + m.indices)
                    cols_var += [VARIABLES[m.pop._rows[m.var]]] * m.indices.size
                else:
                    cols_idx += list(m.pop._gen_offsets[m.var] + m.indices)
                    cols_var += [E.VAR_GEN] * m.indices.size
                continue
            cols_idx += list(m.pop.start + m.indices)
            cols_var += [VARIABLES[m.var]] * m.indices.size
        s.st_idx = np.array(cols_idx, dtype=np.int64)
        s.st_var = np.array(cols_var, dtype=np.int64)
        # synapse and modulator samples: one column per (synapse, quantity) or modulator
        sampled = [m for m in self.monitors if isinstance(m, SynapseMonitor | ModulatorMonitor)]
        every = [m._steps(dt) for m in sampled]
        s.sm_every = int(np.gcd.reduce(every)) if every else 1
        cols_idx, cols_kind = [], []
        names = list(self.modulators)
        for m, ev in zip(sampled, every):
            m._every_steps = ev
            if isinstance(m, SynapseMonitor):
                m._cols = slice(len(cols_idx), len(cols_idx) + m.synapses.size)
                if m.kind == E.SV_GEN:  # a variable of a user-defined rule: its place in syn_state
                    cols_idx += list(m.proj._rule_offsets[m.var] + m.synapses)
                    cols_kind += [m.kind] * m.synapses.size
                    continue
                cols_idx += list(m.proj._order[m.synapses])
                cols_kind += [m.kind] * m.synapses.size
            else:
                m._cols = slice(len(cols_idx), len(cols_idx) + 1)
                cols_idx.append(names.index(m.name))
                cols_kind.append(E.SV_MOD)
        s.sm_idx = np.array(cols_idx, dtype=np.int64)
        s.sm_kind = np.array(cols_kind, dtype=np.int64)
        # trace columns: (bank, neuron within the bank, delay part) of the synapse's pre (x_pre) or post (x_post) trace
        s.sm_aux = np.full((s.sm_idx.size, 3), -1, dtype=np.int64)
        for c, (i, kind) in enumerate(zip(s.sm_idx, s.sm_kind)):
            if kind in (E.SV_X_PRE, E.SV_X_POST) and s.syn_trace[i, 0] >= 0:
                pr = s.syn_proj[i]
                m = 0 if kind == E.SV_X_PRE else (2 if s.proj_kind[pr] == E.PL_TRIPLET else 1)
                loc, dly = (s.syn_trace[i, 0], s.syn_trace[i, 1]) if kind == E.SV_X_PRE else (s.syn_trace[i, 2], s.syn_trace[i, 3])
                s.sm_aux[c] = (s.proj_bank[pr, m], loc, dly)
        self._s = s
        self._engine = None
        self.built = True
        for p in self.populations:
            p._laid_out = True  # its state is served from the flat arrays from now on

    def _layout_models(self, s) -> None:
        """Arrays and kernels of the user-defined models (:class:`ModelPopulation`): every array of a population's kernel
        (:func:`neuro.dynamics.codegen.layout`) other than the delivery-matrix rows gets a segment of ``s.gen_state``;
        ``pop_par[p, 0]`` is the population's kernel slot, ``pop_par[p, 2]`` the table's length, ``pop_par[p, 1]`` the offset of its address table in
        ``s.gen_tab`` (filled by :meth:`_model_table` before each run, as arrays may have moved)."""
        from ..dynamics import codegen
        from ..dynamics.codegen_support import SLOTS, noop_kernel

        models = [p for p in self.populations if isinstance(p, ModelPopulation)]
        driven = self._summed_targets()
        s.gen_fired = np.zeros((max(s.v.shape[0], 1) + 7) // 8 * 8 + 32, dtype=np.uint8)
        fns, slot_of, segments, tab = [], {}, [], 0
        offset = 0
        for pop in models:
            model = pop.definition.driven_by(driven.get(id(pop), ()))  # targets of (summed) variables: inputs that change
            names = codegen.layout(model)
            values = dict(pop._values)
            steps = model.refractory_steps(values, self.dt)
            if steps is not None:
                values["_ref_steps"] = steps.astype(np.float64)
            if model.method == "exact":
                values.update(model.exact_arrays(values, self.dt))
            # parameters with one value for the whole population become literals of its kernel
            fixed = [k for k in names if k not in model.states and not k.startswith("_hold_") and k not in ("_fired", "_refrac")]
            constants = {k: float(np.asarray(values[k]).reshape(-1)[0]) for k in fixed
                         if np.all(np.asarray(values[k]) == np.asarray(values[k]).reshape(-1)[0])}
            kid = (model.key, tuple(sorted(constants.items())))
            if kid not in slot_of:
                if len(fns) == SLOTS:
                    raise ValueError(f"a network runs at most {SLOTS} different user-defined kernels (models, or parameter sets of "
                                     f"one model); {pop.name} would be the {SLOTS + 1}th")
                slot_of[kid] = len(fns)
                fns.append(codegen.load(model, constants).kernel)
            for v in codegen.held(model):
                values.setdefault(f"_hold_{v}", np.asarray(values[v], dtype=np.float64).copy())
            pop._gen_offsets = {}
            for key in names[2:]:
                if key in pop._rows:
                    continue
                pop._gen_offsets[key] = offset
                segments.append(np.broadcast_to(np.asarray(values[key], dtype=np.float64), (pop.n,)))
                offset += pop.n
            k = self.populations.index(pop)
            s.pop_par[k, 0], s.pop_par[k, 1], s.pop_par[k, 2] = slot_of[kid], tab, len(names)
            if names[0] != "_fired" or names[1] != "_refrac":  # engine_cpu._generic_update_par moves the table by these item sizes
                raise AssertionError(f"the address table of {pop.name} does not start with the spike flags and counters: {names[:2]}")
            pop._tab = (tab, names)
            tab += len(names)
        s.gen_state = np.concatenate(segments) if segments else np.zeros(1)
        s.gen_tab = np.zeros(max(tab, 1), dtype=np.uint64)
        noop = noop_kernel()
        s.gen_fns = np.array([f.address for f in fns + [noop] * (SLOTS - len(fns))], dtype=np.uint64)
        s.gen_kernels = fns  # keeps the compiled kernels (whose addresses the loop calls) alive with the layout
        s.gen_models = models

    def _model_table(self, s) -> None:
        """The addresses of every user-defined population's arrays (from its first neuron), in its kernel's order."""
        for pop in s.gen_models:
            tab, names = pop._tab
            for j, key in enumerate(names):
                if key == "_fired":
                    a, base = s.gen_fired, pop.start
                elif key == "_refrac":
                    a, base = s.refrac, pop.start
                elif key in pop._rows:
                    a, base = getattr(s, pop._rows[key]), pop.start
                else:
                    a, base = s.gen_state, pop._gen_offsets[key]
                s.gen_tab[tab + j] = a.ctypes.data + base * a.itemsize

    def _summed_targets(self) -> dict[int, set[str]]:
        """The variables of each user-defined population (by ``id``) that the (summed) variables of a rule set; one rule per
        variable (two would each set it to their own sum)."""
        out: dict[int, set[str]] = {}
        owner: dict[tuple[int, str], str] = {}
        for proj in self.projections:
            model = getattr(proj.plasticity, "model", None)
            for name in getattr(model, "summed", None) or ():
                var = name.rsplit("_", 1)[0]
                key = (id(proj.post), var)
                if key in owner:
                    raise ValueError(f"projections {owner[key]} and {proj.name} both have a (summed) variable onto {var!r} of "
                                     f"{proj.post.name}; sum both sets of synapses in one projection's rule, or give each its own variable")
                owner[key] = proj.name
                if isinstance(proj.post, ModelPopulation) and var in proj.post.definition.params:
                    out.setdefault(id(proj.post), set()).add(var)
        return out

    def _layout_rules(self, s) -> None:
        """Arrays and generated functions of the user-defined plasticity rules (:class:`neuro.dynamics.SynapseModel`):
        per projection a segment of ``s.syn_state`` for each variable and parameter (and ``lastupdate``), of ``s.syn_idx``
        for its synapses' weight index and pre / post neurons; ``proj_par[k, 0:5]`` (see ``engine_cpu.PL_GENERIC``). The
        address table ``s.syn_tab`` is filled by :meth:`_rule_table` before each run."""
        from ..dynamics import syncodegen
        from ..dynamics.codegen_support import SLOTS, noop_event, noop_kernel

        rules = [p for k, p in enumerate(self.projections) if s.proj_kind[k] == E.PL_GENERIC]
        ev, loops, slot_of, state, idx, tab, ranges = [], [], {}, [], [], 0, []
        offset = ioff = 0
        for proj in rules:
            k = self.projections.index(proj)
            model, n = proj.plasticity.model, len(proj)
            where = f"projection {proj.name}"
            external = {}
            for name in model.external:
                var, side = name.rsplit("_", 1)
                external[name] = self._neuron_dim(proj.pre if side == "pre" else proj.post, var)
            writable = {name for name in model.external if isinstance(pop_ := (proj.pre if name.endswith("_pre") else proj.post), ModelPopulation)
                        and name.rsplit("_", 1)[0] in pop_.definition.states}
            summable = {name for name in model.summed if isinstance(proj.post, ModelPopulation)
                        and name.rsplit("_", 1)[0] in proj.post.definition.params
                        and "constant" not in proj.post.definition._eqs[name.rsplit("_", 1)[0]].flags}
            model.bind(external, where, writable, summable)
            if model.writes and self.backend != "cpu":
                raise NotImplementedError(f"{where}: a rule writing neuron variables ({sorted(model.writes)}) runs on the CPU loop only so "
                                          "far; use backend='cpu'")
            for m in model.modulators:
                if m not in self.modulators:
                    raise ValueError(f"{where}: its rule reads modulator {m!r}; add it with add_modulator() (known: {sorted(self.modulators)})")
            values = getattr(proj, "_rule_values", None)
            if values is None or any(len(v) != n for v in values.values()):
                rng = np.random.default_rng(np.random.SeedSequence([self.seed, _RULE_STREAM, k]))
                values = model.values(n, proj.plasticity.values, rng, where)
                values["_lastupdate"] = np.full(n, self.step * self.dt)
            names = syncodegen.layout(model)
            constants = {p: float(values[p][0]) for p in model.params if n and np.all(values[p] == values[p][0])}
            kid = (model.key, tuple(sorted(constants.items())))
            if kid not in slot_of:
                if len(slot_of) == SLOTS:
                    raise ValueError(f"a network runs at most {SLOTS} different user-defined rules (models, or parameter sets of one "
                                     f"model); {proj.name} would be the {SLOTS + 1}th")
                slot_of[kid] = len(slot_of)
                mod = syncodegen.load(model, constants)
                ev += [mod.on_pre, mod.on_post]
                loops += [mod.clock, mod.periodic, mod.summed]
            proj._rule_offsets = {}
            for key in ["_lastupdate"] + model.states + model.params:
                proj._rule_offsets[key] = offset
                state.append(np.asarray(values.get(key, np.full(n, self.step * self.dt)), dtype=np.float64))
                offset += n
            proj._rule_values = None
            idx += [proj._order.astype(np.int64), proj.pre.start + proj._pre.astype(np.int64),
                    proj.post.start + proj._post.astype(np.int64)]
            proj._rule_idx = ioff
            ioff += 3 * n
            s.proj_par[k, 0], s.proj_par[k, 1], s.proj_par[k, 3], s.proj_par[k, 4] = slot_of[kid], tab, bool(model.clock_driven), n
            s.proj_par[k, 5] = bool(model.summed)
            proj._range = len(ranges) // 2  # its postsynaptic population's [first, end): the (summed) targets set each step
            ranges += [proj.post.start, proj.post.start + proj.post.n]
            if model.period is not None:
                period = int(round(model.period / self.dt))
                if period < 1 or abs(period * self.dt - model.period) > 1e-9 * max(1.0, model.period):
                    raise ValueError(f"{where}: the rule's period {model.period} ms is not a whole number of steps of dt = {self.dt} ms")
                s.proj_par[k, 2] = period
                s.period_next[k] = -(-self.step // period) * period  # the first step at a multiple of the period
            proj._tab = (tab, names)
            tab += len(names)
            for name in model.external:  # a current-based LIF population whose v is read keeps v real while refractory
                var, side = name.rsplit("_", 1)
                pop = proj.pre if side == "pre" else proj.post
                p = self.populations.index(pop)
                if pop.model == E.CUBA and var == "v" and s.pop_direct[p] == 0:
                    if s.pop_par[p, 11] != 0.0:
                        raise NotImplementedError(f"{where}: the rule reads v of {pop.name}, whose synapses onto v are dropped while "
                                                  "refractory (refractory_input=False); not supported together yet")
                    s.pop_direct[p] = 1
        s.syn_state = np.concatenate(state) if state else np.zeros(1)
        s.syn_idx = np.concatenate(idx) if idx else np.zeros(1, np.int64)
        s.syn_tab = np.zeros(max(tab, 1), dtype=np.uint64)
        s.syn_ev_fns = np.array([f.address for f in ev + [noop_event()] * (2 * SLOTS - len(ev))], dtype=np.uint64)
        s.syn_loop_fns = np.array([f.address for f in loops + [noop_kernel()] * (3 * SLOTS - len(loops))], dtype=np.uint64)
        s.syn_range = np.array(ranges or [0, 0], dtype=np.int64)
        s.syn_kernels = ev + loops  # keeps them alive with the layout
        s.syn_rules = rules

    @staticmethod
    def _neuron_dim(pop, var: str):
        """The dimension of neuron variable ``var`` of ``pop`` (for a rule's ``var_pre`` / ``var_post``), None if it has none."""
        from ..dynamics import units as U

        if isinstance(pop, ModelPopulation):
            return pop.definition.dims.get(var)
        if var == "v" and pop.model in (E.CUBA, E.COBA, E.IZHIKEVICH, E.DISCRETE_LIF):
            return U.VOLT
        return None

    def _rule_table(self, s) -> None:
        """The addresses of every user-defined rule's arrays, in its functions' order (arrays may move between builds)."""
        names_mod = list(self.modulators)
        for proj in s.syn_rules:
            tab, names = proj._tab
            model, n = proj.plasticity.model, len(proj)
            for j, key in enumerate(names):
                if key == "_w":
                    addr = s.syn_w.ctypes.data
                elif key == "_range":
                    addr = s.syn_range.ctypes.data + 16 * proj._range
                elif key in ("_s", "_i", "_j"):
                    addr = s.syn_idx.ctypes.data + 8 * (proj._rule_idx + n * ("_s", "_i", "_j").index(key))
                elif key in proj._rule_offsets:
                    addr = s.syn_state.ctypes.data + 8 * proj._rule_offsets[key]
                elif key in model.modulators:
                    if key not in self.modulators:
                        raise ValueError(f"projection {proj.name}: its rule reads modulator {key!r}; add it with add_modulator()")
                    addr = s.modulator.ctypes.data + 8 * names_mod.index(key)
                else:  # a neuron variable, indexed by global neuron index
                    var, side = key.rsplit("_", 1)
                    pop = proj.pre if side == "pre" else proj.post
                    if isinstance(pop, ModelPopulation) and var in pop._rows:
                        a = getattr(s, pop._rows[var])
                        addr = a.ctypes.data
                    elif isinstance(pop, ModelPopulation):
                        addr = s.gen_state.ctypes.data + 8 * (pop._gen_offsets[var] - pop.start)
                    else:
                        addr = s.v.ctypes.data
                s.syn_tab[tab + j] = addr % (1 << 64)

    @staticmethod
    def _synapse_targets(s, stride: int) -> np.ndarray:
        """Flat index into ``s.tgt`` of the variable each synapse adds its weight to.

        Izhikevich neurons take every synapse into ``isyn`` (cleared each step); other models take
        excitatory synapses into ``x1``, inhibitory ones into ``x2`` and direct ones into ``v``.
        """
        izh = s.pop_model[s.npop] == E.IZHIKEVICH if s.npop.size else np.zeros(1, bool)
        # int32 when it fits: 4 bytes less to stream per synaptic event
        tgt = np.empty(s.syn_post.shape[0], dtype=np.int32 if stride * 4 < 2**31 else np.int64)
        _layout._target_index(s.syn_chan, s.syn_post, izh, stride, E.CH_EXC, E.CH_INH, tgt)
        return tgt

    def _carry_frames(self, old, s) -> None:
        """Put the currents (laid out as currents) into the new layout's frames; where a population's frame is the
        same as in the previous layout ``old``, keep its stored values as they are (bit for bit)."""
        same = old is not None and old.v.shape == s.v.shape and hasattr(old, "fr_F")
        for p, pop in enumerate(self.populations):
            f = s.pop_fr[p]
            if f < 0:
                continue
            sl = slice(pop.start, pop.start + pop.n)
            fo = old.pop_fr[p] if same and p < old.pop_fr.shape[0] else -1
            if fo >= 0 and old.fr_P[fo] == s.fr_P[f] and np.array_equal(old.fr_F[fo], s.fr_F[f]):
                s.x1[sl], s.x2[sl] = old.x1[sl], old.x2[sl]
            else:
                ph = self.step % s.fr_P[f]
                s.x1[sl] *= s.fr_G[f, 0, ph]
                s.x2[sl] *= s.fr_G[f, 1, ph]

    def _frame_factor(self, s, p: int, c: int) -> float:
        """Factor from the stored value of channel ``c`` (0 excitatory, 1 inhibitory) of population ``p`` to the
        current at the present step (1.0 for populations without a frame)."""
        f = s.pop_fr[p] if hasattr(s, "pop_fr") and p < s.pop_fr.shape[0] else -1
        return float(s.fr_F[f, c, self.step % s.fr_P[f]]) if f >= 0 else 1.0

    @staticmethod
    def _frame_period(decays) -> tuple[int, np.ndarray]:
        """``(P, F)``: the frame period (steps) of a population and ``F[c, k] = decays[c] ** k`` (``k`` = 0 .. ``FRAME_MAX``)
        by repeated multiplication, the same numbers on every backend. ``P`` is the largest period up to
        ``FRAME_MAX`` whose factors stay at or above ``FRAME_FLOOR`` until the last phase, so ``1 / F`` stays finite."""
        # a running product (np.multiply.accumulate multiplies left to right: F[k] = F[k - 1] * decay, as a loop would)
        steps = np.empty((len(decays), FRAME_MAX + 1))
        steps[:, 0] = 1.0
        steps[:, 1:] = np.asarray(decays, dtype=np.float64)[:, None]
        F = np.multiply.accumulate(steps, axis=1)
        ok = np.all(F[:, :FRAME_MAX] >= FRAME_FLOOR, axis=0)
        return (FRAME_MAX if ok.all() else int(np.argmin(ok))), F

    def _build_frames(self, s) -> None:
        r"""Decaying frames of the synaptic currents of current-based LIF populations, and the key of each synapse.

        A current that only decays between inputs, :math:`I(t + 1) = p\, I(t) + \text{inputs}`, is stored as
        :math:`X` with :math:`I(t) = X\, F[t \bmod P]`, :math:`F[k] = p^k`: the neuron update reads :math:`X` and
        writes nothing back, an input arriving for step :math:`t + 1` adds :math:`w / F[(t + 1) \bmod P]`, and at
        the end of each period (the step with :math:`(t + 1) \bmod P = 0`) :math:`X` is multiplied by :math:`F[P]`
        (values below 1e-290 set to 0). Two stores per neuron-step fewer than decaying the currents in place.
        ``s.x1`` / ``s.x2`` (and :meth:`state`) hold :math:`X` for these populations; ``pop.i_e`` / ``pop.i_i``
        and the state monitors give :math:`I`. The phase is the global step modulo ``P``, so runs cut anywhere,
        saved and restored, or run on another backend give the same numbers.
        """
        frames, keys = [], np.zeros(len(self.populations), dtype=np.int64)
        s.pop_fr = np.full(max(1, len(self.populations)), -1, dtype=np.int64)
        periods, seen = [], {}
        for p, pop in enumerate(self.populations):
            if pop.model != E.CUBA:
                continue
            par = s.pop_par[p]
            decays = (float(par[6]), float(par[8]))
            if decays not in seen:  # populations with the same time constants: one computation (many small networks in a sweep)
                seen[decays] = self._frame_period(list(decays))
            P, F = seen[decays]
            s.pop_fr[p] = len(frames)
            keys[p] = 1 + 2 * len(frames)
            frames.append(F)
            periods.append(P)
        s.fr_P = np.array(periods or [1], dtype=np.int64)
        s.fr_F = np.stack(frames) if frames else np.ones((1, 2, FRAME_MAX + 1))
        s.fr_G = np.divide(1.0, s.fr_F, out=np.ones_like(s.fr_F), where=s.fr_F >= FRAME_FLOOR)  # used below the period only
        # per synapse: 0 (weight added as it is) or 1 + 2 f + c (scaled by 1 / F of frame f, channel c)
        kt = np.int16 if 1 + 2 * len(frames) < 2**15 else np.int32
        fk = np.zeros(s.syn_post.shape[0], dtype=kt)
        direct = np.zeros(max(1, len(self.populations)), dtype=np.int64)
        # the target row of each synapse (_TARGET_ROWS): into the x1 / x2 rows of a framed population, or onto v (row 3)
        _layout._frame_keys(s.syn_tgt, s.syn_post, s.npop, keys, max(s.v.shape[0], 1), fk, direct)
        s.syn_fk = fk
        # populations with synapses onto v itself (receptor "v"). By default (refractory_input=False) a jump of v that
        # arrives in a neuron's spike step or while it is refractory is lost, as in Brian2 and NEST: the CPU loop parks
        # such neurons (from the spike step on, at t_ref = 0 too: pop_par[p, 11]), the GPU drops their jumps at delivery,
        # conductance-based neurons start again from v_reset. With refractory_input=True the jumps apply to the held
        # potential; those populations cannot park (pop_direct = 1, engine_cpu)
        s.pop_direct = np.zeros_like(direct)
        for p, pop in enumerate(self.populations):
            keep = getattr(pop, "refractory_input", True)
            s.pop_direct[p] = direct[p] if keep else 0
            if direct[p] and not keep:
                s.pop_par[p, 11] = 1.0

    def _segment_codes(self, s) -> np.ndarray:
        """``[n, D + 1]`` delivery codes: 0 no synapse, 1 synapses, 2 one contiguous run of targets (vectorised add),
        3 / 4 the same with every weight scaled into one frame, 5 weights scaled into several frames (per synapse)."""
        code = np.where(s.off[:, 1:] > s.off[:, :-1], 1 + self._dense_segments(s), 0).astype(np.uint8)
        if s.syn_fk.size:
            _layout._frame_codes(s.off, s.syn_fk, code)  # several frames (or one and elsewhere): per-synapse factors
        return code

    @staticmethod
    def _fuse_pre_events(s, stride: int) -> None:
        """Code 6 (7: into one current frame) for the segments (pre, delay) whose synapses are all plastic synapses of one pair or eligibility
        projection without dendritic delay, where the presynaptic event list of (pre, axonal delay = delay) holds just
        them: the CPU loop runs each synapse's event and then its delivery in one pass (3b) and skips that event list
        (``pre_code`` 0). The same numbers as two passes: an event reads the traces (unchanged during 3a-3b) and changes
        its own synapse only, and still comes before that synapse's delivery. ``s.proj_shift[pr]``: subtracted from a
        synapse's flat target index it gives the postsynaptic neuron's place in the projection's post trace bank."""
        P = s.proj_kind.shape[0]
        s.proj_shift = np.zeros(max(P, 1), dtype=np.int64)
        s.seg_proj = np.zeros(s.seg_code.shape, dtype=np.int32)  # the projection of a code 6 / 7 segment
        S = s.syn_w.shape[0]
        if S == 0:
            return
        kind_ok = np.isin(s.proj_kind, (E.PL_PAIR, E.PL_ELIGIBILITY))
        for k in np.flatnonzero(kind_ok & (s.proj_bank[:, 1] >= 0)):
            # its first synapse in the layout (proj_syn: the synapses by projection, in layout order)
            first = s.proj_syn[s.proj_ptr[k]] if s.proj_ptr[k + 1] > s.proj_ptr[k] else -1
            row = s.syn_tgt[first] // stride if first >= 0 else 0
            s.proj_shift[k] = row * stride + s.bank_lo[s.proj_bank[k, 1]]
        if not np.any(kind_ok & (np.diff(s.proj_ptr) > 0)):
            return  # no synapse of a pair or eligibility projection: nothing to fuse
        fusable = kind_ok[s.syn_proj] & (s.syn_trace[:, 3] == 0)
        # a neuron that can spike several times in one step (SpikeSource repeats="multiplicity") keeps the two passes:
        # all its copies' events, then their deliveries of the final weight (as the GPU); the fused pass would deliver
        # the weights in between (s.repeats)
        _layout._fuse_segments(s.off, s.pre_off, s.syn_proj, fusable, s.syn_fk, s.repeats, s.seg_code, s.pre_code, s.seg_proj)

    @staticmethod
    def _compact_post_events(s) -> None:
        """``s.post_one[post, d]``: the projection of the postsynaptic event list (post, dendritic delay d) where all its
        events belong to one pair or eligibility projection, with axonal delays below 128 and bank places below 2**24
        (else -1); ``s.post_pk[e]``: ``axonal delay << 24 | place``. The CPU loop then reads 4 bytes per event (8 for a
        pair rule, which adds the synapse from ``s.post_syn``) instead of a 16-byte row: the lists of a neuron that
        spikes are mostly out of cache, so bytes are time (spnet's last minute: 12 % of the loop)."""
        E_n = s.post_ev.shape[0]
        a, b = s.post_off[:, :-1], s.post_off[:, 1:]
        s.post_one = np.full(a.shape, -1, dtype=np.int32)
        fits = (s.post_dly < 128) & (s.post_other < 2**24) & (s.post_other >= 0)
        s.post_pk = np.where(fits, (s.post_dly.astype(np.int64) << 24) | s.post_other, 0).astype(np.int32) if E_n else np.zeros(1, np.int32)
        if E_n == 0 or s.post_syn.shape[0] != E_n:
            return
        some = b > a
        starts = a[some]
        pr = s.post_proj.astype(np.int64)
        lo, hi = np.minimum.reduceat(pr, starts), np.maximum.reduceat(pr, starts)
        ok = np.minimum.reduceat(fits.astype(np.int8), starts) == 1
        kind_ok = np.isin(s.proj_kind[lo], (E.PL_PAIR, E.PL_ELIGIBILITY))
        one = np.full(starts.shape, -1, dtype=np.int32)
        sel = (lo == hi) & ok & kind_ok
        one[sel] = lo[sel]
        s.post_one[some] = one

    @staticmethod
    def _dense_segments(s, min_len: int = 8) -> np.ndarray:
        """``[n, D + 1]`` flags: the segment (pre, delay) targets one contiguous run of ``s.tgt`` (all-to-all, blocks).

        Such a segment is delivered by a loop over contiguous memory, which vectorises (the per-target
        order of additions is the same as in the scalar loop). Segments shorter than ``min_len`` are not flagged.
        """
        if s.syn_tgt.size == 0:
            return np.zeros((s.off.shape[0], s.off.shape[1] - 1), dtype=np.uint8)
        return _layout._dense_flags(s.off, s.syn_tgt, min_len)

    @staticmethod
    def _csr(owner: np.ndarray, steps: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(off [n, K + 2], order)``: entries grouped by owner neuron, then by delay in steps (``K`` the largest):
        neuron ``i``'s entries with delay ``k`` are ``order[off[i, k] : off[i, k + 1]]``."""
        K = int(steps.max()) if steps.size else 0
        rows = max(n, 1)
        order, starts = _layout._counting_order(owner.astype(np.int64) * (K + 1) + steps, rows * (K + 1))
        return _layout._segment_grid(starts, rows, K + 2), order

    def _build_synapses(self, s, n: int) -> None:
        dt = self.dt
        D = 0
        for proj in self.projections:
            d = proj._delay_ms
            bad, top = _layout._delay_extent(d[:1] if d.size and d.strides[0] == 0 else d, dt)  # one delay given for all: once
            if bad >= 0:
                proj.delay_steps(dt)  # raises, naming the delay
            D = max(D, int(top))
        if (D + 2) * max(n, 1) > 2**31:
            k = int(np.argmax([p.delay_steps(dt).max(initial=0) for p in self.projections]))
            raise ValueError(f"projection {self.projections[k].name}: a delay of {D} steps ({D * dt:g} ms) needs a delay table of "
                             f"{(D + 2) * max(n, 1) * 8 / 2**30:.1f} GiB for {n} neurons; delays that long are not supported")
        # CSR by pre, then delay; targets ascending inside a segment (np.lexsort((post, delay, pre)), by counting)
        parts = [(proj._pre, proj.pre.start, proj._delay_ms, proj._post, proj.post.start,
                  proj._w if proj._order is None else self._s.syn_w[proj._order], RECEPTORS[proj.receptor]) for proj in self.projections]
        inv, starts, s.syn_post, s.syn_w, s.syn_chan, s.syn_proj = _layout._synapse_layout(parts, max(n, 1), D, dt)
        base = 0
        for proj in self.projections:
            proj._order = inv[base : base + len(proj)]
            base += len(proj)
        s.off = _layout._segment_grid(starts, max(n, 1), D + 2)
        S = inv.size
        s.elig = np.zeros(S)
        P = max(1, len(self.projections))
        s.proj_kind = np.zeros(P, dtype=np.int64)
        s.proj_par = np.zeros((P, _N_PAR))
        s.period_next = np.zeros(P, dtype=np.int64)
        s.period_last = np.full(P, self.step * self.dt)  # time (ms) eligibility traces are stored at
        names = list(self.modulators)
        for k, proj in enumerate(self.projections):
            rule = proj.plasticity
            if isinstance(rule, PairSTDP):
                s.proj_kind[k] = E.PL_PAIR
                s.proj_par[k, :10] = pack_stdp(rule)
                s.proj_par[k, 29] = rule.delivery == "before_update"
            elif isinstance(rule, TripletSTDP):
                s.proj_kind[k] = E.PL_TRIPLET
                s.proj_par[k, :11] = pack_stdp(rule)
                s.proj_par[k, 29] = rule.delivery == "before_update"
            elif _layout.user_rule(rule) is not None:
                s.proj_kind[k] = E.PL_GENERIC
                s.proj_par[k, 29] = rule.delivery == "before_update"
            elif isinstance(rule, RewardModulatedSTDP):
                s.proj_kind[k] = E.PL_ELIGIBILITY
                st = rule.stdp
                period = int(round(rule.update_interval / dt))
                if period < 1 or abs(period * dt - rule.update_interval) > 1e-9:
                    raise ValueError(f"{proj.name}: update_interval {rule.update_interval} ms is not a whole number of steps of dt = {dt} ms")
                s.proj_par[k, 10], s.proj_par[k, 11] = rule.tau_c, period
                unbounded = PairSTDP(tau_plus=st.tau_plus, tau_minus=st.tau_minus, eta_plus=st.eta_plus, eta_minus=st.eta_minus,
                                     w_min=-1e300, w_max=1e300, pairing=st.pairing, symmetric=st.symmetric)
                # the events use the unbounded law (at 0..9, so the loop reads no slice); the bounds apply to w at 25, 26
                s.proj_par[k, :10] = s.proj_par[k, 12:22] = pack_stdp(unbounded)
                s.proj_par[k, 22:29] = [rule.baseline, rule.weight_rate, rule.drift, st.w_min, st.w_max, names.index(proj.modulator),
                                        1.0 if rule.eligibility_decay == "periodic" else 0.0]
                s.period_next[k] = self.step + period
        plastic = np.flatnonzero(s.proj_kind[s.syn_proj] != E.PL_NONE) if S and np.any(s.proj_kind != E.PL_NONE) else np.zeros(0, np.int64)
        # delays of plastic synapses: the dendritic part (post spike back to the synapse) is the rule's
        # dendritic_fraction of the delay, rounded to whole steps; the axonal part is the rest
        fraction = np.zeros(P)
        for k, proj in enumerate(self.projections):
            rule = proj.plasticity.stdp if isinstance(proj.plasticity, RewardModulatedSTDP) else proj.plasticity
            fraction[k] = rule.dendritic_fraction if rule is not None else 0.0
        pre, total = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if plastic.size:  # their presynaptic neurons and delays, in layout order
            order = np.empty(S, np.int64)
            _layout._inverse(inv, order)
            src = order[plastic]
            pre = np.concatenate([proj.pre.start + proj._pre.astype(np.int64) for proj in self.projections])[src]
            total = np.concatenate([proj.delay_steps(dt) for proj in self.projections])[src]
        dend = np.rint(fraction[s.syn_proj[plastic]] * total).astype(np.int64)
        axon = total - dend
        self._build_traces(s, pre, s.syn_post[plastic], axon, dend, plastic, n)
        # the synapses by projection, in layout order: read for the pair and eligibility rules (periodic updates, fused
        # presynaptic events); none kept otherwise (8 bytes per synapse of a static network); one projection: all, in order
        if not np.any(np.isin(s.proj_kind, (E.PL_PAIR, E.PL_ELIGIBILITY))):
            s.proj_syn, s.proj_ptr = np.zeros(0, dtype=np.int64), np.zeros(P + 1, dtype=np.int64)
        elif len(self.projections) <= 1:
            s.proj_syn, s.proj_ptr = np.arange(S, dtype=np.int64), np.array([0, S] + [S] * (P - 1), dtype=np.int64)[: P + 1]
        else:
            s.proj_syn, s.proj_ptr = _layout._counting_order(s.syn_proj, P)

    def _build_traces(self, s, pre: np.ndarray, post: np.ndarray, axon: np.ndarray, dend: np.ndarray, plastic: np.ndarray, n: int) -> None:
        """Per-neuron trace banks and the event lists of the plastic synapses (``pre``, ``post``, delays: theirs).

        Bank: one trace of one projection's pre- or postsynaptic population, kept for the last ``delay + 2`` steps
        (a ring ``[L, n_pop]``, all banks in the flat ``s.ntr``), so a synapse reads its presynaptic trace as it was
        one axonal delay ago and its postsynaptic trace one dendritic delay ago.
        """
        P = s.proj_kind.shape[0]
        s.proj_bank = np.full((P, 4), -1, dtype=np.int64)
        base, lo, nn, ln, dec, near = [], [], [], [], [], []
        off_all = 0
        proj_of = s.syn_proj[plastic]
        # a bank covers the neurons its projection's plastic synapses use (first .. last), not the whole population
        ext, count = _layout._projection_extents(proj_of, pre, post, axon, dend, max(P, 1))
        P_lo_pre, P_lo_post = ext[:, 2].copy(), ext[:, 4].copy()
        for k in range(len(self.projections)):
            kind = s.proj_kind[k]
            if kind in (E.PL_NONE, E.PL_GENERIC) or count[k] == 0:  # user-defined rules keep their own variables per synapse
                continue
            max_a, max_d = int(ext[k, 0]), int(ext[k, 1])
            span = {"pre": int(ext[k, 3]) - P_lo_pre[k] + 1, "post": int(ext[k, 5]) - P_lo_post[k] + 1}
            sides = ("pre", "pre", "post", "post") if kind == E.PL_TRIPLET else ("pre", "post")
            nearest = float(s.proj_par[k, 10 if kind == E.PL_TRIPLET else 8])
            for m, side in enumerate(sides):
                L = (max_a if side == "pre" else max_d) + 2
                s.proj_bank[k, m] = len(base)
                base.append(off_all)
                lo.append(P_lo_pre[k] if side == "pre" else P_lo_post[k])
                nn.append(span[side])
                ln.append(L)
                dec.append(np.exp(-self.dt / s.proj_par[k, m]))
                near.append(nearest)
                off_all += L * span[side]
        s.bank_base, s.bank_lo, s.bank_n, s.bank_len = (np.array(x, dtype=np.int64) for x in (base, lo, nn, ln))
        s.bank_decay, s.bank_nearest = np.array(dec, dtype=np.float64), np.array(near, dtype=np.float64)
        s.ntr = np.zeros(max(off_all, 1))
        # event lists in int32 where they fit: 16 instead of 32 bytes streamed per plastic event
        it = np.int32 if s.syn_post.shape[0] < 2**31 and n < 2**31 else np.int64
        s.pre_off, o = self._csr(pre, axon, n)
        s.pre_code = (s.pre_off[:, 1:] > s.pre_off[:, :-1]).astype(np.uint8)  # (neuron, axonal delay) has plastic synapses
        s.pre_syn, s.pre_proj = plastic[o].astype(it), proj_of[o].astype(it)
        s.pre_other, s.pre_dly = (post[o] - P_lo_post[proj_of[o]]).astype(it), dend[o].astype(it)
        # events of user-defined rules: (synapse, projection, its index in the projection, the other neuron's global index)
        generic = s.proj_kind[proj_of] == E.PL_GENERIC
        if generic.any():
            local = np.zeros(s.syn_post.shape[0], dtype=np.int64)
            for k, proj in enumerate(self.projections):
                if s.proj_kind[k] == E.PL_GENERIC:
                    local[proj._order] = np.arange(len(proj))
            g = generic[o]
            s.pre_other[g], s.pre_dly[g] = local[plastic[o][g]], post[o][g]
        # within a (post, dendritic delay) list: by axonal delay, then presynaptic neuron, so consecutive events read
        # the same ring row of presynaptic traces in ascending order (cache lines shared, prefetch-friendly)
        by_row, _ = _layout._counting_order(axon * max(n, 1) + pre, (int(axon.max(initial=0)) + 1) * max(n, 1))  # np.lexsort((pre, axon))
        s.post_off, o = self._csr(post[by_row], dend[by_row], n)
        o = by_row[o]
        s.post_syn, s.post_proj = plastic[o].astype(it), proj_of[o].astype(it)
        s.post_other, s.post_dly = (pre[o] - P_lo_pre[proj_of[o]]).astype(it), axon[o].astype(it)
        if generic.any():
            g = generic[o]
            s.post_other[g], s.post_dly[g] = local[plastic[o][g]], pre[o][g]
        # the CPU loop reads the same lists as rows of four (see engine_cpu.run_steps)
        s.pre_ev = np.stack([s.pre_syn, s.pre_proj, s.pre_other, s.pre_dly], axis=1).astype(it)
        s.post_ev = np.stack([s.post_syn, s.post_proj, s.post_other, s.post_dly], axis=1).astype(it)
        s.elig_post = np.zeros(max(plastic.size, 1))  # eligibility increments of postsynaptic events, in post_syn order
        s.syn_postpos = np.zeros(s.syn_post.shape[0], dtype=it)
        s.syn_postpos[plastic[o]] = np.arange(plastic.size, dtype=it)
        # per plastic synapse (by position): bank-local pre / post index and the delay parts (for sampling x_pre / x_post)
        if plastic.size:
            s.syn_trace = np.full((s.syn_post.shape[0], 4), -1, dtype=np.int64)
            s.syn_trace[plastic] = np.stack([pre - P_lo_pre[proj_of], axon, post - P_lo_post[proj_of], dend], axis=1)
        else:  # -1 throughout: a read-only view, no memory per synapse
            s.syn_trace = np.broadcast_to(np.array(-1, dtype=np.int64), (s.syn_post.shape[0], 4))

    # ------------------------------------------------------------------ running
    def run(self, duration: float, progress: bool | None = None, reward=None, reward_interval: float = 1.0, chunk: float | None = None) -> None:
        """Advance by ``duration`` ms (or a time quantity with units: Brian2, pint, brainunit; see :mod:`neuro.units`).

        ``reward``: optional callable ``reward(net) -> None`` called every ``reward_interval`` ms of the run
        (it may call :meth:`release`, read spikes, change inputs). ``progress``: tqdm bar (default: runs of
        more than 10,000 steps).
        """
        duration = to_ms(duration, "duration")
        if isinstance(duration, bool) or not isinstance(duration, int | float | np.integer | np.floating):
            raise TypeError(f"duration must be a number of ms, got {type(duration).__name__} {duration!r}")
        if not math.isfinite(duration):
            raise ValueError(f"duration must be a finite number of ms, got {duration}")
        n_steps = int(round(duration / self.dt))
        if duration < 0 or abs(n_steps * self.dt - duration) > 1e-6 * self.dt:
            raise ValueError(f"duration must be a non-negative multiple of dt = {self.dt} ms, got {duration}{too_short_run(duration, self.dt)}")
        if self.distributed:
            if reward is not None:
                raise NotImplementedError("reward callbacks are not distributed yet (run without comm, or release modulators between runs)")
            from .distributed import Distributed

            if self._dist is None:
                self._dist = Distributed(self, self.comm, self.timeout)
            self._dist.run(n_steps)
            return
        self._ensure_built()
        s = self._prepare_run()
        self._check_finite(None)
        chunk_steps = int(round((chunk or max(100.0, 1000 * self.dt)) / self.dt))
        if reward is not None:
            chunk_steps = max(1, int(round(reward_interval / self.dt)))
        if reward is not None:
            if not callable(reward):
                raise TypeError(f"reward must be a callable reward(net), got {type(reward).__name__}")
            k_reward = round(reward_interval / self.dt) if math.isfinite(reward_interval) else 0
            if k_reward < 1 or abs(k_reward * self.dt - reward_interval) > 1e-6 * self.dt:
                raise ValueError(f"reward_interval must be a positive multiple of dt = {self.dt} ms, got {reward_interval}")
        if chunk is not None and not (math.isfinite(chunk) and chunk > 0):
            raise ValueError(f"chunk must be a finite number of ms > 0, got {chunk}")
        show = progress if progress is not None else n_steps > 10_000
        bar = tqdm(total=round(n_steps * self.dt, 6), unit="ms", desc="simulate", disable=not show)
        spk_cap = max(self._SPIKE_BUFFER_MIN, self._SPIKE_BUFFER_PER_NEURON * int(s.rec_mask.sum()))
        done = 0
        engine = self._device_engine(s) if self.backend != "cpu" else None
        while done < n_steps:
            # a chunk ends at the next multiple of chunk_steps, so callbacks stay on their schedule after a short chunk
            k = min(chunk_steps - done % chunk_steps, n_steps - done)
            if s.sm_idx.size:  # bound the synapse-sample buffer (~128 MB) when many synapses are sampled often
                k = min(k, max(1, (1 << 24) // s.sm_idx.size) * s.sm_every)
            if engine is not None:
                got, spk_s, spk_i, pc, st_rows, sm_rows, events = engine.run_chunk(
                    self.step, k, chunk_steps, spk_cap, s.st_every, s.sm_every, s.cur_t0)
                self.counts["synaptic_events"] += events
                self._collect(got, spk_s, spk_i, pc, st_rows, sm_rows)
                self.step += got
                done += got
                bar.update(round(got * self.dt, 6))
                if got < k:
                    spk_cap *= 2
                if reward is not None and done % chunk_steps == 0:
                    engine.download(s)
                    reward(self)
                    s = self._prepare_run()
                    engine.upload(s)
                continue
            spk_step = np.empty(spk_cap, np.int64)
            spk_idx = np.empty(spk_cap, np.int64)
            spk_count = np.zeros(1, np.int64)
            pop_counts = np.zeros((k, max(1, len(self.populations))), np.int64)
            st_out = np.zeros((k // s.st_every + 2, s.st_idx.size))
            st_count = np.zeros(1, np.int64)
            ev_count = np.zeros(1, np.int64)
            sm_out = np.zeros((k // s.sm_every + 2, s.sm_idx.size))
            sm_count = np.zeros(1, np.int64)
            # the loop's arguments by name (engine_cpu.LOOP_ARGS, its signature): this run's buffers, else the layout's arrays
            now = {"t0": self.step, "n_steps": k, "dt": self.dt, "seed": self.seed, "n_threads": self._threads, "tgt": s.tgt.reshape(-1),
                   "syn_split": self._delivery_splits(s), "spk_step": spk_step,
                   "spk_idx": spk_idx, "spk_count": spk_count, "pop_counts": pop_counts, "ev_count": ev_count, "st_out": st_out,
                   "st_count": st_count, "sm_out": sm_out, "sm_count": sm_count}
            args = [now[name] if name in now else getattr(s, name) for name in E.LOOP_ARGS]
            got = E.run_threads(self._threads, args) if self._threads > 1 else E.run_steps(*args)
            self.counts["synaptic_events"] += int(ev_count[0])
            self._collect(got, spk_step[: spk_count[0]], spk_idx[: spk_count[0]], pop_counts[:got], st_out[: st_count[0]], sm_out[: sm_count[0]])
            t_from = self.t
            self.step += got
            self._check_finite(t_from)
            done += got
            bar.update(round(got * self.dt, 6))
            if got < k:
                spk_cap *= 2
            if reward is not None and done % chunk_steps == 0:
                reward(self)
                s = self._prepare_run()  # the callback may have switched noise or a current on or off
        if engine is not None:
            engine.download(s)
            self._check_finite(None, during=True)
        bar.close()

    def _delivery_splits(self, s):
        """The threaded delivery's cut of every segment between the workers (``engine_cpu.delivery_splits``), made once per
        layout and thread count; one thread: a placeholder the loop does not read."""
        if self._threads == 1:
            return np.zeros((1, 1, 1), dtype=np.int32)
        key = (self._threads, s.off.shape, s.syn_post.shape)
        if getattr(s, "_splits", (None,))[0] != key:
            s._splits = (key, E.delivery_splits(s.off, self._syn_post32(s), s.v.shape[0], self._threads))
        return s._splits[1]

    @staticmethod
    def _syn_post32(s):
        """The synapses' postsynaptic neurons as int32 (the loop's one signature; a layout built with 64-bit targets is copied once)."""
        if s.syn_post.dtype == np.int32:
            return s.syn_post
        if getattr(s, "_syn_post32", None) is None or s._syn_post32.shape != s.syn_post.shape:
            if s.syn_post.size and int(s.syn_post.max()) >= 2**31:
                raise ValueError(f"the CPU loop indexes neurons with 32-bit integers; this network has {int(s.syn_post.max()) + 1} neurons")
            s._syn_post32 = s.syn_post.astype(np.int32)
        return s._syn_post32

    def _check_finite(self, t_from: float | None, during: bool = False) -> None:
        """Refuse NaN or infinite state: set before a run (``t_from`` None) or reached during the chunk from ``t_from``."""
        s = self._s
        when = (f"became non-finite during the run (between t = {t_from:g} and {self.t:g} ms)" if t_from is not None else
                f"is non-finite by t = {self.t:g} ms" if during else f"is non-finite before the run (t = {self.t:g} ms)")
        for pop in self.populations:
            sl = slice(pop.start, pop.start + pop.n)
            for key, what in (("v", "v"), ("u", "u"), ("x1", "synaptic variable x1 (i_e / g_e)"), ("x2", "synaptic variable x2 (i_i / g_i)"),
                              ("isyn", "synaptic input")):
                a = getattr(s, key)[sl]
                if E.all_finite(a, key == "v" and pop.model == E.CUBA):
                    continue
                bad = ~np.isfinite(a)
                if key == "v" and pop.model == E.CUBA:  # parked refractory neurons hold v = -inf inside a run only
                    bad &= ~(a == -np.inf)
                if bad.any():
                    idx = np.flatnonzero(bad)
                    hint = (" — diverging dynamics (a dt too large for the model?) or non-finite inputs" if t_from is not None else
                            " — set through a view such as pop.v[...] = nan?")
                    raise FloatingPointError(f"{pop.name}.{what} {when} at {idx.size} of {pop.n} neurons (first {idx[:5].tolist()}: "
                                             f"{a[idx[:5]].tolist()}){hint}")
        for pop in s.gen_models:
            for key, off in pop._gen_offsets.items():
                a = s.gen_state[off : off + pop.n]
                if not E.all_finite(a, False):
                    idx = np.flatnonzero(~np.isfinite(a))
                    raise FloatingPointError(f"{pop.name}.{key} {when} at {idx.size} of {pop.n} neurons (first {idx[:5].tolist()}: "
                                             f"{a[idx[:5]].tolist()})")
        # weights change during a run only through plasticity: static ones are checked before the run only (all of them
        # is a pass over memory as long as the step loop's own ~1000 steps of a sparse network)
        plastic = any(p.plasticity is not None for p in self.projections)
        if s.syn_w.size and (t_from is None or plastic) and not E.all_finite(s.syn_w, False):
            for proj in self.projections:
                w = s.syn_w[proj._order]
                if not np.all(np.isfinite(w)):
                    raise FloatingPointError(f"{proj.name}: weights {when} ({int((~np.isfinite(w)).sum())} of {w.size} synapses)")
        for proj in s.syn_rules:
            for key, off in proj._rule_offsets.items():
                a = s.syn_state[off : off + len(proj)]
                if not E.all_finite(a, False):
                    idx = np.flatnonzero(~np.isfinite(a))
                    raise FloatingPointError(f"{proj.name}: the rule's {key} {when} at {idx.size} of {len(proj)} synapses "
                                             f"(first {idx[:5].tolist()}: {a[idx[:5]].tolist()})")
        if not np.all(np.isfinite(s.modulator)):
            raise FloatingPointError(f"a neuromodulator {when}: {dict(zip(self.modulators, s.modulator.tolist()))}")

    def _device_engine(self, s):
        """The GPU engine of this build (made once per build), with this run's state uploaded."""
        from . import engine_gpu

        if self._engine is None:
            tgt_type = "int" if s.tgt.size < 2**31 else "long long"
            self._engine = engine_gpu.GPUEngine(s, len(self.populations), self.seed, self.dt, engine_gpu.device_for(self.backend, tgt_type))
        self._engine.upload(s)
        return self._engine

    def _prepare_run(self):
        """Per-run flags that may change between runs (noise switched on, a current injected)."""
        s = self._s
        # populations whose neurons get noise or an injected current (may change between runs)
        s.pop_extra = np.array([(2 if p.noise_kind == "uniform" else 1)
                                if (np.any(s.sigma[p.start : p.start + p.n] != 0) or np.any(s.cur_col[p.start : p.start + p.n] >= 0)) else 0
                                for p in self.populations], dtype=np.int64)
        # populations with a constant injected current (the CPU update skips reading i_ext elsewhere)
        s.pop_iext = np.array([np.any(s.i_ext[p.start : p.start + p.n] != 0) for p in self.populations], dtype=np.int64)
        s.xdrive[:] = 0.0
        self._model_table(s)
        self._rule_table(s)
        for k, p in enumerate(self.populations):  # the CPU loop queues refractory neurons in the order their periods end
            if p.model == E.POISSON:  # the next spike of sources not drawn yet or whose rate changed (u: the rate drawn at)
                E.poisson_schedule(self.step, self.seed, self.dt, p.start, p.start + p.n, s.rate, s.u, s.refrac)
            if p.model == E.CUBA:
                left = s.refrac[p.start : p.start + p.n]
                if left.size and left.max() > s.pop_par[k, 3]:
                    raise ValueError(f"{p.name}: refractory counters up to {int(left.max())} steps, but t_ref is {int(s.pop_par[k, 3])} steps "
                                     "(a state from another network?)")
        return s

    def _collect(self, steps_done, spk_step, spk_idx, pop_counts, st_rows, sm_rows) -> None:
        dt = self.dt
        s = self._s
        counts = pop_counts.sum(axis=0)
        self.counts["steps"] += int(steps_done)
        self.counts["spikes"] += int(counts.sum())
        self.counts["neuron_updates"] += int(steps_done) * sum(p.n for p in self.populations if p.model not in (E.POISSON, E.GENERATOR))
        steps = np.arange(self.step, self.step + steps_done, dtype=np.int64)
        rows_steps = steps[steps % s.st_every == 0]
        sm_steps = steps[steps % s.sm_every == 0][: sm_rows.shape[0]]
        for mon in self.monitors:
            if isinstance(mon, SpikeMonitor):
                lo, hi = mon.pop.start, mon.pop.start + mon.pop.n
                sel = (spk_idx >= lo) & (spk_idx < hi)
                if mon.indices is not None:
                    sel &= np.isin(spk_idx - lo, mon.indices)
                mon._append(spk_step[sel] * dt, spk_idx[sel] - lo)
            elif isinstance(mon, PopulationRateMonitor):
                mon.dt = dt
                if not mon._counts:
                    mon._t0 = self.step * dt
                mon._counts.append(pop_counts[:, self.populations.index(mon.pop)].copy())
            elif isinstance(mon, StateMonitor) and st_rows.shape[0]:
                steps_arr = rows_steps[: st_rows.shape[0]]
                keep = steps_arr % mon._every_steps == 0
                mon._t.append(steps_arr[keep] * dt)
                mon._v.append(st_rows[keep][:, mon._cols].copy())
            elif isinstance(mon, SynapseMonitor | ModulatorMonitor) and sm_rows.shape[0]:
                keep = sm_steps % mon._every_steps == 0
                mon._append(sm_steps[keep] * dt, sm_rows[keep][:, mon._cols])

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, np.ndarray]:
        """Copies of every dynamic array, plus the step counter.

        As stored: ``x1`` / ``x2`` of current-based LIF populations are in their current frames (see
        :meth:`_build_frames`; ``pop.i_e`` / ``pop.i_i`` give the currents themselves). A Poisson source's
        ``refrac`` is the number of steps to its next spike plus one and its ``u`` the rate that spike was drawn at
        (:func:`~neuro.sim.engine_cpu.poisson_schedule`).
        """
        self._ensure_built()
        out = {k: np.array(getattr(self._s, k), copy=True) for k in _STATE_KEYS}
        out["step"] = np.array(self.step)
        out["seed"] = np.array(self.seed)
        return out

    def structure(self) -> dict[str, str]:
        """A fingerprint of what a saved state belongs to: a hash per part (time step; populations' sizes and models;
        synapses with their sources, targets, receptors and delays; plasticity rule kinds). Parameter values are not
        part of it: a state may be restored into the same network with other parameters (a sweep from one warm-up)."""
        self._ensure_built()
        s = self._s

        def digest(*arrays) -> str:
            h = hashlib.sha256()
            for a in arrays:
                a = np.ascontiguousarray(a)
                h.update(str((a.dtype.str, a.shape)).encode())
                h.update(a.tobytes())
            return h.hexdigest()[:16]

        return {"dt": digest(np.array(self.dt)),
                "populations": digest(s.pop_start, s.pop_end, s.pop_model),
                "synapses and delays": digest(s.off, s.syn_post, s.syn_chan, s.syn_proj),
                "plasticity rules": digest(s.proj_kind)}

    def save(self, path: str | Path) -> Path:
        """Write the dynamic state to ``path`` (``.npz``), atomically, with the network's :meth:`structure`."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        extra = {f"structure:{k}": np.array(v) for k, v in self.structure().items()}
        np.savez(tmp, **self.state(), **extra)
        os.replace(tmp, path)
        return path

    def restore(self, path: str | Path, check_structure: bool = True) -> None:
        """Load a state saved by :meth:`save` into this (identically built) network.

        The file must come from a network of the same structure (:meth:`structure`: same time step, populations,
        synapses, delays and rule kinds; ``check_structure=False`` skips this); otherwise, or when the file is damaged,
        nothing is changed and a ``ValueError`` names the file and what differs.
        """
        self._ensure_built()
        path = Path(path)
        try:
            with np.load(path) as npz:
                data = {k: npz[k] for k in npz.files}  # read everything now: a damaged member fails here, not half-way
        except FileNotFoundError:
            raise
        except Exception as err:  # a truncated or corrupted .npz: zipfile, zlib, EOF and format errors
            raise ValueError(f"{path}: not a readable network state ({type(err).__name__}: {err})") from err
        saved = {k.split(":", 1)[1]: str(v) for k, v in data.items() if k.startswith("structure:")}
        if saved and check_structure:
            ours = self.structure()
            differ = [k for k in ours if saved.get(k) != ours[k]]
            if differ:
                raise ValueError(f"{path}: saved from a different network — its {', '.join(differ)} differ from this network's "
                                 "(restore needs the network the state was saved from, built the same way)")
        elif check_structure:
            warnings.warn(f"{path}: a state saved without a structure fingerprint (an older neuro); only the array shapes are checked",
                          RuntimeWarning, stacklevel=2)
        for k in (*_STATE_KEYS, "step", "seed"):
            if k not in data and k not in _OPTIONAL_STATE_KEYS:
                raise ValueError(f"{path}: not a neuro network state (missing {k!r})")
            if k in _STATE_KEYS and k in data and data[k].shape != getattr(self._s, k).shape:
                raise ValueError(f"{path}: {k!r} has shape {data[k].shape}, this network needs {getattr(self._s, k).shape} — "
                                 "was it saved from the same network?")
        for k in _STATE_KEYS:
            if k in data:
                getattr(self._s, k)[...] = data[k]
            elif k != "gen_state":  # traces of an older format: none yet
                getattr(self._s, k)[...] = 0.0
        self.step = int(data["step"])
        self.seed = int(data["seed"])
