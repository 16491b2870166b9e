"""The simulator's backends as a fixture: the Numba loop, the CUDA kernels emulated on the CPU, the CUDA kernels on a GPU."""

from __future__ import annotations

import pytest

from neuro.sim import engine_gpu


@pytest.fixture(params=["cpu", "emulate", pytest.param("cuda", marks=pytest.mark.gpu)])
def sim_backend(request) -> str:
    """Each ``Network(backend=...)`` in turn ('cuda' is skipped without a GPU, 'emulate' without a C++ compiler)."""
    if request.param == "emulate" and engine_gpu.HostEmulation.compiler() is None:
        pytest.skip("no C++ compiler for the emulated CUDA kernels")
    return request.param
