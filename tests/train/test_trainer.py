"""The trainer in one process: reproducible, exact resume after an interruption, metrics, checks, layouts."""

from __future__ import annotations

import csv

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuro.train import FiringRateMonitor, TrainConfig, Trainer
from neuro.train.checkpoint import list_checkpoints, load_latest
from neuro.train.losses import Mixed, summed_loss


def _cfg(tmp_path, **kw):
    base = dict(epochs=2, batch_size=8, lr=0.01, out_dir=str(tmp_path / "run"), progress=False, tensorboard=False, log_every=3)
    return TrainConfig(**{**base, **kw})


def _fit(toy, cfg, resume=False, n=40, **extra):
    torch.manual_seed(cfg.seed)
    e = {**cfg.extra, **extra}
    model = toy.TinyNet(dropout=e.get("dropout", 0.0), spiking=e.get("spiking", False))
    trainer = Trainer(model, toy.Blobs(n=n, augment=e.get("augment", False)), cfg, eval_data=toy.Blobs(n=12, seed=1))
    result = trainer.fit(resume=resume)
    return trainer, result


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_same_seed_same_weights_other_seed_other_weights(toy, tmp_path):
    kw = dict(mixup_alpha=0.3, label_smoothing=0.1)
    a, _ = _fit(toy, _cfg(tmp_path / "a", **kw), dropout=0.3, augment=True, spiking=True)
    b, _ = _fit(toy, _cfg(tmp_path / "b", **kw), dropout=0.3, augment=True, spiking=True)
    c, _ = _fit(toy, _cfg(tmp_path / "c", seed=1, **kw), dropout=0.3, augment=True, spiking=True)
    for (k, pa), pb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(pa, pb), k
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.model.state_dict().values(), c.model.state_dict().values()))


class _Interrupt(Exception):
    pass


def test_interrupted_run_resumes_exactly(toy, tmp_path):
    """Every source of randomness on: dropout, mixup, augmentation drawn from Python and NumPy, spikes."""
    kw = dict(epochs=3, checkpoint_every=4, mixup_alpha=0.4, label_smoothing=0.1, warmup_epochs=1.0, grad_clip=0.5, optimizer="adamw")
    extra = dict(dropout=0.3, augment=True, spiking=True)
    ref, ref_result = _fit(toy, _cfg(tmp_path / "ref", **kw), **extra)

    cfg = _cfg(tmp_path / "cut", **kw)
    torch.manual_seed(cfg.seed)

    class DiesMidRun(toy.Blobs):
        calls = 0

        def __getitem__(self, i):
            DiesMidRun.calls += 1
            if DiesMidRun.calls == 2 + 8 * 11 + 3:  # 2 items for the pre-training check, then 8 per step: inside step 12 of 15
                raise _Interrupt
            return super().__getitem__(i)

    data = DiesMidRun(n=40, augment=True)
    with pytest.raises(_Interrupt):
        Trainer(toy.TinyNet(dropout=0.3, spiking=True), data, cfg, eval_data=toy.Blobs(n=12, seed=1)).fit()
    assert [s for s, _ in list_checkpoints(tmp_path / "cut" / "run" / "checkpoints")] == [4, 8]

    torch.manual_seed(999)  # whatever happens before: the checkpoint decides
    res, result = _fit(toy, cfg, resume=True, **extra)
    for (k, pr), pc in zip(ref.model.state_dict().items(), res.model.state_dict().values()):
        assert torch.equal(pr, pc), k
    assert result["step"] == ref_result["step"] == 15
    assert result["eval_loss"] == ref_result["eval_loss"] and result["train_loss"] == pytest.approx(ref_result["train_loss"], rel=1e-12)
    # the log of the resumed run has the same rows as the uninterrupted one (rows written after step 8 were dropped)
    drop = ("samples_per_s", "time_s")
    strip = [[{k: v for k, v in r.items() if k not in drop} for r in _rows(d / "run" / "metrics.csv")] for d in (tmp_path / "ref", tmp_path / "cut")]
    assert strip[0] == strip[1]
    assert _rows(tmp_path / "ref" / "run" / "firing_rates.csv") == _rows(tmp_path / "cut" / "run" / "firing_rates.csv")


def test_resume_of_a_finished_run_changes_nothing_and_resume_without_checkpoint_starts_fresh(toy, tmp_path):
    cfg = _cfg(tmp_path, epochs=1)
    a, ra = _fit(toy, cfg, resume=True)  # nothing to resume: starts from scratch
    b, rb = _fit(toy, cfg, resume=True)
    assert ra["step"] == rb["step"] == 5
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    path, state = load_latest(tmp_path / "run" / "checkpoints")
    assert state["epoch"] == 1 and state["step"] == 5 and set(state["rng"][0]) >= {"python", "numpy", "torch"}
    assert {"model", "optimizer", "scheduler", "batch_in_epoch"} <= set(state)


