"""The simulator's time loop on a GPU: the kernels of ``kernels/sim_step.cu`` and ``kernels/sim_synapses.cu``
launched step after step from CUDA graphs, the state resident in device memory during a run.

One step is a fixed sequence of kernels (the order of :mod:`neuro.sim.engine_cpu`)::

    step_begin  <rule>_periodic*  <rule>_summed*  sample_synapses*  update_neurons  neuron_model_<key>*  <rule>_clock*  count_spikes
    write_spikes  decay_traces*  bump_traces*  plastic_events(pre)*  <rule>_events(pre)*  deliver_count  deliver_place
    deliver_scatter  deliver_sum  plastic_events(late)*  <rule>_events(late)*  plastic_events(post)*  <rule>_events(post)*
    periodic*  record_state*  step_end

(``*`` only when the network has them). ``neuron_model_<key>`` is the kernel generated for a population of a
user-defined model (:mod:`neuro.dynamics.cudagen`, one launch per population): it reads the population's arrays
through a table of device addresses in the order of ``neuro.dynamics.codegen.layout`` (``d.gen_tab``, refreshed when
an array moved), its variables and parameters in ``d.gen_state`` (or the delivery-matrix row its synapses add to)
and writes its neurons' spike flags, so their spikes join the step's spike list as every other model's.
``<rule>_*`` are the kernels generated for a user-defined plasticity rule (:mod:`neuro.dynamics.cudagen_synapse`, one
module per rule and parameter set, each launch covering the projections that use it, ``d.proj_slot``): at the points
of the CPU loop's step (periodic code at its start, then the ``(summed)`` variables, one launch per projection in
projection order, clock-driven equations after the neurons' updates, presynaptic events before the delivery or after it
for ``delivery="before_update"``, postsynaptic events after it), reading the rule's arrays (``d.syn_state``,
``d.syn_idx``, the weights, neuron variables, modulators) through ``d.syn_tab``, the host table
``Network._rule_table`` made moved onto the device arrays. A (summed) target is a parameter of a user-defined
population that the population's kernel then reads as an input (``NeuronModel.driven_by``, as the CPU loop's kernel);
its sums are made per postsynaptic neuron over the projection's synapses sorted by that neuron (``d.sum_off``,
``d.sum_syn``, built once), in synapse order: the CPU loop's additions in its order.

Each kernel reads the step counter from a control block in device memory and does nothing once the run is
halted, so the sequence of ``G`` steps is captured once as a CUDA graph and replayed: one graph launch per ``G``
steps instead of ~15 kernel launches per step.
A run stops early, like the CPU loop, when the next step's spikes might not fit the spike buffer; the
driver then collects the chunk and goes on with a larger buffer.

What is promised. Nothing a step computes depends on the order in which GPU threads run:

- a step's spike list is the CPU loop's, in the same order (the neurons that fired by index, a prefix-sum
  compaction of their flags, then the generators' spikes in their sorted order), so are the recorded spikes;
- each delivery target adds its inputs in the CPU loop's order (for each delay, the spikes in list order, each
  one's synapses in CSR order): the events of a step are sorted per target by that order before the sum;
- a synapse is written by one thread per kernel; a neuron that spikes several times in a step (a
  ``SpikeSource`` with ``repeats="multiplicity"``) has its k events applied one after another by one block, as
  the CPU loop's two-pass path does (all k presynaptic events, then k deliveries of the resulting weight; its fused
  pass, ``Network._fuse_pre_events``, still delivers each copy's intermediate weight instead: a CPU-side
  inconsistency, tests/sim/test_gpu_engine.py marks it). The same holds for user-defined rules, whose code writes
  only its own synapse's variables and ``w``: their events run in parallel across synapses, in order within one;
- a ``(summed)`` target is written by the one thread of its neuron, which adds its synapses' values in the CPU
  loop's order (synapse order within the projection);
- only integer counters use atomics (integer sums do not depend on their order).

The price of ordered delivery: an event buffer of 8 bytes per synapse (plus the repeated spikes' worst case)
and 32 bytes per delivery target on the device, and four passes over a step's events instead of one.

So a GPU run repeats itself bit for bit, and equals the CPU loop bit for bit where both evaluate the same
operations: every neuron model (user-defined ones built from ``+ - * /``, ``sqrt``, ``exp`` and powers included, see
:mod:`neuro.dynamics.cudagen`) and all delivery, noise and Poisson spikes included (the counter-based
generator and ``fastmath.cuh``'s ``exp`` give the CPU's bits; NVRTC runs with ``--fmad=false``). The one
exception is plasticity's ``exp`` / ``pow`` (eligibility scaling, the periodic rule, soft-bound STDP with
``mu != 0``, the event-driven decay and event code of user-defined rules): CUDA's libm may round these 1 ulp away
from the CPU's, so weights agree to rounding and a long plastic run may eventually part. The host emulation
(below) equals the CPU loop bit for bit always.

The same driver runs on two devices: :class:`CudaDevice` (CuPy, NVRTC) and :class:`HostEmulation`, the
same ``.cu`` sources compiled by the system C++ compiler (see ``kernels/neuro_device.cuh``). The emulation is
how a machine without a GPU tests the GPU path: sequential (every grid-stride loop runs in order; indexing,
kernel order, step control and the arithmetic), or threaded (``threads=(blocks, lanes)``: each launch runs
that many OS threads started in a random order, with real atomics; with ``sanitize=True`` built for
ThreadSanitizer, so a data race between the threads of a launch is reported; tests/sim/test_gpu_concurrent.py).

Transfers. The arrays live on the device for the whole build: an upload copies into them in place, and only
the arrays whose host copy changed since the device last had it (arrays up to ``MIRROR_BYTES`` are compared with
a copy kept at the last transfer; larger ones are copied again); the graph is captured again only when an array
moved (a new buffer size). The spike ring ``hist_idx`` is uploaded only when its used part (``hist_n`` spikes
per row) differs from the device's, and only its used columns are downloaded (the rest of a row is stale on
every backend and never read).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import math
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..paths import kernel_dir

__all__ = ["GPUEngine", "CudaDevice", "HostEmulation", "device_for"]

_KERNELS = {"sim_step": ("step_begin", "update_neurons", "count_spikes", "write_spikes", "record_state", "step_end"),
            "sim_synapses": ("deliver_count", "deliver_place", "deliver_scatter", "deliver_sum", "decay_traces", "bump_traces",
                             "plastic_events", "periodic", "sample_synapses")}
_SOURCES = tuple(_KERNELS)
# ctl fields (kernels/sim_step.cu)
_T, _HALT, _T0, _STOP, _NREC, _SPK_CAP, _ST_CAP, _SM_CAP = range(8)
_HALT_FULL = 2
_THREADS_ENV = "NEURO_EMULATE_THREADS"  # "BxL": every HostEmulation runs threaded, B blocks of L lanes per launch


def _threads_from_env() -> tuple[int, int] | None:
    spec = os.environ.get(_THREADS_ENV, "").strip()
    if not spec:
        return None
    try:
        nb, nl = (int(x) for x in spec.lower().split("x"))
    except ValueError:
        raise ValueError(f"${_THREADS_ENV} must read BLOCKSxLANES (e.g. 2x2), got {spec!r}") from None
    if nb < 1 or nl < 1:
        raise ValueError(f"${_THREADS_ENV}: blocks and lanes must be >= 1, got {spec!r}")
    return nb, nl


class HostEmulation:
    """The GPU kernels compiled as C++ for this CPU (testing without a GPU; slow).

    ``threads``: ``None`` runs every grid-stride loop sequentially; ``(blocks, lanes)`` runs each launch on
    ``blocks * lanes`` OS threads (fewer where the launch asks for fewer), started in an order drawn from ``seed``,
    each grid-stride step yielding the CPU with probability ``yield_permille / 1000``; default from
    ``$NEURO_EMULATE_THREADS`` ("2x2"). ``sanitize``: build the threaded kernels with ThreadSanitizer (the process
    must have ``libtsan`` preloaded: ``LD_PRELOAD=$(g++ -print-file-name=libtsan.so)``). ``defines``: more
    ``-D`` options (tests).
    """

    name = "emulate"
    xp = np

    _lock = threading.Lock()
    _libs: dict[str, ctypes.CDLL] = {}

    def __init__(self, tgt_type: str = "int", threads: tuple[int, int] | None = None, sanitize: bool = False,
                 yield_permille: int = 20, seed: int = 0, defines: tuple[str, ...] = ()):
        self.threads = tuple(int(x) for x in threads) if threads is not None else _threads_from_env()
        if sanitize and self.threads is None:
            raise ValueError("sanitize=True needs threads=(blocks, lanes): a sequential run has no races to find")
        self.sanitize = bool(sanitize)
        self.yield_permille = int(yield_permille)
        self.seed = int(seed)
        self.options = (f"-DTGT_T={tgt_type}", *defines)
        self._mods: dict[str, ctypes.CDLL] = {}
        self._fns: dict[tuple[str, str], Any] = {}
        self._launches = 0

    @classmethod
    def compiler(cls) -> str | None:
        return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")

    def use(self, defines: tuple[str, ...] = ()) -> None:
        """Compile (or find in the cache) and load the kernels with the network's index types ``defines``."""
        opts = self.options + tuple(defines)
        self._mods = {src: self._library(src, opts) for src in _SOURCES}
        self._fns = {}
        self.loaded_options = opts

    def _flags(self) -> list[str]:
        if self.threads is None:
            return ["-O2"]
        flags = ["-std=c++17", "-pthread", "-DNEURO_EMULATE_THREADS"]
        return flags + (["-O1", "-g", "-fsanitize=thread"] if self.sanitize else ["-O2"])

    def load_generated(self, name: str, path: Path, kernels: tuple[str, ...] | None = None) -> None:
        """Compile (or find in the cache) and load a generated source (:mod:`neuro.dynamics.cudagen`,
        :mod:`~neuro.dynamics.cudagen_synapse`); its kernels (default: the one named ``name``) are then launched as
        ``launch(name, kernel, ...)``."""
        self._mods[name] = self._library(name, getattr(self, "loaded_options", self.options), Path(path))

    @staticmethod
    def address(a) -> int:
        """The address of array ``a``'s first element (what a kernel's table of addresses holds)."""
        return int(a.ctypes.data)

    def _library(self, src: str, opts: tuple[str, ...], path: Path | None = None) -> ctypes.CDLL:
        cxx = self.compiler()
        if cxx is None:
            raise RuntimeError("the GPU-kernel emulation needs a C++ compiler (g++, c++ or clang++; or set $CXX); none found")
        kdir = kernel_dir()
        flags = self._flags()
        path = path if path is not None else kdir / f"{src}.cu"
        text = b"".join(p.read_bytes() for p in sorted(kdir.glob("*.cu*"))) + (path.read_bytes() if path.parent != kdir else b"")
        key = hashlib.sha256(text + repr((src, opts, flags, cxx)).encode()).hexdigest()[:16]
        with self._lock:
            if key in self._libs:
                return self._libs[key]
            cache = Path(os.environ.get("NEURO_CACHE", Path.home() / ".cache" / "neuro")) / "emulated_kernels"
            cache.mkdir(parents=True, exist_ok=True)
            out = cache / f"{src}-{key}.so"
            if not out.exists():
                # -ffp-contract=off: no a*b+c fused, as NVRTC with --fmad=false and Numba without fastmath
                with tempfile.NamedTemporaryFile(dir=cache, suffix=".so", delete=False) as tmp:
                    pass
                cmd = [cxx, *flags, "-ffp-contract=off", "-shared", "-fPIC", "-x", "c++", f"-I{kdir}", *opts,
                       "-o", tmp.name, str(path)]
                env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # a sanitizer runtime is for this process only
                res = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if res.returncode != 0:
                    os.unlink(tmp.name)
                    raise RuntimeError(f"compiling {path.name} for the host emulation failed ({' '.join(cmd)}):\n{res.stderr}")
                os.replace(tmp.name, out)
            try:
                lib = ctypes.CDLL(str(out))
            except OSError as err:
                if not self.sanitize:
                    raise
                raise RuntimeError(f"loading the ThreadSanitizer build of {src}.cu failed ({err}): start Python with the runtime "
                                   "preloaded, LD_PRELOAD=$(g++ -print-file-name=libtsan.so)") from err
            self._libs[key] = lib
            return lib

    @staticmethod
    def _arg(a):
        if isinstance(a, np.ndarray):
            if not a.flags.c_contiguous:
                raise ValueError("kernel arrays must be C-contiguous")
            return ctypes.c_void_p(a.ctypes.data)
        if isinstance(a, np.int64):
            return ctypes.c_longlong(int(a))
        if isinstance(a, np.uint64):
            return ctypes.c_ulonglong(int(a))
        if isinstance(a, np.float64):
            return ctypes.c_double(float(a))
        raise TypeError(f"kernel argument of type {type(a).__name__}: pass numpy arrays, np.int64, np.uint64 or np.float64")

    @classmethod
    def _word(cls, a) -> int:
        """A kernel argument as the 8-byte word the threaded entry points unpack."""
        if isinstance(a, np.ndarray):
            return cls._arg(a).value or 0
        if isinstance(a, np.int64 | np.uint64):
            return int(np.array(a).view(np.uint64))
        if isinstance(a, np.float64):
            return int(np.array(a).view(np.uint64))
        raise TypeError(f"kernel argument of type {type(a).__name__}: pass numpy arrays, np.int64, np.uint64 or np.float64")

    def launch(self, src: str, name: str, grid: int, block: int, args: tuple) -> None:
        fn = self._fns.get((src, name))
        if self.threads is None:
            if fn is None:
                fn = self._fns[(src, name)] = getattr(self._mods[src], name)
                fn.restype = None
            fn(*[self._arg(a) for a in args])
            return
        if fn is None:
            fn = self._fns[(src, name)] = getattr(self._mods[src], name + "__threads")
            fn.restype = None
            fn.argtypes = (ctypes.c_void_p, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_ulonglong, ctypes.c_longlong)
        argv = np.array([self._word(a) for a in args], dtype=np.uint64)
        nb = max(1, min(int(grid), self.threads[0]))
        nl = max(1, min(int(block), self.threads[1]))
        self._launches += 1
        seed = (self.seed * 0x9E3779B97F4A7C15 + self._launches) & 0xFFFFFFFFFFFFFFFF
        fn(argv.ctypes.data, nb, nl, seed, self.yield_permille)

    def context(self):
        return contextlib.nullcontext()

    def capture(self, body):
        """No graphs on the host: the body itself is the replay."""
        return body

    def replay(self, graph) -> None:
        graph()

    def asarray(self, a):
        return np.array(a, copy=True)

    def copy_in(self, dst, a) -> None:
        """Host array ``a`` into the device array ``dst`` (same shape and type), in place."""
        dst[...] = a

    def get(self, a):
        return np.array(a, copy=True)

    def synchronize(self) -> None:
        pass


