"""Backend dispatch: automatic choice, forcing, fallback, missing-backend errors, zero-copy hand-over."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from neuro import backend as nb


def test_reference_always_available():
    assert nb.available("torch")
    assert "torch" in nb.available_backends()


def test_auto_choice_on_cpu_is_numba():
    assert nb.available("numba"), "numba is a core dependency"
    assert nb.resolve("cpu") == "numba"


def test_auto_choice_for_cuda_tensors_without_cupy_falls_back(monkeypatch, caplog):
    monkeypatch.setattr(nb, "_import_error", lambda name: "cupy does not import: test" if name == "cupy" else None)
    nb._log_fallback.cache_clear()
    with caplog.at_level(logging.WARNING, logger="neuro.backend"):
        assert nb.resolve("cuda") == "torch"
    assert "cupy" in caplog.text and "pip install" in caplog.text


def test_fallback_to_reference_when_numba_missing(monkeypatch, caplog):
    monkeypatch.setattr(nb, "_import_error", lambda name: "numba does not import: test" if name == "numba" else None)
    nb._log_fallback.cache_clear()
    with caplog.at_level(logging.WARNING, logger="neuro.backend"):
        assert nb.resolve("cpu") == "torch"
    assert "torch reference" in caplog.text


def test_env_var_forces_backend(monkeypatch):
    monkeypatch.setenv("NEURO_BACKEND", "torch")
    assert nb.resolve("cpu") == "torch"
    fn = nb.op("lif", "multi_step_forward", device="cpu")
    assert fn.__module__ == "neuro.ops.lif.reference"


def test_argument_overrides_env(monkeypatch):
    monkeypatch.setenv("NEURO_BACKEND", "torch")
    assert nb.resolve("cpu", backend="numba") == "numba"
    assert nb.op("lif", "multi_step_forward", device="cpu", backend="numba").__module__ == "neuro.ops.lif.cpu"


def test_unknown_backend_name_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("NEURO_BACKEND", "tensorflow")
    with pytest.raises(ValueError, match=r"\$NEURO_BACKEND must be one of .*'tensorflow'"):
        nb.resolve("cpu")


def test_missing_backend_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(nb, "_import_error", lambda name: "cupy does not import: No module named 'cupy'" if name == "cupy" else None)
    with pytest.raises(nb.BackendUnavailableError, match=r"cupy.*not available.*pip install .*cupy-cuda1"):
        nb.resolve("cuda", backend="cupy")


def test_forced_backend_on_wrong_device_is_an_error(monkeypatch):
    monkeypatch.setattr(nb, "_import_error", lambda name: None)  # pretend every package imports
    with pytest.raises(nb.BackendUnavailableError, match="runs CUDA kernels but the tensors are on 'cpu'"):
        nb.resolve("cpu", backend="cupy")
    with pytest.raises(nb.BackendUnavailableError, match="runs CPU kernels but the tensors are on 'cuda'"):
        nb.resolve("cuda", backend="numba")


def test_unknown_law_or_op_is_not_implemented():
    with pytest.raises(NotImplementedError, match="no_such_law"):
        nb.op("no_such_law", "step", device="cpu", backend="torch")
    with pytest.raises(NotImplementedError, match="no op 'no_such_op'"):
        nb.op("lif", "no_such_op", device="cpu", backend="torch")


def test_numpy_hand_over_is_zero_copy():
    t = torch.arange(6, dtype=torch.float32)
    a = nb.to_numpy(t)
    a[0] = 42.0
    assert t[0].item() == 42.0
    assert a.ctypes.data == t.data_ptr()
    back = nb.from_numpy(a)
    back[1] = -1.0
    assert t[1].item() == -1.0 and back.data_ptr() == t.data_ptr()


def test_numpy_hand_over_refuses_device_tensors():
    meta = torch.empty(3, device="meta")
    with pytest.raises(ValueError, match="needs a CPU tensor"):
        nb.to_numpy(meta)
    with pytest.raises(ValueError, match="needs a CUDA tensor"):
        nb.to_cupy(torch.zeros(2))


def test_numba_kernel_writes_into_torch_memory():
    # the numba LIF kernel fills tensors allocated by torch, through NumPy views
    from neuro.ops.lif import LIFParams
    from neuro.ops.lif.autograd import lif_multi_step

    x = torch.full((3, 4), 0.9, dtype=torch.float64)
    s, h, v = lif_multi_step(x, None, 0.5, LIFParams(decay_input=False), backend="numba")
    ref = lif_multi_step(x, None, 0.5, LIFParams(decay_input=False), backend="torch")
    assert np.array_equal(s.numpy(), ref[0].numpy()) and torch.equal(h, ref[1])


@pytest.mark.gpu
def test_cupy_hand_over_is_zero_copy():
    t = torch.arange(8, dtype=torch.float32, device="cuda")
    a = nb.to_cupy(t)
    assert a.data.ptr == t.data_ptr()
    a[0] = 7.0
    torch.cuda.synchronize()
    assert t[0].item() == 7.0
    back = nb.from_cupy(a)
    assert back.data_ptr() == t.data_ptr()
    numba_view = nb.to_numba_cuda(t)
    assert numba_view.__cuda_array_interface__["data"][0] == t.data_ptr()
