"""torch.distributed set-up from the environment ``torchrun`` provides, the few collectives we use, the launcher behind
``neuro train --nproc N``, and the report of a process that failed.

``torchrun`` (``python -m torch.distributed.run``) sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``; with ``WORLD_SIZE > 1`` the process group is started with NCCL on
CUDA and gloo on CPU. Without those variables everything runs as a single process.

Launching: :func:`torchrun_argv` turns ``neuro train``'s launch options (``--nproc``, ``--nnodes``, ``--node-rank``,
``--master-addr``/``--master-port`` or ``--rdzv-endpoint``, ``--max-restarts``) into torchrun's, and :func:`launch` runs
torchrun's elastic agent in this process, each worker being ``python -m neuro.train`` with the other options.

Faults: when a process dies, its peers do not hang. gloo reports a closed connection at the next collective (within
milliseconds on one machine), and torchrun's agent, which polls its workers every 0.1 s, stops the others with SIGTERM.
Inside :func:`failure_report` (around ``Trainer.fit`` in ``neuro train``) a survivor turns either event into a
:class:`RankFailure` naming the rank that failed: a rank that raised leaves its error in the rendezvous store before
it exits; one that ended without a word (killed, ``os._exit``, a crash) is found by its process id on the same machine,
or, on another machine, by its silence after the others have reported (``_GRACE_S``). :func:`launch` then names the
first failed process from the agent's record (rank, exit code or signal, host). A process that hangs instead of
dying is ended by the collective timeout (``--dist-timeout``, ``NEURO_DIST_TIMEOUT`` seconds; torch's default is
30 min for gloo, 10 min for NCCL).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto``: ``cuda:LOCAL_RANK`` when CUDA is available, else CPU."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {preference!r} requested but CUDA is not available")
        device = torch.device(preference if ":" in preference else f"cuda:{local_rank}")
        torch.cuda.set_device(device)
        return device
    return torch.device(preference)


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group described by the environment (a no-op for a single process)."""
    world = _env_int("WORLD_SIZE", 1)
    info = DistInfo(rank=_env_int("RANK", 0), local_rank=_env_int("LOCAL_RANK", 0), world_size=world)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kw = {}
        timeout = collective_timeout()
        if timeout is not None:
            kw["timeout"] = datetime.timedelta(seconds=timeout)
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None, **kw)
    if dist.is_initialized():
        info = DistInfo(rank=dist.get_rank(), local_rank=info.local_rank, world_size=dist.get_world_size())
        if info.world_size > 1:
            _publish_process(info.rank)
    return info


def collective_timeout() -> float | None:
    """Seconds a collective may wait for the other processes (``NEURO_DIST_TIMEOUT``), or ``None`` for torch's default."""
    raw = os.environ.get("NEURO_DIST_TIMEOUT", "")
    if raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable NEURO_DIST_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"environment variable NEURO_DIST_TIMEOUT must be > 0 seconds, got {raw!r}")
    return value


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_objects(obj: Any) -> list[Any]:
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


# ----------------------------------------------------------------------------- faults
_KEY = "neuro.train"
_GRACE_S = 3.0  # how long a survivor waits for the other processes' reports before naming the silent ones


class RankFailure(RuntimeError):
    """This process stopped because another one failed; ``failed`` maps the failed ranks to what is known of them."""

    def __init__(self, message: str, failed: dict[int, str]):
        super().__init__(message)
        self.failed = failed


class _LauncherStop(Exception):
    """SIGTERM, as torchrun's agent sends it to the other workers when one has failed."""


def _store():
    try:
        store = dist.distributed_c10d._get_default_store()
    except Exception:  # noqa: BLE001 - no process group, or a backend without a store
        return None
    with contextlib.suppress(Exception):
        store.set_timeout(datetime.timedelta(seconds=1))
    return store


def _publish_process(rank: int) -> None:
    """Host name and process id of this rank in the rendezvous store: a peer tells from them that it has died."""
    store = _store()
    if store is not None:
        with contextlib.suppress(Exception):
            store.set(f"{_KEY}/proc/{rank}", f"{socket.gethostname()} {os.getpid()}")


