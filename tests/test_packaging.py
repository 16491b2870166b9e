"""The wheel ships the CUDA sources inside the package, and the installed package finds them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("hatchling", reason="the dev extra installs hatchling to build the wheel offline")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("*.whl")
    return whl


def test_wheel_contains_kernels_and_no_top_level_shadowing_modules(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    cu = sorted(Path(n).name for n in names if n.startswith("neuro/_kernels/") and n.endswith(".cu"))
    expected = sorted(p.name for p in (ROOT / "kernels").glob("*.cu"))
    assert cu == expected and "lif.cu" in cu
    assert "neuro/_kernels/surrogate.cuh" in names
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"neuro"}, f"the wheel must install only the 'neuro' package, got {tops}"


def test_installed_package_finds_its_kernels(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)], check=True, capture_output=True)
    code = "import neuro, neuro.paths as p; print(neuro.__file__); print(p.kernel_source('lif'))"
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith(str(site)), "imported the checkout instead of the installed wheel"
    assert out[1] == str(site / "neuro" / "_kernels" / "lif.cu")
