"""Energy charts from an energy report's dict (``Report.to_dict()``): by layer, by term, firing rates, bit budget vs T.

Each function draws on a matplotlib ``Axes``; :func:`plot_report` puts the four on one PNG. They take the
plain dict, so this module needs nothing from :mod:`neuro.energy`.

Example::

    plot_report(report.to_dict(), "energy.png")
"""

from __future__ import annotations

from pathlib import Path

_COLORS = {"convention": "tab:gray", "ops": "tab:orange", "memory": "tab:blue"}


def energy_by_layer(ax, rep: dict) -> None:
    """Grouped bars: per-sample energy of each layer under the three models (nJ, log scale)."""
    import numpy as np

    names = [row["layer"] for row in rep["energy"]["ops"]["layers"]]
    n = max(rep["samples"], 1)
    x = np.arange(len(names))
    models = list(rep["energy"])
    width = 0.8 / max(len(models), 1)
    for i, m in enumerate(models):
        vals = [row["total_pj"] / n / 1e3 for row in rep["energy"][m]["layers"]]
        ax.bar(x + (i - (len(models) - 1) / 2) * width, vals, width, label=m, color=_COLORS.get(m))
    ax.set_xticks(x, names, rotation=40, ha="right", fontsize=7)
    ax.set_ylabel("energy per sample (nJ)")
    if any(row["total_pj"] > 0 for m in models for row in rep["energy"][m]["layers"]):
        ax.set_yscale("log")
    ax.set_title(f"Energy by layer ({rep['table']['name'].split(',')[0]})")
    ax.legend(fontsize=7)


def energy_by_term(ax, rep: dict) -> None:
    """Stacked bar per model: energy per sample split into MAC, AC, neuron, other and memory terms (nJ)."""
    n = max(rep["samples"], 1)
    models = list(rep["energy"])
    terms = sorted({k for m in models for k in rep["energy"][m]["by_term_pj"]})
    bottoms = [0.0] * len(models)
    cmap = __import__("matplotlib").colormaps["tab20"]
    for j, term in enumerate(terms):
        vals = [rep["energy"][m]["by_term_pj"].get(term, 0.0) / n / 1e3 for m in models]
        ax.bar(models, vals, bottom=bottoms, label=term, color=cmap(j % 20))
        bottoms = [b + v for b, v in zip(bottoms, vals)]
    ax.set_ylabel("energy per sample (nJ)")
    ax.set_title("Energy by operation kind")
    ax.legend(fontsize=6, ncol=2)


def rate_by_layer(ax, rep: dict) -> None:
    """Firing rate (spikes per neuron per step) of every spiking layer."""
    rows = [(c["name"], c["firing_rate"]) for c in rep["layers"] if c["role"] == "neuron" and c["firing_rate"] is not None]
    ax.bar([r[0] for r in rows], [r[1] for r in rows], color="tab:green")
    ax.tick_params(axis="x", rotation=40, labelsize=7)
    ax.set_ylabel("firing rate")
    ax.set_title("Firing rate by spiking layer")


def bit_budget_vs_t(ax, rep: dict) -> None:
    """Bit-operations per sample of the SNN and of its quantized ANN at each number of time steps."""
    sweep = rep["bit_budget"]["sweep"]
    ts = [s["time_steps"] for s in sweep]
    ax.plot(ts, [s["snn_bit_ops"] for s in sweep], "o-", label="SNN: M T b_w (1-bit spikes)")
    ax.plot(ts, [s["ann_bit_ops"] for s in sweep], "s-", label="quantized ANN: M b_w ceil(log2(T+1))")
    ax.axvline(rep["time_steps"], color="k", lw=0.8, ls=":")
    ax.set_xlabel("time steps T")
    ax.set_ylabel("bit-operations per sample")
    ax.set_yscale("log")
    ax.set_title("Bit budget vs time steps")
    ax.legend(fontsize=7)


def plot_report(rep: dict, path: str | Path) -> Path:
    """The four charts on one PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    energy_by_layer(axes[0, 0], rep)
    energy_by_term(axes[0, 1], rep)
    rate_by_layer(axes[1, 0], rep)
    bit_budget_vs_t(axes[1, 1], rep)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
