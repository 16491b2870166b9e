"""The published training recipes of the spiking transformers, shipped as JSON :class:`~neuro.train.TrainConfig` files.

Each file holds the optimizer, schedule, batch, regularisation and mixing settings of one official
configuration, translated key by key (timm names → ours: ``opt`` → ``optimizer``, ``sched`` → ``schedule``,
``smoothing`` → ``label_smoothing``, ``mixup``/``cutmix`` → ``mixup_alpha``/``cutmix_alpha``, ``warmup_lr`` →
``warmup_start_factor = warmup_lr / lr``, ``epochs + cooldown_epochs`` → ``epochs`` with ``cooldown_epochs``).
``extra`` keeps what belongs to the model and the data pipeline (model and size, image size, normalisation,
RandAugment policy, random erasing, drop-path) and the source file it came from.

    >>> from neuro.train.recipes import list_recipes, load_recipe, build_model
    >>> cfg = load_recipe("spikformer-cifar10", overrides={"epochs": 3})
    >>> model = build_model(cfg)               # Spikformer-4-384 for CIFAR-10

From the command line: ``neuro train --recipe spikformer-cifar10 --data my_data.py:build``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from ..config import TrainConfig

RECIPE_DIR = Path(__file__).resolve().parent

# extra["model"] -> the builder in neuro.nn.models
_BUILDERS = ("spikformer", "spike_driven_transformer", "meta_spikformer", "qsd_transformer", "maxformer")


def list_recipes() -> list[str]:
    """Names of the shipped recipes."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.json"))


def recipe_path(name: str) -> Path:
    """The file of a shipped recipe (or ``name`` itself when it is an existing file)."""
    if Path(name).is_file():
        return Path(name)
    path = RECIPE_DIR / f"{name}.json"
    if not path.is_file():
        names = list_recipes()
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown recipe {name!r}{hint}; shipped recipes: {', '.join(names)}")
    return path


def load_recipe(name: str, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The :class:`TrainConfig` of a shipped recipe (by name) or of a recipe file; ``overrides`` win."""
    return TrainConfig.from_file(recipe_path(name), overrides)


def build_model(cfg: TrainConfig, **overrides: Any):
    """The model a recipe names in ``extra["model"]`` / ``extra["model_config"]``, built by :mod:`neuro.nn.models`
    (keyword ``overrides`` change fields of the model's config, e.g. ``depth=1``)."""
    from ...nn import models

    name, size = cfg.extra.get("model"), cfg.extra.get("model_config")
    if name is None or size is None:
        raise ValueError("this recipe names no model: it needs extra.model and extra.model_config (e.g. 'spikformer', 'cifar10-4-384')")
    if name not in _BUILDERS:
        raise ValueError(f"extra.model must be one of {', '.join(_BUILDERS)}, got {name!r}")
    return getattr(models, name)(size, **overrides)


__all__ = ["RECIPE_DIR", "build_model", "list_recipes", "load_recipe", "recipe_path"]
