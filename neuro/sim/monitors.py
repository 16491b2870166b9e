"""Monitors: spikes (index, time), sampled state variables, population rates.

A :class:`SpikeMonitor` keeps its spikes in memory, or streams them to an HDF5 file
(``h5=path``: chunked, resizable datasets ``t`` and ``i``) so that long runs use bounded
memory; either way ``.t`` (ms) and ``.i`` (index in the population) load back as NumPy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .populations import Population

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
