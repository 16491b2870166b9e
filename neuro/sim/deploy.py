r"""Deploy a trained :mod:`neuro.nn` network on the event-driven simulator: :func:`from_nn`.

A feed-forward ``nn.Sequential`` alternates *synaptic* layers (stateless and affine in their input:
``nn.Linear``, ``nn.Conv1d``/``Conv2d`` in :class:`~neuro.nn.PerStep` or bare, average pooling,
``nn.Flatten``/``Unflatten``, ``nn.BatchNorm`` in eval mode, :class:`~neuro.nn.layers.Scale`,
``nn.Identity``, ``nn.Dropout``, ``DelayedLinear`` with integer delays) with *neuron* layers
(:class:`neuro.nn.LIF`, :class:`~neuro.nn.IF`, :class:`~neuro.nn.ParametricLIF`, :class:`neuro.nn.Neuron`). Every run of synaptic layers
between two neuron layers is one affine map :math:`x_t = \sum_d W_d\, s_{t-d} + b`; its non-zero entries become
the synapses of one :class:`~neuro.sim.Projection` (a convolution: one synapse per kernel tap and position;
``d`` a synapse's delay) and :math:`b` the neurons' constant ``bias``. Each neuron layer becomes a
:class:`~neuro.sim.discrete.DiscreteLIF` with the layer's law, parameters and per-neuron decay.

**Layers built from a definition** (:class:`neuro.nn.Neuron`). A law that is the LIF step whatever its names
(:meth:`neuro.nn.Neuron.lif_form`: one variable, an update linear in it and the input, a rising threshold, a reset to a
constant or by the threshold), from a :class:`~neuro.dynamics.discrete.DiscreteNeuron` or a continuous model, becomes a
:class:`~neuro.sim.discrete.DiscreteLIF` (its input scale folded into the synaptic weights and the bias, its constant
drive into the bias). Any other continuous :class:`~neuro.dynamics.NeuronModel` whose input jumps a state variable
(``input="v"``) runs as that model, ``Population(n, model, **values)`` with the layer's parameters (per neuron where
learned so), at the layer's ``dt``: the synapses add their weights through the receptor that ``model.inputs`` maps to the
input variable, and a bias arrives as a spike of weight :math:`b_j` every step. Refused with a :class:`ConversionError`
naming the layer: an update-form law that is not the LIF step (the simulator runs equations, not update statements),
an input that sets a parameter (``input="I"``: no synapse writes a parameter), no receptor mapped to the input
variable, a ``dt`` other than the layer's, and an initial state that the law moves without input (the simulator runs
layer :math:`k` for :math:`k` steps before its first input arrives).

**Timing.** The simulator delivers a spike emitted at step :math:`t` at the end of that step, so a layer
integrates it at :math:`t + 1`: neuron layer :math:`k` (1-based) emits at simulator step :math:`t + k` the
spikes the ``nn`` forward gives at step :math:`t`, for input spikes at step :math:`t` (a
:class:`~neuro.sim.SpikeSource`). :meth:`DeployedNetwork.present` undoes the shift and returns
``[T, ...]`` arrays on the ``nn`` time base. The order in which a neuron's input is summed differs (events
against a matrix product), so in float64 the membranes agree to rounding (~1e-15) and the spikes agree
unless a potential lands within rounding of the threshold.

**Not converted** (a ``ValueError`` names the layer and the reason): max pooling and other non-linear
stateless layers (not a fixed synaptic map), stateful filters (``SynapticCurrent``), hand-written neurons other
than the LIF family (:class:`~neuro.nn.ALIF`, multi-level, ReLU: write them as a definition), spiking self-attention (products of two activations), a
``LearnableDelayLinear`` before ``to_fixed()``, and non-spiking layers after the last neuron layer (the
simulator emits spikes; read the last spiking layer's counts).

Example::

    model = nn.Sequential(nn.Linear(64, 32), LIF(tau=2.0), nn.Linear(32, 10), LIF(tau=2.0))
    net = from_nn(model, (64,))
    out = net.present(spikes)            # spikes [T, 64] -> [[T, 32], [T, 10]]
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .discrete import DiscreteLIF
from .monitors import SpikeMonitor
from .network import Network
from .populations import Population, SpikeSource
from .projections import Projection

__all__ = ["DeployedNetwork", "from_nn", "ConversionError"]

_PROBE_CHUNK = 512


class ConversionError(ValueError):
    """A layer of the model has no exact counterpart in the simulator."""


@dataclass
class _Affine:
    """The pending affine map since the last spiking layer: ``x = sum_d terms[d] @ s_{t-d} + bias`` on flattened shapes."""

    n_in: int
    shape: tuple
    terms: dict = field(default_factory=dict)
    bias: np.ndarray | None = None
    names: list = field(default_factory=list)

    @classmethod
    def identity(cls, shape: tuple) -> _Affine:
        n = math.prod(shape)
        return cls(n, tuple(shape), {0: sp.identity(n, format="csr", dtype=np.float64)}, np.zeros(n), [])

    def then(self, m: sp.spmatrix, b: np.ndarray, shape: tuple, name: str, delays: dict | None = None) -> None:
        """Compose with ``y = m x + b`` (or, with ``delays``, ``y = sum_e delays[e] x_{t-e} + b``)."""
        parts = {0: sp.csr_matrix(m)} if delays is None else {e: sp.csr_matrix(w) for e, w in delays.items()}
        if any(e > 0 for e in parts) and np.any(self.bias != 0):
            raise ConversionError(f"{name}: a delayed layer after a layer with a bias ({', '.join(self.names)}) is not a constant "
                                  "input at the first steps (the bias arrives late); not supported")
        new = {}
        for d, a in self.terms.items():
            for e, w in parts.items():
                prod = (w @ a).tocsr()
                new[d + e] = prod if d + e not in new else (new[d + e] + prod).tocsr()
        total = sum(parts.values())
        self.terms = new
        self.bias = np.asarray(total @ self.bias).ravel() + b
        self.shape = tuple(shape)
        self.names.append(name)

    @property
    def is_identity(self) -> bool:
        return not self.names


def _torch():
    import torch

    return torch


def _flat_modules(model) -> list[tuple[str, object]]:
    from torch import nn

    if not isinstance(model, nn.Sequential):
        raise ConversionError(f"from_nn converts an nn.Sequential (a feed-forward chain of layers), got {type(model).__name__}; "
                              "put the layers in an nn.Sequential")
    out = []
    for name, m in model.named_children():
        if isinstance(m, nn.Sequential):
            out += [(f"{name}.{n}", c) for n, c in _flat_modules(m)]
        else:
            out.append((name, m))
    return out


def _kind(m) -> str:
    """'neuron', 'linear' (a stateless affine layer we can probe), 'delayed', or the reason it cannot be converted."""
    from torch import nn

    from ..nn import LIF
    from ..nn.layers import PerStep, Scale, SynapticCurrent
    from ..nn.neuron import Neuron

    inner = m.layer if isinstance(m, PerStep) else m
    tname = type(inner).__name__
    if isinstance(m, LIF):
        return "neuron"
    if isinstance(m, Neuron):
        return "definition"
    if tname == "DelayedLinear":
        return "delayed"
    if tname == "LearnableDelayLinear":
        return "LearnableDelayLinear spreads each synapse over several delays while sigma > 0: call .to_fixed() (integer delays) first"
    if isinstance(inner, SynapticCurrent):
        return "a synaptic current filter (state across steps) has no synapse counterpart; the simulator's DiscreteLIF has no synaptic filter"
    if getattr(m, "is_spiking", False) or getattr(inner, "is_spiking", False):
        return (f"{tname} is a spiking neuron outside the LIF family (LIF, IF, ParametricLIF) and not a neuro.nn.Neuron built from a "
                "definition; its law is not in the simulator")
    if isinstance(inner, nn.MultiheadAttention) or "attention" in tname.lower() or tname in ("SSA", "SDSA", "LinearSDSA", "MembraneSSA"):
        return "spiking self-attention multiplies two activations: not a fixed synaptic map (out of scope)"
    linear = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d,
              nn.AdaptiveAvgPool2d, nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
              nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, Scale)
    if isinstance(inner, linear):
        if isinstance(inner, nn.ConstantPad1d | nn.ConstantPad2d) and inner.value != 0:
            return "padding with a non-zero constant is not affine in the spikes"
        return "linear"
    if isinstance(inner, nn.MaxPool1d | nn.MaxPool2d | nn.MaxPool3d | nn.AdaptiveMaxPool2d):
        return "max pooling is not a fixed synaptic map (the max is not linear); use average pooling"
    return f"{tname} is not a known stateless affine layer nor an LIF-family neuron"


def _bias_free(m):
    """A copy of ``m`` (or its PerStep's layer) in eval mode without its additive bias, and the bias it removed (or None)."""
    from torch import nn

    from ..nn.layers import PerStep

    c = copy.deepcopy(m).eval()
    inner = c.layer if isinstance(c, PerStep) else c
    if isinstance(inner, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d) and inner.bias is not None:
        inner.bias = None
        return c, True
    return c, False


def _probe(m, shape: tuple, name: str) -> tuple[sp.csr_matrix, np.ndarray, tuple]:
    """The affine map of a stateless layer on one sample: columns from one-hot inputs (exact for weights), bias from zeros."""
    torch = _torch()
    n = math.prod(shape)
    ref = copy.deepcopy(m).eval().double()
    lin, _ = _bias_free(m)
    lin = lin.double()
    with torch.no_grad():
        try:
            zero = ref(torch.zeros(1, 1, *shape, dtype=torch.float64))
        except Exception as err:  # noqa: BLE001 - any shape error is reported with the layer's name
            raise ConversionError(f"{name} ({type(m).__name__}) does not accept per-step input [T, B, {', '.join(map(str, shape))}]: {err}") from err
        out_shape = tuple(zero.shape[2:])
        b = zero.reshape(-1).numpy().copy()
        b_lin = lin(torch.zeros(1, 1, *shape, dtype=torch.float64)).reshape(-1).numpy()
        cols = []
        for lo in range(0, n, _PROBE_CHUNK):
            hi = min(n, lo + _PROBE_CHUNK)
            e = torch.zeros(1, hi - lo, n, dtype=torch.float64)
            e[0, torch.arange(hi - lo), torch.arange(lo, hi)] = 1.0
            y = lin(e.reshape(1, hi - lo, *shape)).reshape(hi - lo, -1).numpy() - b_lin[None, :]
            cols.append(sp.csr_matrix(y.T))
        mat = sp.hstack(cols).tocsr()
        # check the layer is affine: f(x) = M x + b on a random input
        x = torch.rand(1, 1, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        want = ref(x).reshape(-1).numpy()
        got = mat @ x.reshape(-1).numpy() + b
        if not np.allclose(got, want, rtol=1e-9, atol=1e-9 * (1 + np.abs(want).max(initial=0))):
            raise ConversionError(f"{name} ({type(m).__name__}) is not affine in its input (max deviation {np.abs(got - want).max():.3g})")
    mat.eliminate_zeros()
    return mat, b, out_shape


def _delayed(m, shape: tuple, name: str) -> tuple[dict, np.ndarray, tuple]:
    if len(shape) != 1 or shape[0] != m.in_features:
        raise ConversionError(f"{name} (DelayedLinear) needs input ({m.in_features},), got {shape}")
    w = m.weight.detach().double().numpy()
    d = m.delays.detach().long().numpy()
    parts = {int(e): sp.csr_matrix(np.where(d == e, w, 0.0)) for e in np.unique(d)}
    b = np.zeros(m.out_features) if m.bias is None else m.bias.detach().double().numpy().copy()
    return parts, b, (m.out_features,)


def _neuron(m, shape: tuple, name: str, bias: np.ndarray) -> DiscreteLIF:
    from ..nn import ParametricLIF

    torch = _torch()
    p = m.params
    beta = m.beta().detach().to(torch.float64).reshape(-1)
    n = math.prod(shape)
    if beta.numel() == 1:
        b = np.full(n, float(beta[0]))
    elif isinstance(m, ParametricLIF) and m.per_channel is not None:
        if not shape or shape[0] != beta.numel():
            raise ConversionError(f"{name}: per-channel ParametricLIF with {beta.numel()} channels on neurons of shape {shape}")
        b = np.broadcast_to(beta.numpy().reshape(-1, *([1] * (len(shape) - 1))), shape).reshape(-1).copy()
    else:
        raise ConversionError(f"{name}: decay of shape {tuple(beta.shape)} not understood")
    return DiscreteLIF(n, beta=b, v_th=p.v_th, v_reset=p.v_reset, v_leak=p.v_leak, decay_input=p.decay_input,
                       strict_threshold=p.strict_threshold, reset_delay=p.reset_delay, bias=bias, name=name)


@dataclass
class _Layer:
    """A neuron layer's population and how its synapses and bias reach it."""

    pop: object
    receptor: str = "exc"
    scale: np.ndarray | None = None  # per-neuron factor on every incoming weight (a DiscreteLIF from a definition)
    constant: np.ndarray | None = None  # per-neuron jump every step (the bias of a model population), or None
    rest: dict = field(default_factory=dict)  # state variable -> value at the start of a sample


def _definition(m, shape: tuple, name: str, bias: np.ndarray, dt: float) -> _Layer:
    """The population of a :class:`neuro.nn.Neuron` layer (module docstring)."""
    from ..dynamics.model import NeuronModel

    torch = _torch()
    law = m.law
    what = f"layer {name!r} (Neuron of {law.name})"
    n = math.prod(shape)
    try:
        form = m.lif_form(shape)
    except ValueError as err:
        form, why = None, str(err)
    if form is not None:
        if np.any((form.beta < 0) | (form.beta > 1)):
            raise ConversionError(f"{what}: its law is the LIF step with a decay outside [0, 1] ({form.beta.min():g} to {form.beta.max():g}); "
                                  "DiscreteLIF needs 0 <= beta <= 1")
        pop = DiscreteLIF(n, beta=form.beta, v_th=form.v_th, v_reset=form.v_reset, v_leak=0.0, decay_input=False,
                          strict_threshold=form.strict, bias=form.scale * bias + form.drive, v_init=form.v0, name=name)
        return _Layer(pop, scale=form.scale, rest={"v": form.v0})
    model = m.definition
    if not isinstance(model, NeuronModel):
        raise ConversionError(f"{what}: an update-form law (DiscreteNeuron) that is not the LIF step ({why}); the simulator runs the LIF "
                              "step and continuous neuro.dynamics.NeuronModel definitions, not update statements: write the neuron as "
                              "a NeuronModel (equations) to deploy it")
    target = m.input_target
    if target not in model.states:
        raise ConversionError(f"{what}: its input sets the parameter {target!r} (input={target!r}); the simulator's synapses add to "
                              "a state variable: train it with input='v' (a jump of a state variable) to deploy it")
    receptors = [r for r, var in model.inputs.items() if var == target]
    if not receptors:
        raise ConversionError(f"{what}: the model's inputs {model.inputs} map no receptor to {target!r}, the variable its input jumps; "
                              f"add inputs={{'v': {target!r}}} to the definition")
    if not math.isclose(m.dt, dt, rel_tol=1e-12):
        raise ConversionError(f"{what}: trained at dt = {m.dt:g} ms, deployed at dt = {dt:g} ms; call from_nn(..., dt={m.dt:g})")
    rest = m.initial_values()
    keep = m.store_state, m.state_seq
    m.store_state = False
    try:
        with torch.no_grad():
            spikes, after = m.run(torch.zeros(1, 1, *shape, dtype=torch.float64))
    finally:
        m.store_state, m.state_seq = keep
    moved = {k: float(np.abs(v.numpy() - rest[k]).max()) for k, v in after.items()}
    if spikes.any() or any(d > 1e-12 * (1.0 + abs(rest[k])) for k, d in moved.items()):
        raise ConversionError(f"{what}: its initial state {rest} is not at rest (one step without input moves it by {moved}"
                              f"{' and fires' if spikes.any() else ''}); the simulator runs layer k for k steps before its first input "
                              "arrives, so it would not start where the nn forward starts: give initial values at the law's rest")
    values = m.parameter_arrays(shape)
    params = {p: values[p] for p in law.params}
    params.update(rest)
    pop = Population(n, model, name=name, **params)
    constant = np.asarray(bias, dtype=np.float64) if np.any(bias != 0) else None
    return _Layer(pop, receptor="v" if "v" in receptors else receptors[0], constant=constant, rest=rest)


def _input_shape(input_spec) -> tuple:
    torch = _torch()
    if isinstance(input_spec, torch.Tensor):
        if input_spec.dim() < 3:
            raise ValueError(f"a sample input must be [T, B, ...], got shape {tuple(input_spec.shape)}")
        return tuple(input_spec.shape[2:])
    if isinstance(input_spec, int):
        return (input_spec,)
    shape = tuple(int(s) for s in input_spec)
    if not shape or min(shape) < 1:
        raise ValueError(f"input_spec must be the per-sample input shape (e.g. (64,) or (1, 8, 8)), got {input_spec!r}")
    return shape


class DeployedNetwork(Network):
    """A :class:`~neuro.sim.Network` built by :func:`from_nn`: ``source`` (the input spikes), ``layers`` (one
    population per neuron layer: a :class:`DiscreteLIF`, or a model's population for a :class:`neuro.nn.Neuron` of a
    continuous model; shapes in ``shapes``), ``synapses`` (the projection into each layer).

    :meth:`present` runs one input and returns every layer's spikes on the ``nn`` time base.
    """

    def __init__(self, input_shape: tuple, dt: float = 1.0, seed: int = 0, backend: str = "cpu"):
        super().__init__(dt=dt, seed=seed, backend=backend)
        self.input_shape = tuple(input_shape)
        self.source = SpikeSource(math.prod(self.input_shape), [], [], name="input")
        self.add(self.source)
        self.layers: list[Population] = []
        self.shapes: list[tuple] = []
        self.synapses: list[Projection] = []
        self.sources: list[tuple[str, ...]] = []  # the nn layers whose composed map each projection is
        self.rest: list[dict] = []  # each layer's state at the start of a sample
        self._constant: list[tuple[SpikeSource, int]] = []  # (bias source, 1-based layer) of model populations
        self._monitors: list[SpikeMonitor] = []
        self.last_counts: dict = {}

    @property
    def latency(self) -> int:
        """Steps between an input spike and the last layer's response to it (one per neuron layer)."""
        return len(self.layers)

    def add_layer(self, pop: Population, shape: tuple, proj: Projection, sources: tuple[str, ...] = (), rest: dict | None = None) -> None:
        self.add(pop, proj)
        self.sources.append(tuple(sources))
        self.layers.append(pop)
        self.shapes.append(tuple(shape))
        self.synapses.append(proj)
        self.rest.append(dict(rest) if rest is not None else {"v": pop.v_rest})

    def add_constant_input(self, layer: Population, weights: np.ndarray, receptor: str) -> None:
        """A per-neuron jump ``weights`` into ``layer`` (the last one added) at every step of a sample: a source that
        :meth:`set_input` makes fire once per step, timed so that it arrives with the layer's input."""
        idx = np.flatnonzero(weights)
        src = SpikeSource(1, [], [], name=f"bias->{layer.name}")
        proj = Projection(src, layer, (np.zeros(idx.size, dtype=np.int64), idx), weight=weights[idx], receptor=receptor,
                          name=f"bias->{layer.name}")
        self.add(src, proj)
        self._constant.append((src, len(self.layers)))

    def reset_state(self) -> None:
        """Every neuron back to its resting potential, no input pending, no spike in flight (the ``nn`` forward's start)."""
        self._ensure_built()
        s = self._s
        for k, (pop, rest) in enumerate(zip(self.layers, self.rest), start=1):
            if not isinstance(pop, DiscreteLIF):  # a model's population: its variables, wherever they are kept
                for name, value in rest.items():
                    setattr(pop, name, value)
                continue
            sl = slice(pop.start, pop.start + pop.n)
            s.v[sl] = rest["v"]
            s.u[sl] = -float(k)  # hold layer k for the k steps before its first input arrives (DiscreteLIF)
            s.x1[sl] = 0.0
            s.x2[sl] = 0.0
        s.hist_n[:] = 0
        s.hist_step[:] = -1

    def set_input(self, spikes) -> int:
        """Input spikes ``[T, *input_shape]`` (or ``[T, 1, *input_shape]``; 0/1 values) from the current step on; returns T."""
        x = np.asarray(spikes.detach().cpu().numpy() if hasattr(spikes, "detach") else spikes)
        if x.ndim == len(self.input_shape) + 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"input spikes must be [T, {', '.join(map(str, self.input_shape))}] (batch 1), got {x.shape}")
        if np.any((x != 0) & (x != 1)):
            raise ValueError("input spikes must be 0 or 1 (a SpikeSource emits unit events); encode real-valued inputs as spikes first")
        flat = x.reshape(x.shape[0], -1)
        t, i = np.nonzero(flat)
        self.source.times = (self.step + t).astype(np.float64) * self.dt
        self.source.indices = i.astype(np.int64)
        T = x.shape[0]
        for src, k in self._constant:  # arrives at the end of step t + k - 1: with layer k's input of nn step t
            src.times = (self.step + k - 1 + np.arange(T)).astype(np.float64) * self.dt
            src.indices = np.zeros(T, dtype=np.int64)
        self.built = False
        return x.shape[0]

    def present(self, spikes, reset: bool = True, record: bool = True) -> list[np.ndarray]:
        """Run one input ``[T, *input_shape]`` for ``T + latency`` steps; returns each layer's spikes ``[T, *shape]`` (``nn`` time base).

        ``reset``: start from rest (as the ``nn`` forward does for every sample). ``self.last_counts`` gets the
        simulator's counts for this run (including the ``latency`` steps that drain the pipeline).
        """
        T = self.set_input(spikes)
        for mon in self._monitors:
            self.monitors.remove(mon)
        self._monitors = [SpikeMonitor(pop) for pop in self.layers] if record else []
        self.add(*self._monitors)
        self._ensure_built()
        if reset:
            self.reset_state()
        before = dict(self.counts)
        t0 = self.step
        self.run((T + self.latency) * self.dt, progress=False)
        self.last_counts = {k: self.counts[k] - before.get(k, 0) for k in self.counts}
        out = []
        for k, (mon, shape) in enumerate(zip(self._monitors, self.shapes), start=1):
            steps = np.rint(mon.t / self.dt).astype(np.int64) - t0 - k
            keep = (steps >= 0) & (steps < T)
            arr = np.zeros((T, math.prod(shape)), dtype=np.float64)
            arr[steps[keep], mon.i[keep]] = 1.0
            out.append(arr.reshape(T, *shape))
        return out


def from_nn(model, input_spec, dt: float = 1.0, seed: int = 0, readout_plasticity=None, modulator: str = "dopamine",
            backend: str = "cpu") -> DeployedNetwork:
    """Convert a trained feed-forward ``neuro.nn`` SNN (an ``nn.Sequential``) into a simulator network (see the module docstring).

    ``input_spec``: the per-sample input shape (``(64,)``, ``(1, 8, 8)``) or a sample input ``[T, B, ...]``.
    ``dt``: the simulator's step (ms) standing for one ``nn`` step. Raises :class:`ConversionError` (a
    ``ValueError``) naming the first layer that has no exact counterpart.
    ``readout_plasticity``: a :class:`~neuro.ops.three_factor.RewardModulatedSTDP` (or ``PairSTDP``) for the synapses
    into the last layer, which then learn in the compiled loop; a three-factor rule reads the network modulator
    ``modulator`` (created here; raise it with :meth:`~neuro.sim.Network.release`). Its bounds must hold the trained weights.
    ``backend``: the simulator's (``"cpu"``, ``"cuda"``; see :class:`~neuro.sim.Network`).
    """
    shape = _input_shape(input_spec)
    net = DeployedNetwork(shape, dt=dt, seed=seed, backend=backend)
    pending = _Affine.identity(shape)
    pre = net.source
    for name, m in _flat_modules(model):
        kind = _kind(m)
        if kind == "linear":
            mat, b, out_shape = _probe(m, pending.shape, name)
            pending.then(mat, b, out_shape, name)
        elif kind == "delayed":
            parts, b, out_shape = _delayed(m, pending.shape, name)
            pending.then(None, b, out_shape, name, delays=parts)
        elif kind in ("neuron", "definition"):
            layer = _Layer(_neuron(m, pending.shape, f"{name}", pending.bias)) if kind == "neuron" else \
                _definition(m, pending.shape, name, pending.bias, dt)
            pop = layer.pop
            pres, posts, ws, ds = [], [], [], []
            for d, a in sorted(pending.terms.items()):
                coo = a.tocoo()
                keep = coo.data != 0
                pres.append(coo.col[keep])
                posts.append(coo.row[keep])
                w = coo.data[keep]
                ws.append(w if layer.scale is None else w * layer.scale[coo.row[keep]])
                ds.append(np.full(int(keep.sum()), float(d) * dt))
            pre_i, post_i = np.concatenate(pres).astype(np.int64), np.concatenate(posts).astype(np.int64)
            proj = Projection(pre, pop, (pre_i, post_i), weight=np.concatenate(ws), delay=np.concatenate(ds), receptor=layer.receptor,
                              multapses=len(pending.terms) > 1, name=f"{pre.name}->{name}")
            net.add_layer(pop, pending.shape, proj, tuple(pending.names), rest=layer.rest or None)
            if layer.constant is not None:
                net.add_constant_input(pop, layer.constant, layer.receptor)
            pre = pop
            pending = _Affine.identity(pending.shape)
        else:
            raise ConversionError(f"layer {name!r} ({type(m).__name__}) cannot be converted: {kind}")
    if not net.layers:
        raise ConversionError("the model has no spiking neuron layer (LIF, IF, ParametricLIF, Neuron) to deploy")
    if not pending.is_identity:
        raise ConversionError(f"layers after the last neuron layer ({', '.join(pending.names)}) are not spiking: the simulator emits spikes, "
                              "so deploy the model up to its last neuron layer and read that layer's spike counts")
    if readout_plasticity is not None:
        from ..ops.three_factor.params import RewardModulatedSTDP

        old = net.synapses[-1]
        three = isinstance(readout_plasticity, RewardModulatedSTDP)
        if three and modulator not in net.modulators:
            net.add_modulator(modulator)
        new = Projection(old.pre, old.post, (old.pre_index, old.post_index), weight=old.weights, delay=old.delays, receptor=old.receptor,
                         plasticity=readout_plasticity, modulator=modulator if three else None, multapses=True, name=old.name)
        net.projections[net.projections.index(old)] = new
        new.network = net
        net.synapses[-1] = new
    return net
