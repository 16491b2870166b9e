"""``neuro train`` / ``python -m neuro.train``: train a model from a recipe, on the project's own loaders or on factories.

A shipped recipe trains end to end on a neuromorphic dataset read by :func:`neuro.data.load`::

    neuro train --list-recipes                                   # what each recipe trains on what
    neuro train --recipe sdt-dvsgesture-2-256 --data /data/neuromorphic
    neuro train --recipe spikformer-cifar10dvs --dataset dvsgesture --model-config dvsgesture-2-256

``--data PATH`` is then the data root in tonic's layout (default ``$NEURO_DATA`` or ``datasets/``): the
recipe's ``extra.dataset`` is loaded as event frames (``extra.frames``, else ``time_steps`` bins), resized to
the model's ``img_size`` (area interpolation), flipped left-right with probability ``extra.hflip`` for
training; the evaluation set is the ``test`` split, or for CIFAR10-DVS (one split) the last
``1 - extra.train_fraction`` of each class. ``out_dir/result.json`` holds the final metrics.

Otherwise ``--model MODULE:FACTORY`` (or ``path/to/file.py:FACTORY``) returns the ``nn.Module`` and
``--data MODULE:FACTORY`` the training dataset or a ``(train, eval)`` pair (static-image recipes such as
``spikformer-cifar10`` need this: ``neuro.data`` loads event data). A factory that takes an argument receives
the :class:`~neuro.train.config.TrainConfig` (its ``extra`` dict carries recipe-specific settings). The model
is built after seeding with ``seed``, so every process builds the same initial weights. Mixed precision
(``amp``) is for CUDA: on the CPU the run is float32 and ``config.json`` says ``amp: false``.

Several processes: ``--nproc N`` starts torchrun's agent here (``N`` processes of ``python -m neuro.train`` with the
other options; gloo on CPU); ``--nnodes``, ``--node-rank``, ``--master-addr``/``--master-port`` or ``--rdzv-endpoint``
extend it to several machines (see :mod:`neuro.train.distributed`). Under your own ``torchrun`` leave them out.
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
    p.add_argument("--data", metavar="PATH | MODULE:FACTORY",
                   help="with --recipe: the data root holding the recipe's dataset (default $NEURO_DATA or datasets/); "
                        "or MODULE:FACTORY returning the training dataset or (train, eval)")
    p.add_argument("--dataset", help="train on this neuro.data dataset instead of the recipe's (dvsgesture, cifar10dvs, nmnist)")
    p.add_argument("--model-config", help="the model size instead of the recipe's extra.model_config (e.g. dvsgesture-2-256)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="change a field of the recipe's model config (repeatable; VALUE read as JSON), e.g. depth=1")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable; VALUE read as JSON)")
    p.add_argument("--out-dir", help="shorthand for --set out_dir=PATH")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="continue from the newest checkpoint in out_dir (or from CHECKPOINT)")
    p.add_argument("--check-only", action="store_true", help="run the pre-training checks and stop")
    g = p.add_argument_group("several processes and machines (torchrun is started here; see docs/training.md)")
    g.add_argument("--nproc", type=int, metavar="N", help="processes on this machine (gloo on CPU, one GPU each with CUDA)")
    g.add_argument("--nnodes", metavar="N|MIN:MAX", help="machines taking part (default 1); run the same command on each")
    g.add_argument("--node-rank", type=int, metavar="K", help="this machine's index (0 on the master's; needed with --master-addr)")
    g.add_argument("--master-addr", metavar="HOST", help="static rendezvous: the machine of node rank 0")
    g.add_argument("--master-port", type=int, metavar="PORT", help="its port (default 29500)")
    g.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="c10d rendezvous every machine reaches (instead of --master-addr)")
    g.add_argument("--rdzv-id", metavar="ID", help="the job's name at the rendezvous (default neuro-train)")
    g.add_argument("--max-restarts", type=int, default=0, metavar="N",
                   help="restart every process up to N times after a failure (use with --resume to continue from the last checkpoint)")
    g.add_argument("--dist-timeout", type=float, metavar="SECONDS",
                   help="longest wait of a collective for the other processes (a hung peer ends the run after it)")


_LAUNCH = ("nproc", "nnodes", "node_rank", "master_addr", "master_port", "rdzv_endpoint", "rdzv_id")


def worker_args(args: argparse.Namespace) -> list[str]:
    """The options of ``args`` other than the launch options, as each launched process receives them."""
    out: list[str] = []
    for name in ("config", "recipe", "model", "data", "dataset", "model_config", "out_dir"):
        value = getattr(args, name, None)
        if value is not None:
            out += [f"--{name.replace('_', '-')}", str(value)]
    for name in ("model_arg", "set"):
        for value in getattr(args, name, None) or []:
            out += [f"--{name.replace('_', '-')}", value]
    if args.resume is True:
        out.append("--resume")
    elif args.resume:
        out += ["--resume", str(args.resume)]
    if args.check_only:
        out.append("--check-only")
    return out


def _launch(args: argparse.Namespace) -> int:
    """``--nproc`` / ``--nnodes``: torchrun's agent runs here, each process being ``python -m neuro.train`` without them."""
    import os

    from .distributed import launch, torchrun_argv

    if args.dist_timeout is not None:
        if not args.dist_timeout > 0:
            raise ValueError(f"--dist-timeout must be > 0 seconds, got {args.dist_timeout}")
        os.environ["NEURO_DIST_TIMEOUT"] = str(args.dist_timeout)  # inherited by the processes torchrun starts
    argv = torchrun_argv(args.nproc, worker_args(args), nnodes=args.nnodes, node_rank=args.node_rank, master_addr=args.master_addr,
                         master_port=args.master_port, rdzv_endpoint=args.rdzv_endpoint, rdzv_id=args.rdzv_id,
                         max_restarts=args.max_restarts)
    return launch(argv)


