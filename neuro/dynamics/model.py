r"""Neuron models as definitions: equations, threshold, reset and refractory period in Brian2's syntax.

.. code-block:: python

    from neuro.dynamics import NeuronModel

    eif = NeuronModel('''
        dv/dt = (g_L * (E_L - v) + g_L * Delta_T * exp((v - V_T) / Delta_T) + I) / C : volt (unless refractory)
        I : amp
        g_L : siemens (constant)
        E_L : volt (constant)
        ...
    ''', threshold="v > V_cut", reset="v = V_r", refractory="t_ref", inputs={"v": "v"})

Names: the state variables are the differential variables and the ``x : unit`` variables that the reset writes
(discrete state); the other ``x : unit`` variables are parameters, given per population (plain numbers in the
documented units of :mod:`neuro.dynamics.units`, or unit-carrying quantities). ``(constant)`` parameters may not be
written. ``inputs`` maps the simulator's receptors (``"exc"``, ``"inh"``, ``"v"``) to the variables a synapse of
that receptor adds its weight to.

Refractoriness follows Brian2: during the refractory period variables flagged ``(unless refractory)`` are not
integrated and writes to them by synapses are lost (Brian2's conditional write), no spike is emitted, and a
period of 0 still discards the writes of the spike step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import sympy

from . import integrators as I
from . import units as U
from .equations import DefinitionError, dimension, is_noise, parse, statements, to_sympy

RECEPTORS = ("exc", "inh", "v")


@dataclass
class NeuronModel:
    """A neuron model defined by equations (see the module docstring)."""

    equations: str
    threshold: str | None = None
    reset: str | None = None
    refractory: object = None
    method: str | None = None
    inputs: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    name: str | None = None
    #: declared parameters that synapses set every step (the targets of ``(summed)`` variables of a
    #: :class:`~neuro.dynamics.SynapseModel`): integrated as inputs that change from step to step. The simulator sets
    #: it (:meth:`driven_by`); a model written by hand leaves it empty.
    driven: tuple = ()

    def driven_by(self, names) -> NeuronModel:
        """This model with ``names`` (declared parameters) set from outside every step (see :attr:`driven`)."""
        names = tuple(sorted(set(self.driven) | set(names)))
        if names == tuple(self.driven):
            return self
        return NeuronModel(self.equations, self.threshold, self.reset, self.refractory, self.method, dict(self.inputs), dict(self.defaults),
                           self.name, names)

    def __post_init__(self):
        self.driven = tuple(self.driven)
        eqs = parse(self.equations)
        for e in eqs:
            if e.flags & {"event-driven", "clock-driven", "summed"}:
                raise DefinitionError(f"line {e.line} ({e.text!r}): (event-driven), (clock-driven) and (summed) are flags of synaptic equations "
                                      "(neuro.dynamics.SynapseModel), not of a neuron model")
        self._eqs = {e.name: e for e in eqs}
        self.diff = [e.name for e in eqs if e.kind == "diff"]
        subs = {e.name: e for e in eqs if e.kind == "sub"}
        declared = {e.name: e for e in eqs if e.kind == "param"}
        if not self.diff:
            raise DefinitionError("the model has no differential equation (dx/dt = ... : unit)")
        dims = {e.name: e.dim for e in eqs}
        dims.update(t=U.SECOND, dt=U.SECOND)
        known = set(dims)
        self._units: dict[str, float] = {}

        def resolve(expr, where):
            """Dimension of every symbol in ``expr``: declared names first, then unit names, else an error."""
            for s in expr.free_symbols:
                n = s.name
                if n in known or n in self._units:
                    continue
                if is_noise(n):
                    dims[n] = U.SECOND ** -0.5
                    known.add(n)
                    continue
                got = U.internal(n)
                if got is None:
                    raise DefinitionError(f"{where}: unknown name {n!r} (not a variable, parameter or unit of the model)")
                dims[n], self._units[n] = got

        # subexpressions, in dependency order, substituted into each other
        order, resolved = [], {}

        def visit(name, stack):
            if name in resolved:
                return resolved[name]
            if name in stack:
                raise DefinitionError(f"line {subs[name].line}: subexpression {name!r} depends on itself ({' -> '.join(stack + [name])})")
            e = subs[name]
            where = f"line {e.line} ({e.text!r})"
            resolve(e.expr, where)
            expr = e.expr.xreplace({sympy.Symbol(d, real=True): visit(d, stack + [name]) for d in {s.name for s in e.expr.free_symbols} & set(subs)})
            got = dimension(e.expr, dims, where)
            if got != e.dim and not e.expr.is_zero:
                raise DefinitionError(f"{where}: the expression has the unit {got}, the declared unit is {e.dim}")
            resolved[name] = expr
            order.append(name)
            return expr

        for name in subs:
            visit(name, [])
        self._subs = resolved
        rhs, rhs_raw = {}, {}
        for name in self.diff:
            e = self._eqs[name]
            where = f"line {e.line} ({e.text!r})"
            resolve(e.expr, where)
            got = dimension(e.expr, dims, where)
            want = e.dim / U.SECOND
            if got != want and not e.expr.is_zero:
                raise DefinitionError(f"{where}: d{name}/dt has the unit {got}, it must be {want} (the unit of {name} per second)")
            rhs[name] = e.expr.xreplace({sympy.Symbol(s, real=True): v for s, v in resolved.items()})
            rhs_raw[name] = e.expr
        # threshold and reset
        self._threshold = None
        if self.threshold is not None:
            where = f"threshold {self.threshold!r}"
            cond = to_sympy(self.threshold, where, booleans=True)
            for s in cond.free_symbols:
                if s.name not in known and U.internal(s.name) is None:
                    raise DefinitionError(f"{where}: {s.name!r} is not a variable of the model (variables: {sorted(self.diff + list(declared))})")
            resolve(cond, where)
            if not isinstance(cond, sympy.logic.boolalg.Boolean) or cond in (sympy.true, sympy.false):
                raise DefinitionError(f"{where}: a threshold must be a condition such as 'v > v_th'")
            dimension(cond, dims, where)
            self._threshold = cond.xreplace({sympy.Symbol(s, real=True): v for s, v in resolved.items()})
        self._reset = []
        written = set()
        for target, op, expr, src in statements(self.reset or "", "reset"):
            where = f"reset {src!r}"
            if target in subs:
                raise DefinitionError(f"{where}: {target!r} is a subexpression, it cannot be written")
            if target not in dims or target in ("t", "dt"):
                raise DefinitionError(f"{where}: {target!r} is not a variable of the model")
            if target in declared and "constant" in declared[target].flags:
                raise DefinitionError(f"{where}: the reset writes {target!r}, a (constant) parameter")
            resolve(expr, where)
            got = dimension(expr, dims, where)
            want = U.ONE if op in ("*=", "/=") else dims[target]
            if got != want and not expr.is_zero:  # 0 * mV is 0 to sympy: zero fits any unit
                raise DefinitionError(f"{where}: the right-hand side has the unit {got}, {target!r} needs {want}")
            self._reset.append((target, op, expr.xreplace({sympy.Symbol(s, real=True): v for s, v in resolved.items()})))
            written.add(target)
        # discrete state variables: declared ones the reset writes (or that receive synaptic input)
        inputs = dict(self.inputs or {})
        for receptor, var in inputs.items():
            if receptor not in RECEPTORS:
                raise DefinitionError(f"inputs: unknown receptor {receptor!r}; expected one of {RECEPTORS}")
            if var not in self.diff and var not in declared:
                raise DefinitionError(f"inputs: {receptor!r} -> {var!r}, which is not a variable of the model")
            if var in declared and "constant" in declared[var].flags:
                raise DefinitionError(f"inputs: {receptor!r} -> {var!r}, a (constant) parameter")
        shared = sorted({v for v in inputs.values() if list(inputs.values()).count(v) > 1})
        if shared:  # each receptor's input is kept in a variable of its own (the simulator's delivery rows)
            both = [r for r, v in inputs.items() if v == shared[0]]
            raise DefinitionError(f"inputs: {' and '.join(map(repr, both))} both -> {shared[0]!r}; give each receptor its own "
                                  "variable (sum them in the equations), or use one receptor with signed weights")
        self.inputs = inputs
        for var in self.driven:
            if var not in declared or "constant" in declared[var].flags:
                raise DefinitionError(f"{var!r} is set by synapses ((summed)), so it must be a declared parameter of the model that is not "
                                      f"(constant) (declared: {sorted(n for n in declared if 'constant' not in declared[n].flags)})")
        self.discrete = [n for n in declared if n in written or n in inputs.values() or n in self.driven]
        self.params = [n for n in declared if n not in self.discrete]
        self.states = self.diff + self.discrete
        # refractory period: None, a time (ms or a quantity) or the name of a time parameter
        ref = self.refractory
        if isinstance(ref, str):
            if ref not in self.params or dims[ref] != U.SECOND:
                raise DefinitionError(f"refractory={ref!r} must name a time parameter of the model (a 'name : second' line)")
        elif ref is not None:
            value = float(U.to_internal(ref, U.SECOND, "refractory"))
            if not (np.isfinite(value) and value >= 0):
                raise DefinitionError(f"refractory must be a time >= 0, got {ref!r}")
            self.refractory = value
        self.unless_refractory = [n for n in self.diff if "unless refractory" in self._eqs[n].flags]
        if self.unless_refractory and self.refractory is None:
            raise DefinitionError(f"{self.unless_refractory} are flagged (unless refractory) but the model has no refractory period")
        # integration
        where_of = {n: f"line {self._eqs[n].line} ({self._eqs[n].text!r})" for n in self.diff}
        rhs = {n: self._numeric(e) for n, e in rhs.items()}
        # subexpressions kept as named temporaries (evaluated once per step from the old state) for the one-stage methods
        self._sub_order = [(n, self._numeric(subs[n].expr)) for n in order]
        self._sub_full = {n: self._numeric(e) for n, e in resolved.items()}
        self.method = I.choose(rhs, self.diff, self.discrete, self.method)
        self._rhs = rhs
        if self.method == "exact":
            self._linear = I.linear_system(rhs, self.diff, self.discrete)
            self._update = None
        elif self.method in ("euler", "exponential_euler") and not I.noise_symbols(rhs.values()) or self.method == "euler":
            self._linear = None
            raw = {n: self._numeric(e) for n, e in rhs_raw.items()}
            self._update = I.update(rhs, self.diff, self.method, where_of, raw=raw, subs=self._sub_full)
        else:
            self._linear = None
            self._update = I.update(rhs, self.diff, self.method, where_of)
        self._threshold = None if self._threshold is None else self._numeric(self._threshold)
        self._reset = [(t, op, self._numeric(e)) for t, op, e in self._reset]
        self.noise = [s.name for s in I.noise_symbols(rhs.values())]
        self.dims = {n: dims[n] for n in self.states + self.params}
        # defaults of parameters, checked now
        for k in self.defaults:
            if k not in self.params and k not in self.states:
                raise DefinitionError(f"defaults: {k!r} is not a parameter or variable of the model")
        self.key = hashlib.sha256(repr((self.equations, self.threshold, self.reset, self.refractory, self.method,
                                        sorted(self.inputs.items())) + ((self.driven,) if self.driven else ())).encode()).hexdigest()[:16]

    def _numeric(self, expr):
        """Unit names replaced by their internal values."""
        return expr.xreplace({sympy.Symbol(n, real=True): sympy.Float(v) for n, v in self._units.items()})

    def __repr__(self) -> str:
        return f"NeuronModel({self.name or self.key}: states {self.states}, parameters {self.params}, method {self.method!r})"

    def __hash__(self) -> int:
        return hash(self.key)

    def values(self, n: int, given: dict) -> dict[str, np.ndarray]:
        """Per-neuron arrays (internal units) of every parameter and initial state from ``given`` and the defaults:
        parameters must all be given; states default to 0."""
        unknown = set(given) - set(self.params) - set(self.states)
        if unknown:
            raise ValueError(f"{self.name or 'model'}: unknown parameter(s) {sorted(unknown)}; parameters: {self.params}, "
                             f"variables: {self.states}")
        out = {}
        for k in self.params + self.states:
            if k in given:
                v = given[k]
            elif k in self.defaults:
                v = self.defaults[k]
            elif k in self.states:
                v = 0.0
            else:
                raise ValueError(f"{self.name or 'model'}: parameter {k!r} ({self.dims[k]}) has no value; give {k}=...")
            if callable(v):
                out[k] = v
                continue
            out[k] = U.per_element(v, self.dims[k], k, n)
        return out

    def refractory_steps(self, values: dict[str, np.ndarray], dt: float) -> np.ndarray | None:
        """Refractory period in steps per neuron (None without refractoriness)."""
        if self.refractory is None:
            return None
        ref = values[self.refractory] if isinstance(self.refractory, str) else np.full(len(next(iter(values.values()))), self.refractory)
        return np.rint(ref / dt).astype(np.int64)

    def exact_arrays(self, values: dict[str, np.ndarray], dt: float) -> dict[str, np.ndarray]:
        """For ``exact``: the per-neuron propagator entries ``_M_i_j``, ``_N_i_k``, ``_c_i`` from the parameters."""
        A, G, b = self._linear
        ps = sorted({s.name for m in (A, G, b) for s in m.free_symbols})
        n = len(values[self.params[0]]) if self.params else len(values[self.states[0]])
        if ps:
            table = np.stack([values[p] for p in ps], axis=1)
            uniq, inv = np.unique(table, axis=0, return_inverse=True)
        else:
            uniq, inv = np.zeros((1, 0)), np.zeros(n, dtype=np.int64)
        fA, fG, fb = (sympy.lambdify([sympy.Symbol(p, real=True) for p in ps], m, "numpy") for m in (A, G, b))
        nx, nd = A.shape[0], G.shape[1]
        As = np.stack([np.asarray(fA(*row), dtype=float).reshape(nx, nx) for row in uniq])
        Gs = np.stack([np.asarray(fG(*row), dtype=float).reshape(nx, nd) for row in uniq]) if nd else np.zeros((len(uniq), nx, 0))
        bs = np.stack([np.asarray(fb(*row), dtype=float).reshape(nx) for row in uniq])
        M, N, c = I.propagators(As, Gs, bs, dt)
        inv = np.asarray(inv).reshape(-1)
        out = {}
        for i in range(nx):
            for j in range(nx):
                out[f"_M_{i}_{j}"] = M[inv, i, j]
            for k in range(nd):
                out[f"_N_{i}_{k}"] = N[inv, i, k]
            out[f"_c_{i}"] = c[inv, i]
        return out

