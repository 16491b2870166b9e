r"""Code generated from a :class:`~neuro.dynamics.discrete.StepLaw` for the training layer (:class:`neuro.nn.Neuron`):
a readable torch step (the reference: autograd through it is the law's gradient) and a fused pair of Numba CPU
kernels, both printed from the same sympy expressions.

**Reference** (``step``): one step on tensors, the statements of the definition in order, the spike
``s = spike(f)`` (Heaviside forward, surrogate derivative backward) and the reset as
:math:`z = (1 - r) n + r R` with :math:`r = s` (or ``s.detach()`` for a detached reset): for a spike of 0 or 1 this is
exactly :math:`n` or :math:`R`, the values the kernel selects.

**Kernels** (parallel over blocks of neurons, time loop outside, neuron loop inside, as :mod:`neuro.ops.lif.cpu`):

* ``forward(x, z0, scal, arr, s_out, zT_out, zseq_out, block)`` runs all T steps and writes the spikes and the
  final state (and the state after every step when asked). Nothing else is kept for the backward pass.
* ``backward(...)`` recomputes, block by block, the state before every step into a block-local scratch
  (``T x k x block``, in L2) with the forward's code (so the same bits and the same spikes), then runs backwards
  in time. With :math:`\bar z_t` the gradient of the state after step :math:`t`, :math:`\bar s_t` that of the spike
  and :math:`\sigma'_t` the surrogate derivative at :math:`f_t`:

  .. math::

      \bar f_t &= \sigma'_t \Big(\bar s_t + \sum_i \bar z_{t,i} (R_i - N_i)\Big) \quad (\text{the sum dropped for a detached reset})\\
      \bar w &\mathrel{+}= \sum_i \bar z_{t,i} \frac{\partial Z_i}{\partial w} + \bar f_t \frac{\partial f}{\partial w},
      \qquad Z = N \text{ or } R \text{ (as the neuron fired)}

  for :math:`w` each previous state variable (giving :math:`\bar z_{t-1}`), the input :math:`x_t` and every learned
  parameter; the partial derivatives are ``sympy.diff`` of the substituted forms
  (:attr:`StepLaw.substituted <neuro.dynamics.discrete.StepLaw.substituted>`), shared terms pulled out by
  ``sympy.cse``.

Parameters reach the kernels as ``scal`` (one value each, read once per block) and ``arr`` (``[P, N]``: one value per
neuron, for parameters learned per neuron or per channel, expanded by the caller). Literals carry the kernel's
dtype (``np.float32(0.5)`` in float32 kernels), so float32 arithmetic stays float32.

Sources are written to ``$NEURO_CACHE/neurons/`` (default ``~/.cache/neuro/neurons``) under a hash of the law and
the variant, and imported from there; Numba caches the compiled kernels beside them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import sympy
from sympy.printing.pycode import PythonCodePrinter

from .discrete import INPUT, StepLaw, sym
from .equations import DefinitionError

__all__ = ["reference_source", "kernel_source", "load_reference", "kernels", "Variant", "cache_dir"]


# --------------------------------------------------------------------------------------------------------------- printers
class _Printer(PythonCodePrinter):
    """Shared by both targets: numbers as float literals of the target's type, small integer powers as products."""

    literal = "{}"

    def _num(self, value: float) -> str:
        return self.literal.format(repr(float(value)))

    def _print_Integer(self, expr):
        return self._num(int(expr))

    def _print_Rational(self, expr):
        return self._num(float(expr))

    def _print_Float(self, expr):
        return self._num(float(expr))

    def _print_NumberSymbol(self, expr):
        return self._num(float(expr))

    _print_Exp1 = _print_NumberSymbol
    _print_Pi = _print_NumberSymbol

    def _print_Half(self, expr):
        return self._num(0.5)

    _print_One = _print_Integer
    _print_Zero = _print_Integer
    _print_NegativeOne = _print_Integer

    def _print_Pow(self, expr):
        base, e = expr.base, expr.exp
        b = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Pow"])
        if e == sympy.S.Half:
            return self._sqrt(self._print(base))
        if e == -sympy.S.Half:
            return f"({self._num(1)}/{self._sqrt(self._print(base))})"
        if e.is_Integer:
            n = int(e)
            if n == 0:
                return self._num(1)
            if 0 < abs(n) <= 4:
                prod = "*".join([b] * abs(n))
                return f"({prod})" if n > 0 else f"({self._num(1)}/({prod}))"
        return f"{b}**{self.parenthesize(e, sympy.printing.precedence.PRECEDENCE['Pow'])}"

    def _print_Piecewise(self, expr):
        out = self._print(expr.args[-1][0])
        for e, c in reversed(expr.args[:-1]):
            out = self._select(self._print(c), self._print(e), out)
        return out

    def _print_Derivative(self, expr):
        raise DefinitionError(f"cannot differentiate {expr.expr} (a function without a derivative the kernels know)")


