"""The surrogate figure's curves come from autograd and are true derivatives of a unit step; the figure is written."""

from __future__ import annotations

import torch

from neuro.viz.surrogates import pdsg_curves, plot_surrogates, surrogate_curves

# surrogates normalised to unit area (fast_sigmoid, SuperSpike's 1/(1+alpha|x|)^2, has area 2/alpha by definition)
UNIT_AREA = ("sigmoid", "triangle", "rectangle", "erf", "piecewise_quadratic")


def test_curves_have_the_area_of_a_unit_step():
    x = torch.linspace(-60.0, 60.0, 480_001, dtype=torch.float64)
    curves = surrogate_curves(x)
    for name in UNIT_AREA:
        for alpha, g in curves[name].items():
            assert abs(torch.trapezoid(g, x).item() - 1.0) < 1e-3, (name, alpha)
    for alpha, g in curves["fast_sigmoid"].items():
        assert abs(torch.trapezoid(g, x).item() - 2.0 / alpha) < 2e-2 / alpha
    for alpha, g in curves["atan"].items():  # slow 1/x^2 tails: the area inside +-60 is 1 - 4/(pi^2 alpha 60)
        assert abs(torch.trapezoid(g, x).item() - (1 - 4 / (torch.pi**2 * alpha * 60))) < 1e-3
    for sigma, g in pdsg_curves(x).items():
        assert abs(torch.trapezoid(g, x).item() - 1.0) < 1e-3
        assert abs(x[g.argmax()].item() - sigma / 2) < 1e-3  # the PDSG bump is centred at sigma / 2


def test_figure_is_written(tmp_path):
    path = plot_surrogates(tmp_path / "s.png")
    assert path.stat().st_size > 10_000
