"""The wheel ships the CUDA sources inside the package, and the installed package finds them; what users expect of a
package (LICENSE, CHANGELOG.md, CITATION.cff, ``neuro.__version__``, ``py.typed``); the GPU extras, `make setup` on a GPU
machine and `make gpu-check`."""

from __future__ import annotations

import os
import re
import shutil
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
    code = "import neuro, neuro.paths as p; print(neuro.__file__); print(p.kernel_source('lif')); print(neuro.__version__)"
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith(str(site)), "imported the checkout instead of the installed wheel"
    assert out[1] == str(site / "neuro" / "_kernels" / "lif.cu")
    assert out[2] == _pyproject()["project"]["version"]


# ---------------------------------------------------------------- LICENSE, CHANGELOG.md, CITATION.cff, __version__, py.typed


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_wheel_ships_py_typed_and_the_license(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "neuro/py.typed" in names, "type checkers ignore the package's annotations without neuro/py.typed (PEP 561)"
    licenses = [n for n in names if ".dist-info/" in n and Path(n).name == "LICENSE"]
    assert licenses, f"no LICENSE in the wheel's metadata: {[n for n in names if '.dist-info/' in n]}"
    assert zipfile.ZipFile(wheel).read(licenses[0]).decode() == (ROOT / "LICENSE").read_text()


def test_license_file_is_the_declared_licence():
    declared = _pyproject()["project"]["license"]
    declared = declared["text"] if isinstance(declared, dict) else declared
    assert declared == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) ")
    flat = " ".join(text.split())
    # the two operative sentences of the MIT licence, word for word
    assert ("Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files "
            "(the \"Software\"), to deal in the Software without restriction,") in flat
    assert "The above copyright notice and this permission notice shall be included in all copies or substantial portions of the Software." in flat
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in flat


def test_version_comes_from_the_distribution_with_the_checkout_as_fallback(monkeypatch):
    import importlib.metadata

    import neuro

    version = _pyproject()["project"]["version"]
    assert neuro.__version__ == importlib.metadata.version("neuro-snn") == version

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert neuro._find_version() == version  # a checkout on sys.path without an install reads pyproject.toml


KEEP_A_CHANGELOG_TYPES = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def test_changelog_follows_keep_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    lines = text.splitlines()
    assert lines[0] == "# Changelog" and "keepachangelog.com" in text
    releases = [line for line in lines if line.startswith("## ")]
    assert releases and releases[0] == "## [Unreleased]", releases
    for head in releases[1:]:
        assert re.fullmatch(r"## \[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", head), head
    for name in re.findall(r"^## \[([^\]]+)\]", text, flags=re.M):
        assert re.search(rf"^\[{re.escape(name)}\]: https://", text, flags=re.M), f"no link for [{name}]"
    types = re.findall(r"^### (.+)$", text, flags=re.M)
    assert types and set(types) <= set(KEEP_A_CHANGELOG_TYPES), types
    body = lines[lines.index(releases[0]):]
    stray = [line for line in body if line and not line.startswith(("#", "[", "- ", "  "))]
    assert not stray, f"entries are list items under a change type: {stray}"


def _read_cff(text: str) -> dict:
    """The YAML subset CITATION.cff is written in: ``key: scalar``, folded ``key: >-`` blocks, and lists of scalars or of
    ``key: scalar`` mappings. Anything else fails, so the file stays readable by every YAML parser."""

    def scalar(raw: str):
        raw = raw.strip()
        if raw[:1] in "\"'":
            assert raw[-1] == raw[0] and len(raw) > 1, f"unterminated string {raw!r}"
            return raw[1:-1]
        assert not raw.startswith(("{", "[", "&", "*", "!", "|", ">")) and ": " not in raw and " #" not in raw, f"unsupported YAML: {raw!r}"
        return raw

    out: dict = {}
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    i = 0
    while i < len(lines):
        line = lines[i]
        assert not line.startswith(" "), f"unexpected indentation: {line!r}"
        key, sep, rest = line.partition(":")
        assert sep and re.fullmatch(r"[a-z][a-z0-9-]*", key), f"not a top-level key: {line!r}"
        assert key not in out, f"duplicate key {key}"
        i += 1
        block = []
        while i < len(lines) and lines[i].startswith(" "):
            block.append(lines[i])
            i += 1
        rest = rest.strip()
        if rest == ">-":
            out[key] = " ".join(b.strip() for b in block)
        elif rest:
            assert not block, f"{key}: a scalar followed by an indented block"
            out[key] = scalar(rest)
        else:
            items: list = []
            for b in block:
                body = b.strip()
                if body.startswith("- "):
                    body = body[2:]
                    items.append({} if re.match(r"^[a-z][a-z0-9-]*: ", body) else None)
                if items[-1] is None:
                    items[-1] = scalar(body)
                else:
                    k, _, v = body.partition(": ")
                    items[-1][k] = scalar(v)
            out[key] = items
    return out


