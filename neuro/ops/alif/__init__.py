r"""The adaptive-threshold LIF law (ALIF), multi-step (all T steps in one call), forward and backward.

See :mod:`neuro.ops.alif.reference` for the equations; ``cpu.py`` (Numba) and ``cuda.py``
(CuPy, ``kernels/alif.cu``) compute the same thing; ``autograd.py`` registers the
``neuro::alif_multi_step`` torch custom op used by :class:`neuro.nn.ALIF`.
"""

from .params import ALIFParams

__all__ = ["ALIFParams"]
