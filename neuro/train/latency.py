r"""Fewer time steps at inference: Dynamic Confidence (early exit per sample) and IIR-SNN (retraining down to T = 1).

Both work on any ``neuro.nn`` classifier that takes ``[T, B, ...]`` inputs and returns either per-step logits
``[T, B, C]`` or one read-out ``[B, C]`` (for example the mean output current over time).

**Dynamic Confidence** (Li, Jones & Furber, ICCV 2023). At step :math:`t` the network's accumulated output
:math:`S_t = \sum_{s \le t} o_s` is turned into a confidence

.. math::  c_t = \max_k \operatorname{softmax}(S_t / k_s)_k

(:math:`k_s` a fixed output scale; the authors' CIFAR-10 code divides by 30), and a sample stops at the first
step with :math:`c_t > \theta`, or at :math:`T`; its prediction is :math:`\arg\max S_t` at that step. The one
parameter :math:`\theta` is read off the accuracy / mean-steps curve on held-out data
(:func:`calibrate_confidence`). For a read-out model the decoded output after :math:`t` steps is the model's
output on the first :math:`t` steps, :math:`r_t`, and :math:`S_t = t\, r_t` (exact when the read-out is the mean
over time; ``accumulate=False`` uses :math:`r_t` itself). The model is causal (step :math:`t` sees no later
input), so running all :math:`T` steps once and reading each sample at its own stop step gives the same
predictions as stopping it there; :func:`early_exit_energy` charges each sample only the steps it used.

**IIR-SNN** (iterative initialisation and retraining; Chowdhury, Rathi & Roy, "One timestep is all you need",
2021 / ECCV 2022): train at :math:`T_0` (5 in the paper), then for :math:`T = T_0 - 1, \dots, 1` copy the network
trained at the previous :math:`T` and retrain it at :math:`T` (:func:`iir_schedule`, :func:`iir_retrain`).

Example::

    out = step_outputs(model, x_cal)                                # [T, B, C]: decoded output after each step
    cal = calibrate_confidence(out, y_cal, max_accuracy_drop=0.005)
    res = dynamic_confidence(model, x_test, cal.threshold)
    res.accuracy(y_test), res.mean_steps()
    early_exit_energy(model, x_test, res.steps)["per_sample_mj"]

    stages = iir_retrain(model, fit, iir_schedule(5))               # fit(model, T) trains in place, returns metrics
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn


def _check_inputs(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a [T, B, ...] tensor, got {got}")
    if x.shape[0] < 1:
        raise ValueError(f"x must have at least one time step, got T = {x.shape[0]}")


def _check_outputs(outputs: torch.Tensor) -> None:
    if not isinstance(outputs, torch.Tensor) or outputs.dim() != 3:
        got = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        raise ValueError(f"outputs must be [T, B, C] (decoded output after each step, see step_outputs), got {got}")


def _check_threshold(threshold: float) -> float:
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1] (a softmax probability), got {threshold}")
    return threshold


@torch.no_grad()
def step_outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's decoded output after each step, ``[T, B, C]``, for inputs ``x`` ``[T, B, ...]``.

    A model returning per-step logits ``[T, B, C]`` is run once; entry ``t`` is the mean of its first ``t + 1``
    steps. A model returning a read-out ``[B, C]`` is run on every prefix ``x[:t + 1]`` (``T`` calls); entry ``t``
    is that read-out. For a model whose read-out is the mean of per-step logits the two agree. The model is put in
    ``eval`` mode for the call and restored after.
    """
    _check_inputs(x)
    t_max = x.shape[0]
    was_training = model.training
    model.eval()
    try:
        out = model(x)
        if out.dim() == 3 and out.shape[0] == t_max and out.shape[1] == x.shape[1]:
            steps = torch.arange(1, t_max + 1, device=out.device, dtype=out.dtype).view(-1, 1, 1)
            return out.cumsum(0) / steps
        if out.dim() != 2 or out.shape[0] != x.shape[1]:
            raise ValueError(f"the model must return per-step logits [T, B, C] = [{t_max}, {x.shape[1]}, C] or a read-out "
                             f"[B, C] = [{x.shape[1]}, C], got {tuple(out.shape)}")
        prefix = [model(x[: t + 1]) for t in range(t_max - 1)]
        return torch.stack([*prefix, out])
    finally:
        model.train(was_training)


