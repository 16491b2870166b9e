r"""CUDA C generated from a :class:`~neuro.dynamics.NeuronModel`: the GPU twin of the Numba kernel of
:mod:`neuro.dynamics.codegen`, for the simulator's GPU engine (:mod:`neuro.sim.engine_gpu`).

The template ``kernels/neuron_model.cu.in`` is filled from the definition: one thread per neuron runs the step of
``codegen.kernel_source`` (held variables restored while refractory, the update expressions of the integration
method, the threshold, the reset statements, the refractory counter, the spike flag), its expressions the same
sympy expressions (the same subexpressions and shared terms, :func:`codegen._update_lines`) printed as C.

Bits. The printer keeps every operation of the Python printer the CPU kernel is written with: the same literals
(the Python printer's decimal text), ``exp`` as ``fm_exp`` (``kernels/fastmath.cuh``, the bits of the CPU's
``exp64``), integer powers as Numba's products by squaring, ``min`` / ``max`` as Numba's selects, the noise from
``kernels/rng.cuh`` with the CPU's streams (:data:`codegen.NOISE_STREAM` + j) and counters (the global neuron
index). Compiled without fused multiply-adds (NVRTC ``--fmad=false``, g++ ``-ffp-contract=off``), a model built
from ``+ - * /``, ``sqrt``, ``exp``, powers, ``abs``, ``min`` / ``max``, ``floor`` / ``ceil`` and noise gives the CPU
loop's bits on a GPU and in the host emulation. ``log``, ``sin``, ``cos``, ``tan``, ``tanh``, ``sinh``, ``cosh`` and
non-integer powers call the platform's libm: the same as Numba's in the host emulation (both glibc), possibly an ulp
away on a GPU.

The source is written to ``$NEURO_CACHE/cuda_models/`` (default ``~/.cache/neuro/cuda_models``) under the model's
key (and a hash of the parameters written in as literals), atomically, and rewritten only when its text changed.

.. code-block:: python

    from neuro.dynamics import cudagen, library

    path = cudagen.write(library.adex())   # .../cuda_models/neuron_model_<key>.cu
    kernel = cudagen.kernel_name(library.adex())
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from string import Template

import sympy
from sympy.printing.c import C99CodePrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

from ..paths import kernel_dir
from .codegen import NOISE_STREAM, _code, _names, _update_lines, cache_dir, held, layout
from .equations import DefinitionError

__all__ = ["CPrinter", "kernel_name", "kernel_source", "key", "write", "TEMPLATE"]

TEMPLATE = "neuron_model.cu.in"


class CBooleans:
    """Comparisons and boolean logic printed as C (``&&``, ``||``, ``!``, ``true`` / ``false``): shared by the C printers
    of the simulator's kernels (:class:`CPrinter`) and of the training layer's (``torchgen_cuda.CudaPrinter``)."""

    def _print_Relational(self, expr):
        return f"({self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)})"

    def _print_And(self, expr):
        return "(" + " && ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " || ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"(!{self._print(expr.args[0])})"

    def _print_BooleanTrue(self, expr):
        return "true"

    def _print_BooleanFalse(self, expr):
        return "false"


class CPrinter(CBooleans, C99CodePrinter):
    """C for the GPU kernels, operation for operation what ``codegen``'s Python printer gives Numba (see the module doc)."""

    _LIBM = {"log": "log", "sin": "sin", "cos": "cos", "tan": "tan", "tanh": "tanh", "sinh": "sinh", "cosh": "cosh",
             "Abs": "fabs", "floor": "floor", "ceiling": "ceil"}

    def __init__(self):
        super().__init__({"strict": True})
        self._py = PythonCodePrinter({"fully_qualified_modules": True, "full_prec": False})

    def _print_Float(self, expr):  # the CPU kernel's literal, digit for digit (the C printer would print 17 digits)
        return self._py._print_Float(expr)

    def _print_Rational(self, expr):
        return f"{int(expr.p)}.0/{int(expr.q)}.0"

    def _print_NumberSymbol(self, expr):  # math.pi, math.e: the double nearest the constant
        return repr(float(expr))

    _print_Pi = _print_Exp1 = _print_NumberSymbol

    def _print_Pow(self, expr):
        base, e = expr.base, expr.exp
        if e == sympy.S.Half:
            return f"sqrt((double)({self._print(base)}))"
        if e == -sympy.S.Half:
            return f"1.0/sqrt((double)({self._print(base)}))"
        if e is sympy.S.NegativeOne:
            return f"1.0/{self.parenthesize(base, PRECEDENCE['Pow'], strict=False)}"
        if e.is_Integer:
            return f"gen_powi({self._print(base)}, {int(e)})"
        return f"pow((double)({self._print(base)}), (double)({self._print(e)}))"

    def _print_exp(self, expr):
        return f"fm_exp({self._print(expr.args[0])})"  # (a double parameter: an integer argument converts)

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name not in self._LIBM:
            raise DefinitionError(f"the CUDA kernels have no function {name!r} (in {expr})")
        return f"{self._LIBM[name]}((double)({self._print(expr.args[0])}))"

    _print_log = _print_sin = _print_cos = _print_tan = _print_tanh = _print_sinh = _print_cosh = _print_Function
    _print_Abs = _print_floor = _print_ceiling = _print_Function

    def _print_sign(self, expr):  # the Python printer's (0.0 if x == 0 else copysign(1, x))
        x = self._print(expr.args[0])
        return f"(({x}) == 0 ? 0.0 : copysign(1.0, {x}))"

    def _minmax(self, expr, fn):
        # sympy prints min(a, b, c) in its argument order; Numba reduces left to right
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = f"{fn}({out}, {self._print(a)})"
        return out

    def _print_Min(self, expr):
        return self._minmax(expr, "gen_min")

    def _print_Max(self, expr):
        return self._minmax(expr, "gen_max")

    def _print_Piecewise(self, expr):  # nested conditional expressions, the Python printer's nesting
        out = self._print(expr.args[-1][0])
        for e, c in reversed(expr.args[:-1]):
            out = f"(({self._print(c)}) ? ({self._print(e)}) : ({out}))"
        return out


