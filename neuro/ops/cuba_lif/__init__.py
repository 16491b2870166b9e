"""LIF neuron with exponentially decaying current-based synapses, integrated exactly (see ``reference.py``)."""
