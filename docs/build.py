"""Fill the per-layer docs pages from the code's docstrings, the tests and the saved benchmark results.

The pages ``docs/simulator.md``, ``plasticity.md``, ``training.md``, ``data.md`` and ``energy.md`` are written by hand
with placeholders, each alone on its line; the Sphinx site (``make docs``, ``docs/conf.py``) fills them in while it
reads them, so nothing generated is committed:

* ``{{doc:neuro/ops/lif/reference.py}}`` — the module docstring, RST turned into Markdown (``.. math::`` to
  ``$$`` blocks, ``:math:`x``` to ``$x$``); ``{{doc:neuro/nn/neurons.py:LIF}}`` — a class or function docstring;
* ``{{tests:tests/sim/test_vs_brian2.py}}`` — the test module's docstring, then each test with its docstring,
  the tolerances written in its code (``atol=``, ``rtol=``, ``abs=``, ``rel=`` ...) and the packages it skips without;
* ``{{bench:sim_vs_brian2}}`` — the table of ``benchmarks/results/sim_vs_brian2.json`` (saved by
  ``python -m benchmarks sim_vs_brian2 --save``), or a line saying it is not measured yet;
* ``{{figure:cuba_raster.png}}`` — an image link to ``docs/figures/cuba_raster.png`` (an error if it is missing).

Without Sphinx, the filled pages can be written as plain Markdown::

    python docs/build.py                 # writes docs/_build/pages/<page>.md
    python docs/build.py --check         # write nothing; exit 1 naming a placeholder that cannot be filled

Everything is read with ``ast`` and ``json``: nothing is imported or run, so filling takes a second and gives the
same text for the same inputs.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
OUT = DOCS / "_build" / "pages"
# the pages with placeholders, filled by docs/conf.py at build time
PAGES = ("simulator", "plasticity", "training", "data", "energy", "reproductions", "paradigms", "scaling")
RESULTS = ROOT / "benchmarks" / "results"
PLACEHOLDER = re.compile(r"^\{\{(doc|tests|bench|figure):([^}]+)\}\}\s*$")
MAX_CHECKS, MAX_CHECK_CHARS = 6, 150
HEADLINE = ("ours_s", "peer", "peer_s", "ratio")
NOT_SHOWN = ("name", "script", "provenance", "quick") + HEADLINE


# ----------------------------------------------------------------------------------------------- RST -> Markdown

def _inline(text: str) -> str:
    text = re.sub(r":math:`([^`]+)`", lambda m: f"${m.group(1).strip()}$", text)
    text = re.sub(r":[a-z]+:`(~?)([^`]+)`", lambda m: f"`{m.group(2).split('.')[-1] if m.group(1) else m.group(2)}`", text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def _math_block(lines: list[str]) -> list[str]:
    """One ``$$`` block per blank-line-separated equation group; ``aligned`` when it has ``&`` or ``\\\\``."""
    out, group = [], []
    for line in lines + [""]:
        if line.strip():
            group.append(line.strip())
            continue
        if group:
            body = "\n".join(group)
            if "&" in body or "\\\\" in body:
                body = "\\begin{aligned}\n" + body + "\n\\end{aligned}"
            out += ["", "$$", body, "$$", ""]
            group = []
    return out


def _language(lines: list[str]) -> str:
    """``python`` for a literal block that parses as Python, ``text`` for anything else (a file layout, a shell line)."""
    try:
        ast.parse("\n".join(lines))
    except SyntaxError:
        return "text"
    return "python"


def rst_to_md(text: str) -> str:
    """The docstring conventions used in ``neuro`` (math directives and roles, ``::`` literal blocks) as GitHub Markdown."""
    lines = text.splitlines()
    out: list[str] = []
    prose: list[str] = []  # roles may span lines: converted a paragraph run at a time

    def flush() -> None:
        if prose:
            out.extend(_inline("\n".join(prose)).split("\n"))
            prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if not (stripped.startswith(".. math::") or (stripped.endswith("::") and not stripped.startswith(".."))):
            prose.append(line)
            i += 1
            continue
        is_math = stripped.startswith(".. math::")
        block = [stripped[len(".. math::"):]] if is_math and stripped[len(".. math::"):].strip() else []
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            block.append(lines[j])
            j += 1
        while block and not block[-1].strip():
            block.pop()
        if is_math:
            flush()
            out += _math_block(block)
        else:
            head = stripped[:-2].rstrip()
            if head:
                prose.append(" " * indent + head + ":")
            flush()
            code = list(block)
            while code and not code[0].strip():
                code.pop(0)
            cut = min((len(b) - len(b.lstrip()) for b in code if b.strip()), default=0)
            body = [b[cut:] for b in code]
            out += ["", "```" + _language(body), *body, "```", ""]
        i = j
    flush()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


# ----------------------------------------------------------------------------------------------- docstrings and tests

def _parse(rel: str) -> ast.Module:
    path = ROOT / rel
    if not path.is_file():
        raise FileNotFoundError(f"placeholder names {rel}, which does not exist")
    return ast.parse(path.read_text(encoding="utf-8"))


def docstring(rel: str, obj: str | None = None) -> str:
    tree = _parse(rel)
    if obj is None:
        doc = ast.get_docstring(tree)
    else:
        node = tree
        for part in obj.split("."):
            node = next((n for n in node.body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == part), None)
            if node is None:
                raise LookupError(f"{rel} has no {obj}")
        doc = ast.get_docstring(node)
    if not doc:
        raise LookupError(f"{rel}{':' + obj if obj else ''} has no docstring")
    return rst_to_md(doc)


def _importorskips(nodes) -> list[str]:
    names = []
    for node in nodes:
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "importorskip" and call.args:
                arg = call.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    if not arg.value.startswith("neuro"):
                        names.append(arg.value.split(".")[0])
    return sorted(set(names))


def _one_line(text: str, limit: int = MAX_CHECK_CHARS) -> str:
    text = re.sub(r"\s+", " ", text).replace("( ", "(").replace(" )", ")").strip()
    text = re.sub(r"\b(np|numpy|torch)\.testing\.", "", text)
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _checks(func: ast.AST, source: str) -> list[str]:
    """The test's own assertions in source order, as written: ``assert`` conditions (without their message) and ``assert_*`` calls."""
    found = []
    for node in ast.walk(func):
        if isinstance(node, ast.Assert):
            found.append((node.lineno, ast.get_source_segment(source, node.test)))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            f = node.value.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name.startswith("assert_"):
                found.append((node.lineno, ast.get_source_segment(source, node.value)))
    return [_one_line(t) for _, t in sorted(found) if t]


