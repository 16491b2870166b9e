"""Equations in Brian2's syntax, parsed into sympy expressions with their dimensions.

One equation per line (``#`` starts a comment)::

    dv/dt = (g_L * (E_L - v) + I) / C : volt (unless refractory)   # a differential equation
    I = g_e * (E_e - v) : amp                                      # a subexpression
    g_L : siemens (constant)                                       # a parameter (or discrete state variable)

Names in expressions are the model's variables, its constants, unit names (``mV``, ``siemens``), ``t``, ``dt``,
the noise ``xi`` (or ``xi_<name>``, dimension second^-1/2) and the functions ``exp, log, sqrt, sin, cos, tan, tanh,
sinh, cosh, abs, clip, sign, floor, ceil`` and ``int(condition)`` (1 where it holds, else 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

from . import units as U

FUNCTIONS = {"exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan,
             "tanh": sympy.tanh, "sinh": sympy.sinh, "cosh": sympy.cosh, "abs": sympy.Abs, "sign": sympy.sign,
             "floor": sympy.floor, "ceil": sympy.ceiling, "clip": lambda x, lo, hi: sympy.Min(sympy.Max(x, lo), hi),
             "int": lambda c: sympy.Piecewise((1, c), (0, True)),  # a condition as 1 or 0
             "exprel": lambda x: sympy.Piecewise((1 + x / 2, sympy.Abs(x) < 1e-9), ((sympy.exp(x) - 1) / x, True))}
FLAGS = {"unless refractory", "constant", "shared", "constant over dt", "event-driven", "clock-driven", "summed"}
_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z_0-9]*\b")
_DIFF = re.compile(r"^d(?P<name>[A-Za-z_][A-Za-z_0-9]*)\s*/\s*dt\s*=\s*(?P<expr>.+?)\s*:\s*(?P<unit>[^():]+?)\s*(\((?P<flags>[^()]*)\))?\s*$")
_SUB = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z_0-9]*)\s*=\s*(?P<expr>.+?)\s*:\s*(?P<unit>[^():]+?)\s*(\((?P<flags>[^()]*)\))?\s*$")
_PARAM = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z_0-9]*)\s*:\s*(?P<unit>[^():]+?)\s*(\((?P<flags>[^()]*)\))?\s*$")
RESERVED = {"t", "dt", "i", "N", "not_refractory", "lastspike"}


class DefinitionError(ValueError):
    """A model definition that cannot be used; the message names the line and the problem."""


@dataclass(frozen=True)
class Equation:
    """One line: ``kind`` is ``"diff"``, ``"sub"`` or ``"param"``."""

    kind: str
    name: str
    expr: sympy.Expr | None
    dim: U.Dim
    flags: frozenset
    line: int
    text: str


def is_noise(name: str) -> bool:
    return name == "xi" or name.startswith("xi_")


def _logical(text: str) -> str:
    """``and`` / ``or`` / ``not`` as sympy's ``&`` / ``|`` / ``~``, each operand parenthesised: those operators bind
    tighter than comparisons, so ``v > a and w < b`` would otherwise read ``v > (a & w) < b``."""
    def split(src: str, word: str) -> list[str]:
        parts, depth, last = [], 0, 0
        for m in re.finditer(rf"[()]|\b{word}\b", src):
            tok = m.group(0)
            if tok == "(":
                depth += 1
            elif tok == ")":
                depth -= 1
            elif depth == 0:
                parts.append(src[last : m.start()])
                last = m.end()
        return parts + [src[last:]]

    def convert(src: str) -> str:
        src = src.strip()
        ors = split(src, "or")
        if len(ors) > 1:
            return " | ".join(f"({convert(p)})" for p in ors)
        ands = split(src, "and")
        if len(ands) > 1:
            return " & ".join(f"({convert(p)})" for p in ands)
        if re.match(r"^not\b", src):
            return f"~({convert(src[3:])})"
        if src.startswith("(") and src.endswith(")") and len(split(src[1:-1], "or")) >= 1 and _balanced(src[1:-1]):
            return f"({convert(src[1:-1])})"
        return src

    return convert(text)


def _balanced(src: str) -> bool:
    depth = 0
    for c in src:
        depth += c == "("
        depth -= c == ")"
        if depth < 0:
            return False
    return depth == 0


def to_sympy(text: str, where: str, booleans: bool = False):
    """Parse an expression; every identifier becomes a Symbol (or one of :data:`FUNCTIONS`)."""
    src = _logical(text) if booleans else text
    names = {}
    for name in _IDENT.findall(src):
        if name in FUNCTIONS:
            names[name] = FUNCTIONS[name]
        elif name not in ("True", "False"):
            names[name] = sympy.Symbol(name, real=True)
    try:
        from sympy.parsing.sympy_parser import parse_expr, standard_transformations

        return parse_expr(src, local_dict=names, transformations=standard_transformations, evaluate=True)
    except Exception as err:  # sympy raises SyntaxError, TokenError, TypeError...
        raise DefinitionError(f"{where}: cannot parse {text!r} ({type(err).__name__}: {err})") from None


def parse(text: str) -> list[Equation]:
    """The equations of ``text``, in order; a line that is none of the three forms raises naming it."""
    out, seen = [], {}
    for k, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        for kind, rx in (("diff", _DIFF), ("sub", _SUB), ("param", _PARAM)):  # noqa: B007 - kind is used after the loop
            m = rx.match(line)
            if m:
                break
        else:
            raise DefinitionError(f"line {k}: {line!r} is not an equation (expected 'dx/dt = ... : unit', 'x = ... : unit' or 'x : unit')")
        name = m.group("name")
        where = f"line {k} ({line!r})"
        if name in RESERVED or is_noise(name) or name in FUNCTIONS:
            raise DefinitionError(f"{where}: {name!r} is a reserved name")
        if name in seen:
            raise DefinitionError(f"{where}: {name!r} is already defined on line {seen[name]}")
        seen[name] = k
        try:
            dim = U.parse_unit(m.group("unit"))
        except ValueError as err:
            raise DefinitionError(f"{where}: {err}") from None
        flags = frozenset(f.strip() for f in (m.group("flags") or "").split(",") if f.strip())
        bad = flags - FLAGS
        if bad:
            raise DefinitionError(f"{where}: unknown flag(s) {sorted(bad)}; known: {sorted(FLAGS)}")
        expr = to_sympy(m.group("expr"), where) if kind != "param" else None
        out.append(Equation(kind, name, expr, dim, flags, k, line))
    return out


def dimension(expr, dims: dict[str, U.Dim], where: str) -> U.Dim:
    """The dimension of ``expr`` given the dimensions of its symbols; inconsistent sums raise naming both terms."""
    if expr.is_Number or expr in (sympy.true, sympy.false) or isinstance(expr, sympy.logic.boolalg.BooleanAtom):
        return U.ONE
    if expr.is_Symbol:
        return dims[expr.name]
    if expr.is_Add or isinstance(expr, sympy.Min | sympy.Max):
        args = [a for a in expr.args if not (a.is_Number and a == 0)] or [sympy.Integer(0)]  # 0 (0*mV to sympy) fits any unit
        first = dimension(args[0], dims, where)
        for a in args[1:]:
            d = dimension(a, dims, where)
            if d != first:
                raise DefinitionError(f"{where}: the terms {args[0]} ({first}) and {a} ({d}) have different units")
        return first
    if expr.is_Mul:
        out = U.ONE
        for a in expr.args:
            out = out * dimension(a, dims, where)
        return out
    if expr.is_Pow:
        base = dimension(expr.base, dims, where)
        if base.dimensionless:
            if not dimension(expr.exp, dims, where).dimensionless:
                raise DefinitionError(f"{where}: the exponent of {expr} must be dimensionless")
            return U.ONE
        if not expr.exp.is_Number:
            raise DefinitionError(f"{where}: {expr.base} ({base}) can only be raised to a number, got {expr.exp}")
        return base ** float(expr.exp)
    if isinstance(expr, sympy.Abs | sympy.sign | sympy.floor | sympy.ceiling):
        d = dimension(expr.args[0], dims, where)
        return U.ONE if isinstance(expr, sympy.sign) else d
    if isinstance(expr, sympy.Piecewise):
        ds = {dimension(e, dims, where) for e, _ in expr.args}
        return ds.pop()
    if isinstance(expr, sympy.core.relational.Relational):
        a, b = dimension(expr.lhs, dims, where), dimension(expr.rhs, dims, where)
        if a != b and not (expr.rhs.is_Number and expr.rhs == 0) and not (expr.lhs.is_Number and expr.lhs == 0):
            raise DefinitionError(f"{where}: {expr.lhs} ({a}) is compared with {expr.rhs} ({b})")
        return U.ONE
    if isinstance(expr, sympy.logic.boolalg.BooleanFunction):
        for a in expr.args:
            dimension(a, dims, where)
        return U.ONE
    if isinstance(expr, sympy.Function):  # exp, log, sin, ...: dimensionless in and out
        for a in expr.args:
            d = dimension(a, dims, where)
            if not d.dimensionless:
                raise DefinitionError(f"{where}: the argument of {expr.func.__name__}() must be dimensionless, got {a} ({d})")
        return U.ONE
    raise DefinitionError(f"{where}: cannot find the unit of {expr}")


def statements(text: str, where: str) -> list[tuple[str, str, sympy.Expr, str]]:
    """``(target, op, expr, source)`` of assignment statements (``x = e``, ``x += e``, ``-=``, ``*=``, ``/=``), one per line
    or separated by ``;``."""
    out = []
    for raw in re.split(r"[;\n]", text or ""):
        part = raw.split("#", 1)[0].strip()
        if not part:
            continue
        m = re.match(r"^([A-Za-z_][A-Za-z_0-9]*)\s*(\+=|-=|\*=|/=|=)\s*(.+)$", part)
        if not m:
            raise DefinitionError(f"{where}: {part!r} is not an assignment (x = ..., x += ...)")
        out.append((m.group(1), m.group(2), to_sympy(m.group(3), f"{where} ({part!r})"), part))
    return out
