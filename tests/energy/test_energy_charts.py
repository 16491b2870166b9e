"""Energy charts stay readable on a deep model: the top layers by name and the rest in one bar, a log axis where the
values drawn span four decades (small terms stay visible next to memory), a silent network's warning as the title,
and nothing clipped from the saved PNG."""

from __future__ import annotations

import warnings

import matplotlib
import pytest
import torch
from torch import nn

from neuro import nn as snn
from neuro.energy import estimate
from neuro.energy.report import SilentNetworkWarning
from neuro.viz.energy import TOP_LAYERS, energy_by_layer, energy_by_term, plot_report, rate_by_layer, top_layers

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _deep_report(pairs: int = 50) -> dict:
    """``pairs`` x (Linear, LIF): 100 counted layers, the first two 2048 wide (their memory energy is 10^4 times the
    convention's energy of the narrow ones)."""
    torch.manual_seed(0)
    layers = [nn.Linear(8, 2048), snn.LIF(tau=2.0, v_threshold=0.1), nn.Linear(2048, 8), snn.LIF(tau=2.0, v_threshold=0.1)]
    for _ in range(pairs - 2):
        layers += [nn.Linear(8, 8), snn.LIF(tau=2.0, v_threshold=0.1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SilentNetworkWarning)
        return estimate(nn.Sequential(*layers), torch.rand(4, 2, 8)).to_dict()


@pytest.fixture(scope="module")
def deep():
    return _deep_report()


def _labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def test_top_layers_groups_the_rest():
    names = [f"l{i}" for i in range(40)]
    values = {"a": [float(i) for i in range(40)], "b": [0.0] * 40}
    labels, shown = top_layers(names, values, top=5)
    assert labels == ["l35", "l36", "l37", "l38", "l39", "other (35 layers)"]  # the model's order, the costliest kept
    assert shown["a"][-1] == sum(range(35)) and sum(shown["a"]) == sum(values["a"])
    assert top_layers(names[:6], {"a": values["a"][:6]}, top=5)[0] == names[:6]  # one left over: no "other" bar


def test_energy_by_layer_on_a_hundred_layers(deep):
    assert len(deep["layers"]) == 100
    fig, ax = plt.subplots()
    energy_by_layer(ax, deep)
    labels = _labels(ax)
    assert len(labels) == TOP_LAYERS + 1 and labels[-1] == f"other ({100 - TOP_LAYERS} layers)"
    assert f"top {TOP_LAYERS} of 100" in ax.get_title()
    assert ax.get_xscale() == "log"  # memory-aware energies are 10^4 and more times the convention's
    plt.close(fig)


# the terms (pJ, 2 samples) of the committed Spikformer-4-384 report: the convention's 5 mJ next to 434 mJ of memory
SPIKFORMER_TERMS = {
    "convention": {"mac": 9736319078, "ac": 483519494},
    "ops": {"mac": 2671508659, "ac": 434803718},
    "memory": {"mac": 2671508659, "ac": 434803718, "neuron": 63799296, "other": 54519398, "mem: weights": 754537113976,
               "mem: inputs": 622394734, "mem: partial sums": 106986762700, "mem: activations": 1228800000, "mem: membrane": 1159987200,
               "mem: spikes": 2795520},
}


def test_energy_by_term_keeps_small_terms_visible():
    rep = {"samples": 2, "energy": {m: {"by_term_pj": t, "total_pj": sum(t.values())} for m, t in SPIKFORMER_TERMS.items()}}
    fig, ax = plt.subplots()
    energy_by_term(ax, rep)
    terms = _labels(ax)
    assert terms[0] == "ac" and "mem: spikes" in terms and len(terms) == 10  # one group per term: no stacking hides a term
    assert ax.get_xscale() == "log"  # 7.5e11 pJ of weights next to 2.8e6 pJ of spikes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["convention (5.11 mJ)", "ops (1.55 mJ)", "memory (434 mJ)"]
    bars = [b.get_width() for c in ax.containers for b in c]
    assert min(b for b in bars if b > 0) == pytest.approx(2795520 / 2 / 1e3)  # the smallest term is drawn, in nJ per sample
    plt.close(fig)


def test_a_linear_axis_when_values_are_close():
    rep = {"samples": 1, "energy": {"ops": {"total_pj": 3.0, "by_term_pj": {"ac": 1.0, "mac": 2.0}}}}
    fig, ax = plt.subplots()
    energy_by_term(ax, rep)
    assert ax.get_xscale() == "linear"
    plt.close(fig)


def test_rate_chart_marks_silent_layers(deep):
    rep = {**deep, "layers": [dict(c) for c in deep["layers"]]}
    neurons = [c for c in rep["layers"] if c["role"] == "neuron"]
    neurons[0]["firing_rate"] = 0.0
    fig, ax = plt.subplots()
    rate_by_layer(ax, rep, top=10)
    assert len(_labels(ax)) == 10 and "fastest 10 of 50" in ax.get_title() and "(1 silent)" in ax.get_title()
    plt.close(fig)


def test_saved_png_carries_a_silent_warning_and_is_not_clipped(tmp_path, deep, monkeypatch):
    rep = {**deep, "warnings": ["silent network: 0 spikes per neuron per step"]}
    seen = {}
    real_savefig = matplotlib.figure.Figure.savefig

    def savefig(fig, path, **kw):
        seen.update(kw, suptitle=fig._suptitle.get_text() if fig._suptitle else None)
        return real_savefig(fig, path, **kw)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    path = plot_report(rep, tmp_path / "e.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert seen["bbox_inches"] == "tight" and seen["suptitle"].startswith("WARNING: silent network")
