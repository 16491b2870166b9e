"""Code generated from a :class:`~neuro.dynamics.SynapseModel`: plain Python functions (the reference, over a dict of
arrays) and Numba ``cfunc`` kernels that the simulator's compiled loop calls through function pointers, both from the
same statements. Cached on disk like the neuron models' code (:func:`neuro.dynamics.codegen.import_generated`).

Five functions per rule:

* ``on_pre(t, dt, seed, table, s, k, i, j)`` / ``on_post(...)``: one event of synapse ``k`` of the projection (``s``
  its index in the network's weight array, ``i`` / ``j`` its pre- and postsynaptic neurons' global indices): the
  event-driven variables brought to time ``t dt`` from ``lastupdate``, then the statements in order;
* ``clock(t, lo, n, dt, seed, table)``: one step of the clock-driven equations of the ``n`` synapses;
* ``periodic(t, lo, n, dt, seed, table)``: the periodic statements for the ``n`` synapses (event-driven variables
  brought to time ``t dt`` first);
* ``summed(t, lo, n, dt, seed, table)``: each ``(summed)`` target set to 0 for every neuron of the postsynaptic
  population, then each synapse's value added to its postsynaptic neuron's (in synapse order).

The arrays come through a table of addresses (:func:`layout`): the network's weights (by ``s``), the synapses'
weight index, pre and post neurons (int64), ``lastupdate`` (ms), the variables and parameters (by ``k``), the neuron
variables read (by global neuron index) and the modulators (one value each).
"""

from __future__ import annotations

import hashlib

import sympy
from sympy.printing.pycode import PythonCodePrinter

from .codegen import _Scalar, import_generated
from .synapse import _EXTERNAL

INTS = ("_s", "_i", "_j")


def layout(model) -> list[str]:
    """Names of the arrays of a rule's address table, in order."""
    names = ["_w", *INTS]
    if model.event_driven:
        names.append("_lastupdate")
    names += list(model.states) + list(model.params) + sorted(model.external) + list(model.modulators)
    if model.summed:
        names.append("_range")  # int64 [first, end) of the postsynaptic population (global indices): the targets zeroed
    return names


class _Event(PythonCodePrinter):
    """Scalar code with ``math.exp`` (one event at a time: nothing to vectorise)."""

    def _print_Piecewise(self, expr):
        return _Scalar._print_Piecewise(self, expr)

    def _print_And(self, expr):
        return _Scalar._print_And(self, expr)

    def _print_Or(self, expr):
        return _Scalar._print_Or(self, expr)

    def _print_Not(self, expr):
        return _Scalar._print_Not(self, expr)


def _names(model, constants: dict) -> dict[str, str]:
    out = {"w": "sw[s]", "t": "now", "dt": "dt", "lastupdate": "a__lastupdate[k]"}
    for x in model.states:
        out[x] = f"a_{x}[k]"
    for p in model.params:
        out[p] = f"({float(constants[p])!r})" if p in constants else f"p_{p}[k]"
    for e in model.external:
        side = _EXTERNAL.match(e).group("side")
        out[e] = f"e_{e}[{'i' if side == 'pre' else 'j'}]"
    for m in model.modulators:
        out[m] = f"m_{m}[0]"
    return out


def _code(expr, names, printer) -> str:
    expr = expr.xreplace({s: sympy.Symbol(names[s.name], real=True) for s in expr.free_symbols if s.name in names})
    return printer.doprint(expr)


def _advance(model, names, printer, indent: str, end: str = "", declare: str = "") -> list[str]:
    """Event-driven variables from ``lastupdate`` to ``now``: the exact solution of dx/dt = a x + b. ``end`` / ``declare``:
    the statement terminator and the declaration of ``el`` (C: ``";"``, ``"const double "``; Python: none)."""
    if not model.event_driven:
        return []
    lines = [f"{indent}{declare}el = now - a__lastupdate[k]{end}"]
    for x in model.event_driven:
        a, b = model._decay[x]
        ax, bx = _code(a, names, printer), _code(b, names, printer)
        var = names[x]
        if b == 0:
            lines.append(f"{indent}{var} = {var} * exp(({ax}) * el){end}")
        elif a == 0:
            lines.append(f"{indent}{var} = {var} + ({bx}) * el{end}")
        else:
            lines.append(f"{indent}{var} = -({bx}) / ({ax}) + ({var} + ({bx}) / ({ax})) * exp(({ax}) * el){end}")
    lines.append(f"{indent}a__lastupdate[k] = now{end}")
    return lines


def _statements(block, names, printer, indent: str, end: str = "") -> list[str]:
    return [f"{indent}{names[target]} {op} {_code(expr, names, printer)}{end}" for target, op, expr in block]


def _arrays(model, constants: dict, indent: str, n: str, table_len: int) -> list[str]:
    """carray views of the table's arrays (neuron variables and the weights: unbounded views indexed by global index)."""
    lines = [f"{indent}tab = carray(as_pointer(table), ({table_len},), np.uint64)"]
    for k, name in enumerate(layout(model)):
        if name in constants:
            continue
        if name == "_w":
            lines.append(f"{indent}sw = carray(as_pointer(tab[{k}]), (_HUGE,), np.float64)")
        elif name == "_range":
            lines.append(f"{indent}a_range = carray(as_pointer(tab[{k}]), (2,), np.int64)")
        elif name in INTS:
            lines.append(f"{indent}a{name} = carray(as_pointer(tab[{k}]), ({n},), np.int64)")
        elif name in model.external:
            lines.append(f"{indent}e_{name} = carray(as_pointer(tab[{k}]), (_HUGE,), np.float64)")
        elif name in model.modulators:
            lines.append(f"{indent}m_{name} = carray(as_pointer(tab[{k}]), (1,), np.float64)")
        elif name in model.params:
            lines.append(f"{indent}p_{name} = carray(as_pointer(tab[{k}]), ({n},), np.float64)")
        else:
            lines.append(f"{indent}a_{name} = carray(as_pointer(tab[{k}]), ({n},), np.float64)")
    return lines


