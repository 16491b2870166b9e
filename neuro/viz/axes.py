"""Axis helpers shared by the figures: whole-number epoch ticks and plain tick labels on log axes.

A learning curve of a short (``--quick``) run has two or three epochs, and matplotlib's default locator then puts
ticks at 0.5, 1.0, 1.5 ...; a log axis spanning less than a decade labels its minor ticks as ``2×10⁰``, ``3×10⁰``.
:func:`epoch_axis` and :func:`plain_log_axis` fix both after the data are drawn.

Example::

    ax.plot(epochs, loss)
    ax.set_yscale("log")
    epoch_axis(ax)          # ticks at 1, 2, 3 only
    plain_log_axis(ax)      # 0.5, 1, 2 rather than 5×10⁻¹, 10⁰, 2×10⁰
"""

from __future__ import annotations

import math

PLAIN_RANGE = (1e-3, 1e4)
"""Values in this range are written as plain numbers (``0.002``, ``2.3``, ``5000``); powers of ten outside it as ``10^k``."""


def plain_number(value: float, pos=None) -> str:
    """A tick label: ``f"{value:g}"`` inside :data:`PLAIN_RANGE`, ``$10^{k}$`` for a power of ten outside it."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = abs(value)
    if PLAIN_RANGE[0] <= magnitude < PLAIN_RANGE[1]:
        return f"{value:.6g}"
    exponent = math.log10(magnitude)
    if abs(exponent - round(exponent)) < 1e-9:
        return ("-" if value < 0 else "") + f"$10^{{{round(exponent)}}}$"
    return f"{value:.2g}"


def epoch_axis(ax, axis: str = "x"):
    """Ticks at whole epochs only (at most ~8 of them) on ``ax``'s ``axis`` ("x" or "y"). Returns ``ax``."""
    from matplotlib.ticker import MaxNLocator

    _axis(ax, axis).set_major_locator(MaxNLocator(nbins=8, integer=True, min_n_ticks=1))
    return ax


def plain_log_axis(ax, axis: str = "y"):
    """Plain tick labels on a log ``axis``: majors with :func:`plain_number`; minor ticks labelled (plainly) only
    when the axis spans less than a decade, where too few majors would show. Call after drawing. Returns ``ax``."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    target = _axis(ax, axis)
    if target.get_scale() != "log":
        raise ValueError(f"plain_log_axis needs a log-scaled {axis} axis, got scale {target.get_scale()!r}")
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    target.set_major_formatter(FuncFormatter(plain_number))
    if lo > 0 and hi / lo < 10.0:
        target.set_minor_formatter(FuncFormatter(plain_number))
    else:
        target.set_minor_formatter(NullFormatter())
    return ax


def _axis(ax, axis: str):
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    return ax.xaxis if axis == "x" else ax.yaxis
