"""Shipped recipes, the LAMB optimizer, CutMix, cool-down and mixup switch-off."""

from __future__ import annotations

import json
import math

import pytest
import torch

from neuro.nn import models
from neuro.train import TrainConfig, Trainer
from neuro.train.cli import main as train_main
from neuro.train.losses import draw_mix, mix_inputs
from neuro.train.optim import Lamb, build_optimizer, lr_factor
from neuro.train.recipes import RECIPE_DIR, build_model, list_recipes, load_recipe

_CONFIGS = {"spikformer": models.SPIKFORMER_CONFIGS, "spike_driven_transformer": models.SDT_CONFIGS}


def test_every_shipped_recipe_loads_and_names_a_published_model_size():
    names = list_recipes()
    assert {"spikformer-cifar10", "sdt-cifar10-2-512", "sdt-imagenet-8-512"} <= set(names)
    for name in names:
        cfg = load_recipe(name)
        raw = json.loads((RECIPE_DIR / f"{name}.json").read_text())
        assert cfg.to_dict()["lr"] == raw["lr"] and cfg.extra == raw["extra"]
        assert cfg.extra["model_config"] in _CONFIGS[cfg.extra["model"]], name
        assert "source" in cfg.extra and cfg.epochs > cfg.cooldown_epochs + cfg.warmup_epochs
        # the warm-up starts at the published warmup_lr: a positive fraction of lr
        assert 0.0 < cfg.warmup_start_factor < 1.0


def test_recipe_model_is_the_named_size_and_overrides_win():
    cfg = load_recipe("spikformer-cifar10", overrides={"epochs": 40, "cooldown_epochs": 0, "warmup_epochs": 1})
    assert cfg.epochs == 40 and cfg.lr == 5e-4
    model = build_model(cfg, depth=1)
    assert isinstance(model, models.Spikformer) and model.cfg.depth == 1 and model.cfg.embed_dim == 384
    with pytest.raises(ValueError, match="unknown recipe 'spikformer-cifar1'.*did you mean 'spikformer-cifar10'"):
        load_recipe("spikformer-cifar1")
    with pytest.raises(ValueError, match="names no model"):
        build_model(TrainConfig())


def test_cooldown_holds_min_lr_after_the_cosine():
    cfg = TrainConfig(lr=1.0, min_lr=0.01, epochs=10, cooldown_epochs=2, warmup_epochs=1, warmup_start_factor=0.1)
    f = lr_factor(cfg, steps_per_epoch=10)
    assert f(0) == pytest.approx(0.1) and f(10) == pytest.approx(1.0)
    # cosine over steps 10..80, then min_lr for the last 2 epochs
    assert f(45) == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 35 / 70)))
    assert f(80) == pytest.approx(0.01) and f(99) == pytest.approx(0.01)
    assert f(79) > 0.01
    with pytest.raises(ValueError, match="warmup_epochs \\+ cooldown_epochs"):
        TrainConfig(epochs=5, warmup_epochs=3, cooldown_epochs=3)


