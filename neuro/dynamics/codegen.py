"""Code generated from a :class:`~neuro.dynamics.NeuronModel`: a readable NumPy step (the reference) and a Numba kernel
(a C-callable ``cfunc`` the simulator's compiled loop calls through a function pointer), both from the same update
expressions. Sources are written to ``$NEURO_CACHE/models/`` (default ``~/.cache/neuro/models``) under a hash of the
definition and imported from there, so Numba caches the compiled kernel beside them.

One step of a population (``n`` neurons from global index ``lo``; the same order in both)::

    r0 = refractory counter; variables written while refractory are restored (Brian2's conditional write)
    r = r0 - 1 if r0 > 0 else 0;  active = r <= 0
    new state from the old one (the integration method); (unless refractory) variables keep theirs when not active
    fired = active and threshold(new state); reset statements in order where fired; r = max(t_ref, 1) where fired
    hold = new value of each restored variable

The kernel's arrays come through a table of addresses (:func:`layout` gives its order): the spike flags (uint8), the
refractory counters (int64), then float64 arrays of the state variables, their held copies, the parameters and the
exact method's propagators.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

import sympy
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from .integrators import DT, normal

NOISE_STREAM = 16  # counter-based stream of the first noise variable (neuro.ops.rng_cpu); xi_k uses 16 + k


def held(model) -> list[str]:
    """Variables whose writes during the refractory period are discarded (Brian2's conditional write): the
    ``(unless refractory)`` ones."""
    return list(model.unless_refractory) if model.refractory is not None else []


def layout(model) -> list[str]:
    """Names of the arrays of the kernel's address table, in order."""
    names = ["_fired", "_refrac"] + list(model.states) + [f"_hold_{v}" for v in held(model)] + list(model.params)
    if model.refractory is not None:
        names.append("_ref_steps")
    if model.method == "exact":
        nx, nd = len(model.diff), len(model.discrete)
        names += [f"_M_{i}_{j}" for i in range(nx) for j in range(nx)]
        names += [f"_N_{i}_{k}" for i in range(nx) for k in range(nd)]
        names += [f"_c_{i}" for i in range(nx)]
    return names


def _new_values(model) -> dict[str, sympy.Expr]:
    """New value of each differential variable (sympy, in the old state's symbols)."""
    if model.method != "exact":
        return dict(model._update)
    xs = [sympy.Symbol(s, real=True) for s in model.diff]
    ds = [sympy.Symbol(s, real=True) for s in model.discrete]
    out = {}
    for i, s in enumerate(model.diff):
        e = sum((sympy.Symbol(f"_M_{i}_{j}", real=True) * xs[j] for j in range(len(xs))), sympy.Integer(0))
        e += sum((sympy.Symbol(f"_N_{i}_{k}", real=True) * ds[k] for k in range(len(ds))), sympy.Integer(0))
        out[s] = e + sympy.Symbol(f"_c_{i}", real=True)
    return out


def _rename(expr, names: dict[str, str]):
    return expr.xreplace({s: sympy.Symbol(names[s.name], real=True) for s in expr.free_symbols if s.name in names})


class _Scalar(PythonCodePrinter):
    def _print_exp(self, expr):  # plain-arithmetic exp: lets LLVM vectorise the loop (neuro.ops.fastmath)
        return f"exp64({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr):  # nested conditional expressions
        out = self._print(expr.args[-1][0])
        for e, c in reversed(expr.args[:-1]):
            out = f"(({self._print(e)}) if ({self._print(c)}) else ({out}))"
        return out

    def _print_And(self, expr):
        return "(" + " and ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " or ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"(not {self._print(expr.args[0])})"


def _names(model, vector: bool, constants: dict | None = None) -> dict[str, str]:
    """Symbol name -> code name: states are locals ``s_x``, parameters ``p_x`` (``p_x[k]`` in the kernel)."""
    out = {s: f"s_{s}" for s in model.states}
    for p in layout(model)[2 + len(model.states):]:
        if not p.startswith("_hold_"):
            out[p] = f"p{p}" if p.startswith("_") else f"p_{p}"
            if not vector:
                out[p] += "[k]"
    for name, value in (constants or {}).items():  # parameters equal across the population: literals in the kernel
        out[name] = f"({float(value)!r})"
    for name, _ in getattr(model, "_sub_order", []):
        out[name] = f"u_{name}"
    out["t"] = "(t * dt)"
    out["dt"] = "dt"
    for xi in model.noise:
        out[normal(sympy.Symbol(xi)).name] = f"n_{xi}"
    return out


def _update_lines(model, names, printer, indent: str) -> list[str]:
    """The subexpressions the update needs (from the old state), shared terms (sympy.cse) and ``new_<x> = ...``."""
    new = _new_values(model)
    exprs = [new[s] for s in model.diff]
    repl, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols("_t", real=True))
    used = set()
    for e in [e for _, e in repl] + list(reduced):
        used |= {x.name for x in e.free_symbols}
    subs = dict(model._sub_order)
    for name, e in reversed(model._sub_order):  # subexpressions used through other subexpressions
        if name in used:
            used |= {x.name for x in e.free_symbols}
    lines = [f"{indent}u_{name} = {_code(e, names, printer)}" for name, e in model._sub_order if name in used and name in subs]
    lines += [f"{indent}{sym} = {_code(e, names, printer)}" for sym, e in repl]
    lines += [f"{indent}new_{s} = {_code(e, names, printer)}" for s, e in zip(model.diff, reduced)]
    return lines


