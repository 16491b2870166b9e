"""The CUDA kernels generated from model definitions (neuro.dynamics.cudagen) against the CPU loop's Numba kernels.

Run through the host emulation (the generated source compiled as C++ for this CPU, neuro.sim.engine_gpu.HostEmulation),
the generated kernel and the Numba kernel compute the same operations in the same order, so every state, counter and
spike flag is compared bit for bit, with no tolerance: EIF, AdEx, Hodgkin-Huxley, a noisy model (Euler-Maruyama with
the counter-based normals), a linear model integrated exactly, an RK4 model and a model calling every supported
function. In a network (``backend="emulate"``) the spike trains, the recorded variables and the final state equal the
CPU loop's. On a real GPU (``@pytest.mark.gpu``) the library models compare bit for bit too: they use only
``+ - * /``, ``sqrt``, integer powers and ``exp`` (``fm_exp``, the CPU's ``exp64`` bits), no libm call that CUDA
could round differently. Where nvcc is installed, every generated source compiles for sm_90 without a fused
multiply-add.
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
from neuro.dynamics import NeuronModel, codegen, cudagen, library
from neuro.paths import kernel_dir
from neuro.sim import engine_gpu

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ops"))
from fake_cupy import FakeCupy  # noqa: E402
from test_generated import MODELS, OU, _arrays  # noqa: E402

needs_cxx = pytest.mark.skipif(engine_gpu.HostEmulation.compiler() is None, reason="the emulation needs a C++ compiler")

# every function a definition may call, integer powers of both signs, a rational and a float power, min / max (clip)
FUNCTIONS = NeuronModel("""
dv/dt = (f1 + f2 + f3 + f4 + I) / tau : volt
dw/dt = (a * v - w) / tau_w : volt
f1 = clip(-v, -20 * mV, 20 * mV) + abs(w) * sign(v) - v**3 / (50 * mV**2) + sqrt(abs(w) * mV) + log(1 + w**2 / mV**2) * mV : volt
f2 = sin(v / mV) * mV + cos(w / mV) * mV + tanh(v / (3 * mV)) * mV - tan(w / (4 * mV)) * mV / 10 : volt
f3 = (sinh(w / (5 * mV)) - cosh(w / (5 * mV))) * mV + (floor(v / mV) - ceil(w / mV)) * mV / 100 + mV**3 / (v**2 + mV**2) : volt
f4 = (w**2 + mV**2)**(1/3) * mV**(1/3) / 10 + abs(v)**1.5 / mV**0.5 / 100 + exp(-v**2 / mV**2) * mV : volt
I : volt
a : 1
tau : second
tau_w : second
""", threshold="(v > 6 * mV) and (w < 10 * mV)", reset="v = -3 * mV; w += 0.5 * mV", method="euler", name="functions")

KERNEL_MODELS = {
    "eif": (library.eif(), dict(I=700.0, t_ref=1.0)),
    "adex": (library.adex(), dict(I=3000.0)),
    "hodgkin_huxley": (library.hodgkin_huxley(), {}),
    "ou_noise": (OU, dict(mu=0.5, tau=10.0, sigma=1.0)),
    "lif_exact": MODELS["lif_exact"],
    "fhn_rk4": MODELS["fhn_rk4"],
    "functions": (FUNCTIONS, dict(I=4.0, a=0.3, tau=5.0, tau_w=20.0)),
}


@pytest.fixture(scope="module")
def emulation():
    return engine_gpu.HostEmulation()


def _launch(dev, name, t, lo, n, dt, seed, table):
    ctl = np.zeros(8, np.int64)
    ctl[0] = t
    dev.launch(name, name, 1, 256, (ctl, np.int64(lo), np.int64(n), np.float64(dt), np.uint64(seed), table, np.int64(0)))


@needs_cxx
@pytest.mark.parametrize("name", list(KERNEL_MODELS))
def test_generated_cuda_equals_numba_kernel_bit_for_bit(name, emulation):
    """600 steps of 48 neurons from random states (some refractory), each kernel running on its own: every array of
    the layout equal bit for bit after every step, and the neurons spike."""
    model, params = KERNEL_MODELS[name]
    rng = np.random.default_rng(1)
    dt, n, lo, seed = 0.05, 48, 5, 17
    cpu = _arrays(model, n, params, rng, dt)
    cpu["_refrac"][::7] = 3
    gpu = {k: v.copy() for k, v in cpu.items()}
    names = codegen.layout(model)
    kernel = codegen.load(model).kernel
    emulation.load_generated(cudagen.kernel_name(model), cudagen.write(model))
    t_cpu = np.array([cpu[k].ctypes.data for k in names], dtype=np.uint64)
    t_gpu = np.array([gpu[k].ctypes.data for k in names], dtype=np.uint64)
    spikes = 0
    for t in range(600):
        kernel.ctypes(t, lo, n, dt, seed, t_cpu.ctypes.data)
        _launch(emulation, cudagen.kernel_name(model), t, lo, n, dt, seed, t_gpu)
        spikes += int(cpu["_fired"].sum())
        for k in names:  # the bits (a state that diverged is NaN on both, the same NaN)
            assert np.array_equal(cpu[k].view(np.uint8), gpu[k].view(np.uint8)), f"{name}: {k} differs after step {t}"
    assert spikes > 0 and np.isfinite(cpu["v"]).sum() >= n // 2


@needs_cxx
def test_parameters_written_in_as_literals_as_on_the_cpu(emulation):
    """A population's uniform parameters become literals of its kernel, as of the CPU loop's (Network._layout_models):
    the two specialised kernels give the same bits. (Literals may reorder a sum's terms, sympy ordering by name, so
    the specialised kernels need not equal the general ones: the engine specialises to the CPU loop's set.)"""
    model = library.eif()
    rng = np.random.default_rng(2)
    dt, n, lo, seed = 0.1, 32, 0, 3
    cpu = _arrays(model, n, dict(I=np.linspace(500.0, 900.0, n), t_ref=2.0), rng, dt)
    constants = {k: float(cpu[k][0]) for k in ("C", "g_L", "E_L", "V_T", "Delta_T", "V_r", "V_cut", "t_ref", "_ref_steps")}
    src = cudagen.kernel_source(model, constants)
    assert "(281.0)" in src and "p_C" not in src and "p_I" in src
    gpu = {k: v.copy() for k, v in cpu.items()}
    name = cudagen.kernel_name(model, constants)
    emulation.load_generated(name, cudagen.write(model, constants))
    kernel = codegen.load(model, constants).kernel
    names = codegen.layout(model)
    t_cpu = np.array([cpu[k].ctypes.data for k in names], dtype=np.uint64)
    t_gpu = np.array([gpu[k].ctypes.data for k in names], dtype=np.uint64)
    spikes = 0
    for t in range(400):
        kernel.ctypes(t, lo, n, dt, seed, t_cpu.ctypes.data)
        _launch(emulation, name, t, lo, n, dt, seed, t_gpu)
        spikes += int(cpu["_fired"].sum())
        for k in names:
            assert np.array_equal(cpu[k], gpu[k]), f"{k} differs after step {t}"
    assert spikes > 0


def test_source_is_cached_by_key_and_rewritten_only_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_CACHE", str(tmp_path))
    model = library.adex()
    path = cudagen.write(model)
    assert path == tmp_path / "cuda_models" / f"neuron_model_{model.key}.cu"
    assert path.read_text() == cudagen.kernel_source(model)
    stamp = path.stat().st_mtime_ns
    assert cudagen.write(library.adex()) == path and path.stat().st_mtime_ns == stamp
    other = cudagen.write(model, {"C": 281.0})
    assert other != path and other.name.startswith(f"neuron_model_{model.key}_")
    path.write_text("stale")
    cudagen.write(model)
    assert path.read_text() == cudagen.kernel_source(model)
    text = path.read_text()  # readable: the definition and the template's comments are in it
    assert "dw/dt = (a * (v - E_L) - w) / tau_w : amp" in text and "threshold: v > V_cut" in text
    assert "${" not in text  # every slot of the template filled


# ---------------------------------------------------------------------------------------------- in a network
def network(backend, seed=4):
    """EIF (refractory, synapses onto v, per-neuron currents), AdEx (w reset), Hodgkin-Huxley (exc / inh conductances,
    random initial v) and the noisy OU model, Poisson-driven and connected; spikes and variables recorded."""
    net = sim.Network(dt=0.1, seed=seed, backend=backend)
    pois = sim.PoissonInput(40, rate=60.0)
    eif = sim.Population(30, library.eif(), I=np.linspace(0.0, 900.0, 30), t_ref=2.0)
    adex = sim.Population(20, library.adex(), I=np.linspace(0.0, 1200.0, 20))
    hh = sim.Population(20, library.hodgkin_huxley(), v=lambda r, n: -60.0 + 10.0 * r.random(n))
    ou = sim.Population(25, OU, mu=0.5, tau=10.0, sigma=np.linspace(0.5, 1.5, 25))
    net.add(pois, eif, adex, hh, ou)
    net.add(sim.Projection(pois, eif, sim.FixedProbability(0.3), weight=4.0, receptor="v", delay=0.5, seed=1),
            sim.Projection(pois, adex, sim.FixedProbability(0.3), weight=3.0, receptor="v", delay=0.3, seed=2),
            sim.Projection(pois, hh, sim.FixedProbability(0.3), weight=6.0, receptor="exc", delay=0.3, seed=3),
            sim.Projection(eif, hh, sim.FixedProbability(0.3), weight=20.0, receptor="inh", delay=1.0, seed=4),
            sim.Projection(hh, adex, sim.FixedProbability(0.3), weight=-2.0, receptor="v", delay=0.7, seed=5))
    mons = {k: net.add(sim.SpikeMonitor(p)) for k, p in (("eif", eif), ("adex", adex), ("hh", hh), ("ou", ou))}
    mons.update(w=net.add(sim.StateMonitor(adex, "w", [0, 19])), g_e=net.add(sim.StateMonitor(hh, "g_e", [0, 3])),
                m=net.add(sim.StateMonitor(hh, "m", [1], every=0.5)), v_eif=net.add(sim.StateMonitor(eif, "v", [0, 29])),
                v_ou=net.add(sim.StateMonitor(ou, "v", [0, 24])))
    return net, mons, (eif, adex, hh, ou)


def _outputs(net, mons, pops):
    out = {}
    for k, m in mons.items():
        if isinstance(m, sim.SpikeMonitor):
            out[k + ".t"], out[k + ".i"] = m.t, m.i
        else:
            out[k + ".t"], out[k] = m.t, m.values
    for pop in pops:
        for var in pop.definition.states:
            out[f"{pop.definition.name}.{var}"] = np.array(getattr(pop, var))
    st = net.state()
    for k in ("v", "x1", "x2", "refrac", "gen_state", "hist_n", "hist_step"):
        out["state." + k] = st[k]
    return out


def _run(backend, duration=60.0, chunks=1):
    net, mons, pops = network(backend)
    for _ in range(chunks):
        net.run(duration / chunks)
    return _outputs(net, mons, pops)


def _assert_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)


