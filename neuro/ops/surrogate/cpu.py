"""Numba version of :mod:`neuro.ops.surrogate.reference` (same table, scalar form, inlined into kernels).

Arithmetic stays in the precision of ``x`` (float32 kernels do not widen to float64) and the exponentials
use :func:`neuro.ops.fastmath.fast_exp`, so a kernel's loop over neurons vectorises.
"""

from __future__ import annotations

import math

from numba import njit

from ..fastmath import const, fast_exp

_HALF_PI = math.pi / 2.0
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)


@njit(inline="always", cache=True)
def surrogate_grad(x, kind, alpha):
    one = const(x, 1.0)
    zero = const(x, 0.0)
    a = const(x, alpha)
    if kind == 0:
        s = one / (one + fast_exp(-a * x))
        return a * s * (one - s)
    if kind == 1:
        z = const(x, _HALF_PI) * a * x
        return (a * const(x, 0.5)) / (one + z * z)
    if kind == 2:
        d = one + a * abs(x)
        return one / (d * d)
    if kind == 3:
        return a * max(zero, one - a * abs(x))
    if kind == 4:
        return a if abs(x) < const(x, 0.5) / a else zero
    if kind == 5:
        z = a * x
        return a * const(x, _INV_SQRT_PI) * fast_exp(-z * z)
    if kind == 6:
        return max(zero, a - a * a * abs(x))
    return zero
