"""neuro.ops.atomics: atomic adds lose no update between threads, and the spin barrier keeps threads in lock-step."""

from __future__ import annotations

import os
import threading

import numpy as np
from numba import njit

from neuro.ops.atomics import atomic_add, atomic_load, atomic_store, barrier


@njit(nogil=True, cache=True)
def _count(counter, n):
    for _ in range(n):
        atomic_add(counter, 0, 1)


@njit(nogil=True, cache=True)
def _lockstep(c, n_threads, rounds, seen, bar, wrong):
    """Round k: each thread writes k into its slot, waits, then reads every slot: all must hold k; waits again."""
    for k in range(rounds):
        atomic_store(seen, 8 * c, k)
        barrier(bar, n_threads)
        for j in range(n_threads):
            if atomic_load(seen, 8 * j) != k:
                wrong[c] += 1
        barrier(bar, n_threads)


def _threads(target, n, *args):
    ts = [threading.Thread(target=target, args=(c, *args)) for c in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def test_atomic_adds_from_two_threads_lose_no_update():
    counter = np.zeros(1, np.int64)
    _threads(lambda c: _count(counter, 200_000), 2)
    assert counter[0] == 400_000


def test_barrier_keeps_threads_in_lock_step():
    # as many threads as cores (waiters spin ~1 ms before yielding: more threads than cores would mostly wait)
    n = min(2, len(os.sched_getaffinity(0)))
    seen = np.zeros(8 * n, np.int64)
    bar = np.zeros(16, np.int64)
    wrong = np.zeros(n, np.int64)
    _threads(_lockstep, n, n, 2000, seen, bar, wrong)
    assert wrong.sum() == 0
    assert bar[0] == 0 and bar[8] == 4000  # every arrival counted off, one generation per barrier
