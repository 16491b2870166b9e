r"""A spiking layer built from a neuron definition: :class:`Neuron`, multi-step on ``[T, B, ...]``.

The definition is a :class:`~neuro.dynamics.discrete.DiscreteNeuron` (one time step written directly) or a continuous
:class:`~neuro.dynamics.NeuronModel` in Brian2's syntax, discretised at ``dt`` by its integration method. Both become
one step

.. math::

    n_t = U(z_{t-1}, x_t), \qquad s_t = H(f_t), \qquad z_t = (1 - s_t)\, n_t + s_t\, R(n_t)

(update, threshold function :math:`f`, reset :math:`R`; :mod:`neuro.dynamics.discrete`), from which code is generated
(:mod:`neuro.dynamics.torchgen`): a torch reference (autograd through the loop over steps; the spike's derivative is
the named surrogate at :math:`f = 0`) and fused Numba kernels, forward over all T steps and backward from the symbolic
derivatives of the step, as the torch custom op ``neuro::neuron_multi_step`` (:mod:`neuro.dynamics.torchop`). On CUDA
tensors the same op runs CUDA kernels generated from the same expressions (:mod:`neuro.dynamics.torchgen_cuda`, one
thread per neuron, compiled by CuPy at first use): float32 and float64, and float16 / bfloat16 stored in their type and
computed in float32.

Example::

    from neuro.dynamics.discrete import DiscreteNeuron
    from neuro.nn import Neuron

    lif = DiscreteNeuron(update="v = beta * v + (1 - beta) * x", threshold="v >= v_th", reset="v = 0",
                         parameters={"beta": 0.9, "v_th": 1.0})
    layer = Neuron(lif, surrogate="atan", alpha=2.0, learnable={"beta": "neuron"}, shape=(700,))
    spikes = layer(torch.rand(100, 32, 700))                   # [T, B, N] -> [T, B, N]
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import numpy as np
import sympy
import torch
from torch import nn

from .. import backend as _backend
from ..dynamics import units as U
from ..dynamics.discrete import INPUT, DiscreteNeuron, StepLaw, as_law, sym
from ..dynamics.equations import DefinitionError
from ..dynamics.model import NeuronModel
from ..dynamics.torchop import fused_multi_step, reference_multi_step, register
from ..ops.surrogate.reference import surrogate_id
from .nonfinite import NonFiniteCheck
from .timemajor import TimeMajorInput

__all__ = ["Neuron", "LIFForm"]

log = logging.getLogger(__name__)
KINDS = ("shared", "neuron", "channel")
_CUDA_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


@functools.cache
def _log_reference(device: str, dtype: str) -> None:
    log.warning("neuro.nn.Neuron: no generated kernel for %s tensors on %s yet; running the torch reference", dtype, device)


@dataclass(frozen=True)
class LIFForm:
    r"""A one-variable law that is the LIF step (:meth:`Neuron.lif_form`), per neuron of a layer:

    .. math::

        h_t = \beta\, v_{t-1} + c\, x_t + d, \qquad s_t = H(h_t - v_{th}), \qquad
        v_t = h_t (1 - s_t) + v_{reset}\, s_t \ \text{(hard)}\ \text{or}\ h_t - v_{th}\, s_t \ \text{(soft,}\ v_{reset} = \text{None)}

    ``beta``, ``scale`` (:math:`c`) and ``drive`` (:math:`d`) are float64 arrays over the flattened neurons;
    ``strict``: fires on :math:`h_t > v_{th}`; ``v0``: the starting potential."""

    beta: np.ndarray
    scale: np.ndarray
    drive: np.ndarray
    v_th: float
    v_reset: float | None
    strict: bool
    v0: float


def _ops(expr: sympy.Expr, live: set) -> tuple[int, int]:
    """``(macs, acs)`` of one evaluation of ``expr``: multiplications, divisions, powers and functions count as MACs,
    additions, subtractions and comparisons as ACs; a term of constants alone (no symbol of ``live``) is computed once,
    not at every step, and counts nothing."""
    if expr.is_Atom or not (expr.free_symbols & live):
        return 0, 0
    macs = acs = 0
    for a in expr.args:
        m, c = _ops(a, live)
        macs, acs = macs + m, acs + c
    n = len(expr.args) - 1
    if expr.is_Add or isinstance(expr, sympy.core.relational.Relational):
        acs += max(n, 1)
    elif expr.is_Mul:
        macs += n - (1 if expr.args[0] == -1 else 0)  # a sign is not a multiplication
    else:
        macs += 1
    return macs, acs


def _input_parameter(model, law) -> str | None:
    """The parameter a continuous model's input sets (``input="I"``): the model's parameter missing from the law's."""
    gone = [p for p in model.params if p not in law.params]
    return gone[0] if gone else None


