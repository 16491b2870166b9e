// Compiles the training-layer CUDA kernels (kernels/lif.cu, alif.cu, integer_lif.cu, ultralif.cu) as plain C++ for
// the tests' host emulation (tests/ops/cuda_emulation.py): the CUDA qualifiers become nothing, and the thread and
// block indices are globals the emulator sets before each call, one call per thread. These kernels are one thread
// per neuron with no shared memory, synchronisation or atomics, so a sequential run computes what the GPU does
// (up to the last ulp of expf and friends, which the GPU's libdevice computes differently).
#pragma once
#include <math.h>

struct neuro_dim3 { unsigned x, y, z; };
extern "C" {
neuro_dim3 threadIdx = {0, 0, 0};
neuro_dim3 blockIdx = {0, 0, 0};
neuro_dim3 blockDim = {1, 1, 1};
neuro_dim3 gridDim = {1, 1, 1};
}
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
