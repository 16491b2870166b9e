r"""Learning rules of published models, written as :class:`~neuro.dynamics.NeuronModel` and
:class:`~neuro.dynamics.SynapseModel` definitions (no engine code of their own).

Hao, Huang, Dong & Xu (2020), *A biologically plausible supervised learning method for spiking neural networks using
the symmetric STDP rule*, Neural Networks 121:387-395:

* :func:`sym_stdp`: the symmetric (dopamine-modulated) STDP rule, both pairings potentiate,
  :math:`\Delta w = \eta\, a\, e^{-|\Delta t| / \tau}`;
* :func:`adaptive_conductance_lif`: the hidden layer's conductance-based LIF neuron with the dynamic threshold
  (intrinsic plasticity) :math:`v > v_{th} + \theta - \theta_{offset}`;
* :func:`teacher_gated_lif`: the label layer's LIF neuron, whose input from the hidden layer is gated off while a
  teacher signal drives it.

Synaptic scaling (each neuron's summed incoming weight held at a constant) needs a sum over a neuron's synapses, which
a synapse definition cannot express (no summed variables); :meth:`neuro.sim.Projection.normalize_incoming` does it
between samples, as the authors' code does on the host. ``examples/sym_stdp_digits.py`` puts the pieces together.
"""

from __future__ import annotations

from .model import NeuronModel
from .synapse import SynapseModel


def sym_stdp(modulator: str | None = "dopamine", **defaults) -> SynapseModel:
    r"""Symmetric STDP with hard bounds: a presynaptic spike adds :math:`\nu_{pre}\, a_{post}`, a postsynaptic spike
    :math:`\nu_{post}\, a_{pre}` (``apre``, ``apost``: traces that jump by ``Apre``, ``Apost`` and decay with
    ``taupre``, ``taupost``), so both orders potentiate, by :math:`\nu A\, e^{-|t_{post} - t_{pre}| / \tau}` per pair,
    then :math:`w` is clipped to :math:`[0, w_{max}]`.

    ``modulator`` (default ``"dopamine"``) names a network neuromodulator that multiplies every change: the paper's
    rule is STDP in the presence of dopamine, and a concentration of 0 freezes the weights (testing). ``None``: no
    modulator. ``w`` is dimensionless (a conductance relative to the leak, for :func:`adaptive_conductance_lif`) and is
    delivered before the update. Defaults: the authors' released code (hidden layer; the label layer uses
    ``nupre = nupost = 0.08``, ``w_max = 8``).

    .. code-block:: python

        net.add_modulator("dopamine", tau=1e12, initial=1.0)
        sim.Projection(inputs, hidden, weight=w0, plasticity=sym_stdp()(w_max=1.0))
    """
    gate = f" * {modulator}" if modulator else ""
    return SynapseModel("""
        dapre/dt = -apre / taupre : 1 (event-driven)
        dapost/dt = -apost / taupost : 1 (event-driven)
        taupre : second (constant)
        taupost : second (constant)
        Apre : 1 (constant)
        Apost : 1 (constant)
        nupre : 1 (constant)
        nupost : 1 (constant)
        w_max : 1 (constant)
    """, on_pre=f"apre += Apre; w = clip(w + nupre * apost{gate}, 0, w_max)",
        on_post=f"apost += Apost; w = clip(w + nupost * apre{gate}, 0, w_max)",
        modulators=(modulator,) if modulator else (), delivery="before_update",
        defaults={"taupre": 20.0, "taupost": 20.0, "Apre": 0.1, "Apost": 0.1, "nupre": 0.02, "nupost": 0.02, "w_max": 1.0,
                  **defaults}, name="sym_stdp")


