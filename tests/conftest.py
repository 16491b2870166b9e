"""Shared fixtures: one run per available backend, GPU skipping, no network."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from neuro import backend as nb


def _cuda_usable() -> bool:
    # decided lazily, inside a fixture/hook, never at import time of a test module
    return torch.cuda.is_available() and importlib.util.find_spec("cupy") is not None and nb.available("cupy")


def pytest_collection_modifyitems(config, items):
    if any(item.get_closest_marker("gpu") for item in items) and not _cuda_usable():
        skip = pytest.mark.skip(reason="needs a CUDA GPU with CuPy (none here)")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip)


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
