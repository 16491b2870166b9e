"""Numba version of :mod:`neuro.ops.surrogate.reference` (same table, scalar form, inlined into kernels)."""

from __future__ import annotations

import math

from numba import njit

_HALF_PI = math.pi / 2.0
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)


@njit(inline="always", cache=True)
def surrogate_grad(x, kind, alpha):
    if kind == 0:
        s = 1.0 / (1.0 + math.exp(-alpha * x))
        return alpha * s * (1.0 - s)
    if kind == 1:
        z = _HALF_PI * alpha * x
        return (alpha / 2.0) / (1.0 + z * z)
    if kind == 2:
        d = 1.0 + alpha * abs(x)
        return 1.0 / (d * d)
    if kind == 3:
        return alpha * max(0.0, 1.0 - alpha * abs(x))
    if kind == 4:
        return alpha if abs(x) < 0.5 / alpha else 0.0
    if kind == 5:
        z = alpha * x
        return alpha * _INV_SQRT_PI * math.exp(-z * z)
    if kind == 6:
        return max(0.0, alpha - alpha * alpha * abs(x))
    return 0.0
