"""The delivery fast paths (one flat target matrix, contiguous segments) give exactly what the per-synapse loop gives."""

from __future__ import annotations

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP, TripletSTDP
from neuro.ops.three_factor import RewardModulatedSTDP
from neuro.sim import engine_cpu
from neuro.sim import network as network_mod


def _net(dense: bool, monkeypatch):
    if not dense:
        monkeypatch.setattr(network_mod.Network, "_dense_segments", staticmethod(lambda s, min_len=8: np.zeros(s.off[:, :-1].shape, np.uint8)))
    rng = np.random.default_rng(0)
    net = sim.Network(dt=0.5, seed=3)
    izh = sim.Izhikevich(60, preset="regular_spiking", noise=3.0, name="izh")
    lif = sim.LIF(50, tau_m=10.0, v_rest=-60.0, v_th=-50.0, v_reset=-65.0, t_ref=2.0, tau_e=3.0, tau_i=6.0, name="lif")
    src = sim.PoissonInput(40, rate=60.0, name="src")
    w = rng.uniform(0.5, 2.0, size=(40, 60))
    net.add(izh, lif, src,
            sim.Projection(src, izh, "all_to_all", weight=w.ravel(), delay=1.0, name="dense_izh"),  # contiguous segments
            sim.Projection(src, lif, "all_to_all", weight=1.5, receptor="exc", delay=0.5, name="dense_exc"),
            sim.Projection(izh, lif, sim.FixedProbability(0.1), weight=-1.0, receptor="inh", name="sparse_inh", seed=1),
            sim.Projection(lif, izh, sim.FixedProbability(0.2), weight=2.0, delay=1.5, name="sparse_izh", seed=2))
    smon, lmon = sim.SpikeMonitor(izh), sim.SpikeMonitor(lif)
    net.add(smon, lmon)
    return net, izh, lif, smon, lmon


def test_dense_segments_are_found(monkeypatch):
    net, *_ = _net(True, monkeypatch)
    net.build()
    s = net._s
    flagged = np.isin(s.seg_code, (2, 4))
    assert np.array_equal(s.seg_code > 0, s.off[:, 1:] > s.off[:, :-1])  # 0 exactly where a (neuron, delay) has no synapse
    # segments with synapses into the LIF population's currents scale their weights into its frame (codes 3, 4 with
    # one frame key throughout, 5 with several or some synapses elsewhere)
    some = s.seg_code > 0
    for code, lo, hi in zip(s.seg_code[some], s.off[:, :-1][some], s.off[:, 1:][some]):
        keys = s.syn_fk[lo:hi]
        assert (code >= 3) == bool(np.any(keys)), (code, keys)
        assert (code in (3, 4)) == (bool(np.any(keys)) and np.all(keys == keys[0])), (code, keys)
    lif = net.populations[1]
    into_lif = (s.syn_post >= lif.start) & (s.syn_post < lif.start + lif.n)
    assert np.array_equal(s.syn_fk != 0, into_lif)
    assert flagged.any()
    a, b = s.off[:, :-1][flagged], s.off[:, 1:][flagged]
    for lo, hi in zip(a, b):  # every flagged segment really is one contiguous ascending run of targets
        np.testing.assert_array_equal(np.diff(s.syn_tgt[lo:hi]), 1)
    # the Poisson sources' all-to-all segments are flagged; sparse ones (random targets) are not
    src = net.populations[2]
    assert flagged[src.start : src.start + src.n].sum() == 2 * src.n


def test_segments_into_several_frames_scale_per_synapse():
    """One spike reaching an Izhikevich neuron and two LIF populations' excitatory and inhibitory currents at the
    same delay: one mixed segment (code 5), each weight lands as it is in the current it feeds."""
    net = sim.Network(dt=0.1)
    src = sim.SpikeSource(1, times=[30.0], indices=[0])
    a, b = sim.LIF(3, v_th=1e6, tau_e=4.0, tau_i=8.0), sim.LIF(2, v_th=1e6, tau_e=2.0, tau_i=3.0)
    izh = sim.Izhikevich(2, preset="regular_spiking")
    net.add(src, a, b, izh, sim.Projection(src, a, "all_to_all", weight=1.5, receptor="exc"),
            sim.Projection(src, a, "all_to_all", weight=-2.5, receptor="inh"),
            sim.Projection(src, b, "all_to_all", weight=0.7, receptor="exc"),
            sim.Projection(src, izh, "all_to_all", weight=0.0))
    net.build()
    assert net._s.seg_code[0, 0] == 5
    net.run(30.1)  # the spike of step 300 is delivered at its end: the currents the next step integrates
    np.testing.assert_allclose(a.i_e, 1.5, rtol=1e-14)
    np.testing.assert_allclose(a.i_i, -2.5, rtol=1e-14)
    np.testing.assert_allclose(b.i_e, 0.7, rtol=1e-14)
    assert np.all(b.i_i == 0)


@pytest.mark.parametrize("pattern, expect", [
    ([3, 4, 5, 6, 7, 8, 9, 10], 1),
    ([3, 4, 5, 6, 8, 9, 10, 11], 0),  # a gap
    ([3, 4, 5, 5, 6, 7, 8, 9], 0),  # a repeated target (multapse): span matches but steps do not
    ([3, 4, 5, 6, 7], 0),  # shorter than min_len
])
def test_dense_flag_rules(pattern, expect):
    from types import SimpleNamespace

    tgt = np.array(pattern, dtype=np.int32)
    s = SimpleNamespace(off=np.array([[0, tgt.size, tgt.size]]), syn_tgt=tgt)
    assert network_mod.Network._dense_segments(s)[0, 0] == expect


