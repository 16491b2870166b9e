// Multi-step integer ("multi-level") LIF of I-LIF / IE-LIF, forward and backward over all T steps.
// The equations are in neuro/ops/integer_lif/reference.py; one thread per neuron, x[t * N + i].
// The forward kernel writes, when asked (write_mask), the straight-through mask m_t = [0 < h_t/theta < D]
// as one byte per neuron-step; the backward kernel reads only that mask and the output gradients.
//
// Compile-time options:
//   -DSCALAR_T=float | double | __half | __nv_bfloat16   storage type of x, y, v and the gradients (default float)
// Arithmetic is float for float/half/bfloat16 storage, double for double storage.
#include "scalar.cuh"

extern "C" __global__ void integer_lif_forward(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ v0,
    scalar_t* __restrict__ y_out, scalar_t* __restrict__ v_out, unsigned char* __restrict__ mask_out,
    const int T, const int N, const double beta_d, const double c_d, const double v_th_d, const int levels,
    const double norm_d, const int write_mask) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    const acc_t beta = (acc_t)beta_d, c = (acc_t)c_d, v_th = (acc_t)v_th_d, norm = (acc_t)norm_d, top = (acc_t)levels;
    acc_t v = load(v0 + i);
    for (int t = 0; t < T; ++t) {
        const long long k = (long long)t * N + i;
        // nvcc may contract this into an FMA: one rounding fewer than the CPU kernels (the GPU tests allow for it)
        const acc_t h = beta * v + c * load(x + k);
        const acc_t u = h / v_th;
        acc_t uc = u < (acc_t)0 ? (acc_t)0 : u;  // selects, not fmin/fmax: NaN stays NaN, as in torch.clamp
        uc = uc > top ? top : uc;
        const acc_t count = floor(uc + (acc_t)0.5);
        store(y_out + k, count / norm);
        if (write_mask) mask_out[k] = (u > (acc_t)0 && u < top) ? 1 : 0;
        v = h - v_th * count;
    }
    store(v_out + i, v);
}

// grad_x[t] = c * grad_h[t]; gs_scalar: grad_y is one value broadcast over all [T, N].
extern "C" __global__ void integer_lif_backward(
    const scalar_t* __restrict__ grad_y, const scalar_t* __restrict__ grad_v_last, const unsigned char* __restrict__ mask,
    scalar_t* __restrict__ grad_x, scalar_t* __restrict__ grad_v0,
    const int T, const int N, const double beta_d, const double c_d, const double v_th_d, const double norm_d,
    const int detach_reset, const int gs_scalar) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    const acc_t beta = (acc_t)beta_d, c = (acc_t)c_d, v_th = (acc_t)v_th_d, norm = (acc_t)norm_d;
    acc_t gv = load(grad_v_last + i);
    for (int t = T - 1; t >= 0; --t) {
        const long long k = (long long)t * N + i;
        acc_t gk = load(grad_y + (gs_scalar ? 0 : k)) / norm;
        if (!detach_reset) gk -= v_th * gv;
        const acc_t gh = (mask[k] ? gk / v_th : (acc_t)0) + gv;
        store(grad_x + k, c * gh);
        gv = beta * gh;
    }
    store(grad_v0 + i, gv);
}