class _TorchPrinter(_Printer):
    _FUNCS = {"exp": "exp", "log": "log", "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan", "tanh": "tanh", "sinh": "sinh",
              "cosh": "cosh", "Abs": "abs", "sign": "sign", "floor": "floor", "ceiling": "ceil"}

    def _sqrt(self, s):
        return f"torch.sqrt({s})"

    def _select(self, cond, a, b):
        return f"torch.where({cond}, {a}, {b})"

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name in self._FUNCS:
            return f"torch.{self._FUNCS[name]}({self._print(expr.args[0])})"
        raise DefinitionError(f"the torch reference has no function {name!r}")

    _print_exp = _print_log = _print_sin = _print_cos = _print_tan = _print_tanh = _print_sinh = _print_cosh = _print_Function
    _print_Abs = _print_sign = _print_floor = _print_ceiling = _print_Function

    def _minmax(self, expr, fn, kw):
        args = list(expr.args)
        nums = [a for a in args if a.is_Number]
        rest = [self._print(a) for a in args if not a.is_Number]
        out = rest[0]
        for a in rest[1:]:
            out = f"torch.{fn}({out}, {a})"
        if nums:
            out = f"torch.clamp({out}, {kw}={self._print(nums[0])})"
        return out

    def _print_Min(self, expr):
        return self._minmax(expr, "minimum", "max")

    def _print_Max(self, expr):
        return self._minmax(expr, "maximum", "min")

    def _print_And(self, expr):
        return "(" + " & ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " | ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"(~{self._print(expr.args[0])})"


class _NumbaPrinter(_Printer):
    """Scalar code for Numba; ``float32``: literals as ``np.float32(...)``; exp vectorises (:func:`vexp`)."""

    _FUNCS = {"log": "math.log", "sin": "math.sin", "cos": "math.cos", "tan": "math.tan", "tanh": "math.tanh", "sinh": "math.sinh",
              "cosh": "math.cosh", "Abs": "abs", "sign": "np.sign", "floor": "np.floor", "ceiling": "np.ceil", "exp": "vexp"}

    def __init__(self, float32: bool):
        super().__init__({"fully_qualified_modules": True})
        self.literal = "np.float32({})" if float32 else "{}"

    def _sqrt(self, s):
        return f"np.sqrt({s})"

    def _select(self, cond, a, b):
        return f"(({a}) if ({cond}) else ({b}))"

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name in self._FUNCS:
            return f"{self._FUNCS[name]}({self._print(expr.args[0])})"
        raise DefinitionError(f"the generated kernel has no function {name!r}")

    _print_exp = _print_log = _print_sin = _print_cos = _print_tan = _print_tanh = _print_sinh = _print_cosh = _print_Function
    _print_Abs = _print_sign = _print_floor = _print_ceiling = _print_Function

    def _print_Min(self, expr):
        return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Max(self, expr):
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Heaviside(self, expr):  # derivative of Max / Min / Abs pieces
        return f"({self._num(1)} if ({self._print(expr.args[0])}) > 0 else {self._num(0)})"

    def _print_DiracDelta(self, expr):  # derivative of sign / Heaviside: zero almost everywhere
        return self._num(0)

    def _print_And(self, expr):
        return "(" + " and ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " or ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"(not {self._print(expr.args[0])})"


