"""Energy charts from an energy report's dict (``Report.to_dict()``): by layer, by term, firing rates, bit budget vs T.

Each function draws on a matplotlib ``Axes``; :func:`plot_report` puts the four on one PNG. They take the
plain dict, so this module needs nothing from :mod:`neuro.energy`. Charts stay readable on models of a hundred
layers: bars are horizontal (layer names on the y axis), only the ``top`` layers are drawn and the rest are summed
into one ``other (N layers)`` bar, and an energy axis is logarithmic when the values drawn span four decades or
more (the memory terms of the memory-aware model are often 10^4 times the convention's). A report that warns of a
silent network carries that warning as the figure's title.

Example::

    plot_report(report.to_dict(), "energy.png")
"""

from __future__ import annotations

from pathlib import Path

_COLORS = {"convention": "tab:gray", "ops": "tab:orange", "memory": "tab:blue"}
#: layers drawn by name in the per-layer charts; the others are summed into one bar
TOP_LAYERS = 15
#: an energy axis becomes logarithmic when the largest positive value drawn is this many times the smallest
LOG_SPREAD = 1e4


def _use_log(values) -> bool:
    pos = [v for v in values if v > 0]
    return bool(pos) and max(pos) / min(pos) >= LOG_SPREAD


def top_layers(names: list[str], values: dict[str, list[float]], top: int = TOP_LAYERS) -> tuple[list[str], dict[str, list[float]]]:
    """The ``top`` layers with the most energy (largest over the models in ``values``), in the model's order, and the
    rest summed into a last entry ``"other (N layers)"``; ``values`` maps a model to one value per layer of ``names``."""
    if len(names) <= top + 1:
        return list(names), {m: list(v) for m, v in values.items()}
    score = [max(v[i] for v in values.values()) for i in range(len(names))]
    keep = sorted(sorted(range(len(names)), key=lambda i: -score[i])[:top])
    rest = [i for i in range(len(names)) if i not in set(keep)]
    out = {m: [v[i] for i in keep] + [sum(v[i] for i in rest)] for m, v in values.items()}
    return [names[i] for i in keep] + [f"other ({len(rest)} layers)"], out


def _barh_groups(ax, labels: list[str], series: dict[str, list[float]], colors: list | None = None) -> None:
    """Grouped horizontal bars, one group per label (the first at the top), one bar per series."""
    import numpy as np

    y = np.arange(len(labels))[::-1]
    height = 0.8 / max(len(series), 1)
    for i, (m, vals) in enumerate(series.items()):
        ax.barh(y + ((len(series) - 1) / 2 - i) * height, vals, height, label=m, color=colors[i] if colors else _COLORS.get(m))
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_ylim(-0.6, len(labels) - 0.4)


def energy_by_layer(ax, rep: dict, top: int = TOP_LAYERS) -> None:
    """Grouped bars: per-sample energy of the ``top`` most costly layers under the three models, the rest summed (nJ)."""
    n = max(rep["samples"], 1)
    models = list(rep["energy"])
    names = [row["layer"] for row in rep["energy"][models[0]]["layers"]] if models else []
    values = {m: [row["total_pj"] / n / 1e3 for row in rep["energy"][m]["layers"]] for m in models}
    labels, shown = top_layers(names, values, top)
    _barh_groups(ax, labels, shown)
    if _use_log([v for vals in shown.values() for v in vals]):
        ax.set_xscale("log")
    ax.set_xlabel("energy per sample (nJ)")
    table = rep["table"]["name"].split(",")[0]
    ax.set_title(f"Energy by layer ({table}): top {min(top, len(names))} of {len(names)}" if len(labels) < len(names) else f"Energy by layer ({table})",
                 fontsize=10)
    ax.legend(fontsize=7)


def energy_by_term(ax, rep: dict) -> None:
    """Per-sample energy of each kind of work (MAC, AC, neuron, other, each memory category) under each model (nJ);
    grouped bars, so a small term stays visible next to a large one (log axis when they span four decades)."""
    n = max(rep["samples"], 1)
    models = list(rep["energy"])
    terms = sorted({k for m in models for k in rep["energy"][m]["by_term_pj"]})
    series = {f"{m} ({rep['energy'][m]['total_pj'] / n * 1e-9:.3g} mJ)": [rep["energy"][m]["by_term_pj"].get(t, 0.0) / n / 1e3 for t in terms]
              for m in models}
    _barh_groups(ax, terms, series, [_COLORS.get(m) for m in models])
    if _use_log([v for vals in series.values() for v in vals]):
        ax.set_xscale("log")
    ax.set_xlabel("energy per sample (nJ)")
    ax.set_title("Energy by kind of work (total per model in the legend)", fontsize=10)
    ax.legend(fontsize=7)


def rate_by_layer(ax, rep: dict, top: int = 2 * TOP_LAYERS) -> None:
    """Firing rate (spikes per neuron per step) of every spiking layer (the ``top`` fastest when there are more; silent
    layers counted in the title)."""
    import numpy as np

    rows = [(c["name"], c["firing_rate"]) for c in rep["layers"] if c["role"] == "neuron" and c["firing_rate"] is not None]
    silent = sum(1 for _, r in rows if r == 0)
    shown = rows
    if len(rows) > top:
        keep = sorted(sorted(range(len(rows)), key=lambda i: -rows[i][1])[:top])
        shown = [rows[i] for i in keep]
    y = np.arange(len(shown))[::-1]
    ax.barh(y, [r for _, r in shown], color="tab:green")
    for yi, (_, r) in zip(y, shown):
        if r == 0:
            ax.text(0, yi, " silent", va="center", fontsize=6, color="tab:red")
    ax.set_yticks(y, [name for name, _ in shown], fontsize=7)
    ax.set_ylim(-0.6, max(len(shown), 1) - 0.4)
    ax.set_xlabel("firing rate (spikes per neuron per step)")
    title = "Firing rate by spiking layer" + (f": fastest {len(shown)} of {len(rows)}" if len(shown) < len(rows) else "")
    if silent:
        title += f" ({silent} silent)"
    ax.set_title(title, fontsize=10, color="tab:red" if silent else "black")


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
    ax.set_title("Bit budget vs time steps", fontsize=10)
    ax.legend(fontsize=7)


def plot_report(rep: dict, path: str | Path, top: int = TOP_LAYERS) -> Path:
    """The four charts on one PNG at ``path`` (``top`` layers by name in the per-layer energy chart)."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    energy_by_layer(axes[0, 0], rep, top)
    energy_by_term(axes[0, 1], rep)
    rate_by_layer(axes[1, 0], rep, 2 * top)
    bit_budget_vs_t(axes[1, 1], rep)
    warnings = rep.get("warnings") or []
    if warnings:
        fig.suptitle("\n".join(textwrap.wrap("WARNING: " + warnings[0], 160)[:3]), color="tab:red", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
