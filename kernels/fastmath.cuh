// Elementary functions in plain arithmetic, the same bits as their Numba twins in neuro/ops/fastmath.py (both
// compiled without contraction of a*b+c into fma: NVRTC -fmad=false, g++ -ffp-contract=off, Numba without fastmath).
#pragma once
#include "neuro_device.cuh"

// e^x (fastmath.exp64): k = round(x log2 e) by the 1.5 * 2^52 shifter, r = x - k ln 2 in fdlibm's two parts,
// Taylor to degree 13, 2^k as two exact power-of-two factors; x clamped to [-1100, 1100]; NaN gives NaN
NEURO_DEVICE double fm_exp(double x) {
    const double shift = 6755399441055744.0;
    double xc = x > -1100.0 ? x : -1100.0;
    xc = xc < 1100.0 ? xc : 1100.0;
    double kd = xc * 1.4426950408889634 + shift;
    double kf = kd - shift;
    i64 k = (i64)bits_of(kd) - (i64)bits_of(shift);
    double r = (xc - kf * 6.93147180369123816490e-01) - kf * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    i64 k1 = k >> 1;
    i64 k2 = k - k1;
    double y = (p * double_of((k1 + 1023) << 52)) * double_of((k2 + 1023) << 52);
    return x == x ? y : x;
}
