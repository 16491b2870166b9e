r"""On-chip learning of a readout with quantised weights, after Stewart, Orchard, Shrestha & Neftci, *Online few-shot
gesture learning on a neuromorphic processor* (IEEE JETCAS 10(4), 2020; SOEL: Surrogate-gradient Online
Error-triggered Learning, run on Intel's Loihi), as a definition and no engine code.

SOEL keeps a network's pre-trained layers fixed on the chip and learns its last layer online: each output neuron's
error (its target activity minus its own) updates the weights of its incoming synapses, and only when the error
crosses a threshold (*error-triggered*), which on the chip means few weight writes. Here the output neurons are
:func:`neuro.dynamics.rules.error_readout` neurons (a trace :math:`r` of their own spikes and a trace :math:`s` of
the teacher's spikes, receptor ``"exc"``) and :func:`soel_rule` is the synapse's update, on the weight grid of a chip's
``bits``-bit weights.
"""

from __future__ import annotations

from .synapse import SynapseModel


def soel_rule(modulator: str | None = "learning", **defaults) -> SynapseModel:
    r"""Error-triggered, sign-quantised update of a readout synapse, at each presynaptic spike:

    .. math::

        e = s_{post} - r_{post}, \qquad
        \Delta w = k\,q\,\lambda\,\big([e \ge \theta] - [e \le -\theta]\big), \qquad
        w \leftarrow \mathrm{clip}\big(w + \Delta w, -q_{max} q, q_{max} q\big),

    with :math:`q` the weight grid's step (``q``: the chip's weight scale), :math:`q_{max}` the largest integer weight
    (``q_max``, :math:`2^{bits-1}-1`), :math:`k` the steps per update (``k``), :math:`\theta` the error threshold and
    :math:`\lambda` the network neuromodulator named ``modulator`` (1 while learning, 0 frozen; ``None``: always 1).
    From a weight on the grid (0, or a weight rounded by :func:`neuro.sim.quantize`), the weight stays on it (to float
    rounding): it is what a ``bits``-bit synapse can hold. ``s_post`` and ``r_post`` come from an
    :func:`~neuro.dynamics.rules.error_readout` neuron.

    Differences from SOEL as the paper describes it: the update is taken at presynaptic spikes (the presynaptic
    factor is the spike, not a filtered trace) and the error is quantised to its sign (the paper scales it and the
    surrogate derivative of the membrane potential; we could not read the chip's exact microcode).

    .. code-block:: python

        net.add_modulator("learning", tau=1e15, initial=1.0)
        sim.Projection(hidden, readout, weight=0.0, receptor="v", plasticity=soel_rule()(q=0.05, q_max=127, theta=1.0))
    """
    gate = f"{modulator}" if modulator else "1"
    return SynapseModel("""
        w : volt
        q : volt (constant)
        q_max : 1 (constant)
        k : 1 (constant)
        theta : 1 (constant)
    """, on_pre=(f"w = clip(w + k * q * {gate} * (int(s_post - r_post >= theta) - int(r_post - s_post >= theta)), "
                 "-q_max * q, q_max * q)"),
        modulators=(modulator,) if modulator else (),
        defaults={"q": 0.05, "q_max": 127.0, "k": 1.0, "theta": 1.0, **defaults}, name="soel_rule")