def _process_gone(pid: int) -> bool:
    """Whether process ``pid`` of this machine has ended (absent, or a zombie its launcher has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def _read(store, key: str) -> str | None:
    try:
        if store.check([key]):
            return store.get(key).decode(errors="replace")
    except Exception:  # noqa: BLE001 - the store itself may be gone with the process that held it
        return None
    return None


def _lost_contact(exc: BaseException) -> bool:
    """Whether ``exc`` is what a collective raises when a peer has gone (or the launcher's SIGTERM)."""
    if isinstance(exc, _LauncherStop):
        return True
    if not isinstance(exc, RuntimeError):
        return False
    text = str(exc).lower()
    return any(k in text for k in ("connection closed", "connection reset", "broken pipe", "timed out", "timeout", "socket closed",
                                   "nccl communicator was aborted", "unhandled system error"))


def find_failed_ranks(rank: int, world_size: int, grace_s: float = _GRACE_S) -> dict[int, str]:
    """The ranks other than ``rank`` that failed, each with what is known: the error it left, or that its process ended
    without one. Waits up to ``grace_s`` for a report; after that a rank on another machine that left no report at all is
    named as silent."""
    store = _store()
    if store is None:
        return {}
    here = socket.gethostname()
    deadline = time.monotonic() + grace_s
    while True:
        failed, silent = {}, []
        for r in range(world_size):
            if r == rank:
                continue
            err = _read(store, f"{_KEY}/failed/{r}")
            if err is not None:
                failed[r] = f"raised {err}"
                continue
            if _read(store, f"{_KEY}/lost/{r}") is not None:
                continue  # a survivor like this one
            proc = _read(store, f"{_KEY}/proc/{r}")
            host, _, pid = (proc or "").partition(" ")
            if proc and host == here and pid.isdigit() and _process_gone(int(pid)):
                failed[r] = f"ended without a Python error (pid {pid} on {host}: killed, os._exit or a crash)"
            else:
                silent.append((r, host or "?"))
        if failed or not silent or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if not failed:
        failed = {r: f"sent no report (on host {host}): it died, hangs or lost its connection" for r, host in silent}
    return failed


@contextlib.contextmanager
def failure_report() -> Iterator[None]:
    """Around a distributed run: SIGTERM (torchrun's agent stopping the workers after one failed) becomes an exception,
    an error of this process is left in the rendezvous store for the others, and losing contact with a peer becomes a
    :class:`RankFailure` naming the rank that failed. A single process runs unchanged."""
    previous = None
    stopping = {"now": False}

    def on_sigterm(signum, frame):
        if not stopping["now"]:
            stopping["now"] = True
            raise _LauncherStop("stopped by SIGTERM (torchrun's agent stops every worker when one has failed)")

    launched = _env_int("WORLD_SIZE", 1) > 1
    if launched:
        with contextlib.suppress(ValueError):  # not the main thread
            previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except BaseException as exc:
        stopping["now"] = True
        previous = None  # keep ignoring SIGTERM: this process is on its way out and reports its own error
        if not (launched and dist.is_initialized()) or isinstance(exc, RankFailure):
            raise
        rank, world = dist.get_rank(), dist.get_world_size()
        store = _store()
        if not _lost_contact(exc):
            if store is not None:
                with contextlib.suppress(Exception):
                    store.set(f"{_KEY}/failed/{rank}", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500])
            raise
        if store is not None:
            with contextlib.suppress(Exception):
                store.set(f"{_KEY}/lost/{rank}", type(exc).__name__)
        failed = find_failed_ranks(rank, world)
        here = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if not failed:  # e.g. the whole job stopped by its scheduler: every process got SIGTERM
            raise RankFailure(f"rank {rank}: stopped ({here}); no other process reported a failure", failed) from exc
        what = "; ".join(f"rank {r} {why}" for r, why in sorted(failed.items()))
        raise RankFailure(f"rank {rank}: stopped because another process failed: {what} (here: {here})", failed) from exc
    finally:
        if previous is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, previous)


