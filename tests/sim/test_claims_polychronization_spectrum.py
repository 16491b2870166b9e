"""examples/polychronization.py reports the spectrum's strongest peak, and separately the strongest in 20-120 Hz."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _example():
    spec = importlib.util.spec_from_file_location("polychronization_example", ROOT / "examples" / "polychronization.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_peaks_of_a_slow_rhythm_with_a_weak_gamma_component():
    """3 Hz at amplitude 5 and 50 Hz at amplitude 1 over 5 s: the strongest peak is 3 Hz, the 20-120 Hz band's is
    50 Hz with (1/5)^2 = 0.04 of its power."""
    ex = _example()
    t = np.arange(5000) / 1000.0
    rate = 10.0 + 5.0 * np.sin(2 * np.pi * 3.0 * t) + 1.0 * np.sin(2 * np.pi * 50.0 * t)
    freqs, power = ex.rate_spectrum(rate, dt_ms=1.0, segment_ms=1000.0)
    assert freqs[1] == pytest.approx(1.0) and freqs.size == 501
    peaks = ex.spectral_peaks(freqs, power, band=(20.0, 120.0))
    assert peaks["peak_hz"] == 3.0
    assert peaks["band_peak_hz"] == 50.0
    assert peaks["band_peak_relative_power"] == pytest.approx(0.04, rel=1e-6)
    assert peaks["band_peak_over_band_median"] > 1e6  # a pure tone stands far above the band's floor


def test_peak_in_the_band_is_the_global_one_when_it_dominates():
    ex = _example()
    rng = np.random.default_rng(0)
    t = np.arange(4000) / 1000.0
    rate = 20.0 + 4.0 * np.sin(2 * np.pi * 40.0 * t) + rng.normal(0.0, 1.0, t.size)
    peaks = ex.spectral_peaks(*ex.rate_spectrum(rate), band=(20.0, 120.0))
    assert peaks["peak_hz"] == peaks["band_peak_hz"] == 40.0
    assert peaks["band_peak_relative_power"] == 1.0


def test_mean_rate_is_not_a_peak():
    """Each segment's mean is removed, so a large constant rate does not make 0 Hz (or 1 Hz) the peak."""
    ex = _example()
    t = np.arange(3000) / 1000.0
    freqs, power = ex.rate_spectrum(1000.0 + np.sin(2 * np.pi * 7.0 * t))
    assert power[0] == pytest.approx(0.0, abs=1e-12)
    assert ex.spectral_peaks(freqs, power)["peak_hz"] == 7.0


def test_bad_inputs():
    ex = _example()
    with pytest.raises(ValueError, match="at least one segment"):
        ex.rate_spectrum(np.ones(500), segment_ms=1000.0)
    with pytest.raises(ValueError, match="within"):
        ex.spectral_peaks(np.arange(0.0, 10.0), np.ones(10), band=(20.0, 120.0))


@pytest.mark.parametrize("name", ["polychronization_900s.json", "polychronization_3600s.json"])
def test_committed_summaries_state_both_peaks(name):
    """The committed summaries carry the strongest peak and the band's, and the band peak is the weaker one."""
    s = json.loads((ROOT / "docs" / "figures" / name).read_text())
    assert {"spectral_peak_hz", "spectral_peak_hz_20_120", "band_20_120_peak_relative_power"} <= set(s)
    assert 20.0 <= s["spectral_peak_hz_20_120"] <= 120.0
    assert 0.0 < s["band_20_120_peak_relative_power"] <= 1.0
    if not 20.0 <= s["spectral_peak_hz"] <= 120.0:
        assert s["band_20_120_peak_relative_power"] < 1.0
