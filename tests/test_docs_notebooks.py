"""The notebooks as the docs show them: no bare ``assert`` cells (their checks live here and in the layer tests), no
files written into the working folder, progress bars from ``tqdm.auto`` (widgets where ipywidgets is installed).

Notebook 01's claims checked here: under its 10 mV/ms step a regular spiking neuron adapts (interspike intervals
lengthen) and a fast spiking one fires more, settling to a tonic rhythm. The resonator and the silence without input are held
by ``tests/sim/test_claims_izhikevich_presets.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WRITERS = {"savefig", "to_csv", "write_text", "write_bytes", "save", "savez", "imsave"}


def _code_cells(path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            yield i, ast.parse(cell.source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_bare_asserts_and_no_files_in_the_working_folder(path):
    for i, tree in _code_cells(path):
        for node in ast.walk(tree):
            assert not isinstance(node, ast.Assert), f"{path.name} cell {i}: a bare assert (line {node.lineno}); move the check into tests/"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITERS and node.args:
                first = node.args[0]
                assert not (isinstance(first, ast.Constant) and isinstance(first.value, str)), \
                    f"{path.name} cell {i}: {node.func.attr}({first.value!r}) writes into the working folder"
            if isinstance(node, ast.ImportFrom) and node.module == "tqdm":
                pytest.fail(f"{path.name} cell {i}: import tqdm.auto (renders as a widget in notebooks), not tqdm")


def test_the_static_check_catches_what_it_should(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('fig.savefig("x.png")\nassert 1 == 1')])
    bad = tmp_path / "bad.ipynb"
    nbformat.write(nb, bad)
    with pytest.raises(AssertionError, match="bare assert|writes into the working folder"):
        test_no_bare_asserts_and_no_files_in_the_working_folder(bad)


def _spikes_under_step(preset: str, current: float, duration: float = 500.0) -> np.ndarray:
    from neuro import sim

    net = sim.Network(dt=0.1)
    pop = sim.Izhikevich(1, preset=preset, scheme="euler")
    t = np.arange(int(duration / 0.1)) * 0.1
    pop.inject(np.where(t >= 50.0, current, 0.0))
    spikes = net.add(pop, sim.SpikeMonitor(pop))
    net.run(duration, progress=False)
    return spikes.t


def test_notebook01_regular_spiking_adapts_and_fast_spiking_does_not():
    rs = np.diff(_spikes_under_step("regular_spiking", 10.0))
    fs = np.diff(_spikes_under_step("fast_spiking", 10.0))
    assert rs.size >= 3 and rs[-1] > rs[0], rs                # intervals lengthen
    assert fs.size > rs.size                                  # fast spiking fires more under the same step
    assert np.ptp(fs[-10:]) < 0.5, fs                         # and settles to a tonic rhythm