class CudaDevice:
    """CuPy arrays and NVRTC-compiled kernels on the current CUDA device; steps replayed from CUDA graphs."""

    name = "cuda"

    def __init__(self, tgt_type: str = "int", device: int | None = None):
        from ..kernel_loader import _import_cupy

        self.xp = _import_cupy()  # a clear error where CuPy is missing
        # the device current now (or the one given) is this engine's for good: every compile, allocation and launch
        # happens on it, whatever device is current when a later run starts
        self.device_id = self.xp.cuda.Device().id if device is None else int(device)
        self.options = ("--fmad=false", f"-DTGT_T={tgt_type}")
        self._fns: dict[tuple[str, str], Any] = {}
        with self.xp.cuda.Device(self.device_id):
            self.stream = self.xp.cuda.Stream(non_blocking=True)

    def use(self, defines: tuple[str, ...] = ()) -> None:
        """Compile (NVRTC, cached) and load every kernel with the network's index types: nothing is loaded while a graph
        is being captured."""
        from ..kernel_loader import load_module

        opts = self.options + tuple(defines)
        mods = {src: load_module(src, opts, device=self.device_id) for src in _SOURCES}
        with self.xp.cuda.Device(self.device_id):
            self._fns = {(src, fn): mods[src].get_function(fn) for src, fns in _KERNELS.items() for fn in fns}
        self.loaded_options = opts

    _generated: dict[tuple[str, tuple[str, ...], int], Any] = {}  # compiled generated modules (source hash, options, device)

    def load_generated(self, name: str, path: Path, kernels: tuple[str, ...] | None = None) -> None:
        """Compile (NVRTC; once per source text, options and device) and load a generated source
        (:mod:`neuro.dynamics.cudagen`, :mod:`~neuro.dynamics.cudagen_synapse`) with the options of the engine's
        kernels; a compile error names the file and line. Its ``kernels`` (default: the one named ``name``) are then
        launched as ``launch(name, kernel, ...)``."""
        from ..kernel_loader import KernelCompileError, format_compile_log

        path = Path(path)
        code = f'#line 1 "{path}"\n' + path.read_text()
        opts = tuple(getattr(self, "loaded_options", self.options)) + (f"-I{kernel_dir()}", "--std=c++17")
        key = (hashlib.sha256(code.encode()).hexdigest(), opts, self.device_id)
        with self.xp.cuda.Device(self.device_id):
            mod = self._generated.get(key)
            if mod is None:
                mod = self.xp.RawModule(code=code, options=opts)
                try:
                    mod.compile()
                except self.xp.cuda.compiler.CompileException as exc:
                    raise KernelCompileError(format_compile_log(str(exc), path, opts)) from None
                self._generated[key] = mod
            for kernel in kernels or (name,):
                self._fns[(name, kernel)] = mod.get_function(kernel)

    @staticmethod
    def address(a) -> int:
        """The device address of array ``a``'s first element (what a kernel's table of addresses holds)."""
        return int(a.data.ptr)

    @contextlib.contextmanager
    def context(self):
        """Every transfer, fill and launch of a run goes to this engine's device and one stream (a non-blocking stream
        does not wait for others)."""
        with self.xp.cuda.Device(self.device_id), self.stream:
            yield self

    def launch(self, src: str, name: str, grid: int, block: int, args: tuple) -> None:
        fn = self._fns[(src, name)]
        fn((max(1, int(grid)),), (int(block),), args)

    def capture(self, body):
        with self.stream:
            self.stream.begin_capture()
            try:
                body()
            finally:
                graph = self.stream.end_capture()
        return graph

    def replay(self, graph) -> None:
        graph.launch(self.stream)

    def asarray(self, a):
        with self.stream:
            return self.xp.asarray(np.ascontiguousarray(a))

    def copy_in(self, dst, a) -> None:
        dst.set(np.ascontiguousarray(a, dtype=dst.dtype), stream=self.stream)

    def get(self, a):
        out = self.xp.asnumpy(a, stream=self.stream)
        self.stream.synchronize()
        return out

    def synchronize(self) -> None:
        self.stream.synchronize()