def test_metrics_files_and_per_layer_rates(toy, tmp_path):
    trainer, result = _fit(toy, _cfg(tmp_path, epochs=2, log_every=2), spiking=True)
    rows = _rows(tmp_path / "run" / "metrics.csv")
    assert [r["split"] for r in rows].count("train_step") == 5 and [r["split"] for r in rows].count("eval") == 2
    for r in rows:
        assert 0.0 <= float(r["accuracy"]) <= 1.0 and float(r["loss"]) > 0 and 0.0 <= float(r["firing_rate"]) <= 1.0
    rates = _rows(tmp_path / "run" / "firing_rates.csv")
    assert [(r["split"], r["epoch"], r["layer"]) for r in rates] == [("train", "0", "act"), ("eval", "0", "act"), ("train", "1", "act"), ("eval", "1", "act")]
    # the eval rate is the fraction of hidden units firing on the eval set, computed here by hand
    model = trainer.model.eval()
    x = torch.stack([toy.Blobs(n=12, seed=1)[i][0] for i in range(12)])
    with torch.no_grad():
        expected = (model.fc1(x) > 0).float().mean().item()
    assert float(rates[-1]["firing_rate"]) == pytest.approx(expected, rel=1e-5)
    assert result["eval_firing_rate"] == pytest.approx(expected)
    assert (tmp_path / "run" / "config.json").is_file()


def test_reset_state_is_called_before_every_batch(toy, tmp_path):
    trainer, _ = _fit(toy, _cfg(tmp_path, epochs=1, eval_batch_size=5))
    # 2 around each pre-training check (train + eval) + 5 training batches + 3 eval batches (12 samples / 5)
    assert trainer.model.resets == 4 + 5 + 3


def test_firing_rate_monitor_reads_spiking_layers_only():
    class Spiker(nn.Module):
        is_spiking = True

        def forward(self, x):
            return (x > 0).float(), x  # a tuple: the spikes come first

    model = nn.Sequential(nn.Identity(), Spiker())
    mon = FiringRateMonitor(model)
    assert [n for n, _ in mon.layers] == ["1"]
    model(torch.tensor([1.0, -1.0, 2.0, -3.0]))
    model(torch.tensor([1.0, 1.0, 1.0, 1.0]))
    assert mon.mean_rate() == pytest.approx(6 / 8) and mon.totals() == {"1": (6.0, 8)}
    mon.close()
    model(torch.ones(4))
    assert mon.totals() == {"1": (6.0, 8)}


class _Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)
        self.shapes = []

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        return self.fc(x)  # [T, B, 3] when x is [T, B, 8]


@pytest.mark.parametrize("layout, time_steps, data_T, expected", [
    ("batch_first", 0, 0, (8, 8)),
    ("repeat", 4, 0, (4, 8, 8)),
    ("time_first", 0, 5, (5, 8, 8)),
])
def test_input_layouts(toy, tmp_path, layout, time_steps, data_T, expected):
    model = _Recorder()
    cfg = _cfg(tmp_path, epochs=1, input_layout=layout, time_steps=time_steps)
    Trainer(model, toy.Blobs(n=16, time_steps=data_T), cfg).fit()
    assert model.shapes[-1] == expected


def test_grad_clip_bounds_the_step(toy, tmp_path):
    torch.manual_seed(0)
    model = toy.TinyNet()
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    cfg = _cfg(tmp_path, epochs=1, batch_size=16, optimizer="sgd", momentum=0.0, lr=1.0, grad_clip=1e-3, schedule="constant")
    Trainer(model, toy.Blobs(n=16), cfg).fit()
    moved = (torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm().item()
    assert 0.0 < moved <= 1e-3 * (1 + 1e-5)


def test_loss_matches_torch_cross_entropy_with_smoothing_and_mixup():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 4), torch.randint(0, 4, (6,))
    assert summed_loss(logits, y, 0.1) == pytest.approx(6 * F.cross_entropy(logits, y, label_smoothing=0.1).item(), rel=1e-6)
    perm = torch.tensor([1, 0, 3, 2, 5, 4])
    mixed = Mixed(lam=0.3, perm=perm)
    expected = 0.3 * F.cross_entropy(logits, y, reduction="sum") + 0.7 * F.cross_entropy(logits, y[perm], reduction="sum")
    assert summed_loss(logits, y, 0.0, mixed).item() == pytest.approx(expected.item(), rel=1e-6)


# --- checks before training -------------------------------------------------------------------------
def test_shape_mismatch_is_named_before_anything_is_written(toy, tmp_path):
    cfg = _cfg(tmp_path)
    with pytest.raises(ValueError) as err:
        Trainer(toy.TinyNet(features=5), toy.Blobs(n=16, features=8), cfg).fit()
    msg = str(err.value)
    assert "shape mismatch" in msg and "(2, 8)" in msg and "(8,)" in msg and "2x8" in msg and "5x16" in msg
    assert not (tmp_path / "run").exists()


