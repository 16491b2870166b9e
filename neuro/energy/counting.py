r"""Counting rules, one per kind of layer, applied to the tensors a layer actually saw.

Every count is a vector over the time steps (the reduction over the batch and the positions is done
here, on the device, without synchronising). Definitions, per call:

* **dense MACs** (the usual FLOPs convention): output elements :math:`\times` fan-in
  (Linear: ``in_features``; convolution: :math:`C_{in}/g \cdot \prod k`; ``A @ B``: :math:`n k m` per matrix);
* **dense synaptic operations** (NeuroBench's ``Dense``): the (input element, weight) pairs that are
  connected, every input and weight taken as non-zero; equals dense MACs except at zero-padded borders;
* **effective operations**: the (input element, weight) pairs where both are non-zero; priced as
  accumulates (ACs) when every input value is in :math:`\{-1, 0, 1\}` (spikes, NeuroBench's test), else as
  MACs. For ``A @ B`` the pairs :math:`(a_{ik}, b_{kj})` both non-zero, ACs when either operand is a spike tensor;
* **neuron updates**: one per neuron per step (output elements of a spiking module); **spikes**: its
  non-zero outputs; **firing rate** = spikes / updates;
* **other operations** (element-wise, MAC-equivalents): BatchNorm 1 per element (folded affine),
  LayerNorm / GroupNorm 4 per element (mean, variance, normalise, affine), pooling one per window
  element per output, element-wise activations 1 per element.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

import torch
from torch import nn

#: counts kept per time step (index ``T`` of the accumulator is "could not be attributed to a step")
STEP_KEYS = ("dense_macs", "dense_synops", "effective_acs", "effective_macs", "input_elements", "input_nonzeros",
             "operand_elements", "operand_nonzeros", "output_elements", "output_nonzeros", "other_ops", "neuron_updates", "spikes")
NORM_OPS_PER_ELEMENT = {"BatchNorm1d": 1, "BatchNorm2d": 1, "BatchNorm3d": 1, "LayerNorm": 4, "GroupNorm": 4}


@dataclass
class LayerCounts:
    """Counts of one layer over the whole run (sums over batch and steps); ``steps[key]`` has one value per step.

    ``role`` is ``synaptic``, ``matmul``, ``neuron``, ``norm``, ``pool`` or ``activation``; ``input_spiking`` is
    True when every call's input was spike-valued, False when none was, None when mixed or not applicable
    (``operand_spiking``: the same for the right operand of a matrix product).
    ``state_variables`` and ``neuron_ops`` come from a spiking layer's ``update_ops()`` (:meth:`neuro.nn.Neuron.update_ops`:
    variables per neuron and the MACs / ACs of one update and of one reset), ``None`` for layers that do not say.
    ``membrane_changes`` is NeuroBench's membrane-update count (neurons whose ``mem`` changed; all of them at the
    first call), available only for neurons that expose a ``mem`` tensor (snntorch).
    """

    name: str
    kind: str
    role: str
    params: int = 0
    weight_bits: int | None = None
    act_bits: int | None = None
    calls: int = 0
    dense_macs: int = 0
    dense_synops: int = 0
    effective_acs: int = 0
    effective_macs: int = 0
    input_elements: int = 0
    input_nonzeros: int = 0
    operand_elements: int = 0
    operand_nonzeros: int = 0
    output_elements: int = 0
    output_nonzeros: int = 0
    other_ops: int = 0
    neuron_updates: int = 0
    spikes: int = 0
    spike_input_calls: int = 0
    spike_operand_calls: int = 0
    membrane_changes: int | None = None
    unattributed_calls: int = 0
    state_variables: int = 1
    neuron_ops: dict | None = None
    steps: dict = field(default_factory=dict)
    energy_pj: float = 0.0

    @property
    def state_updates(self) -> int:
        """State-variable updates: neuron updates times the variables each one updates (a spiking layer that says
        how many through ``update_ops()``, as :class:`neuro.nn.Neuron` does; one otherwise)."""
        return self.neuron_updates * self.state_variables

    @property
    def firing_rate(self) -> float | None:
        """Spikes per neuron per step (spiking modules only)."""
        return self.spikes / self.neuron_updates if self.neuron_updates else None

    @property
    def input_rate(self) -> float | None:
        """Fraction of non-zero input elements (the 'rate' of the spiking-transformer convention)."""
        return self.input_nonzeros / self.input_elements if self.input_elements else None

    @property
    def input_spiking(self) -> bool | None:
        if self.role not in ("synaptic", "matmul") or not self.calls:
            return None
        if self.spike_input_calls == self.calls:
            return True
        return False if self.spike_input_calls == 0 else None

    @property
    def operand_spiking(self) -> bool | None:
        if self.role != "matmul" or not self.calls:
            return None
        if self.spike_operand_calls == self.calls:
            return True
        return False if self.spike_operand_calls == 0 else None

    @property
    def input_binary(self) -> bool | None:  # the name used by the first version of the report
        return self.input_spiking

    @property
    def effective_ops(self) -> int:
        return self.effective_acs + self.effective_macs

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "steps"}
        d.update(state_updates=self.state_updates, firing_rate=self.firing_rate, input_rate=self.input_rate, input_spiking=self.input_spiking,
                 operand_spiking=self.operand_spiking, steps=self.steps)
        return d


class StepReducer:
    r"""Sums a tensor over the items of each time step.

    A layer sees ``[T, B, ...]`` (multi-step), ``[T*B, ...]`` (time folded into the batch), ``[B, ...]``
    (single-step, called once per step: the k-th such call of a layer is step ``k mod T``), or, with
    ``layout="BT"``, ``[B, T, ...]`` / ``[B*T, ...]`` (and ``[T, B, ...]``, for models that take ``[B, T, ...]`` and
    run time-major inside; their folded ``[T*B, ...]`` tensors are still read as ``[B*T, ...]``, which only blurs the
    per-step rows). Shapes are tested in that order, so with ``T == B``
    a ``[B, ...]`` tensor is read as multi-step. Anything else goes to slot ``T`` (not attributed to a step).
    """

    def __init__(self, time_steps: int, batch: int, layout: str = "TB"):
        if layout not in ("TB", "BT"):
            raise ValueError(f"layout must be 'TB' ([T, B, ...]) or 'BT' ([B, T, ...]), got {layout!r}")
        self.t, self.b, self.layout = time_steps, batch, layout

    def locate(self, shape: tuple[int, ...], n_feature_dims: int, single_calls: int) -> tuple[str, int, int]:
        """``(mode, first_slot, n_slots)``; mode is ``TB``, ``BT``, ``single`` or ``none`` (slot ``T``)."""
        t, b = self.t, self.b
        lead = tuple(shape[: len(shape) - n_feature_dims])
        n0 = lead[0] if lead else 1
        if self.layout == "TB" and lead and (n0 == t or n0 == t * b):
            return "TB", 0, t
        if self.layout == "BT" and lead and ((len(lead) >= 2 and n0 == b and lead[1] == t) or n0 == t * b):
            return "BT", 0, t
        if self.layout == "BT" and len(lead) >= 2 and n0 == t and lead[1] == b:
            return "TB", 0, t  # a model fed [B, T, ...] that runs time-major inside
        if n0 == b or not lead or t == 1:
            return "single", single_calls % t, 1
        return "none", t, 1

    def reduce(self, x: torch.Tensor, n_feature_dims: int, where: tuple[str, int, int]) -> torch.Tensor:
        """``[n_slots, *features]``: ``x`` summed over the items of each step."""
        feat = x.shape[x.dim() - n_feature_dims:]
        mode = where[0]
        if mode == "TB":
            return x.reshape(self.t, -1, *feat).sum(1)
        if mode == "BT":
            return x.reshape(self.b, self.t, -1, *feat).sum((0, 2))
        return x.reshape(1, -1, *feat).sum(1)


def weight_nonzero_fanout(module: nn.Module) -> torch.Tensor:
    """Linear: for each input feature, its non-zero weights (float64 ``[in]``).
    Convolution: non-zero weights summed over the output channels of each group (``[groups, C_in/groups, *k]``).

    Recomputed at every :func:`~neuro.energy.estimate` call (once per layer): weights changed in place through
    ``.data`` leave no trace in the version counter, so no cache across calls could be trusted.
    """
    nz = module.weight.detach() != 0
    if isinstance(module, nn.Linear):
        return nz.sum(0).to(torch.float64)
    g = module.groups
    return nz.reshape(g, module.out_channels // g, *nz.shape[1:]).sum(1).to(torch.float64)


def conv_dense_synops_per_item(module: nn.Module, spatial: tuple[int, ...], device) -> int:
    """NeuroBench's dense count for one input item: connected (input, weight) pairs, every value taken as 1."""
    g = module.groups
    ones = torch.ones(1, module.in_channels, *spatial, dtype=torch.float64, device=device)
    w = torch.ones(g, module.in_channels // g, *module.kernel_size, dtype=torch.float64, device=device)
    return int(module._conv_forward(ones, w, None).sum().item()) * (module.out_channels // g)


def fan_in(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return module.in_features
    return module.in_channels // module.groups * math.prod(module.kernel_size)


def nonzero_mask(x: torch.Tensor, scratch: dict | None = None) -> torch.Tensor:
    """1.0 where ``x`` is non-zero, else 0.0, as a float tensor (one pass; sums of it are exact integers below 2**24
    per element, and need no bool-to-integer cast).

    ``scratch`` ((shape, dtype, device) -> tensor) reuses one output buffer per shape: a fresh large allocation
    costs page faults that can exceed the pass itself. The mask is valid until the next call with that shape.
    """
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    if scratch is None:
        return torch.ne(x, 0).to(dtype)
    key = (tuple(x.shape), dtype, x.device)
    buf = scratch.get(key)
    if buf is None:
        buf = scratch[key] = torch.empty(x.shape, dtype=dtype, device=x.device)
    return torch.ne(x, 0, out=buf)


def spike_valued(x: torch.Tensor, nz: torch.Tensor, nonzeros: torch.Tensor | None = None) -> torch.Tensor:
    """True (a 0-d tensor, no synchronisation) when every value is -1, 0 or 1 (NeuroBench's test for spikes).

    With ``nonzeros`` (the count of non-zero values) and a float32/64 tensor of fewer than 2**24 elements, two
    reductions without temporaries suffice: all :math:`|x| \\le 1` and :math:`\\sum x^2` = non-zeros (each non-zero
    contributes at most 1, exactly 1 only when :math:`|x| = 1`; partial sums of 0s and 1s are exact in float32).
    """
    if x.numel() == 0:
        return torch.ones((), dtype=torch.bool, device=x.device)
    if nonzeros is not None and x.dtype in (torch.float32, torch.float64) and x.numel() < 2**24:
        lo, hi = torch.aminmax(x)
        flat = x.reshape(-1)
        return (lo >= -1) & (hi <= 1) & (torch.dot(flat, flat) == nonzeros)
    return (x.abs() == nz).all()


def pool_ops(module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> int:
    """Comparisons (max) or additions (average) of a pooling layer: one per window element per output."""
    ks = getattr(module, "kernel_size", None)
    if ks is not None:
        nd = 1 if "1d" in type(module).__name__ else (3 if "3d" in type(module).__name__ else 2)
        window = math.prod(ks) if isinstance(ks, tuple) else ks**nd
        return out.numel() * window
    return x.numel()  # adaptive pooling: every input element is read into one window


def other_ops(module: nn.Module, role: str, x: torch.Tensor, out: torch.Tensor) -> int:
    if role == "norm":
        return x.numel() * NORM_OPS_PER_ELEMENT.get(type(module).__name__, 4)
    if role == "pool":
        return pool_ops(module, x, out)
    return out.numel()


def conv_effective(module: nn.Module, counts: torch.Tensor, fanout: torch.Tensor) -> torch.Tensor:
    """Effective pairs per step from per-step input non-zero counts ``[S, C, *spatial]`` (exact, with borders,
    stride, dilation, groups and padding mode).

    The count is linear in ``counts``: each input position contributes its count times its weighted fan-out (the
    non-zero weights that reach it, over every output position, border effects included). That coefficient map is
    the gradient of the module's own convolution of the counts with ``fanout``, summed; it is computed once (float64,
    exact integers) per layer, spatial shape and non-zero weight pattern and kept while those stay the same, so a call
    costs one dot product per step instead of a float64 convolution.
    """
    cov = _coverage(module, tuple(counts.shape[1:]), fanout)
    return counts.reshape(counts.shape[0], -1).to(torch.float64) @ cov


_COVERAGE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _coverage(module: nn.Module, shape: tuple[int, ...], fanout: torch.Tensor) -> torch.Tensor:
    """``[prod(shape)]`` float64: d/d counts of the summed convolution of ``counts`` with ``fanout``."""
    geometry = (shape, fanout.device, module.stride, module.padding, module.dilation, module.groups,
                getattr(module, "padding_mode", "zeros"))
    hit = _COVERAGE.get(module)
    if hit is not None and hit[0] == geometry and torch.equal(hit[1], fanout):
        return hit[2]
    with torch.inference_mode(False), torch.enable_grad():
        fan = fanout.clone()  # an inference-mode tensor cannot be saved for backward
        probe = torch.zeros(1, *shape, dtype=torch.float64, device=fanout.device, requires_grad=True)
        module._conv_forward(probe, fan.to(torch.float64), None).sum().backward()
        cov = probe.grad.reshape(-1).detach()
    _COVERAGE[module] = (geometry, fanout.clone(), cov)
    return cov


def linear_items(x: torch.Tensor, module: nn.Module) -> int:
    return x.numel() // module.in_features


def matmul_pairs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairs :math:`(a_{ik}, b_{kj})` both non-zero, per broadcast batch element: :math:`\\sum_k nz_A[k]\\, nz_B[k]`."""
    ca = (a != 0).sum(-2)
    cb = (b != 0).sum(-1)
    return (ca * cb).sum(-1)
