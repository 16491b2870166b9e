"""One dispatch point for every dynamic law: torch reference, Numba (CPU) or CuPy (GPU).

Each law lives in ``neuro/ops/<law>/`` with the same function names in ``reference.py``
(plain torch, always there), ``cpu.py`` (Numba) and ``cuda.py`` (CuPy launchers of the
sources in ``kernels/``). A caller asks for an op once::

    from neuro import backend
    fwd = backend.op("lif", "multi_step_forward", device=x.device)
    spikes, h_seq, v_last = fwd(x_seq, v0, params)

and calls it the same way whatever backend answered.

Choice, in order: the ``backend=`` argument, else the ``NEURO_BACKEND`` environment
variable, else automatic: ``cupy`` for CUDA tensors when CuPy imports, ``numba`` for CPU
tensors when Numba imports, ``torch`` otherwise. A forced backend that is missing, or
that cannot run on the tensor's device, raises :class:`BackendUnavailableError` naming
what to install; the automatic choice falls back with one logged message.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "available",
    "available_backends",
    "resolve",
    "op",
    "to_numpy",
    "from_numpy",
    "to_cupy",
    "from_cupy",
    "to_numba_cuda",
]

log = logging.getLogger(__name__)

BACKENDS = ("torch", "numba", "cupy")
ENV_VAR = "NEURO_BACKEND"

# module of each backend inside a law's folder
_MODULE = {"torch": "reference", "numba": "cpu", "cupy": "cuda"}

_INSTALL_HINT = {
    "numba": "pip install numba  (it is a core dependency of neuro: reinstall neuro)",
    "cupy": "pip install 'neuro[gpu-cuda12]' or 'neuro[gpu-cuda13]' (cupy-cuda12x / cupy-cuda13x, "
    "matching your CUDA driver), on a machine with an NVIDIA GPU",
}


class BackendUnavailableError(RuntimeError):
    """A backend was asked for that cannot run here."""


@functools.cache
def _import_error(name: str) -> str | None:
    """``None`` when the backend's package imports and can run, else the reason it cannot."""
    if name == "torch":
        return None
    if name == "numba":
        try:
            importlib.import_module("numba")
        except Exception as exc:  # noqa: BLE001 - any import failure means unavailable
            return f"numba does not import: {exc}"
        return None
    if name == "cupy":
        try:
            cupy = importlib.import_module("cupy")
        except Exception as exc:  # noqa: BLE001
            return f"cupy does not import: {exc}"
        try:
            if cupy.cuda.runtime.getDeviceCount() < 1:
                return "cupy imports but sees no CUDA device"
        except Exception as exc:  # noqa: BLE001 - no driver, no device
            return f"cupy imports but CUDA is not usable: {exc}"
        return None
    raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS}")


def available(name: str) -> bool:
    """Whether backend ``name`` can run on this machine."""
    return _import_error(name) is None


def available_backends() -> list[str]:
    """The backends that can run here, reference first."""
    return [b for b in BACKENDS if available(b)]


def _check_name(name: str, source: str) -> str:
    key = name.strip().lower()
    if key not in BACKENDS:
        raise ValueError(f"{source} must be one of {BACKENDS}, got {name!r}")
    return key


def _device_type(device: torch.device | str | None) -> str:
    if device is None:
        return "cpu"
    return torch.device(device).type


def resolve(device: torch.device | str | None = None, backend: str | None = None) -> str:
    """Name of the backend to use for tensors on ``device``.

    ``backend`` (or ``$NEURO_BACKEND``) forces one and raises when it cannot run on
    ``device``; otherwise the fastest available backend for the device is chosen.
    """
    dev = _device_type(device)
    forced, source = backend, "backend"
    if forced is None and os.environ.get(ENV_VAR):
        forced, source = os.environ[ENV_VAR], f"${ENV_VAR}"
    if forced is not None:
        name = _check_name(forced, source)
        reason = _import_error(name)
        if reason is not None:
            raise BackendUnavailableError(
                f"backend {name!r} (asked for by {source}) is not available: {reason}. "
                f"Install it with: {_INSTALL_HINT[name]}"
            )
        if name == "numba" and dev != "cpu":
            raise BackendUnavailableError(
                f"backend 'numba' runs CPU kernels but the tensors are on {dev!r}; "
                "use backend='cupy' or 'torch', or move the tensors to the CPU"
            )
        if name == "cupy" and dev != "cuda":
            raise BackendUnavailableError(
                f"backend 'cupy' runs CUDA kernels but the tensors are on {dev!r}; "
                "use backend='numba' or 'torch', or move the tensors to a CUDA device"
            )
        return name
    if dev == "cuda":
        if available("cupy"):
            return "cupy"
        _log_fallback("cupy", dev)
        return "torch"
    if dev == "cpu":
        if available("numba"):
            return "numba"
        _log_fallback("numba", dev)
    return "torch"


@functools.cache
def _log_fallback(wanted: str, dev: str) -> None:
    log.warning(
        "neuro: %s kernels unavailable for %s tensors (%s); using the torch reference. Install: %s",
        wanted,
        dev,
        _import_error(wanted),
        _INSTALL_HINT[wanted],
    )


@functools.cache
def _load(law: str, backend: str, name: str) -> Callable[..., Any]:
    module_name = f"neuro.ops.{law}.{_MODULE[backend]}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise NotImplementedError(f"law {law!r} has no {backend!r} implementation ({module_name})") from exc
        raise
    try:
        return getattr(module, name)
    except AttributeError:
        raise NotImplementedError(f"{module_name} has no op {name!r}") from None


def op(law: str, name: str, device: torch.device | str | None = None, backend: str | None = None) -> Callable[..., Any]:
    """The function ``name`` of law ``law`` (``neuro/ops/<law>/``) for the resolved backend."""
    return _load(law, resolve(device, backend), name)


# ---------------------------------------------------------------- zero-copy hand-over


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of a CPU tensor (shares memory; no copy)."""
    if t.device.type != "cpu":
        raise ValueError(f"to_numpy needs a CPU tensor, got one on {t.device}; a device-to-host copy is never implicit")
    return t.detach().numpy()


def from_numpy(a: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``a``'s memory (no copy)."""
    return torch.from_numpy(a)


def to_cupy(t: torch.Tensor) -> Any:
    """A CuPy view of a CUDA tensor through DLPack (shares memory; no copy)."""
    if t.device.type != "cuda":
        raise ValueError(f"to_cupy needs a CUDA tensor, got one on {t.device}; a host-to-device copy is never implicit")
    import cupy

    return cupy.from_dlpack(t.detach())


def from_cupy(a: Any) -> torch.Tensor:
    """A CUDA tensor sharing a CuPy array's memory through DLPack (no copy)."""
    return torch.from_dlpack(a)


def to_numba_cuda(t: torch.Tensor) -> Any:
    """A numba.cuda device array view of a CUDA tensor via ``__cuda_array_interface__``."""
    if t.device.type != "cuda":
        raise ValueError(f"to_numba_cuda needs a CUDA tensor, got one on {t.device}")
    from numba import cuda

    return cuda.as_cuda_array(t.detach())