def _first_paragraph(doc: str) -> str:
    return " ".join(doc.strip().split("\n\n")[0].split())


def tests_section(rel: str) -> str:
    source = (ROOT / rel).read_text(encoding="utf-8") if (ROOT / rel).is_file() else ""
    tree = _parse(rel)
    module_doc = ast.get_docstring(tree)
    out = [f"**`{rel}`**" + (" — " + rst_to_md(module_doc).strip() if module_doc else ""), ""]
    skips = _importorskips([n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))])
    if skips:
        out += [f"Needs {', '.join(f'`{s}`' for s in skips)} (skipped without).", ""]
    for node in tree.body:
        if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test")):
            continue
        line = f"- `{node.name}`"
        doc = ast.get_docstring(node)
        if doc:
            line += " — " + _inline(_first_paragraph(doc))
        own = [s for s in _importorskips([node]) if s not in skips]
        if own:
            line += " Needs " + ", ".join(f"`{s}`" for s in own) + "."
        out.append(line)
        checks = _checks(node, source)
        for c in checks[:MAX_CHECKS]:
            out.append(f"  - `{c}`")
        if len(checks) > MAX_CHECKS:
            out.append(f"  - ... and {len(checks) - MAX_CHECKS} more assertions")
    return "\n".join(out).strip() + "\n"


# ----------------------------------------------------------------------------------------------- benchmark tables

def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]]


def _records_table(records: dict | list, key: str) -> list[str]:
    """A dict of dicts or a list of dicts as one table (a row per record, a column per field)."""
    items = list(records.items()) if isinstance(records, dict) else [(str(i), r) for i, r in enumerate(records)]
    cols = list(dict.fromkeys(c for _, r in items for c in r))
    return _table([key, *cols], [[k, *[r.get(c) for c in cols]] for k, r in items])


def _is_records(value) -> bool:
    if isinstance(value, dict):
        return bool(value) and all(isinstance(v, dict) for v in value.values())
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, dict) for v in value)
    return False


