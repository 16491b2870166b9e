"""Shared fixtures: one run per available backend, GPU skipping, no network.

GPU tests skip where CUDA or CuPy is missing; but where ``nvidia-smi`` sees a GPU, a run whose GPU tests were all
skipped fails (the environment lacks the GPU extra, or CuPy cannot use the driver): a green run must mean the GPU
code ran. ``NEURO_ALLOW_GPU_SKIP=1`` lets such a run pass on purpose.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess

import pytest
import torch

from neuro import backend as nb

_gpu_tests = {"ran": 0, "skipped": 0}


def _cuda_usable() -> bool:
    # decided lazily, inside a fixture/hook, never at import time of a test module
    return torch.cuda.is_available() and importlib.util.find_spec("cupy") is not None and nb.available("cupy")


def pytest_collection_modifyitems(config, items):
    if any(item.get_closest_marker("gpu") for item in items) and not _cuda_usable():
        skip = pytest.mark.skip(reason="needs a CUDA GPU with CuPy (none here)")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip)


def _nvidia_gpu_seen() -> bool:
    try:
        res = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return res.returncode == 0 and "GPU" in res.stdout


def pytest_runtest_logreport(report):
    if "gpu" not in report.keywords:
        return
    if report.skipped:
        _gpu_tests["skipped"] += 1
    elif report.when == "call" or report.failed:
        _gpu_tests["ran"] += 1


def pytest_sessionfinish(session, exitstatus):
    if not _gpu_tests["skipped"] or _gpu_tests["ran"] or os.environ.get("NEURO_ALLOW_GPU_SKIP") == "1":
        return
    if not _nvidia_gpu_seen():
        return
    msg = (f"nvidia-smi sees a GPU but all {_gpu_tests['skipped']} GPU tests were skipped (no usable CuPy: install the GPU extra, "
           "`pip install -e '.[dev,gpu-cuda12]'` or gpu-cuda13 for the driver's CUDA major, or run `make setup` again); failing the run. "
           "NEURO_ALLOW_GPU_SKIP=1 accepts it.")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(msg, red=True, bold=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _backend_params():
    params = [pytest.param("torch", id="torch"), pytest.param("numba", id="numba")]
    params.append(pytest.param("cupy", id="cupy", marks=pytest.mark.gpu))
    return params


@pytest.fixture(params=_backend_params())
def backend_name(request) -> str:
    """Each backend in turn: 'torch' (reference), 'numba' (CPU), 'cupy' (GPU, skipped without CUDA)."""
    name = request.param
    if not nb.available(name):
        pytest.skip(f"backend {name!r} not available here")
    return name


@pytest.fixture
def backend_device(backend_name) -> torch.device:
    """The device matching ``backend_name``'s kernels."""
    return torch.device("cuda" if backend_name == "cupy" else "cpu")


@pytest.fixture(autouse=True)
def _no_forced_backend(monkeypatch):
    """Tests start with the automatic choice, whatever the caller's environment says."""
    monkeypatch.delenv(nb.ENV_VAR, raising=False)


@pytest.fixture(params=["cpu", "emulate", pytest.param("cuda", marks=pytest.mark.gpu)])
def sim_backend(request) -> str:
    """Each ``Network(backend=...)`` in turn ('cuda' is skipped without a GPU, 'emulate' without a C++ compiler)."""
    from neuro.sim.engine_gpu import HostEmulation

    if request.param == "emulate" and HostEmulation.compiler() is None:
        pytest.skip("no C++ compiler for the emulated CUDA kernels")
    return request.param
