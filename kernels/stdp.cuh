// The STDP event laws of neuro/ops/stdp/cpu.py (and reference.py), for the simulator's GPU kernels.
// Parameters come packed as in neuro.ops.stdp.cpu.pack: pair  tau_plus, tau_minus, eta_plus, eta_minus,
// w_min, w_max, mu_plus, mu_minus, nearest, symmetric; triplet  tau_plus, tau_x, tau_minus, tau_y,
// a2_plus, a3_plus, a2_minus, a3_minus, w_min, w_max, nearest. Traces are already decayed to now.
#pragma once
#include "neuro_device.cuh"

NEURO_DEVICE double stdp_bump(double x, double nearest) { return nearest > 0.5 ? 1.0 : x + 1.0; }
NEURO_DEVICE double stdp_clip(double w, double lo, double hi) { return fmin(fmax(w, lo), hi); }

// presynaptic arrival: new weight; *x_pre bumped
NEURO_DEVICE double pair_on_pre(double w, double* x_pre, double x_post, const double* p) {
    double f = 1.0;
    if (p[7] != 0.0) f = pow(fmax((w - p[4]) / (p[5] - p[4]), 0.0), p[7]);
    double dw = p[3] * f * x_post;
    w = stdp_clip(p[9] > 0.5 ? w + dw : w - dw, p[4], p[5]);
    *x_pre = stdp_bump(*x_pre, p[8]);
    return w;
}

// postsynaptic spike reaching the synapse: new weight; *x_post bumped
NEURO_DEVICE double pair_on_post(double w, double x_pre, double* x_post, const double* p) {
    double f = 1.0;
    if (p[6] != 0.0) f = pow(fmax((p[5] - w) / (p[5] - p[4]), 0.0), p[6]);
    w = stdp_clip(w + p[2] * f * x_pre, p[4], p[5]);
    *x_post = stdp_bump(*x_post, p[8]);
    return w;
}

NEURO_DEVICE double triplet_on_pre(double w, double* r1, double* r2, double o1, double o2, const double* p) {
    w = stdp_clip(w - o1 * (p[6] + p[7] * *r2), p[8], p[9]);
    *r1 = stdp_bump(*r1, p[10]);
    *r2 = stdp_bump(*r2, p[10]);
    return w;
}

NEURO_DEVICE double triplet_on_post(double w, double r1, double r2, double* o1, double* o2, const double* p) {
    w = stdp_clip(w + r1 * (p[4] + p[5] * *o2), p[8], p[9]);
    *o1 = stdp_bump(*o1, p[10]);
    *o2 = stdp_bump(*o2, p[10]);
    return w;
}