class Neuron(NonFiniteCheck, TimeMajorInput, nn.Module):
    r"""Spiking neurons of a user's definition (module docstring), all T steps in one call.

    Args:
        model: a :class:`~neuro.dynamics.discrete.DiscreteNeuron` or a :class:`~neuro.dynamics.NeuronModel`.
        surrogate, alpha: the spike's surrogate derivative (:func:`neuro.nn.spike`'s table) and its slope.
        dt: the time step of a continuous model (ms, or a time quantity).
        input: for a continuous model, the state variable the input jumps before each step or the parameter it sets.
        params: parameter values and initial states (also accepted as keyword arguments); the definition's defaults
            fill the rest. Continuous models take numbers in the documented units of :mod:`neuro.dynamics.units`.
        learnable: parameter names (one shared value each) or a mapping name -> ``"shared"``, ``"neuron"`` (one value
            per neuron of the sample shape ``shape``) or ``"channel"`` (one per channel of ``[T, B, C, ...]``,
            ``channels``). Learned parameters are ``nn.Parameter`` in ``dtype`` (default: torch's default dtype) under
            ``self.learned``; ``layer.double()`` makes them float64. Fixed values stay float64 numbers, cast to the
            input's dtype at each call.
        detach_reset: no gradient through the spike in the reset.
        backend: ``None`` (fused Numba kernels for float32/float64 CPU tensors, fused CUDA kernels for float32,
            float64, float16 and bfloat16 CUDA tensors where CuPy imports, the torch reference otherwise), ``"numba"``,
            ``"cupy"`` or ``"torch"``.
        store_state: keep the state after every step of the last call in ``self.state_seq`` (name -> ``[T, B, ...]``,
            detached).

    ``forward(x, state=None)`` returns the spikes; :meth:`run` also returns the final state (a dict, differentiable),
    to carry across calls. A bad definition, an unknown surrogate or a learned parameter the law does not use raise
    errors naming it.
    """

    is_spiking = True

    def __init__(self, model: DiscreteNeuron | NeuronModel | StepLaw, surrogate: str = "sigmoid", alpha: float = 4.0, *, dt=None,
                 input: str | None = None, params: dict | None = None, learnable=(), shape: tuple[int, ...] | int | None = None,
                 channels: int | None = None, detach_reset: bool = False, backend: str | None = None, store_state: bool = False,
                 dtype: torch.dtype | None = None, nonfinite: str = "raise", input_layout: str = "TB", **values):
        super().__init__()
        self.nonfinite = nonfinite
        self.input_layout = input_layout
        self.surrogate_kind = surrogate_id(surrogate)
        if not (math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a finite number > 0, got {alpha}")
        if backend not in (None, "numba", "cupy", "torch"):
            raise ValueError(f"backend must be None, 'numba', 'cupy' or 'torch', got {backend!r}")
        self._surrogate, self.alpha = surrogate, float(alpha)
        self._detach_reset, self.backend, self.store_state = bool(detach_reset), backend, store_state
        learn = {name: "shared" for name in learnable} if not isinstance(learnable, dict) else dict(learnable)
        for name, kind in learn.items():
            if kind not in KINDS:
                raise ValueError(f"learnable[{name!r}] must be one of {KINDS}, got {kind!r}")
        self.definition = model
        self.law = law = as_law(model, dt=dt, input=input, symbolic=tuple(learn))
        #: the step of a continuous model in ms (None for a DiscreteNeuron) and the variable or parameter its input drives
        self.dt = float(U.to_internal(dt, U.SECOND, "dt")) if isinstance(model, NeuronModel) else None
        self.input_target = law.input_name if not isinstance(model, NeuronModel) else next(
            (t for t, e in law.update if e == sym(t) + INPUT), None) or _input_parameter(model, law)
        for name in learn:
            if name not in law.params:
                what = "a state variable" if name in law.states else "the input" if name == law.input_name else "not a parameter"
                raise DefinitionError(f"learnable {name!r}: {what} of {law.name} (parameters: {list(law.params)})")
            if not law.uses(name):
                raise DefinitionError(f"learnable {name!r}: the law of {law.name} does not use it (the update, threshold and reset "
                                      f"never read {name!r}), so it would get no gradient")
        self.shape = (shape,) if isinstance(shape, int) else (tuple(shape) if shape is not None else None)
        self.channels = channels
        if "neuron" in learn.values() and self.shape is None:
            raise ValueError("a parameter learned per neuron needs the sample shape: shape=(N,) or (C, H, W)")
        if "channel" in learn.values() and not (isinstance(channels, int) and channels > 0):
            raise ValueError("a parameter learned per channel needs channels=C")
        given = dict(params or {})
        clash = set(given) & set(values)
        if clash:
            raise ValueError(f"{sorted(clash)} given both in params= and as keyword arguments")
        given.update(values)
        unknown = set(given) - set(law.params) - set(law.states)
        if unknown:
            raise ValueError(f"{law.name}: unknown parameter(s) {sorted(unknown)}; parameters: {list(law.params)}, states: {list(law.states)}")
        dims = model.dims if isinstance(model, NeuronModel) else {}

        def internal(name, value):
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().double().numpy()
            arr = U.to_internal(value, dims[name], name) if name in dims else np.asarray(value, dtype=np.float64)
            arr = np.asarray(arr, dtype=np.float64)
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} must be finite, got {value!r}")
            return arr

        dtype = dtype or torch.get_default_dtype()
        self.learn = learn
        self.learned = nn.ParameterDict()
        self._fixed: dict[str, float] = {}
        self._arrays: list[str] = []
        for name in law.params:
            if name in given:
                value = internal(name, given[name])
            elif name in law.defaults:
                value = np.asarray(law.defaults[name])
            else:
                raise ValueError(f"{law.name}: parameter {name!r} has no value; give {name}=...")
            kind = learn.get(name)
            if kind is not None:
                want = {"shared": (), "neuron": self.shape, "channel": (channels,) if kind == "channel" else None}[kind]
                try:
                    init = np.broadcast_to(value, want)
                except ValueError:
                    raise ValueError(f"{name}: a value of shape {value.shape} does not fit its learned shape {want}") from None
                self.learned[name] = nn.Parameter(torch.tensor(np.array(init), dtype=dtype))
                if kind != "shared":
                    self._arrays.append(name)
            elif value.ndim == 0:
                self._fixed[name] = float(value)
            else:
                self.register_buffer(f"fixed_{name}", torch.tensor(value, dtype=torch.float64), persistent=False)
                self._arrays.append(name)
        if law.derived:
            arrays = [p for p in law.params if p in self._arrays]
            if arrays:
                raise ValueError(f"{law.name}: the exact method's propagators need one value of {arrays} for the layer (or mark "
                                 "them learnable)")
            self._fixed.update(law.derive(self._fixed))
        self._init_states = {}
        for name in law.states:
            value = internal(name, given[name]) if name in given else np.asarray(law.defaults.get(name, 0.0))
            self._init_states[name] = torch.as_tensor(value, dtype=torch.float64)
        self.state_seq: dict[str, torch.Tensor] | None = None
        names = list(law.params) + list(law.derived)
        self._scalars = [p for p in names if p not in self._arrays]
        self._per_neuron = [p for p in names if p in self._arrays]
        # the fused op finds the generated kernels by this key (custom ops take no Python objects)
        self._key = register(law, tuple(self._per_neuron), tuple(p for p in names if p in self.learned), self.surrogate_kind,
                             self._detach_reset)

    @property
    def surrogate(self) -> str:
        """The surrogate's name (fixed at construction: the kernels are generated for it)."""
        return self._surrogate

    @property
    def detach_reset(self) -> bool:
        """Whether the reset is detached (fixed at construction)."""
        return self._detach_reset

    # ------------------------------------------------------------------------------------------------------------ values
    def extra_repr(self) -> str:
        learned = {k: v for k, v in self.learn.items()}
        return (f"{self.law.name}: states {list(self.law.states)}, parameters {list(self.law.params)}, learnable {learned}, "
                f"surrogate={self.surrogate}, alpha={self.alpha:g}" + (", detach_reset=True" if self.detach_reset else ""))

    def _param(self, name: str, x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Parameter ``name`` as a tensor of ``dtype`` (default ``x``'s) broadcasting against one step ``[B, ...]`` of ``x``."""
        dtype = dtype or x.dtype
        if name in self.learned:
            p = self.learned[name].to(device=x.device, dtype=dtype)
            kind = self.learn[name]
            if kind == "neuron":
                if tuple(x.shape[2:]) != self.shape:
                    raise ValueError(f"{name} is learned per neuron of shape {self.shape}; the input's sample shape is {tuple(x.shape[2:])}")
            elif kind == "channel":
                if x.dim() < 3 or x.shape[2] != self.channels:
                    raise ValueError(f"{name} is learned per channel ({self.channels}) of [T, B, C, ...]; got input {tuple(x.shape)}")
                p = p.view(self.channels, *([1] * (x.dim() - 3)))
            return p
        if name in self._fixed:
            return torch.tensor(self._fixed[name], dtype=dtype, device=x.device)
        return getattr(self, f"fixed_{name}").to(device=x.device, dtype=dtype)

    def values(self) -> dict[str, torch.Tensor | float]:
        """Every parameter's current value (learned ones as their ``nn.Parameter``)."""
        out = dict(self._fixed)
        out.update({k: v for k, v in self.learned.items()})
        out.update({p: getattr(self, f"fixed_{p}") for p in self._arrays if p not in self.learned})
        return {k: out[k] for k in list(self.law.params) + list(self.law.derived)}

    def parameter_arrays(self, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Every parameter (and derived value) as a float64 array over the neurons of one sample of ``shape``, flattened."""
        shape = tuple(shape)
        n = math.prod(shape)
        out = {}
        for name, value in self.values().items():
            arr = value.detach().cpu().double().numpy() if isinstance(value, torch.Tensor) else np.asarray(value, dtype=np.float64)
            if self.learn.get(name) == "channel":
                if not shape or shape[0] != arr.size:
                    raise ValueError(f"{name} is learned per channel ({arr.size}); neurons of shape {shape}")
                arr = arr.reshape(-1, *([1] * (len(shape) - 1)))
            try:
                out[name] = np.broadcast_to(arr, shape).reshape(n).astype(np.float64)
            except ValueError:
                raise ValueError(f"{name}: values of shape {arr.shape} do not fit neurons of shape {shape}") from None
        return out

    def update_ops(self) -> dict[str, int]:
        """The arithmetic of one neuron-step, for energy estimates (:mod:`neuro.energy` reads it from any spiking layer
        that has it): ``states`` (variables updated each step), ``macs`` and ``acs`` of the update and the threshold
        (multiplications, divisions, powers and functions as MACs; additions, subtractions and the comparison as ACs;
        terms of parameters alone are constants computed once), and ``reset_macs`` / ``reset_acs`` per spike."""
        law = self.law
        live = {sym(s) for s in law.states} | {sym(t) for t in law.temporaries} | {INPUT}
        macs = acs = 0
        for _, e in law.update:
            m, a = _ops(e, live)
            macs, acs = macs + m, acs + a
        m, a = _ops(law.threshold, live)
        macs, acs = macs + m, acs + max(a, 1)  # at least the comparison
        rm = ra = 0
        for _, e in law.reset:
            m, a = _ops(e, live)
            rm, ra = rm + m, ra + a
        return {"states": len(law.states), "macs": macs, "acs": acs, "reset_macs": rm, "reset_acs": ra}

    def initial_values(self) -> dict[str, float]:
        """The starting value of each state variable (one number each)."""
        out = {}
        for name, value in self._init_states.items():
            u = np.unique(value.numpy())
            if u.size != 1:
                raise ValueError(f"the initial value of {name} differs between neurons")
            out[name] = float(u[0])
        return out

    def lif_form(self, shape: tuple[int, ...]) -> LIFForm:
        """The law as the LIF step (:class:`LIFForm`) for neurons of ``shape``, recognised from the definition's
        expressions whatever they are called; ``ValueError`` saying why when it is not one (the simulator's
        :class:`~neuro.sim.discrete.DiscreteLIF` and NIR's LIF/IF nodes need it)."""
        law = self.law
        if len(law.states) != 1:
            raise ValueError(f"{law.name} has {len(law.states)} state variables {list(law.states)}; the LIF law has one")
        state = law.states[0]
        V, X = sym(state), INPUT
        new, f, reset = law.substituted
        N, R, f = sympy.expand(new[state]), sympy.expand(reset[state]), sympy.expand(f)

        def affine(e, what):
            coef = [sympy.diff(e, V), sympy.diff(e, X)]
            if any({V, X} & c.free_symbols for c in coef):
                raise ValueError(f"{law.name}: the {what} is not linear in {state} and the input")
            return (*coef, e.xreplace({V: 0, X: 0}))

        exprs = (*affine(N, "update"), *affine(f, "threshold function"), *affine(R, "reset"))
        values = self.parameter_arrays(shape)
        names = sorted({p.name for e in exprs for p in e.free_symbols})
        missing = [p for p in names if p not in values]
        if missing:
            raise ValueError(f"{law.name}: {missing} are neither parameters nor the input")
        fn = sympy.lambdify([sym(p) for p in names], list(exprs), "numpy")
        n = math.prod(tuple(shape))
        a, c, b, p, q, r, ra, rc, rb = (np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in fn(*[values[k] for k in names]))

        def same(u, w):
            return np.allclose(u, w, rtol=1e-12, atol=1e-12)

        g = np.where(a != 0, p / np.where(a != 0, a, 1.0), q / np.where(c != 0, c, 1.0))
        if not (np.all(g > 0) and same(p, g * a) and same(q, g * c)):
            raise ValueError(f"{law.name}: the threshold is not a rising bound on {state} after the update ({state} >= v_th)")
        theta = b - r / g
        if not same(theta, theta[0]):
            raise ValueError(f"{law.name}: its threshold differs between neurons; the LIF law has one")
        if same(ra, 0.0) and same(rc, 0.0):
            if not same(rb, rb[0]):
                raise ValueError(f"{law.name}: the reset value differs between neurons")
            v_reset = float(rb[0])
        elif same(ra, a) and same(rc, c) and same(rb - b, -theta):
            v_reset = None
        else:
            raise ValueError(f"{law.name}: the reset is neither {state} = constant nor {state} -= the threshold")
        v0 = self.initial_values()[state]
        return LIFForm(beta=a.copy(), scale=c.copy(), drive=b.copy(), v_th=float(theta[0]), v_reset=v_reset, strict=law.strict, v0=v0)

    def initial_state(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The starting state (the definition's initial values, else 0), shaped like one step ``x`` ``[B, ...]``."""
        return {k: v.to(dtype=x.dtype, device=x.device).expand(x.shape).clone() for k, v in self._init_states.items()}

    # ----------------------------------------------------------------------------------------------------------- running
    def _fused(self, x: torch.Tensor) -> bool:
        if self.backend == "torch":
            return False
        if torch.compiler.is_compiling():  # the choice resolve() makes, without the environment look-ups
            if x.device.type == "cuda":
                return x.dtype in _CUDA_DTYPES and _backend.available("cupy")
            return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
        name = _backend.resolve(x.device, self.backend)
        ok = (name == "numba" and x.dtype in (torch.float32, torch.float64)) or (name == "cupy" and x.dtype in _CUDA_DTYPES)
        if self.backend == "numba" and not ok:
            raise ValueError(f"backend 'numba' runs float32/float64 CPU tensors; got {x.dtype} on {x.device.type}")
        if self.backend == "cupy" and not ok:
            raise ValueError(f"backend 'cupy' runs float32/float64/float16/bfloat16 CUDA tensors; got {x.dtype} on {x.device.type}")
        if not ok:
            _log_reference(x.device.type, str(x.dtype))
        return ok

    def run(self, x: torch.Tensor, state: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(spikes [T, B, ...], final state)`` from input ``x`` and a starting state (``None``: :meth:`initial_state`)."""
        self._check_time_major(x)
        self._check_input(x)
        if not x.is_floating_point():
            raise TypeError(f"{type(self).__name__} needs a floating-point input, got {x.dtype}")
        squeeze = x.dim() == 2
        if squeeze:
            x = x.unsqueeze(1)
        T, step = x.shape[0], x.shape[1:]
        law = self.law
        if state is None:
            z0 = [self._init_states[s].to(dtype=x.dtype, device=x.device).expand(step) for s in law.states]
        else:
            missing = set(law.states) - set(state)
            if missing:
                raise ValueError(f"state lacks {sorted(missing)} (states of {law.name}: {list(law.states)})")
            z0 = [torch.as_tensor(state[s], dtype=x.dtype, device=x.device).expand(step) for s in law.states]
        fused = self._fused(x)
        # float16 / bfloat16 kernels compute in float32: their parameters are not rounded to the storage type
        pdtype = torch.float32 if fused and x.dtype in (torch.float16, torch.bfloat16) else x.dtype
        params = {p: self._param(p, x, pdtype) for p in self._scalars + self._per_neuron}
        if fused:
            N = math.prod(step)
            scal = torch.stack([params[p].reshape(()) for p in self._scalars]) if self._scalars else x.new_zeros(0, dtype=pdtype)
            arr = (torch.stack([params[p].expand(step).reshape(N) for p in self._per_neuron]) if self._per_neuron
                   else x.new_zeros((0, N), dtype=pdtype))
            z0f = torch.stack([z.reshape(N) for z in z0])
            s, zT, zseq = fused_multi_step(self._key, x.reshape(T, N), z0f, scal, arr, self.alpha, need_states=self.store_state)
            s = s.reshape(x.shape)
            final = {name: zT[i].reshape(step) for i, name in enumerate(law.states)}
            record = {name: zseq[i].reshape(x.shape) for i, name in enumerate(law.states)} if self.store_state else None
        else:
            s, zT, zseq = reference_multi_step(law, x, z0, params, self.surrogate_kind, self.alpha, self.detach_reset,
                                               need_states=self.store_state)
            final = {name: zT[i] for i, name in enumerate(law.states)}
            record = {name: zseq[i].detach() for i, name in enumerate(law.states)} if self.store_state else None
        if squeeze:
            s = s.squeeze(1)
            final = {k: v.squeeze(0) for k, v in final.items()}
            record = {k: v.squeeze(1) for k, v in record.items()} if record is not None else None
        if self.store_state:
            self.state_seq = record
        return s, final

    def forward(self, x: torch.Tensor, state: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        return self.run(x, state)[0]