# ----------------------------------------------------------------------------- launching
def torchrun_argv(nproc: int | None, module_args: Sequence[str], *, nnodes: str | None = None, node_rank: int | None = None,
                  master_addr: str | None = None, master_port: int | None = None, rdzv_endpoint: str | None = None,
                  rdzv_id: str | None = None, max_restarts: int = 0) -> list[str]:
    """torchrun's arguments for ``nproc`` processes per node running ``python -m neuro.train MODULE_ARGS``.

    One node (``nnodes`` unset or ``"1"``): ``--standalone`` (a private rendezvous on a free port). Several nodes: either
    ``rdzv_endpoint`` (``HOST:PORT`` of a c10d rendezvous every node reaches; ``rdzv_id`` names the job, ranks of nodes
    are assigned unless ``node_rank`` is given; ``nnodes`` may be elastic, ``MIN:MAX``) or ``master_addr`` (+
    ``master_port``) with ``node_rank`` (static rendezvous). Run the same command on every node.
    """
    if nproc is None:
        nproc = 1
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"--nproc must be an integer >= 1, got {nproc!r}")
    if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
        raise ValueError(f"--max-restarts must be an integer >= 0, got {max_restarts!r}")
    nodes = str(nnodes) if nnodes is not None else "1"
    parts = nodes.split(":")
    if not (1 <= len(parts) <= 2 and all(p.isdigit() and int(p) >= 1 for p in parts)):
        raise ValueError(f"--nnodes must be N or MIN:MAX (integers >= 1), got {nnodes!r}")
    if node_rank is not None and (isinstance(node_rank, bool) or not isinstance(node_rank, int) or node_rank < 0):
        raise ValueError(f"--node-rank must be an integer >= 0, got {node_rank!r}")
    multi = nodes != "1"
    argv = [f"--nproc-per-node={nproc}", f"--nnodes={nodes}", f"--max-restarts={max_restarts}"]
    if rdzv_endpoint and master_addr:
        raise ValueError("give --rdzv-endpoint HOST:PORT (c10d rendezvous) or --master-addr HOST with --node-rank (static), not both")
    if rdzv_endpoint:
        host, _, port = rdzv_endpoint.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--rdzv-endpoint must be HOST:PORT, got {rdzv_endpoint!r}")
        argv += ["--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}", f"--rdzv-id={rdzv_id or 'neuro-train'}"]
        if node_rank is not None:
            argv.append(f"--node-rank={node_rank}")
    elif master_addr:
        if multi and node_rank is None:
            raise ValueError("--master-addr with several nodes needs --node-rank (0 on the master's node, 1, 2, ... on the others)")
        argv += [f"--master-addr={master_addr}", f"--master-port={master_port or 29500}", f"--node-rank={node_rank or 0}"]
    elif multi:
        raise ValueError(f"--nnodes {nodes} needs --rdzv-endpoint HOST:PORT or --master-addr HOST (a node every node reaches)")
    else:
        if node_rank not in (None, 0) or master_port is not None:
            raise ValueError("--node-rank / --master-port need several nodes (--nnodes) or --master-addr")
        argv.append("--standalone")
    return [*argv, "-m", "neuro.train", *module_args]


def describe_child_failure(exc) -> str:
    """One paragraph from torchrun's ``ChildFailedError``: the first failed process, then the others."""
    failures = getattr(exc, "failures", {}) or {}
    if not failures:
        return str(exc)

    def one(rank: int, f) -> str:
        how = f"exit code {f.exitcode}" if f.exitcode is None or f.exitcode >= 0 else f"signal {f.signal_name()}"
        detail = ""
        msg = f.message
        if isinstance(msg, dict):
            msg = msg.get("message", "")
        if msg and not str(msg).startswith("To enable traceback") and "Signal" not in str(msg):
            detail = f": {str(msg).strip().splitlines()[-1]}"
        return f"rank {rank} (local rank {f.local_rank}, pid {f.pid}) {how}{detail}"

    first_rank, first = min(failures.items(), key=lambda kv: kv[1].timestamp)
    others = [one(r, f) for r, f in sorted(failures.items()) if r != first_rank]
    text = f"process {one(first_rank, first)} failed first"
    if others:
        text += "; then " + "; ".join(others)
    return text


def launch(torchrun_args: Sequence[str]) -> int:
    """Runs torchrun's elastic agent here with ``torchrun_args``; 0 when every process succeeded, else 1 with the first
    failed process named on stderr."""
    if _env_int("WORLD_SIZE", 1) > 1 or os.environ.get("TORCHELASTIC_RUN_ID"):
        raise ValueError("--nproc/--nnodes start torchrun; this process already runs under a launcher (WORLD_SIZE is set): drop them")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(list(torchrun_args))
    # the agent installs its own handlers (a signal becomes an exception that stops the workers): restore ours after it
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)}
    try:
        run(args)
    except ChildFailedError as exc:
        print(f"neuro train: error: {describe_child_failure(exc)}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in saved.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)
    return 0