def _code(expr, names: dict[str, str], printer) -> str:
    expr = sympy.sympify(expr)
    return printer.doprint(expr.xreplace({s: sympy.Symbol(names[s.name], real=True) for s in expr.free_symbols if s.name in names}))


# ------------------------------------------------------------------------------------------------------ the step, as text
def _params(law: StepLaw) -> list[str]:
    return list(law.params) + list(law.derived)


def _step_parts(law: StepLaw, printer):
    """The forward step as code of ``printer``, for any target to lay out: ``(update, f, resets, written)`` with
    ``update`` the assignments ``(name, rhs)`` in order (``z_<state>``, temporaries ``t_<name>``, from ``x_in`` and
    ``p_<param>``), ``f`` the threshold function, ``resets`` the reset's assignments ``(r_<target>, rhs)`` in order
    and ``written`` the state variables the reset writes (each once)."""
    names = {s: f"z_{s}" for s in law.states}
    names.update({p: f"p_{p}" for p in _params(law)})
    names[INPUT.name] = "x_in"
    update = []
    for target, expr in law.update:
        rhs = _code(expr, names, printer)
        if target not in law.states:
            names[target] = f"t_{target}"
        update.append((names[target], rhs))
    f = _code(law.threshold, names, printer)
    reset_names = dict(names)
    resets, written = [], []
    for target, expr in law.reset:
        rhs = _code(expr, reset_names, printer)
        reset_names[target] = f"r_{target}"
        resets.append((f"r_{target}", rhs))
        written.append(target)
    return update, f, resets, list(dict.fromkeys(written))


def _step_lines(law: StepLaw, printer, indent: str, tensors: bool) -> list[str]:
    """The forward step: locals ``z_<state>`` (the state, updated in place), ``x_in``, ``p_<param>``; leaves ``f`` (the
    threshold function), the spike (``fire`` in the kernel; ``s``, ``r`` in the reference) and the new state in ``z_*``."""
    update, f, resets, written = _step_parts(law, printer)
    out = [f"{indent}{name} = {rhs}" for name, rhs in update]
    out.append(f"{indent}f = {f}")
    if tensors:
        out.append(f"{indent}s = spike(f)")
        out.append(f"{indent}r = s.detach() if detach else s")
    else:
        out.append(f"{indent}fire = f {'>' if law.strict else '>='} {printer._num(0)}")
    out += [f"{indent}{name} = {rhs}" for name, rhs in resets]
    for target in written:
        if tensors:
            out.append(f"{indent}z_{target} = (1.0 - r) * z_{target} + r * r_{target}")
        else:
            out.append(f"{indent}z_{target} = r_{target} if fire else z_{target}")
    return out


def reference_source(law: StepLaw) -> str:
    """A readable torch function ``step(x_in, *states, *params, spike, detach) -> (s, *states)``."""
    pr = _TorchPrinter({"fully_qualified_modules": True})
    args = ["x_in"] + [f"z_{s}" for s in law.states] + [f"p_{p}" for p in _params(law)] + ["spike", "detach"]
    doc = law.describe().replace("\n", "\n        ")
    lines = [f"def step({', '.join(args)}):",
             f'    """One step of {law.name}: the spike and the state after it (reset applied as (1 - r) z + r z_reset).',
             "",
             f"        {doc}",
             '    """']
    lines += _step_lines(law, pr, "    ", tensors=True)
    lines.append(f"    return (s, {', '.join(f'z_{s}' for s in law.states)},)")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------------- kernels
@dataclass(frozen=True)
class Variant:
    """What a compiled kernel pair is specialised to (besides the law): parameters read per neuron (``arrays``),
    parameters whose gradient the backward accumulates (``grads``), the surrogate id, a detached reset, float32."""

    arrays: tuple[str, ...]
    grads: tuple[str, ...]
    surrogate: int
    detach: bool
    float32: bool

    def tag(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:12]


