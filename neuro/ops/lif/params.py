"""Parameters of the multi-step LIF op (immutable)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..surrogate import surrogate_id


@dataclass(frozen=True)
class LIFParams:
    r"""Constants of one LIF layer; potentials in the layer's units (dimensionless in ``neuro.nn``).

    ``v_reset=None`` means soft (subtractive) reset by ``v_th``; ``decay_input`` scales the
    input by ``1 - beta`` (SpikingJelly's ``decay_input=True``). ``surrogate`` names the
    surrogate derivative and ``alpha`` its slope.

    ``strict_threshold`` fires on :math:`h > v_{th}` instead of :math:`h \ge v_{th}` (snntorch,
    norse, NIR). ``reset_delay`` applies the reset of a spike at the start of the next step
    instead of at once, and the potential carried between steps (``v0``, ``v_last``) is then the
    membrane before reset, as in snntorch's ``Leaky`` (see :func:`neuro.ops.lif.reference.multi_step_autograd`).
    The fused Numba/CuPy kernels implement neither option: :attr:`fused` is ``False`` and
    :func:`neuro.ops.lif.autograd.lif_multi_step` runs the torch reference for such layers.
    """

    v_th: float = 1.0
    v_reset: float | None = 0.0
    v_leak: float = 0.0
    decay_input: bool = True
    detach_reset: bool = False
    surrogate: str = "sigmoid"
    alpha: float = 4.0
    reset_delay: bool = False
    strict_threshold: bool = False

    def __post_init__(self) -> None:
        for name in ("v_th", "v_leak", "alpha"):
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

    @property
    def fused(self) -> bool:
        """Whether the fused kernels implement this law (``False``: only the torch reference does)."""
        return not (self.reset_delay or self.strict_threshold)

    @property
    def surrogate_id(self) -> int:
        return surrogate_id(self.surrogate)

    def kernel_args(self) -> tuple[float, float, float, bool, bool, bool, int, float]:
        """The scalars every backend's kernel takes, in order."""
        return (
            float(self.v_th),
            0.0 if self.v_reset is None else float(self.v_reset),
            float(self.v_leak),
            bool(self.soft_reset),
            bool(self.decay_input),
            bool(self.detach_reset),
            self.surrogate_id,
            float(self.alpha),
        )
