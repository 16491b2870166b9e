"""``neuro warmup`` compiles the simulator loop and the LIF kernels (cached: fast after the setup ran it)."""

from __future__ import annotations

from neuro.cli import main


def test_warmup_command_runs_both_parts(capsys):
    assert main(["warmup"]) == 0
    out = capsys.readouterr().out
    assert "simulator time loop:" in out and "LIF kernels:" in out
