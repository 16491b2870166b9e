"""Parameters of the multi-step UltraLIF op (immutable)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class UltraLIFParams:
    r"""Constants of one UltraLIF layer; potentials dimensionless, time in steps.

    ``beta`` is the membrane decay per step, ``v_th`` the threshold, ``v_reset=None`` the soft reset
    (subtract :math:`v_{th} s_t`), a number the hard reset towards it; ``decay_input`` scales the
    input by :math:`1-\beta`. The temperature :math:`\varepsilon` is a tensor (it may be learned),
    passed to the op beside these constants.
    """

    beta: float = 0.5
    v_th: float = 1.0
    v_reset: float | None = None
    decay_input: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta}")
        if not math.isfinite(self.v_th):
            raise ValueError(f"v_th must be finite, got {self.v_th}")
        if self.v_reset is not None and not math.isfinite(self.v_reset):
            raise ValueError(f"v_reset must be finite or None (soft reset), got {self.v_reset}")

    @property
    def soft_reset(self) -> bool:
        return self.v_reset is None

    def kernel_args(self) -> tuple[float, float, float, float, bool]:
        """The scalars every backend's kernel takes, in order: ``(beta, c, v_th, v_reset, soft_reset)``, with the input
        scale ``c = 1 - beta`` if ``decay_input`` else 1 (computed in double, as the module does)."""
        c = (1.0 - float(self.beta)) if self.decay_input else 1.0
        return (float(self.beta), c, float(self.v_th), 0.0 if self.v_reset is None else float(self.v_reset), bool(self.soft_reset))