def device_for(backend: str, tgt_type: str = "int"):
    if backend == "cuda":
        return CudaDevice(tgt_type)
    if backend == "emulate":
        return HostEmulation(tgt_type)
    raise ValueError(f"backend must be 'cpu', 'cuda' or 'emulate', got {backend!r}")


_STATIC = ("pop_model", "pop_par", "npop", "off", "syn_tgt", "proj_kind", "proj_par", "proj_ptr", "proj_syn", "proj_bank",
           "pre_off", "pre_syn", "pre_proj", "pre_other", "pre_dly", "post_off", "post_syn", "post_proj", "post_other", "post_dly",
           "bank_base", "bank_len", "bank_n", "bank_lo", "bank_decay", "bank_nearest",
           "syn_proj", "gen_steps", "gen_idx", "cur_col", "cur_table", "mod_decay", "st_idx", "st_var", "sm_idx", "sm_kind", "sm_aux", "syn_postpos",
           "pop_fr", "fr_P", "fr_F", "fr_G", "syn_fk", "syn_idx")
# plastic event lists: int32 where they fit (Network._build_traces), kept so on the device (-DEV_T)
_EVENT_LISTS = ("pre_syn", "pre_proj", "pre_other", "pre_dly", "post_syn", "post_proj", "post_other", "post_dly", "syn_postpos")
_PARAMS = ("i_ext", "sigma", "rate", "na", "nb", "nc", "nd", "pop_extra")  # read by the kernels only; may change between runs
_PLASTIC = ("elig", "elig_post", "ntr")  # written by the kernels where the network is plastic (else one-element placeholders)
# written by the kernels every run (gen_state: the variables and parameters of user-defined models, Network._layout_models;
# syn_state: those of user-defined plasticity rules, Network._layout_rules)
_WRITTEN = ("tgt", "u", "refrac", "modulator", "period_next", "period_last", "elig_scale", "gen_state", "syn_state")
_HIST = ("hist_idx", "hist_n", "hist_step")  # the spike ring (see GPUEngine._upload_hist)


