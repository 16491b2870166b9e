"""``neuro energy MODULE:FACTORY --input-shape T,B,...``: the energy report of a model from the command line."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def _load_factory(spec: str):
    if ":" not in spec:
        raise ValueError(f"model must be given as MODULE:FACTORY (e.g. neuro.demo:DigitsSNN), got {spec!r}")
    module_name, attr = spec.split(":", 1)
    module_path = Path(module_name)
    if module_path.suffix == ".py":
        sys.path.insert(0, str(module_path.resolve().parent))
        module_name = module_path.stem
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"cannot import {module_name!r} (from {spec!r}): {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{module_name!r} has no attribute {attr!r}") from None


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--input-shape must be comma-separated integers like 4,8,64, got {text!r}") from None
    if len(shape) < 2 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"--input-shape needs at least T,B (all >= 1), got {text!r}")
    return shape


def run(args: argparse.Namespace) -> int:
    import torch

    from .estimate import estimate

    factory = _load_factory(args.model)
    kwargs = {}
    for item in args.kwarg or []:
        key, _, value = item.partition("=")
        kwargs[key] = int(value) if value.lstrip("-").isdigit() else (float(value) if value.replace(".", "", 1).lstrip("-").isdigit() else value)
    model = factory(**kwargs)
    if args.checkpoint:
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("model", state))
    gen = torch.Generator().manual_seed(args.seed)
    inputs = (torch.rand(args.input_shape, generator=gen) < args.input_rate).float() if args.spikes else torch.rand(args.input_shape, generator=gen)
    report = estimate(model.eval(), inputs, table=args.table)
    print(report.format_table())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "energy.json").write_text(report.to_json())
        report.plot(out / "energy.png")
        print(f"wrote {out / 'energy.json'} and {out / 'energy.png'}")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("energy", help="operation counts and energy of a model on random inputs of a given shape")
    p.add_argument("model", help="MODULE:FACTORY or path/to/file.py:FACTORY returning an nn.Module")
    p.add_argument("--input-shape", type=_shape, required=True, help="input shape, T,B,... (e.g. 16,8,64)")
    p.add_argument("--kwarg", action="append", help="factory keyword argument KEY=VALUE (repeatable)")
    p.add_argument("--checkpoint", help="state dict (or a checkpoint with a 'model' entry) to load")
    p.add_argument("--spikes", action="store_true", help="feed Bernoulli spikes instead of uniform real values")
    p.add_argument("--input-rate", type=float, default=0.2, help="spike probability with --spikes (default 0.2)")
    p.add_argument("--table", default="horowitz45nm", help="energy table name or .json path (default horowitz45nm)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for energy.json and energy.png")
    p.set_defaults(func=run)
