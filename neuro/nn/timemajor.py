"""Multi-step neurons read dimension 0 as time: a 2-D input is refused unless the layer was told it is ``[T, N]``.

A neuron of :mod:`neuro.nn` takes ``[T, B, ...]`` and runs T steps. A 2-D ``[B, N]`` batch (one step, as a
single-step library such as snntorch takes it) would silently run as B time steps of N neurons, the batch
samples feeding one another's membranes. So ``forward`` refuses 2-D input with the three ways out: :meth:`step`
for one step of ``[B, N]``, ``x.unsqueeze(1)`` (``[T, 1, N]``) for one sample's sequence, or a layer built with
``input_layout="TN"``, which accepts ``[T, N]`` as T steps of N neurons (the output is the same as for
``[T, 1, N]``, without the batch dimension).

Example::

    lif = LIF(tau=2.0)
    lif(torch.rand(8, 32, 100))                       # [T, B, N]
    lif(torch.rand(32, 100))                          # ValueError: 2-D input ... read as [T, N]
    LIF(tau=2.0, input_layout="TN")(torch.rand(8, 100))   # 8 steps of 100 neurons
"""

from __future__ import annotations

import torch

INPUT_LAYOUTS = ("TB", "TN")


def input_layout_mode(value: str) -> str:
    """``value`` if it is one of :data:`INPUT_LAYOUTS`; a ``ValueError`` otherwise."""
    if value not in INPUT_LAYOUTS:
        raise ValueError(f"input_layout must be 'TB' ([T, B, ...], at least 3-D) or 'TN' (2-D [T, N] also accepted), got {value!r}")
    return value


class TimeMajorInput:
    """Mixin for multi-step neuron modules: the ``input_layout`` attribute and the input-shape check that follows it."""

    @property
    def input_layout(self) -> str:
        """``"TB"`` (default): input ``[T, B, ...]`` with at least 3 dimensions; ``"TN"``: a 2-D input is ``[T, N]``."""
        return self.__dict__.get("_input_layout", "TB")

    @input_layout.setter
    def input_layout(self, value: str) -> None:
        self.__dict__["_input_layout"] = input_layout_mode(value)

    def _check_time_major(self, x: torch.Tensor) -> None:
        name = type(self).__name__
        if x.dim() < 2:
            raise ValueError(f"{name} expects [T, B, ...] input, got shape {tuple(x.shape)}")
        if x.dim() == 2 and self.input_layout != "TN":
            t, n = x.shape
            raise ValueError(
                f"{name} got a 2-D input of shape {tuple(x.shape)}, which a multi-step neuron would read as [T, N]: {t} time steps of "
                f"{n} neurons, one sample. If it is one step of a batch [B, N], call .step(x) (snntorch style) or pass x.unsqueeze(0) "
                f"([1, B, N]); if it is one sample's sequence [T, N], pass x.unsqueeze(1) ([T, 1, N]) or build the layer with "
                "input_layout='TN'")


__all__ = ["INPUT_LAYOUTS", "TimeMajorInput", "input_layout_mode"]
