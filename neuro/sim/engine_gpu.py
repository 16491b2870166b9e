"""The simulator's time loop on a GPU: the kernels of ``kernels/sim_step.cu`` and ``kernels/sim_synapses.cu``
launched step after step from CUDA graphs, the state resident in device memory during a run.

One step is a fixed sequence of kernels (the order of :mod:`neuro.sim.engine_cpu`)::

    step_begin  sample_synapses*  update_neurons  generators*  record_spikes  decay_traces*  bump_traces*
    plastic_events(pre)*  deliver  plastic_events(post)*  periodic*  record_state*  step_end

(``*`` only when the network has them). Each kernel reads the step counter from a control block in
device memory and does nothing once the run is halted, so the sequence of ``G`` steps is captured once
as a CUDA graph and replayed: one graph launch per ``G`` steps instead of ~10 kernel launches per step.
A run stops early, like the CPU loop, when the next step's spikes might not fit the spike buffer; the
driver then collects the chunk and goes on with a larger buffer.

The same driver runs on two devices: :class:`CudaDevice` (CuPy, NVRTC) and :class:`HostEmulation`, the
same ``.cu`` sources compiled by the system C++ compiler with every grid-stride loop run sequentially
(see ``kernels/neuro_device.cuh``). The emulation is how a machine without a GPU tests the GPU path:
indexing, kernel order, step control and the arithmetic (bit-identical random numbers included) are
checked against the Numba loop; thread races are not (the kernels avoid them by construction).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
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

_KERNELS = {"sim_step": ("step_begin", "update_neurons", "generators", "record_spikes", "record_state", "step_end"),
            "sim_synapses": ("deliver", "decay_traces", "bump_traces", "plastic_events", "periodic", "sample_synapses")}
_SOURCES = tuple(_KERNELS)
# ctl fields (kernels/sim_step.cu)
_T, _HALT, _T0, _STOP, _NREC, _SPK_CAP, _ST_CAP, _SM_CAP = range(8)
_HALT_FULL = 2


class HostEmulation:
    """The GPU kernels compiled as C++ for this CPU and run sequentially (testing without a GPU; slow)."""

    name = "emulate"
    xp = np

    _lock = threading.Lock()
    _libs: dict[str, ctypes.CDLL] = {}

    def __init__(self, tgt_type: str = "int"):
        self.options = (f"-DTGT_T={tgt_type}",)
        self._mods = {src: self._library(src) for src in _SOURCES}

    @classmethod
    def compiler(cls) -> str | None:
        return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")

    def _library(self, src: str) -> ctypes.CDLL:
        cxx = self.compiler()
        if cxx is None:
            raise RuntimeError("the GPU-kernel emulation needs a C++ compiler (g++, c++ or clang++; or set $CXX); none found")
        kdir = kernel_dir()
        text = b"".join(p.read_bytes() for p in sorted(kdir.glob("*.cu*")))
        key = hashlib.sha256(text + repr((src, self.options, cxx)).encode()).hexdigest()[:16]
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
                cmd = [cxx, "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-x", "c++", f"-I{kdir}", *self.options,
                       "-o", tmp.name, str(kdir / f"{src}.cu")]
                res = subprocess.run(cmd, capture_output=True, text=True)
                if res.returncode != 0:
                    os.unlink(tmp.name)
                    raise RuntimeError(f"compiling {src}.cu for the host emulation failed ({' '.join(cmd)}):\n{res.stderr}")
                os.replace(tmp.name, out)
            lib = ctypes.CDLL(str(out))
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

    def launch(self, src: str, name: str, grid: int, block: int, args: tuple) -> None:
        fn = getattr(self._mods[src], name)
        fn.restype = None
        fn(*[self._arg(a) for a in args])

    def context(self):
        return contextlib.nullcontext()

    def capture(self, body):
        """No graphs on the host: the body itself is the replay."""
        return body

    def replay(self, graph) -> None:
        graph()

    def asarray(self, a):
        return np.array(a, copy=True)

    def get(self, a):
        return np.asarray(a)

    def synchronize(self) -> None:
        pass


class CudaDevice:
    """CuPy arrays and NVRTC-compiled kernels on the current CUDA device; steps replayed from CUDA graphs."""

    name = "cuda"

    def __init__(self, tgt_type: str = "int"):
        from ..kernel_loader import _import_cupy, load_module

        self.xp = cupy = _import_cupy()  # a clear error where CuPy is missing
        self.options = ("--fmad=false", f"-DTGT_T={tgt_type}")
        self._mods = {src: load_module(src, self.options) for src in _SOURCES}
        # every function loaded now: nothing is loaded while a graph is being captured
        self._fns: dict[tuple[str, str], Any] = {(src, fn): self._mods[src].get_function(fn) for src, fns in _KERNELS.items() for fn in fns}
        self.stream = cupy.cuda.Stream(non_blocking=True)

    def context(self):
        """Every transfer, fill and launch of a run goes to one stream (a non-blocking stream does not wait for others)."""
        return self.stream

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
           "pop_fr", "fr_P", "fr_F", "fr_G", "syn_fk")
_PARAMS = ("i_ext", "sigma", "rate", "na", "nb", "nc", "nd")  # per-neuron parameters, may change between runs
_PLASTIC = ("elig", "elig_post", "ntr")
_DYNAMIC = ("tgt", "u", "refrac", "syn_w", "modulator", "period_next", "period_last", "hist_idx", "hist_n", "hist_step", "elig_scale")


class GPUEngine:
    """Device copies of a built network's arrays (``s`` of :class:`neuro.sim.Network`) and the step loop over them."""

    GRAPH_STEPS = 16  # steps per captured graph

    def __init__(self, s: SimpleNamespace, n_pops: int, seed: int, dt: float, device):
        self.dev = device
        self.n = int(s.v.shape[0])
        self.n_pops = max(1, n_pops)
        self.seed = np.uint64(seed)
        self.dt = np.float64(dt)
        self.plastic = s.pre_syn.size > 0
        self.sampled = s.sm_idx.size > 0
        d = SimpleNamespace()
        up = device.asarray
        for key in _STATIC:
            a = getattr(s, key)
            if key == "syn_tgt":
                a = a.astype(np.int32 if "-DTGT_T=int" in device.options else np.int64)
            elif key == "syn_fk":
                a = a.astype(np.int32)
            elif a.dtype == np.int32:  # the kernels take 64-bit indices elsewhere
                a = a.astype(np.int64)
            setattr(d, key, up(a))
        d.rec_mask = up(s.rec_mask.astype(np.uint8))
        d.ctl = up(np.zeros(8, np.int64))
        d.gk = up(np.ones(1 + 2 * s.fr_P.shape[0]))
        self.NF = np.int64(s.fr_P.shape[0])
        self.FW = np.int64(s.fr_F.shape[2])
        d.cnt = up(np.zeros(4, np.int64))
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
        self.any_late = bool(np.any(s.proj_par[:, 29] != 0.0))
        self.stride_tgt = int(s.tgt.shape[1])  # the v row of the delivery matrix starts at 3 * stride_tgt
        d.blocked = up(np.zeros(max(self.n, 1), np.uint8))
        self.n_rec = int(s.rec_mask.sum()) + int(s.hist_idx.shape[1] - s.v.shape[0])  # worst case per step: + repeated source spikes
        self._graph = None
        self._graph_key = None
        self._bufs = None

    # ------------------------------------------------------------------ state transfer
    def upload(self, s: SimpleNamespace) -> None:
        """Copy the per-run state and parameters of ``s`` to the device (start of a run, after a callback)."""
        with self.dev.context():
            self._upload(s)

    def _upload(self, s: SimpleNamespace) -> None:
        d, up = self.d, self.dev.asarray
        if not hasattr(s, "elig_scale"):
            s.elig_scale = np.ones(s.proj_kind.shape[0])
        for key in _DYNAMIC + _PARAMS:
            setattr(d, key, up(getattr(s, key)))
        for key in _PLASTIC:  # non-plastic networks pass one-element placeholders
            setattr(d, key, up(getattr(s, key) if self.plastic else np.zeros(1)))
        d.pop_extra = up(s.pop_extra)
        d.v, d.x1, d.x2, d.isyn = d.tgt[3, : self.n], d.tgt[0, : self.n], d.tgt[1, : self.n], d.tgt[2, : self.n]
        d.tgt_flat = d.tgt.reshape(-1)
        self._graph = None  # arrays moved: capture again

    def download(self, s: SimpleNamespace) -> None:
        """Copy the device state back into the NumPy arrays of ``s`` (in place, so views stay valid)."""
        with self.dev.context():
            self._download(s)

    def _download(self, s: SimpleNamespace) -> None:
        d, get = self.d, self.dev.get
        keys = ("tgt", "u", "refrac", "modulator", "period_next", "period_last", "hist_idx", "hist_n", "hist_step", "elig_scale")
        if self.plastic:
            keys += ("syn_w",) + _PLASTIC
        for key in keys:
            getattr(s, key)[...] = get(getattr(d, key))
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
        if self.sampled:
            L("sim_synapses", "sample_synapses", 64, 128, (
                d.ctl, d.cnt, d.sm_idx, d.sm_kind, d.sm_aux, i64(d.sm_idx.shape[0]), i64(sm_every), b.sm_out, d.syn_proj,
                d.syn_w, d.proj_kind, d.proj_par, self.npar, d.elig, d.elig_post, d.syn_postpos, d.modulator, d.period_last, d.ntr,
                d.bank_base,
                d.bank_len, d.bank_n, d.bank_decay, self.dt))
        L("sim_step", "update_neurons", nblk, 256, (
            d.ctl, i64(n), self.R, d.hist_idx, d.hist_n, self.stride, self.seed, self.dt,
            d.npop, d.pop_model, d.pop_par, self.pop_npar, d.pop_extra,
            d.v, d.u, d.x1, d.x2, d.isyn, d.refrac, d.i_ext, d.sigma, d.rate, d.na, d.nb, d.nc, d.nd,
            d.cur_col, d.cur_table, i64(d.cur_table.shape[0]), i64(d.cur_table.shape[1]), self.cur_t0,
            d.pop_fr, d.fr_P, d.fr_F, self.FW, d.blocked))
        if d.gen_steps.shape[0]:
            L("sim_step", "generators", 64, 256, (d.ctl, self.R, d.hist_idx, d.hist_n, self.stride, d.gen_steps, d.gen_idx,
                                                  i64(d.gen_steps.shape[0])))
        L("sim_step", "record_spikes", nblk, 256, (d.ctl, d.cnt, self.R, d.hist_idx, d.hist_n, self.stride, d.npop,
                                                   i64(self.n_pops), b.pop_counts, d.rec_mask, b.spk_step, b.spk_idx))
        banks = (d.bank_base, d.bank_len, d.bank_n, d.bank_lo, d.bank_decay)
        if self.plastic:  # the per-neuron traces move to step t, then the presynaptic side of the rules
            L("sim_synapses", "decay_traces", min(4096, (int(self.bank_total) + 255) // 256), 256, (
                d.ctl, self.n_banks, self.bank_total, d.ntr, d.bank_base, d.bank_len, d.bank_n, d.bank_decay))
            L("sim_synapses", "bump_traces", nblk, 256, (d.ctl, self.R, d.hist_idx, d.hist_n, self.stride, self.n_banks, d.ntr,
                                                         d.bank_base, d.bank_len, d.bank_n, d.bank_lo, d.bank_nearest))
            pre_events = (d.ctl, i64(0), i64(0), self.R, self.DA, d.hist_idx, d.hist_n, d.hist_step, self.stride, d.pre_off, d.pre_syn,
                          d.pre_proj, d.pre_other, d.pre_dly, d.syn_w, d.proj_kind, d.proj_par, self.npar, d.proj_bank, d.elig,
                          d.elig_post, d.ntr) + banks + (d.elig_scale,)
            L("sim_synapses", "plastic_events", 1024, 128, pre_events)
        L("sim_synapses", "deliver", 1024, 128, (d.ctl, d.cnt, self.R, self.D, d.hist_idx, d.hist_n, d.hist_step, self.stride,
                                                 d.off, d.syn_tgt, d.syn_w, d.tgt_flat, d.syn_fk, d.gk, d.blocked, i64(3 * self.stride_tgt)))
        if self.plastic and self.any_late:  # rules that deliver the weight before their update
            L("sim_synapses", "plastic_events", 1024, 128, pre_events[:2] + (i64(1),) + pre_events[3:])
        if self.plastic:
            L("sim_synapses", "plastic_events", 1024, 128, (
                d.ctl, i64(1), i64(-1), self.R, self.DD, d.hist_idx, d.hist_n, d.hist_step, self.stride, d.post_off, d.post_syn, d.post_proj,
                d.post_other, d.post_dly, d.syn_w, d.proj_kind, d.proj_par, self.npar, d.proj_bank, d.elig, d.elig_post, d.ntr) + banks + (d.elig_scale,))
        if self.any_eligibility:
            L("sim_synapses", "periodic", 1024, 256, (d.ctl, self.P, d.proj_kind, d.proj_par, self.npar, d.proj_ptr, d.proj_syn,
                                                      d.period_next, d.period_last, d.modulator, d.elig, d.elig_post,
                                                      d.syn_postpos, d.syn_w, self.dt))
        has_st = d.st_idx.shape[0] > 0
        if has_st:
            L("sim_step", "record_state", 16, 128, (d.ctl, d.cnt, d.st_idx, d.st_var, i64(d.st_idx.shape[0]), i64(st_every),
                                                    b.st_out, d.v, d.u, d.x1, d.x2, d.npop, d.pop_fr, d.fr_P, d.fr_F, self.FW))
        L("sim_step", "step_end", 1, 1, (d.ctl, d.cnt, self.P, d.proj_kind, d.proj_par, self.npar, d.period_next, d.period_last,
                                         d.modulator, d.mod_decay, i64(d.modulator.shape[0]), i64(has_st), i64(st_every),
                                         i64(self.sampled), i64(sm_every), self.dt))

    def run_chunk(self, t0: int, k: int, k_max: int, spk_cap: int, st_every: int, sm_every: int, cur_t0: int):
        """Advance up to ``k`` steps from ``t0``; returns ``(steps_done, spk_step, spk_idx, pop_counts, st_rows, sm_rows, events)``."""
        with self.dev.context():
            return self._run_chunk(t0, k, k_max, spk_cap, st_every, sm_every, cur_t0)

    def _run_chunk(self, t0, k, k_max, spk_cap, st_every, sm_every, cur_t0):
        b = self._buffers(k_max, spk_cap, st_every, sm_every)
        self.cur_t0 = np.int64(cur_t0)
        xp, d = self.dev.xp, self.d
        ctl = np.zeros(8, np.int64)
        ctl[[_T, _T0, _STOP, _NREC, _SPK_CAP]] = [t0, t0, t0 + k, self.n_rec, spk_cap]
        ctl[_ST_CAP], ctl[_SM_CAP] = b.st_out.shape[0], b.sm_out.shape[0]
        d.ctl[...] = xp.asarray(ctl)
        d.cnt[...] = 0
        b.pop_counts[...] = 0
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
        nspk, nst, nsm = int(cnt[0]), int(cnt[1]), int(cnt[2])
        get = self.dev.get
        spk_step, spk_idx = get(b.spk_step[:nspk]), get(b.spk_idx[:nspk])
        order = np.lexsort((spk_idx, spk_step))  # GPU threads append in any order: by step, then neuron
        return (got, spk_step[order], spk_idx[order], get(b.pop_counts[:got]), get(b.st_out[:nst]), get(b.sm_out[:nsm]), int(cnt[3]))
