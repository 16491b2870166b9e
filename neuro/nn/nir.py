r"""NIR interchange (the Neuromorphic Intermediate Representation, ``pip install nir``): :func:`export_nir`, :func:`import_nir`.

**Neurons.** NIR's LIF is continuous: :math:`\tau \dot v = (v_{leak} - v) + R\, I`, a spike when
:math:`v > v_{thr}`, then :math:`v \leftarrow v_{reset}`. Its forward-Euler step of length
:math:`\Delta t` (``dt``, seconds) is our discrete LIF (:class:`neuro.nn.LIF`):

.. math::

    v_t = \Big(1 - \frac{\Delta t}{\tau}\Big) v_{t-1} + \frac{\Delta t}{\tau} v_{leak} + \frac{\Delta t}{\tau} R\, x_t
    \quad\Longleftrightarrow\quad \beta = 1 - \frac{\Delta t}{\tau},\ \ c = \frac{\Delta t}{\tau} R

so ``tau = dt / (1 - beta)`` (seconds), ``r = 1`` for ``decay_input=True`` (:math:`c = 1-\beta`) and
``r = tau / dt`` for ``decay_input=False`` (:math:`c = 1`); ``v_threshold``, ``v_reset``, ``v_leak``
are copied. NIR's IF, :math:`\dot v = R I`, gives :math:`v_t = v_{t-1} + \Delta t R x_t`: our
:class:`~neuro.nn.IF` (and an LIF with ``beta=1, decay_input=False``) is ``r = 1 / dt``. On import an
input coefficient that is neither :math:`1-\beta` nor 1 becomes a :class:`~neuro.nn.layers.Scale`
before the neuron. NIR's CubaLIF becomes :class:`~neuro.nn.layers.SynapticCurrent`
(:math:`\alpha = 1 - \Delta t/\tau_{syn}`, input scaled by ``w_in``) followed by the LIF above with
``tau = tau_mem`` (the membrane reads the current of the same step, :math:`I_t`); on export a
``[Scale], SynapticCurrent, [Scale], LIF`` run of a sequence is one CubaLIF (``tau_syn = dt / (1 - alpha)``, ``w_in`` the
first scale, ``r`` the LIF's times the second), and so is a :class:`~neuro.nn.Neuron` whose two-variable law is that step
(:math:`i_t = a i_{t-1} + b x_t`, :math:`h_t = \beta v_{t-1} + k i_t + d`, a reset of the membrane only:
``w_in = b / (1 - a)``, ``r = k / (1 - beta)``). ``dt`` must be the same on both sides; the default ``1e-4`` is the step
snntorch 1.0's ``import_from_nir`` / ``export_to_nir`` assume (norse's ``from_nir`` takes ``dt=``).

**What NIR cannot say**, so :func:`export_nir` raises ``ValueError`` rather than write a different
model: the soft (subtractive) reset (NIR neurons reset to ``v_reset``), an LIF with ``beta = 1`` and
``decay_input=True`` (its input is ignored), per-neuron thresholds or resets (ours are per layer; on
import they must be uniform too). NIR fires on :math:`v > v_{thr}`; our default is
:math:`h \ge v_{th}`, which differs only when the potential equals the threshold exactly. With a hard
reset ``reset_delay`` gives the same spikes as the immediate reset, so it exports as a plain NIR LIF.
The training-only fields (``surrogate``, ``alpha``, ``detach_reset``, ``strict_threshold``,
``reset_delay``) travel in each neuron's ``metadata`` under ``"neuro.*"`` and :func:`import_nir`
restores them; a graph from elsewhere imports with ``strict_threshold=True`` (NIR's rule), which
runs on the torch reference path, not the fused kernels. A :class:`~neuro.nn.ParametricLIF` exports
its current decay (per channel if ``per_channel``) and comes back as an LIF with that fixed decay. A
:class:`~neuro.nn.Neuron` built from a definition exports where its law is the LIF step whatever its names
(:meth:`~neuro.nn.Neuron.lif_form`: :math:`h = \beta v + c x + d` is ``tau = dt/(1-beta)``, ``r = c tau/dt``,
``v_leak = d/(1-beta)``, or NIR's IF without leak) with a reset to ``v_reset`` and that value as its start, and comes
back as an LIF (or where it is the current-based LIF step above: a CubaLIF); any other law (two variables that are not
that step, a soft reset, a non-linear step) raises ``ValueError`` naming the layer and
the law.

**Layers.** ``nn.Linear`` is ``Affine`` (``Linear`` without bias); ``nn.Conv1d``/``nn.Conv2d``
(zero padding) are ``Conv1d``/``Conv2d`` (a grouped one as the equal dense convolution, block-diagonal, with
``neuro.groups`` in its metadata: NIR 1.0 takes the input channels from the weight; :func:`import_nir` restores the
groups); ``nn.AvgPool2d`` (torch's default average) is ``AvgPool2d``;
``nn.Flatten`` is ``Flatten`` with ``start_dim`` and
``end_dim`` counting the per-sample dims only, as NIR's shape inference and snntorch's exporter do
(nirtorch, snntorch and norse importers instead pass them to ``torch.nn.Flatten`` on batched data,
one dim off); :class:`~neuro.nn.layers.Scale` is ``Scale``; ``nn.Identity`` and ``nn.Dropout`` are
skipped. Inside a model running on ``[T, B, ...]`` a bare ``nn.Flatten`` counts dims of
``[T, B, ...]``; one inside :class:`~neuro.nn.layers.PerStep` counts dims of ``[T*B, ...]``; a bare
convolution is taken as applied per step.

Example::

    model = nn.Sequential(nn.Linear(4, 8), LIF(tau=2.0, v_reset=0.0), nn.Linear(8, 2), LIF(tau=2.0))
    graph = export_nir(model, (4,), dt=1e-4)       # or a sample input [T, B, 4]
    again = import_nir(graph, dt=1e-4)             # a torch module on [T, B, 4]
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import nir
import numpy as np
import sympy
import torch
from torch import nn

from ..dynamics.discrete import INPUT, sym
from .layers import PerStep, Scale, SynapticCurrent
from .neuron import Neuron
from .neurons import IF, LIF, ParametricLIF

__all__ = ["GraphModule", "export_nir", "import_nir"]

_META = ("surrogate", "alpha", "detach_reset", "strict_threshold", "reset_delay")


class GraphModule(nn.Module):
    """A directed acyclic graph of layers on ``[T, B, ...]`` tensors; a node's inputs are summed (NIR's rule).

    ``modules`` maps node names to layers; ``edges`` are ``(source, target)`` names. Exactly one
    node has no inputs (it receives the model input) and exactly one has no outputs (the result).
    """

    def __init__(self, modules: dict[str, nn.Module], edges: Sequence[tuple[str, str]]):
        super().__init__()
        names = list(modules)
        for a, b in edges:
            if a not in modules or b not in modules:
                raise ValueError(f"edge ({a!r}, {b!r}) names an unknown node")
        self.preds = {n: [a for a, b in edges if b == n] for n in names}
        succs = {n: [b for a, b in edges if a == n] for n in names}
        sources = [n for n in names if not self.preds[n]]
        sinks = [n for n in names if not succs[n]]
        if len(sources) != 1 or len(sinks) != 1:
            raise ValueError(f"the graph needs exactly one input and one output node, got inputs {sources} and outputs {sinks}")
        self.input_name, self.output_name = sources[0], sinks[0]
        self.order = _topological_order(names, self.preds)
        self.edges = [tuple(e) for e in edges]
        self._key = {n: n.replace(".", "_") for n in names}
        if len(set(self._key.values())) != len(names):
            raise ValueError("node names collide once '.' is replaced by '_'")
        self.nodes = nn.ModuleDict({self._key[n]: modules[n] for n in names})

    def node(self, name: str) -> nn.Module:
        return self.nodes[self._key[name]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {}
        for name in self.order:
            if name == self.input_name:
                v = x
            else:
                inputs = [values[p] for p in self.preds[name]]
                v = inputs[0] if len(inputs) == 1 else torch.stack(torch.broadcast_tensors(*inputs)).sum(0)
            values[name] = self.node(name)(v)
        return values[self.output_name]


def _topological_order(names: list[str], preds: dict[str, list[str]]) -> list[str]:
    order, done, pending = [], set(), list(names)
    while pending:
        ready = [n for n in pending if all(p in done for p in preds[n])]
        if not ready:
            raise ValueError(f"the graph has a cycle through {sorted(pending)}; recurrent NIR graphs are not supported")
        for n in ready:
            order.append(n)
            done.add(n)
        pending = [n for n in pending if n not in done]
    return order


# ---------------------------------------------------------------- export


def export_nir(model: nn.Module, sample_input: torch.Tensor | Sequence[int], dt: float = 1e-4) -> nir.NIRGraph:
    """The NIR graph of ``model``: an ``nn.Sequential`` (nested, :class:`~neuro.nn.layers.PerStep` allowed), a
    :class:`GraphModule`, or one layer, made of the layers listed in the module docstring.

    ``sample_input`` is a ``[T, B, ...]`` tensor or the per-sample shape ``(...)``; ``dt`` is the step
    length in seconds that turns ``beta`` into ``tau``. Unsupported layers raise ``TypeError``;
    neurons NIR cannot represent raise ``ValueError``.
    """
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    if isinstance(sample_input, torch.Tensor):
        if sample_input.dim() < 3:
            raise ValueError(f"sample_input must be [T, B, ...], got shape {tuple(sample_input.shape)}")
        shape = tuple(sample_input.shape[2:])
    else:
        shape = tuple(int(d) for d in sample_input)
    if isinstance(model, GraphModule):
        blocks = {n: list(_leaves(model.node(n), n)) for n in model.order}
        edges_in, order = model.edges, model.order
        first, last = model.input_name, model.output_name
    else:
        blocks = {"body": list(_leaves(model, ""))}
        edges_in, order, first, last = [], ["body"], "body", "body"
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges: list[tuple[str, str]] = []
    out_of: dict[str, str] = {}  # graph node -> name of the NIR node that gives its output
    shape_of: dict[str, tuple[int, ...]] = {}
    for name in order:
        preds = [a for a, b in edges_in if b == name]
        if name == first:
            ins, in_shape = ["input"], shape
        else:
            ins = [out_of[p] for p in preds]
            shapes = {shape_of[p] for p in preds}
            if len(shapes) != 1:
                raise ValueError(f"node {name!r} sums inputs of different shapes {sorted(shapes)}")
            in_shape = shapes.pop()
        for leaf_name, module, per_step in _cuba_chains(blocks[name]):
            node, out_shape = _export_layer(module, in_shape, dt, per_step, leaf_name)
            if node is None:
                continue
            nodes[leaf_name] = node
            edges.extend((i, leaf_name) for i in ins)
            ins, in_shape = [leaf_name], out_shape
        if len(ins) > 1:  # a node that was only an identity over several inputs
            nodes[f"{name}.sum"] = nir.Scale(scale=np.ones(in_shape, np.float32))
            edges.extend((i, f"{name}.sum") for i in ins)
            ins = [f"{name}.sum"]
        out_of[name], shape_of[name] = ins[0], in_shape
    nodes["output"] = nir.Output(output_type={"output": np.array(shape_of[last])})
    edges.append((out_of[last], "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _leaves(module: nn.Module, prefix: str, per_step: bool = False) -> Iterator[tuple[str, nn.Module, bool]]:
    if isinstance(module, PerStep):
        yield from _leaves(module.layer, prefix, True)
    elif isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            yield from _leaves(child, f"{prefix}.{name}" if prefix else name, per_step)
    else:
        yield prefix or type(module).__name__.lower(), module, per_step


@dataclass(frozen=True)
class _CubaChain:
    """``[Scale(w_in)], SynapticCurrent, [Scale(k)], LIF`` of one sequence: one NIR ``CubaLIF``."""

    w_in: Scale | None
    current: SynapticCurrent
    gain: Scale | None
    neuron: LIF


def _cuba_chains(leaves: list[tuple[str, nn.Module, bool]]) -> list[tuple[str, nn.Module | _CubaChain, bool]]:
    """``leaves`` with every ``[Scale], SynapticCurrent, [Scale], LIF`` run (what :func:`import_nir` makes of a
    ``CubaLIF``) replaced by one :class:`_CubaChain` named after its neuron; a synaptic current without a neuron after it
    raises ``TypeError`` (NIR has it only inside ``CubaLIF``)."""
    out, i = [], 0
    while i < len(leaves):
        name, m, per_step = leaves[i]
        if not isinstance(m, SynapticCurrent):
            out.append(leaves[i])
            i += 1
            continue
        w_in = None
        if out and isinstance(out[-1][1], Scale):
            w_in = out.pop()[1]
        j, gain = i + 1, None
        if j < len(leaves) and isinstance(leaves[j][1], Scale):
            gain, j = leaves[j][1], j + 1
        if j >= len(leaves) or not isinstance(leaves[j][1], LIF):
            after = type(leaves[j][1]).__name__ if j < len(leaves) else "nothing"
            raise TypeError(f"{name}: SynapticCurrent exports only as the current of NIR's CubaLIF, so an LIF must follow it "
                            f"(optionally after a Scale); it is followed by {after}")
        out.append((leaves[j][0], _CubaChain(w_in, m, gain, leaves[j][1]), per_step))
        i = j + 1
    return out


def _export_layer(m: nn.Module, shape: tuple[int, ...], dt: float, per_step: bool, name: str):
    """``(node or None, output shape)`` of one layer; ``shape`` is the per-sample input shape."""
    if isinstance(m, (nn.Identity, nn.Dropout)):
        return None, shape
    if isinstance(m, _CubaChain):
        return _export_cuba_chain(m, shape, dt, name), shape
    if isinstance(m, LIF):
        return _export_neuron(m, shape, dt, name), shape
    if isinstance(m, Neuron):
        if len(m.law.states) == 2:
            return _export_cuba_definition(m, shape, dt, name), shape
        return _export_definition(m, shape, dt, name), shape
    if isinstance(m, Scale):
        return nir.Scale(scale=np.broadcast_to(_np(m.scale), shape).copy()), shape
    if isinstance(m, nn.Linear):
        if shape[-1] != m.in_features:
            raise ValueError(f"{name}: Linear expects {m.in_features} features, the input has shape {shape}")
        w = _np(m.weight)
        node = nir.Affine(weight=w, bias=_np(m.bias)) if m.bias is not None else nir.Linear(weight=w)
        return node, (*shape[:-1], m.out_features)
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        return _export_conv(m, shape, name)
    if isinstance(m, nn.AvgPool2d):
        return _export_avgpool(m, shape, name)
    if isinstance(m, nn.Flatten):
        lead = 1 if per_step else 2  # [T*B, ...] or [T, B, ...]
        rank = len(shape) + lead
        start = m.start_dim % rank
        end = m.end_dim % rank
        if start < lead or end < start:
            raise ValueError(f"{name}: Flatten({m.start_dim}, {m.end_dim}) on [{'T*B' if per_step else 'T, B'}, ...] mixes time or batch dims")
        out = (*shape[: start - lead], int(np.prod(shape[start - lead : end - lead + 1])), *shape[end - lead + 1 :])
        return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start - lead, end_dim=-1 if end == rank - 1 else end - lead), out
    raise TypeError(f"{name}: {type(m).__name__} has no NIR export; supported: Linear, Conv1d, Conv2d, AvgPool2d, Flatten, Identity, "
                    "Dropout, neuro.nn LIF / ParametricLIF / IF, SynapticCurrent followed by an LIF, Neuron (of a LIF, IF or "
                    "current-based LIF law), Scale, PerStep and Sequential of these")


def _export_avgpool(m: nn.AvgPool2d, shape: tuple[int, ...], name: str):
    pair = lambda v: np.array(v if isinstance(v, tuple) else (v, v))  # noqa: E731
    if len(shape) != 3:
        raise ValueError(f"{name}: AvgPool2d needs a per-sample shape (C, H, W), got {shape}")
    if m.ceil_mode or m.divisor_override is not None or (not m.count_include_pad and np.any(pair(m.padding) > 0)):
        raise ValueError(f"{name}: NIR's AvgPool2d is torch's default average (floor mode, padding counted, no divisor override); got "
                         f"ceil_mode={m.ceil_mode}, count_include_pad={m.count_include_pad}, divisor_override={m.divisor_override}")
    with torch.no_grad():
        out = tuple(m(torch.zeros(1, *shape)).shape[1:])
    stride = m.stride if m.stride is not None else m.kernel_size
    return nir.AvgPool2d(kernel_size=pair(m.kernel_size), stride=pair(stride), padding=pair(m.padding)), out


def _export_conv(m: nn.Module, shape: tuple[int, ...], name: str):
    if m.padding_mode != "zeros":
        raise ValueError(f"{name}: NIR convolutions pad with zeros, got padding_mode={m.padding_mode!r}")
    spatial = 1 if isinstance(m, nn.Conv1d) else 2
    if len(shape) != spatial + 1 or shape[0] != m.in_channels:
        raise ValueError(f"{name}: {type(m).__name__}({m.in_channels}, ...) cannot take per-sample shape {shape}")
    with torch.no_grad():
        out = tuple(m(torch.zeros(1, *shape, dtype=m.weight.dtype, device=m.weight.device)).shape[1:])
    bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_channels, np.float32)
    pad = m.padding if isinstance(m.padding, str) else tuple(m.padding)
    w, meta = _np(m.weight), {}
    if m.groups > 1:
        # NIR 1.0 takes a convolution's input channels from its weight (groups times too few for a grouped one), in its
        # type inference and when it reads a file: write the equal dense convolution (block-diagonal weight) and the
        # groups in the metadata, from which import_nir restores the grouped layer
        w, meta = _dense_groups(w, m.groups), {"neuro.groups": int(m.groups)}
    if spatial == 1:
        node = nir.Conv1d(input_shape=shape[1], weight=w, stride=m.stride[0], padding=pad if isinstance(pad, str) else pad[0],
                          dilation=m.dilation[0], groups=1, bias=bias, metadata=meta)
    else:
        node = nir.Conv2d(input_shape=tuple(shape[1:]), weight=w, stride=tuple(m.stride), padding=pad, dilation=tuple(m.dilation),
                          groups=1, bias=bias, metadata=meta)
    return node, out


def _dense_groups(w: np.ndarray, groups: int) -> np.ndarray:
    """The weight ``[out, in / groups, ...]`` of a grouped convolution as the dense ``[out, in, ...]`` one computing the same."""
    out, per_in = w.shape[:2]
    per_out = out // groups
    dense = np.zeros((out, per_in * groups, *w.shape[2:]), dtype=w.dtype)
    for g in range(groups):
        dense[g * per_out:(g + 1) * per_out, g * per_in:(g + 1) * per_in] = w[g * per_out:(g + 1) * per_out]
    return dense


def _grouped(w: np.ndarray, groups: int) -> np.ndarray | None:
    """The grouped weight inside a block-diagonal dense one (:func:`_dense_groups`), or None when it is not block-diagonal."""
    out, n_in = w.shape[:2]
    if out % groups or n_in % groups:
        return None
    per_out, per_in = out // groups, n_in // groups
    blocks = [w[g * per_out:(g + 1) * per_out, g * per_in:(g + 1) * per_in] for g in range(groups)]
    if not np.array_equal(_dense_groups(np.concatenate(blocks), groups), w):
        return None
    return np.concatenate(blocks)


def _export_neuron(m: LIF, shape: tuple[int, ...], dt: float, name: str) -> nir.NIRNode:
    p = m.params
    if p.soft_reset:
        raise ValueError(f"{name}: the soft (subtractive) reset has no NIR equivalent (NIR's LIF and IF reset to v_reset); "
                         "use v_reset=<value> to export")
    beta = m.beta().detach().double().cpu()
    if isinstance(m, ParametricLIF) and m.per_channel is not None:
        beta = beta.view(-1, *([1] * (len(shape) - 1)))
    beta = np.broadcast_to(beta.numpy(), shape).copy()
    full = lambda value: np.full(shape, value, np.float64)  # noqa: E731 - float64: the values come back exactly
    meta = {f"neuro.{k}": getattr(p, k) for k in _META}
    if np.all(beta == 1.0):
        if p.decay_input:
            raise ValueError(f"{name}: beta = 1 with decay_input=True ignores its input; NIR has no such neuron")
        return nir.IF(r=full(1.0 / dt), v_threshold=full(p.v_th), v_reset=full(p.v_reset), metadata=meta)
    if np.any(beta >= 1.0) or np.any(beta < 0.0):
        raise ValueError(f"{name}: beta must be in [0, 1) for every neuron of an exported LIF, got range [{beta.min()}, {beta.max()}]")
    tau = dt / (1.0 - beta)
    r = np.ones(shape) if p.decay_input else tau / dt
    return nir.LIF(tau=tau, r=r, v_leak=full(p.v_leak), v_threshold=full(p.v_th),
                   v_reset=full(p.v_reset), metadata=meta)


def _export_definition(m: Neuron, shape: tuple[int, ...], dt: float, name: str) -> nir.NIRNode:
    """A :class:`~neuro.nn.Neuron` whose law is the LIF step (:meth:`~neuro.nn.Neuron.lif_form`, whatever its names) as
    NIR's LIF (or IF when it does not leak): :math:`h = \\beta v + c x + d` is ``tau = dt / (1 - beta)``,
    ``r = c tau / dt``, ``v_leak = d / (1 - beta)``."""
    what = f"{name}: Neuron of {m.law.name}"
    try:
        form = m.lif_form(shape)
    except ValueError as err:
        raise ValueError(f"{what} has no NIR node: NIR's neurons here are LIF and IF (one variable, a linear step, a reset to "
                         f"v_reset) and its law is not one ({err})") from None
    if form.v_reset is None:
        raise ValueError(f"{what}: its reset subtracts the threshold; NIR's LIF and IF reset to v_reset")
    if form.v0 != form.v_reset:
        raise ValueError(f"{what}: it starts at {form.v0}, not at its reset value {form.v_reset}; a NIR neuron has no initial state")
    beta, c, d = (a.reshape(shape) for a in (form.beta, form.scale, form.drive))
    full = lambda value: np.full(shape, value, np.float64)  # noqa: E731
    meta = {"neuro.surrogate": m.surrogate, "neuro.alpha": m.alpha, "neuro.detach_reset": m.detach_reset,
            "neuro.strict_threshold": form.strict, "neuro.reset_delay": False}
    if np.all(beta == 1.0):
        if np.any(d != 0):
            raise ValueError(f"{what}: it integrates a constant drive without leak; NIR's IF has none")
        return nir.IF(r=c / dt, v_threshold=full(form.v_th), v_reset=full(form.v_reset), metadata=meta)
    if np.any(beta >= 1.0) or np.any(beta < 0.0):
        raise ValueError(f"{what}: the decay must be in [0, 1) for every neuron of an exported LIF, got [{beta.min()}, {beta.max()}]")
    tau = dt / (1.0 - beta)
    return nir.LIF(tau=tau, r=c * tau / dt, v_leak=d / (1.0 - beta), v_threshold=full(form.v_th), v_reset=full(form.v_reset), metadata=meta)


def _export_cuba_chain(chain: _CubaChain, shape: tuple[int, ...], dt: float, name: str) -> nir.CubaLIF:
    """``[Scale(w)], SynapticCurrent(alpha), [Scale(k)], LIF`` as NIR's CubaLIF: ``tau_syn = dt / (1 - alpha)``,
    ``w_in = w``, and the LIF's ``tau_mem``, ``v_leak``, thresholds, with ``r`` times ``k``."""
    lif = _export_neuron(chain.neuron, shape, dt, name)
    if isinstance(lif, nir.IF):
        raise ValueError(f"{name}: a synaptic current into a neuron without leak (beta = 1); NIR's CubaLIF always leaks")
    alpha = np.broadcast_to(chain.current.alpha.detach().double().cpu().numpy(), shape).copy()
    if np.any(alpha >= 1.0):
        raise ValueError(f"{name}: SynapticCurrent alpha must be < 1 to export (tau_syn = dt / (1 - alpha)), got max {alpha.max()}")
    ones = np.ones(shape, np.float64)
    w_in = ones * chain.w_in.scale.detach().double().cpu().numpy() if chain.w_in is not None else ones
    gain = ones * chain.gain.scale.detach().double().cpu().numpy() if chain.gain is not None else ones
    return nir.CubaLIF(tau_syn=dt / (1.0 - alpha), tau_mem=lif.tau, r=lif.r * gain, v_leak=lif.v_leak, v_threshold=lif.v_threshold,
                       v_reset=lif.v_reset, w_in=w_in, metadata=lif.metadata)