@needs_cxx
def test_network_of_user_models_on_the_emulated_gpu_equals_the_cpu_loop(monkeypatch):
    """Spike trains (in order), recorded variables and the final state of every model equal the CPU loop's bit for bit;
    the generated kernels ran (one launch per population and step) and each model spiked."""
    launches = {}
    launch = engine_gpu.HostEmulation.launch

    def counting(self, src, name, grid, block, args):
        if name.startswith("neuron_model_"):
            launches[name] = launches.get(name, 0) + 1
        return launch(self, src, name, grid, block, args)

    cpu = _run("cpu")
    monkeypatch.setattr(engine_gpu.HostEmulation, "launch", counting)
    gpu = _run("emulate", chunks=2)
    for k in ("eif", "adex", "hh", "ou"):
        assert cpu[k + ".t"].size > 5, k
    # 300 steps per chunk, replayed in graphs of GRAPH_STEPS steps (the launches past the chunk's end return at once)
    per_chunk = -(-300 // engine_gpu.GPUEngine.GRAPH_STEPS) * engine_gpu.GPUEngine.GRAPH_STEPS
    assert len(launches) == 4 and set(launches.values()) == {2 * per_chunk}, launches
    _assert_equal(cpu, gpu)


@needs_cxx
def test_parameters_changed_between_runs_reach_the_gpu():
    """A parameter set between runs (a rebuild: new literals) and a variable set in place (an upload) act on the
    emulated GPU as on the CPU."""
    res = []
    for backend in ("cpu", "emulate"):
        net, mons, (eif, adex, hh, ou) = network(backend)
        net.run(20.0)
        adex.I = 2500.0
        hh.v[:5] = -40.0
        net.run(20.0)
        res.append(_outputs(net, mons, (eif, adex, hh, ou)))
    _assert_equal(*res)


@needs_cxx
def test_state_saved_on_the_cpu_continues_on_the_emulated_gpu(tmp_path):
    """A run saved on the CPU loop and restored into the emulated GPU's network goes on as on the CPU (the models'
    variables, held copies and refractory counters reach the device)."""
    net, _, _ = network("cpu")
    net.run(20.0)
    path = net.save(tmp_path / "s.npz")
    net.run(20.0)
    ref = net.state()
    other, _, _ = network("emulate")
    other.restore(path)
    other.run(20.0)
    got = other.state()
    assert ref["refrac"].any()
    for k in ("v", "x1", "x2", "refrac", "gen_state", "hist_n", "hist_step"):
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


@pytest.mark.gpu
def test_network_of_user_models_on_a_gpu_equals_the_cpu_loop():
    """On a GPU: the library models and the noise use only operations CUDA rounds as the CPU does (fm_exp, sqrt,
    + - * /, NVRTC --fmad=false), so the run equals the CPU loop bit for bit."""
    cpu = _run("cpu")
    gpu = _run("cuda", chunks=2)
    assert cpu["hh.t"].size > 5
    _assert_equal(cpu, gpu)


# ---------------------------------------------------------------------------------------------- CUDA compilers
def test_cuda_device_compiles_generated_kernels_with_the_engines_options_on_its_device(monkeypatch):
    """CudaDevice (CuPy replaced by the tests' fake): a generated source is compiled once, with --fmad=false and the
    network's index types, on the device the engine was made on, its kernel fetched by name."""
    from neuro import kernel_loader

    fake = FakeCupy(capabilities=("90", "90"))

    class Stream:
        def __init__(self, non_blocking=False):
            self.ptr = 1000 + fake.devices[-1]

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
        with fake.cuda.Device(1):
            dev = engine_gpu.CudaDevice()
        dev.use(("-DEV_T=int", "-DFK_T=short"))
        name = cudagen.kernel_name(library.adex())
        for _ in range(2):
            dev.load_generated(name, cudagen.write(library.adex()))
    finally:
        kernel_loader.clear_cache()
    compiles = fake.calls("compile")
    ours = [c for c in compiles if "-DEV_T=int" in c[1]]
    assert len(ours) == len(engine_gpu._SOURCES) + 1  # the engine's sources, and the generated one once
    assert all(c[2] == 1 for c in compiles) and "--fmad=false" in ours[-1][1] and f"-I{kernel_dir()}" in ours[-1][1]
    assert ("get_function", name, 1) in fake.log and (name, name) in dev._fns


NVCC = shutil.which("nvcc")


def _ptx(src: Path, out: Path) -> tuple[int, str]:
    cmd = [NVCC, "-arch=sm_90", "-ptx", "--std=c++17", "--fmad=false", "-DTGT_T=int", f"-I{kernel_dir()}", "-o", str(out), str(src)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    return res.returncode, res.stderr


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
def test_generated_sources_compile_with_nvcc_for_sm90_without_fma(tmp_path):
    """Every generated source (and the simulator kernel reading the models' variables) compiles for a Hopper GPU with
    the engine's options; the PTX has the kernel entry and, but for CUDA's libm, no fused multiply-add."""
    jobs = {name: (cudagen.write(model), tmp_path / f"{name}.ptx") for name, (model, _) in KERNEL_MODELS.items()}
    jobs["sim_step"] = (kernel_dir() / "sim_step.cu", tmp_path / "sim_step.ptx")
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = {name: pool.submit(_ptx, *job) for name, job in jobs.items()}
        results = {name: job.result() for name, job in done.items()}
    for name, (rc, err) in results.items():
        assert rc == 0, f"{name}: {err[-2000:]}"
    for name, (model, _) in KERNEL_MODELS.items():
        ptx = jobs[name][1].read_text()
        assert f".entry {cudagen.kernel_name(model)}(" in ptx, name
        if name != "functions":  # (CUDA's own log, sin, pow ... use fma inside: the one model calling them is exempt)
            assert not re.search(r"\bfma\.", ptx), f"{name}: the PTX fuses a multiply-add"
