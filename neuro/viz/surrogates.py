"""The surrogate-derivative family in one figure: :math:`\\sigma'(x)` of every surrogate for a few slopes, and PDSG for a few widths.

    python -m neuro.viz.surrogates [--out docs/figures/surrogates.png]

Each curve is computed by autograd through :func:`neuro.nn.surrogate.spike` (the same path training
uses), not from a separate formula; the PDSG panel through :func:`neuro.ops.surrogate.pdsg_heaviside`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..nn.surrogate import spike
from ..ops.surrogate import SURROGATE_IDS, pdsg_heaviside

ALPHAS = {"sigmoid": (2.0, 4.0, 8.0), "atan": (1.0, 2.0, 4.0), "fast_sigmoid": (5.0, 10.0, 25.0), "triangle": (1.0, 2.0, 4.0),
          "rectangle": (1.0, 2.0, 4.0), "erf": (1.0, 2.0, 4.0), "piecewise_quadratic": (1.0, 2.0, 4.0)}


def surrogate_curves(x: torch.Tensor) -> dict[str, dict[float, torch.Tensor]]:
    """``{name: {alpha: dH/dx at x}}`` for every surrogate, by autograd through :func:`spike`."""
    curves = {}
    for name in SURROGATE_IDS:
        curves[name] = {}
        for alpha in ALPHAS.get(name, (1.0, 2.0, 4.0)):
            xx = x.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(spike(xx, name, alpha).sum(), xx)
            curves[name][alpha] = g
    return curves


def pdsg_curves(x: torch.Tensor, sigmas=(0.25, 0.5, 1.0)) -> dict[float, torch.Tensor]:
    out = {}
    for sigma in sigmas:
        xx = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(pdsg_heaviside(xx, torch.tensor(sigma, dtype=x.dtype)).sum(), xx)
        out[sigma] = g
    return out


def plot_surrogates(path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = torch.linspace(-2.0, 2.0, 801, dtype=torch.float64)
    curves = surrogate_curves(x)
    fig, axes = plt.subplots(2, 4, figsize=(13, 5.6), sharex=True)
    for ax, (name, by_alpha) in zip(axes.flat, curves.items()):
        for alpha, g in by_alpha.items():
            ax.plot(x, g, label=f"alpha = {alpha:g}")
        ax.set_title(name)
        ax.legend(fontsize=7, frameon=False)
    ax = axes.flat[-1]
    for sigma, g in pdsg_curves(x).items():
        ax.plot(x, g, label=f"membrane std = {sigma:g}")
    ax.set_title("PDSG (width = membrane std)")
    ax.legend(fontsize=7, frameon=False)
    for ax in axes[1]:
        ax.set_xlabel("x = h - v_th")
    for ax in axes[:, 0]:
        ax.set_ylabel("surrogate dH/dx")
    fig.suptitle("Surrogate derivatives (autograd through neuro.nn.surrogate.spike)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/figures/surrogates.png")
    print(plot_surrogates(ap.parse_args(argv).out))


if __name__ == "__main__":
    main()
