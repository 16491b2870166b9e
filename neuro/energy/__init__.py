"""Energy and bit budget of spiking models, from their real activity.

:func:`estimate` runs a model on real inputs with forward hooks and counts, per layer and per time step,
dense MACs, the accumulates actually triggered by non-zero spikes (effective synaptic operations), MACs on
real-valued inputs, matrix products in attention, neuron updates and firing rates, element-wise work and
memory traffic (:mod:`neuro.energy.counting`); :class:`Report` prices them with three models side by side
(:mod:`neuro.energy.models`: the spiking-transformer convention, the counted operations, a memory-aware
model) using an :class:`EnergyTable` kept as data (``tables/*.json``), and gives the bit budget of the SNN and
of its quantized-ANN counterpart (:mod:`neuro.energy.bitbudget`). :func:`simulation_energy` prices the events
a simulator run counted (:class:`SimCounts`). :func:`energy_from_rates` (or ``Report.energy_from_rates``) prices our
per-layer FLOPs with the firing rates a paper reports, to check our convention against its published energy
(:mod:`neuro.energy.rates`).
"""

from .bitbudget import activation_bits_for, bit_budget
from .counting import LayerCounts
from .estimate import estimate
from .models import EnergyBreakdown, EnergyOptions
from .rates import RateEnergy, energy_from_rates
from .recognise import is_spiking
from .report import Report, SilentNetworkWarning
from .simulation import SimCounts, simulation_energy
from .tables import EnergyTable, MemoryLevel

__all__ = ["EnergyBreakdown", "EnergyOptions", "EnergyTable", "LayerCounts", "MemoryLevel", "RateEnergy", "Report", "SilentNetworkWarning", "SimCounts",
           "activation_bits_for", "bit_budget", "energy_from_rates", "estimate", "is_spiking", "simulation_energy"]
