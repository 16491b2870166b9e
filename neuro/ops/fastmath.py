r"""Small Numba helpers that keep CPU kernels vectorised and in their input precision.

Without Intel's SVML (not shipped with the PyPI ``llvmlite``), LLVM cannot vectorise a loop that calls
``exp``: each element pays a scalar ``expf`` call and the loop runs one element at a time. :func:`fast_exp`
replaces it, for float32 arguments only, by Cephes' ``expf`` algorithm written in plain arithmetic:

.. math::

    e^x = 2^k e^r,\quad k = \lfloor x \log_2 e + \tfrac12 \rfloor,\quad r = x - k \ln 2 \in [-\tfrac{\ln 2}{2}, \tfrac{\ln 2}{2}],

with :math:`e^r` a degree-7 polynomial and :math:`2^k` built from its IEEE-754 bits. Measured maximum
relative error against float64 ``exp`` over :math:`[-87, 88]`: 8e-8 (under one float32 ulp). Arguments are
clamped to :math:`[-87.3, 88.7]` (below: a denormal-free :math:`\approx 1.2\times 10^{-38}` instead of 0 or a
denormal; above: :math:`\approx 3.4\times 10^{38}` instead of ``inf``), which changes no surrogate value by
more than 1e-37. float64 arguments use ``math.exp`` unchanged.

:func:`exp64` is the float64 counterpart for loops that must vectorise (the simulator's conductance-based update),
with a twin in ``kernels/fastmath.cuh`` that gives the same bits on a GPU (both without fused multiply-adds):
:math:`k = \mathrm{round}(x \log_2 e)` by the shifter :math:`1.5 \cdot 2^{52}` (round to nearest, read back
from the low bits, no float -> int conversion), :math:`r = x - k \ln 2` in two parts (fdlibm's Cody-Waite split,
:math:`|r| \le \ln 2 / 2`), :math:`e^r` by its Taylor series to degree 13 (truncation below 5e-18 relative), and
:math:`2^k` applied as two exact power-of-two factors :math:`2^{\lfloor k/2 \rfloor} 2^{k - \lfloor k/2 \rfloor}`, so
results that underflow come out subnormal or 0 and those that overflow ``inf``, rounded once. Arguments are clamped
to :math:`[-1100, 1100]` (beyond: 0 and ``inf`` anyway); NaN gives NaN. Measured maximum relative error against
``math.exp`` over :math:`[-745, 709.7]`: within 2 ulp (asserted in the tests).

:func:`const` casts a Python constant to the precision of a reference value, so that ``1.0 - s`` on a
float32 ``s`` stays float32 (a bare ``1.0`` is float64 in Numba and would widen the whole expression).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from .rng_cpu import _f2i, _i2f

__all__ = ["const", "exp32", "exp64", "fast_exp"]


@intrinsic
def _pow2(typingctx, k):
    """:math:`2^k` for a float32 ``k`` holding an integer in [-126, 127], built from its IEEE-754 bits.

    All in 32-bit integers (``fptosi``, add the bias, shift into the exponent field, reinterpret), so
    LLVM vectorises it even on AVX2, which has no vector float -> int64 conversion.
    """
    if k != types.float32:
        return None

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        n = builder.fptosi(args[0], i32)
        bits = builder.shl(builder.add(n, ir.Constant(i32, 127)), ir.Constant(i32, 23))
        return builder.bitcast(bits, ir.FloatType())

    return types.float32(types.float32), codegen


@njit(inline="always", cache=True)
def exp32(x):
    """:math:`e^x` for a float32 ``x`` in branch-free arithmetic that LLVM vectorises (see the module doc)."""
    x = min(max(x, np.float32(-87.33654)), np.float32(88.72283))
    k = np.floor(x * np.float32(1.44269504088896341) + np.float32(0.5))
    r = x - k * np.float32(0.693359375) + k * np.float32(2.12194440e-4)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * r * r + r + np.float32(1.0)
    return p * _pow2(k)


def fast_exp(x):
    """:math:`e^x`: :func:`exp32` for float32 (inside Numba code), ``math.exp`` otherwise."""
    return math.exp(x)


@overload(fast_exp, inline="always")
def _fast_exp(x):
    if x == types.float32:
        return lambda x: exp32(x)
    return lambda x: math.exp(x)


def const(like, value):
    """``value`` in the precision of ``like`` (float32 stays float32 inside Numba code)."""
    return type(like)(value)


@overload(const, inline="always")
def _const(like, value):
    if like == types.float32:
        return lambda like, value: np.float32(value)
    return lambda like, value: np.float64(value)


_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer kept in the low mantissa bits
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10
_I1023 = np.int64(1023)
_I52 = np.int64(52)


@njit(inline="always", cache=True, error_model="numpy")
def exp64(x):
    """:math:`e^x` for float64 in plain arithmetic (vectorises without SVML; bit-identical to ``kernels/fastmath.cuh``)."""
    xc = min(max(x, -1100.0), 1100.0)
    kd = xc * _LOG2E + _SHIFT
    kf = kd - _SHIFT
    k = _f2i(kd) - _f2i(_SHIFT)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k1 = k >> np.int64(1)
    k2 = k - k1
    y = (p * _i2f((k1 + _I1023) << _I52)) * _i2f((k2 + _I1023) << _I52)
    return y if x == x else x
