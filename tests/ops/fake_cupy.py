"""Just enough of CuPy, in Python, for the launch path of the training-layer kernels on a machine without CuPy.

``FakeCupy`` keeps a current device and a current stream (as ``with cupy.cuda.Device(i)`` and ``with
cupy.cuda.ExternalStream(ptr)`` set them), compiles nothing, and records every compile, ``get_function`` and kernel
call with the device and stream current at that moment. Its ``from_dlpack`` fails the test: the hand-over builds views
from addresses (``UnownedMemory`` / ``MemoryPointer`` / ``ndarray``), which it records too.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

LEGACY_STREAM = 0  # CuPy's current stream outside any ``with stream:``


@dataclass
class FakeArray:
    shape: tuple
    dtype: str
    ptr: int
    strides: tuple
    device: int
    owner: Any = field(repr=False, default=None)


class FakeCupy(types.ModuleType):
    def __init__(self, capabilities=("90",), names=None):
        super().__init__("cupy")
        self.capabilities = list(capabilities)
        self.names = names or [f"Fake GPU {i}" for i in range(len(self.capabilities))]
        self.devices = [0]
        self.streams = [LEGACY_STREAM]
        self.log: list[tuple] = []
        fake = self

        class Device:
            def __init__(self, index=None):
                self.id = fake.devices[-1] if index is None else int(index)

            @property
            def compute_capability(self):
                return fake.capabilities[self.id]

            def __enter__(self):
                fake.devices.append(self.id)
                return self

            def __exit__(self, *exc):
                fake.devices.pop()

        class ExternalStream:
            def __init__(self, ptr, device_id=-1):
                self.ptr = int(ptr)

            def __enter__(self):
                fake.streams.append(self.ptr)
                return self

            def __exit__(self, *exc):
                fake.streams.pop()

        class UnownedMemory:
            def __init__(self, ptr, size, owner, device_id=-1):
                self.ptr, self.size, self.owner, self.device_id = ptr, size, owner, device_id

        class MemoryPointer:
            def __init__(self, mem, offset):
                self.mem, self.ptr = mem, mem.ptr + offset

        class CompileException(Exception):
            pass

        class Kernel:
            def __init__(self, name):
                self.name = name

            def __call__(self, grid, block, args):
                fake.log.append(("call", self.name, fake.devices[-1], fake.streams[-1], grid, block, args))

        class RawModule:
            def __init__(self, code, options=()):
                self.code, self.options = code, tuple(options)

            def compile(self):
                fake.log.append(("compile", self.options, fake.devices[-1]))

            def get_function(self, name):
                fake.log.append(("get_function", name, fake.devices[-1]))
                return Kernel(name)

        def get_device_properties(index):
            return {"name": fake.names[index].encode()}

        self.cuda = types.SimpleNamespace(
            Device=Device, ExternalStream=ExternalStream, UnownedMemory=UnownedMemory, MemoryPointer=MemoryPointer,
            compiler=types.SimpleNamespace(CompileException=CompileException),
            runtime=types.SimpleNamespace(getDeviceCount=lambda: len(fake.capabilities), getDeviceProperties=get_device_properties),
        )
        self.RawModule = RawModule

    def ndarray(self, shape, dtype=None, memptr=None, strides=None):
        return FakeArray(tuple(shape), str(dtype), memptr.ptr, tuple(strides), memptr.mem.device_id, memptr.mem.owner)

    def from_dlpack(self, x):
        raise AssertionError("the hand-over went through DLPack (bfloat16 fails on CuPy 13, and it synchronises streams)")

    def calls(self, kind: str) -> list[tuple]:
        return [e for e in self.log if e[0] == kind]
