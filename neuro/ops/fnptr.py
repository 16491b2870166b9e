"""Calls through the address of a compiled C function from inside Numba code.

The simulator's loop runs the generated kernels of user-defined models and rules (:mod:`neuro.dynamics.codegen`,
:mod:`neuro.dynamics.syncodegen`, Numba ``cfunc`` objects) by their addresses, held in ``uint64`` arrays. Passing the
functions themselves (tuples of first-class function objects) made Numba type each of them at every call of the loop,
about 10 ms per call: a run cut into many short calls paid it each time. An address in an array is typed at once.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["call_kernel", "call_event"]


def _call(context, builder, signature, args):
    argtys = [context.get_value_type(a) for a in signature.args[1:]]
    fnty = ir.FunctionType(ir.VoidType(), argtys)
    builder.call(builder.inttoptr(args[0], fnty.as_pointer()), args[1:])
    return context.get_dummy_value()


@intrinsic
def call_kernel(typingctx, address, t, lo, n, dt, seed, table):
    """``kernel(t, lo, n, dt, seed, table)`` at ``address`` (the signature ``neuro.dynamics.codegen_support.SIG``)."""
    sig = types.void(types.uint64, types.int64, types.int64, types.int64, types.float64, types.int64, types.uint64)
    return sig, _call


@intrinsic
def call_event(typingctx, address, t, dt, seed, table, s, k, i, j):
    """``event(t, dt, seed, table, s, k, i, j)`` at ``address`` (the signature ``neuro.dynamics.codegen_support.EV_SIG``)."""
    sig = types.void(types.uint64, types.int64, types.float64, types.int64, types.uint64, types.int64, types.int64, types.int64,
                     types.int64)
    return sig, _call
