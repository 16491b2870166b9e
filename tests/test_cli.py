"""The ``neuro`` command: --help and --version without the heavy layers, each layer's subcommand loaded when it runs,
and ``python -m neuro.sim.microcircuit``."""

from __future__ import annotations

import argparse
import importlib
import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from neuro import cli

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numba", "numpy", "scipy", "neuro.sim", "neuro.nn", "neuro.data", "neuro.energy", "neuro.train", "neuro.ops")


def _loaded_after(argv: list[str]) -> tuple[set[str], str, int]:
    """Run ``neuro.cli.main(argv)`` in a fresh interpreter: the top-level modules and layers then imported, stdout, exit code."""
    code = (
        "import sys, json\n"
        "from neuro.cli import main\n"
        "try:\n"
        f"    rc = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    rc = exc.code\n"
        "print('@@' + json.dumps({'modules': sorted(sys.modules), 'rc': rc}))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    out, _, tail = res.stdout.rpartition("@@")
    info = json.loads(tail)
    return set(info["modules"]), out, info["rc"]


def test_help_imports_no_heavy_module_and_lists_every_subcommand():
    modules, out, rc = _loaded_after(["--help"])
    assert rc == 0
    loaded = sorted(m for m in HEAVY if m in modules)
    assert not loaded, f"`neuro --help` imported {loaded}"
    for command in ("info", "demo", "warmup", *cli.LAYER_COMMANDS):
        assert re.search(rf"^\s+{command}\s+\S", out, flags=re.M), f"{command} missing from --help:\n{out}"


def test_version_flag_and_attribute():
    modules, out, rc = _loaded_after(["--version"])
    assert rc == 0 and not [m for m in HEAVY if m in modules]
    import neuro

    assert out.strip() == f"neuro {neuro.__version__}"
    assert neuro.__version__ == version("neuro-snn")
    res = subprocess.run([sys.executable, "-m", "neuro", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == f"neuro {neuro.__version__}"


def test_only_the_chosen_layer_is_imported():
    modules, out, rc = _loaded_after(["data", "--help"])
    assert rc == 0 and "neuro.data.cli" in modules and "usage: neuro data" in out
    assert not {"neuro.sim", "neuro.energy", "neuro.train", "neuro.nn"} & modules


def test_a_simulation_only_process_never_imports_torch():
    """``neuro.sim`` builds and runs a network without torch (seconds of start-up a sweep worker would pay per process)."""
    code = ("import sys\nfrom neuro import sim\n"
            "net = sim.Network(dt=0.1, seed=1)\npop = net.add(sim.LIF(20))\n"
            "net.add(sim.Projection(net.add(sim.PoissonInput(10, rate=500.0)), pop, 'all_to_all', weight=5.0))\n"
            "mon = net.add(sim.SpikeMonitor(pop))\nnet.run(20.0)\n"
            "print(len(mon.t), 'torch' in sys.modules)\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    spikes, torch_loaded = res.stdout.split()
    assert int(spikes) > 0 and torch_loaded == "False"


@pytest.mark.parametrize("command", sorted(cli.LAYER_COMMANDS))
def test_listed_help_is_the_layers_own(command):
    """The help --help shows without importing a layer is the one the layer registers."""
    module, help_text = cli.LAYER_COMMANDS[command]
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(module).add_cli(sub)
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert registered == {command: help_text}


def test_a_broken_layer_fails_its_own_subcommand_only(monkeypatch, capsys):
    monkeypatch.setitem(cli.LAYER_COMMANDS, "broken", ("neuro._no_such_layer_cli", "a layer that does not import"))
    assert cli.main(["broken", "--anything"]) == 2
    assert "neuro broken: unavailable" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0 and "a layer that does not import" in capsys.readouterr().out


def test_microcircuit_module_runs_and_summarises():
    cmd = [sys.executable, "-m", "neuro.sim.microcircuit", "--scale", "0.01", "--duration", "150", "--transient", "50"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    from neuro.sim.microcircuit import POPULATIONS

    rows = {m.group(1): float(m.group(3)) for m in re.finditer(r"^(L\d+[EI])\s+(\d+)\s+([\d.]+)\s+[\d.]+$", res.stdout, flags=re.M)}
    assert list(rows) == list(POPULATIONS), res.stdout
    assert sum(rows.values()) > 0, "the circuit was silent"
    assert "scale 0.01" in res.stdout and "150 ms simulated" in res.stdout


def test_microcircuit_json_and_bad_options(capsys):
    from neuro.sim import microcircuit as mc

    assert mc.main(["--scale", "0.01", "--duration", "100", "--transient", "20", "--json", "--seed", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["neurons"] == int(sum(round(n * 0.01) for n in mc.N_FULL)) and out["duration_ms"] == 100.0
    assert set(out["rates_hz"]) == set(mc.POPULATIONS) and all(r >= 0 for r in out["rates_hz"].values())
    for argv in (["--duration", "0"], ["--duration", "100", "--transient", "100"], ["--scale", "2"]):
        with pytest.raises(SystemExit) as exc:
            mc.main(argv)
        assert exc.value.code == 2


def test_simulate_runs_the_packaged_microcircuit(capsys):
    """`neuro simulate microcircuit` needs no source checkout: the circuit is part of the package."""
    assert cli.main(["simulate", "microcircuit", "--scale", "0.01", "--duration", "60", "--transient", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["duration_ms"] == 60.0 and out["scale"] == 0.01 and len(out["rates_hz"]) == 8