def _provenance_line(name: str, r: dict) -> str:
    prov = r.get("provenance") or {}
    quick = prov.get("quick", r.get("quick"))
    size = "sizes not recorded" if quick is None else ("`--quick` sizes" if quick else "full sizes")
    command = f"`{prov['command']}`" if prov.get("command") else "not recorded"
    line = f"*{name}* (result `{r.get('name', name)}`), {size}. Command: {command}."
    where = []
    if prov.get("date_utc"):
        where.append(f"{prov['date_utc']} UTC")
    if prov.get("commit"):
        where.append(f"commit {prov['commit']}")
    if prov.get("machine"):
        where.append(str(prov["machine"]))
    if prov.get("cpus"):
        where.append(f"{prov['cpus']} CPUs")
    if prov.get("load_average_1min") is not None:
        where.append(f"load average {_fmt(prov['load_average_1min'])}")
    return line + (" Measured: " + ", ".join(where) + "." if where else "")


def bench_section(name: str, results: Path) -> str:
    """The saved result of benchmark ``name`` as tables, or the line saying how to measure it."""
    path = results / f"{name}.json"
    if not path.is_file():
        return f"*{name}*: not measured yet: run `python -m benchmarks {name} --save`.\n"
    r = json.loads(path.read_text(encoding="utf-8"))
    how = ("ratio = the median of the interleaved pairs' ratios ours / peer (`pair_ratios`; ours_s and peer_s are each side's median; lower is better)."
           if "pair_ratios" in r else "ratio = ours_s / peer_s (lower is better).")
    out = [_provenance_line(name, r), "", *_table(list(HEADLINE), [[r.get(k) for k in HEADLINE]]), "", how, ""]
    extra = {k: v for k, v in r.items() if k not in NOT_SHOWN}
    # top-level fields that are records with the same keys (e.g. one per dataset) make one table
    shapes: dict[tuple, list[str]] = {}
    for k, v in extra.items():
        if isinstance(v, dict) and v and not _is_records(v):
            shapes.setdefault(tuple(v), []).append(k)
    grouped = {k for keys in shapes.values() if len(keys) > 1 for k in keys}
    scalars = [[k, v] for k, v in extra.items() if k not in grouped and not _is_records(v) and not (isinstance(v, dict) and len(v) > 4)]
    if scalars:
        out += _table(["field", "value"], scalars) + [""]
    for keys in shapes.values():
        if len(keys) > 1:
            out += [f"{', '.join(f'`{k}`' for k in keys)}:", "", *_records_table({k: extra[k] for k in keys}, "case"), ""]
    for k, v in extra.items():
        if _is_records(v):
            out += [f"`{k}`:", "", *_records_table(v, "case" if isinstance(v, dict) else "#"), ""]
        elif k not in grouped and isinstance(v, dict) and len(v) > 4:
            out += [f"`{k}`:", "", *_table(["key", "value"], [[kk, vv] for kk, vv in v.items()]), ""]
    return "\n".join(out).strip() + "\n"


# ----------------------------------------------------------------------------------------------- pages

def figure(name: str) -> str:
    """An image link relative to the pages (they live in docs/, beside figures/)."""
    if not (DOCS / "figures" / name).is_file():
        raise FileNotFoundError(f"docs/figures/{name} does not exist")
    return f"![{name}](figures/{name})\n"


def render(template: str, results: Path = RESULTS) -> str:
    """The page's text with every placeholder line replaced by what it names."""
    out = []
    for line in template.splitlines():
        m = PLACEHOLDER.match(line.strip())
        if not m:
            out.append(line)
            continue
        kind, arg = m.group(1), m.group(2).strip()
        if kind == "doc":
            rel, _, obj = arg.partition(":")
            out.append(docstring(rel, obj or None).rstrip())
        elif kind == "tests":
            out.append(tests_section(arg).rstrip())
        elif kind == "bench":
            out.append(bench_section(arg, results).rstrip())
        else:
            out.append(figure(arg).rstrip())
    return "\n".join(out).rstrip() + "\n"


def build(results: Path = RESULTS, pages: tuple[str, ...] = PAGES, src: Path = DOCS) -> dict[str, str]:
    """Fill every page; returns {page name: Markdown} without writing."""
    return {name: render((src / f"{name}.md").read_text(encoding="utf-8"), results) for name in pages}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python docs/build.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT, help="folder for the filled pages (default docs/_build/pages/)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="saved benchmark results (default benchmarks/results/)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a placeholder cannot be filled")
    args = ap.parse_args(argv)
    if args.out.resolve() == DOCS:
        ap.error("--out must not be docs/: the pages there are the sources, with their placeholders")
    try:
        pages = build(args.results)
    except (FileNotFoundError, LookupError) as exc:
        print(f"cannot fill the docs pages: {exc}", file=sys.stderr)
        return 1
    if args.check:
        print(f"{len(pages)} pages fill: {', '.join(pages)}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (args.out / f"{name}.md").write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
