r"""Physical dimensions and units of model definitions.

A dimension is a vector of exponents over the SI base quantities (metre, kilogram, second, ampere, kelvin).
Generated code computes in one consistent internal system whose base scales make the project's usual units
come out as 1:

======================  ==================  ===========================
quantity                internal unit       documented input unit
======================  ==================  ===========================
time                    ms                  ms
voltage                 mV                  mV
current                 pA                  pA
conductance             nS                  nS
capacitance             pF                  pF
resistance              GΩ                  MΩ
frequency               kHz (1 / ms)        Hz
length                  µm                  µm
charge                  fC                  pC
======================  ==================  ===========================

Plain numbers given for a parameter are read in its documented unit; unit-carrying quantities (Brian2's,
``pint``'s) are converted exactly. Documented and internal units agree except for frequencies (Hz given, per ms
computed) and resistances (MΩ given): a synaptic weight, added to its target variable as it is, is therefore in that
variable's documented unit. Currents are in pA (not nA) because mV, nS and pF make pA the consistent current unit.
Unit names inside equations (``10*mV``, ``siemens/cm**2``) are constants with their dimension.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BASES = ("metre", "kilogram", "second", "amp", "kelvin")

# internal scale of each SI base (SI value = internal value * scale): ms, pA, µm and the mass scale that makes
# the volt's internal unit 1 mV (V = kg m^2 s^-3 A^-1)
_M, _S, _A = 1e-6, 1e-3, 1e-12
_KG = 1e-3 * _S**3 * _A / _M**2
_BASE_SCALE = (_M, _KG, _S, _A, 1.0)


@dataclass(frozen=True)
class Dim:
    """Exponents over (metre, kilogram, second, amp, kelvin)."""

    e: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def __mul__(self, other: Dim) -> Dim:
        return Dim(tuple(a + b for a, b in zip(self.e, other.e)))

    def __truediv__(self, other: Dim) -> Dim:
        return Dim(tuple(a - b for a, b in zip(self.e, other.e)))

    def __pow__(self, k: float) -> Dim:
        return Dim(tuple(a * k for a in self.e))

    @property
    def dimensionless(self) -> bool:
        return all(abs(a) < 1e-12 for a in self.e)

    def scale(self) -> float:
        """SI value of one internal unit of this dimension."""
        return math.prod(s**a for s, a in zip(_BASE_SCALE, self.e))

    def __str__(self) -> str:
        if self.dimensionless:
            return "1 (dimensionless)"
        for name, (dim, _) in _NAMED.items():
            if dim == self:
                return name
        for name, (dim, _) in _NAMED.items():  # a named unit per (or times) a power of a second: volt/second
            for k in (1, 2, -1):
                if dim * SECOND ** -k == self and name not in ("hertz", "second"):
                    return f"{name}/second" + ("" if k == 1 else f"**{k}") if k > 0 else f"{name}*second"
        parts = [f"{b}^{a:g}" if a != 1 else b for b, a in zip(BASES, self.e) if abs(a) > 1e-12]
        return " ".join(parts)


ONE = Dim()
METRE, KILOGRAM, SECOND, AMP, KELVIN = (Dim(tuple(1.0 if k == i else 0.0 for k in range(5))) for i in range(5))
VOLT = KILOGRAM * METRE**2 / SECOND**3 / AMP
SIEMENS = AMP / VOLT
FARAD = AMP * SECOND / VOLT
OHM = VOLT / AMP
HERTZ = SECOND**-1
COULOMB = AMP * SECOND
MOLAR = Dim((-3.0, 0.0, 0.0, 0.0, 0.0))  # mol / m^3 as a length dimension (moles carry no base here)

# SI units by name: (dimension, SI value of one unit)
_NAMED: dict[str, tuple[Dim, float]] = {
    "volt": (VOLT, 1.0), "amp": (AMP, 1.0), "ampere": (AMP, 1.0), "second": (SECOND, 1.0), "siemens": (SIEMENS, 1.0),
    "farad": (FARAD, 1.0), "ohm": (OHM, 1.0), "hertz": (HERTZ, 1.0), "metre": (METRE, 1.0), "meter": (METRE, 1.0),
    "coulomb": (COULOMB, 1.0), "kilogram": (KILOGRAM, 1.0), "kelvin": (KELVIN, 1.0), "molar": (MOLAR, 1e3), "mole": (ONE, 1.0),
}
_ALIASES = {"V": "volt", "A": "amp", "s": "second", "S": "siemens", "F": "farad", "Hz": "hertz", "m": "metre", "C": "coulomb",
            "Ohm": "ohm", "M": "molar", "K": "kelvin"}
_PREFIXES = {"y": 1e-24, "z": 1e-21, "a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "c": 1e-2, "d": 1e-1,
             "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_DOCUMENTED = {VOLT: ("mV", 1e-3), AMP: ("pA", 1e-12), SECOND: ("ms", 1e-3), SIEMENS: ("nS", 1e-9), FARAD: ("pF", 1e-12),
               OHM: ("Mohm", 1e6), HERTZ: ("Hz", 1.0), METRE: ("um", 1e-6), COULOMB: ("pC", 1e-12), METRE**2: ("um2", 1e-12),
               ONE: ("1", 1.0)}


def lookup(name: str) -> tuple[Dim, float] | None:
    """``(dimension, SI value)`` of a unit name (``mV``, ``nS``, ``msecond``, ``umetre2``, ``cm``), or None."""
    power = 1
    base = name
    if name and name[-1] in "23" and len(name) > 1 and not name[-2].isdigit():
        base, power = name[:-1], int(name[-1])
    for full in (base, _ALIASES.get(base)):
        if full in _NAMED:
            d, v = _NAMED[full]
            return d**power, v**power
    for p, f in _PREFIXES.items():
        if base.startswith(p) and len(base) > len(p):
            rest = base[len(p):]
            full = rest if rest in _NAMED else _ALIASES.get(rest)
            if full in _NAMED:
                d, v = _NAMED[full]
                return d**power, (f * v) ** power
    return None


def internal(name: str) -> tuple[Dim, float] | None:
    """``(dimension, value in the internal system)`` of a unit name used as a constant in an equation."""
    got = lookup(name)
    if got is None:
        return None
    d, si = got
    return d, si / d.scale()


def parse_unit(text: str) -> Dim:
    """The dimension of a unit expression after an equation's colon: ``volt``, ``1``, ``siemens/meter**2``, ``amp*second``."""
    import sympy

    text = text.strip()
    if text in ("1", ""):
        return ONE
    if text in ("boolean", "integer"):
        return ONE
    try:
        expr = sympy.sympify(text, locals={n: sympy.Symbol(n) for n in _symbols_in(text)})
    except (sympy.SympifyError, SyntaxError, TypeError) as err:
        raise ValueError(f"cannot read the unit {text!r}") from err
    return _dim_of_unit_expr(expr, text)


