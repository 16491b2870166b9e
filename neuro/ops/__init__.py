"""Dynamic laws, one folder each: ``reference.py`` (torch), ``cpu.py`` (Numba), ``cuda.py`` (CuPy).

Nothing here imports ``neuro.sim``, ``neuro.nn`` or any higher layer.
"""
