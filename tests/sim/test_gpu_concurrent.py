"""The GPU kernels run by concurrent threads on the CPU (issue 22): no data races, and results that do not depend on
the threads' order.

The threaded host emulation (``HostEmulation(threads=(blocks, lanes))``, ``kernels/neuro_device.cuh``) runs each
launch on real OS threads started in a random order, with real atomics. Built with ``-fsanitize=thread`` and run in
a child process with ThreadSanitizer preloaded, any two unsynchronised accesses of one location by two threads of a
launch (one a plain write) are reported and end the child (exit code 66). The network here has everything that
could race: a source neuron spiking several times in one step onto plastic synapses of every rule (pair, pair
delivering before its update, triplet, reward-modulated), all-to-all delivery into shared targets, noise. Its run
must equal the CPU loop bit for bit, in every order the threads take.

``-DNEURO_TEST_RACE_REPEATED_SPIKES`` puts back the kernels' old handling of repeated spikes (each copy of a neuron in
the step's list by its own block, so two threads read-modify-write one synapse): ThreadSanitizer must report that race
in ``plastic_events``. That is how we know the check would have caught the lost updates of issue 22, item 1.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP, TripletSTDP
from neuro.ops.three_factor import RewardModulatedSTDP
from neuro.sim.engine_gpu import GPUEngine, HostEmulation

CHILD = Path(__file__).with_name("emulate_threads_child.py")
STEPS = 150
DT = 0.1

pytestmark = pytest.mark.skipif(HostEmulation.compiler() is None, reason="the emulation needs a C++ compiler")


def repeated_spikes(backend: str = "cpu"):
    """Source neurons with repeated spikes in a step (multiplicity) onto plastic synapses of every rule, Poisson input
    all-to-all with varied weights into the same targets (sums whose order shows in the last bit), noisy LIF."""
    net = sim.Network(dt=DT, seed=4, backend=backend)
    rng = np.random.default_rng(7)
    times = np.concatenate([rng.integers(0, STEPS - 20, 160) * DT, np.full(6, 5.0), np.full(4, 9.0)])
    idx = np.concatenate([rng.integers(0, 6, 160), np.zeros(6, int), np.full(4, 3)])
    src = sim.SpikeSource(6, times + 0.01, idx, repeats="multiplicity")
    pois = sim.PoissonInput(24, rate=300.0)
    post = sim.LIF(10, v_rest=-60.0, v_th=-55.0, v_reset=-62.0, t_ref=0.5, i_ext=3.0, noise=1.5)
    net.add(src, pois, post)
    net.add_modulator("da", tau=20.0)
    delays = lambda r, n: (np.arange(n) % 4 + 2) * DT  # noqa: E731
    net.add(
        sim.Projection(src, post, "all_to_all", weight=lambda r, n: r.uniform(0.2, 1.5, n), delay=delays, seed=1,
                       plasticity=PairSTDP(eta_plus=0.05, eta_minus=0.06, w_max=2.0, dendritic_fraction=0.5)),
        sim.Projection(src, post, "all_to_all", weight=0.7, delay=0.4, seed=2,
                       plasticity=PairSTDP(eta_plus=0.04, eta_minus=0.05, w_max=2.0, dendritic_fraction=0.5,
                                           delivery="before_update")),
        sim.Projection(src, post, "all_to_all", weight=0.5, delay=0.3, seed=3,
                       plasticity=TripletSTDP.preset("visual_cortex_nearest", w_min=0.0, w_max=2.0)),
        sim.Projection(src, post, "all_to_all", weight=0.6, delay=0.3, seed=4, modulator="da",
                       plasticity=RewardModulatedSTDP(update_interval=2.0, stdp=PairSTDP(dendritic_fraction=0.5, w_max=4.0))),
        sim.Projection(pois, post, "all_to_all", weight=lambda r, n: r.uniform(0.01, 0.9, n), delay=delays, seed=5),
    )
    return net


def _cpu_reference():
    net = repeated_spikes("cpu")
    mons = [net.add(sim.SpikeMonitor(p)) for p in net.populations]
    net.release("da", 1.0)
    net.run(STEPS * DT, progress=False)
    return net, mons


def _job(defines=(), threads=(3, 2), sanitize=True, seed_threads=1):
    net = repeated_spikes("cpu")
    for p in net.populations:
        net.add(sim.SpikeMonitor(p))
    net.release("da", 1.0)
    net._ensure_built()
    s = net._prepare_run()
    meta = dict(tgt_type="int" if s.tgt.size < 2**31 else "long long", threads=threads, sanitize=sanitize, seed_threads=seed_threads,
                defines=list(defines), n_pops=len(net.populations), seed=net.seed, dt=net.dt, t0=net.step, steps=STEPS,
                spk_cap=STEPS * int(s.hist_idx.shape[1]), st_every=int(s.st_every), sm_every=int(s.sm_every), cur_t0=int(s.cur_t0))
    arrays = {k: v for k, v in vars(s).items() if isinstance(v, np.ndarray)}
    return net, {"s": arrays, "meta": meta}


_TSAN: list = []  # (libtsan path, command prefix), found once


def _libtsan() -> tuple[str, list[str]]:
    """The ThreadSanitizer runtime to preload, and a command prefix that lets it start (``setarch -R`` where the kernel's
    address randomisation is too wide for it); skips where there is none that works."""
    if not _TSAN:
        lib = subprocess.run([HostEmulation.compiler(), "-print-file-name=libtsan.so"], capture_output=True, text=True).stdout.strip()
        found = None
        if os.path.isabs(lib) and os.path.exists(lib):
            env = dict(os.environ, LD_PRELOAD=lib)
            for prefix in ([], ["setarch", os.uname().machine, "-R"]):
                if prefix and shutil.which("setarch") is None:
                    continue
                res = subprocess.run(prefix + [sys.executable, "-c", "pass"], capture_output=True, text=True, env=env)
                if res.returncode == 0 and "ThreadSanitizer" not in res.stderr:
                    found = (lib, prefix)
                    break
        _TSAN.append(found)
    if _TSAN[0] is None:
        pytest.skip("no working ThreadSanitizer runtime (libtsan) for this compiler and kernel")
    return _TSAN[0]


def _run_child(job, tmp_path, tsan: tuple[str, list[str]]):
    (tmp_path / "in.pkl").write_bytes(pickle.dumps(job))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", LD_PRELOAD=tsan[0],
               TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_signal_unsafe=0")
    env.pop("NEURO_EMULATE_THREADS", None)
    return subprocess.run(tsan[1] + [sys.executable, str(CHILD), str(tmp_path / "in.pkl"), str(tmp_path / "out.npz")],
                          capture_output=True, text=True, env=env, timeout=600)


def _assert_equals_cpu(got, net, mons):
    s = net._s
    assert int(got["got"]) == STEPS
    for key in ("tgt", "u", "refrac", "syn_w", "elig", "elig_post", "ntr", "hist_n", "hist_step"):
        np.testing.assert_array_equal(got[key], getattr(s, key), err_msg=key)
    for r in range(s.hist_n.shape[0]):  # the spike lists, in order (the rest of a row is stale)
        np.testing.assert_array_equal(got["hist_idx"][r, : s.hist_n[r]], s.hist_idx[r, : s.hist_n[r]], err_msg=f"spike list, row {r}")
    for pop, mon in zip(net.populations, mons):
        mine = (got["spk_idx"] >= pop.start) & (got["spk_idx"] < pop.start + pop.n)
        np.testing.assert_array_equal(got["spk_step"][mine] * net.dt, mon.t, err_msg=pop.name)
        np.testing.assert_array_equal(got["spk_idx"][mine] - pop.start, mon.i, err_msg=pop.name)
    assert int(got["events"]) == net.counts["synaptic_events"]


def test_the_network_exercises_repeated_spikes_and_plasticity():
    net, mons = _cpu_reference()
    steps = np.round(mons[0].t / DT).astype(np.int64)
    assert mons[0].count > np.unique(steps * 6 + mons[0].i).size  # some source neurons spiked several times in a step
    assert mons[2].count > 20  # the targets spike, so both sides of the rules run
    fresh = repeated_spikes("cpu")
    fresh._ensure_built()
    assert not np.array_equal(fresh._s.syn_w, net._s.syn_w) and np.any(net._s.elig != 0)


@pytest.mark.parametrize("threads", [(4, 2), (2, 3)])
def test_threaded_emulation_equals_cpu_in_process(threads):
    """Real threads, random start order and yields, no sanitizer (fast): the same bits as the CPU loop."""
    net, mons = _cpu_reference()
    _, job = _job(threads=threads, sanitize=False)
    s = types.SimpleNamespace(**job["s"])
    m = job["meta"]
    for seed in (1, 2):
        s2 = types.SimpleNamespace(**{k: v.copy() for k, v in vars(s).items()})
        eng = GPUEngine(s2, m["n_pops"], m["seed"], m["dt"], HostEmulation(m["tgt_type"], threads=threads, seed=seed, yield_permille=100))
        eng.upload(s2)
        got, spk_step, spk_idx, _, _, _, events = eng.run_chunk(m["t0"], STEPS, STEPS, m["spk_cap"], m["st_every"], m["sm_every"], m["cur_t0"])
        eng.download(s2)
        out = {k: getattr(s2, k) for k in ("tgt", "u", "refrac", "syn_w", "elig", "elig_post", "ntr", "hist_n", "hist_step", "hist_idx")}
        _assert_equals_cpu(dict(out, got=got, spk_step=spk_step, spk_idx=spk_idx, events=events), net, mons)


def test_no_data_race_under_thread_sanitizer(tmp_path):
    """The kernels under ThreadSanitizer, 6 threads per launch: no race reported, and the CPU loop's bits."""
    tsan = _libtsan()
    net, mons = _cpu_reference()
    _, job = _job()
    res = _run_child(job, tmp_path, tsan)
    assert res.returncode == 0 and "ThreadSanitizer" not in res.stderr, res.stderr[-6000:]
    _assert_equals_cpu(np.load(tmp_path / "out.npz"), net, mons)


def test_thread_sanitizer_catches_the_repeated_spike_race(tmp_path):
    """The old kernel (each copy of a repeated neuron by its own block) put back: the race on the synapses is reported."""
    tsan = _libtsan()
    _, job = _job(defines=("-DNEURO_TEST_RACE_REPEATED_SPIKES",))
    res = _run_child(job, tmp_path, tsan)
    assert res.returncode == 66, (res.returncode, res.stderr[-4000:])
    assert "WARNING: ThreadSanitizer: data race" in res.stderr
    assert "plastic_events" in res.stderr, res.stderr[-4000:]


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_threaded_kernels_build_without_the_sanitizer_runtime():
    """The threaded build needs no sanitizer: loadable in this process (what NEURO_EMULATE_THREADS=BxL uses)."""
    dev = HostEmulation(threads=(2, 2))
    dev.use(("-DEV_T=int", "-DFK_T=short"))
    assert all(hasattr(mod, "deliver_sum__threads") or hasattr(mod, "write_spikes__threads") for mod in dev._mods.values())
