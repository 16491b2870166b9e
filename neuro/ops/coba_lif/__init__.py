"""LIF neuron with conductance-based exponential synapses (exponential Euler, see ``reference.py``)."""
