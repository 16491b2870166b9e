"""The ``neuro`` command: ``neuro info``, ``neuro demo``, and the subcommands each layer adds.

A layer that offers subcommands has a ``cli`` module with ``add_cli(subparsers)``
(``neuro.data.cli``, ``neuro.energy.cli``, ...). It is imported only when its subcommand runs:
``neuro --help`` and ``neuro --version`` load neither torch, Numba nor any layer, so they answer
at once; the one-line help of each layer's subcommand is kept in :data:`LAYER_COMMANDS` for that
(a test holds it equal to the layer's own).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import platform
import sys

LAYER_COMMANDS = {
    "simulate": ("neuro.sim.cli", "run an example network of the event-driven simulator"),
    "data": ("neuro.data.cli", "neuromorphic datasets: list, where, verify, prepare, fixture"),
    "energy": ("neuro.energy.cli", "operation counts, energy (three models) and bit budget of a model on random inputs"),
    "train": ("neuro.train.cli", "train a model from a recipe (checkpoints, --resume, torchrun for several processes)"),
}
"""Subcommand -> (the layer module whose ``add_cli`` registers it, its one-line help)."""


def _version(module: str) -> str:
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except Exception as exc:  # noqa: BLE001 - report, never crash `info`
        return f"not available ({type(exc).__name__}: {exc})".splitlines()[0][:100]


def info(args: argparse.Namespace | None = None) -> int:
    """Print versions, backends, devices and paths."""
    import torch

    from . import __version__, backend, paths

    rows = [
        ("neuro", __version__),
        ("python", platform.python_version()),
        ("platform", platform.platform()),
    ]
    for mod in ("torch", "numpy", "numba", "scipy", "h5py", "tonic", "cupy", "nir", "spikingjelly", "snntorch", "norse", "brian2"):
        if mod == "cupy" and importlib.util.find_spec("cupy") is None:
            rows.append((mod, "not installed"))
            continue
        rows.append((mod, _version(mod) if importlib.util.find_spec(mod) else "not installed"))
    rows.append(("backends", ", ".join(backend.available_backends())))
    rows.append(("auto backend (cpu)", backend.resolve("cpu")))
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            rows.append((f"cuda:{i}", torch.cuda.get_device_name(i)))
        rows.append(("auto backend (cuda)", backend.resolve("cuda")))
    else:
        rows.append(("cuda", "no CUDA device"))
    if backend.available("numba"):
        import numba

        rows.append(("numba threads", str(numba.get_num_threads())))
    rows.append(("torch threads", str(torch.get_num_threads())))
    try:
        rows.append(("kernel sources", str(paths.kernel_dir())))
    except FileNotFoundError as exc:
        rows.append(("kernel sources", f"MISSING: {exc}"))
    rows.append(("data root", f"{paths.data_root()}" + ("  ($NEURO_DATA)" if os.environ.get("NEURO_DATA") else "")))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(out_root=args.out, epochs=args.epochs, seed=args.seed)
    return 0


def _warmup(args: argparse.Namespace) -> int:
    from .warmup import main as warmup

    return warmup()


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named in ``argv``: its first word that is not an option (the top level takes no option values)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word
    return None


class LayerUnavailable(RuntimeError):
    """The layer that registers the asked-for subcommand could not be imported (a missing dependency, a broken install)."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``neuro`` parser. Only the layer of ``command`` (a key of :data:`LAYER_COMMANDS`) is imported to register
    its arguments; every other layer subcommand is listed by name and help alone."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="neuro", description="neuro: spiking neural networks — simulate, train, estimate energy, load data")
    parser.add_argument("--version", action="version", version=f"neuro {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("info", help="versions, backends, devices and the data root")
    p.set_defaults(func=info)
    p = sub.add_parser("demo", help="the main job: train on the embedded digits, simulate STDP, estimate energy")
    p.add_argument("--out", default="runs", help="folder under which the run folder is made (default: runs)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default: 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.set_defaults(func=_demo)
    p = sub.add_parser("warmup", help="compile the CPU kernels into Numba's disk cache (the first run then starts in under a second)")
    p.set_defaults(func=_warmup)
    for name, (module, help_text) in LAYER_COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        try:
            importlib.import_module(module).add_cli(sub)
        except Exception as exc:  # noqa: BLE001 - only this subcommand fails, and says why
            raise LayerUnavailable(f"importing {module} failed: {type(exc).__name__}: {exc}") from exc
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command_of(argv)
    try:
        parser = build_parser(command)
    except LayerUnavailable as exc:
        print(f"neuro {command}: unavailable: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"neuro {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
