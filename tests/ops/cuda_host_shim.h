// Compiles the training-layer CUDA kernels (kernels/lif.cu, alif.cu, integer_lif.cu, ultralif.cu) as plain C++ for
// the tests' host emulation (tests/ops/cuda_emulation.py): the CUDA qualifiers become nothing, and the thread and
// block indices are globals the emulator sets before each call, one call per thread. These kernels are one thread
// per neuron with no shared memory, synchronisation or atomics, so a sequential run computes what the GPU does
// (up to the last ulp of expf and friends, which the GPU's libdevice computes differently).
//
// The half types: __half is the compiler's _Float16 (IEEE binary16, as CUDA's), __nv_bfloat16 a 16-bit record
// converted by hand; both conversions from float round to nearest, ties to even, as __float2half and
// __float2bfloat16 do. Where the host compiler has no _Float16, the kernels compile in float and double only.
#pragma once
#include <math.h>
#include <string.h>

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

#ifdef __FLT16_MAX__
#define NEURO_HALF_TYPES 1
typedef _Float16 __half;
struct __nv_bfloat16 { unsigned short bits; };
inline float __half2float(__half h) { return (float)h; }
inline __half __float2half(float f) { return (__half)f; }
inline float __bfloat162float(__nv_bfloat16 h) {
    const unsigned u = (unsigned)h.bits << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
inline __nv_bfloat16 __float2bfloat16(float f) {
    unsigned u;
    memcpy(&u, &f, sizeof u);
    __nv_bfloat16 h;
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN stays a (quiet) NaN
        h.bits = (unsigned short)((u >> 16) | 0x40u);
        return h;
    }
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
    h.bits = (unsigned short)(u >> 16);
    return h;
}
#endif
