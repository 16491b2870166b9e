"""What the generated model modules import: the kernel signature, an address-to-pointer intrinsic and the noise."""

from __future__ import annotations

import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..ops.fastmath import exp64
from ..ops.rng_cpu import normal_at

__all__ = ["SIG", "EV_SIG", "as_pointer", "exp64", "normal_at", "_normals", "noop", "SLOTS"]

SLOTS = 8  # kernels of user-defined models one network can run (the compiled loop takes a tuple of this length)

# kernel(t: step, lo: first global neuron index, n: neurons, dt: ms, seed, table: address of the uint64 address table)
SIG = types.void(types.int64, types.int64, types.int64, types.float64, types.int64, types.uintp)
# a synapse model's event: event(t: step, dt, seed, table, s: weight index, k: synapse of the projection, i: pre, j: post)
EV_SIG = types.void(types.int64, types.float64, types.int64, types.uintp, types.int64, types.int64, types.int64, types.int64)


@intrinsic
def as_pointer(typingctx, address):
    """The integer ``address`` as a ``void*`` (for ``numba.carray``)."""
    sig = types.voidptr(address)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


def _normals(seed: int, t: int, stream: int, lo: int, n: int) -> np.ndarray:
    """The standard normals the kernel draws for neurons ``lo .. lo + n - 1`` at step ``t`` (reference path)."""
    return np.array([normal_at(seed, t, stream, lo + k) for k in range(n)], dtype=np.float64)


def _noop_kernel(t, lo, n, dt, seed, table):  # fills the unused kernel slots
    pass


def _noop_event(t, dt, seed, table, s, k, i, j):  # fills the unused event slots
    pass


noop = None
noop_ev = None


def noop_kernel():
    """A kernel that does nothing (compiled on first use)."""
    global noop
    if noop is None:
        from numba import cfunc

        noop = cfunc(SIG, cache=True)(_noop_kernel)
    return noop


def noop_event():
    """An event function that does nothing (compiled on first use)."""
    global noop_ev
    if noop_ev is None:
        from numba import cfunc

        noop_ev = cfunc(EV_SIG, cache=True)(_noop_event)
    return noop_ev