def confidence_trace(outputs: torch.Tensor, scale: float = 1.0, accumulate: bool = True) -> torch.Tensor:
    r"""Confidence :math:`c_t = \max_k \mathrm{softmax}(S_t / k_s)_k` at every step, ``[T, B]``.

    ``outputs`` ``[T, B, C]`` as from :func:`step_outputs` (the mean output :math:`r_t` over the first ``t``
    steps); ``accumulate=True`` uses :math:`S_t = t\, r_t`, the accumulated output of the paper, whose confidence
    grows as evidence accumulates; ``False`` uses :math:`r_t`. ``scale`` is :math:`k_s` (> 0).
    """
    _check_outputs(outputs)
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    s = outputs
    if accumulate:
        s = outputs * torch.arange(1, outputs.shape[0] + 1, device=outputs.device, dtype=outputs.dtype).view(-1, 1, 1)
    return torch.softmax(s.float() / scale, dim=-1).amax(-1)


@dataclass(frozen=True)
class EarlyExit:
    """Result of early exit: ``predictions`` [B], ``steps`` [B] (the step each sample stopped at, 1..T),
    ``confidence`` [B] (its confidence there), ``time_steps`` (T) and the ``threshold`` used."""

    predictions: torch.Tensor
    steps: torch.Tensor
    confidence: torch.Tensor
    time_steps: int
    threshold: float

    def mean_steps(self) -> float:
        return float(self.steps.float().mean())

    def accuracy(self, targets: torch.Tensor) -> float:
        if targets.shape != self.predictions.shape:
            raise ValueError(f"targets must have shape {tuple(self.predictions.shape)}, got {tuple(targets.shape)}")
        return float((self.predictions == targets.to(self.predictions.device)).float().mean())


def early_exit(outputs: torch.Tensor, threshold: float, scale: float = 1.0, accumulate: bool = True) -> EarlyExit:
    """Stop each sample at the first step whose confidence is strictly above ``threshold`` (else at T).

    ``outputs`` ``[T, B, C]`` from :func:`step_outputs`; ``scale``/``accumulate`` as in :func:`confidence_trace`.
    ``threshold = 1`` never stops early (a softmax probability is at most 1).
    """
    threshold = _check_threshold(threshold)
    return _exit_at(outputs, confidence_trace(outputs, scale, accumulate), threshold)


def _stop_index(conf: torch.Tensor, threshold: float) -> torch.Tensor:
    passed = conf > threshold
    passed[-1] = True  # every sample stops at T at the latest
    return passed.to(torch.uint8).argmax(0)  # the first True


def _exit_at(outputs: torch.Tensor, conf: torch.Tensor, threshold: float) -> EarlyExit:
    stop = _stop_index(conf, threshold)
    idx = torch.arange(conf.shape[1], device=outputs.device)
    return EarlyExit(predictions=outputs[stop, idx].argmax(-1), steps=stop + 1, confidence=conf[stop, idx], time_steps=conf.shape[0],
                     threshold=threshold)


def dynamic_confidence(model: nn.Module, x: torch.Tensor, threshold: float, scale: float = 1.0, accumulate: bool = True) -> EarlyExit:
    """Dynamic Confidence inference of ``model`` on ``x`` ``[T, B, ...]``: predictions and the step each sample
    stopped at (see :func:`early_exit`; the threshold from :func:`calibrate_confidence`)."""
    return early_exit(step_outputs(model, x), threshold, scale, accumulate)


