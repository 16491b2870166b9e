"""Atomic integer operations, a spin barrier and a yield, for compiled code running on several threads at once.

The simulator's threaded loop (:func:`neuro.sim.engine_cpu.run_threads`) runs one worker per thread for the whole
run, instead of opening a Numba parallel region per phase of every step (a region cost about 7 us to open and close
on this project's 2-core machine, measured with the process at real-time priority; two per step were a fifth of a
64k-neuron step). The workers meet at :func:`barrier` between the phases of a step (about 0.3 us there). The
read-modify-writes are sequentially consistent and the loads acquire: what a thread wrote before a barrier is seen
by every thread after it.
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["atomic_add", "atomic_load", "atomic_store", "cpu_relax", "sched_yield", "barrier"]


def _pointer(context, builder, aryty, ary, idx):
    array = context.make_array(aryty)(context, builder, ary)
    return cgutils.get_item_pointer(context, builder, aryty, array, [idx])


def _check(arr):
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
        raise TypeError(f"atomic operations take a 1-d int64 array, got {arr}")


@intrinsic
def atomic_add(typingctx, arr, idx, value):
    """``arr[idx] += value`` as one atomic step (sequentially consistent); returns the value before."""
    _check(arr)

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig.args[0], args[0], args[1])
        val = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return types.int64(arr, types.intp, value), codegen


@intrinsic
def atomic_load(typingctx, arr, idx):
    """``arr[idx]``, read with acquire ordering (a spin loop over it is not hoisted out by the compiler)."""
    _check(arr)

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(arr, types.intp), codegen


@intrinsic
def atomic_store(typingctx, arr, idx, value):
    """``arr[idx] = value`` with release ordering."""
    _check(arr)

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig.args[0], args[0], args[1])
        builder.store_atomic(context.cast(builder, args[2], sig.args[2], types.int64), ptr, "release", 8)
        return context.get_dummy_value()

    return types.void(arr, types.intp, value), codegen


@intrinsic
def cpu_relax(typingctx):
    """The CPU's spin-wait hint (``pause`` on x86; nothing elsewhere)."""

    def codegen(context, builder, sig, args):
        import platform

        if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def sched_yield(typingctx):
    """The C library's ``sched_yield()``: give the core to another thread that is ready (a waiting thread does, so
    that on a loaded machine the thread it waits for gets to run)."""

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(ir.IntType(32), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


_SPINS = 200_000  # pause-spins (about a millisecond) before a waiting thread starts yielding its core: a worker that
# yields at a barrier on a busy machine gives its core away for a time slice and the others then wait for it


@njit(cache=True)
def barrier(bar, n_threads):
    """Wait until ``n_threads`` threads have called this with the same ``bar`` (an int64 array of 16 zeros at first:
    the arrival count in ``bar[0]``, the generation in ``bar[8]``, a cache line apart). The last to arrive resets the
    count and moves the generation on; the others spin on the generation, then yield the core between looks."""
    gen = atomic_load(bar, 8)
    if atomic_add(bar, 0, 1) == n_threads - 1:
        atomic_store(bar, 0, 0)
        atomic_add(bar, 8, 1)
        return
    spins = 0
    while atomic_load(bar, 8) == gen:
        if spins < _SPINS:
            cpu_relax()
            spins += 1
        else:
            sched_yield()
