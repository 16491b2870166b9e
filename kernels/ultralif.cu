// Multi-step UltraLIF (log-sum-exp soft spike s = sigmoid((h - v_th) / eps)), forward and backward over all T steps.
// The equations are in neuro/ops/ultralif/reference.py; one thread per neuron, x[t * N + i].
// The temperature eps arrives per neuron (the launcher expands a shared value). The forward kernel writes
// the charges h_t (in acc_t) when asked (write_h); the backward kernel recomputes z_t and s_t from them.
//
// Compile-time options:
//   -DSCALAR_T=float | double | __half | __nv_bfloat16   storage type of x, s, v and the gradients (default float)
// Arithmetic is float for float/half/bfloat16 storage, double for double storage. The charges handed from
// the forward to the backward kernel are kept in that arithmetic type (acc_t), and so is the temperature eps
// (float32 for half storage: 0.99 is not rounded to bfloat16's 0.98828); the scalars arrive as double.
#include "scalar.cuh"

__device__ __forceinline__ float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }
__device__ __forceinline__ double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

extern "C" __global__ void ultralif_forward(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ v0, const acc_t* __restrict__ eps,
    scalar_t* __restrict__ s_out, scalar_t* __restrict__ v_out, acc_t* __restrict__ h_out,
    const int T, const int N, const double beta_d, const double c_d, const double v_th_d, const double v_reset_d,
    const int soft_reset, const int write_h) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    const acc_t beta = (acc_t)beta_d, c = (acc_t)c_d, v_th = (acc_t)v_th_d, v_reset = (acc_t)v_reset_d;
    const acc_t e = eps[i];
    acc_t v = load(v0 + i);
    for (int t = 0; t < T; ++t) {
        const long long k = (long long)t * N + i;
        const acc_t h = beta * v + c * load(x + k);
        const acc_t s = sigmoid((h - v_th) / e);
        store(s_out + k, s);
        if (write_h) h_out[k] = h;
        v = soft_reset ? h - v_th * s : h * ((acc_t)1 - s) + v_reset * s;
    }
    store(v_out + i, v);
}

// grad_x[t] = c * grad_h[t]; grad_eps per neuron, summed over time; gs_scalar: grad_s is one value broadcast over [T, N].
extern "C" __global__ void ultralif_backward(
    const scalar_t* __restrict__ grad_s, const scalar_t* __restrict__ grad_v_last, const acc_t* __restrict__ h,
    const acc_t* __restrict__ eps,
    scalar_t* __restrict__ grad_x, scalar_t* __restrict__ grad_v0, scalar_t* __restrict__ grad_eps,
    const int T, const int N, const double beta_d, const double c_d, const double v_th_d, const double v_reset_d,
    const int soft_reset, const int gs_scalar) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    const acc_t beta = (acc_t)beta_d, c = (acc_t)c_d, v_th = (acc_t)v_th_d, v_reset = (acc_t)v_reset_d;
    const acc_t e = eps[i];
    acc_t gv = load(grad_v_last + i), g_eps = 0;
    for (int t = T - 1; t >= 0; --t) {
        const long long k = (long long)t * N + i;
        const acc_t ht = h[k];
        const acc_t z = (ht - v_th) / e;
        const acc_t s = sigmoid(z);
        acc_t g_spike = load(grad_s + (gs_scalar ? 0 : k));
        g_spike += soft_reset ? -v_th * gv : (v_reset - ht) * gv;
        const acc_t gz = g_spike * (s * ((acc_t)1 - s));
        const acc_t gh = gz / e + (soft_reset ? gv : gv * ((acc_t)1 - s));
        g_eps -= gz * z / e;
        store(grad_x + k, c * gh);
        gv = beta * gh;
    }
    store(grad_v0 + i, gv);
    store(grad_eps + i, g_eps);
}