def _layout(law: StepLaw, v: Variant) -> tuple[list[str], list[str]]:
    ps = _params(law)
    return [p for p in ps if p not in v.arrays], [p for p in ps if p in v.arrays]


def _derivatives(law: StepLaw, v: Variant):
    """Sympy expressions of the backward step (see the module doc), in the symbols ``o_<state>`` (state before the step),
    ``x_in``, ``p_<param>``, ``g_<state>`` (gradient of the state after the step), ``gspk`` (of the spike) and ``sg``."""
    new, f, reset = law.substituted
    g = {s: sym(f"_g_{s}") for s in law.states}
    gs = sym("_gspk")
    written = law.written_by_reset()
    gs_tot = gs + (sympy.Integer(0) if v.detach else sum((g[s] * (reset[s] - new[s]) for s in written), sympy.Integer(0)))
    wrt = [("state", s, sym(s)) for s in law.states] + [("input", "x", INPUT)] + [("param", p, sym(p)) for p in v.grads]
    rows = []
    for kind, name, w in wrt:
        e0 = sum((g[s] * sympy.diff(new[s], w) for s in law.states), sympy.Integer(0))
        e1 = sum((g[s] * sympy.diff(reset[s], w) for s in law.states), sympy.Integer(0))
        ef = sympy.diff(f, w)
        rows.append((kind, name, e0, e1, ef))
    for _, _, e0, e1, ef in rows:
        for e in (e0, e1, ef):
            bad = e.atoms(sympy.Derivative)
            if bad:
                raise DefinitionError(f"{law.name}: cannot differentiate {sorted(map(str, bad))[0]} (its derivative is unknown to the "
                                      "kernel generator)")
    return gs_tot, rows


def _backward_parts(law: StepLaw, v: Variant, printer):
    """The backward step as code of ``printer``: ``(shared, gf, results)`` with ``shared`` the assignments
    ``(k<n>, rhs)`` of the shared terms (``sympy.cse``), ``gf`` the threshold function's gradient before the factor
    ``sg`` and ``results[(kind, name)]`` (kind ``state``, ``input`` or ``param``) the gradient of that argument as
    ``(no_fire, fire, through_f)``: the code of the terms where the neuron did not fire and where it fired (``fire``
    is ``None`` when both are equal, ``no_fire`` then ``None`` for a zero), and of the factor of ``gf`` (``None`` for a
    zero)."""
    gs_tot, rows = _derivatives(law, v)
    names = {s: f"o_{s}" for s in law.states}
    names.update({p: f"p_{p}" for p in _params(law)})
    names.update({f"_g_{s}": f"g_{s}" for s in law.states})
    names.update({INPUT.name: "x_in", "_gspk": "gspk"})
    exprs = [gs_tot]
    for _, _, e0, e1, ef in rows:
        exprs += [e0, e1, ef]
    repl, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols("_k", real=True))
    for s, _ in repl:
        names[s.name] = f"k{s.name[2:]}"
    shared = [(names[s.name], _code(e, names, printer)) for s, e in repl]
    gf = _code(reduced[0], names, printer)
    results = {}
    for k, (kind, name, _, _, _) in enumerate(rows):
        e0, e1, ef = reduced[1 + 3 * k: 4 + 3 * k]
        if e0 == e1:
            no_fire, fire = (_code(e0, names, printer) if e0 != 0 else None), None
        else:
            no_fire, fire = _code(e0, names, printer), _code(e1, names, printer)
        results[(kind, name)] = (no_fire, fire, _code(ef, names, printer) if ef != 0 else None)
    return shared, gf, results


