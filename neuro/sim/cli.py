"""``neuro simulate``: run one of the example networks shipped in ``examples/`` (CUBA, distal reward, polychronization),
or the Potjans & Diesmann microcircuit, which is part of the package (:mod:`neuro.sim.microcircuit`)."""

from __future__ import annotations

import runpy
from pathlib import Path

_EXAMPLES = {"cuba": "cuba.py", "distal-reward": "distal_reward.py", "polychronization": "polychronization.py"}


def _examples_dir() -> Path:
    here = Path(__file__).resolve().parents[2] / "examples"
    if not here.is_dir():
        raise FileNotFoundError(f"the example scripts are in the source checkout ({here} not found); clone the repository to run them")
    return here


def run(args) -> int:
    import sys

    if args.network == "microcircuit":
        from .microcircuit import main

        return main(args.rest)
    script = _examples_dir() / _EXAMPLES[args.network]
    sys.argv = [str(script), *args.rest]
    runpy.run_path(str(script), run_name="__main__")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("simulate", help="run an example network of the event-driven simulator",
                              description="Run an example network; arguments after the name go to the example (try --help).")
    p.add_argument("network", choices=sorted([*_EXAMPLES, "microcircuit"]), help="which network")
    p.add_argument("rest", nargs="...", help="arguments for the example script, e.g. --duration 500 --out runs/cuba")
    p.set_defaults(func=run)
