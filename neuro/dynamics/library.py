"""Neuron models shipped as definitions (each is only equations; the engine has no code of its own for them).

Defaults are the published parameters, in the documented units of :mod:`neuro.dynamics.units` (ms, mV, pA, nS, pF).
"""

from __future__ import annotations

from .model import NeuronModel
from .synapse import SynapseModel


def eif(**defaults) -> NeuronModel:
    """Exponential integrate-and-fire (Fourcaud-Trocmé et al. 2003), with the parameters of Brette & Gerstner (2005)."""
    return NeuronModel("""
        dv/dt = (g_L * (E_L - v) + g_L * Delta_T * exp((v - V_T) / Delta_T) + I) / C : volt (unless refractory)
        I : amp               # injected current
        C : farad (constant)
        g_L : siemens (constant)
        E_L : volt (constant)
        V_T : volt (constant)
        Delta_T : volt (constant)
        V_r : volt (constant)
        V_cut : volt (constant)
        t_ref : second (constant)
    """, threshold="v > V_cut", reset="v = V_r", refractory="t_ref", inputs={"v": "v"},
        defaults={"C": 281.0, "g_L": 30.0, "E_L": -70.6, "V_T": -50.4, "Delta_T": 2.0, "V_r": -70.6, "V_cut": -40.4, "t_ref": 0.0,
                  "I": 0.0, "v": -70.6, **defaults}, name="eif")


def adex(**defaults) -> NeuronModel:
    """Adaptive exponential integrate-and-fire (Brette & Gerstner 2005), their regular-spiking parameters."""
    return NeuronModel("""
        dv/dt = (g_L * (E_L - v) + g_L * Delta_T * exp((v - V_T) / Delta_T) + I - w) / C : volt
        dw/dt = (a * (v - E_L) - w) / tau_w : amp
        I : amp               # injected current
        C : farad (constant)
        g_L : siemens (constant)
        E_L : volt (constant)
        V_T : volt (constant)
        Delta_T : volt (constant)
        a : siemens (constant)
        tau_w : second (constant)
        b : amp (constant)
        V_r : volt (constant)
        V_cut : volt (constant)
    """, threshold="v > V_cut", reset="v = V_r; w += b", inputs={"v": "v"},
        defaults={"C": 281.0, "g_L": 30.0, "E_L": -70.6, "V_T": -50.4, "Delta_T": 2.0, "a": 4.0, "tau_w": 144.0, "b": 80.5,
                  "V_r": -70.6, "V_cut": -40.4, "I": 0.0, "v": -70.6, **defaults}, name="adex")


def hodgkin_huxley(**defaults) -> NeuronModel:
    """Hodgkin-Huxley neuron with exponential conductance synapses, as in the COBAHH benchmark of Brette et al. (2007)
    (Traub & Miles kinetics; a 20000 µm² membrane). Inputs: ``"exc"`` adds to ``g_e``, ``"inh"`` to ``g_i`` (nS)."""
    return NeuronModel("""
        dv/dt = (g_l * (E_l - v) + g_e * (E_e - v) + g_i * (E_i - v) - g_na * m**3 * h * (v - E_na) - g_kd * n**4 * (v - E_k)) / C_m : volt
        dm/dt = alpha_m * (1 - m) - beta_m * m : 1
        dn/dt = alpha_n * (1 - n) - beta_n * n : 1
        dh/dt = alpha_h * (1 - h) - beta_h * h : 1
        dg_e/dt = -g_e / tau_e : siemens
        dg_i/dt = -g_i / tau_i : siemens
        alpha_m = 0.32 * (mV**-1) * 4 * mV / exprel((13 * mV - v + V_T) / (4 * mV)) / ms : hertz
        beta_m = 0.28 * (mV**-1) * 5 * mV / exprel((v - V_T - 40 * mV) / (5 * mV)) / ms : hertz
        alpha_h = 0.128 * exp((17 * mV - v + V_T) / (18 * mV)) / ms : hertz
        beta_h = 4 / (1 + exp((40 * mV - v + V_T) / (5 * mV))) / ms : hertz
        alpha_n = 0.032 * (mV**-1) * 5 * mV / exprel((15 * mV - v + V_T) / (5 * mV)) / ms : hertz
        beta_n = 0.5 * exp((10 * mV - v + V_T) / (40 * mV)) / ms : hertz
        C_m : farad (constant)
        g_l : siemens (constant)
        g_na : siemens (constant)
        g_kd : siemens (constant)
        E_l : volt (constant)
        E_k : volt (constant)
        E_na : volt (constant)
        E_e : volt (constant)
        E_i : volt (constant)
        V_T : volt (constant)
        tau_e : second (constant)
        tau_i : second (constant)
        t_ref : second (constant)
    """, threshold="v > -20 * mV", refractory="t_ref", method="exponential_euler", inputs={"exc": "g_e", "inh": "g_i"},
        defaults={"C_m": 200.0, "g_l": 10.0, "g_na": 20000.0, "g_kd": 6000.0, "E_l": -60.0, "E_k": -90.0, "E_na": 50.0, "E_e": 0.0,
                  "E_i": -80.0, "V_T": -63.0, "tau_e": 5.0, "tau_i": 10.0, "t_ref": 3.0, "v": -60.0, **defaults}, name="hodgkin_huxley")


def clopath_neuron(**defaults) -> NeuronModel:
    """An integrate-and-fire neuron carrying what the voltage-based rule of Clopath et al. (2010) reads: two low-pass
    filters of its potential (``v_lowpass1``, ``v_lowpass2``), raised by ``lowpass_jump`` at each spike in place of the
    spike's depolarisation, and a spike trace ``x_trace`` (jump ``x_reset / (tau_x / ms)``). AMPA conductance input
    (``"exc"`` adds to ``g_ampa``, nS). Parameters of the leaky integrate-and-fire adaptation of the rule in Brian2's
    examples (``Clopath_et_al_2010_no_homeostasis.py``)."""
    return NeuronModel("""
        dv/dt = (g_L * (E_L - v) + I_ext + g_ampa * (E_ampa - v)) / C : volt
        dv_lowpass1/dt = (v - v_lowpass1) / tau_lowpass1 : volt
        dv_lowpass2/dt = (v - v_lowpass2) / tau_lowpass2 : volt
        dg_ampa/dt = -g_ampa / tau_ampa : siemens
        dx_trace/dt = -x_trace / tau_x : 1
        I_ext : amp
        g_L : siemens (constant)
        C : farad (constant)
        E_L : volt (constant)
        E_ampa : volt (constant)
        V_th : volt (constant)
        tau_ampa : second (constant)
        tau_lowpass1 : second (constant)
        tau_lowpass2 : second (constant)
        tau_x : second (constant)
        x_reset : 1 (constant)
        lowpass_jump : volt (constant)
    """, threshold="v > V_th",
        reset="v = E_L; x_trace += x_reset / (tau_x / ms); v_lowpass1 += lowpass_jump; v_lowpass2 += lowpass_jump",
        method="exponential_euler", inputs={"exc": "g_ampa"},
        defaults={"g_L": 30.0, "C": 300.0, "E_L": -70.0, "E_ampa": 0.0, "V_th": -50.0, "tau_ampa": 2.0, "tau_lowpass1": 40.0,
                  "tau_lowpass2": 30.0, "tau_x": 15.0, "x_reset": 1.0, "lowpass_jump": 10.0, "I_ext": 0.0, "v": -70.0,
                  "v_lowpass1": -70.0, "v_lowpass2": -70.0, **defaults}, name="clopath_neuron")


