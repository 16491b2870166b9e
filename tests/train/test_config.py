"""TrainConfig: unknown keys and bad values are named; files load; the schedule follows its formula."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math

import pytest
import torch

from neuro.train import TrainConfig, lr_factor
from neuro.train.config import parse_override


def test_unknown_key_names_the_key_the_closest_and_the_valid_ones():
    with pytest.raises(ValueError) as err:
        TrainConfig.from_dict({"lr": 0.1, "batchsize": 8})
    msg = str(err.value)
    assert "'batchsize'" in msg and "did you mean 'batch_size'" in msg
    assert "valid keys:" in msg and "checkpoint_every" in msg and "mixup_alpha" in msg


@pytest.mark.parametrize("changes, words", [
    ({"optimizer": "adam"}, ["optimizer", "'sgd'", "'adamw'", "'adam'"]),
    ({"lr": -1.0}, ["lr", "> 0", "-1.0"]),
    ({"epochs": 0}, ["epochs", ">= 1"]),
    ({"epochs": 2.5}, ["epochs", "int", "2.5"]),
    ({"amp": 1}, ["amp", "bool"]),
    ({"label_smoothing": 1.0}, ["label_smoothing", "[0, 1)"]),
    ({"schedule": "linear"}, ["schedule", "'cosine'"]),
    ({"input_layout": "repeat"}, ["time_steps", "repeat"]),
    ({"betas": (0.9, 1.5)}, ["betas"]),
    ({"min_lr": 1.0, "lr": 0.1}, ["min_lr", "lr"]),
    ({"device": "tpu"}, ["device", "'tpu'"]),
])
def test_bad_values_name_key_and_value(changes, words):
    with pytest.raises(ValueError) as err:
        TrainConfig.from_dict(changes)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_ints_accepted_for_floats_and_frozen():
    cfg = TrainConfig(lr=1, grad_clip=5)
    assert isinstance(cfg.lr, float) and cfg.lr == 1.0 and cfg.grad_clip == 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 0.5
    assert cfg.replace(lr=0.5).lr == 0.5 and cfg.lr == 1.0
    with pytest.raises(ValueError, match="unknown key 'lrate'"):
        cfg.replace(lrate=0.5)


def test_json_and_toml_files_round_trip(tmp_path):
    cfg = TrainConfig(optimizer="sgd", lr=0.1, betas=(0.8, 0.9), epochs=7, grad_clip=1.0, extra={"depth": 4})
    cfg.to_json(tmp_path / "r.json")
    assert TrainConfig.from_file(tmp_path / "r.json") == cfg
    (tmp_path / "r.toml").write_text('optimizer = "sgd"\nlr = 0.1\nepochs = 7\n[extra]\ndepth = 4\n')
    loaded = TrainConfig.from_file(tmp_path / "r.toml", overrides={"epochs": 9})
    assert loaded.optimizer == "sgd" and loaded.epochs == 9 and loaded.extra == {"depth": 4}


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        TrainConfig.from_file(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text('{"lr": 0.1,')
    with pytest.raises(ValueError, match="cannot parse"):
        TrainConfig.from_file(tmp_path / "bad.json")
    (tmp_path / "typo.json").write_text(json.dumps({"epoch": 3}))
    with pytest.raises(ValueError, match=r"unknown key 'epoch' in .*typo.json \(did you mean 'epochs'\?\)"):
        TrainConfig.from_file(tmp_path / "typo.json")
    (tmp_path / "r.txt").write_text("")
    with pytest.raises(ValueError, match=".json, .toml"):
        TrainConfig.from_file(tmp_path / "r.txt")


@pytest.mark.skipif(importlib.util.find_spec("yaml") is not None, reason="PyYAML is installed")
def test_yaml_without_pyyaml_says_so(tmp_path):
    (tmp_path / "r.yaml").write_text("lr: 0.1\n")
    with pytest.raises(ValueError, match="PyYAML is not installed"):
        TrainConfig.from_file(tmp_path / "r.yaml")


def test_parse_override():
    assert parse_override("lr=0.01") == ("lr", 0.01)
    assert parse_override("optimizer=sgd") == ("optimizer", "sgd")
    assert parse_override("grad_clip=none") == ("grad_clip", None)
    assert parse_override("betas=[0.9, 0.95]") == ("betas", [0.9, 0.95])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_override("lr")


def test_cosine_with_warmup_follows_the_formula():
    cfg = TrainConfig(lr=1.0, min_lr=0.1, epochs=10, warmup_epochs=2, warmup_start_factor=0.0)
    f = lr_factor(cfg, steps_per_epoch=10)
    assert f(0) == 0.0 and f(10) == pytest.approx(0.5) and f(20) == pytest.approx(1.0)
    for s in (20, 45, 70, 99, 100):
        expected = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - 20) / 80))
        assert f(s) == pytest.approx(expected)
    assert f(100) == pytest.approx(0.1)


def test_step_schedule_and_the_scheduler_object():
    cfg = TrainConfig(optimizer="sgd", lr=0.2, schedule="step", step_epochs=3, gamma=0.5, epochs=9)
    f = lr_factor(cfg, steps_per_epoch=4)
    assert [f(s) for s in (0, 11, 12, 23, 24)] == pytest.approx([1, 1, 0.5, 0.5, 0.25])
    from neuro.train import build_optimizer, build_scheduler

    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg, 4)
    for _ in range(12):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_no_decay_on_biases_when_asked():
    from neuro.train import build_optimizer

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    opt = build_optimizer(model, TrainConfig(weight_decay=0.05, decay_bias_and_norm=False))
    decays = sorted((g["weight_decay"], sum(p.numel() for p in g["params"])) for g in opt.param_groups)
    assert decays == [(0.0, 4 + 4 + 4), (0.05, 12)]
