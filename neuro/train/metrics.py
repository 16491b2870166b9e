"""Firing rates read with forward hooks, and metric files (CSV, TensorBoard when installed).

A module counts as spiking when its class has ``is_spiking = True`` (every :mod:`neuro.nn` neuron
does). Its output spikes (the first tensor when it returns a tuple) are summed on the device; the
firing rate of a layer is

.. math::

    r = \\frac{\\sum s}{N_{\\text{outputs}}} \\quad \\text{(spikes per neuron per time step)}

and the mean rate of the model is the total spike count over the total number of outputs of all
spiking layers. Nothing is synchronised with the device until a rate is read.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import nn


def spiking_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name or type(m).__name__, m) for name, m in model.named_modules() if getattr(type(m), "is_spiking", False) is True]


class FiringRateMonitor:
    """Per-layer spike counts of every spiking module of ``model`` while ``enabled``."""

    def __init__(self, model: nn.Module):
        self.layers = spiking_modules(model)
        self.enabled = True
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in self.layers]

    def _hook(self, name: str):
        def hook(module, args, output):
            if not self.enabled:
                return
            out = output[0] if isinstance(output, (tuple, list)) else output
            if not isinstance(out, torch.Tensor):
                return
            s = out.detach().sum(dtype=torch.float64)
            self._sums[name] = self._sums[name] + s if name in self._sums else s
            self._counts[name] = self._counts.get(name, 0) + out.numel()
        return hook

    def __bool__(self) -> bool:
        return bool(self.layers)

    def reset(self) -> None:
        self._sums, self._counts = {}, {}

    def totals(self) -> dict[str, tuple[float, int]]:
        """``{layer: (spikes, outputs)}`` since the last :meth:`reset` (moves the sums to the host)."""
        return {name: (float(self._sums[name]), self._counts[name]) for name in self._sums}

    def load_totals(self, totals: dict[str, tuple[float, int]], device: torch.device) -> None:
        self._sums = {k: torch.tensor(v[0], dtype=torch.float64, device=device) for k, v in totals.items()}
        self._counts = {k: int(v[1]) for k, v in totals.items()}

    def mean_rate(self) -> float | None:
        total = sum(self._counts.values())
        if not total:
            return None
        return float(sum(self._sums.values())) / total

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def rates_from_totals(totals: dict[str, tuple[float, int]]) -> dict[str, float]:
    return {k: s / n for k, (s, n) in totals.items() if n}


class MetricWriter:
    """Rows to ``metrics.csv`` and ``firing_rates.csv`` in ``folder`` (and TensorBoard scalars).

    ``rows_written`` is stored in each checkpoint; on resume the files are cut back to those rows,
    so rows a killed run wrote after its last checkpoint are not duplicated.
    """

    METRIC_COLUMNS = ("split", "epoch", "step", "loss", "accuracy", "lr", "samples_per_s", "firing_rate", "time_s")
    RATE_COLUMNS = ("split", "epoch", "step", "layer", "firing_rate")

    def __init__(self, folder: str | Path, enabled: bool = True, tensorboard: bool = True,
                 truncate_to: dict[str, int] | None = None, purge_step: int | None = None):
        self.folder = Path(folder)
        self.enabled = enabled
        self.rows_written = {"metrics.csv": 0, "firing_rates.csv": 0}
        self._tb = None
        if not enabled:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, columns in (("metrics.csv", self.METRIC_COLUMNS), ("firing_rates.csv", self.RATE_COLUMNS)):
            path = self.folder / name
            keep = (truncate_to or {}).get(name, 0)
            rows = _read_rows(path)[:keep] if keep else []
            with open(path, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(columns)
                w.writerows(rows)
            self.rows_written[name] = len(rows)
        if tensorboard and importlib.util.find_spec("tensorboard") is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.folder / "tensorboard"), purge_step=purge_step)

    def _append(self, name: str, row: list[Any]) -> None:
        with open(self.folder / name, "a", newline="") as fh:
            csv.writer(fh).writerow(row)
        self.rows_written[name] += 1

    def metrics(self, split: str, epoch: int, step: int, values: dict[str, float | None]) -> None:
        if not self.enabled:
            return
        self._append("metrics.csv", [split, epoch, step] + [_fmt(values.get(k)) for k in self.METRIC_COLUMNS[3:]])
        if self._tb is not None:
            for k, v in values.items():
                if v is not None and k != "time_s":
                    self._tb.add_scalar(f"{split}/{k}", v, step)

    def firing_rates(self, split: str, epoch: int, step: int, rates: dict[str, float]) -> None:
        if not self.enabled:
            return
        for layer, rate in rates.items():
            self._append("firing_rates.csv", [split, epoch, step, layer, _fmt(rate)])
            if self._tb is not None:
                self._tb.add_scalar(f"firing_rate_{split}/{layer}", rate, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _read_rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.reader(fh))[1:]


def _fmt(v: float | None) -> str:
    if v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    return f"{v:.6g}"