def _generated_kernels(s: SimpleNamespace, device) -> list[SimpleNamespace]:
    """The generated CUDA kernel of every user-defined population (:mod:`neuro.dynamics.cudagen`), compiled and loaded on
    ``device``: parameters with one value over a population written in as literals, as the CPU loop's kernels
    (``Network._layout_models``); one kernel per model and parameter set."""
    from ..dynamics import cudagen
    from ..dynamics.codegen import held

    out, loaded = [], set()
    driven = _summed_targets(s)
    for pop in getattr(s, "gen_models", ()):
        model = pop.definition.driven_by(driven.get(id(pop), ()))  # (summed) targets: inputs, never literals
        tab0, names = pop._tab
        hold = {f"_hold_{v}" for v in held(model)}
        constants = {}
        for key in names[2:]:
            if key in model.states or key in hold or key in pop._rows:
                continue
            seg = s.gen_state[pop._gen_offsets[key] : pop._gen_offsets[key] + pop.n]
            if np.all(seg == seg[0]):
                constants[key] = float(seg[0])
        name = cudagen.kernel_name(model, constants)
        if name not in loaded:
            device.load_generated(name, cudagen.write(model, constants))
            loaded.add(name)
        out.append(SimpleNamespace(pop=pop, name=name, lo=np.int64(pop.start), n=np.int64(pop.n), tab0=np.int64(tab0)))
    return out


def _summed_targets(s: SimpleNamespace) -> dict[int, set[str]]:
    """The variables of each user-defined population (by ``id``) that (summed) variables set: those its kernel reads as
    inputs (``Network._layout_models`` compiled the CPU's kernel so; the projections' rules were bound, so every target is
    a non-constant parameter of the population's model)."""
    out: dict[int, set[str]] = {}
    for proj in getattr(s, "syn_rules", ()):
        for name in proj.plasticity.model.summed:
            out.setdefault(id(proj.post), set()).add(name.rsplit("_", 1)[0])
    return out


