"""Host <-> device traffic of the GPU engine (issue 22, item 9), counted with spies on the emulated device.

A reward callback used to download and re-upload every array and capture the CUDA graph again; int32 event lists were
widened to int64 on the device; the dense spike ring (R x n int64) went up at every run. Now an upload copies in place
only the arrays the host changed, the graph is kept while no array moves, the event lists keep their type and the
spike ring goes up only when its used part differs from the device's. Every run here must still equal the CPU loop
bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP
from neuro.ops.three_factor import RewardModulatedSTDP
from neuro.sim.engine_gpu import HostEmulation

pytestmark = pytest.mark.skipif(HostEmulation.compiler() is None, reason="the emulation needs a C++ compiler")


def plastic(backend):
    net = sim.Network(dt=0.5, seed=3, backend=backend)
    pre = sim.PoissonInput(40, rate=40.0)
    post = sim.LIF(10, v_rest=-65.0, v_th=-55.0, v_reset=-65.0, t_ref=2.0, noise=2.0)
    izh = sim.Izhikevich(10, preset="regular_spiking", noise=5.0)
    net.add(pre, post, izh)
    net.add_modulator("da", tau=100.0)
    net.add(sim.Projection(pre, post, sim.FixedProbability(0.5), weight=lambda r, n: np.linspace(0.5, 3.0, n),
                           delay=lambda r, n: (np.arange(n) % 4 + 1) * 0.5, seed=1,
                           plasticity=PairSTDP(eta_plus=0.3, eta_minus=0.32, w_max=5.0, dendritic_fraction=0.5)),
            sim.Projection(pre, izh, sim.FixedProbability(0.4), weight=2.0, delay=1.0, seed=2, modulator="da",
                           plasticity=RewardModulatedSTDP(update_interval=5.0)))
    mons = [net.add(sim.SpikeMonitor(p)) for p in (post, izh)]
    return net, mons


def _reward(net, released=None):
    if net.step % 20 == 0:
        net.release("da", 0.5)
        if released is not None:
            released.append(net.step)


def _result(net, mons):
    st = net.state()
    return [m.t for m in mons] + [m.i for m in mons] + [st[k] for k in ("v", "u", "x1", "x2", "syn_w", "elig", "elig_post", "ntr", "modulator")]


def _assert_same(a, b):
    for k, (x, y) in enumerate(zip(a, b)):
        np.testing.assert_array_equal(x, y, err_msg=f"item {k}")


class Spy:
    """Records the arrays the engine puts on the device and the graphs it captures."""

    def __init__(self, engine, monkeypatch):
        self.puts, self.captures, self.allocs = [], 0, 0
        put, capture, alloc = engine._put, engine.dev.capture, engine._alloc

        def spy_put(key, a):
            self.puts.append(key)
            put(key, a)

        def spy_capture(body):
            self.captures += 1
            return capture(body)

        def spy_alloc(a):
            self.allocs += 1
            return alloc(a)

        monkeypatch.setattr(engine, "_put", spy_put)
        monkeypatch.setattr(engine.dev, "capture", spy_capture)
        monkeypatch.setattr(engine, "_alloc", spy_alloc)


def test_reward_callbacks_upload_what_changed_and_keep_the_graph(monkeypatch):
    ref, ref_m = plastic("cpu")
    ref.run(10.0)
    ref.run(60.0, reward=_reward, reward_interval=5.0)
    net, mons = plastic("emulate")
    net.run(10.0)
    spy = Spy(net._engine, monkeypatch)
    released = []
    net.run(60.0, reward=lambda n: _reward(n, released), reward_interval=5.0)  # 12 callbacks, some releasing dopamine
    assert 0 < len(released) < 12
    assert spy.captures == 1  # once: the chunk buffers took the callbacks' chunk size; before: once per callback (12)
    assert spy.allocs == 0  # no array moved
    assert spy.puts == ["modulator"] * len(released), spy.puts  # the dopamine releases; before: ~25 arrays per callback
    _assert_same(_result(ref, ref_m), _result(net, mons))


def test_a_run_after_a_run_uploads_nothing_unchanged(monkeypatch):
    ref, ref_m = plastic("cpu")
    net, mons = plastic("emulate")
    for n in (ref, net):
        n.run(20.0)
    spy = Spy(net._engine, monkeypatch)
    for n in (ref, net):
        n.run(20.0)
    assert spy.puts == [] and spy.captures == 0  # the spike ring (R x n) no longer goes up at every run
    for n in (ref, net):
        n.populations[1].v = -58.0
        n.populations[1].i_ext = 1.5
        n.run(20.0)
    assert sorted(spy.puts) == ["i_ext", "tgt"], spy.puts  # the changed arrays only (v is a row of tgt)
    _assert_same(_result(ref, ref_m), _result(net, mons))


def test_restored_spike_ring_goes_up(tmp_path, monkeypatch):
    net, mons = plastic("emulate")
    net.run(20.0)
    path = net.save(tmp_path / "s.npz")
    net.run(20.0)
    spy = Spy(net._engine, monkeypatch)
    net.restore(path)
    net.run(20.0)
    assert {"hist_idx", "hist_n", "hist_step", "tgt"} <= set(spy.puts)
    ref, ref_m = plastic("cpu")
    ref.run(20.0)
    ref.run(20.0)  # (the monitors record the whole history; compare the state)
    ref.restore(path)
    ref.run(20.0)
    _assert_same(_result(ref, ref_m)[4:], _result(net, mons)[4:])


def test_event_lists_keep_their_int32_type_on_the_device():
    net, _ = plastic("emulate")
    net.run(5.0)
    s, d = net._s, net._engine.d
    assert s.pre_syn.dtype == np.int32 and s.syn_fk.dtype == np.int16
    for key in ("pre_syn", "pre_proj", "pre_other", "pre_dly", "post_syn", "post_proj", "post_other", "post_dly", "syn_postpos"):
        assert d.__dict__[key].dtype == np.int32, key
    assert d.syn_fk.dtype == np.int16
    assert {"-DEV_T=int", "-DFK_T=short"} <= set(net._engine.dev.loaded_options)  # the kernels read them so
