// What the kernels generated from definitions share (neuro/dynamics/cudagen.py: neuron_model.cu.in;
// neuro/dynamics/cudagen_synapse.py: synapse_model.cu.in): Numba's semantics of the operations the printers emit.
#pragma once
#include "neuro_device.cuh"

// x ** n for an integer literal n: Numba's power by squaring (numba/cpython/numbers.py static_power_impl), the same
// products in the same order; a negative n takes 1 / x ** -n
NEURO_DEVICE double gen_powi(double x, i64 n) {
    i64 e = n < 0 ? -n : n;
    double r = 1.0;
    while (e != 0) {
        if (e & 1) r = r * x;
        e >>= 1;
        x = x * x;
    }
    return n < 0 ? 1.0 / r : r;
}
// Python's min(a, b) and max(a, b) as Numba compiles them: b where b < a (b > a), else a (NaN included)
NEURO_DEVICE double gen_min(double a, double b) { return b < a ? b : a; }
NEURO_DEVICE double gen_max(double a, double b) { return b > a ? b : a; }

// Neuron i at place q of a step's spike list (ns places): 0 where it is a later copy of the neuron before it (the
// first copy's thread handles it), else the number of adjacent copies from q on (1 for a neuron that spiked once).
// A SpikeSource with repeats="multiplicity" lists a neuron once per spike of the step, its copies adjacent.
NEURO_DEVICE i64 spike_repeats(const i64* row, i64 q, i64 ns, i64 i) {
    if (q > 0 && row[q - 1] == i) return 0;
    i64 k = 1;
    while (q + k < ns && row[q + k] == i) ++k;
    return k;
}