def adaptive_conductance_lif(**defaults) -> NeuronModel:
    r"""Conductance-based LIF with a dynamic threshold (Diehl & Cook 2015; Hao et al. 2020):

    .. math::

        \tau_m \dot v = v_{rest} - v + g_e (E_{exc} - v) + g_i (E_{inh} - v), \quad
        \dot g_e = -g_e / \tau_e, \quad \dot g_i = -g_i / \tau_i, \quad \dot\theta = -p\, \theta / \tau_\theta

    (:math:`v` held during ``t_ref``), a spike when :math:`v > v_{th} + \theta - \theta_{offset}`, then
    :math:`v \leftarrow v_{reset}` and :math:`\theta \mathrel{+}= p\, \theta_+ (\theta_{offset} - \theta_{ref}) /
    |\theta - \theta_{ref}|` (the authors' code: an increment that shrinks as :math:`\theta` grows). ``plastic``
    (:math:`p`, 1 or 0) turns the threshold's adaptation on or off (training / testing). Conductances are relative to
    the leak (dimensionless): receptors ``"exc"`` add to ``g_e``, ``"inh"`` to ``g_i``. Potentials in mV, times in ms.
    Defaults: the hidden layer of the authors' code; ``theta_plus=0`` and ``theta=0`` make the plain inhibitory
    neuron. ``count`` counts the neuron's spikes (an experiment reads it and sets it back to 0 per sample).
    """
    return NeuronModel("""
        dv/dt = (v_rest - v + g_e * (E_exc - v) + g_i * (E_inh - v)) / tau_m : volt (unless refractory)
        dg_e/dt = -g_e / tau_e : 1
        dg_i/dt = -g_i / tau_i : 1
        dtheta/dt = -plastic * theta / tau_theta : volt
        count : 1
        plastic : 1
        v_rest : volt (constant)
        v_reset : volt (constant)
        v_th : volt (constant)
        E_exc : volt (constant)
        E_inh : volt (constant)
        theta_offset : volt (constant)
        theta_plus : volt (constant)
        theta_ref : volt (constant)
        tau_m : second (constant)
        tau_e : second (constant)
        tau_i : second (constant)
        tau_theta : second (constant)
        t_ref : second (constant)
    """, threshold="v > v_th + theta - theta_offset",
        reset="v = v_reset; count += 1; theta += plastic * theta_plus * (theta_offset - theta_ref) / abs(theta - theta_ref)",
        refractory="t_ref", inputs={"exc": "g_e", "inh": "g_i"},
        defaults={"v_rest": -65.0, "v_reset": -65.0, "v_th": -52.0, "E_exc": 0.0, "E_inh": -100.0, "theta_offset": 20.0,
                  "theta_plus": 0.07, "theta_ref": 10.0, "tau_m": 100.0, "tau_e": 1.0, "tau_i": 2.0, "tau_theta": 8e6, "t_ref": 2.0,
                  "plastic": 1.0, "v": -105.0, "theta": 20.0, **defaults}, name="adaptive_conductance_lif")


def teacher_gated_lif(**defaults) -> NeuronModel:
    r"""The label neuron of Hao et al. (2020): a conductance-based LIF neuron,
    :math:`\tau_m \dot v = v_{rest} - v + \gamma\, g_e (E_{exc} - v)`, :math:`\dot g_e = -g_e / \tau_e`, spiking at
    :math:`v > v_{th}` (reset to :math:`v_{reset}`). ``gate`` (:math:`\gamma`) is 0 while a teacher signal drives the
    neuron (receptor ``"v"``: a jump of ``v``, e.g. from a Poisson source at the label's rate) and the input from the
    hidden layer (receptor ``"exc"``) is ignored, as in the authors' code; 1 when the neuron is read out. ``count``
    counts its spikes. Defaults: the authors' code (mV, ms)."""
    return NeuronModel("""
        dv/dt = (v_rest - v + gate * g_e * (E_exc - v)) / tau_m : volt
        dg_e/dt = -g_e / tau_e : 1
        count : 1
        gate : 1
        v_rest : volt (constant)
        v_reset : volt (constant)
        v_th : volt (constant)
        E_exc : volt (constant)
        tau_m : second (constant)
        tau_e : second (constant)
    """, threshold="v > v_th", reset="v = v_reset; count += 1", inputs={"exc": "g_e", "v": "v"},
        defaults={"v_rest": -60.0, "v_reset": -45.0, "v_th": -40.0, "E_exc": 0.0, "tau_m": 10.0, "tau_e": 1.0, "gate": 1.0,
                  "v": -60.0, **defaults}, name="teacher_gated_lif")


# ---------------------------------------------------------------------------------------------------------------------
# Bagley, Bordelon, Moseley & Wessel (2020), *Pre-Synaptic Pool Modification (PSPM): a supervised learning procedure
# for recurrent spiking neural networks*, PLoS ONE 15(2):e0229083.


