r"""CUDA C generated from a :class:`~neuro.dynamics.SynapseModel`: the GPU twin of the rule's Numba functions
(:mod:`neuro.dynamics.syncodegen`), for the simulator's GPU engine (:mod:`neuro.sim.engine_gpu`).

The template ``kernels/synapse_model.cu.in`` is filled from the definition with three kernels:

* ``<name>_events``: the presynaptic (``post = 0``) or postsynaptic (``post = 1``) events of a step, one block per
  spike and its threads over that neuron's event list, each event the statements of ``on_pre`` / ``on_post``
  (event-driven variables brought from ``lastupdate`` to now first);
* ``<name>_clock``: one step of the clock-driven equations, one thread per synapse;
* ``<name>_periodic``: the periodic statements, one thread per synapse;
* ``<name>_summed``: the ``(summed)`` variables of one projection, one thread per postsynaptic neuron, which adds its
  synapses' values in the CPU loop's order (see below) and sets its targets to the sums.

Bits. The statements are ``syncodegen``'s sympy expressions printed by :class:`neuro.dynamics.cudagen.CPrinter`
(the literals of the Python printer, integer powers as Numba's products, ``min`` / ``max`` as Numba's selects) with
``exp`` as the CPU function has it: ``fm_exp`` (``kernels/fastmath.cuh``, the bits of ``exp64``) in the clock-driven
equations, libm's ``exp`` (the CPU's ``math.exp``) in the events, the event-driven decay and the periodic code. In the
host emulation both sides call glibc, so every rule gives the CPU loop's bits; on a GPU, CUDA's ``exp`` (and ``log``,
``sin``, non-integer powers ...) may round an ulp away, while a rule without them (Clopath's, a clock-driven filter)
still gives the CPU's bits.

Order. A synapse is in one presynaptic and one postsynaptic event list, and a rule's code writes only ``w`` and its
own synapse's variables, so one launch has one writer per synapse and events of different synapses run in parallel
(rules whose code writes neuron variables, ``theta_post += ...``, are refused here: the CPU loop runs them).
The CPU loop sets a (summed) target to 0 for every neuron of the postsynaptic population, then adds each synapse's value
to its neuron's, in synapse order; on the GPU one thread per neuron walks its synapses in that order (a list of the
projection's synapses sorted by postsynaptic neuron, stable in synapse order, built once by the engine) from 0.0 and
stores the sum: the same additions in the same order, with no atomics, so the same bits. A (summed) expression that
reads a target of its own rule (``x_pre`` / ``x_post`` of a variable the rule sums into) would read the CPU loop's
partial sums: refused here.
A presynaptic neuron listed several times in one step (a ``SpikeSource`` with ``repeats="multiplicity"``) is handled
by the block of its first copy, which applies its events to each synapse one after another, as the CPU loop does:
with ``delivery="after_update"`` all copies' events, then the delivery of the resulting weight for each copy; with
``"before_update"`` the deliveries of the weight found, then the events.

The source is written to ``$NEURO_CACHE/cuda_models/`` under the rule's key (and a hash of the parameters written in
as literals), atomically, and rewritten only when its text changed.

.. code-block:: python

    from neuro.dynamics import cudagen_synapse, library

    path = cudagen_synapse.write(library.clopath_rule())   # .../cuda_models/synapse_model_<key>.cu
    names = cudagen_synapse.kernel_names(library.clopath_rule())   # events, clock, periodic
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from string import Template

from ..paths import kernel_dir
from .codegen import cache_dir
from .cudagen import CPrinter
from .equations import DefinitionError
from .syncodegen import INTS, _code, _Event, _names, layout
from .syncodegen import _advance as _py_advance
from .syncodegen import _Scalar as _PyScalar
from .syncodegen import _statements as _py_statements

__all__ = ["kernel_source", "kernel_names", "summed_kernel_name", "key", "module_name", "write", "has_events", "TEMPLATE"]

TEMPLATE = "synapse_model.cu.in"


class _RulePrinter(CPrinter):
    """C of a rule's expressions: :class:`CPrinter` with ``exp`` and the literals of the Python printer that
    ``syncodegen`` prints the same block with (``_Event``: ``math.exp``; ``_Scalar``: ``exp64``)."""

    def __init__(self, clock: bool):
        super().__init__()
        self._clock = clock
        self._rule_py = (_PyScalar if clock else _Event)({"fully_qualified_modules": False})

    def _print_Float(self, expr):  # that printer's digits (its full_prec "auto" depends on the nesting level)
        self._rule_py._print_level = self._print_level
        return self._rule_py._print_Float(expr)

    def _print_exp(self, expr):
        fn = "fm_exp" if self._clock else "exp"
        return f"{fn}((double)({self._print(expr.args[0])}))"


def _constants(constants: dict | None) -> dict:
    return dict(sorted((constants or {}).items()))


def key(model, constants: dict | None = None) -> str:
    """The cache key: the rule's key, and a hash of the parameters written in as literals (as ``syncodegen.load``)."""
    constants = _constants(constants)
    return model.key if not constants else model.key + "_" + hashlib.sha256(repr(constants).encode()).hexdigest()[:12]


