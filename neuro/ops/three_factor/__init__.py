"""Three-factor (neuromodulated) learning laws: eligibility traces turned into weight changes by a modulator.

``params.py``: :class:`RewardModulatedSTDP` (Izhikevich 2007 and its continuous-time form),
:class:`Neuromodulator` (concentration dynamics), :class:`GatedHebbian` (the error-modulated
readout rule for reservoirs). ``reference.py``: NumPy laws; ``cpu.py``: Numba kernels.
"""

from .params import GatedHebbian, Neuromodulator, RewardModulatedSTDP

__all__ = ["GatedHebbian", "Neuromodulator", "RewardModulatedSTDP"]
