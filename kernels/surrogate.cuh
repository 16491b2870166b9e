// Surrogate derivatives of the spike function; the same table as
// neuro/ops/surrogate/reference.py (x = h - v_th, alpha = slope).
#pragma once

__device__ __forceinline__ float neuro_surrogate_grad(float x, int kind, float alpha) {
    switch (kind) {
    case 0: {  // sigmoid
        const float s = 1.0f / (1.0f + expf(-alpha * x));
        return alpha * s * (1.0f - s);
    }
    case 1: {  // atan
        const float z = 1.5707963267948966f * alpha * x;
        return 0.5f * alpha / (1.0f + z * z);
    }
    case 2: {  // fast sigmoid / SuperSpike
        const float d = 1.0f + alpha * fabsf(x);
        return 1.0f / (d * d);
    }
    case 3:  // triangle
        return alpha * fmaxf(0.0f, 1.0f - alpha * fabsf(x));
    case 4:  // rectangle
        return fabsf(x) < 0.5f / alpha ? alpha : 0.0f;
    case 5: {  // erf
        const float z = alpha * x;
        return alpha * 0.5641895835477563f * expf(-z * z);
    }
    case 6:  // piecewise quadratic
        return fmaxf(0.0f, alpha - alpha * alpha * fabsf(x));
    default:
        return 0.0f;
    }
}
