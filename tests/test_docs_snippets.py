"""The Python blocks of the getting-started pages run, top to bottom, one namespace per page (in a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs" / "getting-started").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_there_is_a_page_for_each_use():
    assert [p.stem for p in PAGES] == ["datasets", "energy", "simulate", "train"]


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_getting_started_page_runs(page, tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    blocks = BLOCK.findall(page.read_text(encoding="utf-8"))
    assert blocks, f"{page.name} has no Python block"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{page.name} block {i + 1}", "exec"), namespace)
    assert not any(tmp_path.iterdir()), f"{page.name} wrote files into the working folder"
    import matplotlib.pyplot as plt

    plt.close("all")