def pspm_lif(**defaults) -> NeuronModel:
    r"""The leaky integrate-and-fire neuron PSPM fits, with the bookkeeping its rule reads
    (:func:`pspm_rule`): :math:`\tau_m \dot v = v_{rest} - v`, a spike when :math:`v > v_{th}`, then
    :math:`v \leftarrow v_{reset}` and a refractory period ``t_ref`` (mV, ms). Synapses of receptor ``"v"`` make
    :math:`v` jump by their weight (mV, current-based delta synapses).

    The target: receptor ``"exc"`` counts the neuron's *target* spikes into ``n_target`` (a source replaying the recorded
    train, one-to-one, weight 1). Each own spike adds 1 to ``n_own`` and sets ``t_own`` to its time. Without a teacher
    the three variables are unused and the neuron is a plain LIF neuron (the ground-truth network of
    ``examples/pspm.py`` is made of the same definition)."""
    return NeuronModel("""
        dv/dt = (v_rest - v) / tau_m : volt (unless refractory)
        n_target : 1
        n_own : 1
        t_own : second
        v_rest : volt (constant)
        v_reset : volt (constant)
        v_th : volt (constant)
        tau_m : second (constant)
        t_ref : second (constant)
    """, threshold="v > v_th", reset="v = v_reset; n_own += 1; t_own = t", refractory="t_ref",
        inputs={"v": "v", "exc": "n_target"},
        defaults={"v_rest": -65.0, "v_reset": -65.0, "v_th": -50.0, "tau_m": 20.0, "t_ref": 2.0, "v": -65.0, "t_own": -1e9,
                  **defaults}, name="pspm_lif")


def pspm_rule(every: float = 0.1, **defaults) -> SynapseModel:
    r"""Pre-synaptic pool modification (after Bagley et al. 2020), for synapses onto :func:`pspm_lif` neurons.

    The *pool* of a postsynaptic event at time :math:`T` is the set of presynaptic neurons whose last spike reached the
    synapse within ``window`` before it: :math:`P(T) = \{j : T - t_j < \text{window}\}`. A target spike of neuron
    :math:`i` with no own spike of :math:`i` within :math:`\pm` ``delta`` is *missed*: every synapse of its pool is
    potentiated by :math:`\eta`. An own spike with no target spike within :math:`\pm` ``delta`` is *extra*: its pool is
    depressed by :math:`\eta`. Matched spikes change nothing. For the synapse :math:`j \to i`,

    .. math::

        \Delta w_{ji} = \eta \sum_{T \in \text{missed}_i} [T - t_j < \text{window}]
        \; - \; \eta \sum_{S \in \text{extra}_i} [S - t_j < \text{window}], \qquad w_{ji} \in [w_{min}, w_{max}]

    (mV, ms; weights may be negative: inhibition is learned too). Each event is judged ``delta`` after it, when the
    window around it is complete; its pool is taken when it is seen. The events are read by periodic code every
    ``every`` ms (give the network's ``dt``): the neuron counts its target and own spikes (``n_target``, ``n_own``), and
    each synapse keeps its copy of that bookkeeping (``seen_*``: counts already seen; ``pend_*``, ``t_pend_*``,
    ``pool_*``: an event waiting to be judged, its time and whether the synapse was in its pool; ``t_target``: the last
    target spike; ``t_spike_in``: the last presynaptic spike; ``missed``, ``extra``: 1 in the step an event of the
    synapse's pool is judged missed or extra). One event of each kind waits at a time, so ``delta``
    must be shorter than the shortest interval between two target (or two own) spikes: the refractory period.

    Differences from the paper: its updates are stochastic ("stochastic weight updates"; we could not read its exact
    scheme), here every synapse of the pool moves by :math:`\eta`; its homeostatic variant is not included.

    .. code-block:: python

        model = sim.Population(n, pspm_lif())
        sim.Projection(target_replay, model, weight=0.0, delay=1.0, receptor="v", autapses=False,
                       plasticity=pspm_rule(every=dt)(eta=0.05))
        sim.Projection(target_replay, model, "one_to_one", weight=1.0, receptor="exc")   # the teacher
    """
    return SynapseModel("""
        w : volt
        t_spike_in : second
        t_target : second
        seen_target : 1
        seen_own : 1
        pend_target : 1
        pend_own : 1
        t_pend_target : second
        t_pend_own : second
        pool_target : 1
        pool_own : 1
        due_target : 1
        due_own : 1
        new_target : 1
        new_own : 1
        missed : 1
        extra : 1
        eta : volt (constant)
        window : second (constant)
        delta : second (constant)
        w_min : volt (constant)
        w_max : volt (constant)
    """, on_pre="t_spike_in = t",
        periodic={"every": every, "code": """
            due_target = pend_target * int(t - t_pend_target >= delta)
            due_own = pend_own * int(t - t_pend_own >= delta)
            missed = due_target * pool_target * int(t_own_post < t_pend_target - delta)
            extra = due_own * pool_own * int(t_target < t_pend_own - delta)
            w = clip(w + eta * (missed - extra), w_min, w_max)
            pend_target = pend_target * (1 - due_target)
            pend_own = pend_own * (1 - due_own)
            new_target = int(n_target_post > seen_target)
            new_own = int(n_own_post > seen_own)
            t_target = t_target + new_target * (t - t_target)
            t_pend_target = t_pend_target + new_target * (t - t_pend_target)
            t_pend_own = t_pend_own + new_own * (t_own_post - t_pend_own)
            pool_target = pool_target + new_target * (int(t - t_spike_in < window) - pool_target)
            pool_own = pool_own + new_own * (int(t_own_post - t_spike_in < window) - pool_own)
            pend_target = pend_target + new_target * (1 - pend_target)
            pend_own = pend_own + new_own * (1 - pend_own)
            seen_target = n_target_post
            seen_own = n_own_post
        """}, defaults={"eta": 0.05, "window": 5.0, "delta": 1.5, "w_min": -20.0, "w_max": 20.0, "t_spike_in": -1e9, "t_target": -1e9,
                        **defaults}, name="pspm")


