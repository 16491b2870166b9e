"""Izhikevich 2006 polychronization (spnet: 1000 Izhikevich neurons, 100k synapses, delays 1-20 ms, STDP with
Izhikevich's once-per-second weight update) in neuro.sim and in Brian2, same run, one thread each.

The ``--network spnet`` variant of ``plasticity_vs_brian2.py`` as a benchmark of its own, so the runner saves it
(``python -m benchmarks spnet_vs_brian2 --save``). Default 10 s of model time against Brian2's C++ standalone
(``--quick``: 2 s; ``--full``: 60 s; numpy where no C++ compiler is found). Also reports the minutes one hour of model time
would take at the speed of these first seconds; the real hour is slower (after learning the network fires ~4x
more, 17 vs 4.7 Hz): ``python examples/polychronization.py`` times the whole hour.

    python benchmarks/spnet_vs_brian2.py [--quick | --full] [--target ...] [--device cpu|cuda|emulate] [--repeat N]
"""

from __future__ import annotations

import sys

if __package__ in (None, ""):
    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.dirname(__import__("os").path.abspath(__file__))))

from benchmarks import plasticity_vs_brian2  # noqa: E402


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    plasticity_vs_brian2.main(["--network", "spnet", *argv])


if __name__ == "__main__":
    main()