def _export_cuba_definition(m: Neuron, shape: tuple[int, ...], dt: float, name: str) -> nir.CubaLIF:
    r"""A :class:`~neuro.nn.Neuron` of two variables whose law is the current-based LIF step (whatever its names):

    .. math::

        i_t = a\, i_{t-1} + b\, x_t, \qquad h_t = \beta\, v_{t-1} + k\, i_t + d, \qquad \text{spike where } h_t \ge v_{th},
        \ \ v_t = v_{reset}\ \text{(the current is not reset)}

    as NIR's CubaLIF (its forward-Euler step, as :func:`import_nir` reads it): ``tau_syn = dt / (1 - a)``,
    ``w_in = b / (1 - a)``, ``tau_mem = dt / (1 - beta)``, ``r = k / (1 - beta)``, ``v_leak = d / (1 - beta)``. The
    coefficients are read per neuron from the definition's expressions and the layer's values (a continuous model's
    propagators included)."""
    law = m.law
    what = f"{name}: Neuron of {law.name}"
    new, f, reset = law.substituted
    S, X = [sym(s) for s in law.states], INPUT
    live = {*S, X}

    def linear(e, part):
        e = sympy.expand(e)
        coef = [sympy.diff(e, z) for z in (*S, X)]
        if any(live & c.free_symbols for c in coef):
            raise ValueError(f"{what}: the {part} is not linear in {law.states[0]}, {law.states[1]} and the input; NIR's CubaLIF is")
        return (*coef, e.xreplace({z: 0 for z in live}))

    exprs = (*linear(new[law.states[0]], f"update of {law.states[0]}"), *linear(new[law.states[1]], f"update of {law.states[1]}"),
             *linear(f, "threshold function"), *(c for s in law.states for c in linear(reset[s], f"reset of {s}")))
    values = m.parameter_arrays(shape)
    names = sorted({p.name for e in exprs for p in e.free_symbols})
    missing = [p for p in names if p not in values]
    if missing:
        raise ValueError(f"{what}: {missing} are neither parameters nor the input")
    n = math.prod(shape)
    fn = sympy.lambdify([sym(p) for p in names], list(exprs), "numpy")
    # rows: new state 0, new state 1, threshold function, reset of state 0, reset of state 1; columns: d/ds0, d/ds1, d/dx, constant
    M = np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in fn(*[values[k] for k in names])]).reshape(5, 4, n)

    def same(u, w):
        return np.allclose(u, w, rtol=1e-12, atol=1e-12)

    # the current: the variable whose update does not read the other one
    currents = [j for j in (0, 1) if same(M[j, 1 - j], 0.0)]
    if len(currents) != 1:
        raise ValueError(f"{what} has no NIR node: of its 2 state variables {list(law.states)} exactly one must be a synaptic current "
                         "that the other does not drive (NIR's CubaLIF; its LIF and IF nodes have one variable)")
    j = currents[0]
    v_ = 1 - j
    cur, mem = law.states[j], law.states[v_]
    a, b, c0 = M[j, j], M[j, 2], M[j, 3]
    beta, ki, kx, d = M[v_, v_], M[v_, j], M[v_, 2], M[v_, 3]
    gv, gi, gx, r0 = M[2, v_], M[2, j], M[2, 2], M[2, 3]
    rv_cur, rv_mem = M[3 + j], M[3 + v_]
    if not same(rv_cur, M[j]):
        raise ValueError(f"{what}: its reset writes the current {cur}; NIR's CubaLIF resets only the membrane")
    if not (same(c0, 0.0) and np.all(b != 0)):
        raise ValueError(f"{what}: the current {cur} must be a * {cur} + b * input with b != 0 (no constant drive); NIR's CubaLIF "
                         "current is")
    k = kx / b
    if not same(ki, k * a):
        raise ValueError(f"{what}: {mem} must read the current after its update ({mem} = beta * {mem} + k * {cur}_new + d); a membrane "
                         "reading the previous current is not the CubaLIF step import_nir runs")
    g = np.where(beta != 0, gv / np.where(beta != 0, beta, 1.0), gx / np.where(kx != 0, kx, 1.0))
    if not (np.all(g > 0) and same(gv, g * beta) and same(gi, g * ki) and same(gx, g * kx)):
        raise ValueError(f"{what}: the threshold is not a rising bound on {mem} after the update ({mem} >= v_th)")
    theta = d - r0 / g
    if not same(theta, theta[0]):
        raise ValueError(f"{what}: its threshold differs between neurons; NIR's CubaLIF here takes one")
    if not (same(rv_mem[:3], 0.0) and same(rv_mem[3], rv_mem[3][0])):
        raise ValueError(f"{what}: its reset is not {mem} = one constant; NIR's CubaLIF resets to v_reset")
    v_reset = float(rv_mem[3][0])
    init = m.initial_values()
    if init[mem] != v_reset or init[cur] != 0.0:
        raise ValueError(f"{what}: it starts at {mem} = {init[mem]}, {cur} = {init[cur]}, not at {mem} = v_reset = {v_reset}, {cur} = 0; "
                         "a NIR neuron has no initial state")
    if np.any(a >= 1.0) or np.any(a < 0.0) or np.any(beta >= 1.0) or np.any(beta < 0.0):
        raise ValueError(f"{what}: the decays of {cur} and {mem} must be in [0, 1), got [{a.min()}, {a.max()}] and "
                         f"[{beta.min()}, {beta.max()}]")
    full = lambda value: np.full(shape, value, np.float64)  # noqa: E731
    meta = {"neuro.surrogate": m.surrogate, "neuro.alpha": m.alpha, "neuro.detach_reset": m.detach_reset,
            "neuro.strict_threshold": law.strict, "neuro.reset_delay": False}
    a, b, beta, k, d = (u.reshape(shape) for u in (a, b, beta, k, d))
    return nir.CubaLIF(tau_syn=dt / (1.0 - a), tau_mem=dt / (1.0 - beta), r=k / (1.0 - beta), v_leak=d / (1.0 - beta),
                       v_threshold=full(float(theta[0])), v_reset=full(v_reset), w_in=b / (1.0 - a), metadata=meta)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy().copy()


