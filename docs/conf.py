"""Sphinx configuration of the neuro documentation site (``make docs``; ``docs/README.md`` says what is where).

The per-layer pages (``simulator.md`` ...) are sources with placeholders: :func:`_fill_layer_page` fills them from
the docstrings, the tests and ``benchmarks/results/`` as Sphinx reads them (``docs/build.py``), so nothing generated
is committed. The notebooks of ``notebooks/`` (linked here as ``docs/notebooks``) are executed by myst-nb unless
``NEURO_DOCS_EXECUTE=off``; the executed copies are cached in ``docs/_build/.jupyter_cache`` and rerun only when a
notebook changes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

_spec = importlib.util.spec_from_file_location("neuro_docs_build", DOCS / "build.py")
layer_pages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(layer_pages)

import neuro  # noqa: E402

project = "neuro"
author = "the neuro developers"
copyright = "the neuro developers (MIT licence)"
release = neuro.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints"]
suppress_warnings = ["myst.header"]  # the notebooks and pages start at their own heading levels

myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = True

# notebooks: executed at build time (make docs), from the cache when unchanged; off in the test that builds the site
nb_execution_mode = os.environ.get("NEURO_DOCS_EXECUTE", "cache")
# jupyter-cache keys a notebook by its code only: the reduced sizes (NEURO_NOTEBOOK_SMALL=1) get their own cache
nb_execution_cache_path = str(DOCS / "_build" / (".jupyter_cache_small" if os.environ.get("NEURO_NOTEBOOK_SMALL") == "1" else ".jupyter_cache"))
nb_execution_timeout = int(os.environ.get("NEURO_DOCS_TIMEOUT", "1800"))
nb_execution_raise_on_error = True
nb_execution_in_temp = True  # a notebook run leaves nothing in notebooks/
nb_merge_streams = True

html_theme = "furo"
html_title = f"neuro {release}"
html_static_path: list[str] = []


def realign_simple_tables(lines: list[str]) -> list[str]:
    """RST simple tables (``===  ===`` borders) re-padded to their widest cell, so a docstring's table whose cell
    outgrew its column (``:class:`SpikeDrivenTransformer``` in ``neuro.nn.models``) still renders; cells are read as
    separated by two or more spaces. Other lines are returned as they are."""
    border = re.compile(r"^(\s*)(=+)(\s+=+)+\s*$")
    out, i = [], 0
    while i < len(lines):
        m = border.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, ncol = m.group(1), len(lines[i].split())
        j, rows, borders = i, [], 0
        while j < len(lines) and lines[j].strip() and borders < 3:
            if border.match(lines[j]):
                rows.append(None)
                borders += 1
            else:
                rows.append(re.split(r"\s{2,}", lines[j].strip(), maxsplit=ncol - 1))
            j += 1
        cells = [r for r in rows if r is not None]
        if borders < 2 or any(len(r) > ncol for r in cells):
            out.extend(lines[i:j])
            i = j
            continue
        widths = [max(len(r[c]) if c < len(r) else 0 for r in cells) for c in range(ncol)]
        for r in rows:
            if r is None:
                out.append(indent + "  ".join("=" * w for w in widths))
            else:
                out.append(indent + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
        i = j
    return out


def _realign_tables(app, what: str, name: str, obj, options, lines: list[str]) -> None:
    lines[:] = realign_simple_tables(lines)


def _fill_layer_page(app, docname: str, source: list[str]) -> None:
    if docname in layer_pages.PAGES:
        try:
            source[0] = layer_pages.render(source[0])
        except (FileNotFoundError, LookupError) as exc:  # a placeholder naming a missing file or docstring
            raise RuntimeError(f"docs/{docname}.md: {exc}") from exc


def setup(app):
    app.connect("source-read", _fill_layer_page)
    app.connect("autodoc-process-docstring", _realign_tables)
    return {"parallel_read_safe": True}
