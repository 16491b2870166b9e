r"""Neuron laws as one discrete time step: what the training layer (:class:`neuro.nn.Neuron`) compiles.

A :class:`DiscreteNeuron` is written directly as a step, with the layer's input ``x`` (the value of the input at step
:math:`t`, one per neuron):

.. code-block:: python

    from neuro.dynamics.discrete import DiscreteNeuron

    alif = DiscreteNeuron(
        update="b = v_th + beta_a * a; v = beta * v + x; a = rho * a",   # statements in order
        threshold="v >= b",
        reset="v = v - v_th; a = a + gamma",
        parameters={"beta": 0.95, "rho": 0.99, "beta_a": 1.8, "v_th": 1.0, "gamma": 1.0},
        states=["v", "a"])

One step from the state :math:`z_{t-1}` (the state variables after the previous reset) and the input :math:`x_t`:

.. math::

    n_t = U(z_{t-1}, x_t), \qquad s_t = H(f(n_t, \ldots)), \qquad z_t = (1 - s_t)\, n_t + s_t\, R(n_t, \ldots)

``update`` statements run in order (a later one reads the values written by an earlier one); a name assigned there
that is not a state variable is a temporary of the step, readable by the threshold and the reset. The threshold is a
comparison ``lhs > rhs`` (fires where :math:`f = lhs - rhs > 0`), ``>=`` (:math:`f \ge 0`), or ``<`` / ``<=``; the
training layer puts its surrogate derivative at :math:`f = 0`. The reset statements run in order where the neuron
fired. Names starting with ``_`` are reserved.

A continuous :class:`~neuro.dynamics.NeuronModel` becomes the same form by :func:`law_from_model`: its integration
method at a step ``dt`` (ms) gives the update (``exact``: the propagators, numeric from fixed parameters or
symbolic where a learned parameter enters them), and the layer's input either jumps a state variable before the
step (``input="v"``: :math:`v \leftarrow v + x_t`, as a synapse of the simulator does) or is the value of a
parameter during the step (``input="I"``: an injected current).

Both give a :class:`StepLaw`: sympy expressions of the update, threshold function and reset, and their forms
substituted into the previous state (:meth:`StepLaw.substituted`), whose derivatives (``sympy.diff``) the
generated backward kernels evaluate (:mod:`neuro.dynamics.torchgen`).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy

from . import integrators as I
from . import units as U
from .equations import FUNCTIONS, DefinitionError, statements, to_sympy

__all__ = ["DiscreteNeuron", "StepLaw", "law_from_model", "as_law", "INPUT"]

INPUT = sympy.Symbol("_x", real=True)  # the layer's input x_t inside a law's expressions
_NAME = re.compile(r"^[A-Za-z][A-Za-z_0-9]*$")
_RESERVED = {"t", "dt", "True", "False", "and", "or", "not"} | set(FUNCTIONS)


def sym(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


def _assign(target: str, op: str, expr: sympy.Expr) -> sympy.Expr:
    """``x op= e`` as the value of ``x``."""
    x = sym(target)
    return {"=": expr, "+=": x + expr, "-=": x - expr, "*=": x * expr, "/=": x / expr}[op]


def _condition(cond, where: str) -> tuple[sympy.Expr, bool]:
    """``(f, strict)``: the neuron fires where ``f > 0`` (strict) or ``f >= 0``."""
    rel = sympy.core.relational
    if isinstance(cond, rel.StrictGreaterThan | rel.GreaterThan):
        f, strict = cond.lhs - cond.rhs, isinstance(cond, rel.StrictGreaterThan)
    elif isinstance(cond, rel.StrictLessThan | rel.LessThan):
        f, strict = cond.rhs - cond.lhs, isinstance(cond, rel.StrictLessThan)
    else:
        raise DefinitionError(f"{where}: a threshold must be one comparison such as 'v > v_th' or 'v >= b' (the surrogate "
                              f"gradient sits where the two sides meet), got {cond}")
    return f, strict


@dataclass(frozen=True, eq=False)
class StepLaw:
    """One time step of a neuron law in sympy (see the module docstring).

    ``update`` and ``reset`` are ``(target, expression)`` pairs run in order; in ``update`` a state variable's symbol
    is its value so far in the step (its value after the previous step before any assignment), in ``reset`` and
    ``threshold`` its value after the update (and after the earlier reset statements, in ``reset``). :data:`INPUT` is
    the input. ``params`` are the values a layer sets (internal units); ``derived`` are computed from them by
    ``derive`` (the exact method's propagators) and are not set by hand."""

    name: str
    states: tuple[str, ...]
    params: tuple[str, ...]
    update: tuple[tuple[str, sympy.Expr], ...]
    threshold: sympy.Expr
    strict: bool
    reset: tuple[tuple[str, sympy.Expr], ...]
    defaults: Mapping[str, float] = field(default_factory=dict)
    input_name: str = "x"
    derived: tuple[str, ...] = ()
    derive: Callable[[dict], dict] | None = None
    identity: str = ""  # what the key hashes besides the expressions (a model's key, dt)

    @property
    def temporaries(self) -> list[str]:
        """Names the update assigns that are not state variables."""
        return list(dict.fromkeys(t for t, _ in self.update if t not in self.states))

    @cached_property
    def key(self) -> str:
        """Hash of the law (its name, expressions and variables): equal laws share their generated code."""
        text = repr((self.name, self.states, self.params, self.derived, [(t, sympy.srepr(e)) for t, e in self.update], sympy.srepr(self.threshold),
                     self.strict, [(t, sympy.srepr(e)) for t, e in self.reset], self.identity))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @cached_property
    def substituted(self) -> tuple[dict[str, sympy.Expr], sympy.Expr, dict[str, sympy.Expr]]:
        r"""``(N, f, R)`` in the previous state's symbols, the input and the parameters: the state after the update
        :math:`n = N(z_{t-1}, x_t)`, the threshold function and the state after a reset (states the reset does not write
        keep :math:`N`)."""
        env = {sym(s): sym(s) for s in self.states}
        for target, expr in self.update:
            env[sym(target)] = expr.xreplace(env)
        new = {s: env[sym(s)] for s in self.states}
        f = self.threshold.xreplace(env)
        env_r = dict(env)
        for target, expr in self.reset:
            env_r[sym(target)] = expr.xreplace(env_r)
        return new, f, {s: env_r[sym(s)] for s in self.states}

    def uses(self, name: str) -> bool:
        """Whether parameter ``name`` enters the step (the update, the threshold or the reset)."""
        new, f, reset = self.substituted
        s = sym(name)
        return any(s in e.free_symbols for e in [*new.values(), f, *reset.values()])

    def written_by_reset(self) -> list[str]:
        return [s for s in self.states if any(t == s for t, _ in self.reset)]

    def describe(self) -> str:
        """The step as readable text (for error messages and reprs)."""
        shown = {INPUT: sym(self.input_name)}
        lines = [f"{t} = {e.xreplace(shown)}" for t, e in self.update]
        lines.append(f"spike where {self.threshold.xreplace(shown)} {'>' if self.strict else '>='} 0")
        lines += [f"if spike: {t} = {e.xreplace(shown)}" for t, e in self.reset]
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class DiscreteNeuron:
    """A neuron written as one time step (module docstring): ``update``, ``threshold`` and ``reset`` statements over the
    ``states`` (a list of names starting at 0, or a mapping name -> initial value), the ``parameters`` (name -> default
    value, ``None`` for one the layer must be given) and the input ``input`` (default ``"x"``). Dimensionless:
    values are used as given. A bad definition raises :class:`~neuro.dynamics.DefinitionError` naming the statement."""

    update: str
    threshold: str | None
    reset: str = ""
    parameters: Mapping[str, float | None] = field(default_factory=dict)
    states: Sequence[str] | Mapping[str, float] = ("v",)
    input: str = "x"
    name: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "law", _parse_discrete(self))

    def __repr__(self) -> str:
        return f"DiscreteNeuron({self.name or self.law.key}: states {list(self.law.states)}, parameters {list(self.law.params)})"


