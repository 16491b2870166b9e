"""Event-driven simulator of spiking networks, with plasticity, run by a compiled (Numba) time loop.

Populations (:class:`LIF`, :class:`ConductanceLIF`, :class:`Izhikevich`, :class:`PoissonInput`,
:class:`SpikeSource`), :class:`Projection` with sparse per-synapse weights and delays and
optional plasticity, monitors, and the :class:`Network` that runs them. Units: ms, mV, Hz.
"""

from .monitors import ModulatorMonitor, PopulationRateMonitor, SpikeMonitor, StateMonitor, SynapseMonitor, load_samples
from .network import Network
from .populations import LIF, ConductanceLIF, Izhikevich, PoissonInput, Population, SpikeSource
from .projections import FixedInDegree, FixedOutDegree, FixedProbability, Projection

__all__ = [
    "LIF", "ConductanceLIF", "Izhikevich", "PoissonInput", "SpikeSource", "Population",
    "Projection", "FixedProbability", "FixedInDegree", "FixedOutDegree",
    "SpikeMonitor", "StateMonitor", "PopulationRateMonitor", "SynapseMonitor", "ModulatorMonitor", "load_samples", "Network",
]
