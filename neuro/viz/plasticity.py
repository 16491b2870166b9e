"""Plasticity plots: a weight histogram (bimodality at the bounds, Song, Miller & Abbott 2000) and weights over time.

Both take plain arrays (``proj.weights``; a synapse monitor's ``t`` and ``values``) and an
optional matplotlib ``Axes``; with ``path`` the figure is written as a PNG and closed.

Example::

    weight_histogram(proj.weights, w_max=0.01, path="weights.png")
    weight_traces(wmon.t, wmon.values, labels=[f"syn {k}" for k in wmon.synapses], path="w_t.png")
"""

from __future__ import annotations

import numpy as np

from .events import _plt, _save


def weight_histogram(weights, bins: int = 40, w_min: float | None = None, w_max: float | None = None, ax=None, path=None,
                     title: str | None = None, label: str | None = None, normalise: bool = False, color=None):
    """Histogram of ``weights``; with ``w_max`` the x axis is w / w_max. Returns the Axes (or the PNG path)."""
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size == 0:
        raise ValueError("weight_histogram needs at least one weight")
    lo = float(w.min()) if w_min is None else w_min
    hi = float(w.max()) if w_max is None else w_max
    scale = hi if (w_max is not None and w_max > 0) else 1.0
    plt = _plt()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.2))
    edges = np.linspace(lo / scale, hi / scale, bins + 1) if hi > lo else bins
    ax.hist(w / scale, bins=edges, density=normalise, alpha=0.6, label=label, color=color)
    ax.set_xlabel("w / w_max" if scale != 1.0 else "weight")
    ax.set_ylabel("density" if normalise else "synapses")
    if fig is not None or title is not None:  # drawing onto a given Axes keeps its title unless one is given
        ax.set_title(title or f"{w.size} synapses")
    if label is not None:
        ax.legend()
    if fig is not None and path is not None:
        return _save(fig, path)
    return ax


def weight_traces(t, values, labels=None, ax=None, path=None, title: str | None = None, ylabel: str = "weight", max_lines: int = 50):
    """Weight (or eligibility, or modulator) over time: one line per column of ``values`` ``[samples, synapses]``."""
    t = np.asarray(t, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.shape[0] != t.shape[0]:
        raise ValueError(f"values has {v.shape[0]} samples, t has {t.shape[0]}")
    plt = _plt()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.2))
    for c in range(min(v.shape[1], max_lines)):
        ax.plot(t / 1000.0, v[:, c], lw=0.9, label=None if labels is None else labels[c])
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"{v.shape[1]} synapses")
    if labels is not None and v.shape[1] <= 10:
        ax.legend(fontsize=7)
    if fig is not None and path is not None:
        return _save(fig, path)
    return ax