def _constants(constants: dict | None) -> dict:
    return dict(sorted((constants or {}).items()))


def key(model, constants: dict | None = None) -> str:
    """The cache key: the model's key, and a hash of the parameters written in as literals (as ``codegen.load``)."""
    constants = _constants(constants)
    return model.key if not constants else model.key + "_" + hashlib.sha256(repr(constants).encode()).hexdigest()[:12]


def kernel_name(model, constants: dict | None = None) -> str:
    """The ``extern "C"`` name of the kernel (one per key, so several models can be loaded side by side)."""
    return f"neuron_model_{key(model, constants)}"


def _statements(lines: list[str], indent: str) -> str:
    """``codegen._update_lines``'s ``name = expr`` assignments as C declarations."""
    return "\n".join(f"{indent}const double {line.strip()};" for line in lines)


def kernel_source(model, constants: dict | None = None) -> str:
    """The CUDA C source of ``model``'s step (``kernels/neuron_model.cu.in`` filled in); ``constants``: parameters with
    one value over the population, written in as literals (as ``codegen.kernel_source``)."""
    constants = _constants(constants)
    pr = CPrinter()
    names = _names(model, vector=False, constants=constants)
    L = layout(model)
    ind = " " * 8
    arrays = []
    for k, name in enumerate(L[2:], start=2):
        if name in constants:
            continue
        if name in model.states or name.startswith("_hold_"):
            arrays.append(f"    double* a_{name} = (double*)tab[{k}];")
        else:
            arrays.append(f"    const double* {names[name].replace('[k]', '')} = (const double*)tab[{k}];")
    load = [f"{ind}double s_{s} = a_{s}[k];" for s in model.states]
    load += [f"{ind}const double n_{xi} = rng_normal(seed, t, {NOISE_STREAM + j}, lo + k);" for j, xi in enumerate(model.noise)]
    ref = model.refractory is not None
    if ref:
        refractory = [f"{ind}const i64 r0 = refrac[k];"]
        refractory += [f"{ind}s_{v} = r0 > 0 ? a__hold_{v}[k] : s_{v};" for v in held(model)]
        refractory += [f"{ind}const i64 r = r0 > 0 ? r0 - 1 : 0;", f"{ind}const bool active = r <= 0;", f"{ind}refrac[k] = r;"]
    else:
        refractory = [f"{ind}// (no refractory period)"]
    try:
        integrate = _statements(_update_lines(model, names, pr, ind), ind).splitlines()
        for s in model.diff:  # (unless refractory) variables keep their value while refractory
            value = f"active ? new_{s} : s_{s}" if s in model.unless_refractory else f"new_{s}"
            integrate += [f"{ind}s_{s} = {value};", f"{ind}a_{s}[k] = s_{s};"]
        spike = []
        if model._threshold is not None:
            cond = _code(model._threshold, names, pr)
            spike.append(f"{ind}const bool fire = ({cond})" + (" && active;" if ref else ";"))
            spike.append(f"{ind}if (fire) {{")
            for target, op, expr in model._reset:
                spike.append(f"{ind}    s_{target} {op} {_code(expr, names, pr)};")
                spike.append(f"{ind}    a_{target}[k] = s_{target};")
            if ref:
                steps = names["_ref_steps"]
                spike.append(f"{ind}    const i64 steps = (i64){steps};")
                spike.append(f"{ind}    refrac[k] = steps > 1 ? steps : 1;")
            spike.append(f"{ind}}}")
        else:
            spike.append(f"{ind}const bool fire = false;  // (no threshold)")
        spike += [f"{ind}a__hold_{v}[k] = s_{v};" for v in held(model)]
        spike.append(f"{ind}fired[k] = fire ? 1 : 0;")
    except DefinitionError as err:
        raise DefinitionError(f"{model.name or 'the model'}: {err}") from None
    definition = [f"//   {line.strip()}" for line in model.equations.strip().splitlines() if line.strip()]
    definition.append(f"//   threshold: {model.threshold}   reset: {model.reset}   refractory: {model.refractory}")
    if constants:
        definition.append(f"//   written in as literals: {', '.join(f'{k} = {v!r}' for k, v in constants.items())}")
    template = Template((kernel_dir() / TEMPLATE).read_text())
    return template.substitute(
        name=model.name or "unnamed", key=key(model, constants), method=model.method, definition="\n".join(definition),
        kernel=kernel_name(model, constants), noise_stream=NOISE_STREAM, arrays="\n".join(arrays) or "    // (no arrays)",
        load="\n".join(load), refractory="\n".join(refractory), integrate="\n".join(integrate), spike="\n".join(spike))


def write(model, constants: dict | None = None) -> Path:
    """The generated source of ``model`` in the cache (written atomically when its text changed); returns its path."""
    src = kernel_source(model, constants)
    folder = cache_dir("cuda_models")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kernel_name(model, constants)}.cu"
    if not path.exists() or path.read_text() != src:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(src)
        os.replace(tmp, path)
    return path
