"""``neuro data list | where | verify | prepare | fixture``.

Wired into ``neuro`` by ``add_cli(subparsers)``; also runs alone: ``python -m neuro.data.cli verify shd``.
"""

from __future__ import annotations

import argparse
import json
import sys


def split_state(report) -> str:
    """One word (and a count) for a split from a quick verify report: what ``neuro data list`` prints."""
    data = [r for r in report if r.role == "data"]
    if any(r.status == "not extracted" for r in data):
        return "not extracted"
    if not any(r.role == "manifest" for r in report):  # verify compares with the manifest whenever data is there
        return "missing"
    bad = [r for r in data if not r.ok and r.status != "incomplete"]
    if bad:
        return f"damaged ({len(bad)} file(s))"
    if any(r.role == "manifest" and not r.ok for r in report):
        return "damaged (manifest)"
    incomplete = [r for r in data if r.status == "incomplete"]
    return f"incomplete ({incomplete[0].detail.split(' (')[0]})" if incomplete else "ready"


def _list(args) -> int:
    from .files import resolve_root
    from .specs import SPECS
    from .verify import verify

    root = resolve_root(args.root)
    print(f"data root: {root}")
    damaged = []
    for spec in SPECS.values():
        states = []
        for s in spec.splits:
            state = split_state(verify(spec.name, root, split=s.name, quick=True, progress=False))
            states.append(f"{s.name}: {state}")
            if state.startswith("damaged"):
                damaged.append(spec.name)
        print(f"{spec.name:<11} {spec.title:<34} sensor {str(spec.sensor_size):<14} {spec.n_classes:>3} classes   {', '.join(states)}")
    for name in dict.fromkeys(damaged):
        print(f"{name}: run `neuro data verify {name}` to see which files and why")
    return 0


def _where(args) -> int:
    from .prepare import where

    info = where(args.name, args.root)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['title']}: {info['folder']}  (card: {info['card']})")
    print(f"  manifest: {info['manifest']}")
    for split, s in info["splits"].items():
        print(f"  {split}: {'ready' if s['ready'] else 'not ready'}")
        print(f"    archive  {s['archive']}\n    url      {s['url']}\n    md5      {s['md5']}")
        for p in s["extracted"]:
            print(f"    data     {p}")
    return 0


def _verify(args) -> int:
    from .specs import SPECS
    from .verify import format_report, verify

    names = list(SPECS) if args.name == "all" else [args.name]
    bad = 0
    for name in names:
        report = verify(name, args.root, split=args.split, md5=not args.no_md5, rehash=args.rehash, quick=args.quick)
        print(format_report(report))
        bad += sum(not r.ok for r in report)
    print(f"{bad} problem(s)" if bad else "all files ok")
    return 1 if bad else 0


def _prepare(args) -> int:
    from .prepare import prepare

    done = prepare(args.name, args.root, split=args.split, download=args.download, check_md5=not args.no_md5)
    for split, what in done.items():
        print(f"{args.name} {split}: {what}")
    return 0


def _fixture(args) -> int:
    from .fixtures import make_fixture

    out = make_fixture(args.name, args.root, split=args.split, n_samples=args.n_samples, extract=not args.archive_only)
    print(f"wrote {len(out['archives'])} archive(s) and {len(out['files'])} file(s) under {args.root}")
    return 0


def add_cli(subparsers) -> None:
    """Register ``data`` and its subcommands on an argparse subparsers object."""
    p = subparsers.add_parser("data", help="neuromorphic datasets: list, where, verify, prepare, fixture")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    def common(q, name_required=True, allow_all=False):
        if name_required:
            q.add_argument("name", help="shd, ssc, dvsgesture, nmnist, cifar10dvs" + (" or all" if allow_all else ""))
        q.add_argument("--root", default=None, help="data root (default: $NEURO_DATA or datasets/)")

    q = sub.add_parser("list", help="the datasets and whether each split is ready (verify's quick checks)")
    common(q, name_required=False)
    q.set_defaults(func=_list)
    q = sub.add_parser("where", help="folder, archive names, URLs and md5s of a dataset")
    common(q)
    q.add_argument("--json", action="store_true", help="print as JSON")
    q.set_defaults(func=_where)
    q = sub.add_parser("verify", help="read and hash every file: missing / truncated / corrupt / changed / extra / ok; records the manifest")
    common(q, allow_all=True)
    q.add_argument("--split", default=None)
    q.add_argument("--no-md5", action="store_true", help="do not hash archives (faster)")
    q.add_argument("--rehash", action="store_true", help="re-record the manifest from the files as they are now (after a deliberate change)")
    q.add_argument("--quick", action="store_true", help="only the checks load runs (headers, sizes, mtimes); writes nothing")
    q.set_defaults(func=_verify)
    q = sub.add_parser("prepare", help="extract archives already on disk, or --download them")
    common(q)
    q.add_argument("--split", default=None)
    q.add_argument("--download", action="store_true", help="download missing archives (network)")
    q.add_argument("--no-md5", action="store_true", help="extract archives whose md5 differs from tonic's (e.g. fixtures)")
    q.set_defaults(func=_prepare)
    q = sub.add_parser("fixture", help="write a small format-exact fake copy of a dataset (for tests and demos)")
    q.add_argument("name")
    q.add_argument("root", help="folder to write into")
    q.add_argument("--split", default=None)
    q.add_argument("--n-samples", type=int, default=None)
    q.add_argument("--archive-only", action="store_true", help="leave only the archives (loading then extracts them)")
    q.set_defaults(func=_fixture)


def main(argv: list[str] | None = None) -> int:
    from .errors import DataCorruptError, DataMissingError

    parser = argparse.ArgumentParser(prog="python -m neuro.data.cli")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_cli(sub)
    args = parser.parse_args(["data", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except (DataMissingError, DataCorruptError, ValueError) as exc:
        print(f"neuro data: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
