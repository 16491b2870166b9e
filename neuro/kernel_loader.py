"""Compile the CUDA sources in ``kernels/`` with CuPy at first use, one module per device and options.

Variants (reset mode, dtype, surrogate) are chosen with ``-D`` options, never by
assembling source text. Compile errors name the ``.cu`` file and line: the source is
prefixed with a ``#line 1 "<path>"`` directive so NVRTC reports real paths.

CuPy is imported inside :func:`load_module` only; a CPU-only machine never imports it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backend import _INSTALL_HINT, BackendUnavailableError
from .paths import kernel_dir, kernel_source

__all__ = ["KernelCompileError", "load_module", "get_kernel", "format_compile_log", "clear_cache"]

_lock = threading.Lock()
_modules: dict[tuple[str, tuple[str, ...], int], Any] = {}


class KernelCompileError(RuntimeError):
    """NVRTC rejected a kernel source; the message names file, line and options."""


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


def load_module(name: str, options: Sequence[str] = (), device: int | None = None) -> Any:
    """The compiled ``cupy.RawModule`` of ``kernels/<name>.cu`` for ``options`` on ``device`` (cached)."""
    cupy = _import_cupy()
    path = kernel_source(name)
    opts = tuple(options) + (f"-I{kernel_dir()}", "--std=c++17")
    dev = cupy.cuda.Device().id if device is None else int(device)
    key = (str(path), opts, dev)
    with _lock:
        module = _modules.get(key)
        if module is not None:
            return module
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
    """One ``__global__`` function of ``kernels/<name>.cu``."""
    return load_module(name, options, device).get_function(function)


def clear_cache() -> None:
    """Forget compiled modules (tests; a changed source)."""
    with _lock:
        _modules.clear()
