"""Izhikevich (2003) neuron with named presets (see ``reference.py``)."""

from .reference import PRESETS

__all__ = ["PRESETS"]
