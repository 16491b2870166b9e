r"""The spike nonlinearity :math:`s = H(x)` with a surrogate derivative :math:`\sigma'(x)` in the backward pass.

The surrogate table is shared with the fused kernels (:mod:`neuro.ops.surrogate`): ``sigmoid``,
``atan``, ``fast_sigmoid``, ``triangle``, ``rectangle``, ``erf``, ``piecewise_quadratic``, each
with slope ``alpha``.
"""

from __future__ import annotations

import torch

from ..ops.surrogate.reference import heaviside, surrogate_id


def spike(x: torch.Tensor, surrogate: str = "sigmoid", alpha: float = 4.0, strict: bool = False) -> torch.Tensor:
    """:math:`H(x)` (1 where ``x >= 0``; ``x > 0`` when ``strict``) forward; the named surrogate's derivative backward."""
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    return heaviside(x, surrogate_id(surrogate), float(alpha), strict)
