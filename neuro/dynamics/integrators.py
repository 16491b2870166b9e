r"""State updaters: one step of a system of differential equations as update expressions (sympy).

Every method reads the state at the start of the step and gives the new value of each variable:

* ``exact`` — linear systems :math:`\dot X = A X + G d + b` with :math:`A, G, b` built from constants and :math:`d`
  the discrete state variables (constant over a step): :math:`X' = M X + N d + c` from the exponential of the
  augmented matrix, computed numerically per parameter set (:func:`propagators`);
* ``exponential_euler`` — each equation linear in its own variable, :math:`\dot x = A x + B` with :math:`A, B`
  frozen at the step's start: :math:`x' = -B/A + (x + B/A) e^{A\,dt}`;
* ``euler`` (Euler–Maruyama with noise), ``rk2`` (midpoint), ``rk4``, ``heun``.

Noise ``xi`` enters additively (its coefficient may not depend on the state): each ``xi_k`` is replaced by a standard
normal draw ``n_k`` per neuron and step, scaled by :math:`\sqrt{dt}`.
"""

from __future__ import annotations

import numpy as np
import sympy

from .equations import DefinitionError, is_noise

METHODS = ("exact", "exponential_euler", "euler", "rk2", "rk4", "heun")
DT = sympy.Symbol("dt", real=True)


def noise_symbols(exprs) -> list[sympy.Symbol]:
    return sorted({s for e in exprs for s in e.free_symbols if is_noise(s.name)}, key=lambda s: s.name)


def normal(xi: sympy.Symbol) -> sympy.Symbol:
    """The per-step standard normal draw replacing ``xi``."""
    return sympy.Symbol(f"_n_{xi.name}", real=True)


def linear_system(rhs: dict[str, sympy.Expr], states: list[str], drives: list[str]):
    """``(A, G, b)`` as sympy matrices if ``rhs`` is linear in ``states`` and ``drives`` with coefficients free of
    them (and of noise and ``t``); else None."""
    xs = [sympy.Symbol(s, real=True) for s in states]
    ds = [sympy.Symbol(s, real=True) for s in drives]
    banned = set(xs) | set(ds) | {sympy.Symbol("t", real=True)}
    A, G, b = [], [], []
    for name in states:
        f = sympy.expand(rhs[name])
        if any(is_noise(s.name) for s in f.free_symbols):
            return None
        row_a, row_g = [], []
        for x in xs + ds:
            c = sympy.diff(f, x)
            if c.free_symbols & banned:
                return None
            (row_a if x in xs else row_g).append(c)
        rest = f.xreplace({x: 0 for x in xs + ds})  # f is linear in them: its value at 0
        if rest.free_symbols & banned:
            return None
        A.append(row_a)
        G.append(row_g)
        b.append(rest)
    return sympy.Matrix(A), sympy.Matrix(G) if ds else sympy.zeros(len(states), 0), sympy.Matrix(b)


def choose(rhs: dict[str, sympy.Expr], states: list[str], drives: list[str], method: str | None) -> str:
    """Brian2's default choice: ``exact`` for linear systems without noise, else ``euler`` (Euler–Maruyama with
    additive noise); a named method is checked for applicability."""
    has_noise = bool(noise_symbols(rhs.values()))
    if method is None:
        if not has_noise and linear_system(rhs, states, drives) is not None:
            return "exact"
        return "euler"
    if method not in METHODS:
        raise DefinitionError(f"unknown integration method {method!r}; expected one of {METHODS}")
    if method == "exact" and linear_system(rhs, states, drives) is None:
        raise DefinitionError("method 'exact' needs a linear system without noise (each right-hand side linear in the state "
                              "variables with constant coefficients); use 'exponential_euler', 'rk4' or 'euler'")
    if has_noise and method not in ("euler", "heun"):
        raise DefinitionError(f"equations with noise (xi) can be integrated with 'euler' (Euler-Maruyama) or 'heun', not {method!r}")
    return method


def _split_noise(f: sympy.Expr, where: str):
    """``f = f0 + sum_k g_k xi_k`` with ``g_k`` free of noise."""
    xis = noise_symbols([f])
    f = sympy.expand(f)
    gs = {}
    for xi in xis:
        g = sympy.diff(f, xi)
        if any(is_noise(s.name) for s in g.free_symbols):
            raise DefinitionError(f"{where}: noise must enter linearly (a term g * xi), got {f}")
        gs[xi] = g
    f0 = f.xreplace({xi: 0 for xi in xis})
    return f0, gs


