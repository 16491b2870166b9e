r"""Times given with units: Brian2, pint or brainunit quantities converted to the simulator's milliseconds.

Every time in :mod:`neuro.sim` is a plain number of **milliseconds**. :func:`to_ms` lets a user who thinks in
another library's units pass a quantity instead (``Network(dt=0.1 * b2.ms)``, ``net.run(1 * b2.second)``,
``net.run(ureg("1 s"))``): it checks that the quantity is a time and converts it; a voltage given for a time is a
``ValueError`` naming both. A plain number goes through unchanged (it already is ms), so the caller's own checks
of type and range still apply. The unit libraries are imported only when a quantity of theirs arrives (never at
import time). :func:`check_dt` warns (:class:`UnitWarning`) when a step is implausibly short for milliseconds.

Example::

    import brian2 as b2
    net = sim.Network(dt=0.1 * b2.ms)      # dt = 0.1 (ms)
    net.run(1 * b2.second)                 # 1000 ms
    sim.Network(dt=1e-4)                   # UnitWarning: 1e-4 ms = 0.1 µs; seconds meant? dt is in ms
"""

from __future__ import annotations

import warnings

#: the shortest step (ms) not flagged as a likely unit mistake: 1 µs
DT_MIN_PLAUSIBLE_MS = 1e-3


class UnitWarning(UserWarning):
    """A time that is probably in the wrong unit (a step below a microsecond: seconds given where ms are meant)."""


def _family(value) -> str | None:
    mod = type(value).__module__ or ""
    for name in ("brian2", "pint", "brainunit", "saiunit"):  # brainunit's quantities are saiunit's since brainunit 0.5
        if mod == name or mod.startswith(name + "."):
            return name
    return None


def _scalar(ms, name: str, value) -> float:
    import numpy as np

    arr = np.asarray(ms, dtype=float)
    if arr.size != 1:
        raise ValueError(f"{name} must be a single time, got {arr.size} values ({value!r})")
    return float(arr.reshape(()))


def _brian2_ms(value, name: str) -> float:
    import numpy as np
    from brian2.units.fundamentalunits import DIMENSIONLESS, get_dimensions, get_unit

    dim = get_dimensions(value)
    if dim is DIMENSIONLESS:
        return _scalar(np.asarray(value), name, value)
    from brian2 import second

    if dim != second.dim:
        raise ValueError(f"{name} must be a time (e.g. 0.1*ms), got {value!r}, a quantity in {get_unit(dim)!r} (dimensions {dim})")
    return _scalar(np.asarray(value) * 1e3, name, value)  # Brian2 keeps values in SI units: seconds


def _pint_ms(value, name: str) -> float:
    if value.dimensionless:
        return _scalar(value.to("dimensionless").magnitude, name, value)
    if not value.check("[time]"):
        raise ValueError(f"{name} must be a time (e.g. 0.1 ms), got {value!r} of dimensions {value.dimensionality}")
    return _scalar(value.to("millisecond").magnitude, name, value)


def _brainunit_ms(value, name: str) -> float:
    import importlib

    bu = importlib.import_module(type(value).__module__.split(".")[0])  # brainunit or saiunit: the same API
    if getattr(value, "is_unitless", False):
        return _scalar(value.to_decimal(), name, value)
    if not value.unit.has_same_dim(bu.second):
        raise ValueError(f"{name} must be a time (e.g. 0.1 * brainunit.ms), got {value!r} of dimensions {value.dim}")
    return _scalar(value.to_decimal(bu.ms), name, value)


_CONVERT = {"brian2": _brian2_ms, "pint": _pint_ms, "brainunit": _brainunit_ms, "saiunit": _brainunit_ms}


def is_quantity(value) -> bool:
    """True for a Brian2, pint or brainunit (saiunit) quantity (told by its type's module; nothing is imported)."""
    return _family(value) is not None


def to_ms(value, name: str = "time"):
    """``value`` in milliseconds.

    A Brian2, pint or brainunit quantity must be a single time: it is converted to a ``float`` of ms (a
    dimensionless quantity is taken as a number of ms). Anything else is returned unchanged, for the caller to
    check. A quantity of another dimension is a ``ValueError`` naming ``name``.
    """
    family = _family(value)
    if family is None:
        return value
    return _CONVERT[family](value, name)


def check_dt(dt_ms: float, name: str = "dt") -> None:
    """Warn (:class:`UnitWarning`) when a step of ``dt_ms`` ms is below a microsecond: a time in seconds given as ms."""
    if 0 < dt_ms < DT_MIN_PLAUSIBLE_MS:
        warnings.warn(f"{name} = {dt_ms:g} ms is below 1 µs ({dt_ms * 1e3:g} µs): times in neuro.sim are in milliseconds, not seconds "
                      f"(if you meant {dt_ms:g} s, that is {name}={dt_ms * 1e3:g}); give a quantity with units (e.g. {name}=0.1*brian2.ms) "
                      "to be explicit", UnitWarning, stacklevel=3)


def too_short_run(duration_ms: float, dt_ms: float) -> str:
    """The reason a run of ``duration_ms`` is refused when it is shorter than one step of ``dt_ms``, else ``""``."""
    if 0 < duration_ms < dt_ms:
        return (f"; {duration_ms:g} ms is shorter than one step (dt = {dt_ms:g} ms), so nothing would be simulated: "
                "times in neuro.sim are in milliseconds (pass a quantity with units, e.g. 1*brian2.second, to be explicit)")
    return ""


__all__ = ["DT_MIN_PLAUSIBLE_MS", "UnitWarning", "check_dt", "is_quantity", "to_ms", "too_short_run"]
