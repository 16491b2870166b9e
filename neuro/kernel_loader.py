"""Compile the CUDA sources in ``kernels/`` with CuPy at first use, one module per device and options.

Variants (reset mode, dtype, surrogate) are chosen with ``-D`` options, never by
assembling source text. Compile errors name the ``.cu`` file and line: the source is
prefixed with a ``#line 1 "<path>"`` directive so NVRTC reports real paths.

A module is compiled for one device (``device``, default the current one), which must be of compute
capability 6.0 or newer (the kernels use the float64 ``atomicAdd`` of sm_60): an older one raises
:class:`UnsupportedDeviceError`. :func:`launch` runs a kernel on the device of the tensors it is given and on
torch's current stream there, so it is ordered after the torch work that made its inputs and can be captured
in a ``torch.cuda.graph``.

CuPy is imported inside :func:`load_module` and :func:`launch` only; a CPU-only machine never imports it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backend import _INSTALL_HINT, MIN_COMPUTE_CAPABILITY, BackendUnavailableError, _capability
from .paths import kernel_dir, kernel_source

__all__ = ["KernelCompileError", "UnsupportedDeviceError", "load_module", "get_kernel", "launch", "format_compile_log", "clear_cache"]

_lock = threading.Lock()
_modules: dict[tuple[str, tuple[str, ...], int], Any] = {}
_checked: set[int] = set()

#: threads per block of the one-thread-per-neuron kernels
THREADS = 256


class KernelCompileError(RuntimeError):
    """NVRTC rejected a kernel source; the message names file, line and options."""


class UnsupportedDeviceError(BackendUnavailableError):
    """The GPU is older than the kernels need (compute capability 6.0)."""


@dataclass(frozen=True)
class _Diagnostic:
    path: str
    line: int
    message: str


_DIAG = re.compile(r"^(?P<path>[^\s()]+)\((?P<line>\d+)\): (?P<msg>.*)$")


def _parse(log: str) -> list[_Diagnostic]:
    out = []
    for raw in log.splitlines():
        m = _DIAG.match(raw.strip())
        if m:
            out.append(_Diagnostic(m["path"], int(m["line"]), m["msg"]))
    return out


def format_compile_log(log: str, path: Path, options: Sequence[str]) -> str:
    """A readable message from an NVRTC log: ``file:line: message`` per diagnostic plus the offending source line."""
    diags = _parse(log)
    lines = [f"CUDA kernel {path.name} failed to compile (options: {' '.join(options) or 'none'})"]
    if not diags:
        lines.append(log.strip() or "(NVRTC gave no log)")
        return "\n".join(lines)
    try:
        text = path.read_text().splitlines()
    except OSError:
        text = []
    for d in diags:
        lines.append(f"{d.path}:{d.line}: {d.message}")
        if Path(d.path).name == path.name and 0 < d.line <= len(text):
            lines.append(f"    {text[d.line - 1].strip()}")
    return "\n".join(lines)


def _import_cupy() -> Any:
    try:
        import cupy
    except Exception as exc:  # noqa: BLE001
        raise BackendUnavailableError(
            f"CUDA kernels need CuPy, which does not import here ({exc}). Install: {_INSTALL_HINT['cupy']}"
        ) from exc
    return cupy


def _check_device(cupy: Any, dev: int) -> None:
    """Raise :class:`UnsupportedDeviceError` for a device older than compute capability 6.0 (checked once per device)."""
    if dev in _checked:
        return
    cc = _capability(cupy, dev)
    if cc < MIN_COMPUTE_CAPABILITY:
        try:
            name = cupy.cuda.runtime.getDeviceProperties(dev)["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
        except Exception:  # noqa: BLE001 - the name only decorates the message
            name = "?"
        need = "{}.{}".format(*MIN_COMPUTE_CAPABILITY)
        raise UnsupportedDeviceError(
            f"CUDA device {dev} ({name}) has compute capability {cc[0]}.{cc[1]}; neuro's CUDA kernels need {need} or newer "
            "(float64 atomicAdd, sm_60). Use backend='torch' (the reference) or another GPU."
        )
    _checked.add(dev)


def load_module(name: str, options: Sequence[str] = (), device: int | None = None) -> Any:
    """The compiled ``cupy.RawModule`` of ``kernels/<name>.cu`` for ``options`` on ``device`` (cached); ``name`` may
    also be the absolute path of a generated source (:mod:`neuro.dynamics.torchgen_cuda`, named by a hash of its
    text), which includes the sources of ``kernels/``."""
    cupy = _import_cupy()
    path = Path(name) if Path(name).is_absolute() else kernel_source(name)
    opts = tuple(options) + (f"-I{kernel_dir()}", "--std=c++17")
    dev = cupy.cuda.Device().id if device is None else int(device)
    key = (str(path), opts, dev)
    with _lock:
        module = _modules.get(key)
        if module is not None:
            return module
        _check_device(cupy, dev)
        code = f'#line 1 "{path}"\n' + path.read_text()
        with cupy.cuda.Device(dev):
            module = cupy.RawModule(code=code, options=opts)
            try:
                module.compile()
            except cupy.cuda.compiler.CompileException as exc:
                raise KernelCompileError(format_compile_log(str(exc), path, opts)) from None
        _modules[key] = module
        return module


def get_kernel(name: str, function: str, options: Sequence[str] = (), device: int | None = None) -> Any:
    """One ``__global__`` function of ``kernels/<name>.cu`` (or of a generated source's absolute path, as
    :func:`load_module`), compiled for ``device`` (default: the current one)."""
    cupy = _import_cupy()
    dev = cupy.cuda.Device().id if device is None else int(device)
    module = load_module(name, options, dev)
    with cupy.cuda.Device(dev):
        return module.get_function(function)


def launch(kernel: Any, n: int, device: Any, args: Sequence[Any], threads: int = THREADS) -> None:
    """Run ``kernel`` with one thread per item of ``n`` on ``device`` (a ``torch.device`` or index) and on torch's
    current stream there: after the torch work that made the arguments, and inside a ``torch.cuda.graph`` capture."""
    import torch

    cupy = _import_cupy()
    index = torch.device("cuda", device) if isinstance(device, int) else torch.device(device)
    index = torch.cuda.current_device() if index.index is None else index.index
    stream = torch.cuda.current_stream(index)
    blocks = max((n + threads - 1) // threads, 1)
    with cupy.cuda.Device(index), cupy.cuda.ExternalStream(stream.cuda_stream):
        kernel((blocks,), (threads,), tuple(args))


def clear_cache() -> None:
    """Forget compiled modules and device checks (tests; a changed source)."""
    with _lock:
        _modules.clear()
        _checked.clear()
