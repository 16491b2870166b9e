r"""Parameter sweeps: one function (or one simulator network) run over a grid of parameter sets, in this process or on Dask.

:func:`sweep` calls ``fn(**point, seed=s)`` for every point of ``grid`` (a ``{name: values}`` mapping whose Cartesian
product is taken, or a list of ``{name: value}`` dicts) and each of ``replicates`` seeds, and gathers
``{"point", <parameters>, "replicate", "seed", <measures>}`` rows into a table (a pandas ``DataFrame`` when pandas is
installed, else a list of dicts), ordered by point. :func:`sweep_network` does the same for a
:mod:`neuro.sim` network builder: ``build(**point, seed=s)`` returns a :class:`~neuro.sim.Network`, which is run for
``duration`` ms and measured (by default the mean rate of each :class:`~neuro.sim.SpikeMonitor`).

Where it runs: sequentially in this process (``workers=None``, the default), on a Dask ``distributed.LocalCluster``
of ``workers`` processes (one thread each) started and closed here, or on any Dask ``client`` (e.g. a
``dask_jobqueue.SLURMCluster``'s). ``chunk_size`` points travel in one task.

Reproducibility: one ``seed`` fixes the whole sweep. Row ``k`` (point ``k // replicates``, replicate
``k % replicates``) gets the seed

.. math::

    s_k = \mathrm{SeedSequence}(\mathtt{seed}, \mathrm{spawn\_key}=(k,)).\mathrm{generate\_state}(1)[0]

drawn here, before anything runs, so a row's result depends neither on the number of workers, nor on the chunking,
nor on the order in which points finish (``tests/test_sweep.py`` compares sequential, 2 Dask workers and several
chunk sizes).

Resuming: with ``checkpoint=PATH`` every finished chunk is written to ``PATH`` (a pickle, rewritten through a
temporary file and an atomic rename, so a kill leaves the previous complete file). Run the same call again after an
interruption and the points found there are not run again; a checkpoint whose points differ from this sweep's
(other parameters or seeds at the same index), or that ran another function (by name and signature) or other
``fixed`` arguments, is refused. Appending points to a sweep keeps the finished ones. A changed function body under
the same name is not detected. Points that failed (``on_error="record"``) are not
saved as done, so a rerun tries them again.

Faults: a point whose worker process dies (a crash, ``os._exit``, the out-of-memory killer) is run again up to
``retries`` times on a live worker (Dask's nanny restarts the dead one); after that its rows fail with
``KilledWorker`` — recorded in the ``error`` column with ``on_error="record"`` while the other points finish, or raised
as :class:`SweepError` naming the points. ``tests/test_sweep_faults.py`` kills workers on a 2-worker cluster.

Example::

    from neuro.sweep import sweep

    def f(g, rate, seed):
        rng = np.random.default_rng(seed)
        return {"mean": g * rate + rng.normal()}

    table = sweep(f, {"g": [4.0, 5.0], "rate": [10.0, 20.0]}, replicates=2, seed=0, workers=2, checkpoint="runs/f.pkl")
"""

from __future__ import annotations

import inspect
import itertools
import os
import pickle
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import tmpfiles

__all__ = ["sweep", "sweep_network", "sweep_batched", "NetworkRun", "point_seeds", "SweepError"]

_FORMAT = "neuro.sweep/1"
_RESUBMIT_DELAY_S = 0.5  # before a task whose worker died is submitted again


class SweepError(RuntimeError):
    """A point of a sweep failed (``on_error="raise"``); ``point`` is its row, ``__cause__`` the error it raised."""

    def __init__(self, message: str, point: dict):
        super().__init__(message)
        self.point = point


# ----------------------------------------------------------------------------- seeds and points
def point_seeds(seed: int, n: int) -> list[int]:
    """The seeds of rows ``0 .. n-1`` of a sweep seeded with ``seed`` (independent streams of one ``SeedSequence``)."""
    return [int(np.random.SeedSequence(seed, spawn_key=(k,)).generate_state(1, np.uint32)[0]) for k in range(n)]


