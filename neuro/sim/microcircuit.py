r"""The cortical microcircuit of Potjans & Diesmann (2014, Cereb. Cortex 24:785-806), built in :mod:`neuro.sim`.

Four layers (2/3, 4, 5, 6) with an excitatory and an inhibitory population each, 77,169 current-based
LIF neurons under 1 mm² of surface at full scale, ~0.3 billion synapses, driven by Poisson background
input (or its DC mean). Example::

    from neuro.sim.microcircuit import microcircuit
    net, pops, spikes = microcircuit(scale=0.05, k_scale=1.0, seed=1)
    net.run(500.0)
    print({name: mon.rate(500.0) for name, mon in spikes.items()})   # Hz per population

Parameters (all from the paper's tables 4-5, checked against the reference implementation, the NEST 3.x
PyNEST example ``pynest/examples/Potjans_2014`` — ``network_params.py``, ``helpers.py``, ``network.py``,
by H. Rothe, H. Bos, S. van Albada, J. Jordan et al.):

* populations ``L23E L23I L4E L4I L5E L5I L6E L6I`` with 20683, 5834, 21915, 5479, 4850, 1065, 14395,
  2948 neurons (:data:`N_FULL`); connection probabilities :data:`CONN_PROBS` (row: target, column: source);
* number of synapses from population *b* to *a* at full scale
  :math:`K_{ab} = \log(1 - C_{ab}) / \log(1 - 1/(N_a N_b))` (the expected number of distinct pairs is then
  :math:`C_{ab} N_a N_b`), drawn as a *fixed total number* with multapses and autapses allowed: each
  synapse takes a uniformly random source and a uniformly random target (NEST's ``fixed_total_number``);
* external (cortico-cortical) in-degrees :data:`K_EXT` = 1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100
  inputs per neuron, each a Poisson train at 8 Hz;
* mean PSP 0.15 mV (the inhibitory ones ``g`` = -4 times that, L4E -> L23E twice that), weights normal with
  a 10 % relative standard deviation, redrawn when their sign flips (NEST's ``redraw``);
* delays normal with mean 1.5 ms (excitatory sources) or 0.75 ms (inhibitory), 50 % relative standard
  deviation, redrawn below ``dt / 2`` and then rounded to the grid, so every delay is >= ``dt``
  (NEST: ``redraw(normal, min=resolution / 2)``, delays rounded to the resolution); the Poisson
  background arrives after 1.5 ms;
* neurons (NEST's ``iaf_psc_exp``): C_m = 250 pF, tau_m = 10 ms, tau_syn = 0.5 ms (both receptors),
  t_ref = 2 ms, E_L = V_reset = -65 mV, V_th = -50 mV; initial potentials normal per population with the
  "optimized" means and standard deviations of the NEST example (:data:`V0_MEAN`, :data:`V0_STD`), which
  shorten the burst at onset.

**Units.** The paper (and NEST) give synaptic strengths as PSC amplitudes in pA: a PSP of 0.15 mV needs
:math:`J = 0.15\,\mathrm{mV} \cdot` :func:`psc_over_psp` = 87.81 pA for ``iaf_psc_exp``
(:math:`C \dot V = -C (V - E_L)/\tau_m + I`, :math:`I` jumping by :math:`J` and decaying with
:math:`\tau_{syn}`). :class:`~neuro.sim.LIF` writes the same equation as
:math:`\tau_m \dot v = (v_{rest} - v) + I_e`, with the synaptic variable :math:`I_e` *in mV* (:math:`R I`,
:math:`R = \tau_m / C_m` = 40 MΩ) jumping by the synaptic weight at each spike. Hence
``weight (mV) = J (pA) * tau_m / C_m`` = 87.81 pA × 10 ms / 250 pF = 3.512 mV for the 0.15 mV PSP
(inhibitory: -14.05 mV), and a DC current :math:`I_{DC}` (pA) becomes ``i_ext = I_DC * tau_m / C_m`` (mV).

**Scaling.** ``scale`` multiplies the neuron numbers (rounded, each population keeps >= 1 neuron) and
``k_scale`` the in-degrees: a projection gets ``round(K_ab * scale * k_scale)`` synapses and each neuron
``round(K_ext * k_scale)`` external inputs, as in the NEST example. With ``k_scale = 1`` every neuron keeps
its full-scale in-degrees, so the mean and variance of its input are those of the full model (only the
correlations of shared input grow as ``scale`` shrinks). With ``k_scale < 1`` the weights (recurrent and
external) are divided by :math:`\sqrt{k}` and a DC current
:math:`0.001\,\tau_{syn} (1 - \sqrt{k}) (\sum_b J_{ab} K_{ab}/N_a\, \nu_b + J K_{ext,a} \nu_{bg})` (pA, with the
full-scale rates :data:`FULL_MEAN_RATES` of the NEST example) restores the lost mean input, which keeps the
mean and variance of the input (to first order) — the NEST example's compensation; the dynamics still differ
(e.g. the stationary state is less stable at small ``k_scale``).

**Poisson background.** A :class:`~neuro.sim.PoissonInput` neuron fires at most once per step (probability
``rate * dt``), but one neuron's background (:math:`K_{ext} \times 8` Hz = 12.8-23.2 kHz) is more than one
spike per 0.1-ms step on average. Each target neuron therefore gets its own ``m`` independent Poisson
sources of rate :math:`K_{ext} \nu_{bg} / m` (``m`` the smallest integer with ``rate * dt <= bg_p_max``),
so the background count per step is binomial(m, p) with p <= ``bg_p_max`` instead of Poisson — mean exact,
variance smaller by the factor ``1 - p`` (2 % at the default ``bg_p_max = 0.02``; the true model, ``K_ext``
sources at 8 Hz, is binomial with p = 0.0008). ``background="dc"`` replaces it by its mean,
:math:`0.001\,\tau_{syn} J K_{ext} \nu_{bg}` pA (the NEST example's ``poisson_input=False``). With
``k_scale < 1`` the DC background leaves the input without the background's fluctuations and the circuit
nearly silent (e.g. < 0.1 Hz at ``scale=0.02, k_scale=0.1``); use it with ``k_scale = 1``.

**Size.** Every synapse is stored (pre, post, weight, delay: about 32 bytes while building, more in the
network's arrays): ``scale * k_scale * 3e8`` synapses, i.e. tens of GB at full scale. ``scale=0.02,
k_scale=0.1`` (1,544 neurons, 0.6 M synapses) builds in about 0.5 s and reproduces the full-scale rates
(:data:`FULL_MEAN_RATES`) to within about 35 % per population (seeds 1-5, 100-400 ms), L2/3E the furthest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .monitors import SpikeMonitor
from .network import Network
from .populations import LIF, PoissonInput
from .projections import Projection

POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
N_FULL = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
"""Neurons per population at full scale."""
CONN_PROBS = np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.1350, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.0600, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.0010, 0.0034, 0.0005, 0.0277, 0.0080, 0.0658, 0.1443],
])
"""Connection probabilities, ``[target, source]`` in :data:`POPULATIONS` order (paper, table 5)."""
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
"""External (background) inputs per neuron, each at :data:`BG_RATE`."""
BG_RATE = 8.0  # Hz
FULL_MEAN_RATES = np.array([0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829])
"""Rates (Hz) of the full-scale model in the NEST 3 example; used only for the ``k_scale < 1`` DC compensation."""
V0_MEAN = np.array([-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43])
V0_STD = np.array([5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48])
PSP_E = 0.15  # mV, mean excitatory PSP
G = -4.0  # relative inhibitory strength
WEIGHT_REL_SD = 0.1
DELAY_E, DELAY_I, DELAY_REL_SD = 1.5, 0.75, 0.5  # ms, ms, relative
DELAY_POISSON = 1.5  # ms
NEURON = {"C_m": 250.0, "tau_m": 10.0, "tau_syn": 0.5, "t_ref": 2.0, "E_L": -65.0, "V_th": -50.0, "V_reset": -65.0}
BACKGROUNDS = ("poisson", "dc")


def psc_over_psp(C_m: float = 250.0, tau_m: float = 10.0, tau_syn: float = 0.5) -> float:
    """PSC amplitude (pA) per mV of PSP peak for an exponential current synapse on a LIF membrane (87.81 pA / 0.15 mV)."""
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / C_m * sub
    frac = (tau_m / tau_syn) ** sub
    return 1.0 / (pre * (frac**tau_m - frac**tau_syn))


def full_synapse_numbers() -> np.ndarray:
    r"""``[target, source]`` total synapse numbers at full scale, :math:`\log(1 - C) / \log(1 - 1/(N_{pre} N_{post}))` (not rounded)."""
    prod = np.outer(N_FULL, N_FULL).astype(np.float64)
    return np.log(1.0 - CONN_PROBS) / np.log((prod - 1.0) / prod)


def _check(scale, k_scale, dt, background, bg_p_max) -> None:
    for name, value in (("scale", scale), ("k_scale", k_scale)):
        if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 < value <= 1.0):
            raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    if not (isinstance(dt, int | float) and math.isfinite(dt) and dt > 0.0):
        raise ValueError(f"dt must be a finite number > 0 ms, got {dt!r}")
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    if not (isinstance(bg_p_max, int | float) and 0.0 < bg_p_max <= 1.0):
        raise ValueError(f"bg_p_max must be a number in (0, 1], got {bg_p_max!r}")
    if np.any(np.rint(N_FULL * scale) < 1):
        raise ValueError(f"scale={scale} leaves a population without neurons (L5I has {N_FULL[5]} at full scale); use scale >= {0.5 / N_FULL.min():.2g}")


def parameters(scale: float = 1.0, k_scale: float = 1.0, dt: float = 0.1, background: str = "poisson", bg_p_max: float = 0.02) -> dict:
    """The derived quantities of the scaled model (no randomness), in :data:`POPULATIONS` order.

    ``n`` neurons per population; ``n_syn[target, source]`` synapse numbers; ``w_mean[target, source]`` and
    ``w_ext`` (mV, our weight unit; ``*_pA`` the same in pA); ``k_ext`` external inputs per neuron;
    ``dc`` / ``dc_pA`` the constant drive per population; ``bg_sources`` Poisson sources per neuron and
    ``bg_rate_per_source`` (Hz) for ``background="poisson"``.
    """
    _check(scale, k_scale, dt, background, bg_p_max)
    to_mv = NEURON["tau_m"] / NEURON["C_m"]  # pA -> mV (R = tau_m / C_m)
    j = PSP_E * psc_over_psp(NEURON["C_m"], NEURON["tau_m"], NEURON["tau_syn"])  # pA
    w = np.zeros((8, 8))
    w[:, 0::2], w[:, 1::2] = j, G * j
    w[0, 2] = 2.0 * j  # L4E -> L23E
    k_full = full_synapse_numbers()
    n = np.rint(N_FULL * scale).astype(np.int64)
    n_syn = np.rint(k_full * scale * k_scale).astype(np.int64)
    k_ext = np.rint(K_EXT * k_scale).astype(np.int64)
    w_ext = j
    tau_syn = NEURON["tau_syn"]
    dc = np.zeros(8) if background == "poisson" else 0.001 * tau_syn * BG_RATE * K_EXT * j
    if k_scale != 1.0:
        s = math.sqrt(k_scale)
        input_rec = np.sum(w * (k_full / N_FULL[:, None]) * FULL_MEAN_RATES, axis=1)
        dc = dc + 0.001 * tau_syn * (1.0 - s) * input_rec
        if background == "poisson":
            dc = dc + 0.001 * tau_syn * (1.0 - s) * j * K_EXT * BG_RATE
        w, w_ext = w / s, w_ext / s
    rate_bg = k_ext * BG_RATE  # Hz per neuron
    m = np.maximum(1, np.ceil(rate_bg * dt / 1000.0 / bg_p_max - 1e-12)).astype(np.int64)
    return {
        "populations": POPULATIONS, "n": n, "n_syn": n_syn, "k_ext": k_ext,
        "w_mean_pA": w, "w_mean": w * to_mv, "w_ext_pA": w_ext, "w_ext": w_ext * to_mv, "dc_pA": dc, "dc": dc * to_mv,
        "bg_sources": m, "bg_rate_per_source": rate_bg / m,
        "delay_mean": np.tile([DELAY_E, DELAY_I], 4), "scale": scale, "k_scale": k_scale, "dt": dt, "background": background,
    }


def _redraw_normal(rng: np.random.Generator, mean: float, sd: float, n: int, ok) -> np.ndarray:
    """``n`` normal draws, those failing ``ok`` drawn again until none does (vectorised, NEST's ``redraw``)."""
    x = rng.normal(mean, sd, n)
    bad = np.flatnonzero(~ok(x))
    while bad.size:
        x[bad] = rng.normal(mean, sd, bad.size)
        bad = bad[~ok(x[bad])]
    return x


def connectivity(params: dict, seed: int = 0) -> list[dict]:
    """The recurrent synapses, one dict per non-empty projection: ``source``, ``target`` (indices into
    :data:`POPULATIONS`), ``pre``, ``post`` (indices within the populations), ``weight`` (mV), ``delay`` (ms, on the grid)."""
    rng = np.random.default_rng(seed)
    dt = params["dt"]
    n, n_syn, w_mean = params["n"], params["n_syn"], params["w_mean"]
    out = []
    for a in range(8):  # target
        for b in range(8):  # source
            k = int(n_syn[a, b])
            if k == 0:
                continue
            pre = rng.integers(0, n[b], k)
            post = rng.integers(0, n[a], k)
            mu = float(w_mean[a, b])
            weight = _redraw_normal(rng, mu, abs(mu) * WEIGHT_REL_SD, k, (lambda x: x > 0) if mu > 0 else (lambda x: x < 0))
            d_mu = DELAY_E if b % 2 == 0 else DELAY_I
            delay = _redraw_normal(rng, d_mu, d_mu * DELAY_REL_SD, k, lambda x: x >= 0.5 * dt)
            delay = np.maximum(np.rint(delay / dt), 1.0) * dt
            out.append({"source": b, "target": a, "pre": pre, "post": post, "weight": weight, "delay": delay})
    return out


def microcircuit(scale: float = 1.0, k_scale: float = 1.0, dt: float = 0.1, seed: int = 0, background: str = "poisson",
                 record: bool | str | Iterable[str] = True, bg_p_max: float = 0.02, backend: str = "cpu"):
    """Build the microcircuit: returns ``(net, pops, spikes)``.

    ``pops`` maps each name of :data:`POPULATIONS` to its :class:`~neuro.sim.LIF`; ``spikes`` maps the
    recorded ones to their :class:`~neuro.sim.SpikeMonitor` (``record``: ``True`` all, ``False``/``None``
    none, or population names). ``background``: ``"poisson"`` (8 Hz per external input; see the module
    notes) or ``"dc"`` (its mean as a constant current). ``seed`` fixes the connectivity, weights, delays and
    initial potentials (``numpy.random.default_rng(seed)``) and the network's Poisson streams.
    ``backend``: passed to :class:`~neuro.sim.Network` as ``backend=`` when not ``"cpu"``.
    The background sources are populations named ``bg_<pop>``; the recurrent projections ``<source>-><target>``.
    """
    params = parameters(scale, k_scale, dt, background, bg_p_max)
    if record is True:
        names = list(POPULATIONS)
    elif record is False or record is None:
        names = []
    else:
        names = [record] if isinstance(record, str) else list(record)
        unknown = [x for x in names if x not in POPULATIONS]
        if unknown:
            raise ValueError(f"record names unknown populations {unknown}; expected some of {POPULATIONS}")
    if not isinstance(backend, str):
        raise ValueError(f"backend must be a string such as 'cpu' or 'cuda', got {backend!r}")
    if backend == "cpu":
        net = Network(dt=dt, seed=seed)
    else:
        try:
            net = Network(dt=dt, seed=seed, backend=backend)
        except TypeError as exc:
            raise ValueError(f"backend={backend!r}: this version of neuro.sim.Network takes no backend argument ({exc})") from None
    rng = np.random.default_rng([seed, 1])  # initial potentials (the synapses use default_rng(seed))
    pops = {}
    for a, name in enumerate(POPULATIONS):
        na = int(params["n"][a])
        v0 = rng.normal(V0_MEAN[a], V0_STD[a], na)
        pops[name] = LIF(na, tau_m=NEURON["tau_m"], v_rest=NEURON["E_L"], v_th=NEURON["V_th"], v_reset=NEURON["V_reset"],
                         t_ref=NEURON["t_ref"], tau_e=NEURON["tau_syn"], tau_i=NEURON["tau_syn"], i_ext=float(params["dc"][a]),
                         v_init=v0, name=name)
        net.add(pops[name])
    for syn in connectivity(params, seed):
        src, tgt = POPULATIONS[syn["source"]], POPULATIONS[syn["target"]]
        net.add(Projection(pops[src], pops[tgt], (syn["pre"], syn["post"]), weight=syn["weight"], delay=syn["delay"],
                           receptor="exc" if syn["source"] % 2 == 0 else "inh", multapses=True, name=f"{src}->{tgt}"))
    if background == "poisson":
        for a, name in enumerate(POPULATIONS):
            m, na = int(params["bg_sources"][a]), int(params["n"][a])
            if params["k_ext"][a] == 0:
                continue
            src = PoissonInput(na * m, rate=float(params["bg_rate_per_source"][a]), name=f"bg_{name}")
            idx = np.arange(na * m, dtype=np.int64)
            delay = max(round(DELAY_POISSON / dt), 1) * dt
            net.add(src, Projection(src, pops[name], (idx, idx // m), weight=float(params["w_ext"]), delay=delay,
                                    receptor="exc", multapses=True, name=f"bg_{name}->{name}"))
    spikes = {name: net.add(SpikeMonitor(pops[name])) for name in names}
    return net, pops, spikes


def main(argv: list[str] | None = None) -> int:
    """``python -m neuro.sim.microcircuit``: build a scaled circuit, run it and print the rate of each population.

    The default (``--scale 0.02 --k-scale 0.1``, 1,544 neurons, 500 ms) takes a few seconds once Numba's cache is
    warm (``neuro warmup``); the first run of a fresh install compiles the time loop first.
    """
    import argparse
    import json
    import time

    p = argparse.ArgumentParser(prog="python -m neuro.sim.microcircuit",
                                description="Potjans & Diesmann (2014) cortical microcircuit, scaled: build, run, print the rate per population.")
    p.add_argument("--scale", type=float, default=0.02, help="fraction of the 77,169 neurons (default 0.02: 1,544 neurons)")
    p.add_argument("--k-scale", type=float, default=0.1, help="fraction of the in-degrees, weights compensated (default 0.1)")
    p.add_argument("--duration", type=float, default=500.0, help="simulated time in ms (default 500)")
    p.add_argument("--transient", type=float, default=100.0, help="ms at the start left out of the rates: the onset burst (default 100)")
    p.add_argument("--dt", type=float, default=0.1, help="time step in ms (default 0.1)")
    p.add_argument("--seed", type=int, default=1, help="seed of the connectivity, initial potentials and Poisson input (default 1)")
    p.add_argument("--background", choices=BACKGROUNDS, default="poisson", help="Poisson background or its DC mean (default poisson)")
    p.add_argument("--backend", default="cpu", help="simulator backend: cpu, cuda or emulate (default cpu)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object instead of a table")
    a = p.parse_args(argv)
    if not (math.isfinite(a.duration) and a.duration > 0):
        p.error(f"--duration must be > 0 ms, got {a.duration}")
    if not (math.isfinite(a.transient) and 0 <= a.transient < a.duration):
        p.error(f"--transient must be in [0, duration), got {a.transient} (duration {a.duration})")
    try:
        t0 = time.perf_counter()
        net, pops, spikes = microcircuit(scale=a.scale, k_scale=a.k_scale, dt=a.dt, seed=a.seed, background=a.background, backend=a.backend)
        t1 = time.perf_counter()
        net.run(a.duration, progress=False)
        t2 = time.perf_counter()
    except (ValueError, TypeError) as exc:
        p.error(str(exc))
    window_s = (a.duration - a.transient) / 1000.0
    rates = {name: float(np.count_nonzero(mon.t >= a.transient) / pops[name].n / window_s) for name, mon in spikes.items()}
    n_syn = sum(len(proj) for proj in net.projections if not proj.name.startswith("bg_"))
    summary = {
        "scale": a.scale, "k_scale": a.k_scale, "duration_ms": a.duration, "transient_ms": a.transient, "dt_ms": a.dt, "seed": a.seed,
        "background": a.background, "neurons": int(sum(pop.n for pop in pops.values())), "synapses": int(n_syn),
        "build_s": round(t1 - t0, 3), "run_s": round(t2 - t1, 3),
        "rates_hz": rates, "full_scale_rates_hz": dict(zip(POPULATIONS, FULL_MEAN_RATES.tolist())),
    }
    if a.json:
        print(json.dumps(summary))
        return 0
    print(f"Potjans & Diesmann microcircuit: scale {a.scale}, k_scale {a.k_scale}, {summary['neurons']:,} neurons, "
          f"{summary['synapses']:,} recurrent synapses, {a.background} background, seed {a.seed}")
    print(f"built in {summary['build_s']:.2f} s, {a.duration:g} ms simulated in {summary['run_s']:.2f} s; "
          f"rates over {a.transient:g}-{a.duration:g} ms")
    print(f"{'population':<11}{'neurons':>8}{'rate (Hz)':>11}{'full scale (Hz)':>17}")
    for name, full in zip(POPULATIONS, FULL_MEAN_RATES):
        print(f"{name:<11}{pops[name].n:>8}{rates[name]:>11.2f}{full:>17.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
