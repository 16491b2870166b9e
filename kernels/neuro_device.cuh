// Portability layer of the simulator kernels: the same source compiles as CUDA (NVRTC / nvcc) and as plain
// C++ for the host emulation used by the tests on machines without a GPU (neuro/sim/engine_gpu.py HostEmulation).
//
// Kernels are written with grid-stride loops only (no shared memory, no __syncthreads, no warp intrinsics), so
// they are correct for any launch geometry. The host emulation has two modes:
//   - sequential (default): every loop starts at 0 with stride 1, a kernel runs as its sequential loop nest and
//     atomics are plain read-modify-writes. Checks indexing, ordering between kernels and the arithmetic.
//   - threaded (-DNEURO_EMULATE_THREADS): each launch runs blocks x lanes real OS threads (a small geometry),
//     started in a random order, every grid-stride step may yield the CPU, atomics are real atomics. Built with
//     -fsanitize=thread, ThreadSanitizer reports any two unsynchronised accesses of one location by two threads of
//     a launch, one of them a plain write: the races a GPU would have (lost updates, torn reads).
// The kernels avoid races by construction: within one launch a location is written by at most one thread unless
// through atomic_add, and the order of floating-point sums never depends on the thread schedule.
#pragma once

typedef long long i64;
typedef unsigned long long u64;

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
#define NEURO_THREADED(name)

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
NEURO_DEVICE long long bits_of(double x) { long long b; std::memcpy(&b, &x, 8); return b; }
NEURO_DEVICE double double_of(long long b) { double x; std::memcpy(&x, &b, 8); return x; }

#ifndef NEURO_EMULATE_THREADS

#define GRID_START 0LL
#define GRID_STRIDE 1LL
#define BLOCK_START 0LL
#define BLOCK_STRIDE 1LL
#define LANE_START 0LL
#define LANE_STRIDE 1LL
#define FIRST_THREAD true
#define FIRST_LANE true
#define NEURO_THREADED(name)

NEURO_DEVICE double atomic_add(double* p, double v) { double old = *p; *p = old + v; return old; }
NEURO_DEVICE long long atomic_add(long long* p, long long v) { long long old = *p; *p = old + v; return old; }

#else  // threaded emulation

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace neuro_emu {
inline long long n_blocks = 1, n_lanes = 1, yield_permille = 0;  // set before a launch's threads start
inline thread_local long long block = 0, lane = 0;
inline thread_local unsigned long long rng = 1;

// evaluated at every grid-stride step: sometimes give the CPU away, so threads interleave at random points
inline long long step() {
    if (yield_permille > 0) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if ((long long)(rng % 1000) < yield_permille) std::this_thread::yield();
    }
    return 0;
}

template <class T> T arg_from(u64 w) {
    if constexpr (std::is_pointer_v<T>) {
        return reinterpret_cast<T>(static_cast<std::uintptr_t>(w));
    } else {
        static_assert(sizeof(T) == 8, "kernel arguments are 8-byte scalars or pointers");
        T x;
        std::memcpy(&x, &w, 8);
        return x;
    }
}

template <class... A, std::size_t... I> void call(void (*f)(A...), const u64* argv, std::index_sequence<I...>) {
    f(arg_from<A>(argv[I])...);
}

// One launch: nb x nl threads, created in an order drawn from seed; each runs the kernel with its own ids.
// Thread creation and join order the launch after what came before and before what comes after (as a kernel
// boundary on a stream); the threads of one launch are not ordered among themselves.
template <class... A> void launch(void (*f)(A...), const u64* argv, long long nb, long long nl, u64 seed, long long yield_pm) {
    n_blocks = nb;
    n_lanes = nl;
    yield_permille = yield_pm;
    std::vector<long long> order(nb * nl);
    std::iota(order.begin(), order.end(), 0LL);
    std::mt19937_64 gen(seed);
    std::shuffle(order.begin(), order.end(), gen);
    std::vector<std::thread> threads;
    threads.reserve(order.size());
    for (long long id : order) {
        threads.emplace_back([=] {
            block = id / nl;
            lane = id % nl;
            rng = (seed ^ (0x9E3779B97F4A7C15ULL * (u64)(id + 1))) | 1ULL;
            call(f, argv, std::index_sequence_for<A...>{});
        });
    }
    for (auto& t : threads) t.join();
}
}  // namespace neuro_emu

#define GRID_START (neuro_emu::block * neuro_emu::n_lanes + neuro_emu::lane)
#define GRID_STRIDE (neuro_emu::step() + neuro_emu::n_blocks * neuro_emu::n_lanes)
#define BLOCK_START (neuro_emu::block)
#define BLOCK_STRIDE (neuro_emu::step() + neuro_emu::n_blocks)
#define LANE_START (neuro_emu::lane)
#define LANE_STRIDE (neuro_emu::step() + neuro_emu::n_lanes)
#define FIRST_THREAD (neuro_emu::block == 0 && neuro_emu::lane == 0)
#define FIRST_LANE (neuro_emu::lane == 0)
// the entry point neuro/sim/engine_gpu.py calls: name__threads(argv, blocks, lanes, seed, yield per mille), the
// kernel's arguments as 8-byte words (pointers, integers, doubles' bits)
#define NEURO_THREADED(name)                                                                                    \
    extern "C" void name##__threads(const u64* argv, long long nb, long long nl, u64 seed, long long yield_pm) { \
        neuro_emu::launch(name, argv, nb, nl, seed, yield_pm);                                                  \
    }

NEURO_DEVICE double atomic_add(double* p, double v) {
    double old, nv;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    do {
        nv = old + v;
    } while (!__atomic_compare_exchange(p, &old, &nv, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return old;
}
NEURO_DEVICE long long atomic_add(long long* p, long long v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }

#endif  // NEURO_EMULATE_THREADS
#endif  // host emulation

// Index type of the delivery targets (int when the target matrix has < 2^31 entries): -DTGT_T=...
#ifndef TGT_T
#define TGT_T int
#endif
// Index type of the plastic event lists and syn_postpos (Network._build_traces: int when they fit): -DEV_T=...
#ifndef EV_T
#define EV_T int
#endif
// Type of the synapses' frame keys syn_fk (Network._build_frames: short when they fit): -DFK_T=...
#ifndef FK_T
#define FK_T short
#endif