def test_citation_cff_is_valid_and_in_step_with_pyproject():
    text = (ROOT / "CITATION.cff").read_text()
    cff = _read_cff(text)
    try:
        import yaml
    except ImportError:
        pass
    else:
        assert yaml.safe_load(text) == cff
    # the keys CFF 1.2.0 requires, and the values its schema allows
    assert {"cff-version", "message", "title", "authors"} <= set(cff)
    assert cff["cff-version"] == "1.2.0" and cff["type"] in ("software", "dataset")
    assert cff["authors"] and all(isinstance(a, dict) and ({"name"} <= set(a) or {"family-names", "given-names"} <= set(a)) for a in cff["authors"])
    project = _pyproject()["project"]
    assert cff["version"] == project["version"], "CITATION.cff's version must follow pyproject.toml's"
    assert cff["license"] == project["license"]["text"] == "MIT"
    assert cff["repository-code"] == project["urls"]["Homepage"]
    if shutil.which("cffconvert"):  # the reference validator, where installed (pip install cffconvert)
        res = subprocess.run(["cffconvert", "--validate", "-i", str(ROOT / "CITATION.cff")], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


# ---------------------------------------------------------------- the GPU extras, `make setup` and `make gpu-check`

FAKE_SMI = """#!/bin/sh
[ -n "$FAKE_SMI_FAIL" ] && exit 9
if [ "$1" = "-L" ]; then echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-00000000-fake)"; exit 0; fi
echo "| NVIDIA-SMI 580.65.06      Driver Version: 580.65.06      CUDA Version: {cuda}     |"
"""


def _fake_nvidia_smi(tmp_path: Path, cuda: str = "12.4") -> dict:
    """An environment whose PATH starts with a fake ``nvidia-smi`` reporting one GPU and driver CUDA ``cuda``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    smi.write_text(FAKE_SMI.format(cuda=cuda))
    smi.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_gpu_extras_bring_the_cuda_toolkit():
    """gpu-cuda12 / gpu-cuda13 install CuPy with its [ctk] extra (NVRTC, cuda_fp16.h, cuda_bf16.h as wheels), which
    CuPy has from 14 on: a 13.x would install without it (pip only warns), so the floor is 14."""
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for major in (12, 13):
        (req,) = (Requirement(r) for r in extras[f"gpu-cuda{major}"])
        assert req.name == f"cupy-cuda{major}x" and "ctk" in req.extras
        assert not req.specifier.contains("13.6.0") and req.specifier.contains("14.2.0")


@pytest.mark.parametrize("cuda, extra", [("12.4", "gpu-cuda12"), ("13.0", "gpu-cuda13"), ("11.8", ""), (None, "")])
def test_gpu_extra_follows_the_drivers_cuda_major(tmp_path, cuda, extra):
    env = _fake_nvidia_smi(tmp_path, cuda or "12.4")
    if cuda is None:
        env["FAKE_SMI_FAIL"] = "1"  # nvidia-smi present but no GPU answers
    out = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--extra"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == extra


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("cuda, extra", [("12.4", ",gpu-cuda12"), ("13.0", ",gpu-cuda13"), (None, "")])
def test_make_setup_installs_the_gpu_extra_where_nvidia_smi_answers(tmp_path, cuda, extra):
    """`make setup` (a fake python records the commands) installs .[dev,gpu-cudaXX] when nvidia-smi sees a GPU, so
    `pytest -m gpu` runs the GPU tests; without one, the CPU torch wheel and .[dev]."""
    env = _fake_nvidia_smi(tmp_path, cuda or "12.4")
    if cuda is None:
        env["FAKE_SMI_FAIL"] = "1"
    log = tmp_path / "python.log"
    fake_python = tmp_path / "python"
    fake_python.write_text('#!/bin/sh\necho "$*" >> "$FAKE_LOG"\n'
                           'if [ "$1" = -m ] && [ "$2" = venv ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi\n')
    fake_python.chmod(0o755)
    env["FAKE_LOG"] = str(log)
    venv = tmp_path / "venv"
    res = subprocess.run(["make", "-B", "-C", str(ROOT), "setup", f"VENV={venv}", f"PYTHON={fake_python}"], env=env, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    installs = [line for line in log.read_text().splitlines() if "pip install" in line and "-e" in line.split()]
    assert len(installs) == 1 and installs[0].endswith(f"-e .[dev{extra}]"), installs
    assert ("torch==" in log.read_text()) == (cuda is None)  # the CPU wheel only where no GPU answers
    assert (venv / ".neuro-installed").exists()


def _script_steps() -> set[str]:
    """The step names scripts/gpu_check.sh can run (``step NAME ...``; the benchmark loop's names are bench_<script>)."""
    text = (ROOT / "scripts" / "gpu_check.sh").read_text()
    names = set(re.findall(r"\bstep ([a-z_]+) \d+", text))
    bench = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if '"--device"' in p.read_text())
    assert bench and '"$name"' in text
    return names | {f"bench_{b}" for b in bench}


@pytest.mark.parametrize("how", ["script", "make"])
def test_gpu_check_dry_run_lists_every_step(tmp_path, how):
    env = {**os.environ, "OUT": str(tmp_path / "out"), "GPU_CHECK_VENV": str(tmp_path / "venv")}
    if how == "make":
        if shutil.which("make") is None:
            pytest.skip("needs make")
        cmd = ["make", "-s", "-C", str(ROOT), "gpu-check", "DRY_RUN=1"]
    else:
        cmd = ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    listed = set(re.findall(r"^DRY-RUN\s+(\S+)", res.stdout, flags=re.M))
    steps = _script_steps()
    if shutil.which("compute-sanitizer") is not None:
        steps.discard("sanitizer_install")  # only where compute-sanitizer is missing
    assert steps <= listed, f"steps not listed by the dry run: {sorted(steps - listed)}"
    assert "summary" in listed
    text = res.stdout
    assert "pip install -e .[dev,gpu-cuda" in text
    assert re.search(r"-m pytest -m gpu .*tests/ops/", text) and re.search(r"-m pytest -m gpu .*tests/sim/", text)
    assert re.search(r"--tool memcheck .*tiny_sim\.py cuda", text) and re.search(r"--tool initcheck .*tiny_sim\.py cuda", text)
    for name in (n for n in steps if n.startswith("bench_")):
        assert f"benchmarks/{name[len('bench_'):]}.py --quick --device cuda" in text
    assert not (tmp_path / "venv").exists() and not (tmp_path / "out").exists()  # a dry run creates nothing


def test_gpu_test_session_fails_when_every_gpu_test_skipped_while_nvidia_smi_sees_a_gpu(tmp_path):
    """tests/conftest.py: a GPU machine without a usable CuPy must not report a green `pytest -m gpu`."""
    env = _fake_nvidia_smi(tmp_path)
    env.pop("NEURO_ALLOW_GPU_SKIP", None)
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-p", "no:cacheprovider", "-q", "tests/test_backend.py::test_cupy_hand_over_is_zero_copy"]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if "1 skipped" not in res.stdout:
        pytest.skip("the GPU test ran here (a usable GPU): nothing to fail")
    assert res.returncode == 1 and "GPU tests were skipped" in res.stdout, res.stdout[-2000:]
    env["NEURO_ALLOW_GPU_SKIP"] = "1"
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:]
