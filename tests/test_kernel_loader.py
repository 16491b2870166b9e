"""The CUDA source loader: where sources are found, its error paths on CPU, compilation on GPU."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from neuro import kernel_loader, paths
from neuro.backend import BackendUnavailableError


def test_kernel_sources_are_found():
    lif = paths.kernel_source("lif")
    assert lif.name == "lif.cu" and lif.is_file()
    assert "lif_forward" in lif.read_text()


def test_unknown_kernel_names_the_known_ones():
    with pytest.raises(FileNotFoundError, match=r"no kernel source 'nope.cu'.*'lif.cu'"):
        paths.kernel_source("nope")


def test_missing_cupy_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail
    with pytest.raises(BackendUnavailableError, match=r"CuPy.*pip install"):
        kernel_loader.load_module("lif")


def test_cpu_only_use_never_imports_cupy():
    code = textwrap.dedent(
        """
        import sys, torch
        from neuro.ops.lif import LIFParams
        from neuro.ops.lif.autograd import lif_multi_step
        import neuro.kernel_loader, neuro.ops.lif.cuda
        lif_multi_step(torch.ones(2, 3), None, 0.5, LIFParams())
        print('cupy' in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_compile_log_names_file_line_and_source(tmp_path):
    src = tmp_path / "broken.cu"
    src.write_text('extern "C" __global__ void k(float* x) {\n    x[0] = undefined_name;\n}\n')
    log = f'{src}(2): error: identifier "undefined_name" is undefined\n\n1 error detected in the compilation of "{src}".'
    msg = kernel_loader.format_compile_log(log, src, ("-DSCALAR_T=float",))
    assert "broken.cu failed to compile (options: -DSCALAR_T=float)" in msg
    assert f"{src}:2: error: identifier \"undefined_name\" is undefined" in msg
    assert "x[0] = undefined_name;" in msg


def test_compile_log_without_diagnostics_is_kept_whole(tmp_path):
    src = tmp_path / "k.cu"
    src.write_text("")
    msg = kernel_loader.format_compile_log("nvrtc: internal error", src, ())
    assert "nvrtc: internal error" in msg and "options: none" in msg


@pytest.mark.gpu
def test_lif_kernel_compiles_and_is_cached():
    kernel_loader.clear_cache()
    a = kernel_loader.load_module("lif", ("-DSCALAR_T=float",))
    b = kernel_loader.load_module("lif", ("-DSCALAR_T=float",))
    c = kernel_loader.load_module("lif", ("-DSCALAR_T=double",))
    assert a is b and a is not c
    assert a.get_function("lif_forward") is not None


@pytest.mark.gpu
def test_compile_error_names_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "broken.cu").write_text('extern "C" __global__ void k(float* x) {\n    x[0] = undefined_name;\n}\n')
    monkeypatch.setattr(kernel_loader, "kernel_source", lambda name: tmp_path / "broken.cu")
    monkeypatch.setattr(kernel_loader, "kernel_dir", lambda: tmp_path)
    kernel_loader.clear_cache()
    with pytest.raises(kernel_loader.KernelCompileError, match=r"broken\.cu:2: .*undefined_name"):
        kernel_loader.load_module("broken")
