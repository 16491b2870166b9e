"""Parameters of the multi-step ALIF op (immutable)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..surrogate import surrogate_id


@dataclass(frozen=True)
class ALIFParams:
    r"""Constants of one ALIF layer; potentials dimensionless.

    ``v_th`` is the threshold baseline :math:`b_0` (also the amount a soft reset subtracts),
    ``v_reset=None`` the soft reset, ``adapt_increment`` the jump :math:`\gamma` of the adaptation
    variable per spike. ``detach_reset`` / ``detach_adaptation`` stop the surrogate gradient through
    the reset / through :math:`a_t`'s spike term. ``surrogate`` names the surrogate derivative and
    ``alpha`` its slope. The decays :math:`\beta`, :math:`\rho` and the strength :math:`\beta_a` are
    tensors (they may be learned), passed to the op beside these constants.
    """

    v_th: float = 1.0
    v_reset: float | None = None
    adapt_increment: float = 1.0
    decay_input: bool = False
    detach_reset: bool = False
    detach_adaptation: bool = False
    surrogate: str = "triangle"
    alpha: float = 1.0

    def __post_init__(self) -> None:
        for name in ("v_th", "adapt_increment", "alpha"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")
        if self.v_reset is not None and not math.isfinite(self.v_reset):
            raise ValueError(f"v_reset must be finite or None (soft reset), got {self.v_reset}")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        surrogate_id(self.surrogate)

    @property
    def soft_reset(self) -> bool:
        return self.v_reset is None

    def kernel_args(self) -> tuple[float, float, float, bool, bool, bool, bool, int, float]:
        """The scalars every backend's kernel takes, in order:
        ``(v_th, v_reset, adapt_increment, soft_reset, decay_input, detach_reset, detach_adaptation, surrogate, alpha)``."""
        return (
            float(self.v_th),
            0.0 if self.v_reset is None else float(self.v_reset),
            float(self.adapt_increment),
            bool(self.soft_reset),
            bool(self.decay_input),
            bool(self.detach_reset),
            bool(self.detach_adaptation),
            surrogate_id(self.surrogate),
            float(self.alpha),
        )
