// Portability layer of the simulator kernels: the same source compiles as CUDA (NVRTC / nvcc) and as plain
// C++ for the host emulation used by the tests on machines without a GPU (neuro/sim/gpu_host.py).
//
// Kernels are written with grid-stride loops only (no shared memory, no __syncthreads, no warp
// intrinsics); under emulation every loop starts at 0 with stride 1, so a kernel runs as its sequential
// loop nest and atomics are plain read-modify-writes. The emulation checks indexing, ordering between
// kernels and the arithmetic; it cannot see races between threads, which the design avoids instead
// (each synapse is written by at most one thread per kernel, shared sums go through atomics).
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)

#define NEURO_KERNEL extern "C" __global__
#define NEURO_DEVICE __device__ __forceinline__
// one item per thread over the whole grid
#define GRID_START ((long long)blockIdx.x * blockDim.x + threadIdx.x)
#define GRID_STRIDE ((long long)gridDim.x * blockDim.x)
// one item per block, and the block's threads over that item's inner range
#define BLOCK_START ((long long)blockIdx.x)
#define BLOCK_STRIDE ((long long)gridDim.x)
#define LANE_START ((long long)threadIdx.x)
#define LANE_STRIDE ((long long)blockDim.x)
#define FIRST_THREAD (blockIdx.x == 0 && threadIdx.x == 0)
#define FIRST_LANE (threadIdx.x == 0)

NEURO_DEVICE double atomic_add(double* p, double v) { return atomicAdd(p, v); }
NEURO_DEVICE long long atomic_add(long long* p, long long v) {
    return (long long)atomicAdd((unsigned long long*)p, (unsigned long long)v);
}
NEURO_DEVICE long long bits_of(double x) { return __double_as_longlong(x); }
NEURO_DEVICE double double_of(long long b) { return __longlong_as_double(b); }

#else  // host emulation

#include <cmath>
#include <cstring>
using std::exp;
using std::floor;
using std::pow;
using std::sqrt;
using std::fabs;
using std::fmin;
using std::fmax;

#define NEURO_KERNEL extern "C"
#define NEURO_DEVICE static inline
#define GRID_START 0LL
#define GRID_STRIDE 1LL
#define BLOCK_START 0LL
#define BLOCK_STRIDE 1LL
#define LANE_START 0LL
#define LANE_STRIDE 1LL
#define FIRST_THREAD true
#define FIRST_LANE true

NEURO_DEVICE double atomic_add(double* p, double v) { double old = *p; *p = old + v; return old; }
NEURO_DEVICE long long atomic_add(long long* p, long long v) { long long old = *p; *p = old + v; return old; }
NEURO_DEVICE long long bits_of(double x) { long long b; std::memcpy(&b, &x, 8); return b; }
NEURO_DEVICE double double_of(long long b) { double x; std::memcpy(&x, &b, 8); return x; }

#endif

typedef long long i64;
typedef unsigned long long u64;

// Index type of the delivery targets (int when the target matrix has < 2^31 entries): -DTGT_T=...
#ifndef TGT_T
#define TGT_T int
#endif
