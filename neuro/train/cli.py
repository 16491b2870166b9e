"""``neuro train`` / ``python -m neuro.train``: train a model from a recipe file and two factories.

``--model MODULE:FACTORY`` (or ``path/to/file.py:FACTORY``) returns the ``nn.Module``; ``--data`` returns
the training dataset or a ``(train, eval)`` pair. A factory that takes an argument receives the
:class:`~neuro.train.config.TrainConfig` (its ``extra`` dict carries recipe-specific settings). The
model factory runs after seeding with ``seed``, so every process builds the same initial weights.
Launch with ``torchrun`` for several processes (see :mod:`neuro.train`).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import sys
from pathlib import Path


def load_factory(spec: str):
    """The callable named by ``MODULE:NAME`` or ``path/to/file.py:NAME``."""
    if ":" not in spec:
        raise ValueError(f"expected MODULE:FACTORY or path/to/file.py:FACTORY, got {spec!r}")
    module_name, attr = spec.rsplit(":", 1)
    path = Path(module_name)
    if path.suffix == ".py":
        if not path.is_file():
            raise FileNotFoundError(f"factory file {module_name!r} does not exist")
        spec_ = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec_)
        sys.modules.setdefault(path.stem, module)
        spec_.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ValueError(f"cannot import {module_name!r} (from {spec!r}): {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{module_name!r} has no attribute {attr!r}") from None


def _call(factory, cfg):
    try:
        takes_arg = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        takes_arg = False
    return factory(cfg) if takes_arg else factory()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="recipe file (.json, .toml, .yaml); defaults for every key not given")
    p.add_argument("--recipe", help="a shipped recipe by name (see --list-recipes), instead of --config")
    p.add_argument("--list-recipes", action="store_true", help="print the shipped recipes and stop")
    p.add_argument("--model", help="MODULE:FACTORY or path/to/file.py:FACTORY returning the nn.Module (default with --recipe: the recipe's model)")
    p.add_argument("--data", help="MODULE:FACTORY returning the training dataset or (train, eval)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable; VALUE read as JSON)")
    p.add_argument("--out-dir", help="shorthand for --set out_dir=PATH")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="continue from the newest checkpoint in out_dir (or from CHECKPOINT)")
    p.add_argument("--check-only", action="store_true", help="run the pre-training checks and stop")


def run(args: argparse.Namespace) -> int:
    from .checkpoint import seed_everything
    from .config import TrainConfig, parse_override
    from .recipes import build_model, list_recipes, recipe_path
    from .trainer import Trainer

    if args.list_recipes:
        for name in list_recipes():
            print(name)
        return 0
    if args.config and args.recipe:
        raise ValueError("give either --config FILE or --recipe NAME, not both")
    overrides = dict(parse_override(s) for s in args.set)
    if args.out_dir:
        overrides["out_dir"] = args.out_dir
    source = recipe_path(args.recipe) if args.recipe else args.config
    cfg = TrainConfig.from_file(source, overrides) if source else TrainConfig.from_dict(overrides, source="--set")
    if args.data is None:
        raise ValueError("--data MODULE:FACTORY is required (it returns the training dataset or (train, eval))")
    if args.model is None and not cfg.extra.get("model"):
        raise ValueError("--model MODULE:FACTORY is required (the recipe names no model in extra.model)")
    seed_everything(cfg.seed)
    data = _call(load_factory(args.data), cfg)
    train, evals = data if isinstance(data, tuple) else (data, None)
    model = _call(load_factory(args.model), cfg) if args.model else build_model(cfg)
    trainer = Trainer(model, train, cfg, eval_data=evals)
    if args.check_only:
        classes = trainer.check()
        print(json.dumps({"check": "ok", "classes": classes}))
        return 0
    try:
        result = trainer.fit(resume=args.resume)
        if trainer.dist.is_main:
            print(json.dumps(result))
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a model from a recipe (checkpoints, --resume, torchrun for several processes)")
    add_arguments(p)
    p.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuro.train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"neuro train: error: {exc}", file=sys.stderr)
        return 2
