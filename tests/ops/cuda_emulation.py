"""Host emulation of the training-layer CUDA kernels, for tests on machines without a GPU.

``emulate(monkeypatch, module)`` points a CuPy launcher module (``neuro.ops.<op>.cuda``) at the same ``.cu``
source compiled by the host C++ compiler (``cuda_host_shim.h`` turns the CUDA qualifiers into nothing and the
thread / block indices into globals): ``to_cupy`` passes CPU tensors through, ``get_kernel`` compiles the
source with the launcher's ``-D`` options, ``_launch`` calls the kernel once per thread. Everything else in
the launcher — buffer allocation, argument order and types, post-processing — runs as written, so a test that
compares its outputs with the Numba kernels' checks the CUDA path short of the GPU itself.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from neuro.paths import kernel_dir

SHIM = Path(__file__).with_name("cuda_host_shim.h")


def compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


@functools.cache
def has_half_types() -> bool:
    """Whether the host compiler gives the shim its half types (``_Float16``): float16 / bfloat16 kernels can be emulated."""
    cxx = compiler()
    if cxx is None:
        return False
    probe = '#ifndef NEURO_HALF_TYPES\n#error no half types\n#endif\nint main() { return 0; }\n'
    res = subprocess.run([cxx, "-fsyntax-only", "-x", "c++", "-include", str(SHIM), "-"], input=probe, capture_output=True, text=True)
    return res.returncode == 0


class _Dim3(ctypes.Structure):
    _fields_ = [("x", ctypes.c_uint), ("y", ctypes.c_uint), ("z", ctypes.c_uint)]


_LIBS: dict[str, ctypes.CDLL] = {}


def _library(name: str, options: tuple[str, ...]) -> ctypes.CDLL:
    # a name is a source of kernels/, or the absolute path of a generated one (neuro.dynamics.torchgen_cuda)
    src = Path(name) if os.path.isabs(name) else kernel_dir() / f"{name}.cu"
    text = b"".join(p.read_bytes() for p in sorted(kernel_dir().glob("*.cu*"))) + SHIM.read_bytes()
    if src.parent != kernel_dir():
        text += src.read_bytes()
    key = hashlib.sha256(text + repr((name, options)).encode()).hexdigest()[:16]
    if key in _LIBS:
        return _LIBS[key]
    out_dir = Path(tempfile.gettempdir()) / "neuro_emulated_nn_kernels"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"{src.stem}-{key}.so"
    if not out.exists():
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        # -ffp-contract=off: no fused a*b+c, as Numba computes without fastmath
        cmd = [compiler(), "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-x", "c++", "-include", str(SHIM), f"-I{kernel_dir()}",
               *options, "-o", str(tmp), str(src)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"host compile of {src.name} failed ({' '.join(cmd)}):\n{res.stderr}")
        os.replace(tmp, out)
    _LIBS[key] = lib = ctypes.CDLL(str(out))
    return lib


class HostKernel:
    """One kernel function of a host-compiled ``.cu``; ``launch(n, args)`` runs threads 0..n-1 in order."""

    def __init__(self, name: str, function: str, options: tuple[str, ...]):
        self.lib = _library(name, tuple(options))
        self.fn = getattr(self.lib, function)
        self.fn.restype = None
        self.block_idx = _Dim3.in_dll(self.lib, "blockIdx")
        self.calls = 0

    @staticmethod
    def _arg(a):
        if isinstance(a, torch.Tensor):
            if a.device.type != "cpu" or not a.is_contiguous():
                raise ValueError("emulated kernels take contiguous CPU tensors")
            return ctypes.c_void_p(a.data_ptr())
        for np_type, c_type in ((np.int32, ctypes.c_int32), (np.int64, ctypes.c_int64), (np.float32, ctypes.c_float),
                                (np.float64, ctypes.c_double)):
            if isinstance(a, np_type):
                return c_type(a.item())
        raise TypeError(f"kernel argument of type {type(a).__name__}: the launchers pass tensors and numpy scalars")

    def launch(self, n: int, args) -> None:
        c_args = [self._arg(a) for a in args]
        self.calls += 1
        for i in range(n):
            self.block_idx.x = i  # blockDim.x is 1: thread i is block i
            self.fn(*c_args)


def emulate(monkeypatch, module) -> list[HostKernel]:
    """Run launcher ``module``'s kernels on the host (see the module doc); returns the kernels made (for call counts)."""
    made: list[HostKernel] = []

    def get_kernel(name, function, options=(), device=None):
        k = HostKernel(name, function, tuple(options))
        made.append(k)
        return k

    monkeypatch.setattr(module, "to_cupy", lambda t: t)
    monkeypatch.setattr(module, "get_kernel", get_kernel)
    monkeypatch.setattr(module, "_launch", lambda kernel, n, device, args: kernel.launch(n, args))
    return made
