"""Surrogate-gradient spiking layers for PyTorch on ``[T, B, ...]`` tensors.

Neurons (:class:`LIF`, :class:`ParametricLIF`, :class:`IF`) run all T steps in one fused op
(:mod:`neuro.ops.lif`) on the backend chosen by :mod:`neuro.backend`; :func:`spike` is the
Heaviside with a surrogate derivative for custom neurons; encoders turn static data into spike
trains. Every spiking module has the class attribute ``is_spiking = True``.
"""

from .encoders import delta_encode, latency_encode, poisson_encode, repeat_encode
from .neurons import IF, LIF, ParametricLIF
from .surrogate import spike

__all__ = ["IF", "LIF", "ParametricLIF", "spike", "poisson_encode", "latency_encode", "delta_encode", "repeat_encode"]
