// Multi-step leaky integrate-and-fire, forward and backward over all T steps.
// The equations are in neuro/ops/lif/reference.py; one thread per neuron, x[t * N + i].
//
// Compile-time options:
//   -DSCALAR_T=float | double | __half | __nv_bfloat16   storage type of x, s, h (default float)
// Arithmetic is float for float/half/bfloat16 storage, double for double storage.
#include "scalar.cuh"
#include "surrogate.cuh"

extern "C" __global__ void lif_forward(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ v0, const scalar_t* __restrict__ beta,
    scalar_t* __restrict__ s_out, scalar_t* __restrict__ h_out, scalar_t* __restrict__ v_out,
    const int T, const int N, const int per_neuron_beta,
    const float v_th, const float v_reset, const float v_leak, const int soft_reset, const int decay_input) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    const acc_t b = load(beta + (per_neuron_beta ? i : 0));
    const acc_t c = decay_input ? (acc_t)1 - b : (acc_t)1;
    const acc_t leak = ((acc_t)1 - b) * (acc_t)v_leak;
    acc_t v = load(v0 + i);
    for (int t = 0; t < T; ++t) {
        const long long k = (long long)t * N + i;
        const acc_t h = b * v + leak + c * load(x + k);
        const bool fire = h >= (acc_t)v_th;
        store(h_out + k, h);
        store(s_out + k, fire ? (acc_t)1 : (acc_t)0);
        v = fire ? (soft_reset ? h - (acc_t)v_th : (acc_t)v_reset) : h;
    }
    store(v_out + i, v);
}

extern "C" __global__ void lif_backward(
    const scalar_t* __restrict__ grad_s, const scalar_t* __restrict__ grad_h_in, const scalar_t* __restrict__ grad_v_last,
    const scalar_t* __restrict__ h, const scalar_t* __restrict__ beta,
    scalar_t* __restrict__ grad_h, scalar_t* __restrict__ grad_v0,
    const int T, const int N, const int per_neuron_beta,
    const float v_th, const float v_reset, const int soft_reset, const int detach_reset,
    const int surrogate, const float alpha) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    const acc_t b = load(beta + (per_neuron_beta ? i : 0));
    acc_t gv = load(grad_v_last + i);
    for (int t = T - 1; t >= 0; --t) {
        const long long k = (long long)t * N + i;
        const acc_t ht = load(h + k);
        const acc_t sg = (acc_t)neuro_surrogate_grad((float)(ht - (acc_t)v_th), surrogate, alpha);
        const acc_t s = ht >= (acc_t)v_th ? (acc_t)1 : (acc_t)0;
        acc_t dv_dh;
        if (soft_reset) {
            dv_dh = detach_reset ? (acc_t)1 : (acc_t)1 - (acc_t)v_th * sg;
        } else {
            dv_dh = detach_reset ? (acc_t)1 - s : (acc_t)1 - s + ((acc_t)v_reset - ht) * sg;
        }
        const acc_t g = load(grad_s + k) * sg + gv * dv_dh + load(grad_h_in + k);
        store(grad_h + k, g);
        gv = b * g;
    }
    store(grad_v0 + i, gv);
}
