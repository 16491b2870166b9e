"""Checkpoints that were altered, hold foreign objects, belong to another model, or were torn by a killed writer:
refused with an error naming the file (resume falls back to the previous good one), never loaded silently."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neuro.train import TrainConfig, Trainer
from neuro.train import cli as train_cli
from neuro.train.checkpoint import (
    CheckpointError,
    checksum_path,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    remove_orphans,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

TOY = str(Path(__file__).with_name("toy.py"))


def _cfg(tmp_path, **kw):
    base = dict(epochs=2, batch_size=8, lr=0.01, out_dir=str(tmp_path / "run"), progress=False, tensorboard=False, log_every=3,
                checkpoint_every=4, keep_checkpoints=2)
    return TrainConfig(**{**base, **kw})


def _fit(toy, cfg, resume=False, model=None):
    torch.manual_seed(cfg.seed)
    trainer = Trainer(model if model is not None else toy.TinyNet(), toy.Blobs(n=40), cfg, eval_data=toy.Blobs(n=12, seed=1))
    return trainer, trainer.fit(resume=resume)


def _flip_64_bytes_of_tensor_data(path: Path) -> None:
    """Invert 64 bytes in the middle of the largest tensor storage: the archive still loads, with other values."""
    info = max((i for i in zipfile.ZipFile(path).infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    assert info.file_size >= 64
    with open(path, "r+b") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
        start = info.header_offset + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
        at = start + info.file_size // 2 - 32
        fh.seek(at)
        old = fh.read(64)
        fh.seek(at)
        fh.write(bytes(b ^ 0xFF for b in old))


# --- checksums ------------------------------------------------------------------------------------------
def test_altered_checkpoint_is_refused_naming_the_file_and_load_latest_falls_back(tmp_path):
    for step in (10, 20):
        save_checkpoint({"step": step, "w": torch.arange(512, dtype=torch.float32) * step}, tmp_path, step, keep=3)
    newest = tmp_path / "step_00000020.pt"
    assert checksum_path(newest).read_text().split() == [hashlib.sha256(newest.read_bytes()).hexdigest(), newest.name]
    _flip_64_bytes_of_tensor_data(newest)
    with pytest.raises(CheckpointError, match=r"step_00000020\.pt does not match its checksum in step_00000020\.pt\.sha256"):
        load_checkpoint(newest)
    with pytest.warns(UserWarning, match="step_00000020.pt does not match its checksum"):
        path, state = load_latest(tmp_path)
    assert path.name == "step_00000010.pt" and state["step"] == 10 and torch.equal(state["w"], torch.arange(512.0) * 10)
    _flip_64_bytes_of_tensor_data(path)  # now no good checkpoint is left
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match=r"none of the 2 checkpoints .*step_00000020\.pt.*step_00000010\.pt"):
        load_latest(tmp_path, strict=True)


def test_resume_skips_an_altered_newest_checkpoint_and_still_matches_the_uninterrupted_run(toy, tmp_path):
    full, r_full = _fit(toy, _cfg(tmp_path / "full"))
    cfg = _cfg(tmp_path / "cut")
    _fit(toy, cfg)
    ckpts = list_checkpoints(tmp_path / "cut" / "run" / "checkpoints")
    assert [s for s, _ in ckpts] == [8, 10]
    _flip_64_bytes_of_tensor_data(ckpts[-1][1])
    with pytest.warns(UserWarning, match=r"step_00000010\.pt does not match its checksum"):
        res, r_res = _fit(toy, cfg, resume=True)
    for (k, a), b in zip(full.model.state_dict().items(), res.model.state_dict().values()):
        assert torch.equal(a, b), k
    assert r_res["step"] == r_full["step"] == 10


def test_resume_with_only_an_altered_checkpoint_raises_naming_it(toy, tmp_path):
    cfg = _cfg(tmp_path, epochs=1, checkpoint_every=0)
    _fit(toy, cfg)
    (only,) = list_checkpoints(tmp_path / "run" / "checkpoints")
    _flip_64_bytes_of_tensor_data(only[1])
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match=r"none of the 1 checkpoints .*step_00000005\.pt does not match its checksum"):
        _fit(toy, cfg, resume=True)


# --- weights_only -------------------------------------------------------------------------------------------
RAN: list[str] = []


def _record(what: str) -> str:
    RAN.append(what)
    return what


class Payload:
    """Unpickling this calls ``_record``: stands for any code a hostile pickle could run."""

    def __reduce__(self):
        return (_record, ("code from the checkpoint ran",))


def test_a_checkpoint_holding_a_pickled_object_is_refused_without_running_it(tmp_path):
    path = save_checkpoint({"format": "neuro.train/1", "step": 1, "extra": Payload()}, tmp_path, 1)
    RAN.clear()
    with pytest.raises(CheckpointError, match=r"step_00000001\.pt holds objects other than tensors and plain Python values .*_record"):
        load_checkpoint(path)
    assert RAN == []


def test_a_trainer_checkpoint_is_tensors_and_plain_values_and_restores_every_generator(toy, tmp_path):
    _fit(toy, _cfg(tmp_path, epochs=1))
    path = list_checkpoints(tmp_path / "run" / "checkpoints")[-1][1]
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    state = torch.load(path, weights_only=True)  # no allowlist needed
    set_rng_state(state["rng"][0])
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state["rng"][0])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_a_checkpoint_of_an_earlier_version_with_numpys_rng_tuple_still_loads(tmp_path):
    state = rng_state()
    state["numpy"] = np.random.get_state()  # what earlier versions saved: a tuple holding a uint32 array
    path = save_checkpoint({"step": 3, "rng": [state]}, tmp_path, 3)
    expected = np.random.rand(3)
    loaded = load_checkpoint(path)["rng"][0]
    set_rng_state(loaded)
    np.testing.assert_array_equal(np.random.rand(3), expected)


# --- another model, a truncated file: --resume names the file and the keys ------------------------------------
def _cli(tmp_path, *extra: str) -> int:
    return train_cli.main(["--model", f"{TOY}:build_model", "--data", f"{TOY}:build_data", "--out-dir", str(tmp_path / "cli"),
                           "--set", "epochs=1", "--set", "batch_size=16", "--set", "progress=false", "--set", "tensorboard=false", *extra])


def test_cli_resume_of_another_models_checkpoint_names_the_file_and_the_keys(tmp_path, capsys):
    assert _cli(tmp_path) == 0
    ckpt = list_checkpoints(tmp_path / "cli" / "checkpoints")[-1][1]
    capsys.readouterr()
    with pytest.warns(UserWarning, match="changed config"):
        assert _cli(tmp_path, "--set", 'extra={"features": 6}', "--resume", str(ckpt)) == 2
    err = capsys.readouterr().err
    assert f"checkpoint {ckpt} does not fit this model (TinyNet)" in err
    assert "shape mismatches: fc1.weight (checkpoint (16, 8), model (16, 6))" in err
    assert "Traceback" not in err


def test_resume_into_a_model_with_other_layers_lists_missing_and_unexpected_keys(toy, tmp_path):
    cfg = _cfg(tmp_path, epochs=1)
    _fit(toy, cfg)
    other = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    with pytest.raises(CheckpointError) as info:
        _fit(toy, cfg, resume=True, model=other)
    msg = str(info.value)
    assert "step_00000005.pt does not fit this model (Sequential)" in msg
    assert "missing keys: 0.weight, 0.bias, 2.weight, 2.bias" in msg
    assert "unexpected keys: fc1.weight, fc1.bias, fc2.weight, fc2.bias" in msg


@pytest.mark.parametrize("with_checksum", [True, False])
def test_cli_resume_of_a_truncated_checkpoint_names_the_file(tmp_path, capsys, with_checksum):
    assert _cli(tmp_path) == 0
    ckpt = list_checkpoints(tmp_path / "cli" / "checkpoints")[-1][1]
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    if not with_checksum:
        checksum_path(ckpt).unlink()
    capsys.readouterr()
    assert _cli(tmp_path, "--resume", str(ckpt)) == 2
    err = capsys.readouterr().err
    expected = "does not match its checksum" if with_checksum else "cannot be read (truncated or not a torch checkpoint?)"
    assert f"neuro train: error: checkpoint {ckpt} {expected}" in err
    assert "Traceback" not in err


# --- temporaries of killed writers --------------------------------------------------------------------------
def test_orphan_temporaries_of_dead_writers_are_removed_at_start_live_ones_kept(toy, tmp_path):
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        orphans = [folder / f".step_00000004.pt.tmp-{dead.pid}", folder / f".step_00000004.pt.sha256.tmp-{dead.pid}",
                   folder / f".step_00000008.pt.tmp-{os.getpid()}"]  # a previous process that had our PID
        keep = [folder / f".step_00000012.pt.tmp-{alive.pid}", folder / "notes.tmp-1", folder / ".step_00000004.pt.tmp-x"]
        for p in orphans + keep:
            p.write_bytes(b"partial")
        _fit(toy, _cfg(tmp_path, epochs=1, checkpoint_every=0))
        assert not any(p.exists() for p in orphans)
        assert all(p.exists() for p in keep)
        assert remove_orphans(folder) == []
    finally:
        alive.kill()
        alive.wait()
    assert remove_orphans(folder) == [folder / f".step_00000012.pt.tmp-{alive.pid}"]


def test_the_cli_reports_the_json_result_after_resuming(tmp_path, capsys):
    assert _cli(tmp_path) == 0
    capsys.readouterr()
    assert _cli(tmp_path, "--resume") == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 6