def update(rhs: dict[str, sympy.Expr], states: list[str], method: str, where: dict[str, str], raw: dict | None = None,
           subs: dict | None = None) -> dict[str, sympy.Expr]:
    """New value of each state variable after one step (all but ``exact``, which :func:`propagators` handles).

    ``raw`` (with ``subs``, the subexpressions fully expanded): the right-hand sides with the subexpressions left as
    symbols, for the one-stage methods (Euler, exponential Euler), whose generated code evaluates each subexpression
    once per step from the old state; a subexpression that depends on the variable being integrated is expanded."""
    xs = {s: sympy.Symbol(s, real=True) for s in states}
    if raw is not None:
        deps = {n: {x.name for x in e.free_symbols} for n, e in (subs or {}).items()}

        def own(s):  # the raw right-hand side of s with the subexpressions that depend on s expanded
            f = raw[s]
            inline = {sympy.Symbol(n, real=True): subs[n] for n in deps if s in deps[n]}
            return f.xreplace(inline) if inline else f
    else:
        def own(s):
            return rhs[s]
    if method == "exponential_euler":
        out = {}
        for s in states:
            f, x = own(s), xs[s]
            A = sympy.diff(f, x)
            full_A = sympy.diff(rhs[s], x)  # no simplify(): it takes minutes on Hodgkin-Huxley's rate functions
            if x in full_A.free_symbols:
                raise DefinitionError(f"{where[s]}: 'exponential_euler' needs d{s}/dt linear in {s}, got {rhs[s]}")
            B = f.xreplace({x: 0})
            if full_A == 0:
                out[s] = x + DT * B
            else:
                ba = B / A
                out[s] = -ba + (ba + x) * sympy.exp(A * DT)
        return out
    if raw is not None and method == "euler" and not noise_symbols(rhs.values()):
        return {s: xs[s] + DT * own(s) for s in states}
    split = {s: _split_noise(rhs[s], where[s]) for s in states}
    for s, (_, gs) in split.items():
        for _xi, g in gs.items():
            if g.free_symbols & set(xs.values()):
                raise DefinitionError(f"{where[s]}: the noise term's factor {g} depends on the state; only additive noise is supported")
    f0 = {s: split[s][0] for s in states}
    noise = {s: sum((g * normal(xi) * sympy.sqrt(DT) for xi, g in split[s][1].items()), sympy.Integer(0)) for s in states}

    def at(shift: dict[str, sympy.Expr]):
        return {s: f0[s].xreplace({xs[k]: xs[k] + shift[k] for k in states}) for s in states}

    if method == "euler":
        return {s: xs[s] + DT * f0[s] + noise[s] for s in states}
    if method == "heun":  # stochastic Heun for additive noise: predictor with the same draw
        pred = {s: DT * f0[s] + noise[s] for s in states}
        f1 = at(pred)
        return {s: xs[s] + DT / 2 * (f0[s] + f1[s]) + noise[s] for s in states}
    if method == "rk2":
        k1 = f0
        k2 = at({s: DT / 2 * k1[s] for s in states})
        return {s: xs[s] + DT * k2[s] for s in states}
    if method == "rk4":
        k1 = f0
        k2 = at({s: DT / 2 * k1[s] for s in states})
        k3 = at({s: DT / 2 * k2[s] for s in states})
        k4 = at({s: DT * k3[s] for s in states})
        return {s: xs[s] + DT / 6 * (k1[s] + 2 * k2[s] + 2 * k3[s] + k4[s]) for s in states}
    raise DefinitionError(f"unknown integration method {method!r}")  # pragma: no cover


def propagators(A: np.ndarray, G: np.ndarray, b: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(M, N, c)`` with :math:`X(t + dt) = M X(t) + N d + c` for :math:`\\dot X = A X + G d + b` (``d``, ``b`` constant
    over the step), from the exponential of the augmented matrix. Batched over a leading axis."""
    from scipy.linalg import expm

    A, G, b = np.atleast_3d(A), np.asarray(G), np.asarray(b)
    batch, n = A.shape[0], A.shape[1]
    k = G.shape[2] if G.ndim == 3 else 0
    aug = np.zeros((batch, n + k + 1, n + k + 1))
    aug[:, :n, :n] = A
    if k:
        aug[:, :n, n : n + k] = G
    aug[:, :n, -1] = b
    E = np.stack([expm(m * dt) for m in aug])
    return E[:, :n, :n], E[:, :n, n : n + k], E[:, :n, -1]
