"""What a spiking layer does with NaN / Inf input: raise (default), warn once, or let it through.

A NaN input never crosses the threshold, so a neuron fed one emits no spike and keeps a NaN membrane
for the rest of the sequence: without a check a diverged layer upstream shows up only as a silent
network. Each multi-step neuron of :mod:`neuro.nn` calls :meth:`NonFiniteCheck._check_input` at the
start of ``forward``: one ``torch.isfinite(x).all()`` (a device synchronisation on GPU), skipped while
``torch.compile`` traces the model, on the meta device (shape inference: no values) and for ``nonfinite="ignore"``.

Example::

    lif = LIF(tau=2.0, nonfinite="warn")         # or later: lif.nonfinite = "warn"
    set_nonfinite(model, "ignore")               # every neuron of a built model
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

MODES = ("raise", "warn", "ignore")


def nonfinite_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`; a ``ValueError`` otherwise."""
    if mode not in MODES:
        raise ValueError(f"nonfinite must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    return mode


class NonFiniteCheck:
    """Mixin for neuron modules: the ``nonfinite`` attribute and the input check that follows it."""

    @property
    def nonfinite(self) -> str:
        """``"raise"``: a ``ValueError`` on NaN/Inf input; ``"warn"``: one warning per layer, then go on; ``"ignore"``: no check."""
        return self.__dict__.get("_nonfinite", "raise")

    @nonfinite.setter
    def nonfinite(self, mode: str) -> None:
        self.__dict__["_nonfinite"] = nonfinite_mode(mode)
        self.__dict__["_nonfinite_warned"] = False

    def _check_input(self, x: torch.Tensor) -> None:
        mode = self.nonfinite
        if mode == "ignore" or not x.is_floating_point() or x.is_meta or torch.compiler.is_compiling() or torch.jit.is_tracing():
            return
        x = x.detach()  # a check, not part of the graph: nothing saved for backward
        if bool(torch.isfinite(x).all()):
            return
        bad = x.numel() - int(torch.isfinite(x).sum())
        what = (f"{type(self).__name__} got {bad} non-finite input values (NaN/Inf) of {x.numel()} (input shape {tuple(x.shape)}); "
                "NaN never crosses the threshold, so these neurons would stay silent")
        if mode == "raise":
            raise ValueError(f"{what}. Find where the input diverges, or set nonfinite='warn' / 'ignore' on the layer to let it through")
        if not self.__dict__.get("_nonfinite_warned", False):
            self.__dict__["_nonfinite_warned"] = True
            warnings.warn(f"{what} (warned once per layer)", RuntimeWarning, stacklevel=3)


def set_nonfinite(model: nn.Module, mode: str) -> int:
    """Set ``nonfinite = mode`` on every neuron of ``model`` that checks its input; the number of layers set."""
    nonfinite_mode(mode)
    layers = [m for m in model.modules() if isinstance(m, NonFiniteCheck)]
    for m in layers:
        m.nonfinite = mode
    return len(layers)