def _code(expr, names, printer) -> str:
    expr = expr.xreplace({DT: sympy.Symbol("dt", real=True)})
    src = printer.doprint(_rename(expr, names))
    return src


def reference_source(model, fname: str = "step") -> str:
    """A readable NumPy function ``step(A, t, dt, seed, lo)`` over a dict ``A`` of the arrays of :func:`layout`."""
    pr = NumPyPrinter({"fully_qualified_modules": True})
    names = _names(model, vector=True)
    L = layout(model)
    lines = [f"def {fname}(A, t, dt, seed, lo):",
             f'    """One step of {model.name or "the model"} ({model.method}); updates ``A`` in place, returns the spike flags."""',
             "    n = A['_fired'].shape[0]"]
    for p in L[2 + len(model.states):]:
        if not p.startswith("_hold_"):
            lines.append(f"    {names[p]} = A[{p!r}]")
    for s in model.states:
        lines.append(f"    s_{s} = A[{s!r}].copy()")
    for k, xi in enumerate(model.noise):
        lines.append(f"    n_{xi} = _normals(seed, t, {NOISE_STREAM + k}, lo, n)")
    ref = model.refractory is not None
    if ref:
        lines.append("    r0 = A['_refrac']")
        for v in held(model):
            lines.append(f"    s_{v} = numpy.where(r0 > 0, A['_hold_{v}'], s_{v})")
        lines.append("    r = numpy.where(r0 > 0, r0 - 1, 0)")
        lines.append("    active = r <= 0")
    lines += _update_lines(model, names, pr, "    ")
    for s in model.diff:
        lines.append(f"    new_{s} = new_{s} + 0.0 * s_{s}  # a per-neuron array even where the update is constant")
    for s in model.diff:
        if s in model.unless_refractory:
            lines.append(f"    new_{s} = numpy.where(active, new_{s}, s_{s})")
    for s in model.diff:
        lines.append(f"    s_{s} = new_{s}")
    if model._threshold is not None:
        cond = _code(model._threshold, names, pr)
        lines.append(f"    fired = numpy.asarray({cond}, dtype=bool) & numpy.ones(n, dtype=bool)")
        if ref:
            lines.append("    fired &= active")
        for target, op, expr in model._reset:
            rhs = _code(expr, names, pr)
            value = {"=": rhs, "+=": f"s_{target} + ({rhs})", "-=": f"s_{target} - ({rhs})", "*=": f"s_{target} * ({rhs})",
                     "/=": f"s_{target} / ({rhs})"}[op]
            lines.append(f"    s_{target} = numpy.where(fired, {value}, s_{target})")
    else:
        lines.append("    fired = numpy.zeros(n, dtype=bool)")
    if ref:
        lines.append("    A['_refrac'][:] = numpy.where(fired, numpy.maximum(p_ref_steps, 1), r)")
        for v in held(model):
            lines.append(f"    A['_hold_{v}'][:] = s_{v}")
    for s in model.states:
        lines.append(f"    A[{s!r}][:] = s_{s}")
    lines.append("    A['_fired'][:] = fired")
    lines.append("    return fired")
    return "\n".join(lines) + "\n"


