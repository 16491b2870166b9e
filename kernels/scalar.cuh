// Storage and arithmetic types of the training-layer kernels (lif.cu, alif.cu, integer_lif.cu, ultralif.cu).
// -DSCALAR_T=float | double | __half | __nv_bfloat16 picks the storage type (default float); arithmetic (acc_t)
// is double for double storage and float otherwise; load/store convert between the two. The half types exist
// only under CUDA compilers (the tests' host emulation compiles these sources as C++ in float and double).
#pragma once
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#define NEURO_HALF_TYPES 1
#endif

#ifndef SCALAR_T
#define SCALAR_T float
#endif

typedef SCALAR_T scalar_t;

template <typename T> struct Acc { typedef float type; };
template <> struct Acc<double> { typedef double type; };
typedef Acc<scalar_t>::type acc_t;

__device__ __forceinline__ acc_t load(const float* p) { return *p; }
__device__ __forceinline__ acc_t load(const double* p) { return *p; }
#ifdef NEURO_HALF_TYPES
__device__ __forceinline__ acc_t load(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ acc_t load(const __nv_bfloat16* p) { return __bfloat162float(*p); }
#endif
__device__ __forceinline__ void store(float* p, acc_t v) { *p = (float)v; }
__device__ __forceinline__ void store(double* p, acc_t v) { *p = (double)v; }
#ifdef NEURO_HALF_TYPES
__device__ __forceinline__ void store(__half* p, acc_t v) { *p = __float2half((float)v); }
__device__ __forceinline__ void store(__nv_bfloat16* p, acc_t v) { *p = __float2bfloat16((float)v); }
#endif