def _backward_lines(law: StepLaw, v: Variant, printer, indent: str) -> list[str]:
    shared, gf, results = _backward_parts(law, v, printer)
    out = [f"{indent}{name} = {rhs}" for name, rhs in shared]
    out.append(f"{indent}gf = ({gf}) * sg")

    def grad(key):
        no_fire, fire, ef = results[key]
        parts = []
        if fire is None:
            if no_fire is not None:
                parts.append(f"({no_fire})")
        else:
            parts.append(f"(({fire}) if fire else ({no_fire}))")
        if ef is not None:
            parts.append(f"gf * ({ef})")
        return " + ".join(parts) if parts else printer._num(0)

    for s in law.states:
        out.append(f"{indent}ng_{s} = {grad(('state', s))}")
    out.append(f"{indent}gx_t[j] = {grad(('input', 'x'))}")
    for p in v.grads:
        out.append(f"{indent}gp_{p}[j] += {grad(('param', p))}")
    for s in law.states:
        out.append(f"{indent}cg_{s}[j] = ng_{s}")
    return out


_KERNEL_HEADER = '''# Generated by neuro.dynamics.torchgen from a neuron law ({name}, key {key}, variant {tag}); edits are overwritten.
# {variant}
import math

import numpy as np
from numba import njit, prange

from neuro.dynamics.torchgen_support import vexp
from neuro.ops.surrogate.cpu import surrogate_grad

'''


