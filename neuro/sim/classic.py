r"""Classic published networks, built from their papers' parameters, for validation and benchmarks.

:func:`izhikevich2003_parameters` draws the random matrices of Izhikevich's "Simple model of spiking
neurons" (IEEE TNN 14:1569, 2003, the published MATLAB code) and :func:`izhikevich2003` builds that
network in :mod:`neuro.sim`: ``n_exc`` excitatory neurons (:math:`r_e \sim U(0,1)`: a = 0.02, b = 0.2,
:math:`c = -65 + 15 r_e^2`, :math:`d = 8 - 6 r_e^2`) and ``n_inh`` inhibitory ones (:math:`r_i`: :math:`a = 0.02 + 0.08 r_i`,
:math:`b = 0.25 - 0.05 r_i`, c = -65, d = 2), all-to-all synapses (autapses included)
:math:`S_{post,pre} = 0.5\,U(0,1)` from excitatory and :math:`-U(0,1)` from inhibitory neurons, thalamic
noise :math:`I = 5\,\mathcal N(0,1)` (excitatory) or :math:`2\,\mathcal N(0,1)` (inhibitory) drawn afresh each
1 ms step, v advanced by two 0.5 ms half-steps and u by one step, a spike at :math:`v \ge 30` mV
(v <- c, u <- u + d), and the input of a step the sum of S over the neurons that fired at the step before.

Example::

    from neuro.sim import classic
    p = classic.izhikevich2003_parameters(seed=1)
    net, pop, spikes = classic.izhikevich2003(p, seed=1)
    net.run(1000.0)
    print(spikes.rate(1000.0), "Hz")      # about 7.5 Hz; population rhythms near 8 Hz and 30-40 Hz
"""

from __future__ import annotations

import numpy as np

from .monitors import SpikeMonitor
from .network import Network
from .populations import Izhikevich
from .projections import Projection


def izhikevich2003_parameters(n_exc: int = 800, n_inh: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """The random draws of the published code: per-neuron ``a, b, c, d``, ``S`` of shape ``[post, pre]``
    (the MATLAB layout), the noise std ``sigma`` per neuron (5 excitatory, 2 inhibitory), and ``n_exc``."""
    if n_exc < 1 or n_inh < 1:
        raise ValueError(f"needs at least one excitatory and one inhibitory neuron, got n_exc={n_exc}, n_inh={n_inh}")
    rng = np.random.default_rng(seed)
    n = n_exc + n_inh
    re, ri = rng.random(n_exc), rng.random(n_inh)
    a = np.concatenate([np.full(n_exc, 0.02), 0.02 + 0.08 * ri])
    b = np.concatenate([np.full(n_exc, 0.2), 0.25 - 0.05 * ri])
    c = np.concatenate([-65 + 15 * re**2, np.full(n_inh, -65.0)])
    d = np.concatenate([8 - 6 * re**2, np.full(n_inh, 2.0)])
    S = np.concatenate([0.5 * rng.random((n, n_exc)), -rng.random((n, n_inh))], axis=1)
    sigma = np.concatenate([np.full(n_exc, 5.0), np.full(n_inh, 2.0)])
    return {"a": a, "b": b, "c": c, "d": d, "S": S, "sigma": sigma, "n_exc": np.array(n_exc)}


def izhikevich2003(params: dict[str, np.ndarray], seed: int = 0, input_table: np.ndarray | None = None, noise: bool = True,
                   backend: str = "cpu"):
    """The 2003 network in :mod:`neuro.sim` (dt = 1 ms) on the simulator ``backend``: returns ``(net, pop, spike_monitor)``.

    ``noise=True`` draws the thalamic input afresh each step (std ``params["sigma"]``, from the network's
    ``seed``); ``input_table`` (``[steps, n]``, mV) instead replays a fixed input sequence, e.g. to compare
    spike for spike with another simulator.
    """
    S = np.asarray(params["S"], dtype=np.float64)
    n, n_exc = S.shape[0], int(params["n_exc"])
    net = Network(dt=1.0, seed=seed, backend=backend)
    pop = Izhikevich(n, a=params["a"], b=params["b"], c=params["c"], d=params["d"], preset=None, scheme="izhikevich",
                     noise=params["sigma"] if noise and input_table is None else 0.0, v_init=-65.0, name="izhikevich2003")
    if input_table is not None:
        pop.inject(input_table)
    pre_e, post_e = np.divmod(np.arange(n_exc * n, dtype=np.int64), n)
    pre_i, post_i = np.divmod(np.arange((n - n_exc) * n, dtype=np.int64), n)
    pre_i += n_exc
    # delay 0: delivered at the end of the spike's step, so it drives the next step (the published order)
    net.add(pop, Projection(pop, pop, (pre_e, post_e), weight=S[post_e, pre_e], receptor="exc", name="exc"),
            Projection(pop, pop, (pre_i, post_i), weight=S[post_i, pre_i], receptor="inh", name="inh"))
    spikes = net.add(SpikeMonitor(pop))
    return net, pop, spikes


def population_spectrum(spike_times_ms: np.ndarray, duration_ms: float, dt_ms: float = 1.0, skip_ms: float = 100.0, segment_ms: float = 250.0):
    """Welch power spectrum of the population spike count per step (Hann segments of ``segment_ms``, half
    overlapping, each with its mean removed), after ``skip_ms``: ``(freq_hz, power)``."""
    steps = int(round(duration_ms / dt_ms))
    t = np.floor(np.asarray(spike_times_ms) / dt_ms).astype(np.int64)
    x = np.bincount(t[t < steps], minlength=steps)[int(round(skip_ms / dt_ms)) :].astype(np.float64)
    m = int(round(segment_ms / dt_ms))
    if x.size < m:
        raise ValueError(f"the run after skip_ms ({x.size * dt_ms} ms) is shorter than one segment ({segment_ms} ms)")
    window = np.hanning(m)
    starts = range(0, x.size - m + 1, m // 2)
    power = np.mean([np.abs(np.fft.rfft((x[s : s + m] - x[s : s + m].mean()) * window)) ** 2 for s in starts], axis=0)
    return np.fft.rfftfreq(m, dt_ms / 1000.0), power