# ---------------------------------------------------------------- import


def import_nir(graph: nir.NIRGraph, dt: float = 1e-4) -> GraphModule:
    """A :class:`GraphModule` on ``[T, B, ...]`` tensors computing ``graph`` with steps of ``dt`` seconds.

    Supported nodes: Input, Output, Affine, Linear, Scale, Conv1d, Conv2d, AvgPool2d, Flatten, LIF, IF, CubaLIF;
    others, nested graphs and recurrent (cyclic) graphs raise ``TypeError`` / ``ValueError``.
    """
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    modules = {name: _import_node(node, dt, name) for name, node in graph.nodes.items()}
    return GraphModule(modules, [tuple(e) for e in graph.edges])


def _import_node(node: nir.NIRNode, dt: float, name: str) -> nn.Module:
    if isinstance(node, (nir.Input, nir.Output)):
        return nn.Identity()
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = torch.as_tensor(np.asarray(node.weight), dtype=torch.float32)
        bias = getattr(node, "bias", None)
        lin = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
        with torch.no_grad():
            lin.weight.copy_(w)
            if bias is not None:
                lin.bias.copy_(torch.as_tensor(np.asarray(bias), dtype=torch.float32))
        return lin
    if isinstance(node, nir.Scale):
        return Scale(torch.as_tensor(np.asarray(node.scale), dtype=torch.float32))
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        w = np.asarray(node.weight)
        groups = int((node.metadata or {}).get("neuro.groups", 1))
        if int(node.groups) == 1 and groups > 1:  # our export of a grouped convolution (_export_conv)
            grouped = _grouped(w, groups)
            if grouped is not None:
                w, node = grouped, copy.copy(node)
                node.groups = groups
        w = torch.as_tensor(w, dtype=torch.float32)
        cls = nn.Conv1d if isinstance(node, nir.Conv1d) else nn.Conv2d
        pad = node.padding if isinstance(node.padding, str) else _ints(node.padding)
        conv = cls(w.shape[1] * node.groups, w.shape[0], tuple(w.shape[2:]), stride=_ints(node.stride), padding=pad,
                   dilation=_ints(node.dilation), groups=int(node.groups), bias=True)
        with torch.no_grad():
            conv.weight.copy_(w)
            conv.bias.copy_(torch.as_tensor(np.asarray(node.bias), dtype=torch.float32).reshape(-1).expand(w.shape[0]))
        return PerStep(conv)
    if isinstance(node, nir.AvgPool2d):
        return PerStep(nn.AvgPool2d(_ints(node.kernel_size), stride=_ints(node.stride), padding=_ints(node.padding)))
    if isinstance(node, nir.Flatten):
        shift = lambda d: d + 2 if d >= 0 else d  # noqa: E731 - past [T, B]
        return nn.Flatten(shift(int(node.start_dim)), shift(int(node.end_dim)))
    if isinstance(node, nir.LIF):
        return _import_lif(node.tau, node.r, node.v_leak, node.v_threshold, node.v_reset, node.metadata, dt, name)
    if isinstance(node, nir.IF):
        c = dt * np.asarray(node.r, np.float64)
        layer = IF(v_threshold=_uniform(node.v_threshold, "v_threshold", name), v_reset=_uniform(node.v_reset, "v_reset", name),
                   **_meta(node.metadata))
        return layer if np.allclose(c, 1.0, rtol=1e-6, atol=0) else nn.Sequential(Scale(_tensor(c)), layer)
    if isinstance(node, nir.CubaLIF):
        tau_syn = np.asarray(node.tau_syn, np.float64)
        alpha = 1.0 - dt / tau_syn
        if np.any(alpha < 0) or np.any(alpha > 1):
            raise ValueError(f"{name}: tau_syn must be >= dt = {dt}, got min {tau_syn.min()}")
        syn = [SynapticCurrent(_tensor(alpha))]
        w_in = np.asarray(node.w_in, np.float64)
        if not np.allclose(w_in, 1.0, rtol=1e-6, atol=0):
            syn.insert(0, Scale(_tensor(w_in)))
        lif = _import_lif(node.tau_mem, node.r, node.v_leak, node.v_threshold, node.v_reset, node.metadata, dt, name)
        return nn.Sequential(*syn, *(lif if isinstance(lif, nn.Sequential) else [lif]))
    if isinstance(node, nir.NIRGraph):
        raise ValueError(f"{name}: nested NIR graphs (subgraphs) are not supported")
    raise TypeError(f"{name}: NIR node {type(node).__name__} has no neuro.nn equivalent; supported: Input, Output, Affine, Linear, Scale, "
                    "Conv1d, Conv2d, AvgPool2d, Flatten, LIF, IF, CubaLIF")


