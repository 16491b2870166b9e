r"""The leaky integrate-and-fire law, multi-step (all T steps in one call), forward and backward.

See :mod:`neuro.ops.lif.reference` for the equations; ``cpu.py`` (Numba) and ``cuda.py``
(CuPy, ``kernels/lif.cu``) compute the same thing; ``autograd.py`` registers the
``neuro::lif_multi_step`` torch custom op used by ``neuro.nn`` and ``neuro.sim``.
"""

from .params import LIFParams

__all__ = ["LIFParams"]