def tradeoff(outputs: torch.Tensor, targets: torch.Tensor, thresholds: Sequence[float], scale: float = 1.0,
             accumulate: bool = True) -> dict[str, list[float]]:
    """Accuracy and mean steps of early exit at each threshold: ``{"threshold", "accuracy", "mean_steps"}``."""
    _check_outputs(outputs)
    if targets.shape != outputs.shape[1:2]:
        raise ValueError(f"targets must have shape ({outputs.shape[1]},), got {tuple(targets.shape)}")
    conf = confidence_trace(outputs, scale, accumulate)
    correct = outputs.argmax(-1) == targets.to(outputs.device)  # [T, B]: right if it stopped at t
    idx = torch.arange(conf.shape[1], device=outputs.device)
    acc, steps = [], []
    for th in thresholds:
        stop = _stop_index(conf, _check_threshold(th))
        acc.append(float(correct[stop, idx].float().mean()))
        steps.append(float((stop + 1).float().mean()))
    return {"threshold": [float(t) for t in thresholds], "accuracy": acc, "mean_steps": steps}


def pareto_front(mean_steps: Sequence[float], accuracy: Sequence[float]) -> list[bool]:
    """Which points no other point beats: none has fewer-or-equal steps and higher-or-equal accuracy with one strict."""
    pts = list(zip(mean_steps, accuracy))
    return [not any((s2 <= s and a2 >= a) and (s2 < s or a2 > a) for s2, a2 in pts) for s, a in pts]


@dataclass(frozen=True)
class Calibration:
    """Outcome of :func:`calibrate_confidence`: the chosen ``threshold``, the candidates tried with their accuracy,
    mean steps and Pareto membership, the full-``T`` accuracy and the allowed drop."""

    threshold: float
    accuracy: float
    mean_steps: float
    full_accuracy: float
    max_accuracy_drop: float
    curve: dict[str, list] = field(repr=False)


def candidate_thresholds(outputs: torch.Tensor, scale: float = 1.0, accumulate: bool = True, n: int = 200) -> list[float]:
    """``n`` quantiles of the confidences seen in ``outputs`` (each an exit level the data can distinguish), with 0 and 1."""
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    conf = confidence_trace(outputs, scale, accumulate).flatten().double()
    q = torch.quantile(conf, torch.linspace(0, 1, n, dtype=torch.float64)).tolist()
    return sorted({0.0, 1.0, *[min(max(v, 0.0), 1.0) for v in q]})


def calibrate_confidence(outputs: torch.Tensor, targets: torch.Tensor, max_accuracy_drop: float = 0.0,
                         thresholds: Sequence[float] | None = None, scale: float = 1.0, accumulate: bool = True) -> Calibration:
    """Choose the Dynamic Confidence threshold on held-out data.

    ``outputs`` ``[T, B, C]`` from :func:`step_outputs` on the held-out inputs, ``targets`` ``[B]``. Every candidate
    threshold (default :func:`candidate_thresholds`) is run; the one chosen is the threshold with the fewest mean
    steps whose accuracy is at least the full-``T`` accuracy minus ``max_accuracy_drop`` (ties: the higher
    accuracy, then the lower threshold). The paper reads its threshold off the same accuracy / latency Pareto
    front; this rule makes the choice explicit. ``curve`` holds every candidate with a ``pareto`` flag.
    """
    if not 0.0 <= max_accuracy_drop <= 1.0:
        raise ValueError(f"max_accuracy_drop must be in [0, 1], got {max_accuracy_drop}")
    if thresholds is None:
        thresholds = candidate_thresholds(outputs, scale, accumulate)
    thresholds = sorted(float(t) for t in thresholds)
    if not thresholds:
        raise ValueError("thresholds must not be empty")
    curve = tradeoff(outputs, targets, thresholds, scale, accumulate)
    full = float((outputs[-1].argmax(-1) == targets.to(outputs.device)).float().mean())
    curve["pareto"] = pareto_front(curve["mean_steps"], curve["accuracy"])
    ok = [i for i, a in enumerate(curve["accuracy"]) if a >= full - max_accuracy_drop - 1e-12]
    if not ok:  # only possible with a candidate list lacking thresholds near 1
        ok = [max(range(len(thresholds)), key=lambda i: curve["accuracy"][i])]
    best = min(ok, key=lambda i: (curve["mean_steps"][i], -curve["accuracy"][i], thresholds[i]))
    return Calibration(threshold=thresholds[best], accuracy=curve["accuracy"][best], mean_steps=curve["mean_steps"][best], full_accuracy=full,
                       max_accuracy_drop=float(max_accuracy_drop), curve=curve)