def _is_factory(spec: str) -> bool:
    """``MODULE:FACTORY`` or ``file.py:FACTORY`` rather than a data folder."""
    return ":" in spec and not Path(spec).is_dir()


def describe_recipes() -> list[dict]:
    """One row per shipped recipe: name, model, model size, dataset, epochs, global batch, time steps, and
    whether :func:`neuro.data.load` reads its dataset (else it needs ``--data MODULE:FACTORY``)."""
    from ..data.specs import SPECS
    from .recipes import list_recipes, load_recipe

    rows = []
    for name in list_recipes():
        cfg = load_recipe(name)
        dataset = cfg.extra.get("dataset", "?")
        rows.append({"recipe": name, "model": cfg.extra.get("model", "?"), "model_config": cfg.extra.get("model_config", "?"),
                     "dataset": dataset, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "time_steps": _time_bins(cfg),
                     "loader": "neuro.data" if dataset in SPECS else "--data MODULE:FACTORY"})
    return rows


def _print_recipes() -> None:
    rows = describe_recipes()
    cols = (("recipe", "recipe"), ("model", "model"), ("model_config", "size"), ("dataset", "dataset"), ("epochs", "epochs"),
            ("batch_size", "batch"), ("time_steps", "T"), ("loader", "data from"))
    widths = [max(len(head), *(len(str(r[key])) for r in rows)) for key, head in cols]
    print("  ".join(head.ljust(w) for (_, head), w in zip(cols, widths)).rstrip())
    for r in rows:
        print("  ".join(str(r[key]).ljust(w) for (key, _), w in zip(cols, widths)).rstrip())
    print("\nneuro train --recipe NAME --data ROOT trains a recipe whose data comes from neuro.data (ROOT holds tonic's layout; "
          "`neuro data where NAME` says what goes there); the others need --data MODULE:FACTORY.")


def _time_bins(cfg) -> int:
    frames = cfg.extra.get("frames") or {}
    return int(frames.get("n_time_bins") or cfg.time_steps)


def recipe_dataset(cfg) -> str:
    """The recipe's ``extra.dataset`` when :func:`neuro.data.load` reads it as camera frames; else a ``ValueError`` saying
    what to pass instead."""
    from ..data.frames import frame_shape
    from ..data.specs import SPECS

    name = cfg.extra.get("dataset")
    if name not in SPECS:
        raise ValueError(f"this recipe trains on {name!r}, which neuro.data does not load (it loads {', '.join(SPECS)}): "
                         "pass --data MODULE:FACTORY returning the training set or (train, eval), or --dataset NAME")
    if len(frame_shape(SPECS[name].sensor_size)) != 3:
        raise ValueError(f"{name} is not recorded by a camera (frames of shape {frame_shape(SPECS[name].sensor_size)}): "
                         "the recipes' vision transformers take [T, P, H, W] frames; pass --data MODULE:FACTORY and --model")
    return name


def recipe_datasets(cfg, root=None, img_size: int | None = None):
    """``(train, eval)`` for a recipe whose ``extra.dataset`` :func:`neuro.data.load` reads, as event frames
    ``[T, P, H, W]`` (``img_size`` x ``img_size`` when given); see the module docstring."""
    from ..data import load
    from ..data.specs import SPECS

    name = recipe_dataset(cfg)
    frames = {"n_time_bins": _time_bins(cfg)} if not cfg.extra.get("frames") else dict(cfg.extra["frames"])
    kw = dict(root=root, frames=frames, progress=cfg.progress)
    hflip = float(cfg.extra.get("hflip", 0.0))
    splits = [s.name for s in SPECS[name].splits]
    if "train" in splits and "test" in splits:
        train, evals = load(name, "train", **kw), load(name, "test", **kw)
    else:
        full = load(name, splits[0], **kw)
        train, evals = class_split(full, float(cfg.extra.get("train_fraction", 0.9)))
    return Resized(train, img_size, hflip), Resized(evals, img_size)