def _symbols_in(text: str) -> list[str]:
    import re

    return re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text)


def _dim_of_unit_expr(expr, text: str) -> Dim:
    if expr.is_Number:
        return ONE
    if expr.is_Symbol:
        got = lookup(expr.name)
        if got is None:
            raise ValueError(f"unknown unit {expr.name!r} in {text!r}")
        return got[0]
    if expr.is_Mul:
        out = ONE
        for a in expr.args:
            out = out * _dim_of_unit_expr(a, text)
        return out
    if expr.is_Pow and expr.exp.is_Number:
        return _dim_of_unit_expr(expr.base, text) ** float(expr.exp)
    raise ValueError(f"cannot read the unit {text!r}")


def documented_unit(dim: Dim) -> tuple[str, float]:
    """The unit a plain number is read in for a quantity of dimension ``dim`` (name, SI value of one such unit)."""
    if dim in _DOCUMENTED:
        return _DOCUMENTED[dim]
    return ("SI", 1.0)


def to_internal(value, dim: Dim, what: str):
    """A parameter value in the internal system: a plain number (or array) in the documented unit of ``dim``, or a
    unit-carrying quantity (Brian2, pint) converted and dimension-checked."""
    import numpy as np

    si = _si_of_quantity(value, dim, what)
    if si is None:
        name, unit_si = documented_unit(dim)
        arr = np.asarray(value, dtype=np.float64)
        return arr * (unit_si / dim.scale())
    return np.asarray(si, dtype=np.float64) / dim.scale()


def _si_of_quantity(value, dim: Dim, what: str):
    """SI magnitude of a Brian2 or pint quantity (checked against ``dim``), or None for plain numbers."""
    mod = type(value).__module__.split(".")[0]
    if mod == "brian2":
        import numpy as np

        got = Dim(tuple(float(x) for x in np.asarray(value.dim._dims)[[0, 1, 2, 3, 4]]))
        if got != dim:
            raise ValueError(f"{what} must have the dimension of {dim}, got {value!r} ({got})")
        return np.asarray(value)  # Brian2 quantities are stored in SI
    if mod == "pint":
        q = value.to_base_units()
        d = q.dimensionality
        got = Dim((d.get("[length]", 0), d.get("[mass]", 0), d.get("[time]", 0), d.get("[current]", 0), d.get("[temperature]", 0)))
        if got != dim:
            raise ValueError(f"{what} must have the dimension of {dim}, got {value!r} ({got})")
        return q.magnitude
    return None


def per_element(value, dim: Dim, name: str, n: int, what: str = ""):
    """``value`` (a number, quantity or array, in the documented unit of ``dim``) as ``n`` finite float64 values in the
    internal system; the errors name ``name`` (``what`` says what the ``n`` elements are, e.g. "one value per synapse")."""
    import numpy as np

    arr = np.asarray(to_internal(value, dim, name), dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or an array of shape ({n},){f' ({what})' if what else ''}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr
