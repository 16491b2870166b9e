"""Surrogate-gradient spiking layers for PyTorch on ``[T, B, ...]`` tensors.

Neurons (:class:`LIF`, :class:`ParametricLIF`, :class:`IF`) run all T steps in one fused op
(:mod:`neuro.ops.lif`) on the backend chosen by :mod:`neuro.backend`; :func:`spike` is the
Heaviside with a surrogate derivative for custom neurons; encoders turn static data into spike
trains; :class:`PerStep` applies a stateless layer to ``[T, B, ...]``. Every spiking module has
the class attribute ``is_spiking = True``. Synaptic delays (fixed, or learnable as in DCLS-Delays):
:mod:`neuro.nn.delays`. NIR interchange (needs ``nir``): :mod:`neuro.nn.nir`.
"""

from .alif import ALIF, ALIFState
from .delays import DelayedLinear, LearnableDelayLinear, dcls_sigma
from .encoders import delta_encode, latency_encode, poisson_encode, repeat_encode
from .layers import PerStep, Scale, SynapticCurrent
from .multilevel import IELIF, IntegerLIF, expand_time
from .neurons import IF, LIF, ParametricLIF
from .pdsg import PDSGLIF
from .readout import (
    LeakyReadout,
    firing_rates,
    l1_spike_penalty,
    lower_rate_penalty,
    max_membrane_cross_entropy,
    rate_mse_loss,
    spike_count_cross_entropy,
    spike_rate_cross_entropy,
    upper_rate_penalty,
)
from .surrogate import spike
from .ultralif import UltraLIF

__all__ = ["IF", "LIF", "ParametricLIF", "PerStep", "Scale", "SynapticCurrent", "spike", "poisson_encode", "latency_encode", "delta_encode", "repeat_encode",
           "DelayedLinear", "LearnableDelayLinear", "dcls_sigma"]
# training-layer neurons, read-outs and losses (issue 5)
__all__ += ["ALIF", "ALIFState", "LeakyReadout", "firing_rates", "l1_spike_penalty", "lower_rate_penalty", "max_membrane_cross_entropy",
            "rate_mse_loss", "spike_count_cross_entropy", "spike_rate_cross_entropy", "upper_rate_penalty", "IELIF", "IntegerLIF", "expand_time",
            "UltraLIF", "PDSGLIF"]
# neurons built from a definition (issue 21); imported on first use, as it loads sympy and neuro.dynamics (about 1 s)
__all__ += ["Neuron"]


def __getattr__(name: str):
    if name == "Neuron":
        from .neuron import Neuron

        return Neuron
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
