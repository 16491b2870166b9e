"""The training recipe: one frozen dataclass, loadable from JSON, TOML or YAML (when PyYAML is installed).

Every key is checked: an unknown key names itself, the closest valid key and the full list; a bad value
names the key, the value and what is allowed. Nothing here imports torch.

Example::

    cfg = TrainConfig.from_file("recipes/digits.json", overrides={"epochs": 3})
    cfg = TrainConfig(optimizer="sgd", lr=0.1, schedule="step", step_epochs=30, epochs=90)
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OPTIMIZERS = ("sgd", "adamw", "lamb")
SCHEDULES = ("cosine", "step", "constant")
INPUT_LAYOUTS = ("batch_first", "time_first", "repeat")
AMP_DTYPES = ("bfloat16", "float16")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters and run settings of one training run.

    Learning rate (per optimizer step :math:`s`, with :math:`S` steps in all and :math:`W` warm-up steps):

    .. math::

        \\eta_s = \\eta\\,\\bigl(f_0 + (1-f_0)\\,s/W\\bigr) \\ (s < W), \\qquad
        \\eta_s = \\eta_{min} + (\\eta-\\eta_{min})\\,\\tfrac12\\bigl(1+\\cos(\\pi\\,\\tfrac{s-W}{S-W})\\bigr) \\ \\text{(cosine)},
        \\qquad \\eta_s = \\eta\\,\\gamma^{\\lfloor e / e_{step} \\rfloor} \\ \\text{(step, } e \\text{ the epoch)}

    where :math:`S` excludes the last ``cooldown_epochs``, which stay at :math:`\\eta_{min}` (timm's
    cool-down: a published "300 epochs, 10 cool-down" recipe is ``epochs=310, cooldown_epochs=10``).

    Mixing (timm's convention): with ``mixup_alpha`` and/or ``cutmix_alpha`` > 0 a batch is mixed with
    probability ``mixup_prob``; when both are on, CutMix is chosen with probability ``mixup_switch_prob``.
    From epoch ``mixup_off_epoch`` on (when > 0) no batch is mixed.

    ``batch_size`` is the **global** batch: with ``N`` processes each one takes ``batch_size / N``
    samples of the same global batch, so a recipe trains the same way on 1 or 64 GPUs.
    ``checkpoint_every`` and ``log_every`` count optimizer steps; ``eval_every`` counts epochs.

    ``amp`` (mixed precision in ``amp_dtype``) applies on CUDA devices only: on the CPU the trainer runs in
    float32 whatever it says, and ``neuro train`` records ``amp: false`` in the run's ``config.json`` there.
    ``progress`` switches the progress bars and notes on stderr, nothing else: the metrics files, the
    checkpoints and ``neuro train``'s ``result.json`` are written either way.
    """

    # optimizer
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    decay_bias_and_norm: bool = True
    # learning-rate schedule (stepped every optimizer step)
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    warmup_start_factor: float = 0.01
    min_lr: float = 0.0
    cooldown_epochs: float = 0.0
    step_epochs: int = 30
    gamma: float = 0.1
    # loop
    epochs: int = 1
    batch_size: int = 32
    eval_batch_size: int | None = None
    drop_last: bool = True
    grad_clip: float | None = None
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    mixup_prob: float = 1.0
    cutmix_alpha: float = 0.0
    mixup_switch_prob: float = 0.5
    mixup_off_epoch: int = 0
    amp: bool = True
    amp_dtype: str = "bfloat16"
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    sync_bn: bool = False
    # model input: how a collated batch becomes the model's input
    input_layout: str = "batch_first"
    time_steps: int = 0
    # data
    data_dir: str | None = None
    num_workers: int = 0
    # checkpoints and logs
    out_dir: str = "runs/train"
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    log_every: int = 10
    eval_every: int = 1
    progress: bool = True
    tensorboard: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_types(self)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("input_layout", self.input_layout, INPUT_LAYOUTS)
        _choice("amp_dtype", self.amp_dtype, AMP_DTYPES)
        _positive("lr", self.lr)
        _at_least("weight_decay", self.weight_decay, 0.0)
        _in_range("momentum", self.momentum, 0.0, 1.0)
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        _positive("eps", self.eps)
        _at_least("warmup_epochs", self.warmup_epochs, 0.0)
        _in_range("warmup_start_factor", self.warmup_start_factor, 0.0, 1.0)
        _at_least("min_lr", self.min_lr, 0.0)
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        _at_least("cooldown_epochs", self.cooldown_epochs, 0.0)
        if self.warmup_epochs + self.cooldown_epochs > self.epochs:
            raise ValueError(f"warmup_epochs + cooldown_epochs ({self.warmup_epochs} + {self.cooldown_epochs}) must not exceed epochs ({self.epochs})")
        _at_least("step_epochs", self.step_epochs, 1)
        _in_range("gamma", self.gamma, 0.0, 1.0)
        _at_least("epochs", self.epochs, 1)
        _at_least("batch_size", self.batch_size, 1)
        if self.eval_batch_size is not None:
            _at_least("eval_batch_size", self.eval_batch_size, 1)
        if self.grad_clip is not None:
            _positive("grad_clip", self.grad_clip)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        _at_least("mixup_alpha", self.mixup_alpha, 0.0)
        _in_range("mixup_prob", self.mixup_prob, 0.0, 1.0)
        _at_least("cutmix_alpha", self.cutmix_alpha, 0.0)
        _in_range("mixup_switch_prob", self.mixup_switch_prob, 0.0, 1.0)
        _at_least("mixup_off_epoch", self.mixup_off_epoch, 0)
        _at_least("seed", self.seed, 0)
        if self.device != "auto" and not (self.device in ("cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.input_layout == "repeat" and self.time_steps < 1:
            raise ValueError(f"input_layout='repeat' needs time_steps >= 1 (the number of steps to repeat the input), got {self.time_steps}")
        _at_least("time_steps", self.time_steps, 0)
        _at_least("num_workers", self.num_workers, 0)
        if not self.out_dir:
            raise ValueError("out_dir must be a non-empty path")
        _at_least("checkpoint_every", self.checkpoint_every, 0)
        _at_least("keep_checkpoints", self.keep_checkpoints, 1)
        _at_least("log_every", self.log_every, 1)
        _at_least("eval_every", self.eval_every, 1)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def valid_keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from a mapping; unknown keys raise a ``ValueError`` naming them and the valid ones."""
        if not isinstance(data, dict):
            raise ValueError(f"{source} must be a mapping of keys to values, got {type(data).__name__}")
        valid = cls.valid_keys()
        for key in data:
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown key {key!r} in {source}{hint}; valid keys: {', '.join(valid)}")
        values = dict(data)
        if isinstance(values.get("betas"), list):
            values["betas"] = tuple(values["betas"])
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """Load a ``.json``, ``.toml`` or ``.yaml``/``.yml`` recipe; ``overrides`` win over the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        suffix = path.suffix.lower()
        if suffix not in (".json", ".toml", ".yaml", ".yml"):
            raise ValueError(f"config file {path} must end in .json, .toml, .yaml or .yml")
        text = path.read_text()
        if suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ValueError(f"{path} is YAML but PyYAML is not installed: install pyyaml or write the recipe as .json or .toml") from None
        try:
            if suffix == ".json":
                data = json.loads(text)
            elif suffix == ".toml":
                import tomllib

                data = tomllib.loads(text)
            else:
                data = yaml.safe_load(text) or {}
        except Exception as exc:  # json.JSONDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError
            raise ValueError(f"cannot parse {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a mapping of keys to values, got {type(data).__name__}")
        data.update(overrides or {})
        return cls.from_dict(data, source=str(path))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some keys changed (checked like :meth:`from_dict`)."""
        return type(self).from_dict({**self.to_dict(), **changes}, source="replace()")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")


def parse_override(text: str) -> tuple[str, Any]:
    """``"lr=0.1"`` -> ``("lr", 0.1)``: the value is read as JSON when it parses, else kept as a string."""
    if "=" not in text:
        raise ValueError(f"override must look like KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = {"none": None, "null": None, "true": True, "false": False}.get(raw.strip().lower(), raw)
    return key, value


# --- validation helpers ---------------------------------------------------------------------------
def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if origin is tuple:
        return isinstance(value, tuple) and all(_type_ok(v, h) for v, h in zip(value, typing.get_args(hint)))
    if hint is str:
        return isinstance(value, str)
    if hint is dict:
        return isinstance(value, dict)
    return True


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def _check_types(cfg: TrainConfig) -> None:
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if not _type_ok(value, hints[f.name]):
            raise ValueError(f"config key {f.name!r} must be {_type_name(hints[f.name])}, got {value!r} ({type(value).__name__})")
        if hints[f.name] in (float, float | None) and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(cfg, f.name, float(value))


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def _at_least(name: str, value: float, low: float) -> None:
    if not value >= low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def _in_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
