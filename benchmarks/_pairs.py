"""Interleaved timing of ours against a peer on a shared, noisy machine.

Another tenant's load moves both programs' speed by tens of percent within minutes, so timing all of ours
and then all of the peer's compares two different machines. ``interleave`` alternates them instead — ours,
peer, ours, peer, ... — and reports the median of the per-pair ratios (each pair measured seconds apart,
under about the same load) beside the medians of each side and every pair. Brian2's C++ standalone
binary is compiled once and then run again for each pair (:func:`standalone_rerun`); its build is kept between
processes (:func:`standalone_build`), so only the first run on a machine pays the C++ compilation.
"""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

#: ``{"name", "directory", "reused", "compiled", "objects"}`` of the last :func:`standalone_build` of this process.
LAST_BUILD: dict = {}


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


def build_fields(target: str) -> dict:
    """JSON fields on this process's Brian2 C++ standalone build: whether the binary kept from an earlier run was reused
    unchanged (then the peer's warm-up time holds code generation only, no compilation)."""
    if target != "cpp_standalone" or not LAST_BUILD:
        return {}
    return {"peer_build_reused": LAST_BUILD["reused"], "peer_objects_compiled": f"{LAST_BUILD['compiled']}/{LAST_BUILD['objects']}"}


def standalone_cache_root() -> Path:
    """Where Brian2 standalone builds are kept: ``$NEURO_BRIAN2_BUILD_CACHE``, else ``$XDG_CACHE_HOME/neuro/brian2-standalone``."""
    env = os.environ.get("NEURO_BRIAN2_BUILD_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "neuro" / "brian2-standalone"


def standalone_build(b2, name: str | None = None) -> str:
    """``b2.device.build(compile=True, run=True)`` in a fresh directory seeded from the kept build of ``name`` (default:
    the running script's name); returns the directory, which lives until the process exits.

    Brian2 rewrites only the files whose contents changed and its makefile rebuilds only their objects, so with the
    kept build copied in (modification times preserved) an unchanged network is not compiled again: the first run
    pays 15-60 s of g++, later ones about a second. A changed network, Brian2 version or compiler flag recompiles what
    changed, and the result replaces the kept build. (Brian2 writes the clocks' initialisation in ``main.cpp`` in an
    order that changes from process to process, so that one file is often compiled again: a few seconds.) Each process
    builds in a directory of its own, so concurrent runs of one benchmark never share files. ``LAST_BUILD`` says whether
    the binary was reused unchanged and how many of its objects were compiled.
    """
    name = name or Path(sys.argv[0]).stem or "brian2"
    cache = standalone_cache_root() / name
    work = Path(tempfile.mkdtemp(prefix=f"b2_{name}_"))
    atexit.register(shutil.rmtree, work, True)
    if (cache / "main").is_file():
        try:
            shutil.copytree(cache, work, dirs_exist_ok=True)  # copy2: modification times kept, so make sees up-to-date objects
        except (OSError, shutil.Error):  # a concurrent run replacing the kept build: build from scratch
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
    before = _mtime(work / "main")
    objects = {p: _mtime(p) for p in work.rglob("*.o")}
    b2.device.build(directory=str(work), compile=True, run=True, debug=False)
    reused = before is not None and _mtime(work / "main") == before
    after = {p: _mtime(p) for p in work.rglob("*.o")}
    if not reused:
        _keep(work, cache)
    LAST_BUILD.clear()
    LAST_BUILD.update(name=name, directory=str(work), reused=reused, objects=len(after),
                      compiled=sum(objects.get(p) != t for p, t in after.items()))
    return str(work)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _keep(work: Path, cache: Path) -> None:
    """Replace the kept build by ``work``'s sources, objects and binary (not its data or results); best effort."""
    staged = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=cache.parent))
        shutil.copytree(work, staged, dirs_exist_ok=True, ignore=shutil.ignore_patterns("results", "static_arrays"))
        old = cache.with_name(f".{cache.name}.old.{os.getpid()}")
        if cache.exists():
            os.rename(cache, old)
        os.rename(staged, cache)
        shutil.rmtree(old, ignore_errors=True)
    except OSError:  # e.g. a concurrent run kept its build first: that one is as good
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
