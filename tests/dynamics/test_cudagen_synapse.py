"""The CUDA kernels generated from plasticity rules (neuro.dynamics.cudagen_synapse) against the CPU loop's Numba
functions (neuro.dynamics.syncodegen).

Through the host emulation (``backend="emulate"``: the generated source compiled as C++ for this CPU) the events, the
clock-driven equations and the periodic code compute the CPU's operations in its order, so spikes, weights and every
rule variable are compared bit for bit, with no tolerance: pair and triplet STDP written as definitions (both delivery
orders, delays split into axonal and dendritic parts), a clock-driven filter of the postsynaptic voltage, a periodic
three-factor rule reading a modulator, Clopath et al.'s voltage-based rule in the pairing protocol, and a source that
spikes several times per step (``repeats="multiplicity"``). A sentinel counts the generated kernels' launches, so a run
that never reached them cannot pass. Where nvcc is installed every generated source compiles for sm_90 without a
fused multiply-add; on a GPU (``@pytest.mark.gpu``) the rules without libm calls equal the CPU loop bit for bit.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from neuro import sim
from neuro.dynamics import NeuronModel, SynapseModel, cudagen_synapse
from neuro.dynamics.library import clopath_neuron, clopath_rule
from neuro.paths import kernel_dir
from neuro.sim import engine_gpu

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_synapse_models import pair_rule  # noqa: E402

needs_cxx = pytest.mark.skipif(engine_gpu.HostEmulation.compiler() is None, reason="the emulation needs a C++ compiler")

TRIPLET = SynapseModel("""
    dr1/dt = -r1 / tau_plus : 1 (event-driven)
    dr2/dt = -r2 / tau_x : 1 (event-driven)
    do1/dt = -o1 / tau_minus : 1 (event-driven)
    do2/dt = -o2 / tau_y : 1 (event-driven)
    tau_plus : second (constant)
    tau_minus : second (constant)
    tau_x : second (constant)
    tau_y : second (constant)
    a2_plus : 1 (constant)
    a3_plus : 1 (constant)
    a2_minus : 1 (constant)
    a3_minus : 1 (constant)
    wmax : 1 (constant)
""", on_pre="w = clip(w - o1 * (a2_minus + a3_minus * r2), 0, wmax); r1 += 1; r2 += 1",
    on_post="w = clip(w + r1 * (a2_plus + a3_plus * o2), 0, wmax); o1 += 1; o2 += 1",
    defaults=dict(tau_plus=16.8, tau_minus=33.7, tau_x=101.0, tau_y=125.0, a2_plus=5e-3, a3_plus=6.2e-3, a2_minus=7e-3,
                  a3_minus=2.3e-4, wmax=20.0), name="triplet")

# a filtered postsynaptic voltage per synapse (clock-driven, exponential Euler: fm_exp) read by the presynaptic event
FILTER = SynapseModel("""
    dx/dt = (v_post - x) / tau_x : volt (clock-driven)
    tau_x : second (constant)
""", on_pre="w = w + 0.01 * (x - v_post) / mV", defaults={"tau_x": 7.0}, name="v_filter")

# eligibility c gathers pre-before-post pairings; every 2 ms w += eta c dopamine (per-synapse eta: an array, no literal)
THREE_FACTOR = SynapseModel("""
    dc/dt = -c / tau_c : 1 (event-driven)
    dapre/dt = -apre / (10*ms) : 1 (event-driven)
    tau_c : second (constant)
    eta : 1 (constant)
    count : 1