def _points(grid) -> list[dict]:
    """The parameter sets of ``grid``: a mapping's Cartesian product (in the mapping's order), or a list of dicts."""
    if isinstance(grid, Mapping):
        if not grid:
            raise ValueError("grid is empty: give {name: [values, ...]} with at least one parameter, or a list of dicts")
        names, values = [], []
        for name, vals in grid.items():
            if not isinstance(name, str):
                raise TypeError(f"grid keys must be parameter names (str), got {name!r}")
            if isinstance(vals, str | bytes) or not isinstance(vals, Iterable):
                raise TypeError(f"grid[{name!r}] must be a list of values, got {vals!r} (a fixed argument goes in fixed=)")
            vals = list(vals)
            if not vals:
                raise ValueError(f"grid[{name!r}] is empty: the grid has no points")
            names.append(name)
            values.append(vals)
        return [dict(zip(names, combo)) for combo in itertools.product(*values)]
    if isinstance(grid, str | bytes) or not isinstance(grid, Sequence):
        raise TypeError(f"grid must be a mapping {{name: [values]}} or a list of dicts, got {type(grid).__name__}")
    if len(grid) == 0:
        raise ValueError("grid is empty: the list of parameter sets has no points")
    points = []
    for k, p in enumerate(grid):
        if not isinstance(p, Mapping):
            raise TypeError(f"grid[{k}] must be a dict of parameter values, got {type(p).__name__}")
        if not all(isinstance(name, str) for name in p):
            raise TypeError(f"grid[{k}] keys must be parameter names (str), got {list(p)}")
        points.append(dict(p))
    return points


def _describe(fn) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    try:
        return f"{name}{inspect.signature(fn)}"
    except (TypeError, ValueError):
        return name