def module_name(model, constants: dict | None = None) -> str:
    """The name of the generated module (the kernels' common prefix)."""
    return f"synapse_model_{key(model, constants)}"


def kernel_names(model, constants: dict | None = None) -> tuple[str, str, str]:
    """The ``extern "C"`` names of the events, clock and periodic kernels."""
    m = module_name(model, constants)
    return f"{m}_events", f"{m}_clock", f"{m}_periodic"


def summed_kernel_name(model, constants: dict | None = None) -> str:
    """The ``extern "C"`` name of the (summed) variables' kernel (every module has one; it does nothing without them)."""
    return f"{module_name(model, constants)}_summed"


def has_events(model, which: str) -> bool:
    """Whether ``on_pre`` / ``on_post`` does anything (statements, or event-driven variables to bring up to date)."""
    return bool(model.event_driven or model._code[which])


def _advance(model, names, pr, ind: str) -> list[str]:
    """``syncodegen._advance`` in C: event-driven variables from ``lastupdate`` to ``now`` (the same text, libm exp)."""
    return _py_advance(model, names, pr, ind, end=";", declare="const double ")


def _statements(block, names, pr, ind: str) -> list[str]:
    return _py_statements(block, names, pr, ind, end=";")


def _declarations(model, constants: dict, body: str, ind: str) -> list[str]:
    """The table's arrays that ``body`` reads, as C pointers (``syncodegen._arrays``' names)."""
    out = []
    for j, name in enumerate(layout(model)):
        if name in constants:
            continue
        if name == "_w":
            var, decl = "sw", "double*"
        elif name in INTS:
            var, decl = f"a{name}", "const i64*"
        elif name in model.external:
            var, decl = f"e_{name}", "const double*"
        elif name in model.modulators:
            var, decl = f"m_{name}", "const double*"
        elif name in model.params:
            var, decl = f"p_{name}", "const double*"
        else:
            var, decl = f"a_{name}", "double*"
        if re.search(rf"\b{re.escape(var)}\b", body):
            out.append(f"{ind}{decl} {var} = ({decl})tab[{j}];")
    return out


def _unused(body: str, names: tuple[str, ...], ind: str) -> list[str]:
    return [f"{ind}(void){n};" for n in names if not re.search(rf"\b{n}\b", body)]


def _event_body(model, which: str, constants: dict) -> str:
    ind = " " * 4
    pr = _RulePrinter(clock=False)
    names = _names(model, constants)
    code = _advance(model, names, pr, ind) + _statements(model._code[which], names, pr, ind)
    if not code:
        return f"{ind}(void)t; (void)dt; (void)tab; (void)s; (void)k; (void)i; (void)j;  // (nothing to do)"
    body = "\n".join(code)
    lines = _declarations(model, constants, body, ind) + _unused(body, ("s", "k", "i", "j"), ind)
    lines.append(f"{ind}const double now = (double)t * dt;")
    if "now" not in body:
        lines.append(f"{ind}(void)now;")
    return "\n".join(lines + code)


def _loop_body(model, which: str, constants: dict) -> str:
    ind = " " * 12
    pr = _RulePrinter(clock=which == "clock")
    names = _names(model, constants)
    if which == "clock":
        if not model.clock_driven:
            return f"{ind}(void)t; (void)dt; (void)tab;  // (no clock-driven equations)"
        code = [f"{ind}const double new_{x} = {_code(model._clock[x], names, pr)};" for x in model.clock_driven]
        code += [f"{ind}{names[x]} = new_{x};" for x in model.clock_driven]
    else:
        if not model._code["periodic"]:
            return f"{ind}(void)dt; (void)tab;  // (no periodic code)"
        code = _advance(model, names, pr, ind) + _statements(model._code["periodic"], names, pr, ind)
    body = "\n".join(code)
    lines = []
    for v in ("s", "i", "j"):  # syncodegen's loops read them for every synapse
        if re.search(rf"\b{v}\b", body):
            lines.append(f"{ind}const i64 {v} = a_{v}[k];")
    body_all = "\n".join(lines) + "\n" + body
    lines = _declarations(model, constants, body_all, ind) + lines
    if re.search(r"\bnow\b", body):
        lines.append(f"{ind}const double now = (double)t * dt;")
    elif which == "clock":
        lines.append(f"{ind}(void)t;")
    if not any("tab[" in line for line in lines):
        lines.append(f"{ind}(void)tab;")
    return "\n".join(lines + code)


