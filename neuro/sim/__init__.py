"""Event-driven simulator of spiking networks, with plasticity, run by a compiled (Numba) time loop.

Populations (:class:`LIF`, :class:`ConductanceLIF`, :class:`Izhikevich`, :class:`PoissonInput`,
:class:`SpikeSource`), :class:`Projection` with sparse per-synapse weights and delays and
optional plasticity, monitors, and the :class:`Network` that runs them. Units: ms, mV, Hz.
:func:`from_nn` deploys a trained ``neuro.nn`` network (:class:`DiscreteLIF` neurons, the same spikes);
:func:`save_h5` / :func:`load_h5` / :func:`to_nir` export it (:mod:`neuro.sim.deploy`, :mod:`neuro.sim.export`);
:func:`check_budget` says whether it fits a neuromorphic :class:`Processor` (:mod:`neuro.sim.budget`).
"""

from .budget import PROFILES, BudgetReport, CoreMap, Processor, Violation, check_budget, map_to_cores, quantize, quantize_weights
from .deploy import ConversionError, DeployedNetwork, from_nn
from .discrete import DiscreteLIF
from .export import load_h5, save_h5, to_nir, to_nn
from .monitors import ModulatorMonitor, PopulationRateMonitor, SpikeMonitor, StateMonitor, SynapseMonitor, load_samples
from .network import Network
from .populations import LIF, ConductanceLIF, Izhikevich, PoissonInput, Population, SpikeSource
from .projections import FixedInDegree, FixedOutDegree, FixedProbability, Projection

__all__ = [
    "LIF", "ConductanceLIF", "Izhikevich", "PoissonInput", "SpikeSource", "Population",
    "Projection", "FixedProbability", "FixedInDegree", "FixedOutDegree",
    "SpikeMonitor", "StateMonitor", "PopulationRateMonitor", "SynapseMonitor", "ModulatorMonitor", "load_samples", "Network",
    "DiscreteLIF", "from_nn", "DeployedNetwork", "ConversionError", "save_h5", "load_h5", "to_nn", "to_nir",
    "Processor", "PROFILES", "CoreMap", "Violation", "BudgetReport", "map_to_cores", "check_budget", "quantize", "quantize_weights",
]