def _summed_lists(s: SimpleNamespace) -> tuple[list[SimpleNamespace], np.ndarray, np.ndarray]:
    """Per projection with (summed) variables (in projection order, the CPU loop's): its synapses sorted by postsynaptic
    neuron, stably (so each neuron's in synapse order, the order the CPU loop adds them in): ``sum_syn`` (the synapses'
    places ``k`` in their projection) and, per postsynaptic neuron, where its run starts (``sum_off``, ``n_post + 1``
    entries from ``off0``). Returns the projections' launch records and the two arrays."""
    out, offs, syns, base = [], [], [], 0
    for proj in getattr(s, "syn_rules", ()):
        if not proj.plasticity.model.summed:
            continue
        n, n_post = len(proj), int(proj.post.n)
        post = s.syn_idx[proj._rule_idx + 2 * n : proj._rule_idx + 3 * n] - proj.post.start
        order = np.argsort(post, kind="stable")
        counts = np.bincount(post, minlength=n_post) if n else np.zeros(n_post, np.int64)
        out.append(SimpleNamespace(proj=proj, lo=np.int64(proj.post.start), n_post=np.int64(n_post),
                                   off0=np.int64(sum(o.shape[0] for o in offs))))
        offs.append(base + np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        syns.append(order.astype(np.int64))
        base += n
    sum_off = np.concatenate(offs) if offs else np.zeros(1, np.int64)
    sum_syn = np.concatenate(syns) if syns and base else np.zeros(1, np.int64)
    return out, sum_off, sum_syn


def _generated_rules(s: SimpleNamespace, device) -> tuple[list[SimpleNamespace], np.ndarray]:
    """The generated CUDA kernels of every user-defined plasticity rule (:mod:`neuro.dynamics.cudagen_synapse`),
    compiled and loaded on ``device``: parameters with one value over a projection written in as literals, as the CPU
    loop's functions (``Network._layout_rules``); one module per rule and parameter set, shared by the projections that
    have both. Returns the modules and, per projection, the index of the module that runs it (-1: none)."""
    from ..dynamics import cudagen_synapse as cg

    slot = np.full(max(1, s.proj_kind.shape[0]), -1, np.int64)
    out: list[SimpleNamespace] = []
    index: dict[str, int] = {}
    for proj in getattr(s, "syn_rules", ()):
        model, n = proj.plasticity.model, len(proj)
        tab0, _ = proj._tab
        pr = int(np.flatnonzero((s.proj_kind == 4) & (s.proj_par[:, 1] == tab0))[0])
        if n == 0 and not model.summed:  # (an empty projection still sets its (summed) targets to 0 every step)
            continue
        constants = {}
        for p in model.params:
            seg = s.syn_state[proj._rule_offsets[p] : proj._rule_offsets[p] + n]
            if n and np.all(seg == seg[0]):
                constants[p] = float(seg[0])
        name = cg.module_name(model, constants)
        if name not in index:
            device.load_generated(name, cg.write(model, constants), cg.kernel_names(model, constants) + (cg.summed_kernel_name(model, constants),))
            index[name] = len(out)
            events, clock, periodic = cg.kernel_names(model, constants)
            out.append(SimpleNamespace(name=name, events=events, clock=clock, periodic=periodic,
                                       summed=cg.summed_kernel_name(model, constants), slot=np.int64(len(out)),
                                       on_pre=cg.has_events(model, "on_pre"), on_post=cg.has_events(model, "on_post"),
                                       has_clock=bool(model.clock_driven), has_periodic=model.period is not None,
                                       early=False, late=False, n_max=0, projections=[]))
        r = out[index[name]]
        slot[pr] = r.slot
        r.projections.append((proj, np.int64(pr)))
        r.late |= bool(s.proj_par[pr, 29] != 0.0)
        r.early |= bool(s.proj_par[pr, 29] == 0.0)
        r.n_max = max(r.n_max, n)
    return out, slot


class GPUEngine:
    """Device copies of a built network's arrays (``s`` of :class:`neuro.sim.Network`) and the step loop over them."""

    GRAPH_STEPS = 16  # steps per captured graph
    MIRROR_BYTES = 1 << 25  # arrays up to this size are compared with their last transferred copy before an upload

    def __init__(self, s: SimpleNamespace, n_pops: int, seed: int, dt: float, device):
        self.dev = device
        self.n = int(s.v.shape[0])
        self.n_pops = max(1, n_pops)
        self.seed = np.uint64(seed)
        self.dt = np.float64(dt)
        self.plastic = s.pre_syn.size > 0
        self.sampled = s.sm_idx.size > 0
        ev_t = s.pre_syn.dtype
        if any(getattr(s, k).dtype != ev_t for k in _EVENT_LISTS) or ev_t not in (np.int32, np.int64):
            raise ValueError(f"the plastic event lists must share one type, int32 or int64: "
                             f"{ {k: str(getattr(s, k).dtype) for k in _EVENT_LISTS} }")
        if s.syn_fk.dtype not in (np.int16, np.int32):
            raise ValueError(f"syn_fk must be int16 or int32, got {s.syn_fk.dtype}")
        device.use((f"-DEV_T={'int' if ev_t == np.int32 else 'long long'}", f"-DFK_T={'short' if s.syn_fk.dtype == np.int16 else 'int'}"))
        self.models = _generated_kernels(s, device)
        self.rules, proj_slot = _generated_rules(s, device)
        tgt_dtype = np.int32 if "-DTGT_T=int" in device.options else np.int64
        d = SimpleNamespace()
        up = self._alloc
        for key in _STATIC:
            a = getattr(s, key)
            if key == "syn_tgt":
                a = a.astype(tgt_dtype)
            elif a.dtype.kind in "iu" and key not in _EVENT_LISTS and key != "syn_fk":
                a = a.astype(np.int64)  # the kernels take 64-bit indices elsewhere
            setattr(d, key, up(a))
        n8 = -(-max(self.n, 1) // 8) * 8  # flags padded to whole 8-byte words (count_spikes reads them so)
        d.rec_mask = up(np.pad(s.rec_mask.astype(np.uint8), (0, n8 - s.rec_mask.shape[0])))
        d.ctl = up(np.zeros(8, np.int64))
        d.gk = up(np.ones(1 + 2 * s.fr_P.shape[0]))
        self.NF = np.int64(s.fr_P.shape[0])
        self.FW = np.int64(s.fr_F.shape[2])
        d.cnt = up(np.zeros(8, np.int64))
        self.d = d
        self.R = np.int64(s.hist_idx.shape[0])
        self.stride = np.int64(s.hist_idx.shape[1])
        self.D = np.int64(s.off.shape[1] - 2)
        self.DA = np.int64(s.pre_off.shape[1] - 2)
        self.DD = np.int64(s.post_off.shape[1] - 2)
        self.P = np.int64(s.proj_kind.shape[0])
        self.npar = np.int64(s.proj_par.shape[1])
        self.pop_npar = np.int64(s.pop_par.shape[1])
        self.n_banks = np.int64(s.bank_base.shape[0])
        self.bank_total = np.int64(s.bank_n.sum())
        self.any_eligibility = bool(np.any(s.proj_kind == 2))
        builtin = np.isin(s.proj_kind, (1, 2, 3))  # pair, eligibility, triplet: plastic_events (user-defined rules: self.rules)
        self.builtin_plastic = bool(builtin.any())
        self.any_late = bool(np.any(s.proj_par[builtin, 29] != 0.0))
        self.stride_tgt = int(s.tgt.shape[1])  # the v row of the delivery matrix starts at 3 * stride_tgt
        n1 = max(self.n, 1)
        d.blocked = up(np.zeros(n1, np.uint8))
        d.fired = up(np.zeros(-(-n1 // 8) * 8, np.uint8))
        self.n_rec = int(s.rec_mask.sum()) + int(s.hist_idx.shape[1] - s.v.shape[0])  # worst case per step: + repeated source spikes
        # the spike list's compaction: chunks of C places (C ~ sqrt of the longest sequence, see count_spikes)
        gmax = int(np.unique(s.gen_steps, return_counts=True)[1].max()) if s.gen_steps.size else 0
        self.C = np.int64(max(64, -(-(math.isqrt(self.n + gmax) + 1) // 8) * 8))
        self.n_chunks = max(1, -(-(self.n + gmax) // int(self.C)))
        d.ccnt = up(np.zeros(2 * self.n_chunks, np.int64))
        # ordered delivery (deliver_count .. deliver_sum): per target counts, ranges and fill, the touched targets, and
        # the event buffer for a step's worst case: every synapse once (a neuron is in at most one list per step, and
        # delay d reads the list of step t - d), plus, per delay, the surplus places of a row times the largest
        # segment of a source neuron (the only neurons listed several times in a step)
        T = int(s.tgt.size)
        for key in ("tcount", "tbase", "tfill", "touched"):
            setattr(d, key, up(np.zeros(T, np.int64)))
        seg = np.diff(s.off, axis=1)
        self.L = np.int64(max(1, int(seg.max()) if seg.size else 1))
        sources = np.unique(s.gen_idx)
        repeated = int(seg[sources].max(axis=0).sum()) if sources.size and seg.size else 0
        self.ev_cap = np.int64(int(s.off[:, -1].max(initial=0)) + int(self.stride - self.n) * repeated)
        if (int(self.D) + 1) * int(self.stride) * int(self.L) >= 2**62:
            raise ValueError("network too large for the GPU delivery's event keys: (max delay + 1) x spike row x longest segment >= 2^62")
        d.ev = up(np.zeros(max(1, int(self.ev_cap)), np.int64))
        # per-run state: allocated now, copied into in place from now on (see upload)
        if not hasattr(s, "elig_scale"):
            s.elig_scale = np.ones(s.proj_kind.shape[0])
        self._mirror: dict[str, np.ndarray] = {}  # host copies of what the device holds (small arrays), see upload
        for key in ("syn_w",) + _WRITTEN + _PARAMS + _HIST:
            setattr(d, key, up(getattr(s, key)))
            self._remember(key, getattr(s, key))
        for key in _PLASTIC:  # non-plastic networks pass one-element placeholders
            setattr(d, key, up(getattr(s, key) if self.plastic else np.zeros(1)))
            if self.plastic:
                self._remember(key, getattr(s, key))
        self._views()
        d.gen_tab = up(np.zeros(max(1, s.gen_tab.shape[0]), np.uint64))
        self._tab_seen = None  # the addresses the device's table holds (see _model_table)
        d.proj_slot = up(proj_slot)
        d.syn_tab = up(np.zeros(max(1, s.syn_tab.shape[0]), np.uint64))
        d.syn_range = up(np.asarray(getattr(s, "syn_range", np.zeros(2)), dtype=np.int64))
        self.summed, sum_off, sum_syn = _summed_lists(s)
        for m in self.summed:  # the module that runs each one and its projection index
            m.rule, m.pr = next((r, pr) for r in self.rules for p, pr in r.projections if p is m.proj)
        d.sum_off, d.sum_syn = up(sum_off), up(sum_syn)
        self._syn_tab_seen = None  # (see _rule_table)
        self._hist_seen = self._hist_used(s)  # the used part of the device's spike ring, as last transferred
        self._graph = None
        self._graph_key = None
        self._bufs = None

    def _alloc(self, a):
        return self.dev.asarray(a)

    def _model_table(self) -> None:
        """The device addresses of every user-defined population's arrays, in its kernel's order (as
        ``Network._model_table`` does for the CPU), into ``d.gen_tab``: copied when an array moved (a new buffer)."""
        if not self.models:
            return
        d = self.d
        tab = np.zeros(d.gen_tab.shape[0], np.uint64)
        for m in self.models:
            pop = m.pop
            tab0, names = pop._tab
            for j, key in enumerate(names):
                if key == "_fired":
                    a, base = d.fired, pop.start
                elif key == "_refrac":
                    a, base = d.refrac, pop.start
                elif key in pop._rows:
                    a, base = getattr(d, pop._rows[key]), pop.start
                else:
                    a, base = d.gen_state, pop._gen_offsets[key]
                tab[tab0 + j] = self.dev.address(a) + base * a.itemsize
        if self._tab_seen is None or not np.array_equal(tab, self._tab_seen):
            self.dev.copy_in(d.gen_tab, tab)
            self._tab_seen = tab

    def _rule_table(self, s: SimpleNamespace) -> None:
        """The device addresses of every user-defined rule's arrays into ``d.syn_tab``: each entry of the host table
        ``s.syn_tab`` (``Network._rule_table``, made before every run) moved to the device array it points into, at the
        same offset; copied when an address changed (an array moved)."""
        if not self.rules:
            return
        d = self.d
        tab = np.zeros(d.syn_tab.shape[0], np.uint64)
        for proj in s.syn_rules:
            tab0, names = proj._tab
            model = proj.plasticity.model
            for j, key in enumerate(names):
                if key == "_w":
                    host, dev = s.syn_w, d.syn_w
                elif key in ("_s", "_i", "_j"):
                    host, dev = s.syn_idx, d.syn_idx
                elif key == "_range":
                    host, dev = s.syn_range, d.syn_range
                elif key in proj._rule_offsets:
                    host, dev = s.syn_state, d.syn_state
                elif key in model.modulators:
                    host, dev = s.modulator, d.modulator
                else:  # a neuron variable, indexed by global neuron index
                    var, side = key.rsplit("_", 1)
                    pop = proj.pre if side == "pre" else proj.post
                    rows = getattr(pop, "_rows", None)
                    if rows is not None and var in rows:
                        host, dev = getattr(s, rows[var]), getattr(d, rows[var])
                    elif rows is not None:
                        host, dev = s.gen_state, d.gen_state
                    else:
                        host, dev = s.v, d.v
                offset = int(s.syn_tab[tab0 + j]) - int(host.ctypes.data)
                tab[tab0 + j] = (self.dev.address(dev) + offset) % (1 << 64)
        if self._syn_tab_seen is None or not np.array_equal(tab, self._syn_tab_seen):
            self.dev.copy_in(d.syn_tab, tab)
            self._syn_tab_seen = tab

    def _views(self) -> None:
        d = self.d
        d.v, d.x1, d.x2, d.isyn = d.tgt[3, : self.n], d.tgt[0, : self.n], d.tgt[1, : self.n], d.tgt[2, : self.n]
        d.tgt_flat = d.tgt.reshape(-1)

    # ------------------------------------------------------------------ state transfer
    def upload(self, s: SimpleNamespace) -> None:
        """Bring the device up to the state and parameters of ``s`` (start of a run, after a callback): only the arrays
        that changed since the device last had them are copied, in place."""
        with self.dev.context():
            self._upload(s)

    def _upload(self, s: SimpleNamespace) -> None:
        keys = ("syn_w",) + _WRITTEN + _PARAMS + (_PLASTIC if self.plastic else ())
        for key in keys:
            a = getattr(s, key)
            seen = self._mirror.get(key)
            if seen is not None and seen.shape == a.shape and np.array_equal(seen, a):
                continue
            self._put(key, a)
        self._upload_hist(s)
        self._rule_table(s)

    def _put(self, key: str, a: np.ndarray) -> None:
        """Host array ``a`` into device array ``key``: in place where shape and type match (the graph stays valid), else
        into a new buffer (captured again)."""
        dst = getattr(self.d, key)
        if dst.shape == a.shape and dst.dtype == a.dtype:
            self.dev.copy_in(dst, a)
        else:
            setattr(self.d, key, self._alloc(a))
            if key == "tgt":
                self._views()
            self._graph = None
        self._remember(key, a)

    def _remember(self, key: str, a: np.ndarray) -> None:
        if a.nbytes <= self.MIRROR_BYTES:
            self._mirror[key] = np.array(a, copy=True)
        else:
            self._mirror.pop(key, None)

    def _hist_used(self, s: SimpleNamespace):
        """The meaningful part of the spike ring: per row, its first hist_n entries."""
        n = np.minimum(s.hist_n, int(self.stride))
        used = np.concatenate([s.hist_idx[r, : n[r]] for r in range(int(self.R))]) if int(self.R) else np.zeros(0, np.int64)
        return s.hist_n.copy(), s.hist_step.copy(), used

    def _upload_hist(self, s: SimpleNamespace) -> None:
        """The spike ring goes up only where its used part differs from the device's (a restored state, a CPU run between)."""
        now = self._hist_used(s)
        if self._hist_seen is not None and all(np.array_equal(x, y) for x, y in zip(now, self._hist_seen)):
            return
        for key in _HIST:
            self._put(key, getattr(s, key))
        self._hist_seen = now

    def download(self, s: SimpleNamespace) -> None:
        """Copy the device state back into the NumPy arrays of ``s`` (in place, so views stay valid)."""
        with self.dev.context():
            self._download(s)

    def _download(self, s: SimpleNamespace) -> None:
        d, get = self.d, self.dev.get
        keys = _WRITTEN + (("syn_w",) + _PLASTIC if self.plastic else ())
        for key in keys:
            a = getattr(s, key)
            a[...] = get(getattr(d, key))
            self._remember(key, a)
        s.hist_n[...] = get(d.hist_n)
        s.hist_step[...] = get(d.hist_step)
        m = int(min(int(s.hist_n.max(initial=0)), int(self.stride)))
        if m:  # only the used columns: the rest of a row is stale everywhere and never read
            s.hist_idx[:, :m] = get(d.hist_idx[:, :m])
        self._hist_seen = self._hist_used(s)
        s.gen_ptr[0] = np.searchsorted(s.gen_steps, int(get(d.ctl)[_T]))

    # ------------------------------------------------------------------ stepping
    def _buffers(self, k_max: int, spk_cap: int, st_every: int, sm_every: int):
        key = (k_max, spk_cap, st_every, sm_every)
        if self._bufs is None or self._bufs[0] != key:
            xp = self.dev.xp
            b = SimpleNamespace(
                spk_step=xp.zeros(spk_cap, np.int64), spk_idx=xp.zeros(spk_cap, np.int64),
                pop_counts=xp.zeros((k_max, self.n_pops), np.int64),
                st_out=xp.zeros((k_max // st_every + 2, max(1, self.d.st_idx.shape[0]))),
                sm_out=xp.zeros((k_max // sm_every + 2, max(1, self.d.sm_idx.shape[0]))))
            self._bufs = (key, b)
            self._graph = None
        return self._bufs[1]

    def _step(self, b, st_every: int, sm_every: int) -> None:
        d, L = self.d, self.dev.launch
        i64 = np.int64
        n = self.n
        nblk = min(4096, (n + 255) // 256)
        L("sim_step", "step_begin", 1, 1, (d.ctl, d.cnt, d.hist_n, d.hist_step, self.R, self.P, d.proj_kind, d.proj_par,
                                           self.npar, d.period_last, d.elig_scale, self.dt, self.NF, d.fr_P, d.fr_G, self.FW, d.gk))
        for r in self.rules:  # periodic code of user-defined rules, at the start of the step (step_end moves their clocks)
            if r.has_periodic:
                L(r.name, r.periodic, min(4096, (r.n_max + 255) // 256), 256, (d.ctl, r.slot, self.P, d.proj_slot, d.proj_par, self.npar,
                                                                            d.period_next, self.dt, d.syn_tab))
        for m in self.summed:  # (summed) variables, projection after projection as the CPU loop: before the neurons' updates
            L(m.rule.name, m.rule.summed, min(4096, (int(m.n_post) + 255) // 256), 256, (d.ctl, m.pr, d.proj_par, self.npar, m.lo,
                                                                                m.n_post, d.sum_off, d.sum_syn, m.off0, self.dt, d.syn_tab))
        if self.sampled:
            L("sim_synapses", "sample_synapses", 64, 128, (
                d.ctl, d.cnt, d.sm_idx, d.sm_kind, d.sm_aux, i64(d.sm_idx.shape[0]), i64(sm_every), b.sm_out, d.syn_proj,
                d.syn_w, d.proj_kind, d.proj_par, self.npar, d.elig, d.elig_post, d.syn_postpos, d.modulator, d.period_last, d.ntr,
                d.bank_base,
                d.bank_len, d.bank_n, d.bank_decay, d.syn_state, self.dt))
        L("sim_step", "update_neurons", nblk, 256, (
            d.ctl, i64(n), d.fired, self.seed, self.dt,
            d.npop, d.pop_model, d.pop_par, self.pop_npar, d.pop_extra,
            d.v, d.u, d.x1, d.x2, d.isyn, d.refrac, d.i_ext, d.sigma, d.rate, d.na, d.nb, d.nc, d.nd,
            d.cur_col, d.cur_table, i64(d.cur_table.shape[0]), i64(d.cur_table.shape[1]), self.cur_t0,
            d.pop_fr, d.fr_P, d.fr_F, self.FW, d.blocked))
        for m in self.models:  # user-defined populations: their generated kernels overwrite their neurons' flags
            L(m.name, m.name, min(4096, (int(m.n) + 255) // 256), 256, (d.ctl, m.lo, m.n, self.dt, self.seed, d.gen_tab, m.tab0))
        for r in self.rules:  # clock-driven equations of user-defined rules, after the neurons' updates (v_post: this step's)
            if r.has_clock:
                L(r.name, r.clock, min(4096, (r.n_max + 255) // 256), 256, (d.ctl, r.slot, self.P, d.proj_slot, d.proj_par, self.npar,
                                                                         self.dt, d.syn_tab))
        gens = (d.gen_steps, d.gen_idx, i64(d.gen_steps.shape[0]))
        cblk = min(4096, (self.n_chunks + 127) // 128)
        L("sim_step", "count_spikes", cblk, 128, (d.ctl, i64(n), self.C, d.fired, d.rec_mask) + gens + (d.ccnt,))
        L("sim_step", "write_spikes", cblk, 128, (d.ctl, d.cnt, i64(n), self.C, d.fired, d.rec_mask) + gens + (
            d.ccnt, self.R, d.hist_idx, d.hist_n, self.stride, d.npop, i64(self.n_pops), b.pop_counts, b.spk_step, b.spk_idx))
        banks = (d.bank_base, d.bank_len, d.bank_n, d.bank_lo, d.bank_decay)
        if self.plastic:  # the per-neuron traces move to step t, then the presynaptic side of the rules
            L("sim_synapses", "decay_traces", min(4096, (int(self.bank_total) + 255) // 256), 256, (
                d.ctl, self.n_banks, self.bank_total, d.ntr, d.bank_base, d.bank_len, d.bank_n, d.bank_decay))
            L("sim_synapses", "bump_traces", nblk, 256, (d.ctl, self.R, d.hist_idx, d.hist_n, self.stride, self.n_banks, d.ntr,
                                                         d.bank_base, d.bank_len, d.bank_n, d.bank_lo, d.bank_nearest))
            pre_events = (d.ctl, i64(0), i64(0), self.R, self.DA, d.hist_idx, d.hist_n, d.hist_step, self.stride, d.pre_off, d.pre_syn,
                          d.pre_proj, d.pre_other, d.pre_dly, d.syn_w, d.proj_kind, d.proj_par, self.npar, d.proj_bank, d.elig,
                          d.elig_post, d.ntr) + banks + (d.elig_scale,)
            if self.builtin_plastic:
                L("sim_synapses", "plastic_events", 1024, 128, pre_events)
            self._rule_events(post=False, late=False)
        # ordered delivery: count per target, place the ranges, scatter the keys, sort and add per target
        spikes = (self.R, self.D, d.hist_idx, d.hist_n, d.hist_step, self.stride, d.off, d.syn_tgt, d.blocked, i64(3 * self.stride_tgt))
        tblk = min(4096, (int(d.tcount.shape[0]) + 255) // 256)
        L("sim_synapses", "deliver_count", 1024, 128, (d.ctl, d.cnt) + spikes + (d.tcount, d.touched))
        L("sim_synapses", "deliver_place", tblk, 256, (d.ctl, d.cnt, d.touched, d.tcount, d.tbase, d.tfill, self.ev_cap))
        L("sim_synapses", "deliver_scatter", 1024, 128, (d.ctl,) + spikes + (self.L, d.tbase, d.tfill, d.ev, self.ev_cap))
        L("sim_synapses", "deliver_sum", tblk, 256, (d.ctl, d.cnt, self.R, self.D, d.hist_idx, self.stride, d.off, d.syn_w, d.tgt_flat,
                                                     d.syn_fk, d.gk, self.L, d.touched, d.tcount, d.tbase, d.ev, self.ev_cap))
        if self.plastic and self.any_late:  # rules that deliver the weight before their update
            L("sim_synapses", "plastic_events", 1024, 128, pre_events[:2] + (i64(1),) + pre_events[3:])
        if self.plastic:
            self._rule_events(post=False, late=True)
        if self.plastic and self.builtin_plastic:
            L("sim_synapses", "plastic_events", 1024, 128, (
                d.ctl, i64(1), i64(-1), self.R, self.DD, d.hist_idx, d.hist_n, d.hist_step, self.stride, d.post_off, d.post_syn, d.post_proj,
                d.post_other, d.post_dly, d.syn_w, d.proj_kind, d.proj_par, self.npar, d.proj_bank, d.elig, d.elig_post, d.ntr) + banks + (d.elig_scale,))
        if self.plastic:
            self._rule_events(post=True, late=False)
        if self.any_eligibility:
            L("sim_synapses", "periodic", 1024, 256, (d.ctl, self.P, d.proj_kind, d.proj_par, self.npar, d.proj_ptr, d.proj_syn,
                                                      d.period_next, d.period_last, d.modulator, d.elig, d.elig_post,
                                                      d.syn_postpos, d.syn_w, self.dt))
        has_st = d.st_idx.shape[0] > 0
        if has_st:
            L("sim_step", "record_state", 16, 128, (d.ctl, d.cnt, d.st_idx, d.st_var, i64(d.st_idx.shape[0]), i64(st_every),
                                                    b.st_out, d.v, d.u, d.x1, d.x2, d.gen_state, d.npop, d.pop_fr, d.fr_P, d.fr_F,
                                                    self.FW))
        L("sim_step", "step_end", 1, 1, (d.ctl, d.cnt, self.P, d.proj_kind, d.proj_par, self.npar, d.period_next, d.period_last,
                                         d.modulator, d.mod_decay, i64(d.modulator.shape[0]), i64(has_st), i64(st_every),
                                         i64(self.sampled), i64(sm_every), self.dt))

    def _rule_events(self, post: bool, late: bool) -> None:
        """The pre- (``post`` False; ``late``: of rules delivering before their update) or postsynaptic events of the
        step for every generated rule module that has them (kernels/synapse_model.cu.in, ``<name>_events``)."""
        d, i64 = self.d, np.int64
        if post:
            lists = (self.DD, d.hist_idx, d.hist_n, d.hist_step, self.stride, d.post_off, d.post_syn, d.post_proj, d.post_other, d.post_dly)
        else:
            lists = (self.DA, d.hist_idx, d.hist_n, d.hist_step, self.stride, d.pre_off, d.pre_syn, d.pre_proj, d.pre_other, d.pre_dly)
        for r in self.rules:
            if not (r.on_post if post else r.on_pre and (r.late if late else r.early)):
                continue
            self.dev.launch(r.name, r.events, 1024, 128, (d.ctl, i64(post), i64(late), r.slot, self.R) + lists + (
                d.proj_slot, d.proj_par, self.npar, self.dt, d.syn_tab))

    def run_chunk(self, t0: int, k: int, k_max: int, spk_cap: int, st_every: int, sm_every: int, cur_t0: int):
        """Advance up to ``k`` steps from ``t0``; returns ``(steps_done, spk_step, spk_idx, pop_counts, st_rows, sm_rows, events)``,
        the spikes in the CPU loop's order."""
        with self.dev.context():
            return self._run_chunk(t0, k, k_max, spk_cap, st_every, sm_every, cur_t0)

    def _run_chunk(self, t0, k, k_max, spk_cap, st_every, sm_every, cur_t0):
        b = self._buffers(k_max, spk_cap, st_every, sm_every)
        self.cur_t0 = np.int64(cur_t0)
        d = self.d
        self._model_table()
        ctl = np.zeros(8, np.int64)
        ctl[[_T, _T0, _STOP, _NREC, _SPK_CAP]] = [t0, t0, t0 + k, self.n_rec, spk_cap]
        ctl[_ST_CAP], ctl[_SM_CAP] = b.st_out.shape[0], b.sm_out.shape[0]
        self.dev.copy_in(d.ctl, ctl)
        d.cnt[...] = 0
        b.pop_counts[...] = 0
        # the kernels are about to change these: what the device holds is no longer the host copy
        for key in _WRITTEN + (("syn_w",) + _PLASTIC if self.plastic else ()):
            self._mirror.pop(key, None)
        self._hist_seen = None
        key = (id(b), st_every, sm_every, int(cur_t0))
        G = self.GRAPH_STEPS
        if self._graph is None or self._graph_key != key:
            def body():
                for _ in range(G):
                    self._step(b, st_every, sm_every)
            self._graph = self.dev.capture(body)
            self._graph_key = key
        for _ in range((k + G - 1) // G):
            self.dev.replay(self._graph)
        ctl_out = self.dev.get(d.ctl)
        cnt = self.dev.get(d.cnt)
        got = int(ctl_out[_T]) - t0
        if cnt[7]:
            raise RuntimeError(f"GPU delivery: a step's synaptic events overflowed the event buffer ({int(self.ev_cap)} places) "
                               f"between steps {t0} and {t0 + got}; its inputs are wrong (a bug in GPUEngine's worst-case size)")
        nspk, nst, nsm = min(int(cnt[0]), spk_cap), int(cnt[1]), int(cnt[2])
        get = self.dev.get
        return (got, get(b.spk_step[:nspk]), get(b.spk_idx[:nspk]), get(b.pop_counts[:got]), get(b.st_out[:nst]),
                get(b.sm_out[:nsm]), int(cnt[3]))