def test_lamb_step_follows_the_formula():
    torch.manual_seed(0)
    w0 = torch.randn(5, 3, dtype=torch.float64)
    b0 = torch.randn(5, dtype=torch.float64)
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    opt = Lamb([{"params": [w], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}], lr=0.01, betas=(0.9, 0.99), eps=1e-6)
    grads = [(torch.randn(5, 3, dtype=torch.float64), torch.randn(5, dtype=torch.float64)) for _ in range(3)]
    mw, vw, mb, vb = torch.zeros_like(w0), torch.zeros_like(w0), torch.zeros_like(b0), torch.zeros_like(b0)
    ew, eb = w0.clone(), b0.clone()
    for t, (gw, gb) in enumerate(grads, start=1):
        w.grad, b.grad = gw.clone(), gb.clone()
        opt.step()
        mw, vw = 0.9 * mw + 0.1 * gw, 0.99 * vw + 0.01 * gw**2
        mb, vb = 0.9 * mb + 0.1 * gb, 0.99 * vb + 0.01 * gb**2
        uw = (mw / (1 - 0.9**t)) / ((vw / (1 - 0.99**t)).sqrt() + 1e-6) + 0.1 * ew
        ub = (mb / (1 - 0.9**t)) / ((vb / (1 - 0.99**t)).sqrt() + 1e-6)
        ew = ew - 0.01 * (ew.norm() / uw.norm()) * uw  # trust ratio on the decayed tensor
        eb = eb - 0.01 * ub  # no weight decay: no trust ratio
    torch.testing.assert_close(w.detach(), ew, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(b.detach(), eb, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="Lamb: need lr > 0"):
        Lamb([w], lr=-1.0)


def test_lamb_through_the_config_trains(toy, tmp_path):
    torch.manual_seed(0)
    model = toy.TinyNet()
    cfg = TrainConfig(optimizer="lamb", lr=0.02, weight_decay=0.01, decay_bias_and_norm=False, epochs=6, batch_size=16,
                      out_dir=str(tmp_path / "run"), progress=False, tensorboard=False)
    assert isinstance(build_optimizer(model, cfg), Lamb)
    result = Trainer(model, toy.Blobs(n=96), cfg, eval_data=toy.Blobs(n=48, seed=1)).fit()
    assert result["eval_accuracy"] > 0.9


def test_cutmix_pastes_a_box_and_weights_labels_by_its_area():
    x = torch.arange(4 * 2 * 3 * 10 * 12, dtype=torch.float32).reshape(4, 2, 3, 10, 12)  # [B, T, C, H, W]
    torch.manual_seed(3)
    for _ in range(20):
        m = draw_mix(4, 0.0, 1.0, spatial=(10, 12))
        top, bottom, left, right = m.box
        assert 0 <= top <= bottom <= 10 and 0 <= left <= right <= 12
        assert m.lam == pytest.approx(1 - (bottom - top) * (right - left) / 120)
        out = mix_inputs(x, m)
        inside = torch.zeros(10, 12, dtype=torch.bool)
        inside[top:bottom, left:right] = True
        assert torch.equal(out[..., inside], x[m.perm][..., inside])
        assert torch.equal(out[..., ~inside], x[..., ~inside])
    # with both on, the switch probability picks CutMix (a box) or mixup (none)
    torch.manual_seed(0)
    kinds = [draw_mix(4, 0.2, 1.0, switch_prob=0.5, spatial=(8, 8)).box is not None for _ in range(200)]
    assert 60 < sum(kinds) < 140
    with pytest.raises(ValueError, match="CutMix needs inputs with two spatial dimensions"):
        draw_mix(4, 0.0, 1.0, spatial=None)


class _SeesInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 3)
        self.seen = []

    def forward(self, x):
        if self.training and torch.is_grad_enabled():  # training steps only (not the pre-training check)
            self.seen.append(x.detach().clone())
        return self.fc(x)


def test_mixup_stops_at_mixup_off_epoch(toy, tmp_path):
    data = toy.Blobs(n=16)
    originals = {tuple(data[i][0].tolist()) for i in range(len(data))}
    model = _SeesInputs()
    cfg = TrainConfig(epochs=2, batch_size=8, mixup_alpha=1.0, mixup_off_epoch=1, out_dir=str(tmp_path / "r"), progress=False, tensorboard=False)
    Trainer(model, data, cfg).fit()
    assert len(model.seen) == 4
    epoch0, epoch1 = model.seen[:2], model.seen[2:4]
    assert any(tuple(r.tolist()) not in originals for b in epoch0 for r in b)  # mixed in epoch 0
    assert all(tuple(r.tolist()) in originals for b in epoch1 for r in b)  # not mixed from epoch 1 on


def test_cli_lists_recipes_and_names_bad_ones(capsys):
    assert train_main(["--list-recipes"]) == 0
    assert "sdt-imagenet-8-512" in capsys.readouterr().out.split()
    assert train_main(["--recipe", "nope", "--data", "x:y"]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err
    assert train_main(["--recipe", "spikformer-cifar10", "--config", "a.json", "--data", "x:y"]) == 2
    assert "not both" in capsys.readouterr().err
