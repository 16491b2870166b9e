r"""Supervised STDP with homeostasis for spatial patterns (after Davies, Gait, Rowley & Di Nuovo, *Supervised learning of
spatial features with STDP and homeostasis using Spiking Neural Networks on SpiNNaker*, Neurocomputing 611:128650,
2025; arXiv:2312.02659), as two definitions and no engine code:

* :func:`homeostatic_detector`: the output neuron, a leaky integrator of its synaptic input with a teaching input and a
  threshold that homeostasis sets from the drive of the pattern it is taught;
* :func:`supervised_stdp_homeostasis`: the synapse rule, pair STDP in which a teacher-evoked postsynaptic spike
  potentiates the synapses whose input took part in the pattern, depresses the silent ones (heterosynaptic
  depression) and raises the neuron's threshold by the potentiation it caused.

A spatial pattern is a set of inputs that spike together. Shown once, with a teacher spike onto the output neuron, the
pattern leaves weight :math:`a = \nu_+ e^{-\Delta/\tau_+}` on its :math:`|P|` inputs, :math:`-\beta` on the others and
a threshold of :math:`a|P| - m`, so an input set :math:`X` makes the neuron fire when

.. math::

    a\,|X \cap P| - \beta\,|X \setminus P| > a\,|P| - m,

which, with :math:`0 < m \le \min(a, \beta)`, holds for :math:`X = P` alone: the ideal detector of the paper's one
pattern case, whatever :math:`|P|`. (The neuron reads a volley one step after its delivery, so both sides carry the
factor :math:`e^{-dt/\tau_m}`: exactly, :math:`0 < m \le e^{-dt/\tau_m} \min(a, \beta)`.) Taught several patterns,
the threshold follows the last taught pattern's drive and the weights are the sum of the patterns' templates, so the
neuron also answers inputs that mix the patterns: how many grows with their Hamming distance.
``examples/supervised_stdp_patterns.py`` measures both cases; the paper's exact equations and parameters were not
available to us (see docs/reproductions.md), so this rule is a reconstruction from its description, not a
transcription.
"""

from __future__ import annotations

from .model import NeuronModel
from .synapse import SynapseModel


def homeostatic_detector(**defaults) -> NeuronModel:
    r"""The output neuron: synaptic drive :math:`v` and teaching drive :math:`s`, both leaking with :math:`\tau_m`,

    .. math::

        \dot v = -v / \tau_m, \quad \dot s = -s / \tau_m, \quad \text{spike when } v + s > \theta,

    then :math:`\theta \leftarrow \theta + p\,(v - m - \theta)` (homeostasis, with ``plastic`` :math:`p` 1 while
    learning, 0 while testing), :math:`v \leftarrow 0`, :math:`s \leftarrow 0`. Receptor ``"exc"`` adds its (signed:
    the rule makes silent inputs' weights negative) weights to :math:`v`, the teacher's receptor ``"v"`` to :math:`s`. The synapses of
    :func:`supervised_stdp_homeostasis` then add the potentiation they received to :math:`\theta`, so after a taught
    spike :math:`\theta` is the pattern's new drive less the margin :math:`m`. Potentials in mV (relative to rest),
    times in ms; ``count`` counts spikes (the experiment sets it back to 0).

    .. code-block:: python

        out = sim.Population(1, homeostatic_detector(), margin=0.5)
    """
    return NeuronModel("""
        dv/dt = -v / tau_m : volt
        ds/dt = -s / tau_m : volt
        theta : volt
        count : 1
        plastic : 1
        margin : volt (constant)
        tau_m : second (constant)
    """, threshold="v + s > theta",
        reset="theta = theta + plastic * (v - margin - theta); v = 0 * mV; s = 0 * mV; count += 1",
        inputs={"exc": "v", "v": "s"},
        defaults={"tau_m": 20.0, "margin": 0.5, "theta": 1.0, "plastic": 1.0, **defaults}, name="homeostatic_detector")


def supervised_stdp_homeostasis(modulator: str | None = "learning", **defaults) -> SynapseModel:
    r"""Pair STDP with heterosynaptic depression and threshold homeostasis; ``w`` in mV (a jump of the detector's
    :math:`v`), traces dimensionless, jumping by 1:

    * presynaptic spike: :math:`a_{pre} \mathrel{+}= 1`, :math:`w \leftarrow \mathrm{clip}(w - \lambda \nu_- a_{post})`
      (post-before-pre depression);
    * postsynaptic spike: the synapses whose trace :math:`a_{pre}` is at least ``a_min`` (their input spiked within
      about :math:`\tau_+ \ln(1/a_{min})` before) potentiate by :math:`\lambda \nu_+ a_{pre}` and add that change to
      the neuron's threshold ``theta_post``; the others depress by :math:`\lambda \beta` (heterosynaptic
      depression); then :math:`a_{post} \mathrel{+}= 1`.

    Weights are clipped to ``[w_min, w_max]``. :math:`\lambda` is the network neuromodulator named ``modulator``
    (default ``"learning"``: 1 while training, 0 freezes the weights and the threshold's synaptic part; ``None``: always
    1). The clipped change, not the nominal one, reaches the threshold, times :math:`e^{-dt/\tau_m}` (the one step of
    leak between a volley's delivery and the threshold test that reads it), so where the pattern and the teacher arrive
    in the same step the threshold is exactly the taught pattern's drive, as the neuron will see it, less the margin.
    ``tau_m_post`` is read from the neuron (:func:`homeostatic_detector`).

    .. code-block:: python

        net.add_modulator("learning", tau=1e15, initial=1.0)
        sim.Projection(inputs, out, weight=0.0, plasticity=supervised_stdp_homeostasis()(nu_plus=1.0, beta=1.0))
    """
    gate = f"{modulator}" if modulator else "1"
    active = "int(apre >= a_min)"
    return SynapseModel("""
        dapre/dt = -apre / taupre : 1 (event-driven)
        dapost/dt = -apost / taupost : 1 (event-driven)
        w : volt
        w_old : volt
        taupre : second (constant)
        taupost : second (constant)
        nu_plus : volt (constant)
        nu_minus : volt (constant)
        beta : volt (constant)
        a_min : 1 (constant)
        w_min : volt (constant)
        w_max : volt (constant)
    """, on_pre=f"apre += 1; w = clip(w - {gate} * nu_minus * apost, w_min, w_max)",
        on_post=(f"w_old = w; w = clip(w + {gate} * ({active} * nu_plus * apre - (1 - {active}) * beta), w_min, w_max); "
                 f"theta_post += {active} * (w - w_old) * exp(-dt / tau_m_post); apost += 1"),
        modulators=(modulator,) if modulator else (),
        defaults={"taupre": 20.0, "taupost": 20.0, "nu_plus": 1.0, "nu_minus": 0.0, "beta": 1.0, "a_min": 0.5, "w_min": -10.0,
                  "w_max": 10.0, "w_old": 0.0, **defaults}, name="supervised_stdp_homeostasis")