def _check_names(fn, points: list[dict], fixed: Mapping, seed_arg: str | None) -> bool:
    """Checks every point's names against ``fn``'s signature; returns whether ``fn`` takes ``seed_arg``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: let the call say what it lacks
        return seed_arg is not None
    params = sig.parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_seed = seed_arg is not None and (seed_arg in named or var_kw)
    for k, p in enumerate(points):
        clash = set(p) & set(fixed)
        if clash:
            raise ValueError(f"parameter(s) {sorted(clash)} are given both by the grid and by fixed=")
        if seed_arg is not None and seed_arg in p:
            raise ValueError(f"grid point {k} sets {seed_arg!r}, which the sweep passes itself (one seed per row); "
                             f"rename the parameter or pass seed_arg=None")
        if not var_kw:
            unknown = sorted(set(p) - named)
            if unknown:
                raise ValueError(f"unknown parameter(s) {unknown} for {_describe(fn)}; it takes {sorted(named)}")
    if not var_kw:
        unknown = sorted(set(fixed) - named)
        if unknown:
            raise ValueError(f"unknown fixed parameter(s) {unknown} for {_describe(fn)}; it takes {sorted(named)}")
    given = set(fixed) | ({seed_arg} if takes_seed else set())
    for k, p in enumerate(points):
        missing = [n for n, q in params.items() if q.default is q.empty and q.kind in (q.POSITIONAL_OR_KEYWORD, q.KEYWORD_ONLY)
                   and n not in p and n not in given]
        if missing:
            raise ValueError(f"grid point {k} ({p}) leaves required parameter(s) {missing} of {_describe(fn)} unset "
                             "(give them in the grid or in fixed=)")
    return takes_seed


# ----------------------------------------------------------------------------- running points
def _measures(value, names: set) -> dict:
    if value is None:
        out = {}
    elif isinstance(value, Mapping):
        out = dict(value)
    elif np.isscalar(value) or (isinstance(value, np.ndarray) and value.ndim == 0):
        out = {"value": value.item() if isinstance(value, np.generic | np.ndarray) else value}
    else:
        out = {"result": value}
    clash = sorted(set(out) & names)
    if clash:
        raise ValueError(f"the function's result names {clash} are also column names of the sweep table ({sorted(names)}); rename them")
    return out


def _run_chunk(fn, rows: list[dict], names: list[str], fixed: dict, seed_arg: str | None, takes_seed: bool, record: bool) -> list[dict]:
    """Runs the rows of one chunk (in a worker or here); each returned row holds its measures or its error."""
    out = []
    for row in rows:
        kwargs = {n: row[n] for n in names if n in row}
        kwargs.update(fixed)
        if takes_seed:
            kwargs[seed_arg] = row["seed"]
        res = dict(row)
        try:
            res.update(_measures(fn(**kwargs), set(row)))
        except Exception as exc:  # noqa: BLE001 - recorded, or re-raised for the caller to name the point
            if not record:
                try:
                    exc.sweep_point = row["point"]  # kept when Dask pickles the exception back (it is in __dict__)
                except AttributeError:  # exceptions with __slots__
                    pass
                raise
            res["error"] = f"{type(exc).__name__}: {exc}"
        out.append(res)
    return out


def _check_picklable(fn, label: str, fixed: Mapping) -> None:
    import cloudpickle  # what Dask serialises tasks with

    for what, obj in (("fn", fn), ("fixed", fixed)):
        try:
            cloudpickle.dumps(obj)
        except Exception as exc:  # noqa: BLE001 - many types of pickling error
            raise TypeError(f"{what} ({label if what == 'fn' else 'fixed='}) cannot be pickled for the Dask workers "
                            f"({type(exc).__name__}: {exc}). Hint: define the function "
                            "at module level without references to locks, open files, live networks or GPU handles (build those inside "
                            "the function from picklable parameters), or run in this process with workers=None") from exc


# ----------------------------------------------------------------------------- checkpoint
def _load_checkpoint(path: Path, rows: list[dict], keys: list[str], context: str) -> dict[int, dict]:
    if not path.exists():
        return {}
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
    except Exception as exc:  # noqa: BLE001 - a file that is not ours
        raise ValueError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); delete it or pass another path") from exc
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise ValueError(f"checkpoint {path} is not a neuro.sweep checkpoint (format {data.get('format') if isinstance(data, dict) else None!r})")
    if data.get("context") != context:
        raise ValueError(f"checkpoint {path} belongs to another sweep: it ran {data.get('context')}, this sweep runs {context}; "
                         "use another checkpoint path or delete the file")
    done = {}
    for k, saved in data["done"].items():
        if k >= len(rows) or keys[k] != saved["key"]:
            here = f"{_key_text(rows[k])}" if k < len(rows) else "absent"
            raise ValueError(f"checkpoint {path} belongs to another sweep: its row {k} is {_key_text(saved['row'])}, this sweep's is {here}; "
                             "use another checkpoint path or delete the file")
        done[k] = saved["row"]
    return done


def _key_text(row: dict) -> str:
    return ", ".join(f"{n}={row[n]!r}" for n in row if n not in ("point",))


def _row_key(row: dict) -> str:
    return repr(sorted((n, repr(v)) for n, v in row.items()))


def _save_checkpoint(path: Path, done: dict[int, dict], keys: list[str], context: str) -> None:
    """Writes ``done`` to ``.<name>.tmp-<pid>`` beside ``path``, flushed to disk, then renames it over ``path``."""
    data = {"format": _FORMAT, "context": context, "done": {k: {"key": keys[k], "row": r} for k, r in sorted(done.items())}}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# ----------------------------------------------------------------------------- the sweep
def sweep(fn: Callable, grid, *, fixed: Mapping | None = None, replicates: int = 1, seed: int = 0, seed_arg: str | None = "seed",
          workers: int | None = None, client=None, chunk_size: int = 1, checkpoint: str | os.PathLike | None = None,
          on_error: str = "raise", retries: int = 1, progress: bool = True, as_frame: bool | None = None):
    """Runs ``fn(**point, **fixed, seed=s)`` for every point of ``grid`` and ``replicates`` seeds; returns the table.

    Parameters:
        fn: a function returning a dict of measures (or one number, stored as ``value``; ``None``: no measure).
        grid: ``{name: [values]}`` (Cartesian product, first name slowest) or a list of ``{name: value}`` dicts.
        fixed: arguments passed to every call and not stored in the table.
        replicates: seeds per point (rows ``point * replicates + r``).
        seed: the sweep's seed; row ``k`` gets :func:`point_seeds(seed, n)[k] <point_seeds>`.
        seed_arg: the name ``fn`` takes its seed under (passed when ``fn`` has that parameter or ``**kwargs``);
            ``None`` passes no seed.
        workers: ``None`` runs here, sequentially; ``N`` starts a Dask ``LocalCluster`` of ``N`` processes (one thread
            each) for this call. Needs ``dask[distributed]`` (``pip install neuro-snn[sweep]``).
        client: a ``distributed.Client`` to run on instead (not closed here).
        chunk_size: rows per task.
        checkpoint: a file that keeps the finished rows; a rerun skips them.
        on_error: ``"raise"`` (the first failure stops the sweep: :class:`SweepError` naming the point, the finished rows
            kept in the checkpoint) or ``"record"`` (the row gets an ``error`` column and the others go on).
        retries: times a task is run again after its worker process died while running it (a crash, ``os._exit``, the
            kernel's out-of-memory killer); after ``retries + 1`` deaths its rows fail with ``KilledWorker``, recorded with
            ``on_error="record"`` (the other rows finish), else raised as :class:`SweepError`. An exception raised by
            ``fn`` is not retried (it would be raised again). No more tasks are in flight than the live workers have
            threads, so a worker holds only the task it runs and its death is charged to that task. The cluster started
            with ``workers=N`` charges each death at once (its scheduler's ``allowed_failures`` is 0; the sweep resubmits,
            after 0.5 s); a ``client``'s scheduler first reruns a task on its own up to its
            ``distributed.scheduler.allowed-failures`` times (each counted here as a death too). A finished result lost
            with its worker before it was gathered is computed again by Dask (same seed, same row).
        progress: a tqdm bar over rows.
        as_frame: ``None``: a ``pandas.DataFrame`` when pandas is installed, else a list of dicts; ``True`` / ``False``
            force one.

    Returns the rows ordered by ``point``: ``point`` (row index), the parameters, ``replicate``, ``seed``, the measures,
    and ``error`` (``None`` where the row succeeded) with ``on_error="record"``.
    """
    fixed = dict(fixed or {})
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if isinstance(replicates, bool) or not isinstance(replicates, int | np.integer) or replicates < 1:
        raise ValueError(f"replicates must be an integer >= 1, got {replicates!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1):
        raise ValueError(f"workers must be None (run here) or an integer >= 1, got {workers!r}")
    if workers is not None and client is not None:
        raise ValueError("give workers= (a LocalCluster started here) or client= (an existing Dask cluster), not both")
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    if isinstance(retries, bool) or not isinstance(retries, int | np.integer) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    if as_frame and not _has_pandas():
        raise ImportError("as_frame=True needs pandas (pip install pandas); as_frame=None returns a list of dicts without it")

    target = fn.build if isinstance(fn, NetworkRun) else fn
    label = _describe(target)
    points = _points(grid)
    takes_seed = _check_names(target, points, fixed, seed_arg)
    if replicates > 1 and not takes_seed:
        raise ValueError(f"replicates={replicates} needs a seed argument: {_describe(target)} takes no {seed_arg!r} parameter, "
                         "so every replicate would be the same run")
    names = list(dict.fromkeys(n for p in points for n in p))
    seeds = point_seeds(int(seed), len(points) * replicates)
    rows = []
    for k, s in enumerate(seeds):
        p = points[k // replicates]
        rows.append({"point": k, **p, "replicate": k % replicates, "seed": s})
    keys = [_row_key(r) for r in rows]
    # what else decides a row's result: the function, the fixed arguments and a network's duration
    context = f"{label} with fixed={dict(sorted((k, repr(v)) for k, v in fixed.items()))}"
    if isinstance(fn, NetworkRun):
        context += f" for {fn.duration!r} ms, measure={_describe(fn.measure) if fn.measure is not None else 'rates'}"

    path = Path(checkpoint) if checkpoint is not None else None
    done: dict[int, dict] = {}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmpfiles.remove_orphans(path.parent, re.compile(rf"^\.{re.escape(path.name)}\.tmp-(\d+)$"))  # left by killed writers
        done = _load_checkpoint(path, rows, keys, context)
    todo = [r for r in rows if r["point"] not in done]
    chunks = [todo[i : i + chunk_size] for i in range(0, len(todo), chunk_size)]
    failed: dict[int, dict] = {}
    record = on_error == "record"

    from tqdm.auto import tqdm

    bar = tqdm(total=len(rows), initial=len(done), desc="sweep", unit="point", disable=not progress)

    def finished(result: list[dict]) -> None:
        for r in result:
            (failed if r.get("error") else done)[r["point"]] = r
        bar.update(len(result))
        if path is not None:
            _save_checkpoint(path, done, keys, context)

    try:
        if workers is None and client is None:
            for chunk in chunks:
                try:
                    finished(_run_chunk(fn, chunk, names, fixed, seed_arg, takes_seed, record))
                except Exception as exc:
                    raise _point_error(label, chunk, exc) from exc
        else:
            _run_dask(fn, label, chunks, names, fixed, seed_arg, takes_seed, record, workers, client, retries, finished)
    finally:
        bar.close()

    table = [done.get(k) or failed[k] for k in range(len(rows))]
    if record:
        table = [{**r, "error": r.get("error")} for r in table]
    if as_frame is None:
        as_frame = _has_pandas()
    if as_frame:
        import pandas as pd

        return pd.DataFrame(table)
    return table


def _point_error(label: str, chunk: list[dict], exc: BaseException) -> SweepError:
    """A :class:`SweepError` naming the row of ``chunk`` that raised ``exc``."""
    k = getattr(exc, "sweep_point", None)
    bad = next((r for r in chunk if r["point"] == k), None)
    hint = ""
    if isinstance(exc, ModuleNotFoundError):
        hint = (f" (the workers cannot import module {exc.name!r}: make it importable there, or have cloudpickle send it by value: "
                "cloudpickle.register_pickle_by_value(module))")
    if bad is None:  # the task failed outside the function (e.g. its worker died more often than retries)
        where = f"sweep points {[r['point'] for r in chunk]}"
        bad = chunk[0]
    else:
        where = f"sweep point {bad['point']} ({_key_text(bad)})"
    return SweepError(f"{where} of {label} failed: {type(exc).__name__}: {exc}{hint}", bad)


def _run_dask(fn, label, chunks, names, fixed, seed_arg, takes_seed, record, workers, client, retries, finished) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ImportError("workers= / client= need Dask distributed: pip install 'dask[distributed]' (or neuro-snn[sweep]); "
                          "workers=None runs the sweep here without it") from exc
    _check_picklable(fn, label, fixed)
    from distributed.scheduler import KilledWorker

    cluster = own = None
    if client is None:
        # the scheduler gives up on a task at the first death of its worker: the sweep counts deaths and resubmits
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=":0",
                               scheduler_kwargs={"allowed_failures": 0})
        client = own = Client(cluster)
    futures: dict = {}  # future in flight -> (chunk, deaths so far)
    waiting = [(0.0, chunk, 0) for chunk in chunks]  # (not before, chunk, deaths so far), in submission order
    done_iter = as_completed([])
    try:
        while waiting or futures:
            # no more tasks in flight than the live workers have threads: a worker holds only the task it runs, so
            # its death is charged to that task and not to others queued behind it
            free = sum(client.nthreads().values()) - len(futures)
            now = time.monotonic()
            for item in [w for w in waiting if w[0] <= now][:max(free, 0)]:
                waiting.remove(item)
                fut = client.submit(_run_chunk, fn, item[1], names, fixed, seed_arg, takes_seed, record, pure=False)
                futures[fut] = item[1:]
                done_iter.add(fut)
            if not futures:  # workers restarting, or a retry waiting for its delay
                time.sleep(0.05)
                continue
            fut = next(done_iter)
            chunk, deaths = futures.pop(fut)
            try:
                result = fut.result()
            except KilledWorker as exc:
                deaths += exc.allowed_failures + 1  # the scheduler's own reruns, each a death too
                if deaths <= retries:
                    # later, not at once: a worker that died at the same moment may not have been removed yet
                    waiting.append((time.monotonic() + _RESUBMIT_DELAY_S, chunk, deaths))
                    continue
                if not record:
                    raise _point_error(label, chunk, exc) from exc
                text = (f"KilledWorker: the worker process died while running this point, {deaths} time(s) "
                        f"(retries={retries}); the last one was {exc.last_worker.address}")
                result = [{**r, "error": text} for r in chunk]
            except Exception as exc:
                raise _point_error(label, chunk, exc) from exc
            finished(result)
    except BaseException:
        for other in futures:
            other.cancel()
        raise
    finally:
        if own is not None:
            own.close()
            cluster.close()


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- simulator networks
@dataclass(frozen=True)
class NetworkRun:
    """A sweep function for a :mod:`neuro.sim` network: ``build(**point, seed=s)`` returns a ``Network`` that is run for
    ``duration`` ms (without a progress bar) and measured by ``measure(net, duration)`` (a dict); by default the mean rate
    (Hz) of each :class:`~neuro.sim.SpikeMonitor` as ``rate_<population name>`` and the network's
    ``synaptic_events``."""

    build: Callable
    duration: float
    measure: Callable | None = None

    def __post_init__(self):
        if not callable(self.build):
            raise TypeError(f"build must be callable, got {type(self.build).__name__}")
        if not (isinstance(self.duration, int | float) and np.isfinite(self.duration) and self.duration > 0):
            raise ValueError(f"duration must be a finite number of ms > 0, got {self.duration!r}")
        if self.measure is not None and not callable(self.measure):
            raise TypeError(f"measure must be callable or None, got {type(self.measure).__name__}")

    def __call__(self, **kwargs) -> dict:
        from .sim import Network, SpikeMonitor

        net = self.build(**kwargs)
        if not isinstance(net, Network):
            raise TypeError(f"{_describe(self.build)} must return a neuro.sim.Network, got {type(net).__name__}")
        net.run(self.duration, progress=False)
        if self.measure is not None:
            return self.measure(net, self.duration)
        out: dict[str, Any] = {}
        for mon in net.monitors:
            if isinstance(mon, SpikeMonitor):
                out[f"rate_{mon.pop.name}"] = float(mon.rate(self.duration))
        out["synaptic_events"] = int(net.counts["synaptic_events"])
        return out


def sweep_network(build: Callable, grid, duration: float, *, measure: Callable | None = None, **kwargs):
    """:func:`sweep` of a network builder: ``build(**point, seed=s)`` returns a :class:`~neuro.sim.Network` (with the
    monitors the measures read), run for ``duration`` ms and measured (see :class:`NetworkRun`). The other keyword
    arguments are :func:`sweep`'s."""
    return sweep(NetworkRun(build, duration, measure), grid, **kwargs)


def sweep_batched(build: Callable, grid, duration: float, *, measure: Callable | None = None, fixed: Mapping | None = None,
                  replicates: int = 1, seed: int = 0, seed_arg: str | None = "seed", progress: bool | None = None,
                  as_frame: bool | None = None):
    """All points of a network sweep as independent copies in ONE network, run by one call of the compiled loop.

    ``build(**point, **fixed, seed=s)`` returns a :class:`~neuro.sim.Network` that has not been run (the same builders as
    :func:`sweep_network`). The points' networks are run as one network of the same ``dt`` (seeded with ``seed``) for
    ``duration`` ms by :class:`neuro.sim.batch.Batch`: networks of one structure (the same populations, projections and
    spike monitors; sizes and per-neuron / per-synapse values may differ, scalar parameters such as ``tau_m`` may not)
    are merged into one population per role, one projection per role and one spike monitor per role, so the loop pays
    its per-population costs once per role, not once per point; other networks (user-defined models, plasticity, state
    monitors ...) are moved in as they are. Then each point is measured on its own network object
    (``measure(net, duration)``, by default the mean rate of each of its :class:`~neuro.sim.SpikeMonitor` as
    ``rate_<population name>``): its monitors hold its own spikes, its clock and its populations' state are those at the
    end of the run (``benchmarks/sweep_batched.py``).

    What a point draws when it is built (connectivity, weights, delays, initial values: from its seed ``s``, as in
    :func:`sweep_network`) is the same here, so on deterministic networks each point's measures equal those of its own
    separate run (``tests/test_sweep_batched.py``, ``tests/sim/test_batch.py``); the run's own random numbers (Poisson
    spikes, noise) are drawn per neuron of the batched network, so a point's spikes are another sample of the same law,
    not those of its separate run. Networks with neuromodulators (whose names would collide) and networks already run
    are refused. Rows as :func:`sweep`'s.
    """
    from .sim import Network, SpikeMonitor
    from .sim.batch import Batch

    fixed = dict(fixed or {})
    if not callable(build):
        raise TypeError(f"build must be callable, got {type(build).__name__}")
    if not (isinstance(duration, int | float) and np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a finite number of ms > 0, got {duration!r}")
    if isinstance(replicates, bool) or not isinstance(replicates, int | np.integer) or replicates < 1:
        raise ValueError(f"replicates must be an integer >= 1, got {replicates!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    label = _describe(build)
    points = _points(grid)
    takes_seed = _check_names(build, points, fixed, seed_arg)
    if replicates > 1 and not takes_seed:
        raise ValueError(f"replicates={replicates} needs a seed argument: {label} takes no {seed_arg!r} parameter")
    seeds = point_seeds(int(seed), len(points) * replicates)
    rows = [{"point": k, **points[k // replicates], "replicate": k % replicates, "seed": s} for k, s in enumerate(seeds)]
    nets = []
    for row in rows:
        args = {**{n: row[n] for n in points[row["point"] // replicates]}, **fixed}
        if takes_seed:
            args[seed_arg] = row["seed"]
        try:
            net = build(**args)
        except Exception as exc:
            raise _point_error(label, [row], exc) from exc
        if not isinstance(net, Network):
            raise TypeError(f"{label} must return a neuro.sim.Network, got {type(net).__name__}")
        if net.modulators:
            raise ValueError(f"point {row['point']}: its network has neuromodulators ({sorted(net.modulators)}), whose names would "
                             "collide in one batched network; use sweep_network")
        if net.built or net.step:
            raise ValueError(f"point {row['point']}: its network was already built or run; sweep_batched needs fresh networks")
        if nets and (net.dt != nets[0].dt or net.backend != nets[0].backend):
            raise ValueError(f"point {row['point']}: dt = {net.dt} ms, backend {net.backend!r}; the first point's network has "
                             f"dt = {nets[0].dt} ms, backend {nets[0].backend!r} (one batched network has one of each)")
        nets.append(net)
    Batch(nets, seed=int(seed)).run(duration, progress=progress)
    table = []
    for row, net in zip(rows, nets):
        if measure is not None:
            got = _measures(measure(net, duration), set(row))
        else:
            got = {f"rate_{m.pop.name}": float(m.rate(duration)) for m in net.monitors if isinstance(m, SpikeMonitor)}
        table.append({**row, **got})
    if as_frame is None:
        as_frame = _has_pandas()
    if as_frame:
        import pandas as pd

        return pd.DataFrame(table)
    return table