def kernel_source(law: StepLaw, v: Variant) -> str:
    """The Numba module of ``law`` for variant ``v``: ``forward``, ``forward_states``, ``backward``, ``backward_gs1``
    (the spike gradient one broadcast value, as ``loss = s.sum()`` gives)."""
    pr = _NumbaPrinter(v.float32)
    scal, arr = _layout(law, v)
    k = len(law.states)
    ZERO, ONE = pr._num(0), pr._num(1)

    def params_block(ind):
        out = [f"{ind}p_{p} = scal[{i}]" for i, p in enumerate(scal)]
        return out

    def arrays_block(ind):
        return [f"{ind}q_{p} = arr[{i}, lo:hi]" for i, p in enumerate(arr)]

    def arrays_read(ind):
        return [f"{ind}p_{p} = q_{p}[j]" for p in arr]

    src = [_KERNEL_HEADER.format(name=law.name, key=law.key, tag=v.tag(), variant=repr(v))]
    for states_out in (False, True):
        fname = "forward_states" if states_out else "forward"
        body = ["@njit(parallel=True, cache=True, error_model='numpy')",
                f"def {fname}(x, z0, scal, arr, s_out, zT_out, zseq_out, block):",
                "    T, N = x.shape",
                "    n_blocks = (N + block - 1) // block"]
        body += params_block("    ")
        body += ["    for blk in prange(n_blocks):",
                 "        lo = blk * block",
                 "        hi = min(N, lo + block)",
                 "        n = hi - lo"]
        body += [f"        c_{s} = z0[{i}, lo:hi].copy()" for i, s in enumerate(law.states)]
        body += arrays_block("        ")
        body += ["        for t in range(T):",
                 "            xt = x[t, lo:hi]",
                 "            st = s_out[t, lo:hi]",
                 "            for j in range(n):",
                 "                x_in = xt[j]"]
        body += [f"                z_{s} = c_{s}[j]" for s in law.states]
        body += arrays_read("                ")
        body += _step_lines(law, pr, "                ", tensors=False)
        body += [f"                c_{s}[j] = z_{s}" for s in law.states]
        body.append(f"                st[j] = {ONE} if fire else {ZERO}")
        if states_out:
            body += [f"            zseq_out[{i}, t, lo:hi] = c_{s}" for i, s in enumerate(law.states)]
        body += [f"        zT_out[{i}, lo:hi] = c_{s}" for i, s in enumerate(law.states)]
        src.append("\n".join(body) + "\n\n")
    for gs_scalar in (False, True):
        fname = "backward_gs1" if gs_scalar else "backward"
        body = ["@njit(parallel=True, cache=True, error_model='numpy')",
                f"def {fname}(gs, gzT, x, z0, scal, arr, alpha, gx_out, gz0_out, gscal_out, garr_out, block):",
                "    T, N = x.shape",
                "    n_blocks = (N + block - 1) // block"]
        body += params_block("    ")
        if gs_scalar:
            body.append("    gspk = gs[0, 0]")
        body += ["    for blk in prange(n_blocks):",
                 "        lo = blk * block",
                 "        hi = min(N, lo + block)",
                 "        n = hi - lo"]
        body += arrays_block("        ")
        # 1. the state before every step, recomputed with the forward's code
        body.append(f"        zs = np.empty((T, {k}, n), dtype=x.dtype)")
        body += [f"        c_{s} = z0[{i}, lo:hi].copy()" for i, s in enumerate(law.states)]
        body += ["        for t in range(T):",
                 "            xt = x[t, lo:hi]"]
        body += [f"            zs[t, {i}, :] = c_{s}" for i, s in enumerate(law.states)]
        body += ["            for j in range(n):",
                 "                x_in = xt[j]"]
        body += [f"                z_{s} = c_{s}[j]" for s in law.states]
        body += arrays_read("                ")
        body += _step_lines(law, pr, "                ", tensors=False)
        body += [f"                c_{s}[j] = z_{s}" for s in law.states]
        # 2. backwards in time
        body += [f"        cg_{s} = gzT[{i}, lo:hi].copy()" for i, s in enumerate(law.states)]
        body += [f"        gp_{p} = np.zeros(n, dtype=x.dtype)" for p in v.grads]
        body += ["        for t in range(T - 1, -1, -1):",
                 "            xt = x[t, lo:hi]",
                 "            gx_t = gx_out[t, lo:hi]",
                 "            zt = zs[t]"]
        if not gs_scalar:
            body.append("            gst = gs[t, lo:hi]")
        body += ["            for j in range(n):",
                 "                x_in = xt[j]"]
        body += [f"                o_{s} = zt[{i}, j]" for i, s in enumerate(law.states)]
        body += [f"                z_{s} = o_{s}" for s in law.states]
        body += arrays_read("                ")
        body += _step_lines(law, pr, "                ", tensors=False)
        body.append(f"                sg = surrogate_grad(f, {v.surrogate}, alpha)")
        if not gs_scalar:
            body.append("                gspk = gst[j]")
        body += [f"                g_{s} = cg_{s}[j]" for s in law.states]
        body += _backward_lines(law, v, pr, "                ")
        body += [f"        gz0_out[{i}, lo:hi] = cg_{s}" for i, s in enumerate(law.states)]
        for p in v.grads:
            if p in arr:
                body.append(f"        garr_out[{arr.index(p)}, lo:hi] = gp_{p}")
            else:
                body.append(f"        gscal_out[{scal.index(p)}, lo:hi] = gp_{p}")
        src.append("\n".join(body) + "\n\n")
    return "".join(src)


# ---------------------------------------------------------------------------------------------------------------- loading
def cache_dir() -> Path:
    from .codegen import cache_dir as _cache_dir

    return _cache_dir("neurons")


def _import(name: str, source, what: str):
    """Module ``name`` of the source ``source()`` (see :func:`neuro.dynamics.codegen.import_generated`)."""
    from .codegen import import_generated

    return import_generated("neurons", name, source, what)


_REF_HEADER = '''# Generated by neuro.dynamics.torchgen from a neuron law ({name}, key {key}); edits are overwritten.
import torch

'''


def load_reference(law: StepLaw):
    """The generated torch module of ``law`` (its ``step``)."""
    return _import(f"neuro_neuron_{law.key}_torch", lambda: _REF_HEADER.format(name=law.name, key=law.key) + reference_source(law),
                   f"{law.name} (torch reference)")


def kernels(law: StepLaw, variant: Variant):
    """The generated Numba module of ``law`` for ``variant`` (compiled on first call, cached on disk)."""
    return _import(f"neuro_neuron_{law.key}_{variant.tag()}", lambda: kernel_source(law, variant), f"{law.name} (Numba kernels)")