def kernel_source(model, fname: str = "kernel", constants: dict | None = None) -> str:
    """A Numba ``cfunc`` ``kernel(t, lo, n, dt, seed, table)`` looping over the ``n`` neurons (see the module doc).

    ``constants``: parameters with one value for the whole population, written into the code as literals (LLVM then
    folds and hoists what depends only on them, e.g. a decay factor); their table entries are not read."""
    pr = _Scalar({"fully_qualified_modules": True})
    names = _names(model, vector=False, constants=constants)
    L = layout(model)
    body = ["@cfunc(SIG, cache=True, error_model='numpy')",
            f"def {fname}(t, lo, n, dt, seed, table):",
            f"    tab = carray(as_pointer(table), ({len(L)},), np.uint64)",
            "    fired = carray(as_pointer(tab[0]), (n,), np.uint8)",
            "    refrac = carray(as_pointer(tab[1]), (n,), np.int64)"]
    for k, name in enumerate(L[2:], start=2):
        if constants and name in constants:
            continue
        var = f"a_{name}" if name in model.states or name.startswith("_hold_") else names[name].replace("[k]", "")
        body.append(f"    {var} = carray(as_pointer(tab[{k}]), (n,), np.float64)")
    # loop 1, integration: selects only (no branch), so LLVM can vectorise it
    body.append("    for k in range(n):")
    for s in model.states:
        body.append(f"        s_{s} = a_{s}[k]")
    for j, xi in enumerate(model.noise):
        body.append(f"        n_{xi} = normal_at(seed, t, {NOISE_STREAM + j}, lo + k)")
    ref = model.refractory is not None
    if ref:
        body.append("        r0 = refrac[k]")
        for v in held(model):
            body.append(f"        s_{v} = a__hold_{v}[k] if r0 > 0 else s_{v}")
        body.append("        r = r0 - 1 if r0 > 0 else 0")
        body.append("        active = r <= 0")
        body.append("        refrac[k] = r")
    body += _update_lines(model, names, pr, "        ")
    for s in model.diff:
        if s in model.unless_refractory:
            body.append(f"        a_{s}[k] = new_{s} if active else s_{s}")
        else:
            body.append(f"        a_{s}[k] = new_{s}")
    # loop 2: threshold, reset, refractory counters (few neurons fire in a step)
    body.append("    for k in range(n):")
    if model._threshold is not None:
        for s in model.states:
            body.append(f"        s_{s} = a_{s}[k]")
        cond = _code(model._threshold, names, pr)
        body.append(f"        fire = ({cond})" + (" and refrac[k] <= 0" if ref else ""))
        body.append("        if fire:")
        for target, op, expr in model._reset:
            rhs = _code(expr, names, pr)
            body.append(f"            s_{target} {op} {rhs}")
            body.append(f"            a_{target}[k] = s_{target}")
        if ref:
            ref_steps = names["_ref_steps"]
            body.append(f"            refrac[k] = max(np.int64({ref_steps}), 1)")
        if not model._reset and not ref:
            body.append("            pass")
        for v in held(model):
            body.append(f"        a__hold_{v}[k] = s_{v}")
        body.append("        fired[k] = 1 if fire else 0")
    else:
        body.append("        fired[k] = 0")
        for v in held(model):
            body.append(f"        a__hold_{v}[k] = a_{v}[k]")
    return "\n".join(body) + "\n"


_HEADER = '''# Generated by neuro.dynamics.codegen from a NeuronModel ({name}, key {key}); edits are overwritten.
import math

import numpy
import numpy as np
from numba import carray, cfunc

from neuro.dynamics.codegen_support import SIG, as_pointer, exp64, normal_at, _normals

'''


def module_source(model, constants: dict | None = None) -> str:
    return (_HEADER.format(name=model.name or "unnamed", key=model.key) + reference_source(model) + "\n\n"
            + kernel_source(model, constants=constants))


def cache_dir(kind: str = "models") -> Path:
    return Path(os.environ.get("NEURO_CACHE", Path.home() / ".cache" / "neuro")) / kind


_LOADED: dict[tuple[str, str], object] = {}


def import_generated(kind: str, name: str, source, what: str):
    """Module ``name`` generated by ``source()`` (called only when not loaded yet), written atomically to
    ``cache_dir(kind)`` when its text changed and imported from there (so Numba caches its kernels beside it). A
    source that does not compile raises naming ``what`` and the file."""
    if (kind, name) in _LOADED:
        return _LOADED[(kind, name)]
    src = source()
    folder = cache_dir(kind)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    if not path.exists() or path.read_text() != src:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(src)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except Exception as err:
        sys.modules.pop(name, None)
        raise RuntimeError(f"the code generated for {what} does not compile ({type(err).__name__}: {err}); source: {path}") from err
    _LOADED[(kind, name)] = mod
    return mod


def load(model, constants: dict | None = None):
    """The generated module of ``model`` (``step``: the NumPy reference, ``kernel``: the Numba cfunc, specialised to
    ``constants``), compiled once and cached on disk."""
    constants = dict(sorted((constants or {}).items()))
    key = model.key if not constants else model.key + "_" + hashlib.sha256(repr(constants).encode()).hexdigest()[:12]
    return import_generated("models", f"neuro_model_{key}", lambda: module_source(model, constants), repr(model))
