"""What the generated training-layer kernels import besides Numba (:mod:`neuro.dynamics.torchgen`)."""

from __future__ import annotations

import math

from numba import types
from numba.extending import overload

from ..ops.fastmath import exp32, exp64

__all__ = ["vexp"]


def vexp(x):
    """:math:`e^x` in plain arithmetic inside Numba code (LLVM vectorises the loop): float32 :func:`exp32`, float64
    :func:`exp64` (within 2 ulp of ``math.exp``)."""
    return math.exp(x)


@overload(vexp)
def _vexp(x):
    if x == types.float32:
        return lambda x: exp32(x)
    return lambda x: exp64(x)
