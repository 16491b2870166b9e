"""neuro: spiking neural networks, simulated event by event and trained by surrogate gradients.

Layers, bottom up: ``neuro.backend`` and ``neuro.ops`` (one folder per dynamic law, a
readable torch reference plus Numba and CuPy kernels) -> ``neuro.sim`` (event-driven
simulator) and ``neuro.nn`` (training layer) -> data, energy, training loop, plots, CLI.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
