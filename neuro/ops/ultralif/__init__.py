r"""The UltraLIF law (log-sum-exp soft spike, learnable temperature), multi-step (all T steps in one call), forward and backward.

See :mod:`neuro.ops.ultralif.reference` for the equations; ``cpu.py`` (Numba) and ``cuda.py``
(CuPy, ``kernels/ultralif.cu``) compute the same thing; ``autograd.py`` registers the
``neuro::ultralif_multi_step`` torch custom op used by :class:`neuro.nn.UltraLIF`.
"""

from .params import UltraLIFParams

__all__ = ["UltraLIFParams"]
