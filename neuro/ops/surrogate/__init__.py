"""Surrogate derivatives of the Heaviside spike function, shared by every neuron law.

Each surrogate is identified by a small integer so that kernels can switch on it;
:data:`SURROGATE_IDS` maps names to those integers.
"""

from .reference import SURROGATE_IDS, heaviside, surrogate_grad, surrogate_id

__all__ = ["SURROGATE_IDS", "heaviside", "surrogate_grad", "surrogate_id"]
