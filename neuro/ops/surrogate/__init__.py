"""Surrogate derivatives of the Heaviside spike function, shared by every neuron law.

Each surrogate is identified by a small integer so that kernels can switch on it;
:data:`SURROGATE_IDS` maps names to those integers. The potential-dependent surrogate (PDSG), whose
width is a tensor computed from the layer's membrane potentials, lives in :mod:`.pdsg`.
"""

from .pdsg import membrane_std, pdsg_grad, pdsg_heaviside, pdsg_primitive
from .reference import SURROGATE_IDS, heaviside, surrogate_grad, surrogate_id

__all__ = ["SURROGATE_IDS", "heaviside", "surrogate_grad", "surrogate_id", "membrane_std", "pdsg_grad", "pdsg_heaviside", "pdsg_primitive"]