""", on_pre="apre += 1; c -= 0.3 * c", on_post="c += apre; count += 1",
    periodic={"every": 2.0, "code": "w = clip(w + eta * c * dopamine, 0, 10); c *= 0.9"}, modulators=("dopamine",),
    defaults={"tau_c": 50.0, "eta": 0.5}, name="three_factor")

EIF_LIKE = "dv/dt = (E - v) / tau : volt\nE : volt (constant)\ntau : second (constant)"


def _counting(monkeypatch) -> dict:
    """Counts the launches of the generated rule kernels (by kind: events, clock, periodic)."""
    launches: dict[str, int] = {}
    launch = engine_gpu.HostEmulation.launch

    def counting(self, src, name, grid, block, args):
        if name.startswith("synapse_model_"):
            kind = name.rsplit("_", 1)[1]
            launches[kind] = launches.get(kind, 0) + 1
        return launch(self, src, name, grid, block, args)

    monkeypatch.setattr(engine_gpu.HostEmulation, "launch", counting)
    return launches


def _outputs(net, projs, mons) -> dict:
    out = {}
    for k, m in mons.items():
        if isinstance(m, sim.SpikeMonitor):
            out[k + ".t"], out[k + ".i"] = m.t, m.i
        else:
            out[k + ".t"], out[k] = m.t, m.values
    for p in projs:
        out[p.name + ".w"] = p.weights
        for var in p.plasticity.model.states:
            out[f"{p.name}.{var}"] = p.variable(var)
    st = net.state()
    for k in ("v", "x1", "x2", "syn_state", "modulator", "period_next"):
        if k in st:
            out["state." + k] = st[k]
    return out


def _assert_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)


def _compare(build, duration: float, chunks: int = 2, **kw):
    """``build(backend, **kw) -> (net, projections, monitors)`` run on the CPU loop (one run) and on the emulated GPU
    (``chunks`` runs: uploads and downloads between them); returns both outputs after asserting them equal."""
    net, projs, mons = build("cpu", **kw)
    net.run(duration, progress=False)
    cpu = _outputs(net, projs, mons)
    net, projs, mons = build("emulate", **kw)
    for _ in range(chunks):
        net.run(duration / chunks, progress=False)
    gpu = _outputs(net, projs, mons)
    _assert_equal(cpu, gpu)
    return cpu, gpu


def poisson_network(backend, rule, delay=lambda r, n: r.integers(1, 30, n) * 0.1, seed=5):
    """60 Poisson sources onto 6 LIF neurons through a plastic projection (heterogeneous delays), and a second
    projection of the same rule with its own parameter values (a second generated module, or the same one)."""
    net = sim.Network(dt=0.1, seed=seed, backend=backend)
    inp = sim.PoissonInput(60, rate=40.0)
    out = sim.LIF(6)
    proj = sim.Projection(inp, out, connect=sim.FixedProbability(0.5), weight=lambda r, n: r.uniform(3.0, 8.0, n), delay=delay,
                          plasticity=rule, name="a")
    net.add(inp, out, proj)
    return net, [proj], {"out": net.add(sim.SpikeMonitor(out)), "inp": net.add(sim.SpikeMonitor(inp))}


# ---------------------------------------------------------------------------------------------- in a network
@needs_cxx
@pytest.mark.parametrize("delivery", ["after_update", "before_update"])
@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_pair_stdp_definition_on_the_emulated_gpu_equals_the_cpu_loop(delivery, fraction, monkeypatch):
    """Pair STDP as a definition (event-driven traces decayed by libm's exp from lastupdate), both delivery orders,
    delays split both ways: spikes, weights, apre / apost, lastupdate bit for bit; the events ran in generated kernels."""
    launches = _counting(monkeypatch)
    rule = pair_rule(delivery=delivery, dendritic_fraction=fraction)(wmax=20.0)
    cpu, _ = _compare(poisson_network, 200.0, rule=rule)
    assert cpu["out.i"].size > 20 and np.abs(cpu["a.w"] - poisson_network("cpu", rule)[1][0]._w).max() > 0.01
    assert launches.get("events", 0) > 0 and "clock" not in launches and "periodic" not in launches


@needs_cxx
def test_triplet_stdp_definition_on_the_emulated_gpu_equals_the_cpu_loop(monkeypatch):
    launches = _counting(monkeypatch)
    cpu, _ = _compare(poisson_network, 200.0, rule=TRIPLET, delay=1.0)
    assert cpu["out.i"].size > 20 and cpu["a.o2"].max() > 0
    assert launches["events"] > 0


def filter_network(backend):
    """The clock-driven rule reading v_post of a user-defined neuron, its new weight delivered onto v; and the same rule
    with per-synapse tau_x on a projection into built-in LIF neurons (v_post: the LIF's v)."""
    net = sim.Network(dt=0.1, backend=backend)
    firing = NeuronModel(EIF_LIKE, threshold="v > -50*mV", reset="v = -65*mV")
    neuron = NeuronModel(EIF_LIKE, inputs={"v": "v"})
    rng = np.random.default_rng(3)
    pre = sim.Population(4, firing, E=np.array([-45.0, -40.0, -44.0, -48.0]), tau=10.0, v=-65.0)
    post = sim.Population(3, neuron, E=rng.uniform(-70, -40, 3), tau=10.0, v=-65.0)
    lif = sim.LIF(5, refractory_input=True)  # (a rule reading v of a LIF needs its v kept through the refractory period)
    p1 = sim.Projection(pre, post, weight=0.0, receptor="v", plasticity=FILTER(x=-65.0), name="to_model")
    p2 = sim.Projection(pre, lif, weight=6.0, receptor="v", delay=0.4, plasticity=FILTER(x=-60.0, tau_x=np.linspace(3.0, 9.0, 20)),
                        name="to_lif")
    net.add(pre, post, lif, p1, p2)
    mons = {"pre": net.add(sim.SpikeMonitor(pre)), "lif": net.add(sim.SpikeMonitor(lif)),
            "x": net.add(sim.SynapseMonitor(p1, "x", synapses=[0, 5], every=1.0))}
    return net, [p1, p2], mons


@needs_cxx
def test_clock_driven_rule_reading_v_post_on_the_emulated_gpu_equals_the_cpu_loop(monkeypatch):
    launches = _counting(monkeypatch)
    cpu, _ = _compare(filter_network, 100.0)
    assert cpu["pre.i"].size > 5 and cpu["lif.i"].size > 0 and cpu["to_model.x"].std() > 0.1
    assert np.abs(cpu["x"]).max() > 0 and np.abs(cpu["to_lif.w"] - 6.0).max() > 0.01
    assert launches["clock"] > 0 and launches["events"] > 0


def three_factor_network(backend):
    """Poisson sources onto LIF neurons with the periodic three-factor rule; dopamine released by a reward callback."""
    net = sim.Network(dt=0.1, seed=4, backend=backend)  # seed 7 drew 16 output spikes once FixedProbability drew per block of targets
    net.add_modulator("dopamine", tau=20.0, initial=0.0)
    inp = sim.PoissonInput(40, rate=50.0)
    out = sim.LIF(5)
    proj = sim.Projection(inp, out, connect=sim.FixedProbability(0.6), weight=lambda r, n: r.uniform(4.0, 9.0, n), delay=0.5,
                          plasticity=THREE_FACTOR(eta=lambda r, n: r.uniform(0.2, 0.8, n)), name="tf")
    net.add(inp, out, proj)
    mons = {"out": net.add(sim.SpikeMonitor(out)), "c": net.add(sim.SynapseMonitor(proj, "c", synapses=[0, 3, 7], every=0.5)),
            "da": net.add(sim.ModulatorMonitor("dopamine", every=1.0))}
    return net, [proj], mons


def _reward(net):
    net.release("dopamine", 0.5 + 0.1 * (len(net.monitors[0].i) % 3))


@needs_cxx
def test_periodic_three_factor_rule_on_the_emulated_gpu_equals_the_cpu_loop(monkeypatch):
    """Periodic code every 2 ms (event-driven c brought up to date first), a modulator released every 5 ms by a
    callback (uploads between chunks), per-synapse eta, a sampled rule variable: bit for bit."""
    launches = _counting(monkeypatch)
    res = []
    for backend in ("cpu", "emulate"):
        net, projs, mons = three_factor_network(backend)
        net.run(60.0, progress=False, reward=_reward, reward_interval=5.0)
        res.append(_outputs(net, projs, mons))
    _assert_equal(*res)
    cpu = res[0]
    assert cpu["out.i"].size > 20 and np.abs(cpu["c"]).max() > 0 and cpu["tf.count"].max() > 0
    assert np.abs(cpu["tf.w"] - three_factor_network("cpu")[1][0]._w).max() > 0.01
    assert launches["periodic"] > 0 and launches["events"] > 0


def clopath_pairing(backend, rate: float, reps: int = 3, dt: float = 0.1):
    net = sim.Network(dt=dt, backend=backend)
    nrn = sim.Population(2, clopath_neuron())
    proj = sim.Projection(nrn, nrn, connect=(np.array([0, 1]), np.array([1, 0])), weight=0.25, plasticity=clopath_rule(), name="cl")
    net.add(nrn, proj)
    mon = net.add(sim.SpikeMonitor(nrn))
    gap = round((1000.0 / rate - 10.0) / dt) * dt
    for _ in range(reps):
        nrn.v[0] = -49.0
        net.run(10.0, progress=False)
        nrn.v[1] = -49.0
        net.run(gap, progress=False)
    return _outputs(net, [proj], {"nrn": mon})


@needs_cxx
@pytest.mark.parametrize("rate", [10.0, 50.0])
def test_clopath_pairing_on_the_emulated_gpu_equals_the_cpu_loop(rate, monkeypatch):
    """Clopath et al. (2010): depression at pre spikes reading the post neuron's low-pass filter, potentiation at post
    spikes reading the presynaptic trace, delivered before the update; v set between runs (uploads)."""
    launches = _counting(monkeypatch)
    cpu, gpu = clopath_pairing("cpu", rate), clopath_pairing("emulate", rate)
    _assert_equal(cpu, gpu)
    assert cpu["nrn.i"].size >= 6 and np.abs(cpu["cl.w"] - 0.25).max() > 1e-3
    assert launches["events"] > 0


def multiplicity_network(backend, delivery):
    """A source neuron spiking up to 3 times in one step (repeats="multiplicity") onto LIF neurons, pair STDP with
    its traces and weights changed once per copy, in order."""
    rng = np.random.default_rng(9)
    steps = np.sort(rng.integers(5, 500, 80))
    idx = rng.integers(0, 4, 80)
    steps = np.concatenate([steps, steps[:30], steps[:10]])  # 30 double and 10 triple spikes of one neuron per step
    idx = np.concatenate([idx, idx[:30], idx[:10]])
    net = sim.Network(dt=0.1, backend=backend)
    src = sim.SpikeSource(4, times=steps * 0.1 + 0.05, indices=idx, repeats="multiplicity")
    out = sim.LIF(3)
    proj = sim.Projection(src, out, weight=lambda r, n: r.uniform(6.0, 12.0, n), delay=lambda r, n: r.integers(1, 8, n) * 0.1,
                          plasticity=pair_rule(delivery=delivery)(wmax=30.0, Apre=0.3, Apost=-0.35), name="m")
    net.add(src, out, proj)
    return net, [proj], {"out": net.add(sim.SpikeMonitor(out)), "src": net.add(sim.SpikeMonitor(src))}


@needs_cxx
@pytest.mark.parametrize("delivery", ["after_update", "before_update"])
def test_repeated_spikes_of_a_source_apply_their_events_in_order(delivery, monkeypatch):
    """One block takes all copies of a neuron listed several times in a step, applying their events to each synapse one
    after another: the CPU loop's weights (after_update: the deliveries of the final weight; before_update: of the
    weight found), on 3 blocks x 4 lanes of OS threads started in a random order."""
    monkeypatch.setenv("NEURO_EMULATE_THREADS", "3x4")
    cpu, _ = _compare(multiplicity_network, 50.0, delivery=delivery)
    assert cpu["out.i"].size > 10 and np.unique(cpu["src.t"], return_counts=True)[1].max() >= 3


@needs_cxx
def test_two_parameter_sets_and_a_rebuild_on_the_emulated_gpu(tmp_path):
    """Two projections of one rule (one with literal parameters, one per-synapse: two generated modules), a state saved
    on the CPU loop continued on the emulated GPU, then a rebuild: the CPU loop's bits throughout."""
    def build(backend):
        net, projs, mons = poisson_network(backend, pair_rule()(wmax=15.0), delay=0.3)
        inp, out = projs[0].pre, projs[0].post
        extra = sim.Projection(inp, out, connect=sim.FixedProbability(0.3), weight=2.0, delay=0.8, name="b",
                               plasticity=pair_rule(delivery="before_update")(wmax=12.0, Apre=lambda r, n: r.uniform(0.005, 0.02, n)))
        net.add(extra)
        return net, projs + [extra], mons

    net, _, _ = build("cpu")
    net.run(50.0, progress=False)
    path = net.save(tmp_path / "state.npz")
    res = []
    for backend in ("cpu", "emulate"):
        net, projs, mons = build(backend)
        net.restore(path)
        net.run(50.0, progress=False)
        net.add(sim.SynapseMonitor(projs[1], "apre", synapses=[0, 1], every=1.0))  # a rebuild
        net.run(50.0, progress=False)
        res.append(_outputs(net, projs, mons))
    _assert_equal(*res)
    assert np.abs(res[0]["b.w"] - 2.0).max() > 1e-3


# ---------------------------------------------------------------------------------------------- the generated source
def test_source_is_cached_by_key_and_readable(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_CACHE", str(tmp_path))
    rule = clopath_rule()
    path = cudagen_synapse.write(rule)
    assert path == tmp_path / "cuda_models" / f"synapse_model_{rule.key}.cu"
    text = path.read_text()
    assert "${" not in text and "on_pre: w = clip(w - g_max * A_LTD" in text and "delivery: before_update" in text
    stamp = path.stat().st_mtime_ns
    assert cudagen_synapse.write(clopath_rule()) == path and path.stat().st_mtime_ns == stamp
    other = cudagen_synapse.write(rule, {"g_max": 0.5})
    assert other != path and "(0.5)" in other.read_text() and "p_g_max" not in other.read_text()
    events, clock, periodic = cudagen_synapse.kernel_names(rule)
    assert all(f"void {k}(" in text for k in (events, clock, periodic))
    # exp as the CPU has it: libm's in the events (math.exp), fm_exp in the clock-driven equations (exp64)
    pair = cudagen_synapse.kernel_source(pair_rule())
    assert "* exp((-1/p_taupre[k]) * el)" in pair and "fm_exp(" not in pair
    assert "fm_exp(" in cudagen_synapse.kernel_source(FILTER)


NVCC = shutil.which("nvcc")
RULES = {"pair": (pair_rule(), {}), "pair_literals": (pair_rule(), dict(taupre=20.0, taupost=20.0, Apre=0.01, Apost=-0.0105, wmax=1.0)),
         "triplet": (TRIPLET, {}), "filter": (FILTER, {"tau_x": 7.0}), "three_factor": (THREE_FACTOR, {"tau_c": 50.0}),
         "clopath": (clopath_rule(), {})}


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
def test_generated_sources_compile_with_nvcc_for_sm90_without_fma(tmp_path):
    """Every generated rule source compiles for a Hopper GPU with the engine's options (and the engine's own kernels with
    the PL_GENERIC changes); its three kernels are in the PTX, with no fused multiply-add outside CUDA's exp."""
    def ptx(src: Path, out: Path):
        cmd = [NVCC, "-arch=sm_90", "-ptx", "--std=c++17", "--fmad=false", "-DTGT_T=int", "-DEV_T=int", f"-I{kernel_dir()}", "-o",
               str(out), str(src)]
        return subprocess.run(cmd, capture_output=True, text=True)

    jobs = {name: (cudagen_synapse.write(model, constants), tmp_path / f"{name}.ptx") for name, (model, constants) in RULES.items()}
    jobs["sim_synapses"] = (kernel_dir() / "sim_synapses.cu", tmp_path / "sim_synapses.ptx")
    with ThreadPoolExecutor(max_workers=2) as pool:  # (two at a time: the CI machine has two cores)
        results = {name: pool.submit(ptx, *job) for name, job in jobs.items()}
        results = {name: job.result() for name, job in results.items()}
    for name, res in results.items():
        assert res.returncode == 0, f"{name}: {res.stderr[-2000:]}"
    for name, (model, constants) in RULES.items():
        ptx = jobs[name][1].read_text()
        for k in cudagen_synapse.kernel_names(model, constants):
            assert f".entry {k}(" in ptx, (name, k)
        if name in ("filter", "clopath"):  # no libm call: no fma anywhere (CUDA's exp uses fma inside)
            assert not re.search(r"\bfma\.", ptx), f"{name}: the PTX fuses a multiply-add"


# ---------------------------------------------------------------------------------------------- on a GPU
@pytest.mark.gpu
def test_rules_on_a_gpu_equal_the_cpu_loop():
    """On a GPU: Clopath's rule and the clock-driven filter call no libm function (fm_exp, + - * /, NVRTC
    --fmad=false), so they equal the CPU loop bit for bit; pair STDP's event-driven decay calls CUDA's exp, which may
    round an ulp away from glibc's: its spikes are equal and its weights within 1e-12 over 200 ms."""
    _assert_equal(clopath_pairing("cpu", 50.0), clopath_pairing("cuda", 50.0))
    net, projs, mons = filter_network("cpu")
    net.run(100.0, progress=False)
    cpu = _outputs(net, projs, mons)
    net, projs, mons = filter_network("cuda")
    net.run(100.0, progress=False)
    _assert_equal(cpu, _outputs(net, projs, mons))
    rule = pair_rule(dendritic_fraction=0.5)(wmax=20.0)
    a, b = poisson_network("cpu", rule), poisson_network("cuda", rule)
    for net, _, _ in (a, b):
        net.run(200.0, progress=False)
    np.testing.assert_array_equal(a[2]["out"].i, b[2]["out"].i)
    np.testing.assert_array_equal(a[2]["out"].t, b[2]["out"].t)
    np.testing.assert_allclose(b[1][0].weights, a[1][0].weights, rtol=0, atol=1e-12)


def test_cuda_device_loads_the_three_kernels_of_a_rule_module(monkeypatch):
    """CudaDevice (CuPy replaced by the tests' fake): a rule's generated source is compiled once with the engine's options
    and its events, clock and periodic kernels are fetched by name for launch(module, kernel, ...)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ops"))
    from fake_cupy import FakeCupy

    from neuro import kernel_loader

    fake = FakeCupy(capabilities=("90",))

    class Stream:
        def __init__(self, non_blocking=False):
            self.ptr = 1000

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    fake.cuda.Stream = Stream
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(kernel_loader, "_import_cupy", lambda: fake)
    monkeypatch.setattr(engine_gpu.CudaDevice, "_generated", {})
    kernel_loader.clear_cache()
    try:
        dev = engine_gpu.CudaDevice()
        dev.use(("-DEV_T=int", "-DFK_T=short"))
        rule = clopath_rule()
        name, kernels = cudagen_synapse.module_name(rule), cudagen_synapse.kernel_names(rule)
        for _ in range(2):
            dev.load_generated(name, cudagen_synapse.write(rule), kernels)
    finally:
        kernel_loader.clear_cache()
    ours = [c for c in fake.calls("compile") if "-DEV_T=int" in c[1]]
    assert len(ours) == len(engine_gpu._SOURCES) + 1 and "--fmad=false" in ours[-1][1]
    assert all((name, k) in dev._fns for k in kernels) and all(("get_function", k, 0) in fake.log for k in kernels)


def test_rules_writing_neuron_variables_are_refused_on_the_gpu():
    """Several synapses' events would write one neuron's variable in an order the kernels do not keep: no CUDA is
    generated for such a rule, and a network with one on backend="emulate" is refused when built."""
    neuron = NeuronModel("dv/dt = (E - v) / (10*ms) : volt\ndtheta/dt = (-50*mV - theta) / (500*ms) : volt\nE : volt (constant)",
                         threshold="v > theta", reset="v = -65*mV", inputs={"v": "v"})
    rule = SynapseModel("c : 1", on_post="theta_post += 0.5*mV; c += 1", name="homeostatic")
    with pytest.raises(NotImplementedError, match=r"homeostatic writes neuron variables \(\['theta_post'\]\)"):
        cudagen_synapse.kernel_source(rule)
    net = sim.Network(dt=0.1, backend="emulate")
    src, pop = sim.SpikeSource(1, times=[1.0], indices=[0]), sim.Population(2, neuron, E=-40.0, v=-65.0, theta=-50.0)
    net.add(src, pop, sim.Projection(src, pop, weight=0.0, receptor="v", plasticity=rule))
    with pytest.raises(NotImplementedError, match="CPU loop only"):
        net.run(1.0, progress=False)