def event_source(model, which: str, constants: dict) -> str:
    """``on_pre`` / ``on_post`` as a cfunc of one event, and ``ref_<which>`` over a dict of arrays (the reference)."""
    pr = _Event({"fully_qualified_modules": False})
    names = _names(model, constants)
    L = layout(model)
    body = _advance(model, names, pr, "    ") + _statements(model._code[which], names, pr, "    ")
    body = body or ["    pass"]
    kernel = ["@cfunc(EV_SIG, cache=True, error_model='numpy')",
              f"def {which}(t, dt, seed, table, s, k, i, j):",
              *_arrays(model, constants, "    ", "k + 1", len(L)),
              "    now = t * dt",
              *body]
    ref = [f"def ref_{which}(A, t, dt, s, k, i, j):",
           f'    """One {which} event of synapse ``k`` (reference: the same statements over the dict ``A`` of the table\'s arrays)."""',
           *_ref_arrays(model, constants),
           "    now = t * dt",
           *body]
    return "\n".join(kernel) + "\n\n\n" + "\n".join(ref) + "\n"


def _ref_arrays(model, constants: dict) -> list[str]:
    lines = ["    sw = A['_w']"]
    for name in layout(model)[1:]:
        if name in constants:
            continue
        if name == "_range":
            lines.append("    a_range = A['_range']")
            continue
        prefix = "a" if name in INTS else "e_" if name in model.external else "m_" if name in model.modulators else \
            "p_" if name in model.params else "a_"
        lines.append(f"    {prefix}{name} = A[{name!r}]")
    return lines


def loop_source(model, which: str, constants: dict) -> str:
    """``clock`` (the clock-driven equations), ``periodic`` (the periodic statements) or ``summed`` (the (summed)
    variables: each target set to 0 for the whole postsynaptic population, then each synapse's value added) over all
    synapses."""
    pr = _Scalar({"fully_qualified_modules": False}) if which == "clock" else _Event({"fully_qualified_modules": False})
    names = _names(model, constants)
    L = layout(model)
    todo = {"clock": model.clock_driven, "periodic": model._code["periodic"], "summed": model.summed}[which]
    if not todo:  # nothing to do: a function that does nothing
        return (f"@cfunc(SIG, cache=True)\ndef {which}(t, lo, n, dt, seed, table):\n    pass\n\n\n"
                f"def ref_{which}(A, t, dt):\n    pass\n")
    inner = ["        s = a_s[k]", "        i = a_i[k]", "        j = a_j[k]"]
    before = []
    if which == "summed":
        before = ["    for jj in range(a_range[0], a_range[1]):"] + [f"        e_{x}[jj] = 0.0" for x in model.summed]
        for x, expr in model.summed.items():
            inner.append(f"        {names[x]} += {_code(expr, names, pr)}")
    elif which == "clock":
        new = model._clock
        for x in model.clock_driven:
            inner.append(f"        new_{x} = {_code(new[x], names, pr)}")
        for x in model.clock_driven:
            inner.append(f"        {names[x]} = new_{x}")
    else:
        inner += _advance(model, names, pr, "        ") + _statements(model._code["periodic"], names, pr, "        ")
    kernel = ["@cfunc(SIG, cache=True, error_model='numpy')",
              f"def {which}(t, lo, n, dt, seed, table):",
              *_arrays(model, constants, "    ", "n", len(L)),
              "    now = t * dt",
              *before,
              "    for k in range(n):",
              *inner]
    ref = [f"def ref_{which}(A, t, dt):",
           f'    """{which.capitalize()} update of every synapse (reference)."""',
           *_ref_arrays(model, constants),
           "    n = A['_s'].shape[0]",
           "    now = t * dt",
           *before,
           "    for k in range(n):",
           *inner]
    return "\n".join(kernel) + "\n\n\n" + "\n".join(ref) + "\n"


_HEADER = '''# Generated by neuro.dynamics.syncodegen from a SynapseModel ({name}, key {key}); edits are overwritten.
from math import exp

import numpy as np
from numba import carray, cfunc

from neuro.dynamics.codegen_support import EV_SIG, SIG, as_pointer, exp64

_HUGE = 1 << 40  # views indexed by global neuron or synapse index (bounds are the network's)

'''


def module_source(model, constants: dict) -> str:
    parts = [_HEADER.format(name=model.name or "unnamed", key=model.key)]
    parts += [event_source(model, w, constants) for w in ("on_pre", "on_post")]
    parts += [loop_source(model, w, constants) for w in ("clock", "periodic", "summed")]
    return "\n\n".join(parts)


def load(model, constants: dict | None = None):
    """The generated module of ``model`` specialised to ``constants`` (parameters with one value for every synapse):
    ``on_pre``, ``on_post``, ``clock``, ``periodic``, ``summed`` (cfuncs) and their ``ref_*`` references."""
    constants = dict(sorted((constants or {}).items()))
    key = model.key + ("_" + hashlib.sha256(repr(constants).encode()).hexdigest()[:12] if constants else "")
    return import_generated("synapses", f"neuro_synapse_{key}", lambda: module_source(model, constants), repr(model))
