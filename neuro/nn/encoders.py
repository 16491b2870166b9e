"""Encoders: static data or signals to ``[T, B, ...]`` spike trains."""

from __future__ import annotations

import torch


def _check_unit(x: torch.Tensor, name: str) -> None:
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} expects intensities in [0, 1], got values in [{float(x.min())}, {float(x.max())}]")


def poisson_encode(x: torch.Tensor, time_steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rate code: at each step a spike with probability ``x`` (Bernoulli), ``x`` in [0, 1]."""
    _check_unit(x, "poisson_encode")
    probs = x.unsqueeze(0).expand(time_steps, *x.shape)
    return torch.bernoulli(probs, generator=generator)


def latency_encode(x: torch.Tensor, time_steps: int, threshold: float = 0.01) -> torch.Tensor:
    """Time-to-first-spike: one spike at step ``round((1 - x) (T - 1))``; inputs below ``threshold`` stay silent."""
    _check_unit(x, "latency_encode")
    t_spike = torch.round((1.0 - x) * (time_steps - 1)).long()
    steps = torch.arange(time_steps, device=x.device).view(-1, *([1] * x.dim()))
    return ((steps == t_spike.unsqueeze(0)) & (x.unsqueeze(0) >= threshold)).to(x.dtype)


def delta_encode(signal: torch.Tensor, threshold: float) -> torch.Tensor:
    """Threshold-crossing (delta) code of a ``[T, ...]`` signal, returned as ``[T, 2, ...]``: channel 0 spikes when the
    signal rose by ``threshold`` since the last spike of either channel, channel 1 when it fell by as much."""
    if threshold <= 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    ref = signal[0].clone()
    out = torch.zeros((signal.shape[0], 2, *signal.shape[1:]), dtype=signal.dtype, device=signal.device)
    for t in range(1, signal.shape[0]):
        diff = signal[t] - ref
        up, down = diff >= threshold, diff <= -threshold
        out[t, 0], out[t, 1] = up.to(signal.dtype), down.to(signal.dtype)
        ref = torch.where(up | down, signal[t], ref)
    return out


def repeat_encode(x: torch.Tensor, time_steps: int) -> torch.Tensor:
    """Direct coding: the same analog input at every step (the first layer turns it into spikes)."""
    return x.unsqueeze(0).expand(time_steps, *x.shape).contiguous()