def test_wrong_output_shape_and_labels_are_named(toy, tmp_path):
    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(()))

        def forward(self, x):
            return x.sum() * self.w

    with pytest.raises(ValueError, match=r"model output has shape \(\); expected logits \[B=2, classes\]"):
        Trainer(Flat(), toy.Blobs(n=16), _cfg(tmp_path)).fit()
    labelled = toy.Blobs(n=16, classes=3, seed=2)
    labelled.targets = labelled.y.tolist()  # a dataset that lists its labels is checked before training
    with pytest.raises(ValueError, match="training dataset's labels go from 0 to 2 but the model outputs 2 classes"):
        Trainer(nn.Linear(8, 2), labelled, _cfg(tmp_path)).fit()
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="label of this batch .* out of range for the model's 2 outputs"):
        Trainer(nn.Linear(8, 2), toy.Blobs(n=16, classes=3, seed=2), _cfg(tmp_path)).fit()


def test_missing_dataset_path_and_empty_data(toy, tmp_path):
    cfg = _cfg(tmp_path, data_dir=str(tmp_path / "no" / "such" / "dataset"))
    with pytest.raises(FileNotFoundError, match="dataset path .*no/such/dataset.* does not exist"):
        Trainer(toy.TinyNet(), toy.Blobs(n=16), cfg).fit()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty folder"):
        Trainer(toy.TinyNet(), toy.Blobs(n=16), _cfg(tmp_path, data_dir=str(tmp_path / "empty"))).fit()
    with pytest.raises(ValueError, match="fewer than one batch of 32"):
        Trainer(toy.TinyNet(), toy.Blobs(n=16), _cfg(tmp_path, batch_size=32)).fit()
    assert not (tmp_path / "run").exists()


def test_resume_from_a_named_missing_checkpoint(toy, tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint .*nope.pt"):
        Trainer(toy.TinyNet(), toy.Blobs(n=16), _cfg(tmp_path)).fit(resume=tmp_path / "nope.pt")


@pytest.mark.gpu
@pytest.mark.parametrize("amp_dtype", ["float16", "bfloat16"])
def test_cuda_amp_run_and_exact_resume(toy, tmp_path, amp_dtype):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    kw = dict(epochs=2, checkpoint_every=3, device="cuda", amp=True, amp_dtype=amp_dtype, deterministic=True, mixup_alpha=0.4, grad_clip=1.0)
    ref, ref_result = _fit(toy, _cfg(tmp_path / "ref", **kw), dropout=0.3, spiking=True)
    assert next(ref.model.parameters()).is_cuda and ref.use_amp and ref.scaler.is_enabled() == (amp_dtype == "float16")
    assert ref_result["eval_accuracy"] > 0.5

    class DiesMidRun(toy.Blobs):
        calls = 0

        def __getitem__(self, i):
            DiesMidRun.calls += 1
            if DiesMidRun.calls == 2 + 8 * 7 + 1:  # inside step 8 of 10; checkpoints at steps 3 and 6
                raise _Interrupt
            return super().__getitem__(i)

    cfg = _cfg(tmp_path / "cut", **kw)
    torch.manual_seed(cfg.seed)
    with pytest.raises(_Interrupt):
        Trainer(toy.TinyNet(dropout=0.3, spiking=True), DiesMidRun(n=40), cfg, eval_data=toy.Blobs(n=12, seed=1)).fit()
    res, _ = _fit(toy, cfg, resume=True, dropout=0.3, spiking=True)
    for (k, pr), pc in zip(ref.model.state_dict().items(), res.model.state_dict().values()):
        assert torch.equal(pr, pc), k


def test_tensorboard_scalars_when_installed(toy, tmp_path, monkeypatch):
    """TensorBoard is not installed here: a stand-in SummaryWriter receives what the real one would."""
    import importlib.util
    import sys
    import types

    calls = []

    class FakeWriter:
        def __init__(self, logdir, purge_step=None):
            calls.append(("init", logdir, purge_step))

        def add_scalar(self, tag, value, step):
            calls.append((tag, value, step))

        def close(self):
            calls.append(("close",))

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "tensorboard" else real_find_spec(name, *a))
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeWriter))
    _fit(toy, _cfg(tmp_path, epochs=1, tensorboard=True, log_every=5), spiking=True)
    tags = {c[0] for c in calls}
    assert calls[0] == ("init", str(tmp_path / "run" / "tensorboard"), None) and calls[-1] == ("close",)
    assert {"train_step/loss", "train/accuracy", "eval/loss", "firing_rate_train/act", "firing_rate_eval/act"} <= tags