def class_split(dataset, fraction: float):
    """The first ``fraction`` of each class's samples (in file order) and the rest, as two ``Subset``\\ s."""
    from torch.utils.data import Subset

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"extra.train_fraction must be in (0, 1), got {fraction}")
    labels = [int(t) for t in dataset.targets] if hasattr(dataset, "targets") else [int(dataset[i][1]) for i in range(len(dataset))]
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    train, test = [], []
    for idx in by_class.values():
        k = max(1, min(len(idx) - 1, round(len(idx) * fraction))) if len(idx) > 1 else len(idx)
        train += idx[:k]
        test += idx[k:]
    return Subset(dataset, sorted(train)), Subset(dataset, sorted(test))


class Resized:
    """Frames ``[T, P, H, W]`` resized to ``size`` x ``size`` (area interpolation; ``None`` keeps them), flipped
    left-right with probability ``hflip`` (torch's generator, so a resumed run draws the same flips)."""

    def __init__(self, base, size: int | None, hflip: float = 0.0):
        self.base, self.size, self.hflip = base, size, hflip

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        import torch
        import torch.nn.functional as F

        x, y = self.base[i]
        x = torch.as_tensor(x, dtype=torch.float32)
        if self.size is not None and x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="area")
        if self.hflip and float(torch.rand(())) < self.hflip:
            x = x.flip(-1)
        return x, int(y)


def _on_cpu(cfg) -> bool:
    import torch

    return cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available())


def run(args: argparse.Namespace) -> int:
    if args.list_recipes:
        _print_recipes()
        return 0
    if any(getattr(args, k, None) is not None for k in _LAUNCH) or getattr(args, "max_restarts", 0):
        return _launch(args)
    if getattr(args, "dist_timeout", None) is not None:
        raise ValueError("--dist-timeout applies to runs started with --nproc/--nnodes (under your own torchrun: NEURO_DIST_TIMEOUT=SECONDS)")
    from .checkpoint import seed_everything
    from .config import TrainConfig, parse_override
    from .recipes import build_model, recipe_path
    from .trainer import Trainer

    if args.config and args.recipe:
        raise ValueError("give either --config FILE or --recipe NAME, not both")
    overrides = dict(parse_override(s) for s in args.set)
    if args.out_dir:
        overrides["out_dir"] = args.out_dir
    source = recipe_path(args.recipe) if args.recipe else args.config
    cfg = TrainConfig.from_file(source, overrides) if source else TrainConfig.from_dict(overrides, source="--set")
    extra = dict(cfg.extra)
    if args.dataset:
        extra["dataset"] = args.dataset
    if args.model_config:
        extra["model_config"] = args.model_config
    if extra != cfg.extra:
        cfg = cfg.replace(extra=extra)
    if cfg.amp and _on_cpu(cfg):
        # autocast is a CUDA feature here: say so in config.json instead of recording a precision that did not run
        cfg = cfg.replace(amp=False)
        if cfg.progress:
            print("neuro train: amp off on the CPU (mixed precision runs on CUDA only); training in float32", file=sys.stderr)
    factory_data = args.data is not None and _is_factory(args.data)
    if args.data is not None and not factory_data and not Path(args.data).expanduser().is_dir():
        raise ValueError(f"--data {args.data!r} is neither a data folder nor MODULE:FACTORY")
    if not factory_data and not (args.recipe or args.config):
        raise ValueError("--data MODULE:FACTORY is required without --recipe/--config (a data folder needs a recipe naming the dataset)")
    if args.model is None and not cfg.extra.get("model"):
        raise ValueError("--model MODULE:FACTORY is required (the recipe names no model in extra.model)")
    model_args = dict(parse_override(s) for s in args.model_arg)
    if model_args and args.model:
        raise ValueError("--model-arg changes the recipe's model; with --model FACTORY, build the model you want there")
    if not factory_data:
        recipe_dataset(cfg)  # before building a model: a recipe neuro.data cannot feed stops here
    seed_everything(cfg.seed)
    data = _call(load_factory(args.data), cfg) if factory_data else None
    model = _call(load_factory(args.model), cfg) if args.model else build_model(cfg, **model_args)
    if data is None:
        data = recipe_datasets(cfg, args.data, getattr(getattr(model, "cfg", None), "img_size", None))
    train, evals = data if isinstance(data, tuple) else (data, None)
    trainer = Trainer(model, train, cfg, eval_data=evals)
    if args.check_only:
        classes = trainer.check()
        print(json.dumps({"check": "ok", "classes": classes}))
        return 0
    from .distributed import RankFailure, failure_report

    try:
        try:
            with failure_report():
                result = trainer.fit(resume=args.resume)
        except RankFailure as exc:
            print(f"neuro train: error: {exc}", file=sys.stderr)
            return 1
        if trainer.dist.is_main:
            text = json.dumps(result)
            # written whatever `progress` says: the run's outcome belongs in its folder, not only on the terminal
            (Path(cfg.out_dir) / "result.json").write_text(json.dumps(result, indent=1) + "\n")
            print(text)
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
