r"""Plasticity rules as definitions: synaptic variables, ``on_pre`` / ``on_post`` code, event-driven traces,
clock-driven equations and periodic updates, in Brian2's syntax.

.. code-block:: python

    from neuro.dynamics import SynapseModel

    stdp = SynapseModel('''
        dapre/dt = -apre / taupre : 1 (event-driven)
        dapost/dt = -apost / taupost : 1 (event-driven)
        taupre : second (constant)
        taupost : second (constant)
        Apre : 1 (constant)
        Apost : 1 (constant)
        wmax : 1 (constant)
    ''', on_pre="apre += Apre; w = clip(w + apost, 0, wmax)",
         on_post="apost += Apost; w = clip(w + apre, 0, wmax)",
         defaults={"taupre": 20.0, "taupost": 20.0, "Apre": 0.01, "Apost": -0.0105, "wmax": 1.0})

    sim.Projection(pre, post, weight=0.5, plasticity=stdp)                # the defaults
    sim.Projection(pre, post, weight=0.5, plasticity=stdp(wmax=2.0))      # other values

Names:

* ``w`` is the projection's weight, the value its synapses deliver to their receptor (in that receptor's unit,
  dimensionless unless declared, e.g. ``w : volt``). The delivery is the projection's: plasticity code changes ``w``
  and the synaptic variables.
* Synaptic variables are the differential variables and the declared ``x : unit`` variables that some code writes;
  the other declared names are parameters (per synapse, or one value for all). ``(constant)`` ones may not be written.
* ``x_pre`` / ``x_post`` read variable ``x`` of the presynaptic / postsynaptic neuron (a variable or parameter of a
  user-defined model; ``v`` of the built-in neurons). Their units are checked when the projection is built. Event
  and periodic code may also write the state variables of user-defined neuron models (``theta_post += 0.1*mV``: each
  synapse's code adds its own change, in event order).
* Names listed in ``modulators`` read the network's neuromodulator of that name (dimensionless; three-factor rules).

Differential equations carry a flag:

* ``(event-driven)``: updated only when the synapse has an event, from the time of its last event
  (``lastupdate``), by the exact solution of :math:`\dot x = a x + b` with :math:`a, b` constant: each must be
  linear in its own variable with coefficients made of parameters.
* ``(clock-driven)``: integrated every step for every synapse (``method``: ``exponential_euler`` by default where
  each equation is linear in its own variable, else ``euler``; or ``rk2``, ``rk4``, ``heun``), after the neurons'
  updates of the step (so ``v_post`` is the membrane potential the step ends with).

A subexpression flagged ``(summed)`` whose name is a postsynaptic neuron variable followed by ``_post`` sets that
variable, every step, to the sum over each neuron's synapses (``Igap_post = g * (v_pre - v_post) : amp (summed)``, a
gap junction): the target must be a declared, non-``(constant)`` parameter of a user-defined neuron model, which the
neuron model then integrates as an input that changes from step to step; neurons without synapses in the projection
get 0, and one projection's rule per target variable. The projection still delivers ``w`` to its receptor at each
spike: a rule that only sums (gap junctions) takes ``weight=0``. The CPU loop and the GPU engine (one thread per
postsynaptic neuron adding its synapses in synapse order, :mod:`neuro.dynamics.cudagen_synapse`) give the same bits
(on a GPU, where the expression calls no libm function such as ``exp``: CUDA's may round an ulp away).

The order within a step: periodic code (``periodic={"every": ms, "code": ...}``, at the start of every step whose
time is a multiple of ``every``, time 0 included, once the event-driven variables are brought to that time);
(summed) variables; the neurons' updates; clock-driven updates; presynaptic events (``on_pre``, when the spike reaches the synapse after its
axonal delay) before the delivery of ``w`` (``delivery="after_update"``) or after it (``"before_update"``);
postsynaptic events (``on_post``, after the dendritic part of the delay, ``dendritic_fraction``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
import sympy

from . import integrators as I
from . import units as U
from .equations import DefinitionError, dimension, is_noise, parse, statements

_EXTERNAL = re.compile(r"^(?P<var>[A-Za-z_][A-Za-z_0-9]*?)_(?P<side>pre|post)$")
DELIVERY = ("after_update", "before_update")
CODES = ("on_pre", "on_post", "periodic")


@dataclass
class SynapseModel:
    """A plasticity rule defined by equations and event code (see the module docstring)."""

    equations: str = ""
    on_pre: str = ""
    on_post: str = ""
    periodic: dict | None = None
    modulators: tuple = ()
    delivery: str = "after_update"
    dendritic_fraction: float = 0.0
    method: str | None = None
    defaults: dict = field(default_factory=dict)
    name: str | None = None

    def __post_init__(self):
        if self.delivery not in DELIVERY:
            raise DefinitionError(f"delivery must be one of {DELIVERY}, got {self.delivery!r}")
        f = float(self.dendritic_fraction)
        if not 0.0 <= f <= 1.0:
            raise DefinitionError(f"dendritic_fraction must be in [0, 1], got {self.dendritic_fraction!r}")
        self.modulators = tuple(self.modulators)
        eqs = parse(self.equations)
        self._eqs = {e.name: e for e in eqs}
        for e in eqs:
            where = f"line {e.line} ({e.text!r})"
            if "summed" in e.flags:
                if e.kind != "sub":
                    raise DefinitionError(f"{where}: only a subexpression (x_post = expression : unit) can be (summed)")
                if not e.name.endswith("_post") or not _EXTERNAL.match(e.name):
                    raise DefinitionError(f"{where}: a (summed) variable sums into a variable of the postsynaptic neurons: its name "
                                          "must be that variable's followed by _post (e.g. Igap_post)")
                continue
            if _EXTERNAL.match(e.name):
                raise DefinitionError(f"{where}: names ending in _pre / _post read the neurons' variables; choose another name")
            if e.name in self.modulators:
                raise DefinitionError(f"{where}: {e.name!r} is also listed as a modulator")
            if e.kind == "diff":
                flags = e.flags & {"event-driven", "clock-driven"}
                if len(flags) != 1:
                    raise DefinitionError(f"{where}: a synaptic differential equation needs the flag (event-driven) or (clock-driven)")
            elif e.flags & {"event-driven", "clock-driven"}:
                raise DefinitionError(f"{where}: only differential equations can be (event-driven) or (clock-driven)")
        self.event_driven = [e.name for e in eqs if e.kind == "diff" and "event-driven" in e.flags]
        self.clock_driven = [e.name for e in eqs if e.kind == "diff" and "clock-driven" in e.flags]
        if "w" in self.event_driven:
            raise DefinitionError("w cannot be (event-driven); write its changes in on_pre / on_post, or make it (clock-driven)")
        declared = {e.name: e for e in eqs if e.kind == "param"}
        subs = {e.name: e for e in eqs if e.kind == "sub" and "summed" not in e.flags}
        summed_eqs = [e for e in eqs if "summed" in e.flags]
        self.w_dim = self._eqs["w"].dim if "w" in self._eqs else U.ONE
        if "w" in subs:
            raise DefinitionError(f"line {subs['w'].line}: w is the synapse's weight, not a subexpression")
        dims = {e.name: e.dim for e in eqs if "summed" not in e.flags}
        dims.update(w=self.w_dim, t=U.SECOND, dt=U.SECOND, lastupdate=U.SECOND)
        for m in self.modulators:
            dims[m] = U.ONE
        self._units: dict[str, float] = {}
        self.external: set[str] = set()  # x_pre / x_post names used
        self.writes: set[str] = set()  # ... and written by event or periodic code

        def resolve(expr, where):
            for s in expr.free_symbols:
                n = s.name
                if n in dims or n in self._units:
                    continue
                if is_noise(n):
                    raise DefinitionError(f"{where}: noise (xi) is not supported in synaptic equations")
                if _EXTERNAL.match(n):
                    self.external.add(n)
                    continue
                got = U.internal(n)
                if got is None:
                    raise DefinitionError(f"{where}: unknown name {n!r} (not a variable, parameter, unit, modulator or x_pre / x_post "
                                          "neuron variable)")
                dims[n], self._units[n] = got

        self._dims = dims
        self._checks: list[tuple[sympy.Expr, U.Dim | None, str]] = []  # (expression, required dimension, where)
        # subexpressions, inlined
        resolved: dict[str, sympy.Expr] = {}

        def visit(name, stack):
            if name in resolved:
                return resolved[name]
            if name in stack:
                raise DefinitionError(f"line {subs[name].line}: subexpression {name!r} depends on itself ({' -> '.join(stack + [name])})")
            e = subs[name]
            where = f"line {e.line} ({e.text!r})"
            resolve(e.expr, where)
            self._checks.append((e.expr, e.dim, where))
            inner = {sympy.Symbol(d, real=True): visit(d, stack + [name]) for d in {s.name for s in e.expr.free_symbols} & set(subs)}
            resolved[name] = e.expr.xreplace(inner)
            return resolved[name]

        for name in subs:
            visit(name, [])
        inline = {sympy.Symbol(n, real=True): e for n, e in resolved.items()}

        def expand(expr):
            return expr.xreplace(inline)

        rhs = {}
        for name in self.event_driven + self.clock_driven:
            e = self._eqs[name]
            where = f"line {e.line} ({e.text!r})"
            resolve(e.expr, where)
            self._checks.append((e.expr, e.dim / U.SECOND, where))
            rhs[name] = expand(e.expr)
        # (summed): target_post = sum over the synapses onto each neuron, every step before the neurons' updates
        self.summed: dict[str, sympy.Expr] = {}
        for e in summed_eqs:
            where = f"line {e.line} ({e.text!r})"
            resolve(e.expr, where)
            expr = expand(e.expr)
            read = {s.name for s in expr.free_symbols}
            if read & set(self.event_driven):
                raise DefinitionError(f"{where}: a (summed) expression cannot read an (event-driven) variable ({sorted(read & set(self.event_driven))})")
            if e.name in read:
                raise DefinitionError(f"{where}: a (summed) expression cannot read its own target")
            self._checks.append((e.expr, e.dim, where))
            self._checks.append((sympy.Symbol(e.name, real=True), e.dim, where))  # the target's unit, known when the projection is built
            self.external.add(e.name)
            self.summed[e.name] = expr
        # the code blocks
        self._code: dict[str, list] = {}
        written: set[str] = set()
        period = None
        if self.periodic is not None:
            if not isinstance(self.periodic, dict) or set(self.periodic) != {"every", "code"}:
                raise DefinitionError(f"periodic must be a dict {{'every': time, 'code': statements}}, got {self.periodic!r}")
            period = float(U.to_internal(self.periodic["every"], U.SECOND, "periodic['every']"))
            if not (np.isfinite(period) and period > 0):
                raise DefinitionError(f"periodic['every'] must be a time > 0, got {self.periodic['every']!r}")
        self.period = period
        for which in CODES:
            text = self.periodic["code"] if which == "periodic" and self.periodic else (getattr(self, which) if which != "periodic" else "")
            block = []
            for target, op, expr, src in statements(text or "", which):
                where = f"{which} {src!r}"
                if target in self.summed:
                    raise DefinitionError(f"{where}: {target!r} is set by a (summed) variable every step; code cannot write it")
                if _EXTERNAL.match(target) and target not in declared and target not in subs:
                    resolve(expr, where)
                    self.external.add(target)
                    self.writes.add(target)
                    self._checks.append((expr, None if op in ("*=", "/=") else target, where))  # the target's unit, known at build
                    if op in ("*=", "/="):
                        self._checks.append((expr, U.ONE, where))
                    block.append((target, op, expand(expr)))
                    continue
                if target in self.modulators:
                    raise DefinitionError(f"{where}: {target!r} is a neuromodulator, read-only here (release it with Network.release)")
                if target in subs:
                    raise DefinitionError(f"{where}: {target!r} is a subexpression, it cannot be written")
                if target in ("t", "dt", "lastupdate"):
                    raise DefinitionError(f"{where}: {target!r} cannot be written")
                if target not in dims:
                    raise DefinitionError(f"{where}: {target!r} is not a variable of the synapse model (variables: "
                                          f"{sorted(['w'] + self.event_driven + self.clock_driven + list(declared))})")
                if target in declared and "constant" in declared[target].flags:
                    raise DefinitionError(f"{where}: the code writes {target!r}, a (constant) parameter")
                if target in self.clock_driven:
                    raise DefinitionError(f"{where}: {target!r} is (clock-driven); event code may write event-driven and declared "
                                          "variables and w")
                resolve(expr, where)
                self._checks.append((expr, U.ONE if op in ("*=", "/=") else dims[target], where))
                block.append((target, op, expand(expr)))
                written.add(target)
            self._code[which] = block
        if not any(self._code.values()) and not self.clock_driven and not self.summed:
            raise DefinitionError("the synapse model changes nothing: give on_pre, on_post, periodic code, (clock-driven) equations or "
                                  "(summed) variables")
        self.discrete = [n for n in declared if n in written and n != "w"]
        self.params = [n for n in declared if n not in written and n != "w"]
        self.states = self.event_driven + self.clock_driven + self.discrete
        # event-driven: dx/dt = a x + b with a, b constant (parameters and numbers only)
        params = {sympy.Symbol(p, real=True) for p in self.params} | {sympy.Symbol(u, real=True) for u in self._units}
        self._decay = {}
        for name in self.event_driven:
            e = self._eqs[name]
            x = sympy.Symbol(name, real=True)
            f = sympy.expand(rhs[name])
            a = sympy.diff(f, x)
            b = f.xreplace({x: 0})
            if not (a.free_symbols | b.free_symbols) <= params:
                raise DefinitionError(f"line {e.line} ({e.text!r}): an (event-driven) equation must be linear in its own variable with "
                                      "constant coefficients (dx/dt = a*x + b, a and b made of parameters); use (clock-driven)")
            self._decay[name] = (self._numeric(a), self._numeric(b))
        # clock-driven: one step of the chosen method
        self._clock = {}
        if self.clock_driven:
            for name in self.clock_driven:
                if {s.name for s in rhs[name].free_symbols} & set(self.event_driven):
                    e = self._eqs[name]
                    raise DefinitionError(f"line {e.line} ({e.text!r}): a (clock-driven) equation cannot read an (event-driven) variable")
            crhs = {n: self._numeric(rhs[n]) for n in self.clock_driven}
            method = self.method
            if method is None or method == "exact":
                diagonal = all(not (sympy.diff(crhs[n], sympy.Symbol(n, real=True)).free_symbols & {sympy.Symbol(c, real=True) for c in self.clock_driven})
                               for n in self.clock_driven)
                if method == "exact" and not diagonal:
                    raise DefinitionError("method 'exact' for synapses needs each clock-driven equation linear in its own variable only")
                method = "exponential_euler" if diagonal else "euler"
            elif method not in I.METHODS:
                raise DefinitionError(f"unknown integration method {method!r}; expected one of {I.METHODS}")
            where = {n: f"line {self._eqs[n].line} ({self._eqs[n].text!r})" for n in self.clock_driven}
            self._clock = I.update(crhs, self.clock_driven, method, where)
            self.method = method
        self._code = {k: [(t, op, self._numeric(e)) for t, op, e in v] for k, v in self._code.items()}
        self.summed = {k: self._numeric(e) for k, e in self.summed.items()}
        self.dims = {n: dims[n] for n in self.states + self.params}
        self.dims["w"] = self.w_dim
        self._check_units({})
        for k in self.defaults:
            if k not in self.params and k not in self.states:
                raise DefinitionError(f"defaults: {k!r} is not a parameter or variable of the synapse model "
                                      f"(parameters {self.params}, variables {self.states})")
        self.key = hashlib.sha256(repr((self.equations, self.on_pre, self.on_post, self.periodic and self.periodic.get("code"), self.method,
                                        self.modulators)).encode()).hexdigest()[:16]

    def _numeric(self, expr):
        return expr.xreplace({sympy.Symbol(n, real=True): sympy.Float(v) for n, v in self._units.items()})

    def _check_units(self, external: dict[str, U.Dim]) -> None:
        """Unit checks; expressions that read neuron variables not in ``external`` wait for the projection's build."""
        dims = dict(self._dims)
        dims.update(external)
        for expr, want, where in self._checks:
            if isinstance(want, str):  # a neuron variable written: its unit
                if want not in dims:
                    continue
                want = dims[want]
            if any(s.name not in dims for s in expr.free_symbols):
                continue
            got = dimension(expr, dims, where)
            if want is not None and got != want and not expr.is_zero:
                raise DefinitionError(f"{where}: the expression has the unit {got}, it must be {want}")

    def bind(self, external: dict[str, U.Dim], where: str, writable: set | None = None, summable: set | None = None) -> None:
        """Check the neuron variables read (``x_pre`` / ``x_post`` -> their dimensions, None when the neuron has no such
        variable), those written (``writable``: the names that may be), the targets of (summed) variables (``summable``:
        the names that may be) and every unit that depends on them."""
        missing = sorted(n for n in self.external if external.get(n) is None)
        if missing:
            raise DefinitionError(f"{where}: the synapse model reads {missing}, which the neurons do not have")
        bad = sorted(set(self.summed) - (summable or set()))
        if bad:
            raise DefinitionError(f"{where}: the synapse model sums into {bad}; the target of a (summed) variable must be a declared, "
                                  "non-(constant) parameter of a user-defined neuron model (e.g. 'Igap : amp'), not a differential "
                                  "variable nor a built-in neuron's")
        bad = sorted(self.writes - (writable or set()))
        if bad:
            raise DefinitionError(f"{where}: the synapse model writes {bad}; code can write the state variables of user-defined neuron "
                                  "models (sim.Population(n, NeuronModel)), not parameters nor the built-in neurons' variables")
        try:
            self._check_units(external)
        except DefinitionError as err:
            raise DefinitionError(f"{where}: {err}") from None

    def __call__(self, **values) -> Plasticity:
        """This rule with parameter values and initial values of its variables (numbers in the documented units,
        quantities, per-synapse arrays, or ``f(rng, n)`` drawn when the projection is built)."""
        return Plasticity(self, values)

    def __repr__(self) -> str:
        return (f"SynapseModel({self.name or self.key}: variables {['w'] + self.states}, parameters {self.params}, "
                f"event-driven {self.event_driven}, clock-driven {self.clock_driven})")

    def __hash__(self) -> int:
        return hash(self.key)

    def values(self, n: int, given: dict, rng: np.random.Generator | None = None, what: str = "synapse model") -> dict[str, np.ndarray]:
        """Per-synapse arrays (internal units) of every parameter and initial variable: ``given``, else the defaults;
        variables default to 0, parameters must have a value."""
        unknown = set(given) - set(self.params) - set(self.states)
        if unknown:
            raise ValueError(f"{what}: unknown parameter(s) {sorted(unknown)}; parameters: {self.params}, variables: {self.states}")
        out = {}
        for k in self.params + self.states:
            v = given[k] if k in given else self.defaults.get(k, 0.0 if k in self.states else None)
            if v is None:
                raise ValueError(f"{what}: parameter {k!r} ({self.dims[k]}) has no value; give it to the model call, e.g. rule({k}=...)")
            if callable(v):
                if rng is None:
                    raise ValueError(f"{what}: {k} is drawn by a function; it needs the projection's random stream")
                v = v(rng, n)
            try:
                out[k] = U.per_element(v, self.dims[k], k, n, "one value per synapse")
            except ValueError as err:
                raise ValueError(f"{what}: {err}") from None
        return out


@dataclass
class Plasticity:
    """A :class:`SynapseModel` with values for its parameters and variables (``model(**values)``)."""

    model: SynapseModel
    values: dict

    def __post_init__(self):
        unknown = set(self.values) - set(self.model.params) - set(self.model.states)
        if unknown:
            raise ValueError(f"{self.model.name or 'synapse model'}: unknown parameter(s) {sorted(unknown)}; parameters: "
                             f"{self.model.params}, variables: {self.model.states}")

    @property
    def delivery(self) -> str:
        return self.model.delivery

    @property
    def dendritic_fraction(self) -> float:
        return float(self.model.dendritic_fraction)
