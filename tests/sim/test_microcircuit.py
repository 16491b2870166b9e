"""The Potjans & Diesmann (2014) microcircuit builder: parameters, synapse numbers, delays, unit conversion, rates, errors."""

from __future__ import annotations

import numpy as np
import pytest

from neuro import sim
from neuro.sim import microcircuit as mc

# small and fast: 1,544 neurons, in-degrees scaled by 0.1 with the NEST example's weight/DC compensation
SCALE, K_SCALE, DT = 0.02, 0.1, 0.1


def test_published_parameters():
    assert mc.N_FULL.tolist() == [20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948]
    assert mc.K_EXT.tolist() == [1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100]
    assert mc.CONN_PROBS.shape == (8, 8) and mc.CONN_PROBS[0, 0] == 0.1009 and mc.CONN_PROBS[4, 5] == 0.3726
    assert mc.psc_over_psp() * 0.15 == pytest.approx(87.81, abs=0.01)  # pA for a 0.15 mV PSP (the paper's 87.8 pA)
    p = mc.parameters(1.0, 1.0, DT)
    assert p["w_mean"][0, 0] == pytest.approx(87.808 * 10.0 / 250.0, rel=1e-4)  # pA * tau_m / C_m = mV
    assert p["w_mean"][0, 2] == pytest.approx(2 * p["w_mean"][0, 0])  # L4E -> L23E doubled
    assert p["w_mean"][3, 1] == pytest.approx(-4 * p["w_mean"][0, 0])
    # about 0.3 billion synapses at full scale
    assert 2.9e8 < p["n_syn"].sum() < 3.0e8


def test_weight_gives_the_published_psp():
    """One synapse with the model's mean excitatory weight lifts a resting neuron by 0.15 mV at the peak."""
    w = mc.parameters(1.0, 1.0, 0.01)["w_mean"][0, 0]
    net = sim.Network(dt=0.01)
    src = sim.SpikeSource(1, [1.0], [0])
    n = mc.NEURON
    pop = sim.LIF(1, tau_m=n["tau_m"], v_rest=n["E_L"], v_th=n["V_th"], v_reset=n["V_reset"], t_ref=n["t_ref"],
                  tau_e=n["tau_syn"], tau_i=n["tau_syn"])
    vm = net.add(src, pop, sim.Projection(src, pop, "all_to_all", weight=w, delay=0.5), sim.StateMonitor(pop, "v"))
    net.run(20.0)
    assert vm.values[:, 0].max() - n["E_L"] == pytest.approx(0.15, rel=2e-3)


@pytest.fixture(scope="module")
def circuit():
    net, pops, spikes = mc.microcircuit(scale=SCALE, k_scale=K_SCALE, dt=DT, seed=1, background="poisson")
    net.run(400.0, progress=False)
    return net, pops, spikes


def test_synapse_numbers_follow_the_formula(circuit):
    net, pops, _ = circuit
    k_full = np.log(1 - mc.CONN_PROBS) / np.log(1 - 1 / np.outer(mc.N_FULL, mc.N_FULL).astype(float))
    expected = np.rint(k_full * SCALE * K_SCALE).astype(int)
    got = np.zeros((8, 8), dtype=int)
    for proj in net.projections:
        if proj.name.startswith("bg_"):
            continue
        got[mc.POPULATIONS.index(proj.post.name), mc.POPULATIONS.index(proj.pre.name)] = len(proj)
    np.testing.assert_array_equal(got, expected)
    assert [pops[p].n for p in mc.POPULATIONS] == np.rint(mc.N_FULL * SCALE).astype(int).tolist()
    # each neuron gets round(K_ext * k_scale) * 8 Hz of background in total
    p = mc.parameters(SCALE, K_SCALE, DT)
    np.testing.assert_allclose(p["bg_sources"] * p["bg_rate_per_source"], np.rint(mc.K_EXT * K_SCALE) * 8.0)
    assert np.all(p["bg_rate_per_source"] * DT / 1000 <= 0.02 + 1e-12)


def test_delays_and_weights(circuit):
    net = circuit[0]
    for proj in net.projections:
        if proj.name.startswith("bg_"):
            continue
        d, w = proj.delays, proj.weights
        assert d.min() >= DT - 1e-12, proj.name
        np.testing.assert_allclose(d / DT, np.rint(d / DT), atol=1e-9)  # on the grid
        exc = proj.pre.name.endswith("E")
        assert (w > 0).all() if exc else (w < 0).all(), proj.name  # redrawn, never of the wrong sign
        assert proj.receptor == ("exc" if exc else "inh")
        if len(proj) > 5000:  # mean 1.5 / 0.75 ms, sd 50 % before truncation and rounding
            assert d.mean() == pytest.approx(1.5 if exc else 0.75, rel=0.1), proj.name
            assert np.std(w) / abs(np.mean(w)) == pytest.approx(0.1, rel=0.15), proj.name


def test_rates_in_the_published_ranges(circuit):
    """Checked over seeds 1-5 at this size and window: the rates lie within 0.73-1.12 times the full-scale
    model's (0.90, 2.97, 4.41, 5.88, 7.57, 8.63, 1.11, 7.83 Hz, NEST example); the assertions keep margins."""
    _, pops, spikes = circuit
    t0, t1 = 100.0, 400.0  # skip the onset transient
    rate = {k: float(np.sum(m.t >= t0)) / pops[k].n / ((t1 - t0) / 1000) for k, m in spikes.items()}
    for k, ref in zip(mc.POPULATIONS, mc.FULL_MEAN_RATES):
        assert 0.1 < rate[k] < 30.0, rate
        assert ref / 2 < rate[k] < ref * 2, (k, rate)
    for layer in ("L23", "L4", "L6"):
        assert rate[layer + "E"] < rate[layer + "I"], rate
    assert max(rate, key=lambda k: rate[k] if k.endswith("E") else -1) == "L5E", rate
    assert rate["L23E"] < 2.0 and rate["L6E"] < 2.0, rate  # the two quiet excitatory populations


def test_dc_background_builds_and_runs():
    net, pops, spikes = mc.microcircuit(scale=0.01, k_scale=0.1, seed=2, background="dc", record=["L4E"])
    assert list(spikes) == ["L4E"]
    assert not any(p.name.startswith("bg_") for p in net.populations)
    assert all(pops[k].i_ext.min() > 0 for k in mc.POPULATIONS)
    net.run(50.0, progress=False)


@pytest.mark.parametrize("kwargs, name", [
    ({"scale": 0.0}, "scale"), ({"scale": -0.1}, "scale"), ({"scale": 1.5}, "scale"), ({"scale": float("nan")}, "scale"),
    ({"scale": 1e-4}, "scale"), ({"k_scale": 0.0}, "k_scale"), ({"background": "noise"}, "background"),
    ({"dt": 0.0}, "dt"), ({"record": ["L7E"]}, "record"), ({"bg_p_max": 0.0}, "bg_p_max"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        mc.microcircuit(**{"scale": 0.01, "k_scale": 0.1, **kwargs})
