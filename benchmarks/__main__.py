"""Run every benchmark script and print one table: ``python -m benchmarks [--quick] [--save] [NAME ...]``.

``--save`` writes each successful result to ``benchmarks/results/<NAME>.json`` (the script's JSON plus a
``provenance`` record: the command, ``--quick`` or not, date, commit, machine); the docs build (``make docs``)
turns those files into the benchmark tables of the docs pages. A failed benchmark leaves its saved file as it was,
and a ``--quick`` result does not replace a saved full-size one.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIRED = ("name", "ours_s", "peer", "peer_s", "ratio")
RESULTS = HERE / "results"


def discover(folder: Path = HERE) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


def parse_result(stdout: str, script: str) -> dict:
    """The JSON object on the last non-empty line of ``stdout``; a clear error when the contract is broken."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{script}: printed nothing; its last line must be a JSON object")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{script}: last line is not JSON ({exc}): {lines[-1][:200]!r}") from None
    missing = [k for k in REQUIRED if k not in result]
    if not isinstance(result, dict) or missing:
        raise ValueError(f"{script}: result lacks fields {missing}")
    return result


def run(scripts: list[Path], quick: bool, timeout: float) -> list[dict]:
    rows = []
    for script in scripts:
        cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
        t0 = time.perf_counter()
        print(f"running {script.name} ...", file=sys.stderr, flush=True)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
        except subprocess.TimeoutExpired:
            rows.append({"name": script.stem, "error": f"timed out after {timeout:.0f} s"})
            continue
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            rows.append({"name": script.stem, "error": f"exit {proc.returncode}: {' | '.join(tail)}"})
            continue
        try:
            result = parse_result(proc.stdout, script.name)
        except ValueError as exc:
            rows.append({"name": script.stem, "error": str(exc)})
            continue
        result["wall_s"] = round(time.perf_counter() - t0, 1)
        result["script"] = script.stem
        rows.append(result)
    return rows


def _git_commit() -> str | None:
    try:
        proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def _saved_full_size(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("provenance", {}).get("quick") is False
    except (OSError, ValueError, AttributeError):
        return False


def save(rows: list[dict], quick: bool, folder: Path = RESULTS) -> list[Path]:
    """Write each successful row to ``folder/<script>.json`` with its provenance.

    Error rows are not written, and a ``--quick`` result never replaces a saved full-size one (delete the file to do so).
    """
    folder.mkdir(parents=True, exist_ok=True)
    provenance = {
        "quick": quick, "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "commit": _git_commit(), "python": platform.python_version(), "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    written = []
    for row in rows:
        if "error" in row:
            continue
        stem = row.get("script", row["name"])
        command = f"python -m benchmarks {stem}" + (" --quick" if quick else "") + " --save"
        path = folder / f"{stem}.json"
        if quick and _saved_full_size(path):
            print(f"kept {path}: a --quick result does not replace a full-size one", file=sys.stderr)
            continue
        path.write_text(json.dumps({**row, "provenance": {"command": command, **provenance}}, indent=1, sort_keys=False) + "\n")
        written.append(path)
    return written


def format_table(rows: list[dict]) -> str:
    head = f"{'benchmark':<28} {'ours_s':>10} {'peer':<28} {'peer_s':>10} {'ratio':>7}"
    out = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            out.append(f"{r['name']:<28} ERROR {r['error']}")
            continue
        out.append(f"{str(r['name']):<28} {r['ours_s']:>10.4g} {str(r['peer']):<28.28} {r['peer_s']:>10.4g} {r['ratio']:>7.3g}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("names", nargs="*", help="benchmark names (default: all)")
    ap.add_argument("--quick", action="store_true", help="the small sizes (each under a minute on 2 cores)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per benchmark")
    ap.add_argument("--json", type=Path, help="also write all results to this JSON file")
    ap.add_argument("--save", action="store_true", help="write each result to benchmarks/results/<NAME>.json (read by docs/build.py)")
    ap.add_argument("--results-dir", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    scripts = discover()
    if args.names:
        known = {s.stem: s for s in scripts}
        unknown = [n for n in args.names if n not in known]
        if unknown:
            ap.error(f"unknown benchmark(s) {unknown}; known: {sorted(known)}")
        scripts = [known[n] for n in args.names]
    rows = run(scripts, args.quick, args.timeout)
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.save:
        written = save(rows, args.quick, args.results_dir)
        for path in written:
            print(f"saved {path}", file=sys.stderr)
        if written:
            print("commit benchmarks/results/: the docs pages read them when the site is built (make docs)", file=sys.stderr)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
