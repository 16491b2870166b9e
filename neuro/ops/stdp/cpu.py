"""Numba kernels of the STDP laws in ``reference.py``: scalar functions the simulator's
compiled loop inlines, and a batch event processor used to hold them to the reference.

Rule parameters travel as a float64 vector (Numba takes no dataclasses): see
:func:`pack`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .params import PairSTDP, TripletSTDP

# indices into the packed parameter vector
PAIR_FIELDS = ("tau_plus", "tau_minus", "eta_plus", "eta_minus", "w_min", "w_max", "mu_plus", "mu_minus", "nearest", "symmetric")
TRIPLET_FIELDS = ("tau_plus", "tau_x", "tau_minus", "tau_y", "a2_plus", "a3_plus", "a2_minus", "a3_minus", "w_min", "w_max", "nearest")


def pack(rule) -> np.ndarray:
    """The rule's parameters as the float64 vector the kernels read."""
    names = PAIR_FIELDS if isinstance(rule, PairSTDP) else TRIPLET_FIELDS
    values = []
    for name in names:
        if name == "nearest":
            values.append(1.0 if rule.pairing == "nearest" else 0.0)
        else:
            values.append(float(getattr(rule, name)))
    return np.array(values, dtype=np.float64)


@njit(cache=True)
def _bump(x, nearest):
    return 1.0 if nearest > 0.5 else x + 1.0


@njit(cache=True)
def _clip(w, lo, hi):
    return min(max(w, lo), hi)


@njit(cache=True)
def pair_on_pre(w, x_pre, x_post, p):
    """Returns (w, x_pre) after a presynaptic arrival; traces already decayed to now."""
    f = 1.0
    if p[7] != 0.0:
        f = max((w - p[4]) / (p[5] - p[4]), 0.0) ** p[7]
    dw = p[3] * f * x_post
    w = _clip(w + dw if p[9] > 0.5 else w - dw, p[4], p[5])
    return w, _bump(x_pre, p[8])


@njit(cache=True)
def pair_on_post(w, x_pre, x_post, p):
    """Returns (w, x_post) after a postsynaptic spike reaches the synapse."""
    f = 1.0
    if p[6] != 0.0:
        f = max((p[5] - w) / (p[5] - p[4]), 0.0) ** p[6]
    w = _clip(w + p[2] * f * x_pre, p[4], p[5])
    return w, _bump(x_post, p[8])


@njit(cache=True)
def triplet_on_pre(w, r1, r2, o1, o2, p):
    w = _clip(w - o1 * (p[6] + p[7] * r2), p[8], p[9])
    return w, _bump(r1, p[10]), _bump(r2, p[10])


@njit(cache=True)
def triplet_on_post(w, r1, r2, o1, o2, p):
    w = _clip(w + r1 * (p[4] + p[5] * o2), p[8], p[9])
    return w, _bump(o1, p[10]), _bump(o2, p[10])


@njit(cache=True)
def _run_pair(w, times, kinds, synapses, p):
    n = w.shape[0]
    x_pre = np.zeros(n)
    x_post = np.zeros(n)
    t_last = np.zeros(n)
    for e in range(times.shape[0]):
        s = synapses[e]
        el = times[e] - t_last[s]
        x_pre[s] *= math.exp(-el / p[0])
        x_post[s] *= math.exp(-el / p[1])
        t_last[s] = times[e]
        if kinds[e] == 0:
            w[s], x_pre[s] = pair_on_pre(w[s], x_pre[s], x_post[s], p)
        else:
            w[s], x_post[s] = pair_on_post(w[s], x_pre[s], x_post[s], p)
    return w


@njit(cache=True)
def _run_triplet(w, times, kinds, synapses, p):
    n = w.shape[0]
    tr = np.zeros((4, n))
    t_last = np.zeros(n)
    for e in range(times.shape[0]):
        s = synapses[e]
        el = times[e] - t_last[s]
        for k in range(4):
            tr[k, s] *= math.exp(-el / p[k])
        t_last[s] = times[e]
        if kinds[e] == 0:
            w[s], tr[0, s], tr[1, s] = triplet_on_pre(w[s], tr[0, s], tr[1, s], tr[2, s], tr[3, s], p)
        else:
            w[s], tr[2, s], tr[3, s] = triplet_on_post(w[s], tr[0, s], tr[1, s], tr[2, s], tr[3, s], p)
    return w


def run_events(w0, times, kinds, synapses, rule):
    """Same contract as :func:`neuro.ops.stdp.reference.run_events`, compiled."""
    w = np.array(w0, dtype=np.float64)
    args = (w, np.asarray(times, np.float64), np.asarray(kinds, np.int64), np.asarray(synapses, np.int64), pack(rule))
    if isinstance(rule, PairSTDP):
        return _run_pair(*args)
    if isinstance(rule, TripletSTDP):
        return _run_triplet(*args)
    raise TypeError(f"rule must be PairSTDP or TripletSTDP, got {type(rule).__name__}")
