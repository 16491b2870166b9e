// Surrogate derivatives of the spike function; the same table as
// neuro/ops/surrogate/reference.py (x = h - v_th, alpha = slope).
// T is the kernel's arithmetic type (acc_t): float for float / half / bfloat16 storage, double for double, as the
// Numba kernels compute in the tensors' precision (a float64 layer's gradient is not rounded to float32).
#pragma once

__device__ __forceinline__ float neuro_exp(float x) { return expf(x); }
__device__ __forceinline__ double neuro_exp(double x) { return exp(x); }
__device__ __forceinline__ float neuro_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double neuro_abs(double x) { return fabs(x); }
__device__ __forceinline__ float neuro_max(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double neuro_max(double a, double b) { return fmax(a, b); }

template <typename T>
__device__ __forceinline__ T neuro_surrogate_grad(T x, int kind, T alpha) {
    const T one = (T)1, zero = (T)0;
    switch (kind) {
    case 0: {  // sigmoid
        const T s = one / (one + neuro_exp(-alpha * x));
        return alpha * s * (one - s);
    }
    case 1: {  // atan
        const T z = (T)1.5707963267948966 * alpha * x;
        return (T)0.5 * alpha / (one + z * z);
    }
    case 2: {  // fast sigmoid / SuperSpike
        const T d = one + alpha * neuro_abs(x);
        return one / (d * d);
    }
    case 3:  // triangle
        return alpha * neuro_max(zero, one - alpha * neuro_abs(x));
    case 4:  // rectangle
        return neuro_abs(x) < (T)0.5 / alpha ? alpha : zero;
    case 5: {  // erf
        const T z = alpha * x;
        return alpha * (T)0.5641895835477563 * neuro_exp(-z * z);
    }
    case 6:  // piecewise quadratic
        return neuro_max(zero, alpha - alpha * alpha * neuro_abs(x));
    default:
        return zero;
    }
}