def test_fast_paths_give_identical_runs(monkeypatch):
    runs = []
    for dense in (True, False):
        with monkeypatch.context() as m:
            net, izh, lif, smon, lmon = _net(dense, m)
            net.run(400.0)
            runs.append((smon.t.copy(), smon.i.copy(), lmon.t.copy(), lmon.i.copy(), izh.v.copy(), lif.v.copy(), net.counts["synaptic_events"]))
    assert runs[0][0].size > 50 and runs[0][2].size > 20
    for x, y in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(x, y)


def _plastic_net(seed=5):
    """Plastic projections whose presynaptic events run in the delivery pass (pair STDP into LIF currents: code 7,
    eligibility into Izhikevich: code 6) beside ones that cannot (a dendritic delay, a triplet rule, a segment shared
    with a static projection): all in one network, so both passes and their shared per-projection cache are exercised."""
    rng = np.random.default_rng(seed)
    net = sim.Network(dt=0.5, seed=seed)
    net.add_modulator("da", tau=50.0, initial=0.5)
    a, b, c = (sim.PoissonInput(30, rate=r, name=f"src{k}") for k, r in enumerate((40.0, 60.0, 50.0)))
    lif = sim.LIF(20, tau_m=10.0, v_rest=-60.0, v_th=-52.0, v_reset=-65.0, t_ref=2.0, tau_e=3.0, name="lif")
    izh = sim.Izhikevich(20, preset="regular_spiking", name="izh")
    stdp = PairSTDP(tau_plus=15.0, tau_minus=20.0, eta_plus=0.05, eta_minus=0.06, w_min=0.0, w_max=5.0)
    elig = RewardModulatedSTDP(stdp=PairSTDP(eta_plus=0.1, eta_minus=0.12, w_min=0.0, w_max=8.0), tau_c=40.0, baseline=0.01,
                               update_interval=25.0)
    dly = lambda r, n: rng.integers(0, 5, n) * 0.5  # noqa: E731
    net.add(a, b, c, lif, izh,
            sim.Projection(a, lif, sim.FixedProbability(0.4), weight=3.5, delay=dly, plasticity=stdp, seed=1, name="pair_lif"),
            sim.Projection(b, izh, sim.FixedProbability(0.4), weight=4.0, delay=dly, plasticity=elig, modulator="da", seed=2, name="elig_izh"),
            sim.Projection(c, izh, sim.FixedProbability(0.4), weight=3.0, delay=dly, seed=3, name="static_izh"),
            sim.Projection(c, lif, sim.FixedProbability(0.4), weight=1.5, delay=dly, plasticity=stdp, seed=4, name="shared"),
            sim.Projection(a, izh, sim.FixedProbability(0.3), weight=3.0, delay=2.0,
                           plasticity=PairSTDP(w_max=6.0, dendritic_fraction=0.5), seed=5, name="dendritic"),
            sim.Projection(izh, lif, sim.FixedProbability(0.3), weight=1.0, delay=1.0, plasticity=TripletSTDP(w_max=4.0), seed=6,
                           name="triplet"))
    mons = [net.add(sim.SpikeMonitor(p)) for p in (lif, izh)]
    return net, mons


def test_presynaptic_events_in_the_delivery_pass_and_compact_post_lists_change_nothing(monkeypatch):
    """The fast paths of plastic synapses (presynaptic events in the delivery pass, codes 6 / 7; postsynaptic lists of
    one projection read in compact form, post_one) against the general loops: the same spikes and state bit for bit."""
    fused, fmons = _plastic_net()
    fused.build()
    s = fused._s
    assert (s.seg_code == 6).any() and (s.seg_code == 7).any()  # Izhikevich targets / LIF currents
    assert s.pre_code.any()  # and lists left to the separate pass (dendritic delay, triplet, shared segments)
    kinds = s.proj_kind[s.post_one[s.post_one >= 0]]
    assert (kinds == engine_cpu.PL_PAIR).any() and (kinds == engine_cpu.PL_ELIGIBILITY).any()
    assert ((s.post_one < 0) & (s.post_off[:, 1:] > s.post_off[:, :-1])).any()  # lists left to the row form (triplet)
    fused.run(400.0, progress=False)
    monkeypatch.setattr(network_mod.Network, "_fuse_pre_events",
                        staticmethod(lambda s, stride: (setattr(s, "proj_shift", np.zeros(max(s.proj_kind.shape[0], 1), np.int64)),
                                                        setattr(s, "seg_proj", np.zeros(s.seg_code.shape, np.int32)))))
    real_compact = network_mod.Network._compact_post_events
    monkeypatch.setattr(network_mod.Network, "_compact_post_events", staticmethod(lambda s: (real_compact(s), s.post_one.fill(-1))))
    plain, pmons = _plastic_net()
    plain.build()
    assert not np.isin(plain._s.seg_code, (6, 7)).any() and (plain._s.post_one == -1).all()
    plain.run(400.0, progress=False)
    for f, p in zip(fmons, pmons):
        assert f.count > 50
        np.testing.assert_array_equal(f.t, p.t)
        np.testing.assert_array_equal(f.i, p.i)
    for pf, pp in zip(fused.projections, plain.projections):
        np.testing.assert_array_equal(pf.weights, pp.weights)  # bit for bit
    np.testing.assert_array_equal(fused._s.elig, plain._s.elig)
    w0 = _plastic_net()[0].projections
    assert all(not np.array_equal(p.weights, q.weights) for p, q in zip(fused.projections, w0) if p.plasticity is not None)