def _summed_reads_targets(model) -> list[str]:
    """The names read by the rule's (summed) expressions that are neuron variables it sums into (``x_pre`` or ``x_post``
    with ``x`` a target): values the CPU loop reads half summed."""
    targets = {name.rsplit("_", 1)[0] for name in model.summed}
    read = {s.name for expr in model.summed.values() for s in expr.free_symbols}
    return sorted(n for n in read if n in model.external and n.rsplit("_", 1)[0] in targets)


def _summed_body(model, constants: dict) -> str:
    """The body of ``<name>_summed``: for postsynaptic neuron ``j`` (one thread each), its synapses ``k`` in the CPU's
    order (``sum_syn[sum_off[jj]] ..``), each one's value of every (summed) expression added to an accumulator that
    starts at 0.0, as ``syncodegen``'s loop adds it to the target, then the sums stored."""
    ind = " " * 4
    if not model.summed:
        return f"{ind}(void)t; (void)dt; (void)tab; (void)lo; (void)n_post; (void)off; (void)syn;  // (no summed variables)"
    pr = _RulePrinter(clock=False)
    names = _names(model, constants)
    targets = list(model.summed)
    acc = {x: f"acc_{x}" for x in targets}
    adds = [f"{ind}        {acc[x]} += {_code(expr, names, pr)};" for x, expr in model.summed.items()]
    stores = [f"{ind}    {names[x]} = {acc[x]};" for x in targets]
    body = "\n".join(adds)
    per_syn = [f"{ind}        const i64 {v} = a_{v}[k];" for v in ("s", "i") if re.search(rf"\b{v}\b", body)]
    decls = _declarations(model, constants, "\n".join(per_syn + adds), ind)
    decls += [f"{ind}double* {names[x].split('[')[0]} = (double*)tab[{layout(model).index(x)}];" for x in targets]
    if re.search(r"\bnow\b", body):
        decls.append(f"{ind}const double now = (double)t * dt;")
    else:
        decls.append(f"{ind}(void)t; (void)dt;")
    loop = [f"{ind}for (i64 jj = GRID_START; jj < n_post; jj += GRID_STRIDE) {{",
            f"{ind}    const i64 j = lo + jj;",
            *[f"{ind}    double {acc[x]} = 0.0;" for x in targets],
            f"{ind}    for (i64 q = off[jj]; q < off[jj + 1]; ++q) {{",
            f"{ind}        const i64 k = syn[q];",
            *per_syn, *adds,
            f"{ind}    }}",
            *stores,
            f"{ind}}}"]
    if not re.search(r"\bj\b", body):
        loop.insert(2, f"{ind}    (void)j;")
    return "\n".join(decls + loop)


def kernel_source(model, constants: dict | None = None) -> str:
    """The CUDA C source of ``model``'s kernels (``kernels/synapse_model.cu.in`` filled in); ``constants``: parameters
    with one value over the projection, written in as literals (as ``syncodegen.load``)."""
    constants = _constants(constants)
    if getattr(model, "writes", None):
        raise NotImplementedError(f"{model.name or 'the synapse model'} writes neuron variables ({sorted(model.writes)}): the events of "
                                  "several synapses would write one neuron's variable, in an order the GPU kernels do not keep; "
                                  "such rules run on the CPU loop only")
    bad = _summed_reads_targets(model)
    if bad:
        raise NotImplementedError(f"{model.name or 'the synapse model'}: its (summed) expressions read {bad}, variables it sums into, "
                                  "which the CPU loop reads half summed (in synapse order); such rules run on the CPU loop only")
    try:
        parts = {"on_pre": _event_body(model, "on_pre", constants), "on_post": _event_body(model, "on_post", constants),
                 "clock": _loop_body(model, "clock", constants), "periodic": _loop_body(model, "periodic", constants),
                 "summed": _summed_body(model, constants)}
    except DefinitionError as err:
        raise DefinitionError(f"{model.name or 'the synapse model'}: {err}") from None
    definition = [f"//   {line.strip()}" for line in model.equations.strip().splitlines() if line.strip()]
    for which in ("on_pre", "on_post"):
        if getattr(model, which):
            definition.append(f"//   {which}: {getattr(model, which)}")
    if model.periodic:
        definition.append(f"//   periodic every {model.periodic['every']}: {model.periodic['code']}")
    definition.append(f"//   delivery: {model.delivery}   modulators: {list(model.modulators)}   method: {model.method}")
    if constants:
        definition.append(f"//   written in as literals: {', '.join(f'{k} = {v!r}' for k, v in constants.items())}")
    template = Template((kernel_dir() / TEMPLATE).read_text())
    return template.substitute(name=model.name or "unnamed", key=key(model, constants), definition="\n".join(definition),
                               prefix=module_name(model, constants), **parts)


def write(model, constants: dict | None = None) -> Path:
    """The generated source of ``model`` in the cache (written atomically when its text changed); returns its path."""
    src = kernel_source(model, constants)
    folder = cache_dir("cuda_models")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module_name(model, constants)}.cu"
    if not path.exists() or path.read_text() != src:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(src)
        os.replace(tmp, path)
    return path
