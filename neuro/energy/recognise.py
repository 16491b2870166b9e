"""What a module is, for counting: spiking neuron, synaptic layer, element-wise layer, no work, or unknown.

Spiking neurons are recognised without importing any peer library: our modules carry the class
attribute ``is_spiking = True``; SpikingJelly neurons derive from a ``BaseNode`` defined in
``spikingjelly``; snntorch neurons from ``snntorch``'s ``SpikingNeuron``; norse neurons are the
classes of ``norse.torch.module`` whose name names a neuron model (``LIF``, ``LIFCell``, ``LSNN``,
``IAF``, ``Izhikevich`` ...).
"""

from __future__ import annotations

from torch import nn

SYNAPTIC = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)
POOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
        nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
ACTIVATION = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.Softmax, nn.Hardtanh, nn.ReLU6)
NO_WORK = (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.Identity, nn.Dropout, nn.Dropout2d, nn.Flatten, nn.Unflatten)

_NORSE_NEURONS = ("LIF", "IAF", "LSNN", "Izhikevich", "AdEx", "LI")


def _bases(module: nn.Module):
    return type(module).__mro__


def foreign_family(module: nn.Module) -> str | None:
    """``"spikingjelly"``, ``"snntorch"`` or ``"norse"`` when ``module`` is one of their spiking neurons, else ``None``."""
    for base in _bases(module):
        mod = base.__module__ or ""
        if mod.startswith("spikingjelly") and base.__name__ == "BaseNode":
            return "spikingjelly"
        if mod.startswith("snntorch") and base.__name__ == "SpikingNeuron":
            return "snntorch"
    mod, name = type(module).__module__ or "", type(module).__name__
    if mod.startswith("norse.torch.module") and name.startswith(_NORSE_NEURONS) and "Recurrent" not in name:
        return "norse"
    return None


def is_spiking(module: nn.Module) -> bool:
    """A spiking neuron module: ``is_spiking = True`` on its class, or a SpikingJelly / snntorch / norse neuron."""
    if getattr(type(module), "is_spiking", False) is True:
        return True
    return foreign_family(module) is not None


def role(module: nn.Module) -> str | None:
    """``synaptic``, ``neuron``, ``norm``, ``pool``, ``activation``, ``none`` (no work) or ``None`` (not understood)."""
    if is_spiking(module):
        return "neuron"
    if isinstance(module, SYNAPTIC):
        return "synaptic"
    if isinstance(module, NORM):
        return "norm"
    if isinstance(module, POOL):
        return "pool"
    if isinstance(module, ACTIVATION):
        return "activation"
    if isinstance(module, NO_WORK):
        return "none"
    return None


def bits_attr(module: nn.Module, name: str) -> int | None:
    """An integer bit-width attribute (``weight_bits``, ``act_bits``) of a quantized layer, if it has one."""
    value = getattr(module, name, None)
    if value is None:
        return None
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{type(module).__name__}.{name} must be an integer bit-width, got {value!r}") from None
    if value < 1:
        raise ValueError(f"{type(module).__name__}.{name} must be >= 1, got {value}")
    return value
