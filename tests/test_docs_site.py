"""The documentation site builds warning-free (``sphinx-build -W``, as ``make docs``), notebooks not executed here.

``make docs`` executes the notebooks at build time; this test builds everything else (the API reference from the
docstrings, the per-layer pages filled from the docstrings, tests and benchmark results, the getting-started pages,
the notebooks as stored) and checks that the pages hold what they promise.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _conf(monkeypatch, **env):
    for k, v in env.items():
        monkeypatch.setenv(k, v) if v is not None else monkeypatch.delenv(k, raising=False)
    spec = importlib.util.spec_from_file_location("docs_conf_under_test", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NEURO_DOCS_EXECUTE": "off"}
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-d", str(out / "doctrees"),
                           str(DOCS), str(out / "html")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return out / "html"


def test_the_site_builds_warning_free_with_every_page(site):
    for page in ["index", "api", "getting-started/train", "getting-started/simulate", "getting-started/energy",
                 "getting-started/datasets", "simulator", "plasticity", "training", "data", "energy", "deploy", "snntorch"]:
        assert (site / f"{page}.html").is_file(), f"{page}.html missing"
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert (site / "notebooks" / f"{nb.stem}.html").is_file(), f"notebook {nb.name} is not on the site"


def test_layer_pages_are_filled_at_build_time(site):
    for page in ["simulator", "plasticity", "training", "data", "energy"]:
        html = (site / f"{page}.html").read_text(encoding="utf-8")
        assert not re.search(r"\{\{(doc|tests|bench|figure):", html), f"{page}.html still has a placeholder"
        assert "<table" in html, f"{page}.html has no table (benchmark results)"
    html = (site / "simulator.html").read_text(encoding="utf-8")
    assert "test_vs_brian2" in html and "math notranslate" in html  # a test list and rendered equations
    assert "ours_s" in (site / "training.html").read_text(encoding="utf-8")


def test_api_reference_comes_from_the_docstrings(site):
    html = (site / "api.html").read_text(encoding="utf-8")
    for name in ["neuro.sim.Network", "neuro.sim.Projection", "neuro.nn.LIF", "neuro.energy.estimate", "neuro.data.load",
                 "neuro.train.Trainer", "neuro.dynamics.NeuronModel", "neuro.nn.models.spikformer"]:
        assert f'id="{name}"' in html, f"{name} is not documented on api.html"
    import neuro.sim

    first_line = neuro.sim.Network.__doc__.strip().splitlines()[0]
    assert first_line.split()[0] in html


def test_make_docs_executes_the_notebooks_in_a_temporary_folder(monkeypatch):
    conf = _conf(monkeypatch, NEURO_DOCS_EXECUTE=None)
    assert conf.nb_execution_mode == "cache" and conf.nb_execution_in_temp and conf.nb_execution_raise_on_error
    assert _conf(monkeypatch, NEURO_DOCS_EXECUTE="off").nb_execution_mode == "off"
    full = _conf(monkeypatch, NEURO_NOTEBOOK_SMALL=None).nb_execution_cache_path
    assert _conf(monkeypatch, NEURO_NOTEBOOK_SMALL="1").nb_execution_cache_path != full  # reduced sizes never served as the full run
    makefile = (ROOT / "Makefile").read_text()
    assert "sphinx-build -b html -W" in makefile and "\ndocs: $(STAMP)" in makefile


def test_docstring_tables_are_realigned(monkeypatch):
    conf = _conf(monkeypatch)
    lines = ["Models:", "", "====  =====", "name  paper", "====  =====", ":class:`LongName`  Someone 2024", "====  =====", "", "after"]
    out = conf.realign_simple_tables(lines)
    assert out[2] == "=================  ============"
    assert out[5] == ":class:`LongName`  Someone 2024"
    assert out[3] == "name               paper"
    assert out[:2] == lines[:2] and out[-2:] == lines[-2:]
    plain = ["no table here", "=====", "text"]
    assert conf.realign_simple_tables(plain) == plain
