"""Real processes: SIGKILL mid-run then ``--resume`` gives the uninterrupted weights; 2-process DDP (gloo)
gives the 1-process weights; the command line reports bad recipes and bad data before training."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from neuro.train.checkpoint import list_checkpoints, load_latest

TOY = Path(__file__).with_name("toy.py")
FACTORIES = ["--model", f"{TOY}:build_model", "--data", f"{TOY}:build_data"]


def _env(**extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}
    env.pop("NEURO_TRAIN_TEST_DELAY", None)
    env.update(extra)
    return env


def _cmd(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "neuro.train", "--config", str(config), *FACTORIES, "--out-dir", str(out), *extra]


def _final_weights(out: Path) -> dict[str, torch.Tensor]:
    found = load_latest(out / "checkpoints")
    assert found is not None, f"no checkpoint in {out}"
    return found[1]["model"]


def _recipe(tmp_path: Path, **kw) -> Path:
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(kw))
    return path


def test_sigkill_mid_epoch_then_resume_reaches_the_uninterrupted_weights(tmp_path):
    # every source of randomness: dropout, mixup, augmentation from Python and NumPy, spiking layer; AdamW + warm-up cosine
    recipe = _recipe(tmp_path, optimizer="adamw", lr=0.01, weight_decay=0.01, warmup_epochs=0.5, epochs=3, batch_size=8,
                     checkpoint_every=5, keep_checkpoints=3, mixup_alpha=0.4, label_smoothing=0.1, grad_clip=1.0, log_every=4,
                     tensorboard=False, extra={"n": 96, "dropout": 0.2, "spiking": True, "augment": True})
    ref = subprocess.Popen(_cmd(recipe, tmp_path / "ref"), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the same run, slowed down (4 ms per sample) so that it can be killed while it runs
    victim = subprocess.Popen(_cmd(recipe, tmp_path / "cut"), env=_env(NEURO_TRAIN_TEST_DELAY="0.004"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not list_checkpoints(tmp_path / "cut" / "checkpoints"):
        assert victim.poll() is None, f"the run ended before its first checkpoint: {victim.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)
    assert victim.poll() is None, "the run finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL
    steps = [s for s, _ in list_checkpoints(tmp_path / "cut" / "checkpoints")]
    total = 3 * 96 // 8
    assert steps and max(steps) < total and max(steps) % 12 != 0, steps  # killed mid-epoch, before the end

    resumed = subprocess.run(_cmd(recipe, tmp_path / "cut", "--resume"), env=_env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {tmp_path / 'cut' / 'checkpoints'}" in resumed.stderr
    out, err = ref.communicate(timeout=120)
    assert ref.returncode == 0, err

    a, b = _final_weights(tmp_path / "ref"), _final_weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), (k, (a[k] - b[k]).abs().max())
    assert json.loads(resumed.stdout.splitlines()[-1])["eval_loss"] == json.loads(out.splitlines()[-1])["eval_loss"]

    def rows(run):
        with open(tmp_path / run / "metrics.csv", newline="") as fh:
            return [(r["split"], r["step"], r["loss"], r["accuracy"], r["firing_rate"]) for r in csv.DictReader(fh)]

    assert rows("ref") == rows("cut")  # the log too: rows the killed run wrote after its checkpoint were cut


def test_two_gloo_processes_match_one_process(tmp_path, capsys):
    """Global batch 16 = 2 x 8. Same weights up to float summation order: |diff| <= 1e-6 (observed ~3e-8)."""
    recipe = _recipe(tmp_path, optimizer="sgd", lr=0.05, momentum=0.9, epochs=2, batch_size=16, drop_last=False, log_every=2,
                     progress=False, tensorboard=False, extra={"n": 90})  # 90 = 5 x 16 + 10: the last global batch is short
    ddp_cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "neuro.train",
               "--config", str(recipe), *FACTORIES, "--out-dir", str(tmp_path / "ddp")]
    two = subprocess.Popen(ddp_cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    from neuro.train.cli import main  # the single process runs here while the two run beside it

    assert main(["--config", str(recipe), *FACTORIES, "--out-dir", str(tmp_path / "one")]) == 0
    one_out = capsys.readouterr().out
    out, err = two.communicate(timeout=150)
    assert two.returncode == 0, err
    a, b = _final_weights(tmp_path / "one"), _final_weights(tmp_path / "ddp")
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=0, atol=1e-6), (k, (a[k] - b[k]).abs().max())
    ra, rb = json.loads(one_out.splitlines()[-1]), json.loads(out.splitlines()[-1])
    assert ra["step"] == rb["step"] == 12
    assert rb["eval_accuracy"] == ra["eval_accuracy"] and rb["train_loss"] == pytest.approx(ra["train_loss"], abs=1e-6)
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["checkpoints", "config.json", "firing_rates.csv", "metrics.csv", "result.json"]


def test_command_line_reports_errors_before_training(tmp_path, capsys):
    from neuro.train.cli import main

    def run(config, *extra):
        code = main(["--config", str(config), *FACTORIES, "--out-dir", str(tmp_path / "x"), *extra])
        return code, capsys.readouterr()

    code, cap = run(_recipe(tmp_path, lr=0.1, warmup_epoch=1))
    assert code == 2 and "unknown key 'warmup_epoch'" in cap.err and "did you mean 'warmup_epochs'" in cap.err
    good = _recipe(tmp_path, epochs=1, batch_size=8, progress=False, data_dir=str(tmp_path / "missing"))
    code, cap = run(good)
    assert code == 2 and "dataset path" in cap.err and "does not exist" in cap.err
    code, cap = run(good, "--set", "data_dir=null", "--set", 'extra={"features": 6}', "--check-only")
    assert code == 0 and json.loads(cap.out) == {"check": "ok", "classes": 3}
    code, cap = run(good, "--set", "data_dir=null", "--set", "extra={\"features\": 6}", "--model", f"{TOY}:missing_factory")
    assert code == 2 and "has no attribute 'missing_factory'" in cap.err
    assert not (tmp_path / "x").exists()