def clopath_rule(**defaults) -> SynapseModel:
    r"""Voltage-based STDP of Clopath et al. (2010) without homeostasis: depression at a presynaptic spike,
    :math:`\Delta w = -g_{max} A_{LTD} [\bar u_1 - \theta]_+`, potentiation at a postsynaptic spike,
    :math:`\Delta w = g_{max} A_{LTP}\, \bar x_{pre} [\bar u_2 - \theta]_+` (:math:`\bar u_{1,2}` the postsynaptic
    potential's low-pass filters, :math:`\bar x_{pre}` the presynaptic spike trace, potentials in mV), hard bounds
    :math:`[0, g_{max}]`; ``w`` is the AMPA conductance the synapse adds (nS), delivered before the update. Needs
    :func:`clopath_neuron` (or any model with ``v_lowpass1``, ``v_lowpass2`` and ``x_trace``) on both sides."""
    return SynapseModel("""
        w : siemens
        g_max : siemens (constant)
        A_LTD : 1 (constant)
        A_LTP : 1 (constant)
        Theta_low : volt (constant)
    """, on_pre="w = clip(w - g_max * A_LTD * (v_lowpass1_post - Theta_low) / mV * int(v_lowpass1_post > Theta_low), 0 * nS, g_max)",
        on_post="w = clip(w + g_max * A_LTP * x_trace_pre * (v_lowpass2_post - Theta_low) / mV * int(v_lowpass2_post > Theta_low), "
                "0 * nS, g_max)",
        delivery="before_update", defaults={"g_max": 0.5, "A_LTD": 1.5e-4, "A_LTP": 1.5e-2, "Theta_low": -70.0, **defaults},
        name="clopath_rule")


def tsodyks_markram(**defaults) -> SynapseModel:
    r"""Short-term depression and facilitation (Tsodyks & Markram 1997; Markram et al. 1998) as a rule: resources ``x``
    recover to 1 with ``tau_d``, utilisation ``u`` relaxes to ``U`` with ``tau_f`` (both event-driven); at a
    presynaptic spike the synapse delivers :math:`w = w_0\, u\, x`, then :math:`x \leftarrow x - u x` and
    :math:`u \leftarrow u + U (1 - u)`. ``w0`` is the synapse's baseline weight (give it per synapse; the projection's
    ``weight`` is overwritten at the first spike). Defaults: a depressing synapse."""
    return SynapseModel("""
        dx/dt = (1 - x) / tau_d : 1 (event-driven)
        du/dt = (U - u) / tau_f : 1 (event-driven)
        w0 : 1
        U : 1 (constant)
        tau_d : second (constant)
        tau_f : second (constant)
    """, on_pre="w = w0 * u * x; x -= u * x; u += U * (1 - u)",
        defaults={"U": 0.5, "tau_d": 200.0, "tau_f": 50.0, "x": 1.0, "u": 0.5, **defaults}, name="tsodyks_markram")


def qif_adaptation(**defaults) -> NeuronModel:
    r"""Quadratic integrate-and-fire neuron with an adaptation current: Izhikevich's (2007) "simple model"
    (*Dynamical Systems in Neuroscience*, ch. 8), with his regular-spiking cortical pyramidal cell parameters.

    .. math::

        C \dot v = k (v - v_r)(v - v_t) - u + I, \qquad \dot u = a \big(b (v - v_r) - u\big), \qquad
        v > v_{peak}:\ v \leftarrow c,\ u \leftarrow u + d

    ``k`` in nS per mV (the quadratic term is written ``k (v - v_r)(v - v_t) / mV``), ``a`` in Hz (30 Hz is his
    0.03 / ms). ``I`` is an injected current (pA); in the training layer give ``input="I"``
    (``neuro.nn.Neuron(qif_adaptation(), dt=1.0, input="I")``); synapses of the simulator jump ``v``."""
    return NeuronModel("""
        dv/dt = (k * (v - v_r) * (v - v_t) / mV - u + I) / C : volt
        du/dt = a * (b * (v - v_r) - u) : amp
        I : amp               # injected current
        C : farad (constant)
        k : siemens (constant)
        v_r : volt (constant)
        v_t : volt (constant)
        v_peak : volt (constant)
        a : hertz (constant)
        b : siemens (constant)
        c : volt (constant)
        d : amp (constant)
    """, threshold="v > v_peak", reset="v = c; u += d", inputs={"v": "v"},
        defaults={"C": 100.0, "k": 0.7, "v_r": -60.0, "v_t": -40.0, "v_peak": 35.0, "a": 30.0, "b": -2.0, "c": -50.0, "d": 100.0,
                  "I": 0.0, "v": -60.0, "u": 0.0, **defaults}, name="qif_adaptation")
