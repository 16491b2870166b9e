"""``neuro train --nproc 2`` (torchrun started by the command line, 2 gloo processes on the CPU): a rank that dies ends
the run on every rank with an error naming it, within a measured bound; ``--resume`` then finishes the run, both ranks
end with identical weights equal to a single process trained on the same global batches, and rank 0 alone writes.

This file is also the model factory of the launched processes (``--model THIS_FILE:build_model``): with
``NEURO_TEST_DUMP=DIR`` each process writes there at exit its weights and the files it opened for writing, and with
``NEURO_TEST_DIE=RANK:STEP`` process RANK ends without a word (``os._exit(3)``) at its training step STEP of the first attempt (raises ``ValueError`` with
``NEURO_TEST_DIE_HOW=raise``, sleeps an hour with ``hang``).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from neuro.train.checkpoint import list_checkpoints, load_latest
from neuro.train.distributed import describe_child_failure, torchrun_argv

HERE = Path(__file__)
TOY = HERE.with_name("toy.py")
FACTORIES = ["--model", f"{HERE}:build_model", "--data", f"{TOY}:build_data"]


def _toy():
    spec = importlib.util.spec_from_file_location("toy_for_launch", TOY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_model(cfg):
    model = _toy().build_model(cfg)
    rank = int(os.environ.get("RANK", "0"))
    die = os.environ.get("NEURO_TEST_DIE")
    dump = os.environ.get("NEURO_TEST_DUMP")
    if die:
        die_rank, die_step = (int(v) for v in die.split(":"))
        steps = [0]

        def count(module, args):
            if module.training and torch.is_grad_enabled():
                steps[0] += 1
                first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"  # torchrun --max-restarts
                if rank == die_rank and steps[0] == die_step and first_attempt:
                    Path(dump, "died_at").write_text(repr(time.time()))
                    if os.environ.get("NEURO_TEST_DIE_HOW") == "raise":
                        raise ValueError(f"rank {rank} fails at step {die_step}")
                    if os.environ.get("NEURO_TEST_DIE_HOW") == "hang":
                        time.sleep(3600)
                    os._exit(3)

        model.register_forward_pre_hook(count)
    if dump:
        out_dir = str(Path(cfg.out_dir).resolve())
        writes: list[str] = []

        def audit(event, args):
            if event == "open" and isinstance(args[0], str | Path) and isinstance(args[1], str) and set(args[1]) & set("wax+"):
                path = str(Path(args[0]).resolve())
                if path.startswith(out_dir):
                    writes.append(os.path.relpath(path, out_dir))
            elif event in ("os.rename", "os.replace") and str(Path(args[1]).resolve()).startswith(out_dir):
                writes.append("-> " + os.path.relpath(str(Path(args[1]).resolve()), out_dir))

        sys.addaudithook(audit)

        def save():
            torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, Path(dump, f"rank{rank}.pt"))
            Path(dump, f"rank{rank}_writes.json").write_text(json.dumps(writes))

        atexit.register(save)
    return model


def _env(**extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}
    for k in ("NEURO_TRAIN_TEST_DELAY", "WORLD_SIZE", "RANK", "LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        env.pop(k, None)
    env.update(extra)
    return env


def test_dead_rank_stops_every_rank_then_resume_matches_one_process(tmp_path, monkeypatch, capfd):
    """2 x 8 = global batch 16, SGD with momentum, 90 samples (the last global batch short), 2 epochs = 12 steps; a
    checkpoint every 2 steps. Tolerance against one process: 1e-6 (float summation order of the gradient average).
    The launcher (torchrun's agent) runs in this process, as ``neuro train`` runs it; the 2 ranks are processes."""
    from neuro.train.cli import main

    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 2, "batch_size": 16, "drop_last": False,
                                  "checkpoint_every": 2, "log_every": 2, "progress": False, "tensorboard": False, "extra": {"n": 90}}))
    # a collective waits at most 30 s for a peer: were the fault not reported, the run would still end, but after the bound
    args = ["--config", str(recipe), *FACTORIES, "--out-dir", str(tmp_path / "ddp"), "--nproc", "2", "--dist-timeout", "30"]
    cut, done = tmp_path / "cut", tmp_path / "done"
    cut.mkdir()
    done.mkdir()
    for k, v in _env().items():
        if os.environ.get(k) != v:
            monkeypatch.setenv(k, v)
    for k in ("NEURO_TRAIN_TEST_DELAY", "WORLD_SIZE", "RANK", "LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(k, raising=False)

    # rank 1 dies at its 5th step, after the checkpoint of step 4
    monkeypatch.setenv("NEURO_TEST_DIE", "1:5")
    monkeypatch.setenv("NEURO_TEST_DUMP", str(cut))
    assert main(args) == 1
    bound = time.time() - float((cut / "died_at").read_text())
    err = capfd.readouterr().err
    # measured 2.7 s on 2 cores shared by ~8 processes (load average 8): gloo reports the closed connection at once, the
    # agent polls every 0.1 s; rank 0 finds the dead pid at once (else waits <= 3 s for the others' reports)
    assert bound < 20.0, bound
    # rank 0 names the rank that died ...
    assert "neuro train: error: rank 0: stopped because another process failed: rank 1 ended without a Python error" in err, err[-3000:]
    # ... and the launcher names the first failed process and its exit code
    assert "neuro train: error: process rank 1 (local rank 1, pid" in err and ") exit code 3 failed first" in err, err[-3000:]
    assert max(s for s, _ in list_checkpoints(tmp_path / "ddp" / "checkpoints")) == 4
    assert not (tmp_path / "ddp" / "result.json").exists()

    monkeypatch.delenv("NEURO_TEST_DIE")
    monkeypatch.setenv("NEURO_TEST_DUMP", str(done))
    assert main([*args, "--resume"]) == 0
    out = capfd.readouterr().out
    monkeypatch.delenv("NEURO_TEST_DUMP")
    assert main(["--config", str(recipe), *FACTORIES, "--out-dir", str(tmp_path / "one")]) == 0
    one = json.loads(capfd.readouterr().out.splitlines()[-1])

    r0, r1 = torch.load(done / "rank0.pt"), torch.load(done / "rank1.pt")
    ckpt = load_latest(tmp_path / "ddp" / "checkpoints")[1]
    ref = load_latest(tmp_path / "one" / "checkpoints")[1]["model"]
    assert ckpt["step"] == 12
    for k in ref:
        assert torch.equal(r0[k], r1[k]), k  # DDP keeps the replicas bit-identical
        assert torch.equal(r0[k], ckpt["model"][k]), k
        assert torch.allclose(r0[k], ref[k], rtol=0, atol=1e-6), (k, (r0[k] - ref[k]).abs().max())
    result = json.loads((tmp_path / "ddp" / "result.json").read_text())
    assert result == json.loads(out.splitlines()[-1]) and result["step"] == one["step"] == 12
    assert result["train_loss"] == pytest.approx(one["train_loss"], abs=1e-6) and result["eval_accuracy"] == one["eval_accuracy"]

    # rank 0 alone writes, and a checkpoint appears under its name only by a rename of a complete temporary file
    assert json.loads((done / "rank1_writes.json").read_text()) == []
    writes = json.loads((done / "rank0_writes.json").read_text())
    assert "result.json" in writes and "metrics.csv" in writes
    ckpt_writes = [w for w in writes if "checkpoints" in w]
    finals = [w[3:] for w in ckpt_writes if w.startswith("-> ")]
    assert sorted({f for f in finals if f.endswith(".pt")}) == [f"checkpoints/step_{k:08d}.pt" for k in (6, 8, 10, 12)], ckpt_writes
    assert not set(finals) & {w for w in ckpt_writes if not w.startswith("-> ")}, ckpt_writes  # never opened under the final name


def test_launch_options_become_torchrun_arguments():
    args = ["--config", "r.json"]
    assert torchrun_argv(2, args) == ["--nproc-per-node=2", "--nnodes=1", "--max-restarts=0", "--standalone", "-m", "neuro.train", *args]
    assert torchrun_argv(4, args, nnodes="2", rdzv_endpoint="node0:29400", rdzv_id="job7", max_restarts=3)[:6] == [
        "--nproc-per-node=4", "--nnodes=2", "--max-restarts=3", "--rdzv-backend=c10d", "--rdzv-endpoint=node0:29400", "--rdzv-id=job7"]
    assert torchrun_argv(8, args, nnodes="2", master_addr="10.0.0.1", node_rank=1)[3:6] == [
        "--master-addr=10.0.0.1", "--master-port=29500", "--node-rank=1"]
    with pytest.raises(ValueError, match="--nnodes 2 needs --rdzv-endpoint HOST:PORT or --master-addr HOST"):
        torchrun_argv(2, args, nnodes="2")
    with pytest.raises(ValueError, match="--master-addr with several nodes needs --node-rank"):
        torchrun_argv(2, args, nnodes="2", master_addr="h")
    with pytest.raises(ValueError, match=r"--nproc must be an integer >= 1, got 0"):
        torchrun_argv(0, args)
    with pytest.raises(ValueError, match=r"--nnodes must be N or MIN:MAX \(integers >= 1\), got 'x'"):
        torchrun_argv(2, args, nnodes="x")
    with pytest.raises(ValueError, match="--rdzv-endpoint must be HOST:PORT, got 'node0'"):
        torchrun_argv(2, args, nnodes="2", rdzv_endpoint="node0")


def test_worker_arguments_and_launch_errors(tmp_path, monkeypatch, capsys):
    import argparse

    from neuro.train.cli import add_arguments, main, worker_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--config", "r.json", "--set", "lr=0.1", "--set", "epochs=2", "--out-dir", "o", "--resume", "--nproc", "2",
                         "--nnodes", "2", "--rdzv-endpoint", "h:1"])
    assert worker_args(args) == ["--config", "r.json", "--out-dir", "o", "--set", "lr=0.1", "--set", "epochs=2", "--resume"]
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["--config", "r.json", "--nproc", "2"]) == 2
    assert "already runs under a launcher (WORLD_SIZE is set)" in capsys.readouterr().err
    monkeypatch.delenv("WORLD_SIZE")
    assert main(["--config", "r.json", "--nproc", "2", "--dist-timeout", "0"]) == 2
    assert "--dist-timeout must be > 0 seconds, got 0.0" in capsys.readouterr().err