def _check_names(names, what: str) -> None:
    for n in names:
        if not isinstance(n, str) or not _NAME.match(n) or n in _RESERVED:
            raise DefinitionError(f"{what}: {n!r} is not a usable name (a Python identifier not starting with '_', not one of "
                                  f"{sorted(_RESERVED)})")


def _parse_discrete(d: DiscreteNeuron) -> StepLaw:
    states = list(d.states.keys()) if isinstance(d.states, Mapping) else list(d.states)
    if isinstance(d.states, str) or not states:
        raise DefinitionError(f"states must be a list of state variable names (or a mapping name -> initial value), got {d.states!r}")
    params = dict(d.parameters or {})
    _check_names(states, "states")
    _check_names(params, "parameters")
    _check_names([d.input], "input")
    clash = (set(states) & set(params)) | ({d.input} & (set(states) | set(params)))
    if clash or len(set(states)) != len(states):
        raise DefinitionError(f"the names of states, parameters and the input must differ; {sorted(clash) or states} repeat")
    inp = sym(d.input)
    known = set(states) | set(params) | {d.input}

    def check(expr, where, temps):
        for s in sorted(expr.free_symbols, key=lambda s: s.name):
            if s.name not in known and s.name not in temps:
                raise DefinitionError(f"{where}: {s.name!r} is not a state variable {states}, a parameter {sorted(params)}, "
                                      f"the input {d.input!r} or a temporary of the update{' ' + str(sorted(temps)) if temps else ''}")

    temps: list[str] = []
    update = []
    for target, op, expr, src in statements(d.update or "", "update"):
        where = f"update {src!r}"
        if target in params:
            raise DefinitionError(f"{where}: writes the parameter {target!r}; parameters are constant (learned ones change "
                                  "between batches, not within a step)")
        if target == d.input:
            raise DefinitionError(f"{where}: writes the input {target!r}")
        if target.startswith("_") or target in _RESERVED:
            _check_names([target], where)
        check(expr, where, temps)
        if op != "=" and target not in states and target not in temps:
            raise DefinitionError(f"{where}: {op!r} on {target!r}, which has no value yet")
        update.append((target, _assign(target, op, expr).xreplace({inp: INPUT})))
        if target not in states and target not in temps:
            temps.append(target)
    if not d.threshold or not str(d.threshold).strip():
        raise DefinitionError(f"{d.name or 'the definition'} has no threshold: a spiking neuron needs a condition such as "
                              "threshold='v > v_th' (its surrogate derivative is the spike's gradient)")
    where = f"threshold {d.threshold!r}"
    cond = to_sympy(d.threshold, where, booleans=True)
    if isinstance(cond, sympy.logic.boolalg.BooleanAtom):
        raise DefinitionError(f"{where}: the condition is always {bool(cond)}")
    check(cond, where, temps)
    f, strict = _condition(cond, where)
    reset = []
    for target, op, expr, src in statements(d.reset or "", "reset"):
        where = f"reset {src!r}"
        if target not in states:
            kind = "a parameter" if target in params else "a temporary of the update" if target in temps else "not defined"
            raise DefinitionError(f"{where}: writes {target!r} ({kind}); a reset writes state variables {states}")
        check(expr, where, temps)
        reset.append((target, _assign(target, op, expr).xreplace({inp: INPUT})))
    defaults = {k: float(v) for k, v in params.items() if v is not None}
    if isinstance(d.states, Mapping):
        defaults.update({k: float(v) for k, v in d.states.items()})
    return StepLaw(name=d.name or "discrete", states=tuple(states), params=tuple(params), update=tuple(update),
                   threshold=f.xreplace({inp: INPUT}), strict=strict, reset=tuple(reset), defaults=defaults, input_name=d.input)


