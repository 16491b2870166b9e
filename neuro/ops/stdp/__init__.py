r"""Spike-timing-dependent plasticity laws, event-driven (traces decayed lazily from their last update).

``params.py`` holds the rules' parameters (pair STDP with Gütig weight dependence, triplet
STDP with Pfister & Gerstner's published sets); ``reference.py`` is the readable NumPy law;
``cpu.py`` the Numba scalar kernels that the simulator's compiled loop inlines.
"""

from .params import TRIPLET_PRESETS, PairSTDP, TripletSTDP

__all__ = ["PairSTDP", "TripletSTDP", "TRIPLET_PRESETS"]
