r"""Readable NumPy reference of the event-driven STDP laws (the kernels are tested against it).

State is kept per synapse (traces at the synapse, so per-synapse delays need no special
case) with the time of the last update; a trace is decayed only when an event reaches the
synapse: :math:`x \leftarrow x\, e^{-(t - t_{last})/\tau}`.

Order within one time step: presynaptic arrivals are processed before postsynaptic
spikes, so a pair at :math:`\Delta t = 0` counts as pre-before-post (potentiation), as in
Brian2's default ordering.
"""

from __future__ import annotations

import numpy as np

from .params import PairSTDP, TripletSTDP

PRE, POST = 0, 1


def decay(x, elapsed, tau):
    """Trace value ``elapsed`` ms after it was ``x``."""
    return x * np.exp(-elapsed / tau)


def bump(x, nearest: bool):
    """Trace after a spike: +1 (all-to-all) or reset to 1 (nearest-spike)."""
    return np.ones_like(x) if nearest else x + 1.0


def _f_plus(w, rule):
    span = rule.w_max - rule.w_min
    return np.ones_like(w) if rule.mu_plus == 0 else np.clip((rule.w_max - w) / span, 0.0, None) ** rule.mu_plus


def _f_minus(w, rule):
    span = rule.w_max - rule.w_min
    return np.ones_like(w) if rule.mu_minus == 0 else np.clip((w - rule.w_min) / span, 0.0, None) ** rule.mu_minus


def pair_on_pre(w, x_pre, x_post, rule: PairSTDP):
    """A presynaptic spike arrives (traces already decayed to now): depression (or potentiation if symmetric)."""
    dw = rule.eta_minus * _f_minus(w, rule) * x_post
    w = np.clip(w + dw if rule.symmetric else w - dw, rule.w_min, rule.w_max)
    return w, bump(x_pre, rule.pairing == "nearest")


def pair_on_post(w, x_pre, x_post, rule: PairSTDP):
    """A postsynaptic spike reaches the synapse: potentiation from the presynaptic trace."""
    w = np.clip(w + rule.eta_plus * _f_plus(w, rule) * x_pre, rule.w_min, rule.w_max)
    return w, bump(x_post, rule.pairing == "nearest")


def triplet_on_pre(w, r1, r2, o1, o2, rule: TripletSTDP):
    w = np.clip(w - o1 * (rule.a2_minus + rule.a3_minus * r2), rule.w_min, rule.w_max)
    nearest = rule.pairing == "nearest"
    return w, bump(r1, nearest), bump(r2, nearest)


def triplet_on_post(w, r1, r2, o1, o2, rule: TripletSTDP):
    w = np.clip(w + r1 * (rule.a2_plus + rule.a3_plus * o2), rule.w_min, rule.w_max)
    nearest = rule.pairing == "nearest"
    return w, bump(o1, nearest), bump(o2, nearest)


def run_events(w0, times, kinds, synapses, rule):
    """Apply a time-sorted list of synaptic events (``kinds``: 0 = pre arrival, 1 = post arrival) to weights ``w0``.

    Returns the final weights. Events at equal times must list pre arrivals first.
    """
    w = np.array(w0, dtype=np.float64)
    n = w.shape[0]
    t_last = np.zeros(n)
    if isinstance(rule, PairSTDP):
        traces = np.zeros((2, n))
        taus = (rule.tau_plus, rule.tau_minus)
    elif isinstance(rule, TripletSTDP):
        traces = np.zeros((4, n))
        taus = (rule.tau_plus, rule.tau_x, rule.tau_minus, rule.tau_y)
    else:
        raise TypeError(f"rule must be PairSTDP or TripletSTDP, got {type(rule).__name__}")
    for t, kind, s in zip(times, kinds, synapses):
        for k, tau in enumerate(taus):
            traces[k, s] = decay(traces[k, s], t - t_last[s], tau)
        t_last[s] = t
        if isinstance(rule, PairSTDP):
            if kind == PRE:
                w[s], traces[0, s] = pair_on_pre(w[s], traces[0, s], traces[1, s], rule)
            else:
                w[s], traces[1, s] = pair_on_post(w[s], traces[0, s], traces[1, s], rule)
        elif kind == PRE:
            w[s], traces[0, s], traces[1, s] = triplet_on_pre(w[s], *traces[:, s], rule)
        else:
            w[s], traces[2, s], traces[3, s] = triplet_on_post(w[s], *traces[:, s], rule)
    return w


def pairing_protocol(rule, dt: float, frequency: float, n_pairs: int = 60, w0: float = 0.5):
    """Weight change after ``n_pairs`` pre/post pairs at ``frequency`` Hz with ``dt = t_post - t_pre`` ms (one synapse)."""
    period = 1000.0 / frequency
    events = []
    for i in range(n_pairs):
        t_pre = i * period + max(0.0, -dt)
        events.append((t_pre, PRE))
        events.append((t_pre + dt, POST))
    events.sort(key=lambda e: (e[0], e[1]))
    times = np.array([e[0] for e in events])
    kinds = np.array([e[1] for e in events])
    return float(run_events(np.array([w0]), times, kinds, np.zeros(len(events), dtype=np.int64), rule)[0] - w0)
