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
    "compute_dtype",
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


#: the oldest GPU the CUDA kernels run on: compute capability 6.0 (Pascal), the first with a float64 atomicAdd
MIN_COMPUTE_CAPABILITY = (6, 0)


def _capability(cupy: Any, index: int) -> tuple[int, int]:
    cc = int(cupy.cuda.Device(index).compute_capability)  # CuPy spells it "90" for 9.0
    return divmod(cc, 10)


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
            count = cupy.cuda.runtime.getDeviceCount()
            if count < 1:
                return "cupy imports but sees no CUDA device"
            caps = [_capability(cupy, i) for i in range(count)]
        except Exception as exc:  # noqa: BLE001 - no driver, no device
            return f"cupy imports but CUDA is not usable: {exc}"
        if all(cc < MIN_COMPUTE_CAPABILITY for cc in caps):
            found = ", ".join(f"{a}.{b}" for a, b in caps)
            need = "{}.{}".format(*MIN_COMPUTE_CAPABILITY)
            return f"cupy sees only CUDA devices of compute capability {found}; neuro's CUDA kernels need {need} or newer (float64 atomicAdd)"
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


#: the CuPy (NumPy) dtype a tensor's memory is handed over as. bfloat16 has no NumPy dtype: its memory goes over as
#: uint16, and the kernels, compiled for ``__nv_bfloat16``, read the same bits.
CUPY_DTYPE = {
    torch.float64: "float64",
    torch.float32: "float32",
    torch.float16: "float16",
    torch.bfloat16: "uint16",
    torch.int64: "int64",
    torch.int32: "int32",
    torch.int16: "int16",
    torch.int8: "int8",
    torch.uint8: "uint8",
    torch.bool: "bool",
}


def cupy_view_spec(t: torch.Tensor) -> dict[str, Any]:
    """What :func:`to_cupy` builds its view from: address, bytes spanned, shape, byte strides, NumPy dtype name."""
    try:
        dtype = CUPY_DTYPE[t.dtype]
    except KeyError:
        raise TypeError(f"no CuPy view of a {t.dtype} tensor; supported: {[str(d) for d in CUPY_DTYPE]}") from None
    size = t.element_size()
    span = 0 if t.numel() == 0 else size * (1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride())))
    return dict(ptr=t.data_ptr(), nbytes=span, shape=tuple(t.shape), strides=tuple(s * size for s in t.stride()), dtype=dtype)


def to_cupy(t: torch.Tensor) -> Any:
    """A CuPy view of a CUDA tensor (shares memory; no copy), built from its address, not through DLPack.

    Every dtype the kernels take goes over as it is, bfloat16 as uint16 (NumPy has no bfloat16: DLPack's bfloat16
    fails in CuPy 13, 13.3 crashes, and CuPy 14 needs ``ml_dtypes``). Nothing is synchronised: DLPack would make
    CuPy's current stream wait for torch's, an event wait on the legacy default stream that breaks a
    ``torch.cuda.graph`` capture. The kernels are launched on torch's current stream instead
    (:func:`neuro.kernel_loader.launch`), which orders them after the work that produced ``t``. The view keeps ``t``
    alive.
    """
    if t.device.type != "cuda":
        raise ValueError(f"to_cupy needs a CUDA tensor, got one on {t.device}; a host-to-device copy is never implicit")
    import cupy

    return _cupy_view(cupy, t.detach())


def _cupy_view(cupy: Any, t: torch.Tensor) -> Any:
    spec = cupy_view_spec(t)
    mem = cupy.cuda.UnownedMemory(spec["ptr"], spec["nbytes"], t, t.device.index)
    return cupy.ndarray(spec["shape"], dtype=spec["dtype"], memptr=cupy.cuda.MemoryPointer(mem, 0), strides=spec["strides"])


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the kernels compute in, and keep parameters in, for tensors of ``dtype``: float64 for float64, else
    float32 (float16 and bfloat16 are storage types: a decay of 0.99 stays 0.99, not bfloat16's 0.98828125)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def from_cupy(a: Any) -> torch.Tensor:
    """A CUDA tensor sharing a CuPy array's memory through DLPack (no copy)."""
    return torch.from_dlpack(a)


def to_numba_cuda(t: torch.Tensor) -> Any:
    """A numba.cuda device array view of a CUDA tensor via ``__cuda_array_interface__``."""
    if t.device.type != "cuda":
        raise ValueError(f"to_numba_cuda needs a CUDA tensor, got one on {t.device}")
    from numba import cuda

    return cuda.as_cuda_array(t.detach())