# ---------------------------------------------------------------------------------------------------------------------
# Yamada & Chao (2025), *Joint encoding of "what" and "when" predictions through error-modulated plasticity in
# reservoir spiking networks*, arXiv:2510.14382.


def error_readout(**defaults) -> NeuronModel:
    r"""A readout neuron that carries its own prediction error: a LIF neuron
    (:math:`\tau_m \dot v = v_{rest} - v`, spike at :math:`v > v_{th}`, reset to :math:`v_{reset}`, refractory ``t_ref``;
    receptor ``"v"``: jumps of :math:`v`) with two traces of equal time constant :math:`\tau_r`,

    .. math::

        \dot r = -r / \tau_r \;(r \mathrel{+}= 1 \text{ at each own spike}), \qquad
        \dot s = -s / \tau_r \;(s \mathrel{+}= w \text{ at each stimulus spike, receptor } \texttt{"exc"}),

    so that :math:`r` and :math:`s` are the readout's and the stimulus's rates times :math:`\tau_r`, and
    :math:`s - r` is the readout's prediction error (:func:`gated_error_rule`). The stimulus only enters the error,
    never :math:`v`: what the readout fires is its prediction. mV, ms."""
    return NeuronModel("""
        dv/dt = (v_rest - v) / tau_m : volt (unless refractory)
        dr/dt = -r / tau_r : 1
        ds/dt = -s / tau_r : 1
        v_rest : volt (constant)
        v_reset : volt (constant)
        v_th : volt (constant)
        tau_m : second (constant)
        tau_r : second (constant)
        t_ref : second (constant)
    """, threshold="v > v_th", reset="v = v_reset; r += 1", refractory="t_ref", inputs={"v": "v", "exc": "s"},
        defaults={"v_rest": -65.0, "v_reset": -65.0, "v_th": -50.0, "tau_m": 10.0, "tau_r": 20.0, "t_ref": 2.0, "v": -65.0,
                  **defaults}, name="error_readout")


def gated_error_rule(modulator: str = "attention", **defaults) -> SynapseModel:
    r"""Error-modulated, attention-gated three-factor Hebbian rule (after Yamada & Chao 2025), for synapses from a
    reservoir onto :func:`error_readout` neurons: each presynaptic spike changes the weight by

    .. math::

        \Delta w = \eta\; G(t)\; \big(s_{post}(t) - r_{post}(t)\big), \qquad w \in [w_{min}, w_{max}],

    the presynaptic spike (Hebbian factor), the readout's prediction error :math:`s - r` (stimulus minus readout
    activity, error factor) and the attention gate :math:`G`, the network neuromodulator named by ``modulator``
    (third factor; 0 closes learning). On average :math:`\dot w \propto G\, \nu_{pre}\, (s - r)`: a delta rule on
    the reservoir's activity, which drives the readout's rate at each moment of a trial towards the stimulus rate
    expected at that moment, i.e. its probability times its rate. ``w`` in mV, ``eta`` in mV.

    Differences from the paper: we could not read its equations (only the abstract and summaries), so this is the
    closest rule we can state from its description; its offline "what" consolidation phase is not included.

    .. code-block:: python

        net.add_modulator("attention", tau=1e12)   # opened and closed by the experiment (net.release)
        sim.Projection(reservoir, readouts, weight=0.0, receptor="v", plasticity=gated_error_rule()(eta=0.02))
        sim.Projection(stimuli, readouts, "one_to_one", weight=1.0, receptor="exc")   # what actually happens
    """
    return SynapseModel("""
        eta : volt (constant)
        w_min : volt (constant)
        w_max : volt (constant)
        w : volt
    """, on_pre=f"w = clip(w + eta * {modulator} * (s_post - r_post), w_min, w_max)", modulators=(modulator,),
        defaults={"eta": 0.02, "w_min": -10.0, "w_max": 10.0, **defaults}, name="gated_error_rule")
