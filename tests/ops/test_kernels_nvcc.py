"""The training-layer CUDA sources compile with nvcc for a Hopper GPU (sm_90) in every storage type the launchers use,
and their entry points take what the launchers pass (float64 thresholds and slopes: np.float64 in the launchers)."""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from neuro.paths import kernel_dir

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")

SCALARS = ("float", "double", "__half", "__nv_bfloat16")
KERNELS = {
    "lif": ("lif_forward", "lif_backward"),
    "alif": ("alif_forward", "alif_backward"),
    "integer_lif": ("integer_lif_forward", "integer_lif_backward"),
    "ultralif": ("ultralif_forward", "ultralif_backward"),
}
# every variant the launchers compile: each storage type, and the LIF backward's charges in the arithmetic type
VARIANTS = [(src, (f"-DSCALAR_T={t}",)) for src in KERNELS for t in SCALARS] + [
    ("lif", ("-DSCALAR_T=__half", "-DCHARGE_T=acc_t")), ("lif", ("-DSCALAR_T=__nv_bfloat16", "-DCHARGE_T=acc_t"))]


def _ptx(src: str, options: tuple[str, ...], out: Path) -> tuple[int, str, str]:
    cmd = ["nvcc", "-arch=sm_90", "-ptx", "--std=c++17", f"-I{kernel_dir()}", *options, "-o", str(out), str(kernel_dir() / f"{src}.cu")]
    res = subprocess.run(cmd, capture_output=True, text=True)
    return res.returncode, res.stderr, out.read_text() if res.returncode == 0 else ""


@pytest.fixture(scope="module")
def ptx(tmp_path_factory):
    """PTX of every variant, compiled two at a time."""
    tmp = tmp_path_factory.mktemp("ptx")
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {(src, opts): pool.submit(_ptx, src, opts, tmp / f"{src}-{k}.ptx") for k, (src, opts) in enumerate(VARIANTS)}
        return {key: job.result() for key, job in jobs.items()}


def test_every_variant_compiles_for_sm90(ptx):
    failed = {f"{src} {' '.join(opts)}": err[-1500:] for (src, opts), (rc, err, _) in ptx.items() if rc != 0}
    assert not failed, failed
    for (src, _), (_, _, text) in ptx.items():
        for fn in KERNELS[src]:
            assert f".entry {fn}(" in text


def _params(text: str, fn: str) -> list[str]:
    """The PTX parameter types of entry ``fn``, in order (.u64 for pointers, .u32 for int, .f32 / .f64)."""
    body = re.search(rf"\.entry {fn}\((.*?)\)", text, flags=re.S).group(1)
    return re.findall(r"\.param \.(\w+)", body)


@pytest.mark.parametrize("scalar", SCALARS)
def test_lif_thresholds_and_slope_are_float64_whatever_the_storage(ptx, scalar):
    """lif_forward(x, v0, beta, s, h, v, T, N, per_neuron, v_th, v_reset, v_leak, soft, decay_input, write_h) and
    lif_backward(..., T, N, per_neuron, v_th, v_reset, soft, detach, surrogate, alpha): the thresholds, leak and slope
    are doubles (a float32 v_th made a float64 charge of exactly 0.3 miss a threshold of 0.3)."""
    _, _, text = ptx[("lif", (f"-DSCALAR_T={scalar}",))]
    assert _params(text, "lif_forward") == ["u64"] * 6 + ["u32"] * 3 + ["f64"] * 3 + ["u32"] * 3
    assert _params(text, "lif_backward") == ["u64"] * 7 + ["u32"] * 3 + ["f64"] * 2 + ["u32"] * 3 + ["f64"]


def test_alif_surrogate_slope_is_float64(ptx):
    _, _, text = ptx[("alif", ("-DSCALAR_T=double",))]
    assert _params(text, "alif_backward")[-1] == "f64"
