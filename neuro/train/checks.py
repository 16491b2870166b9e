"""Checks run before the first training step: the data is where the recipe says, and the model accepts it.

Each failure is a ``ValueError`` (or ``FileNotFoundError``) that names what was expected and what was
found, raised before any weight changes or any file is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .checkpoint import preserved_rng
from .inputs import logits_of, model_input


def check_data_dir(path: str | None) -> None:
    """A ``data_dir`` named by the recipe must exist (and not be an empty folder)."""
    if path is None:
        return
    p = Path(path).expanduser()
    if not p.exists():
        env = os.environ.get("NEURO_DATA")
        hint = f" ($NEURO_DATA is {env!r})" if env else " (set data_dir in the config, or $NEURO_DATA for the default data root)"
        raise FileNotFoundError(f"dataset path {str(p)!r} does not exist{hint}; download the dataset there first")
    if p.is_dir() and not any(p.iterdir()):
        raise FileNotFoundError(f"dataset path {str(p)!r} is an empty folder; download the dataset there first")


def check_dataset(dataset, name: str, batch_size: int, drop_last: bool) -> None:
    try:
        n = len(dataset)
    except TypeError:
        raise ValueError(f"the {name} dataset must have a length (a map-style torch Dataset), got {type(dataset).__name__}") from None
    if n == 0:
        raise ValueError(f"the {name} dataset is empty")
    if drop_last and n < batch_size:
        raise ValueError(f"the {name} dataset has {n} samples, fewer than one batch of {batch_size} with drop_last=True: "
                         "lower batch_size or set drop_last=false")


def check_labels(dataset, name: str, classes: int) -> None:
    """When ``dataset`` lists its labels (``targets`` or ``labels``, the torchvision / tonic habit), they
    must be class indices below the model's output count."""
    labels = next((getattr(dataset, a) for a in ("targets", "labels") if hasattr(dataset, a)), None)
    if labels is None:
        return
    try:
        t = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError):
        return
    if t.numel() and not t.dtype.is_floating_point and t.dim() == 1 and (int(t.max()) >= classes or int(t.min()) < 0):
        raise ValueError(f"the {name} dataset's labels go from {int(t.min())} to {int(t.max())} but the model outputs {classes} classes")


def check_model_accepts(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layout: str, time_steps: int,
                        encode: Callable[[torch.Tensor], torch.Tensor] | None, reset: Callable[[], None]) -> int:
    """Run one small batch through ``model`` (eval mode, no grad, RNG untouched); return the class count.

    Raises a ``ValueError`` naming the data shape, the shape handed to the model and the model's
    complaint (or its output shape) when they do not fit.
    """
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.dtype.is_floating_point:
        raise ValueError(f"labels must be a 1-D integer tensor [B] of class indices, got {getattr(y, 'dtype', type(y).__name__)} "
                         f"of shape {tuple(getattr(y, 'shape', ()))}")
    b = x.shape[0]
    was_training = model.training
    model.eval()
    try:
        with preserved_rng(), torch.no_grad():
            inp = model_input(x, layout, time_steps)
            if encode is not None:
                inp = encode(inp)
            reset()
            try:
                out = model(inp)
            except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ValueError(f"shape mismatch between data and model: a data batch of shape {tuple(x.shape)} (per sample "
                                 f"{tuple(x.shape[1:])}) was given to the model as {tuple(inp.shape)} (input_layout={layout!r}), "
                                 f"and the model raised {type(exc).__name__}: {first}") from exc
            try:
                logits = logits_of(out, b)
            except ValueError as exc:
                raise ValueError(f"shape mismatch between data and model: for input {tuple(inp.shape)} {exc}") from None
            reset()
    finally:
        model.train(was_training)
    classes = logits.shape[-1]
    if int(y.max()) >= classes or int(y.min()) < 0:
        raise ValueError(f"labels go from {int(y.min())} to {int(y.max())} but the model outputs {classes} classes")
    return classes
