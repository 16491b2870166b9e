"""fastmath.exp64: float64 exponential in plain arithmetic (vectorises without SVML), within 1 ulp of libm, and the
same bits as its CUDA twin kernels/fastmath.cuh (compiled here as host C++ without fused multiply-adds)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest
from numba import njit

from neuro.ops.fastmath import exp64
from neuro.sim.engine_gpu import kernel_dir


@njit(cache=True)
def _exp_all(x, out):
    for i in range(x.shape[0]):
        out[i] = exp64(x[i])


def _grid():
    rng = np.random.default_rng(0)
    return np.concatenate([np.linspace(-745.2, 709.78, 400_001), rng.uniform(-10, 0, 200_000), rng.uniform(-1e-8, 1e-8, 1000),
                           [0.0, -0.0, 1.0, -1.0, 709.78, -708.39, -744.4, 1e-300, -1e-300]])


def test_within_one_ulp_of_libm_and_special_values():
    x = _grid()
    out = np.empty_like(x)
    _exp_all(x, out)
    with np.errstate(over="ignore", under="ignore"):
        ref = np.exp(x)
    normal = ref >= np.finfo(float).tiny
    ulps = np.abs(out[normal] - ref[normal]) / np.spacing(ref[normal])
    assert ulps.max() <= 1.0, ulps.max()
    # subnormal results: rounded once, so within one subnormal step
    assert np.abs(out[~normal] - ref[~normal]).max() <= 5e-324
    sp = np.array([-1e4, -746.0, 710.0, 1e4, np.inf, -np.inf, np.nan])
    o = np.empty_like(sp)
    _exp_all(sp, o)
    assert o[0] == 0.0 and o[1] == 0.0 and np.isinf(o[2]) and np.isinf(o[3]) and np.isinf(o[4]) and o[5] == 0.0 and np.isnan(o[6])


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ to compile the CUDA twin for the host")
def test_cuda_twin_gives_the_same_bits(tmp_path):
    src = tmp_path / "t.cpp"
    src.write_text('#include "fastmath.cuh"\nextern "C" void run(const double* x, double* y, long long n) '
                   "{ for (long long i = 0; i < n; ++i) y[i] = fm_exp(x[i]); }\n")
    lib = tmp_path / "t.so"
    subprocess.run(["g++", "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-x", "c++", f"-I{kernel_dir()}", "-o", str(lib), str(src)],
                   check=True, capture_output=True)
    x = _grid()
    ours, twin = np.empty_like(x), np.empty_like(x)
    _exp_all(x, ours)
    ctypes.CDLL(str(lib)).run(ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(twin.ctypes.data), ctypes.c_longlong(x.size))
    np.testing.assert_array_equal(ours.view(np.int64), twin.view(np.int64))
