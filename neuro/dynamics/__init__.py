"""Model definitions: neurons written as equations in Brian2's syntax, checked for units, integrated by a chosen
method and generated into a readable NumPy reference and a Numba kernel (:mod:`neuro.dynamics.codegen`).

This package sits below :mod:`neuro.sim` and :mod:`neuro.nn` and imports neither.
"""

from .discrete import DiscreteNeuron
from .equations import DefinitionError
from .model import NeuronModel
from .units import Dim

__all__ = ["NeuronModel", "DiscreteNeuron", "DefinitionError", "Dim"]
