"""Monitors: spikes (index, time), sampled state variables, population rates, synapses and modulators.

A :class:`SpikeMonitor` keeps its spikes in memory, or streams them to an HDF5 file
(``h5=path``: chunked, resizable datasets ``t`` and ``i``) so that long runs use bounded
memory; either way ``.t`` (ms) and ``.i`` (index in the population) load back as NumPy.
:class:`SynapseMonitor` (weights, eligibility traces, STDP traces of chosen synapses) and
:class:`ModulatorMonitor` (a neuromodulator's concentration) sample every ``every`` ms, in
memory or streamed to HDF5 (datasets ``t`` and ``values``), read back with :func:`load_samples`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .populations import Population
from .projections import Projection

VARIABLES = {"v": 0, "u": 1, "x1": 2, "x2": 3, "i_e": 2, "i_i": 3, "g_e": 2, "g_i": 3}


class SpikeMonitor:
    """Records the spikes of ``pop`` (all neurons, or only ``indices``).

    For Brian2 users: ``t`` (ms, plain floats) and ``i`` are Brian2's; :attr:`num_spikes` is the total number of
    spikes and :attr:`count_per_neuron` the spikes of each neuron (Brian2's ``count``); :meth:`spike_trains` gives
    ``{i: times}``. **Difference:** ``count`` is the *total* here (as it always was in neuro, and code relies on it),
    not Brian2's per-neuron array. :meth:`rate` without a duration is over the span this monitor recorded.

    Example::

        mon = net.add(sim.SpikeMonitor(exc))
        net.run(1000.0)
        mon.num_spikes, mon.count_per_neuron[:5], mon.rate()      # total, per neuron, Hz over the 1000 ms
    """

    def __init__(self, pop: Population, h5: str | Path | None = None, indices=None):
        if not isinstance(pop, Population):
            raise TypeError(f"SpikeMonitor needs a population, got {type(pop).__name__}")
        self.pop = pop
        if indices is None:
            self.indices = None
        else:
            idx = np.atleast_1d(np.asarray(indices))
            if idx.size == 0 or not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= pop.n:
                raise ValueError(f"indices must be integers in [0, {pop.n - 1}]")
            self.indices = np.unique(idx)
        self.h5 = None if h5 is None else Path(h5)
        self._t: list[np.ndarray] = []
        self._i: list[np.ndarray] = []
        self.count = 0
        self._t_start: float | None = None  # network time (ms) of the first step recorded
        if self.h5 is not None:
            import h5py

            with h5py.File(self.h5, "w") as f:
                for key, dtype in (("t", "f8"), ("i", "i4")):
                    f.create_dataset(key, shape=(0,), maxshape=(None,), chunks=(65536,), dtype=dtype)
                f.attrs["population"] = pop.name
                f.attrs["unit_t"] = "ms"

    def _append(self, t_ms: np.ndarray, idx: np.ndarray) -> None:
        if self._t_start is None and self.pop.network is not None:
            # called once per chunk, before the network's clock moves past it: now is the start of the first chunk recorded
            self._t_start = self.pop.network.t
        if t_ms.size == 0:
            return
        self.count += t_ms.size
        if self.h5 is None:
            self._t.append(t_ms)
            self._i.append(idx.astype(np.int32))
            return
        import h5py

        with h5py.File(self.h5, "a") as f:
            for key, arr in (("t", t_ms), ("i", idx.astype(np.int32))):
                ds = f[key]
                n = ds.shape[0]
                ds.resize((n + arr.size,))
                ds[n:] = arr

    def _load(self, key: str) -> np.ndarray:
        if self.h5 is not None:
            import h5py

            with h5py.File(self.h5, "r") as f:
                return f[key][:]
        parts = self._t if key == "t" else self._i
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64 if key == "t" else np.int32)

    @property
    def t(self) -> np.ndarray:
        """Spike times (ms)."""
        return self._load("t")

    @property
    def i(self) -> np.ndarray:
        """Indices (within the population) of the spiking neurons."""
        return self._load("i")

    @property
    def num_spikes(self) -> int:
        """Total number of spikes recorded (Brian2's ``num_spikes``; the same as ``count`` here)."""
        return self.count

    @property
    def count_per_neuron(self) -> np.ndarray:
        """Spikes of each neuron of the population, ``[pop.n]`` (Brian2's ``SpikeMonitor.count``)."""
        return np.bincount(self.i, minlength=self.pop.n)

    @property
    def recorded_ms(self) -> float:
        """Simulated time (ms) this monitor has recorded: from the first step of the first run it took part in to now."""
        net = self.pop.network
        if self._t_start is None or net is None:
            return 0.0
        return net.t - self._t_start

    def rate(self, duration_ms: float | None = None) -> float:
        """Mean firing rate (Hz) per neuron of the population over ``duration_ms`` (ms, or a time quantity with units),
        by default over the span recorded (:attr:`recorded_ms`)."""
        if duration_ms is None:
            duration_ms = self.recorded_ms
            if not duration_ms > 0:
                raise ValueError("rate(): this monitor has recorded no time yet (run the network first, or pass duration_ms)")
        else:
            from ..units import to_ms

            duration_ms = to_ms(duration_ms, "duration_ms")
        if not (np.isfinite(duration_ms) and duration_ms > 0):
            raise ValueError(f"duration_ms must be a finite number > 0, got {duration_ms}")
        return self.count / self.pop.n / (duration_ms / 1000.0)

    def trains(self) -> list[np.ndarray]:
        """Spike times per neuron."""
        t, i = self.t, self.i
        order = np.argsort(i, kind="stable")
        bounds = np.searchsorted(i[order], np.arange(self.pop.n + 1))
        return [t[order[bounds[k] : bounds[k + 1]]] for k in range(self.pop.n)]

    def spike_trains(self) -> dict[int, np.ndarray]:
        """``{neuron index: spike times (ms)}`` for every neuron of the population (Brian2's ``spike_trains()``)."""
        return dict(enumerate(self.trains()))


class StateMonitor:
    """Samples variable ``var`` ("v", "u", "i_e"/"g_e", "i_i"/"g_i") of neurons ``indices`` every ``every`` ms (after the step).

    ``values`` is ``[samples, len(indices)]``. As in Brian2, the variable is also an attribute, one row per recorded
    neuron: ``mon.v`` is ``values.T`` (``[len(indices), samples]``), ``mon.v[0]`` the trace of the first recorded
    neuron; and ``mon[k]`` is the view of neuron ``k`` of the population (it must be recorded): ``mon[k].v``,
    ``mon[k].t``. **Differences from Brian2:** one variable per monitor (add one monitor per variable), times in ms
    and values in the population's units as plain floats (no unit objects).

    Example::

        st = net.add(sim.StateMonitor(exc, "v", indices=[0, 3]))
        net.run(100.0)
        st.t, st.v[0], st[3].v          # sample times (ms), neuron 0's and neuron 3's membrane potential (mV)
    """

    def __init__(self, pop: Population, var: str = "v", indices=None, every: float | None = None):
        definition = getattr(pop, "definition", None)
        if definition is not None:  # a user-defined model (neuro.dynamics): its own variables and parameters
            if var not in definition.states and var not in definition.params:
                raise ValueError(f"{pop.name} has no variable {var!r}; its variables: {definition.states}, parameters: {definition.params}")
        elif var not in VARIABLES:
            raise ValueError(f"unknown state variable {var!r}; expected one of {sorted(VARIABLES)}")
        self.pop, self.var = pop, var
        idx = np.arange(pop.n) if indices is None else np.atleast_1d(np.asarray(indices))
        if idx.size == 0 or idx.min() < 0 or idx.max() >= pop.n or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must be integers in [0, {pop.n - 1}]")
        self.indices = idx.astype(np.int64)
        if every is not None and not (np.isfinite(every) and every > 0):
            raise ValueError(f"every must be a finite number of ms > 0 (or None: every step), got {every}")
        self.every = every
        self._t: list[np.ndarray] = []
        self._v: list[np.ndarray] = []

    @property
    def t(self) -> np.ndarray:
        return np.concatenate(self._t) if self._t else np.zeros(0)

    @property
    def values(self) -> np.ndarray:
        """``[samples, len(indices)]``."""
        return np.concatenate(self._v) if self._v else np.zeros((0, self.indices.size))

    def __getattr__(self, name: str):
        # only reached for names that are not attributes: the recorded variable, as Brian2 names it (``v``, or ``v_`` unitless)
        if name.startswith("__") or name.startswith("_"):
            raise AttributeError(name)
        var = self.__dict__.get("var")
        if name in (var, f"{var}_"):
            return self.values.T
        if name.rstrip("_") in VARIABLES:
            raise AttributeError(f"this StateMonitor records {var!r}, not {name.rstrip('_')!r} (one variable per monitor: add "
                                 f"StateMonitor(pop, {name.rstrip('_')!r}) for it)")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getitem__(self, neuron) -> _StateView:
        if isinstance(neuron, bool) or not isinstance(neuron, int | np.integer):
            raise TypeError(f"index a StateMonitor with one neuron index of the population, got {neuron!r}")
        where = np.flatnonzero(self.indices == int(neuron))
        if where.size == 0:
            raise IndexError(f"neuron {neuron} of {self.pop.name} is not recorded by this StateMonitor (recorded: {self.indices.tolist()[:10]}"
                             + (" ..." if self.indices.size > 10 else "") + ")")
        return _StateView(self, int(where[0]))


class _StateView:
    """One recorded neuron of a :class:`StateMonitor` (Brian2's ``mon[i]``): ``.t`` and the variable, ``[samples]``."""

    def __init__(self, monitor: StateMonitor, column: int):
        self._monitor, self._column = monitor, column

    @property
    def t(self) -> np.ndarray:
        return self._monitor.t

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        var = self._monitor.var
        if name not in (var, f"{var}_"):
            if name.rstrip("_") in VARIABLES:
                getattr(self._monitor, name)  # raises the monitor's error for a variable it does not record
            raise AttributeError(f"a StateMonitor's neuron view has .t and .{var}, not {name!r}")
        return self._monitor.values[:, self._column]


class PopulationRateMonitor:
    """Instantaneous population rate (Hz) at every step."""

    def __init__(self, pop: Population):
        self.pop = pop
        self._counts: list[np.ndarray] = []
        self.dt = None

    @property
    def rate(self) -> np.ndarray:
        c = np.concatenate(self._counts) if self._counts else np.zeros(0)
        return c / self.pop.n / (self.dt / 1000.0) if self.dt else c

    @property
    def t(self) -> np.ndarray:
        n = sum(len(c) for c in self._counts)
        return np.arange(n) * (self.dt or 0.0) + getattr(self, "_t0", 0.0)

    def smoothed(self, width_ms: float = 5.0) -> np.ndarray:
        """Rate smoothed by a flat window of ``width_ms``."""
        k = max(1, int(round(width_ms / self.dt)))
        return np.convolve(self.rate, np.ones(k) / k, mode="same")


# quantity -> engine code (engine_cpu.SV_*); "x_pre"/"x_post" are r1/o1 for the triplet rule
SYNAPSE_VARIABLES = {"w": 0, "eligibility": 1, "x_pre": 2, "x_post": 3}
SV_GEN = 5  # a variable of a user-defined rule (engine_cpu.SV_GEN)


class _Sampled:
    """Rows of samples ``[t, columns]`` kept in memory or streamed to HDF5 (datasets ``t``, ``values``)."""

    def __init__(self, n_cols: int, every: float | None, h5, attrs: dict):
        if every is not None and not (np.isfinite(every) and every > 0):
            raise ValueError(f"every must be a finite number of ms > 0, got {every}")
        self.every = every
        self.n_cols = n_cols
        self.h5 = None if h5 is None else Path(h5)
        self._t: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        if self.h5 is not None:
            import h5py

            with h5py.File(self.h5, "w") as f:
                f.create_dataset("t", shape=(0,), maxshape=(None,), chunks=(4096,), dtype="f8")
                f.create_dataset("values", shape=(0, n_cols), maxshape=(None, n_cols), chunks=(max(1, 65536 // max(n_cols, 1)), n_cols), dtype="f8")
                f.attrs["unit_t"] = "ms"
                for k, v in attrs.items():
                    f.attrs[k] = v

    def _steps(self, dt: float) -> int:
        every = dt if self.every is None else self.every
        steps = int(round(every / dt))
        if steps < 1 or abs(steps * dt - every) > 1e-9 * max(1.0, dt):
            raise ValueError(f"every = {every} ms is not a whole number of steps of dt = {dt} ms")
        return steps

    def _append(self, t_ms: np.ndarray, rows: np.ndarray) -> None:
        if t_ms.size == 0:
            return
        if self.h5 is None:
            self._t.append(np.asarray(t_ms, np.float64))
            self._v.append(np.array(rows, dtype=np.float64))
            return
        import h5py

        with h5py.File(self.h5, "a") as f:
            n = f["t"].shape[0]
            f["t"].resize((n + t_ms.size,))
            f["t"][n:] = t_ms
            f["values"].resize((n + t_ms.size, self.n_cols))
            f["values"][n:] = rows

    @property
    def t(self) -> np.ndarray:
        """Sample times (ms)."""
        if self.h5 is not None:
            return load_samples(self.h5)["t"]
        return np.concatenate(self._t) if self._t else np.zeros(0)

    @property
    def values(self) -> np.ndarray:
        """``[samples, columns]``."""
        if self.h5 is not None:
            return load_samples(self.h5)["values"]
        return np.concatenate(self._v) if self._v else np.zeros((0, self.n_cols))


class SynapseMonitor(_Sampled):
    """Samples ``var`` of the synapses ``synapses`` of ``proj`` every ``every`` ms (default: every step).

    ``var``: ``"w"`` (weight), ``"eligibility"`` (three-factor rules), ``"x_pre"`` / ``"x_post"``
    (the STDP traces at the synapse; :math:`r_1`, :math:`o_1` for the triplet rule), or any variable or parameter of a
    user-defined rule (:class:`neuro.dynamics.SynapseModel`; event-driven ones as of each synapse's last event). ``synapses``
    index the projection's synapses in creation order (``proj.pre_index``, ``proj.post_index``);
    default all. A sample at time :math:`t` is the state at :math:`t`, before the step that starts
    there (traces decayed to :math:`t`): the values ``proj.weights`` reads after ``net.run`` has reached
    :math:`t`. The state at the very end of a run is sampled by the next run, if any.

    Example::

        wmon = net.add(sim.SynapseMonitor(proj, "w", synapses=[0, 5, 9], every=100.0))
        net.run(1000.0)
        wmon.t, wmon.values      # (10,), (10, 3)
    """

    def __init__(self, proj: Projection, var: str = "w", synapses=None, every: float | None = None, h5: str | Path | None = None):
        from ..ops.stdp.params import PairSTDP, TripletSTDP
        from ..ops.three_factor.params import RewardModulatedSTDP

        if not isinstance(proj, Projection):
            raise TypeError(f"SynapseMonitor needs a Projection, got {type(proj).__name__}")
        model = getattr(proj.plasticity, "model", None)  # a user-defined rule: its variables and parameters
        if model is not None and var != "w":
            if var not in model.states + model.params:
                raise ValueError(f"{proj.name}: its rule has no variable {var!r}; variables: {['w'] + model.states}, parameters: {model.params}")
        elif var not in SYNAPSE_VARIABLES:
            raise ValueError(f"unknown synapse variable {var!r}; expected one of {sorted(SYNAPSE_VARIABLES)}")
        if var == "eligibility" and not isinstance(proj.plasticity, RewardModulatedSTDP):
            raise ValueError(f"{proj.name} has no eligibility traces (plasticity {type(proj.plasticity).__name__}); they need RewardModulatedSTDP")
        if var in ("x_pre", "x_post") and not isinstance(proj.plasticity, PairSTDP | TripletSTDP | RewardModulatedSTDP):
            raise ValueError(f"{proj.name} is not plastic: it has no {var} trace")
        idx = np.arange(len(proj)) if synapses is None else np.atleast_1d(np.asarray(synapses))
        if idx.size == 0 or not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= len(proj):
            raise ValueError(f"synapses must be integers in [0, {len(proj) - 1}] (the projection's synapses in creation order)")
        self.proj, self.var = proj, var
        self.kind = SYNAPSE_VARIABLES[var] if model is None or var == "w" else SV_GEN
        self.synapses = idx.astype(np.int64)
        super().__init__(idx.size, every, h5, {"projection": proj.name, "var": var, "synapses": self.synapses,
                                               "pre_index": proj.pre_index[self.synapses], "post_index": proj.post_index[self.synapses]})


class ModulatorMonitor(_Sampled):
    """Samples the concentration of network modulator ``name`` every ``every`` ms (the value at that time, before its step)."""

    def __init__(self, name: str, every: float | None = None, h5: str | Path | None = None):
        if not isinstance(name, str):
            raise TypeError(f"ModulatorMonitor takes the modulator's name, got {type(name).__name__}")
        self.name = name
        super().__init__(1, every, h5, {"modulator": name, "var": "concentration"})

    @property
    def concentration(self) -> np.ndarray:
        return self.values[:, 0]


def load_samples(path: str | Path) -> dict:
    """Read a synapse / modulator monitor's HDF5 file: ``{"t", "values", **attributes}`` as NumPy."""
    import h5py

    with h5py.File(Path(path), "r") as f:
        out = {k: (np.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in f.attrs.items()}
        out["t"] = f["t"][:]
        out["values"] = f["values"][:]
    return out
