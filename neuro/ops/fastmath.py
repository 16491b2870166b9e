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

:func:`const` casts a Python constant to the precision of a reference value, so that ``1.0 - s`` on a
float32 ``s`` stays float32 (a bare ``1.0`` is float64 in Numba and would widen the whole expression).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

__all__ = ["const", "exp32", "fast_exp"]


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
