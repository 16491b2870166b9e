"""How a collated batch becomes the model's input, and the model's output the logits.

``input_layout``:

* ``batch_first`` — the batch goes in as collated, ``[B, ...]`` (a static network, or a model that
  encodes inside ``forward``);
* ``time_first`` — samples are sequences ``[T, ...]`` (event frames), collated to ``[B, T, ...]`` and
  handed over as ``[T, B, ...]``;
* ``repeat`` — a static sample repeated ``time_steps`` times, ``[T, B, ...]`` (direct encoding).

Model output: ``[B, C]`` logits, or ``[T, B, C]`` averaged over time (the usual spiking readout).
"""

from __future__ import annotations

import torch


def model_input(x: torch.Tensor, layout: str, time_steps: int = 0) -> torch.Tensor:
    if layout == "batch_first":
        return x
    if layout == "time_first":
        if x.dim() < 2:
            raise ValueError(f"input_layout='time_first' needs samples of shape [T, ...], got a batch of shape {tuple(x.shape)}")
        return x.transpose(0, 1)
    if layout == "repeat":
        return x.unsqueeze(0).expand(time_steps, *x.shape)
    raise ValueError(f"unknown input_layout {layout!r}")


def batch_dim(layout: str) -> int:
    """The batch dimension of the model input."""
    return 0 if layout == "batch_first" else 1


def logits_of(output: torch.Tensor | tuple, batch_size: int) -> torch.Tensor:
    """``[B, C]`` logits from a model output ``[B, C]`` or ``[T, B, C]`` (time-averaged)."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"the model must return a tensor of logits, got {type(output).__name__}")
    if output.dim() == 3 and output.shape[1] == batch_size:
        return output.mean(dim=0)
    if output.dim() == 2 and output.shape[0] == batch_size:
        return output
    raise ValueError(f"the model output has shape {tuple(output.shape)}; expected logits [B={batch_size}, classes] or [T, B={batch_size}, classes]")