def law_from_model(model, dt, input: str | None = None, symbolic: Sequence[str] = ()) -> StepLaw:
    """The step of a continuous :class:`~neuro.dynamics.NeuronModel` at ``dt`` (ms, or a time quantity).

    ``input``: the state variable the layer's input jumps before each step, or the parameter whose value it is
    during the step (default: the model's ``inputs`` target of ``"v"``, else its only one). ``symbolic``: parameters
    that must stay symbols (learned ones); where they enter an ``exact`` system the propagators are the symbolic
    matrix exponential, otherwise numbers computed from the parameter values (``StepLaw.derive``)."""
    where = f"{model.name or 'model'}"
    if model.refractory is not None:
        raise DefinitionError(f"{where}: refractory periods are not supported by the training layer yet (neuro.nn.Neuron); "
                              "define the model without 'refractory'")
    if model.noise:
        raise DefinitionError(f"{where}: noise ({model.noise}) is not supported by the training layer")
    if model._threshold is None:
        raise DefinitionError(f"{where} has no threshold: a spiking neuron needs threshold='v > v_th'")
    dt_ms = float(U.to_internal(dt, U.SECOND, "dt")) if dt is not None else math.nan
    if not (math.isfinite(dt_ms) and dt_ms > 0):
        raise DefinitionError(f"{where}: a continuous model needs the time step dt > 0 (ms), got {dt!r}")
    if input is None:
        targets = list(dict.fromkeys(model.inputs.values()))
        input = model.inputs.get("v", targets[0] if len(targets) == 1 else None)
        if input is None:
            raise DefinitionError(f"{where}: say which variable the layer's input drives: input='v' (a jump of a state "
                                  f"variable {model.states}) or input='I' (the value of a parameter {model.params})")
    if input not in model.states and input not in model.params:
        raise DefinitionError(f"{where}: input={input!r} is neither a state variable {model.states} nor a parameter {model.params}")
    jump = input in model.states
    dts = sympy.Float(dt_ms)
    xin = sym(input)
    update: list[tuple[str, sympy.Expr]] = [(input, xin + INPUT)] if jump else []
    derived: list[str] = []
    derive = None
    symbolic = set(symbolic)
    params = [p for p in model.params if p != input]
    if model.method == "exact":
        drives = list(model.discrete) + ([] if jump else [input])
        A, G, b = I.linear_system(model._rhs, model.diff, drives)
        ps = sorted({s.name for m in (A, G, b) for s in m.free_symbols})
        nx, nd = A.shape[0], G.shape[1]
        xs, ds = [sym(s) for s in model.diff], [sym(s) for s in drives]
        if symbolic & set(ps):
            aug = sympy.zeros(nx + nd + 1, nx + nd + 1)
            aug[:nx, :nx], aug[:nx, nx:nx + nd], aug[:nx, -1] = A, G, b
            try:
                E = (aug * dts).exp()
            except Exception as err:  # noqa: BLE001 - sympy raises many kinds
                raise DefinitionError(f"{where}: the propagators of the exact method could not be found symbolically for the learned "
                                      f"parameter(s) {sorted(symbolic & set(ps))} ({err}); use method='exponential_euler'") from None
            M, N, c = E[:nx, :nx], E[:nx, nx:nx + nd], E[:nx, -1]
        else:
            M = sympy.Matrix(nx, nx, lambda i, j: sym(f"_M_{i}_{j}"))
            N = sympy.Matrix(nx, nd, lambda i, k: sym(f"_N_{i}_{k}"))
            c = sympy.Matrix(nx, 1, lambda i, _: sym(f"_c_{i}"))
            derived = [f"_M_{i}_{j}" for i in range(nx) for j in range(nx)] + [f"_N_{i}_{k}" for i in range(nx) for k in range(nd)] \
                + [f"_c_{i}" for i in range(nx)]
            fA, fG, fb = (sympy.lambdify([sym(p) for p in ps], m, "numpy") for m in (A, G, b))

            def derive(values, fA=fA, fG=fG, fb=fb, ps=ps, nx=nx, nd=nd):
                row = [float(values[p]) for p in ps]
                Ms, Ns, cs = I.propagators(np.asarray(fA(*row), float).reshape(1, nx, nx), np.asarray(fG(*row), float).reshape(1, nx, nd),
                                           np.asarray(fb(*row), float).reshape(1, nx), dt_ms)
                out = {f"_M_{i}_{j}": float(Ms[0, i, j]) for i in range(nx) for j in range(nx)}
                out.update({f"_N_{i}_{k}": float(Ns[0, i, k]) for i in range(nx) for k in range(nd)})
                out.update({f"_c_{i}": float(cs[0, i]) for i in range(nx)})
                return out
        new = {}
        for i, s in enumerate(model.diff):
            e = sum((M[i, j] * xs[j] for j in range(nx)), sympy.Integer(0)) + sum((N[i, k] * ds[k] for k in range(nd)), sympy.Integer(0))
            new[s] = e + c[i]
    else:
        subs = {sym(n): e for n, e in model._sub_full.items()}
        new = {s: e.xreplace(subs).xreplace({I.DT: dts}) for s, e in model._update.items()}
    if not jump:
        new = {s: e.xreplace({xin: INPUT}) for s, e in new.items()}
    for s, e in new.items():
        if sym("t") in e.free_symbols:
            raise DefinitionError(f"{where}: d{s}/dt depends on the time t; the training layer's laws are time-invariant")
    update += [(f"_new_{s}", new[s]) for s in model.diff] + [(s, sym(f"_new_{s}")) for s in model.diff]
    cond = model._threshold
    f, strict = _condition(cond, f"threshold {model.threshold!r}")
    reset = [(t, _assign(t, op, e)) for t, op, e in model._reset]
    if not jump:
        f = f.xreplace({xin: INPUT})
        reset = [(t, e.xreplace({xin: INPUT})) for t, e in reset]
    defaults = {}
    for k, v in model.defaults.items():
        if k == input or callable(v):
            continue
        arr = np.asarray(U.to_internal(v, model.dims[k], k), dtype=np.float64)
        if arr.ndim == 0:
            defaults[k] = float(arr)
    ident = repr((model.key, dt_ms, input, sorted(symbolic)))
    return StepLaw(name=model.name or "model", states=tuple(model.states), params=tuple(params), update=tuple(update), threshold=f,
                   strict=strict, reset=tuple(reset), defaults=defaults, input_name="x", derived=tuple(derived), derive=derive, identity=ident)


def as_law(definition, dt=None, input: str | None = None, symbolic: Sequence[str] = ()) -> StepLaw:
    """The :class:`StepLaw` of a :class:`DiscreteNeuron`, a :class:`~neuro.dynamics.NeuronModel` (at ``dt``) or a law."""
    from .model import NeuronModel

    if isinstance(definition, StepLaw):
        return definition
    if isinstance(definition, DiscreteNeuron):
        if dt is not None or input is not None:
            raise ValueError("dt and input are for continuous models (NeuronModel); a DiscreteNeuron is already one step with its input "
                             f"{definition.input!r}")
        return definition.law
    if isinstance(definition, NeuronModel):
        return law_from_model(definition, dt, input, symbolic)
    raise TypeError(f"expected a DiscreteNeuron or a NeuronModel, got {type(definition).__name__}")
