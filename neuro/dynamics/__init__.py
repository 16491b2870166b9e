"""Model definitions: neurons and plasticity rules written as equations in Brian2's syntax, checked for units,
integrated by a chosen method and generated into a readable reference and Numba kernels (:mod:`neuro.dynamics.codegen`,
:mod:`neuro.dynamics.syncodegen`).

This package sits below :mod:`neuro.sim` and :mod:`neuro.nn` and imports neither.
"""

from .discrete import DiscreteNeuron
from .equations import DefinitionError
from .model import NeuronModel
from .synapse import Plasticity, SynapseModel
from .units import Dim

__all__ = ["NeuronModel", "SynapseModel", "Plasticity", "DiscreteNeuron", "DefinitionError", "Dim"]
