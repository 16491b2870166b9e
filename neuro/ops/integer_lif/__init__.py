r"""The integer (multi-level) LIF law of I-LIF / IE-LIF, multi-step (all T steps in one call), forward and backward.

See :mod:`neuro.ops.integer_lif.reference` for the equations; ``cpu.py`` (Numba) and ``cuda.py``
(CuPy, ``kernels/integer_lif.cu``) compute the same thing; ``autograd.py`` registers the
``neuro::integer_lif_multi_step`` torch custom op used by :class:`neuro.nn.IntegerLIF` and
:class:`neuro.nn.IELIF`.
"""

from .params import IntegerLIFParams

__all__ = ["IntegerLIFParams"]
