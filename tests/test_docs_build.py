"""The per-layer docs pages are filled at build time: ``python -m benchmarks --save`` stores results, ``docs/build.py``
fills the pages' placeholders with them (and with docstrings and test lists) when the site is built.

Fake benchmark scripts (as in test_benchmarks_runner.py) go through the runner's ``--save``; the saved JSON is
rendered into a page from a template in a tmp folder. Nothing generated is committed, so nothing can be stale;
``tests/test_docs_site.py`` builds the whole site.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import __main__ as runner  # noqa: E402

_spec = importlib.util.spec_from_file_location("docs_build", ROOT / "docs" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

PAGES = ("simulator", "plasticity", "training", "data", "energy", "reproductions", "paradigms", "scaling")


def _fake_scripts(folder: Path) -> list[Path]:
    ok = folder / "fake_ok.py"
    ok.write_text(
        "import json, sys\n"
        'print("warming up")\n'
        'print(json.dumps({"name": "fake_ok_cpu", "ours_s": 0.125, "peer": "peerlib 1.0", "peer_s": 0.5, "ratio": 0.25,\n'
        '                  "unit": "s per step", "quick": "--quick" in sys.argv,\n'
        '                  "cases": {"small": {"ours_s": 0.1, "peer_s": 0.4}, "large": {"ours_s": 0.2, "peer_s": 0.9}}}))\n'
    )
    bad = folder / "fake_bad.py"
    bad.write_text("raise SystemExit(2)\n")
    return [ok, bad]


def test_save_writes_each_result_with_its_provenance(tmp_path, monkeypatch):
    scripts = _fake_scripts(tmp_path)
    monkeypatch.setattr(runner, "discover", lambda folder=None: scripts)
    results = tmp_path / "results"
    results.mkdir()
    (results / "fake_bad.json").write_text('{"kept": true}')  # a failed run must not overwrite an earlier result
    rc = runner.main(["fake_ok", "fake_bad", "--quick", "--save", "--results-dir", str(results)])
    assert rc == 1  # one benchmark failed
    saved = json.loads((results / "fake_ok.json").read_text())
    assert saved["ratio"] == 0.25 and saved["quick"] is True and saved["script"] == "fake_ok"
    prov = saved["provenance"]
    assert prov["command"] == "python -m benchmarks fake_ok --quick --save" and prov["quick"] is True
    assert {"date_utc", "commit", "machine", "cpus"} <= set(prov)
    assert json.loads((results / "fake_bad.json").read_text()) == {"kept": True}


def test_without_save_nothing_is_written(tmp_path, monkeypatch):
    scripts = _fake_scripts(tmp_path)[:1]
    monkeypatch.setattr(runner, "discover", lambda folder=None: scripts)
    assert runner.main(["fake_ok", "--results-dir", str(tmp_path / "results")]) == 0
    assert not (tmp_path / "results").exists()


def test_pages_show_saved_tables_and_say_what_is_not_measured(tmp_path, monkeypatch):
    scripts = _fake_scripts(tmp_path)
    monkeypatch.setattr(runner, "discover", lambda folder=None: scripts)
    results = tmp_path / "results"
    runner.main(["fake_ok", "--save", "--results-dir", str(results)])
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "layer.md").write_text(
        "# Layer\n\n{{doc:neuro/ops/lif/reference.py}}\n\n{{tests:tests/ops/test_lif_vs_spikingjelly.py}}\n\n"
        "{{bench:fake_ok}}\n\n{{bench:never_run}}\n\n{{figure:cuba_raster.png}}\n"
    )
    pages = build.build(results, pages=("layer",), src=templates)
    assert list(pages) == ["layer"]
    page = pages["layer"]
    assert "{{" not in page
    # the benchmark's table, its command and size, its extra fields and nested records
    assert "| ours_s | peer | peer_s | ratio |" in page
    assert "| 0.125 | peerlib 1.0 | 0.5 | 0.25 |" in page
    assert "Command: `python -m benchmarks fake_ok --save`" in page and "full sizes" in page
    assert "| unit | s per step |" in page
    assert "| case | ours_s | peer_s |" in page and "| large | 0.2 | 0.9 |" in page
    # a missing result is said to be missing, with the command that measures it
    assert "not measured yet: run `python -m benchmarks never_run --save`" in page
    # equations from the docstring, validation from the test file, figure link
    assert "$$" in page and "\\beta" in page and ":math:" not in page
    assert "`test_matches_spikingjelly_lifnode`" in page and "rtol=1e-5, atol=1e-5" in page
    assert "![cuba_raster.png](figures/cuba_raster.png)" in page
    out = tmp_path / "out"
    assert build.main(["--out", str(out), "--results", str(results)]) == 0  # the real pages fill too
    assert sorted(p.stem for p in out.glob("*.md")) == sorted(PAGES)
    assert all(not line.startswith("{{") for p in out.glob("*.md") for line in p.read_text().splitlines())


def test_the_cli_never_writes_over_the_page_sources():
    with pytest.raises(SystemExit):
        build.main(["--out", str(ROOT / "docs")])


def test_quick_results_are_labelled(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    row = {"name": "q", "script": "q", "ours_s": 1.0, "peer": "p", "peer_s": 2.0, "ratio": 0.5, "wall_s": 3.0}
    runner.save([row, {"name": "broken", "error": "exit 1"}], quick=True, folder=results)
    assert sorted(p.name for p in results.iterdir()) == ["q.json"]
    text = build.bench_section("q", results)
    assert "`--quick` sizes" in text and "python -m benchmarks q --quick --save" in text


def test_quick_run_never_replaces_a_full_size_result(tmp_path):
    results = tmp_path / "results"
    row = {"name": "q", "script": "q", "ours_s": 1.0, "peer": "p", "peer_s": 2.0, "ratio": 0.5}
    runner.save([row], quick=False, folder=results)
    assert runner.save([{**row, "ours_s": 9.0}], quick=True, folder=results) == []
    saved = json.loads((results / "q.json").read_text())
    assert saved["ours_s"] == 1.0 and saved["provenance"]["quick"] is False
    runner.save([{**row, "ours_s": 3.0}], quick=False, folder=results)  # a full run replaces it
    assert json.loads((results / "q.json").read_text())["ours_s"] == 3.0


def test_rst_math_and_roles_become_markdown():
    md = build.rst_to_md(
        "Law.\n\n.. math::\n\n    a &= b \\\\\n    c &= d\n\nwith :math:`x_t` and :class:`~neuro.sim.LIF` and ``code``.\n\nExample::\n\n    f(1)\n"
    )
    assert "$$\n\\begin{aligned}\na &= b \\\\\nc &= d\n\\end{aligned}\n$$" in md
    assert "with $x_t$ and `LIF` and `code`." in md
    assert "Example:\n\n```python\nf(1)\n```" in md


def test_unknown_placeholders_fail_loudly(tmp_path):
    with pytest.raises(FileNotFoundError):
        build.render("{{figure:no_such_figure.png}}\n", tmp_path)
    with pytest.raises(LookupError):
        build.render("{{doc:neuro/ops/lif/reference.py:NoSuchThing}}\n", tmp_path)


def test_every_layer_has_a_page_indexed_in_the_readme():
    readme = (ROOT / "docs" / "README.md").read_text()
    assert PAGES == build.PAGES
    for name in PAGES:
        assert (ROOT / "docs" / f"{name}.md").is_file()
        assert f"({name}.md)" in readme, f"docs/README.md does not link {name}.md"
    assert "make docs" in readme


def test_saved_results_follow_the_runner_contract():
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        result = json.loads(path.read_text())
        assert all(k in result for k in runner.REQUIRED), path
        assert path.stem in {s.stem for s in runner.discover()}, f"{path.name} names no benchmark script"
