r"""The leaky integrate-and-fire law, multi-step (all T steps in one call), forward and backward.

See :mod:`neuro.ops.lif.reference` for the equations; ``cpu.py`` (Numba) and ``cuda.py``
(CuPy, ``kernels/lif.cu``) compute the same thing; ``autograd.py`` registers the
``neuro::lif_multi_step`` torch custom op used by ``neuro.nn`` and ``neuro.sim``.
"""

__all__ = ["LIFParams"]


def __getattr__(name):
    # imported on first use: the simulator's CPU loop imports ``step_cpu`` (NumPy and Numba only) from this package,
    # and ``params`` brings in torch (seconds of start-up that a simulation-only process, e.g. a sweep worker, skips)
    if name == "LIFParams":
        from .params import LIFParams

        return LIFParams
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
