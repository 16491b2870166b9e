"""Model definitions: parsing, units, method choice and the errors a bad definition gets (each naming its line)."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.dynamics import DefinitionError, NeuronModel
from neuro.dynamics import units as U

LIF = """
dv/dt = (E_L - v + R * I_e) / tau : volt (unless refractory)
dI_e/dt = -I_e / tau_e : amp
E_L : volt
R : ohm
tau : second
tau_e : second
v_th : volt
v_r : volt
t_ref : second
"""


def lif(**kw):
    args = dict(threshold="v > v_th", reset="v = v_r", refractory="t_ref", inputs={"exc": "I_e"})
    args.update(kw)
    return NeuronModel(kw.pop("equations", LIF), **{k: v for k, v in args.items() if k != "equations"})


def test_a_linear_model_is_integrated_exactly_and_a_nonlinear_one_by_euler():
    assert lif().method == "exact"
    quad = NeuronModel("dv/dt = (v * v / mV - v) / tau : volt\ntau : second", threshold="v > 10 * mV", reset="v = 0 * mV")
    assert quad.method == "euler"
    noisy = NeuronModel("dv/dt = -v / tau + sigma * xi / sqrt(tau) : volt\ntau : second\nsigma : volt")
    assert noisy.method == "euler" and noisy.noise == ["xi"]


def test_states_parameters_and_discrete_variables():
    m = NeuronModel("dv/dt = (I - v) / tau : volt\nI : volt\ntau : second (constant)\nkick : volt", threshold="v > 1*mV",
                    reset="v = 0*mV; I += kick")
    assert m.states == ["v", "I"] and m.params == ["tau", "kick"]


@pytest.mark.parametrize("equations,kw,match", [
    ("dv/dt = (E_L - vv) / tau : volt\nE_L : volt\ntau : second", {}, r"line 1 .*unknown name 'vv'"),
    ("dv/dt = (E_L - v) : volt\nE_L : volt", {}, r"line 1 .*dv/dt has the unit volt, it must be .*per second"),
    ("dv/dt = (E_L - v * tau) / tau : volt\nE_L : volt\ntau : second", {}, r"line 1 .*different units"),
    ("dv/dt = -v / tau : volt\ntau : second", {"threshold": "u > 1 * mV"}, r"threshold .*'u' is not a variable of the model"),
    ("dv/dt = -v / tau : volt\ntau : second (constant)", {"threshold": "v > 1*mV", "reset": "tau = 1 * ms"},
     r"reset 'tau = 1 \* ms': the reset writes 'tau', a \(constant\) parameter"),
    ("dv/dt = -v / tau : volt\ntau : second", {"reset": "v = 1 * ms"}, r"reset .*has the unit second, 'v' needs volt"),
    ("dv/dt = v * v / (mV * tau) : volt\ntau : second", {"method": "exact"}, r"method 'exact' needs a linear system"),
    ("dv/dt = -v / tau + v * xi / sqrt(tau) : volt\ntau : second", {}, r"only additive noise"),
    ("dv/dt = -v / tau : volt\ntau : second", {"method": "magic"}, r"unknown integration method 'magic'"),
    ("dv/dt = -v / tau : volt\ntau second", {}, r"line 2: 'tau second' is not an equation"),
    ("dv/dt = -v / tau : volt\ntau : parsec", {}, r"line 2 .*unknown unit 'parsec'"),
    ("dv/dt = -v / tau : volt\ntau : second\ndv/dt = 0 * volt / second : volt", {}, r"line 3 .*'v' is already defined on line 1"),
    ("dv/dt = -v / tau : volt (sometimes)\ntau : second", {}, r"line 1 .*unknown flag"),
    ("dv/dt = (a - v) / tau : volt\na = b : volt\nb = a : volt\ntau : second", {}, r"subexpression 'a' depends on itself"),
    ("dv/dt = exp(v) / tau : volt\ntau : second", {}, r"argument of exp\(\) must be dimensionless"),
    ("dv/dt = -v / tau : volt (unless refractory)\ntau : second", {}, r"flagged \(unless refractory\) but the model has no refractory"),
    ("tau : second", {}, r"no differential equation"),
    ("dv/dt = -v / tau : volt\ntau : second", {"inputs": {"exc": "w"}}, r"inputs: 'exc' -> 'w', which is not a variable"),
    ("dv/dt = -v / tau : volt\ntau : second", {"inputs": {"ampa": "v"}}, r"unknown receptor 'ampa'"),
    ("dv/dt = -v / tau : volt\ntau : second", {"inputs": {"exc": "v", "inh": "v"}}, r"'exc' and 'inh' both -> 'v'"),
    ("dv/dt = -v / tau : volt\ntau : second", {"refractory": "v"}, r"refractory='v' must name a time parameter"),
])
def test_bad_definitions_are_named(equations, kw, match):
    with pytest.raises(DefinitionError, match=match):
        NeuronModel(equations, **kw)


def test_values_in_documented_units_and_quantities():
    b2 = pytest.importorskip("brian2")
    m = lif()
    vals = m.values(3, dict(E_L=-65.0, R=100.0, tau=20.0, tau_e=5.0, v_th=-50.0, v_r=-65.0, t_ref=2.0, v=-65.0))
    assert vals["R"][0] == pytest.approx(0.1)  # 100 MOhm = 0.1 GOhm internal (mV / pA)
    q = m.values(1, dict(E_L=-0.065 * b2.volt, R=0.1 * b2.Gohm, tau=0.02 * b2.second, tau_e=5 * b2.ms, v_th=-50 * b2.mV,
                         v_r=-65 * b2.mV, t_ref=2 * b2.ms))
    assert q["E_L"][0] == pytest.approx(-65.0) and q["tau"][0] == pytest.approx(20.0) and q["R"][0] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="tau must have the dimension of second, got"):
        m.values(1, dict(E_L=-65.0, R=1.0, tau=20 * b2.mV, tau_e=5.0, v_th=-50.0, v_r=-65.0, t_ref=2.0))
    with pytest.raises(ValueError, match="parameter 'tau_e' .* has no value"):
        m.values(1, dict(E_L=-65.0, R=1.0, tau=20.0, v_th=-50.0, v_r=-65.0, t_ref=2.0))
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['taux'\]"):
        m.values(1, dict(taux=1.0))


def test_unit_names_inside_equations_are_constants():
    assert U.internal("mV")[1] == pytest.approx(1.0)
    assert U.internal("second")[1] == pytest.approx(1000.0)
    assert U.internal("nA")[1] == pytest.approx(1000.0)  # pA internal
    d, v = U.internal("ufarad")
    assert d == U.FARAD and v == pytest.approx(1e6)  # pF internal
    assert U.parse_unit("siemens/metre**2") == U.SIEMENS / U.METRE**2
    # the COBAHH membrane: 1 uF/cm^2 over 20000 um^2 is 200 pF, 5e-5 S/cm^2 is 10 nS
    m = NeuronModel("dv/dt = (g * (E - v)) / C : volt\nC = 1 * ufarad * cm**-2 * area : farad\ng = 5e-5 * siemens * cm**-2 * area : siemens\n"
                    "area : metre**2\nE : volt")
    from neuro.dynamics import codegen

    mod = codegen.load(m)
    A = {k: np.zeros(1) for k in codegen.layout(m)}
    A["_fired"] = np.zeros(1, np.uint8)
    A["_refrac"] = np.zeros(1, np.int64)
    A.update({k: v for k, v in m.values(1, dict(area=20000.0, E=10.0, v=0.0)).items()})
    A.update(m.exact_arrays(A, 0.1))
    mod.step(A, 0, 0.1, 0, 0)
    tau = 200.0 / 10.0  # C / g in ms
    assert A["v"][0] == pytest.approx(10.0 * (1 - np.exp(-0.1 / tau)), rel=1e-12)


def test_thresholds_combine_conditions_with_and_or_not():
    """``and`` / ``or`` / ``not`` bind looser than comparisons, as in Python (sympy's & | ~ bind tighter)."""
    import sympy

    from neuro.dynamics.equations import to_sympy

    v, a, w, b = sympy.symbols("v a w b", real=True)
    assert to_sympy("v > a and w < b", "t", booleans=True) == sympy.And(v > a, w < b)
    assert to_sympy("v > a or not w < b", "t", booleans=True) == sympy.Or(v > a, w >= b)
    m = NeuronModel("dv/dt = -v / (10*ms) : volt\ndw/dt = -w / (5*ms) : 1", threshold="v > 1*mV and w < 0.5", reset="v = 0*mV; w += 1")
    assert m._threshold is not None
