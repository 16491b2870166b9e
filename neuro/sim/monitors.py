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
    """Records the spikes of ``pop`` (all neurons, or only ``indices``)."""

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
        if self.h5 is not None:
            import h5py

            with h5py.File(self.h5, "w") as f:
                for key, dtype in (("t", "f8"), ("i", "i4")):
                    f.create_dataset(key, shape=(0,), maxshape=(None,), chunks=(65536,), dtype=dtype)
                f.attrs["population"] = pop.name
                f.attrs["unit_t"] = "ms"

    def _append(self, t_ms: np.ndarray, idx: np.ndarray) -> None:
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

    def rate(self, duration_ms: float) -> float:
        """Mean firing rate (Hz) over ``duration_ms``."""
        if not (np.isfinite(duration_ms) and duration_ms > 0):
            raise ValueError(f"duration_ms must be a finite number > 0, got {duration_ms}")
        return self.count / self.pop.n / (duration_ms / 1000.0)

    def trains(self) -> list[np.ndarray]:
        """Spike times per neuron."""
        t, i = self.t, self.i
        order = np.argsort(i, kind="stable")
        bounds = np.searchsorted(i[order], np.arange(self.pop.n + 1))
        return [t[order[bounds[k] : bounds[k + 1]]] for k in range(self.pop.n)]


class StateMonitor:
    """Samples variable ``var`` ("v", "u", "i_e"/"g_e", "i_i"/"g_i") of neurons ``indices`` every ``every`` ms (after the step)."""

    def __init__(self, pop: Population, var: str = "v", indices=None, every: float | None = None):
        if var not in VARIABLES:
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
    (the STDP traces at the synapse; :math:`r_1`, :math:`o_1` for the triplet rule). ``synapses``
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
        if var not in SYNAPSE_VARIABLES:
            raise ValueError(f"unknown synapse variable {var!r}; expected one of {sorted(SYNAPSE_VARIABLES)}")
        if var == "eligibility" and not isinstance(proj.plasticity, RewardModulatedSTDP):
            raise ValueError(f"{proj.name} has no eligibility traces (plasticity {type(proj.plasticity).__name__}); they need RewardModulatedSTDP")
        if var in ("x_pre", "x_post") and not isinstance(proj.plasticity, PairSTDP | TripletSTDP | RewardModulatedSTDP):
            raise ValueError(f"{proj.name} is not plastic: it has no {var} trace")
        idx = np.arange(len(proj)) if synapses is None else np.atleast_1d(np.asarray(synapses))
        if idx.size == 0 or not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= len(proj):
            raise ValueError(f"synapses must be integers in [0, {len(proj) - 1}] (the projection's synapses in creation order)")
        self.proj, self.var, self.kind = proj, var, SYNAPSE_VARIABLES[var]
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
