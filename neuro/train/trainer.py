"""The training loop: checks, train/eval epochs, metrics, checkpoints, exact resume, DDP.

Exact resume rests on four things, all in each checkpoint: the weights, optimizer and schedule
states; every global random generator of every process (Python, NumPy, torch, CUDA); the data
position (epoch, batches consumed — the order itself is a pure function of ``(seed, epoch)``, see
:mod:`neuro.train.sampler`); and the running sums of the epoch's metrics. A run killed at any point
and resumed reaches the same weights as one never interrupted (same device and backend; with
``num_workers > 0`` random augmentations drawn inside worker processes are the one exception).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, default_collate
from tqdm.auto import tqdm

from . import distributed as D
from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_latest,
    load_model_state,
    preserved_rng,
    remove_orphans,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from .checks import check_data_dir, check_dataset, check_labels, check_model_accepts
from .config import TrainConfig
from .inputs import logits_of, model_input
from .losses import correct_count, draw_mix, mix_inputs, summed_loss
from .metrics import FiringRateMonitor, MetricWriter, rates_from_totals
from .optim import build_optimizer, build_scheduler
from .sampler import ResumableBatchSampler, epoch_seed

log = logging.getLogger("neuro.train")
FORMAT = "neuro.train/1"
# keys that may differ between a run and its resumption without changing the trajectory
_RESUME_NEUTRAL = {"out_dir", "progress", "tensorboard", "log_every", "checkpoint_every", "keep_checkpoints", "num_workers", "data_dir", "eval_every",
                   "eval_batch_size", "device"}


@dataclass
class _Sums:
    """Running sums of one split (device tensors; synchronised only when read)."""

    loss: float | torch.Tensor = 0.0
    correct: float | torch.Tensor = 0.0
    count: int = 0

    def add(self, loss: torch.Tensor, correct: torch.Tensor, n: int) -> None:
        self.loss = self.loss + loss.double()
        self.correct = self.correct + correct.double()
        self.count += n

    def to_host(self) -> dict[str, float]:
        return {"loss": float(self.loss), "correct": float(self.correct), "count": self.count}


@dataclass
class _State:
    """Where the run is: epoch, batches consumed in it, optimizer steps, and the open sums."""

    epoch: int = 0
    batch_in_epoch: int = 0
    step: int = 0
    epoch_sums: _Sums = field(default_factory=_Sums)
    interval_sums: _Sums = field(default_factory=_Sums)
    interval_spikes: tuple[float, int] = (0.0, 0)  # spike totals at the last log row
    last_metrics: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Train ``model`` on ``train_data`` following ``config``.

    ``train_data`` / ``eval_data`` are map-style datasets of ``(input, label)`` pairs; ``encode`` maps
    the model input (after ``input_layout``) to what the model takes (e.g. a Poisson encoder);
    ``collate_fn`` replaces ``default_collate``. When the model (or any sub-module) has a
    ``reset_state()`` method it is called before every batch. ``trainer.model`` is the trained module
    (the same object unless ``sync_bn`` converted it).

    Example::

        cfg = TrainConfig(epochs=5, batch_size=64, lr=1e-3, out_dir="runs/mlp", checkpoint_every=100)
        result = Trainer(model, train_set, cfg, eval_data=test_set).fit(resume=True)
    """

    def __init__(self, model: nn.Module, train_data: Dataset, config: TrainConfig, eval_data: Dataset | None = None, *,
                 encode: Callable[[torch.Tensor], torch.Tensor] | None = None, collate_fn: Callable | None = None):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.model, self.train_data, self.eval_data, self.cfg = model, train_data, eval_data, config
        self.encode, self.collate = encode, collate_fn or default_collate
        self.out_dir = Path(config.out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"

    # --- set-up ----------------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.cfg
        check_data_dir(cfg.data_dir)
        check_dataset(self.train_data, "training", cfg.batch_size, cfg.drop_last)
        if self.eval_data is not None:
            check_dataset(self.eval_data, "evaluation", 1, False)
        self.device = D.resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0") or 0))
        self.dist = D.init_distributed(self.device)
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        if cfg.sync_bn and self.dist.enabled:
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.model.to(self.device)
        self.module = self.model
        resets = [m.reset_state for m in self.model.modules() if callable(getattr(m, "reset_state", None))]
        top = getattr(self.model, "reset_state", None)
        self._resets = [top] if callable(top) else resets
        self.sampler = ResumableBatchSampler(len(self.train_data), cfg.batch_size, seed=cfg.seed, shuffle=True, drop_last=cfg.drop_last,
                                             rank=self.dist.rank, world_size=self.dist.world_size)
        self.steps_per_epoch = self.sampler.batches_per_epoch()
        self.optimizer = build_optimizer(self.model, cfg)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.steps_per_epoch)
        self.use_amp = cfg.amp and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if cfg.amp_dtype == "bfloat16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)

    def _reset(self) -> None:
        for fn in self._resets:
            fn()

    def _autocast(self):
        return torch.autocast("cuda", dtype=self.amp_dtype) if self.use_amp else contextlib.nullcontext()

    def _sample_batch(self, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        with preserved_rng():
            batch = self.collate([dataset[i] for i in range(min(2, len(dataset)))])
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("each dataset item must be an (input, label) pair")
        x, y = batch
        return x.to(self.device), torch.as_tensor(y).to(self.device)

    def check(self) -> int:
        """Run the pre-training checks (data present, one batch through the model); the class count."""
        if not hasattr(self, "device"):
            self._setup()
        cfg = self.cfg
        classes = check_model_accepts(self.module, *self._sample_batch(self.train_data), cfg.input_layout, cfg.time_steps, self.encode, self._reset)
        check_labels(self.train_data, "training", classes)
        if self.eval_data is not None:
            check_model_accepts(self.module, *self._sample_batch(self.eval_data), cfg.input_layout, cfg.time_steps, self.encode, self._reset)
            check_labels(self.eval_data, "evaluation", classes)
        return classes

    def _say(self, text: str) -> None:
        log.info(text)
        if self.dist.is_main and self.cfg.progress:
            tqdm.write(f"neuro.train: {text}", file=sys.stderr)

    # --- checkpoints -------------------------------------------------------------------------------
    def _checkpoint_state(self, state: _State) -> dict[str, Any]:
        rng = D.all_gather_objects(rng_state())
        return {
            "format": FORMAT, "model": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(), "rng": rng,
            "step": state.step, "epoch": state.epoch, "batch_in_epoch": state.batch_in_epoch, "world_size": self.dist.world_size,
            "epoch_sums": state.epoch_sums.to_host(), "interval_sums": state.interval_sums.to_host(), "interval_spikes": state.interval_spikes,
            "spikes": self.monitor.totals(), "last_metrics": state.last_metrics, "log_rows": dict(self.writer.rows_written),
            "config": self.cfg.to_dict(),
        }

    def _save(self, state: _State) -> Path:
        ckpt = self._checkpoint_state(state)  # collective: every rank takes part
        path = save_checkpoint(ckpt, self.ckpt_dir, state.step, keep=self.cfg.keep_checkpoints) if self.dist.is_main else None
        D.barrier()
        self.last_checkpoint = D.broadcast_object(path)
        return self.last_checkpoint

    def _restore(self, ckpt: dict[str, Any], path: Path) -> _State:
        if ckpt.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a neuro.train checkpoint (format {ckpt.get('format')!r})")
        absent = [k for k in ("model", "optimizer", "scheduler", "scaler", "rng", "step", "epoch", "batch_in_epoch", "epoch_sums", "interval_sums",
                              "interval_spikes", "spikes", "log_rows") if k not in ckpt]
        if absent:
            raise CheckpointError(f"checkpoint {path} lacks {', '.join(absent)}: it is incomplete")
        changed = sorted(k for k, v in ckpt.get("config", {}).items() if k not in _RESUME_NEUTRAL and self.cfg.to_dict().get(k) != v)
        if changed:
            warnings.warn(f"resuming {path} with a changed config ({', '.join(changed)}): the run will not match an uninterrupted one", stacklevel=3)
        load_model_state(self.module, ckpt["model"], path)
        for name, target in (("optimizer", self.optimizer), ("scheduler", self.scheduler), ("scaler", self.scaler)):
            try:
                target.load_state_dict(ckpt[name])
            except (ValueError, KeyError, TypeError, RuntimeError) as exc:
                raise CheckpointError(f"checkpoint {path}: its {name} state does not fit this run ({type(exc).__name__}: {exc})") from None
        s = _State(epoch=ckpt["epoch"], batch_in_epoch=ckpt["batch_in_epoch"], step=ckpt["step"], last_metrics=ckpt.get("last_metrics", {}))
        for name in ("epoch_sums", "interval_sums"):
            h = ckpt[name]
            setattr(s, name, _Sums(torch.tensor(h["loss"], dtype=torch.float64, device=self.device),
                                   torch.tensor(h["correct"], dtype=torch.float64, device=self.device), int(h["count"])))
        s.interval_spikes = tuple(ckpt["interval_spikes"])
        self.monitor.load_totals(ckpt["spikes"], self.device)
        if s.batch_in_epoch > self.steps_per_epoch:
            raise ValueError(f"{path} was taken after batch {s.batch_in_epoch} of an epoch of {self.steps_per_epoch}: the dataset or batch size changed")
        return s

    # --- the loop ------------------------------------------------------------------------------------
    def fit(self, resume: bool | str | Path = False) -> dict[str, Any]:
        """Train; ``resume=True`` continues from the newest checkpoint in ``out_dir`` (or starts afresh
        when there is none), ``resume=PATH`` from that checkpoint. Returns the final metrics."""
        self._t0 = time.perf_counter()
        self._setup()
        cfg = self.cfg
        seed_everything(cfg.seed + self.dist.rank)
        self.classes = self.check()
        ckpt, path = None, None
        if self.dist.is_main:
            removed = remove_orphans(self.ckpt_dir)
            if removed:
                self._say(f"removed {len(removed)} temporary file(s) of killed checkpoint writes: {', '.join(p.name for p in removed)}")
        if resume:
            if resume is True:
                found = load_latest(self.ckpt_dir, map_location=self.device, strict=True)
                if found is None:
                    path = None
                else:
                    path, ckpt = found
            else:
                path = Path(resume)
                ckpt = load_checkpoint(path, map_location=self.device)
        self.monitor = FiringRateMonitor(self.module)
        state = self._restore(ckpt, path) if ckpt is not None else _State()
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            cfg.to_json(self.out_dir / "config.json")
        self.writer = MetricWriter(self.out_dir, enabled=self.dist.is_main, tensorboard=cfg.tensorboard,
                                   truncate_to=ckpt["log_rows"] if ckpt is not None else None, purge_step=state.step if ckpt is not None else None)
        if self.dist.enabled:
            dev = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.module, device_ids=dev)
        self.last_checkpoint = path
        if ckpt is not None:
            self._say(f"resuming from {path} (epoch {state.epoch + 1}, batch {state.batch_in_epoch}, step {state.step})")
            rngs = ckpt["rng"]
            if self.dist.rank >= len(rngs):
                warnings.warn(f"checkpoint has RNG states of {len(rngs)} processes, this is process {self.dist.rank}: it reuses process 0's", stacklevel=2)
            set_rng_state(rngs[self.dist.rank] if self.dist.rank < len(rngs) else rngs[0])
        elif resume:
            self._say(f"no checkpoint in {self.ckpt_dir}: starting from scratch")
        try:
            while state.epoch < cfg.epochs:
                self._train_epoch(state)
                self._end_epoch(state)
            if ckpt is None or state.step != ckpt["step"] or ckpt["epoch"] != state.epoch:
                self._save(state)
        finally:
            self.writer.close()
            self.monitor.close()
            self.model = self.module
        return {**state.last_metrics, "step": state.step, "epoch": state.epoch, "checkpoint": str(self.last_checkpoint)}

    def _loader(self, dataset: Dataset, sampler: ResumableBatchSampler, epoch: int) -> DataLoader:
        # a private generator: creating the iterator must not draw from the global RNG (resume would shift it)
        g = torch.Generator().manual_seed(epoch_seed(self.cfg.seed, epoch, 1))
        return DataLoader(dataset, batch_sampler=sampler, num_workers=self.cfg.num_workers, collate_fn=self.collate,
                          pin_memory=self.device.type == "cuda", generator=g)

    def _train_epoch(self, state: _State) -> None:
        cfg = self.cfg
        self.sampler.set_epoch(state.epoch, state.batch_in_epoch)
        self._epoch = state.epoch
        self.model.train()
        self.monitor.enabled = True
        bar = tqdm(total=self.steps_per_epoch, initial=state.batch_in_epoch, desc=f"epoch {state.epoch + 1}/{cfg.epochs}",
                   disable=not (cfg.progress and self.dist.is_main), dynamic_ncols=True, leave=False, file=sys.stderr)
        t_last = time.perf_counter()
        samples_since = 0
        for x, y in self._loader(self.train_data, self.sampler, state.epoch):
            global_n = self.sampler.global_batch_len(state.batch_in_epoch)
            loss_sum, correct = self._train_step(x, torch.as_tensor(y), global_n)
            state.epoch_sums.add(loss_sum, correct, len(y))
            state.interval_sums.add(loss_sum, correct, len(y))
            state.step += 1
            state.batch_in_epoch += 1
            samples_since += global_n
            bar.update(1)
            if state.step % cfg.log_every == 0:
                now = time.perf_counter()
                row = self._interval_row(state, samples_since / max(now - t_last, 1e-9))
                t_last, samples_since = now, 0
                bar.set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['accuracy']:.3f}", lr=f"{row['lr']:.3g}",
                                **{"img/s": f"{row['samples_per_s']:.0f}"}, **({"rate": f"{row['firing_rate']:.3f}"} if row["firing_rate"] is not None else {}))
            if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
                self._save(state)
        bar.close()

    def _train_step(self, x: torch.Tensor, y: torch.Tensor, global_n: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        mixed = None
        if not (cfg.mixup_off_epoch and self._epoch >= cfg.mixup_off_epoch):
            mixed = draw_mix(len(y), cfg.mixup_alpha, cfg.cutmix_alpha, cfg.mixup_prob, cfg.mixup_switch_prob,
                             tuple(x.shape[-2:]) if x.ndim >= 3 else None, self.device)
        inp = model_input(mix_inputs(x, mixed), cfg.input_layout, cfg.time_steps)
        if self.encode is not None:
            inp = self.encode(inp)
        self._reset()
        with self._autocast():
            out = self.model(inp)
        logits = logits_of(out, len(y))
        try:
            loss_sum = summed_loss(logits, y, cfg.label_smoothing, mixed)
        except IndexError as exc:  # CPU reports an out-of-range label this way
            raise ValueError(f"a label of this batch (max {int(y.max())}) is out of range for the model's {logits.shape[-1]} outputs: {exc}") from None
        # sum / global batch * processes: DDP's mean over processes then equals the single-process mean
        loss = loss_sum * (self.dist.world_size / global_n)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss_sum.detach(), correct_count(logits.detach(), y, mixed)

    def _reduced(self, sums: _Sums, spikes: tuple[float, int] = (0.0, 0)) -> dict[str, float | None]:
        t = torch.tensor([float(sums.loss), float(sums.correct), sums.count, spikes[0], spikes[1]], dtype=torch.float64, device=self.device)
        loss, correct, count, s, n = D.all_reduce_sum(t).tolist()
        return {"loss": loss / max(count, 1), "accuracy": correct / max(count, 1), "firing_rate": s / n if n else None}

    def _spike_total(self, monitor: FiringRateMonitor | None = None) -> tuple[float, int]:
        totals = (monitor or self.monitor).totals()
        return sum(s for s, _ in totals.values()), sum(n for _, n in totals.values())

    def _interval_row(self, state: _State, samples_per_s: float) -> dict[str, Any]:
        s_now = self._spike_total()
        since = (s_now[0] - state.interval_spikes[0], s_now[1] - state.interval_spikes[1])
        row = {**self._reduced(state.interval_sums, since), "lr": self.scheduler.get_last_lr()[0], "samples_per_s": samples_per_s,
               "time_s": time.perf_counter() - self._t0}
        self.writer.metrics("train_step", state.epoch, state.step, row)
        state.interval_sums, state.interval_spikes = _Sums(), s_now
        return row

    def _layer_rates(self, monitor: FiringRateMonitor | None = None) -> dict[str, float]:
        """Per-layer rates summed over processes (every process has the same layers, in the same order)."""
        monitor = monitor or self.monitor
        totals = monitor.totals()
        names = [name for name, _ in monitor.layers]
        t = torch.tensor([[totals.get(k, (0.0, 0))[0], totals.get(k, (0.0, 0))[1]] for k in names], dtype=torch.float64, device=self.device)
        if len(names):
            D.all_reduce_sum(t)
        return rates_from_totals({k: (float(t[i, 0]), int(t[i, 1])) for i, k in enumerate(names)})

    def _end_epoch(self, state: _State) -> None:
        cfg = self.cfg
        row = {**self._reduced(state.epoch_sums, self._spike_total()), "lr": self.scheduler.get_last_lr()[0], "time_s": time.perf_counter() - self._t0}
        self.writer.metrics("train", state.epoch, state.step, row)
        rates = self._layer_rates()
        self.writer.firing_rates("train", state.epoch, state.step, rates)
        metrics = {"train_loss": row["loss"], "train_accuracy": row["accuracy"], "train_firing_rate": row["firing_rate"]}
        self.monitor.reset()
        last = state.epoch + 1 == cfg.epochs
        if self.eval_data is not None and ((state.epoch + 1) % cfg.eval_every == 0 or last):
            ev = self.evaluate()
            self.writer.metrics("eval", state.epoch, state.step, {**ev, "time_s": time.perf_counter() - self._t0})
            self.writer.firing_rates("eval", state.epoch, state.step, ev.pop("layer_rates"))
            metrics.update({f"eval_{k}": v for k, v in ev.items()})
        summary = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v))
        self._say(f"epoch {state.epoch + 1}/{cfg.epochs} (step {state.step}): {summary}")
        state.last_metrics = metrics
        state.epoch += 1
        state.batch_in_epoch = 0
        state.epoch_sums, state.interval_sums, state.interval_spikes = _Sums(), _Sums(), (0.0, 0)

    @torch.no_grad()
    def evaluate(self, dataset: Dataset | None = None) -> dict[str, Any]:
        """Loss, accuracy, mean and per-layer firing rates on ``dataset`` (default: ``eval_data``),
        summed over all processes; each process evaluates its share. The global RNG is untouched."""
        dataset = self.eval_data if dataset is None else dataset
        if dataset is None:
            raise ValueError("no evaluation dataset: pass eval_data to Trainer or a dataset to evaluate()")
        if not hasattr(self, "device"):
            self._setup()
        own_monitor = not hasattr(self, "monitor") or not self.monitor._handles
        monitor = FiringRateMonitor(self.module) if own_monitor else self.monitor
        saved = None if own_monitor else monitor.totals()
        monitor.reset()
        monitor.enabled = True
        cfg = self.cfg
        sampler = ResumableBatchSampler(len(dataset), cfg.eval_batch_size or cfg.batch_size, shuffle=False, drop_last=False,
                                        rank=self.dist.rank, world_size=self.dist.world_size, skip_empty=True)
        was_training = self.module.training
        self.module.eval()
        sums = _Sums()
        try:
            with preserved_rng():
                for x, y in self._loader(dataset, sampler, 0):
                    x, y = x.to(self.device, non_blocking=True), torch.as_tensor(y).to(self.device, non_blocking=True)
                    inp = model_input(x, cfg.input_layout, cfg.time_steps)
                    if self.encode is not None:
                        inp = self.encode(inp)
                    self._reset()
                    with self._autocast():
                        out = self.module(inp)
                    logits = logits_of(out, len(y))
                    sums.add(summed_loss(logits, y, 0.0), correct_count(logits, y), len(y))
            result: dict[str, Any] = self._reduced(sums, self._spike_total(monitor))
            result["layer_rates"] = self._layer_rates(monitor)
        finally:
            self.module.train(was_training)
            if own_monitor:
                monitor.close()
            else:
                monitor.load_totals(saved, self.device)
        return result