def early_exit_energy(model: nn.Module, x: torch.Tensor, steps: torch.Tensor, energy_model: str = "ops", **estimate_kwargs) -> dict:
    """Per-sample energy (mJ) of early-exit inference with :func:`neuro.energy.estimate`.

    The samples that stopped at step ``s`` are run on ``x[:s]`` and counted; the counts of every group are
    priced and summed, so each sample is charged exactly the steps it used. Returns ``per_sample_mj`` (early exit),
    ``full_per_sample_mj`` (all samples run ``T`` steps), ``mean_steps`` and ``energy_model``
    (``"ops"``, ``"convention"`` or ``"memory"``). The confidence readout itself (a softmax per step) is not counted.
    """
    from neuro.energy import estimate

    _check_inputs(x)
    if steps.shape != (x.shape[1],):
        raise ValueError(f"steps must have shape ({x.shape[1]},) (one per sample), got {tuple(steps.shape)}")
    if int(steps.min()) < 1 or int(steps.max()) > x.shape[0]:
        raise ValueError(f"steps must lie in 1..{x.shape[0]}, got {int(steps.min())}..{int(steps.max())}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            total = 0.0
            for s in sorted(set(steps.tolist())):
                idx = (steps == s).nonzero().flatten().to(x.device)
                rep = estimate(model, x[:s].index_select(1, idx), warn_silent=False, **estimate_kwargs)
                total += rep.per_sample_mj(energy_model) * len(idx)
            full = estimate(model, x, warn_silent=False, **estimate_kwargs).per_sample_mj(energy_model)
    finally:
        model.train(was_training)
    return {"per_sample_mj": total / x.shape[1], "full_per_sample_mj": full, "mean_steps": float(steps.float().mean()),
            "energy_model": energy_model}


# ------------------------------------------------------------------------------------------------ IIR-SNN
def iir_schedule(t_start: int = 5, t_end: int = 1, step: int = 1) -> list[int]:
    """The time steps of IIR-SNN, from ``t_start`` down to ``t_end`` by ``step``: ``iir_schedule(5) == [5, 4, 3, 2, 1]``
    (the paper's schedule). ``t_end`` is always the last entry."""
    for name, v in (("t_start", t_start), ("t_end", t_end), ("step", step)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if t_end > t_start:
        raise ValueError(f"t_end must be <= t_start, got t_start={t_start}, t_end={t_end}")
    out = list(range(t_start, t_end, -step))
    return [*out, t_end] if not out or out[-1] != t_end else out


@dataclass
class IIRStage:
    """One stage of IIR-SNN: ``time_steps``, the ``model`` trained at it, and what ``fit`` returned."""

    time_steps: int
    model: nn.Module
    metrics: dict


def iir_retrain(model: nn.Module, fit: Callable[[nn.Module, int], dict], schedule: Sequence[int],
                progress: bool = True) -> list[IIRStage]:
    """Iterative initialisation and retraining: for each ``T`` of ``schedule`` (decreasing), copy the model of the
    previous stage (``model`` itself for the first) and call ``fit(copy, T)``, which trains it in place at ``T`` steps
    and returns a dict of metrics. ``model`` is left unchanged. Returns one :class:`IIRStage` per ``T``.
    """
    schedule = [int(t) for t in schedule]
    if not schedule:
        raise ValueError("schedule must not be empty")
    if any(t < 1 for t in schedule) or any(a <= b for a, b in zip(schedule, schedule[1:])):
        raise ValueError(f"schedule must be strictly decreasing positive time steps, got {schedule}")
    from tqdm.auto import tqdm

    stages: list[IIRStage] = []
    current = model
    for t in tqdm(schedule, desc="IIR-SNN", unit="stage", disable=not progress):
        current = copy.deepcopy(current)
        metrics = fit(current, t)
        stages.append(IIRStage(t, current, dict(metrics or {})))
    return stages


__all__ = ["Calibration", "EarlyExit", "IIRStage", "calibrate_confidence", "candidate_thresholds", "confidence_trace", "dynamic_confidence",
           "early_exit", "early_exit_energy", "iir_retrain", "iir_schedule", "pareto_front", "step_outputs", "tradeoff"]
