"""``neuro warmup`` compiles the simulator loop, the LIF and the ALIF kernels (cached: fast after the setup ran it)."""

from __future__ import annotations

from neuro.cli import main


def test_warmup_command_runs_every_part(capsys):
    assert main(["warmup"]) == 0
    out = capsys.readouterr().out
    assert "simulator time loop:" in out and "LIF kernels:" in out and "ALIF kernels:" in out
