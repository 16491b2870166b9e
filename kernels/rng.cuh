// Counter-based random numbers, the same function of (seed, step, stream, index) as neuro/ops/rng_cpu.py:
// SplitMix64 words, 53-bit uniforms, Box-Muller pairs with a branch-free log and sin/cos. Compiled without
// contraction of a*b+c into fma (NVRTC -fmad=false, g++ -ffp-contract=off), the numbers are bit-identical to
// the Numba ones, so a GPU run draws the same noise and Poisson spikes as a CPU run.
#pragma once
#include "neuro_device.cuh"

#define RNG_GAMMA 0x9E3779B97F4A7C15ULL
#define RNG_K_STEP 0xD1B54A32D192ED03ULL
#define RNG_K_STREAM 0xABC98388FB8FAC03ULL
#define RNG_K_UNI 0x8CB92BA72F3D8DD7ULL
#define RNG_K_NORM 0xF1357AEA2E62A9C5ULL

NEURO_DEVICE u64 rng_mix(u64 z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

NEURO_DEVICE u64 rng_key(u64 seed, i64 step, i64 stream, u64 tag) {
    u64 h = rng_mix(seed * RNG_GAMMA + RNG_GAMMA);
    h = rng_mix(h ^ ((u64)step * RNG_K_STEP));
    h = rng_mix(h ^ ((u64)stream * RNG_K_STREAM));
    return rng_mix(h ^ tag);
}

NEURO_DEVICE double rng_u53(u64 key, u64 i) {
    u64 z = rng_mix(key + i * RNG_GAMMA);
    return (double)(i64)(z >> 11) * (1.0 / 9007199254740992.0);
}

NEURO_DEVICE double rng_log(double x) {
    i64 bits = bits_of(x);
    i64 e = (bits >> 52) - 1023;
    double m = double_of((bits & 0x000FFFFFFFFFFFFFLL) | 0x3FF0000000000000LL);
    bool big = m > 1.4142135623730951;
    m = big ? m * 0.5 : m;
    e = big ? e + 1 : e;
    double s = (m - 1.0) / (m + 1.0);
    double z = s * s;
    double p = 1.0 / 17.0;
    p = p * z + 1.0 / 15.0;
    p = p * z + 1.0 / 13.0;
    p = p * z + 1.0 / 11.0;
    p = p * z + 1.0 / 9.0;
    p = p * z + 1.0 / 7.0;
    p = p * z + 1.0 / 5.0;
    p = p * z + 1.0 / 3.0;
    double ef = (double)e;
    double lm = 2.0 * s + 2.0 * s * z * p;
    return ef * 0.693145751953125 + (lm + ef * 1.4286068203094173e-06);
}

NEURO_DEVICE void rng_sincos_2pi(double u, double* c_out, double* s_out) {
    double qf = floor(4.0 * u + 0.5);
    double t = (u - 0.25 * qf) * 6.283185307179586;
    double z = t * t;
    double ps = ((((1.58962301576546568060e-10 * z + -2.50507477628578072866e-8) * z + 2.75573136213857245213e-6) * z
                  + -1.98412698295895385996e-4) * z + 8.33333333332211858878e-3) * z + -1.66666666666666307295e-1;
    double s = t + t * z * ps;
    double pc = ((((-1.13585365213876817300e-11 * z + 2.08757008419747316778e-9) * z + -2.75573141792967388112e-7) * z
                  + 2.48015872888517045348e-5) * z + -1.38888888888730564116e-3) * z + 4.16666666666665929218e-2;
    double c = 1.0 - 0.5 * z + z * z * pc;
    i64 q = (i64)qf;
    bool swap = (q & 1) != 0;
    double a = swap ? s : c;
    double b = swap ? c : s;
    bool neg_c = (((q + 1) >> 1) & 1) != 0;
    bool neg_s = ((q >> 1) & 1) != 0;
    *c_out = neg_c ? -a : a;
    *s_out = neg_s ? -b : b;
}

// the uniform of neuron idx (rng_cpu.uniform_at)
NEURO_DEVICE double rng_uniform(u64 seed, i64 step, i64 stream, i64 idx) {
    return rng_u53(rng_key(seed, step, stream, RNG_K_UNI), (u64)idx);
}

// failures before the first success of steps that succeed with probability p (rng_cpu.geometric_at)
#define RNG_NEVER 4611686018427387904LL
NEURO_DEVICE i64 rng_geometric(u64 seed, i64 step, i64 stream, i64 idx, double p) {
    if (p >= 1.0) return 0;
    if (!(p > 0.0)) return RNG_NEVER;
    double lp = p > 1e-8 ? rng_log(1.0 - p) : -p - 0.5 * p * p;
    double q = rng_log(1.0 - rng_uniform(seed, step, stream, idx)) / lp;
    return q >= 4611686018427387904.0 ? RNG_NEVER : (i64)q;
}

// the normal of neuron idx (rng_cpu.normal_at): half of the Box-Muller pair idx >> 1
NEURO_DEVICE double rng_normal(u64 seed, i64 step, i64 stream, i64 idx) {
    u64 key = rng_key(seed, step, stream, RNG_K_NORM);
    u64 i = (u64)(idx >> 1) * 2ULL;
    double u1 = rng_u53(key, i);
    double u2 = rng_u53(key, i + 1ULL);
    double r = sqrt(-2.0 * rng_log(1.0 - u1));
    double c, s;
    rng_sincos_2pi(u2, &c, &s);
    return (idx & 1) ? r * s : r * c;
}
