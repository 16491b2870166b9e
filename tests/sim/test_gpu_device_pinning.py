"""The simulator's CUDA device is pinned when its engine is made (CuPy replaced by the tests' fake; no GPU needed)."""

from __future__ import annotations

import sys

import pytest

from neuro import kernel_loader
from neuro.sim import engine_gpu

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "ops"))
from fake_cupy import FakeCupy  # noqa: E402


@pytest.fixture
def fake(monkeypatch):
    fake = FakeCupy(capabilities=("90", "90"))

    class Stream:
        def __init__(self, non_blocking=False):
            self.ptr = 1000 + fake.devices[-1]
            self.device = fake.devices[-1]

        def __enter__(self):
            fake.streams.append(self.ptr)
            return self

        def __exit__(self, *exc):
            fake.streams.pop()

    fake.cuda.Stream = Stream
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(kernel_loader, "_import_cupy", lambda: fake)
    kernel_loader.clear_cache()
    yield fake
    kernel_loader.clear_cache()


def test_engine_keeps_the_device_current_at_its_creation(fake):
    with fake.cuda.Device(1):
        dev = engine_gpu.CudaDevice()
    assert dev.device_id == 1 and dev.stream.device == 1
    dev.use()  # device 0 is current again: the kernels still compile and load on device 1
    assert {e[2] for e in fake.calls("compile")} == {1}
    assert {e[2] for e in fake.calls("get_function")} == {1}
    with dev.context():
        assert fake.devices[-1] == 1 and fake.streams[-1] == dev.stream.ptr
    assert fake.devices[-1] == 0


def test_an_explicit_device_is_used(fake):
    dev = engine_gpu.CudaDevice(device=1)
    assert dev.device_id == 1 and dev.stream.device == 1
