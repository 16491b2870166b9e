"""Host-side helpers shared by the Numba launchers of ``neuro.ops``: tensors to arrays, broadcast checks, work dtypes."""

from __future__ import annotations

import numpy as np
import torch

from ..backend import to_numpy

#: dtypes the CPU kernels compute in natively; others (float16, bfloat16) are computed in float32 and cast back
NATIVE = (torch.float32, torch.float64)


def as_array(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of ``t`` (made contiguous first), zero-copy where possible."""
    return to_numpy(t.contiguous())


def broadcast_scalar(t: torch.Tensor) -> bool:
    """Whether ``t`` is one value broadcast over all its elements (every stride 0)."""
    return t.numel() > 0 and all(s == 0 for s in t.stride())


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a CPU kernel computes in for tensors of ``dtype``."""
    return dtype if dtype in NATIVE else torch.float32