def test_child_failure_names_the_first_failed_process():
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    a = ProcessFailure(local_rank=1, pid=11, exitcode=3, error_file="/nonexistent")
    b = ProcessFailure(local_rank=0, pid=10, exitcode=-15, error_file="/nonexistent")
    a.timestamp, b.timestamp = 100, 101
    text = describe_child_failure(ChildFailedError("neuro.train", {0: b, 1: a}))
    assert text == "process rank 1 (local rank 1, pid 11) exit code 3 failed first; then rank 0 (local rank 0, pid 10) signal SIGTERM"


def test_failed_ranks_are_found_from_the_store(monkeypatch):
    """The survivor's search, on an in-memory store: a rank that left its error, a rank of this machine whose process
    has ended, a survivor (not named), and a silent rank of another machine (named after the grace period)."""
    import socket

    from neuro.train import distributed as D

    store = torch.distributed.HashStore()
    monkeypatch.setattr(D, "_store", lambda: store)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    here = socket.gethostname()
    store.set("neuro.train/failed/1", "ValueError: bad batch")
    store.set("neuro.train/proc/2", f"{here} {ended}")
    store.set("neuro.train/proc/3", f"{here} {os.getpid()}")
    store.set("neuro.train/lost/3", "RuntimeError")
    assert D.find_failed_ranks(0, 4, grace_s=0.0) == {1: "raised ValueError: bad batch",
                                                      2: f"ended without a Python error (pid {ended} on {here}: killed, os._exit or a crash)"}
    quiet = torch.distributed.HashStore()
    monkeypatch.setattr(D, "_store", lambda: quiet)
    quiet.set("neuro.train/proc/1", f"other-host {os.getpid()}")
    t0 = time.monotonic()
    assert D.find_failed_ranks(0, 2, grace_s=0.3) == {1: "sent no report (on host other-host): it died, hangs or lost its connection"}
    assert 0.3 <= time.monotonic() - t0 < 2.0


