"""Energy and operation counts of spiking models, from their real activity.

:func:`estimate` runs a model on real inputs with forward hooks and counts, per layer, dense
MACs, the accumulates actually triggered by non-zero spikes (effective synaptic operations),
MACs on real-valued inputs, neuron updates and firing rates; :class:`EnergyTable` holds the
technology numbers (data files in ``tables/``); :func:`simulation_energy` prices the events the
simulator counted. See :mod:`neuro.energy.estimate` for every definition.
"""

from .estimate import LayerCounts, Report, estimate, simulation_energy
from .tables import EnergyTable

__all__ = ["EnergyTable", "LayerCounts", "Report", "estimate", "simulation_energy"]
