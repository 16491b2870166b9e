"""Interleaved timing of ours against a peer on a shared, noisy machine.

Another tenant's load moves both programs' speed by tens of percent within minutes, so timing all of ours
and then all of the peer's compares two different machines. ``interleave`` alternates them instead — ours,
peer, ours, peer, ... — and reports the median of the per-pair ratios (each pair measured seconds apart,
under about the same load) beside the medians of each side and every pair. Brian2's C++ standalone
binary is compiled once and then run again for each pair (:func:`standalone_rerun`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable


def interleave(ours: Callable[[], float], peer: Callable[[], float], rounds: int) -> dict:
    """Call ``ours()`` and ``peer()`` alternately ``rounds`` times (each returns seconds); the summary of the pairs."""
    o, p = [], []
    for _ in range(max(1, rounds)):
        o.append(float(ours()))
        p.append(float(peer()))
    ratios = [a / b for a, b in zip(o, p) if b == b and b > 0]
    return {
        "ours_s": statistics.median(o), "peer_s": statistics.median(p),
        "ratio": statistics.median(ratios) if ratios else float("nan"),
        "ours_runs": o, "peer_runs": p, "ratios": ratios,
    }


def standalone_rerun(b2, net, scale: float = 1.0) -> Callable[[], float]:
    """A function that runs Brian2's built C++ standalone binary again and returns its loop time (the sum of its
    code objects' profiled times, times ``scale``). Call after ``device.build(..., run=True)`` with ``profile=True``."""

    def rerun() -> float:
        b2.device.run()
        return float(sum(v for _, v in net.profiling_info) / b2.second) * scale

    return rerun


def summary_fields(res: dict, per_s: float, digits: int = 4) -> dict:
    """JSON fields of an ``interleave`` result, times scaled by ``per_s`` (e.g. to seconds per biological second)."""
    return {
        "ours_s": round(res["ours_s"] * per_s, digits), "peer_s": round(res["peer_s"] * per_s, digits),
        "ratio": round(res["ratio"], 3) if res["ratio"] == res["ratio"] else None,
        "pairs": len(res["ratios"]), "ours_runs_s": [round(t * per_s, digits) for t in res["ours_runs"]],
        "peer_runs_s": [round(t * per_s, digits) for t in res["peer_runs"]], "pair_ratios": [round(r, 3) for r in res["ratios"]],
    }