def test_failure_report_records_errors_and_names_peers(monkeypatch):
    """In one process with a 1-rank gloo group (WORLD_SIZE=2 in the environment, so it acts as a launched rank): its own
    error is left in the store and raised as it is; a lost connection, or the launcher's SIGTERM, becomes a RankFailure."""
    import signal

    import torch.distributed as dist

    from neuro.train import distributed as D

    store = dist.HashStore()
    monkeypatch.setattr(D, "_store", lambda: store)
    monkeypatch.setenv("WORLD_SIZE", "2")
    before = signal.getsignal(signal.SIGTERM)
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        with pytest.raises(ValueError, match="bad batch"), D.failure_report():
            raise ValueError("bad batch")
        assert store.get("neuro.train/failed/0") == b"ValueError: bad batch"
        assert signal.getsignal(signal.SIGTERM) is not before  # left ignoring SIGTERM: this process is on its way out
        signal.signal(signal.SIGTERM, before)
        with pytest.raises(D.RankFailure, match=r"rank 0: stopped \(RuntimeError: Connection closed by peer \[127.0.0.1\]:1234\); no other process"):
            with D.failure_report():
                raise RuntimeError("Connection closed by peer [127.0.0.1]:1234")
        signal.signal(signal.SIGTERM, before)
        with pytest.raises(D.RankFailure, match=r"rank 0: stopped \(_LauncherStop: stopped by SIGTERM"):
            with D.failure_report():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
        signal.signal(signal.SIGTERM, before)
        with D.failure_report():
            pass
        assert signal.getsignal(signal.SIGTERM) is before  # restored after a run without a failure
    finally:
        signal.signal(signal.SIGTERM, before)
        dist.destroy_process_group()
