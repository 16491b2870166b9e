// Multi-step leaky integrate-and-fire, forward and backward over all T steps.
// The equations are in neuro/ops/lif/reference.py; one thread per neuron, x[t * N + i].
//
// Compile-time options:
//   -DSCALAR_T=float | double | __half | __nv_bfloat16   storage type of x, s, v and the gradients (default float)
//   -DCHARGE_T=scalar_t | acc_t   type of the charges h that lif_forward writes and lif_backward reads (default
//                                 scalar_t: the layer's h_seq output). The backward launcher recomputes the charges
//                                 in acc_t, so in half precision the backward sees the forward's unrounded charges,
//                                 hence the forward's spikes (a charge just below v_th can round up onto it).
// Arithmetic (acc_t) is float for float/half/bfloat16 storage, double for double storage; the decay beta arrives
// in acc_t (float32 for half storage: 0.99 is not rounded to bfloat16's 0.98828) and the thresholds, leak and
// surrogate slope as double, converted once to acc_t, so a float64 layer compares h with a float64 v_th.
#include "scalar.cuh"
#include "surrogate.cuh"

#ifndef CHARGE_T
#define CHARGE_T scalar_t
#endif
typedef CHARGE_T charge_t;

// write_h: store the charges (the backward launcher and the layer's h_seq output need them; spikes alone do not).
extern "C" __global__ void lif_forward(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ v0, const acc_t* __restrict__ beta,
    scalar_t* __restrict__ s_out, charge_t* __restrict__ h_out, scalar_t* __restrict__ v_out,
    const int T, const int N, const int per_neuron_beta,
    const double v_th_d, const double v_reset_d, const double v_leak_d, const int soft_reset, const int decay_input,
    const int write_h) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    const acc_t v_th = (acc_t)v_th_d, v_reset = (acc_t)v_reset_d, v_leak = (acc_t)v_leak_d;
    const acc_t b = beta[per_neuron_beta ? i : 0];
    const acc_t c = decay_input ? (acc_t)1 - b : (acc_t)1;
    const acc_t leak = ((acc_t)1 - b) * v_leak;
    acc_t v = load(v0 + i);
    for (int t = 0; t < T; ++t) {
        const long long k = (long long)t * N + i;
        const acc_t h = b * v + leak + c * load(x + k);
        const bool fire = h >= v_th;
        if (write_h) store(h_out + k, h);
        store(s_out + k, fire ? (acc_t)1 : (acc_t)0);
        v = fire ? (soft_reset ? h - v_th : v_reset) : h;
    }
    store(v_out + i, v);
}

extern "C" __global__ void lif_backward(
    const scalar_t* __restrict__ grad_s, const scalar_t* __restrict__ grad_h_in, const scalar_t* __restrict__ grad_v_last,
    const charge_t* __restrict__ h, const acc_t* __restrict__ beta,
    scalar_t* __restrict__ grad_h, scalar_t* __restrict__ grad_v0,
    const int T, const int N, const int per_neuron_beta,
    const double v_th_d, const double v_reset_d, const int soft_reset, const int detach_reset,
    const int surrogate, const double alpha_d) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    const acc_t v_th = (acc_t)v_th_d, v_reset = (acc_t)v_reset_d, alpha = (acc_t)alpha_d;
    const acc_t b = beta[per_neuron_beta ? i : 0];
    acc_t gv = load(grad_v_last + i);
    for (int t = T - 1; t >= 0; --t) {
        const long long k = (long long)t * N + i;
        const acc_t ht = load(h + k);
        const acc_t sg = neuro_surrogate_grad(ht - v_th, surrogate, alpha);
        const acc_t s = ht >= v_th ? (acc_t)1 : (acc_t)0;
        acc_t dv_dh;
        if (soft_reset) {
            dv_dh = detach_reset ? (acc_t)1 : (acc_t)1 - v_th * sg;
        } else {
            dv_dh = detach_reset ? (acc_t)1 - s : (acc_t)1 - s + (v_reset - ht) * sg;
        }
        const acc_t g = load(grad_s + k) * sg + gv * dv_dh + load(grad_h_in + k);
        store(grad_h + k, g);
        gv = b * g;
    }
    store(grad_v0 + i, gv);
}
