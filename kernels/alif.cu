// Multi-step adaptive-threshold LIF (ALIF), forward and backward over all T steps.
// The equations are in neuro/ops/alif/reference.py; one thread per neuron, x[t * N + i].
// Parameters beta, c (input scale), rho, beta_a arrive per neuron (the launcher expands shared values).
//
// Compile-time options:
//   -DSCALAR_T=float | double | __half | __nv_bfloat16   storage type of x, s and the gradients (default float)
// Arithmetic is float for float/half/bfloat16 storage, double for double storage. The recomputed
// charges and adaptations handed from the forward to the backward kernel are kept in that arithmetic
// type (acc_t), so the backward sees the forward's spikes even in half precision. The per-neuron
// parameters arrive in acc_t too (float32 for half storage: rho = 0.995 is not rounded to bfloat16's
// 0.99609), the scalars and the surrogate slope as double; the surrogate is computed in acc_t. The per-neuron
// parameter gradients (sums over all T steps) leave the backward kernel in acc_t as well, as the Numba kernels
// return them: a float16 sum overflows past 65504 and a bfloat16 one keeps 8 bits.
#include "scalar.cuh"
#include "surrogate.cuh"

// The potential after reset of a step with charge h and firing decision fire.
__device__ __forceinline__ acc_t alif_reset(acc_t h, bool fire, acc_t v_th, acc_t v_reset, int soft_reset) {
    return fire ? (soft_reset ? h - v_th : v_reset) : h;
}

// write_state: also store h_t and a_{t-1} (in acc_t) for the backward kernel.
extern "C" __global__ void alif_forward(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ v0, const scalar_t* __restrict__ a0,
    const acc_t* __restrict__ beta, const acc_t* __restrict__ c, const acc_t* __restrict__ rho,
    const acc_t* __restrict__ beta_a,
    scalar_t* __restrict__ s_out, scalar_t* __restrict__ v_out, scalar_t* __restrict__ a_out,
    acc_t* __restrict__ h_out, acc_t* __restrict__ a_prev_out,
    const int T, const int N, const double v_th_d, const double v_reset_d, const double gamma_d,
    const int soft_reset, const int write_state) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    const acc_t v_th = (acc_t)v_th_d, v_reset = (acc_t)v_reset_d, gamma = (acc_t)gamma_d;
    const acc_t b = beta[i], ci = c[i], r = rho[i], ba = beta_a[i];
    acc_t v = load(v0 + i);
    acc_t a = load(a0 + i);
    for (int t = 0; t < T; ++t) {
        const long long k = (long long)t * N + i;
        const acc_t h = b * v + ci * load(x + k);
        const bool fire = h - (v_th + ba * a) >= (acc_t)0;
        if (write_state) {
            h_out[k] = h;
            a_prev_out[k] = a;
        }
        store(s_out + k, fire ? (acc_t)1 : (acc_t)0);
        v = alif_reset(h, fire, v_th, v_reset, soft_reset);
        a = fire ? r * a + gamma : r * a;
    }
    store(v_out + i, v);
    store(a_out + i, a);
}

// grad_x[t] = c * grad_h[t]; per-neuron parameter gradients summed over time (in acc_t).
extern "C" __global__ void alif_backward(
    const scalar_t* __restrict__ grad_s, const scalar_t* __restrict__ grad_v_last, const scalar_t* __restrict__ grad_a_last,
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ v0,
    const acc_t* __restrict__ h, const acc_t* __restrict__ a_prev,
    const acc_t* __restrict__ beta, const acc_t* __restrict__ c, const acc_t* __restrict__ rho,
    const acc_t* __restrict__ beta_a,
    scalar_t* __restrict__ grad_x, scalar_t* __restrict__ grad_v0, scalar_t* __restrict__ grad_a0,
    acc_t* __restrict__ grad_beta, acc_t* __restrict__ grad_rho, acc_t* __restrict__ grad_beta_a,
    const int T, const int N, const double v_th_d, const double v_reset_d, const double gamma_d,
    const int soft_reset, const int decay_input, const int detach_reset, const int detach_adaptation,
    const int surrogate, const double alpha_d) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    const acc_t v_th = (acc_t)v_th_d, v_reset = (acc_t)v_reset_d, gamma = (acc_t)gamma_d, alpha = (acc_t)alpha_d;
    const acc_t b = beta[i], ci = c[i], r = rho[i], ba = beta_a[i];
    acc_t gv = load(grad_v_last + i), ga = load(grad_a_last + i);
    acc_t g_beta = 0, g_rho = 0, g_beta_a = 0;
    // h_t and a_{t-1} of the current step; those of step t-1 are loaded one iteration ahead
    long long k = (long long)(T - 1) * N + i;
    acc_t ht = T > 0 ? h[k] : (acc_t)0, apt = T > 0 ? a_prev[k] : (acc_t)0;
    for (int t = T - 1; t >= 0; --t) {
        k = (long long)t * N + i;
        const acc_t z = ht - (v_th + ba * apt);
        const bool fire = z >= (acc_t)0;
        const acc_t sg = neuro_surrogate_grad(z, surrogate, alpha);
        acc_t g_spike = load(grad_s + k);
        if (!detach_reset) g_spike += gv * (soft_reset ? -v_th : v_reset - ht);
        if (!detach_adaptation) g_spike += gamma * ga;
        const acc_t gz = g_spike * sg;
        const acc_t gh = gz + ((soft_reset || !fire) ? gv : (acc_t)0);
        acc_t vp, hp = 0, app = 0;
        if (t > 0) {
            hp = h[k - N];
            app = a_prev[k - N];
            vp = alif_reset(hp, hp - (v_th + ba * app) >= (acc_t)0, v_th, v_reset, soft_reset);
        } else {
            vp = load(v0 + i);
        }
        g_beta += gh * (decay_input ? vp - load(x + k) : vp);
        g_rho += ga * apt;
        g_beta_a -= gz * apt;
        store(grad_x + k, ci * gh);
        gv = b * gh;
        ga = r * ga - ba * gz;
        ht = hp;
        apt = app;
    }
    store(grad_v0 + i, gv);
    store(grad_a0 + i, ga);
    grad_beta[i] = g_beta;
    grad_rho[i] = g_rho;
    grad_beta_a[i] = g_beta_a;
}
