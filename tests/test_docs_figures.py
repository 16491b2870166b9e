"""Readable figures: whole-number epoch ticks, plain log-axis labels, a diverging colormap centred at 0, labelled
axes with units on the polychronization figure, and generated data titled as such in the dataset tour."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from neuro.viz.axes import epoch_axis, plain_log_axis, plain_number  # noqa: E402
from neuro.viz.events import polarity_difference  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _visible_ticks(ax, axis="x"):
    ax.figure.canvas.draw()
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    ticks = ax.get_xticks() if axis == "x" else ax.get_yticks()
    return [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]


@pytest.mark.parametrize("epochs", [2, 3, 4, 30])
def test_epoch_ticks_are_whole_numbers(epochs):
    fig, ax = plt.subplots()
    ax.plot(range(1, epochs + 1), np.linspace(2.0, 1.0, epochs))
    epoch_axis(ax)
    ticks = _visible_ticks(ax)
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)


def test_default_ticks_of_a_two_epoch_run_are_fractional():
    """The reason for epoch_axis: without it a two-epoch curve gets ticks at 1.2, 1.4 ..."""
    fig, ax = plt.subplots()
    ax.plot([1, 2], [2.0, 1.0])
    assert not all(float(t).is_integer() for t in _visible_ticks(ax))
    plt.close(fig)


def test_log_axis_labels_are_plain_numbers():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [2.6, 1.8])
    ax.set_yscale("log")
    plain_log_axis(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels(minor=True) + ax.get_yticklabels() if t.get_text()]
    visible = [float(s) for s in labels]  # every label parses as a plain number: no "2.3×10⁰"
    assert 2.3 in visible and not any("times" in s or "$" in s for s in labels)
    plt.close(fig)


def test_wide_log_axis_keeps_majors_only():
    fig, ax = plt.subplots()
    ax.semilogy([0, 1], [1e-2, 1e3])
    plain_log_axis(ax)
    fig.canvas.draw()
    assert all(t.get_text() == "" for t in ax.get_yticklabels(minor=True))
    assert {"0.01", "0.1", "1", "10", "100", "1000"} <= {t.get_text() for t in ax.get_yticklabels()}
    plt.close(fig)


def test_plain_number():
    assert [plain_number(v) for v in (0.0, 0.002, 2.3, 5000.0, 1e5, 1e-5, -1e6, 2.5e7)] == \
        ["0", "0.002", "2.3", "5000", "$10^{5}$", "$10^{-5}$", "-$10^{6}$", "2.5e+07"]


def test_plain_log_axis_refuses_a_linear_axis():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="log-scaled y axis"):
        plain_log_axis(ax)
    with pytest.raises(ValueError, match="axis must be 'x' or 'y'"):
        epoch_axis(ax, "z")
    plt.close(fig)


def test_polarity_difference_is_centred_at_zero():
    counts = np.zeros((2, 4, 5))
    counts[1, 0, 0] = 7.0   # ON dominates here
    counts[0, 3, 4] = 2.0   # OFF dominates less strongly: the limits are still symmetric
    im = polarity_difference(counts, title="t")
    assert im.norm.vcenter == 0.0 and im.norm.vmin == -7.0 and im.norm.vmax == 7.0
    white = np.array(im.cmap(im.norm(0.0))[:3])
    assert np.all(white > 0.95), white  # zero difference is drawn white (balanced polarities)
    assert im.cmap(im.norm(7.0))[0] > im.cmap(im.norm(7.0))[2]  # ON (positive) red
    with pytest.raises(ValueError, match=r"\[2, H, W\]"):
        polarity_difference(np.zeros((4, 5)))
    plt.close("all")


def test_rate_spectrum_is_a_density_in_hz2_per_hz():
    """Parseval: the density integrated over frequency is the rate's variance (a sine of amplitude A: A^2 / 2)."""
    ex = _example("polychronization")
    t = np.arange(3000) / 1000.0
    freqs, psd = ex.rate_spectrum(20.0 + 4.0 * np.sin(2 * np.pi * 7.0 * t), dt_ms=1.0)
    assert psd.sum() * (freqs[1] - freqs[0]) == pytest.approx(8.0, rel=1e-9)
    assert freqs[np.argmax(psd)] == 7.0


def test_polychronization_figure_labels_every_axis_with_units():
    ex = _example("polychronization")
    rng = np.random.default_rng(0)
    freqs, psd = ex.rate_spectrum(10 + rng.normal(size=2000))
    peaks = ex.spectral_peaks(freqs, psd)
    fig = ex.plot(rng.uniform(0, 1000, 500), rng.integers(0, 1000, 500), np.full(1000, 6.0), rng.uniform(0, 10, 1000), freqs, psd, peaks, 2000.0)
    raster, weights, spectrum = fig.axes
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()
    assert "(ms)" in raster.get_xlabel() and "mV/ms" in weights.get_xlabel() and weights.get_ylabel() == "synapses"
    assert "Hz²/Hz" in spectrum.get_ylabel() and "(Hz)" in spectrum.get_xlabel()
    plt.close(fig)


def test_dataset_tour_titles_generated_data_as_generated(tmp_path, monkeypatch):
    ex = _example("datasets_tour")
    from neuro.data import fixtures
    from neuro.data.specs import SPECS

    assert ex.shown_name("nmnist", synthetic=False) == SPECS["nmnist"].title

    fixtures.make_fixture("nmnist", tmp_path / "data", split="test", seed=0)
    titles = []
    monkeypatch.setattr(ex, "frame_grid", lambda x, **kw: titles.append(kw["title"]) or tmp_path / "grid.png")
    monkeypatch.setattr(ex, "animate_frames", lambda x, path, **kw: titles.append(kw["title"]) or path)
    r = ex.tour_vision("nmnist", tmp_path / "data", tmp_path, bins=2, synthetic=True)
    assert "generated fixture data" in r["title"] and "generated fixture data" in titles[0] and "generated" in titles[1]
