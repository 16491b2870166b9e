"""Parameters of the multi-step integer LIF op (immutable)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class IntegerLIFParams:
    r"""Constants of one integer LIF layer; potentials dimensionless, time in steps.

    ``beta`` is the membrane decay per step, ``v_th`` the threshold :math:`\theta` (the charge one
    count removes), ``levels`` the largest count :math:`D`, ``norm`` the output divisor :math:`n`
    (:math:`y_t = k_t / n`). ``decay_input`` scales the input by :math:`1-\beta`; ``detach_reset``
    stops the straight-through gradient through the reset. None of them is learned.
    """

    beta: float = 0.5
    v_th: float = 1.0
    levels: int = 4
    norm: float = 1.0
    decay_input: bool = False
    detach_reset: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta}")
        if not (math.isfinite(self.v_th) and self.v_th > 0):
            raise ValueError(f"v_th must be > 0, got {self.v_th}")
        if int(self.levels) != self.levels or self.levels < 1:
            raise ValueError(f"levels must be a positive integer, got {self.levels}")
        if not (math.isfinite(self.norm) and self.norm > 0):
            raise ValueError(f"norm must be > 0, got {self.norm}")

    def kernel_args(self) -> tuple[float, float, float, int, float, bool]:
        """The scalars every backend's kernel takes, in order: ``(beta, c, v_th, levels, norm, detach_reset)``,
        with the input scale ``c = 1 - beta`` if ``decay_input`` else 1 (computed in double, as the module does)."""
        c = (1.0 - float(self.beta)) if self.decay_input else 1.0
        return (float(self.beta), c, float(self.v_th), int(self.levels), float(self.norm), bool(self.detach_reset))
