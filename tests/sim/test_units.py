"""Times with units: ``Network(dt=)`` and ``run(duration)`` take Brian2 / pint / brainunit quantities (converted to ms,
checked to be times); a plain number is ms, and the unit mistakes a number cannot show are warned about or refused."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from neuro import sim
from neuro.units import UnitWarning, is_quantity, to_ms


def _source_net(dt):
    """Ten spikes of one neuron, one per ms: the number seen tells how long the run really was."""
    net = sim.Network(dt=dt)
    src = sim.SpikeSource(1, np.arange(10) * 1.0, np.zeros(10, dtype=int))
    mon = net.add(src, sim.SpikeMonitor(src))
    return net, mon


def test_plain_numbers_are_ms_and_pass_through_unchanged():
    assert to_ms(0.1, "dt") == 0.1 and to_ms(3, "dt") == 3
    assert to_ms("0.1", "dt") == "0.1" and to_ms(None, "dt") is None  # the caller's own checks still see them
    assert not is_quantity(0.1) and not is_quantity(np.float64(2.0))


def test_importing_neuro_units_imports_no_unit_library():
    code = "import sys, neuro.units, neuro.sim; print(any(m in sys.modules for m in ('brian2', 'pint', 'brainunit')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_a_step_below_a_microsecond_warns_that_times_are_ms():
    with pytest.warns(UnitWarning, match=r"dt = 0.0001 ms is below 1 µs.*milliseconds, not seconds.*dt=0.1"):
        sim.Network(dt=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim.Network(dt=1e-3)  # 1 µs: plausible, silent
        sim.Network(dt=0.1)


def test_a_run_shorter_than_one_step_is_refused_with_the_reason():
    net, _ = _source_net(0.1)
    with pytest.raises(ValueError, match=r"duration must be a non-negative multiple of dt.*0.05 ms is shorter than one step \(dt = 0.1 ms\)"):
        net.run(0.05)
    net.run(0.0)  # a zero-length run (used to build) stays allowed


# -- Brian2 ---------------------------------------------------------------------------------------------
b2 = pytest.importorskip("brian2", reason="brian2 comes with the test environment")


def test_brian2_quantities_are_converted_to_ms():
    assert to_ms(0.1 * b2.ms, "dt") == pytest.approx(0.1)
    assert to_ms(1 * b2.second, "duration") == pytest.approx(1000.0)
    assert to_ms(250 * b2.usecond, "dt") == pytest.approx(0.25)
    assert is_quantity(b2.ms)


def test_network_dt_and_run_take_brian2_times():
    net, mon = _source_net(0.1 * b2.ms)
    assert net.dt == pytest.approx(0.1)
    net.run(5 * b2.ms)
    assert net.t == pytest.approx(5.0) and mon.num_spikes == 5
    net.run(0.005 * b2.second)
    assert net.t == pytest.approx(10.0) and mon.num_spikes == 10


def test_the_issue_case_seconds_meant_as_seconds():
    """``Network(dt=1e-4)`` then ``run(1.0)`` "meant as seconds" warns; with units the same intent is unambiguous."""
    with pytest.warns(UnitWarning):
        sim.Network(dt=1e-4)
    net, _ = _source_net(1e-4 * b2.second)  # 0.1 ms
    net.run(0.01 * b2.second)
    assert net.t == pytest.approx(10.0) and net.step == 100


@pytest.mark.parametrize("bad, dims", [(1 * b2.mV, "volt"), (5 * b2.Hz, "hertz"), (2 * b2.meter, "metre")])
def test_brian2_quantity_of_another_dimension_is_a_clear_error(bad, dims):
    with pytest.raises(ValueError, match=rf"dt must be a time \(e.g. 0.1\*ms\), got .* a quantity in '?{dims}"):
        sim.Network(dt=bad)
    net = sim.Network(dt=0.1)
    with pytest.raises(ValueError, match=r"duration must be a time"):
        net.run(bad)


def test_brian2_arrays_and_dimensionless_values():
    with pytest.raises(ValueError, match="dt must be a single time, got 2 values"):
        sim.Network(dt=[0.1, 0.2] * b2.ms)
    assert to_ms(b2.Quantity(0.5), "dt") == 0.5  # dimensionless: a number of ms, as a plain float is


def test_monitor_rate_takes_a_quantity():
    net, mon = _source_net(0.1)
    net.run(10.0)
    assert mon.rate(10 * b2.ms) == pytest.approx(1000.0) == mon.rate(0.01 * b2.second)


# -- pint and brainunit, where installed ------------------------------------------------------------------
def test_pint_quantities():
    pint = pytest.importorskip("pint")
    ureg = pint.UnitRegistry()
    assert to_ms(ureg("0.1 ms"), "dt") == pytest.approx(0.1)
    assert to_ms(2 * ureg.second, "duration") == pytest.approx(2000.0)
    with pytest.raises(ValueError, match=r"dt must be a time .*\[length\]"):
        to_ms(3 * ureg.meter, "dt")
    net, mon = _source_net(ureg("0.1 ms"))
    net.run(ureg("5 ms"))
    assert mon.num_spikes == 5


def test_brainunit_quantities():
    bu = pytest.importorskip("brainunit")
    assert to_ms(0.1 * bu.ms, "dt") == pytest.approx(0.1)
    assert to_ms(1 * bu.second, "duration") == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="dt must be a time"):
        to_ms(1 * bu.mV, "dt")
