"""The README's Python snippets run as written (so they cannot rot). Two need context a reader supplies: the energy
snippet (a model and its inputs) runs after a small Spikformer is built; the dataset snippet needs the downloaded
DVS Gesture files and runs against format-exact fixture files written by neuro.data.fixtures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)

CONTEXT = {
    "from neuro.energy import estimate": ("import torch\nfrom neuro.nn.models import spikformer\n"
                                          "model = spikformer('cifar10-4-256')\ninputs = torch.rand(1, 4, 3, 32, 32)\n"),
}


def _id(block: str) -> str:
    first = next(line for line in block.splitlines() if line.strip() and not line.startswith("import"))
    return re.sub(r"\W+", "_", first)[:40]


@pytest.mark.parametrize("block", BLOCKS, ids=[_id(b) for b in BLOCKS])
def test_readme_snippet_runs(block, tmp_path):
    if "data.load(" in block:
        prefix = (f"import os\nos.environ['NEURO_DATA'] = {str(tmp_path)!r}\nfrom neuro.data import fixtures\n"
                  f"fixtures.make_fixture('dvsgesture', {str(tmp_path)!r})\n")
    else:
        prefix = next((ctx for key, ctx in CONTEXT.items() if key in block), "")
    code = prefix + block.replace("10_000.0", "500.0")  # the STDP example's 10 s shortened to 0.5 s
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