def _import_lif(tau, r, v_leak, v_threshold, v_reset, metadata, dt: float, name: str) -> nn.Module:
    tau = np.asarray(tau, np.float64)
    beta = 1.0 - dt / tau
    if np.any(beta < 0) or np.any(beta > 1):
        raise ValueError(f"{name}: tau must be >= dt = {dt} (forward Euler), got min {tau.min()}")
    c = dt / tau * np.asarray(r, np.float64)
    scale = None
    if np.allclose(c, 1.0 - beta, rtol=1e-6, atol=0):
        decay_input = True
    else:
        decay_input = False
        if not np.allclose(c, 1.0, rtol=1e-6, atol=0):
            scale = c
    b = np.unique(beta)
    lif = LIF(tau=None, beta=float(b[0]) if b.size == 1 else 0.5, v_threshold=_uniform(v_threshold, "v_threshold", name),
              v_reset=_uniform(v_reset, "v_reset", name), v_leak=_uniform(v_leak, "v_leak", name), decay_input=decay_input, **_meta(metadata))
    if b.size > 1:
        lif._beta_neuron = torch.as_tensor(beta, dtype=torch.float64)  # per-neuron decay, broadcast against [B, ...]
    return lif if scale is None else nn.Sequential(Scale(_tensor(scale)), lif)


def _meta(metadata: dict | None) -> dict:
    """Our training-only fields from a node's metadata; NIR's strict threshold when absent."""
    md = metadata or {}
    kw = {"strict_threshold": True}
    for k in _META:
        if f"neuro.{k}" in md:
            v = md[f"neuro.{k}"]
            kw[k] = str(v) if k == "surrogate" else float(v) if k == "alpha" else bool(v)
    return kw


def _uniform(values, what: str, name: str) -> float:
    u = np.unique(np.asarray(values, np.float64))
    if u.size != 1:
        raise ValueError(f"{name}: {what} differs between neurons ({u.size} values); neuro.nn neurons take one value per layer")
    return float(u[0])


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def _ints(v):
    return tuple(int(x) for x in np.atleast_1d(v)) if np.ndim(v) else int(v)
