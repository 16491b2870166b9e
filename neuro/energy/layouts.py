"""Where time and batch are in a model's input: ``"TB"`` (``[T, B, ...]``) or ``"BT"`` (``[B, T, ...]``).

:func:`neuro.energy.estimate` reads both orders, and a model fed the wrong one still runs: time and batch are
swapped without a word and the per-sample energies come out wrong (halved for ``[2, 4, ...]``). So the layout is
taken from the model where the model says it: an ``input_layout`` attribute (``"TB"`` or ``"BT"``) on the model,
else :data:`MODEL_LAYOUTS` (the models of :mod:`neuro.nn.models`, which take ``[B, T, C, H, W]`` frames, and the
digits demo network), found along the class's bases so subclasses inherit it. A layout given by the caller that
contradicts the declared one is a ``ValueError``; a model that declares nothing is read as the caller says
(default ``"TB"``).

Example::

    resolve_layout(spikformer("cifar10-4-384"), None)    # "BT"
    resolve_layout(spikformer("cifar10-4-384"), "TB")    # ValueError: the model declares [B, T, ...]
"""

from __future__ import annotations

from torch import nn

LAYOUTS = ("TB", "BT")

#: ``module.ClassName`` -> layout of the input its ``forward`` takes (subclasses inherit the entry)
MODEL_LAYOUTS: dict[str, str] = {
    "neuro.nn.models.spikformer.Spikformer": "BT",
    "neuro.nn.models.spike_driven.SpikeDrivenTransformer": "BT",
    "neuro.nn.models.meta_spikformer.MetaSpikformer": "BT",  # and QSDTransformer, its subclass
    "neuro.nn.models.maxformer.MaxFormer": "BT",
    "neuro.demo.DigitsSNN": "TB",
}

_WORDS = {"TB": "[T, B, ...] (time first)", "BT": "[B, T, ...] (batch first)"}


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside ``torch.compile`` and (Distributed)DataParallel wrappers."""
    for _ in range(4):
        inner = getattr(model, "_orig_mod", None)
        if inner is None and isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            inner = model.module
        if not isinstance(inner, nn.Module):
            return model
        model = inner
    return model


def declared_layout(model: nn.Module) -> tuple[str, str] | None:
    """``(layout, where it was declared)`` for a model that declares its input layout, else ``None``."""
    model = _unwrap(model)
    value = getattr(model, "input_layout", None)
    if value in LAYOUTS:
        return value, f"{type(model).__name__}.input_layout"
    for cls in type(model).__mro__:
        key = f"{cls.__module__}.{cls.__qualname__}"
        if key in MODEL_LAYOUTS:
            return MODEL_LAYOUTS[key], f"{key} (neuro.energy.layouts.MODEL_LAYOUTS)"
    return None


def resolve_layout(model: nn.Module, layout: str | None) -> str:
    """The layout to read ``model``'s inputs with: the declared one when ``layout`` is ``None`` (``"TB"`` when the
    model declares none); ``layout`` itself when it agrees with the declared one or nothing is declared; a
    ``ValueError`` naming both when they disagree."""
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS} or None (from the model), got {layout!r}")
    declared = declared_layout(model)
    if declared is None:
        return layout or "TB"
    want, where = declared
    if layout is not None and layout != want:
        raise ValueError(f"layout={layout!r} reads the inputs as {_WORDS[layout]}, but {type(_unwrap(model)).__name__} takes "
                         f"{_WORDS[want]} (declared by {where}); pass layout={want!r} or leave layout out, and give inputs in that order")
    return want


__all__ = ["LAYOUTS", "MODEL_LAYOUTS", "declared_layout", "resolve_layout"]
