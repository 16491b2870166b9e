"""Counter-based CPU random numbers (neuro.ops.rng_cpu): purity, distribution, independence, approximations."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy import stats

from neuro.ops.rng_cpu import fill_normal, fill_uniform, log_approx, normal_at, sincos_2pi, uniform_at

N = 1_000_000
FILLS = [fill_normal, fill_uniform]


def _fill(f, seed, step, stream, n, lo=0):
    out = np.full(lo + n, np.nan)
    f(seed, step, stream, lo, lo + n, out)
    return out[lo:]


@pytest.fixture(scope="module")
def normals():
    return _fill(fill_normal, 20240611, 0, 0, N)


@pytest.mark.parametrize("f", FILLS)
def test_chunking_independence(f):
    n = 1001
    whole = _fill(f, 3, 17, 2, n)
    pieces = np.full(n, np.nan)
    for lo, hi in [(0, 1), (1, 4), (4, 5), (5, 100), (100, 101), (101, 102), (102, 555), (555, 1000), (1000, 1001)]:
        f(3, 17, 2, lo, hi, pieces)
    singles = np.full(n, np.nan)
    for i in range(n):
        f(3, 17, 2, i, i + 1, singles)
    assert np.isfinite(whole).all()
    np.testing.assert_array_equal(whole, pieces)
    np.testing.assert_array_equal(whole, singles)
    # the untouched part of the array stays untouched
    out = np.full(n, -7.0)
    f(3, 17, 2, 11, 20, out)
    np.testing.assert_array_equal(out[11:20], whole[11:20])
    assert (out[:11] == -7.0).all() and (out[20:] == -7.0).all()
    f(3, 17, 2, 20, 20, out)  # empty range is a no-op
    assert (out[20:] == -7.0).all()


def test_scalar_accessors_match_fills():
    lo, n = 100_003, 64
    un = np.empty(lo + n)
    fill_uniform(9, 5, 1, lo, lo + n, un)
    no = np.empty(lo + n)
    fill_normal(9, 5, 1, lo, lo + n, no)
    for i in range(lo, lo + n):
        assert uniform_at(9, 5, 1, i) == un[i]
        assert normal_at(9, 5, 1, i) == no[i]


@pytest.mark.parametrize("f", FILLS)
def test_deterministic_and_input_dependent(f):
    n = 4096
    a = _fill(f, 1, 2, 3, n)
    np.testing.assert_array_equal(a, _fill(f, 1, 2, 3, n))
    for other in [(2, 2, 3), (1, 3, 3), (1, 2, 4), (0, 2, 3), (1, 0, 3), (1, 2, 0)]:
        b = _fill(f, *other, n)
        assert np.count_nonzero(a == b) <= 1, other
    # uniforms and normals are distinct streams even for the same (seed, step, stream)
    u = _fill(fill_uniform, 1, 2, 3, n)
    x = _fill(fill_normal, 1, 2, 3, n)
    u_from_x = stats.norm.cdf(x)
    assert abs(np.corrcoef(u, u_from_x)[0, 1]) < 0.1


def test_normal_moments(normals):
    x = normals
    assert np.isfinite(x).all()
    m = x.mean()
    c = x - m
    var = (c**2).mean()
    skew = (c**3).mean() / var**1.5
    exkurt = (c**4).mean() / var**2 - 3.0
    # about 5 standard errors each at n = 1e6
    assert abs(m) < 5 * np.sqrt(1 / N)
    assert abs(var - 1) < 5 * np.sqrt(2 / N)
    assert abs(skew) < 5 * np.sqrt(6 / N)
    assert abs(exkurt) < 5 * np.sqrt(24 / N)
    # tails: P(|x| > 3) = 2.7e-3, P(|x| > 4) = 6.3e-5
    for t in (2.0, 3.0, 4.0):
        p = 2 * stats.norm.sf(t)
        assert abs(np.mean(np.abs(x) > t) - p) < 5 * np.sqrt(p * (1 - p) / N), t
    assert 4.3 < np.abs(x).max() < 8.6


def test_normal_ks(normals):
    assert stats.kstest(normals, "norm").pvalue > 1e-3
    # even and odd neurons (cosine and sine halves) separately
    assert stats.kstest(normals[0::2], "norm").pvalue > 1e-3
    assert stats.kstest(normals[1::2], "norm").pvalue > 1e-3


def test_uniform_distribution():
    u = _fill(fill_uniform, 20240611, 0, 0, N)
    assert (u >= 0).all() and (u < 1).all()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / N)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / N)
    # 53-bit resolution: practically all values distinct
    assert np.unique(u).size >= N - 1


def _corr(a, b):
    return np.corrcoef(a, b)[0, 1]


@pytest.mark.parametrize("f", FILLS)
def test_no_correlation(f):
    a = _fill(f, 77, 1000, 0, N + 2)
    b = _fill(f, 77, 1001, 0, N + 2)
    s = _fill(f, 77, 1000, 1, N + 2)
    assert abs(_corr(a[:-1], a[1:])) < 5e-3  # neighbouring neurons (both within and across pairs)
    assert abs(_corr(a[:-2], a[2:])) < 5e-3  # neurons two apart (same half of consecutive pairs)
    assert abs(_corr(a[0::2][: N // 2], a[1::2][: N // 2])) < 5e-3  # the two halves of each Box-Muller pair
    assert abs(_corr(a, b)) < 5e-3  # consecutive steps
    assert abs(_corr(a, s)) < 5e-3  # neighbouring streams
    if f is fill_normal:
        # the two halves of a Box-Muller pair share the radius: check squares too
        assert abs(_corr(a[0::2][: N // 2] ** 2, a[1::2][: N // 2] ** 2)) < 1e-2
        assert abs(_corr(a**2, b**2)) < 1e-2


@njit(error_model="numpy")
def _log_all(x, out):
    for i in range(x.size):
        out[i] = log_approx(x[i])


@njit(error_model="numpy")
def _sincos_all(u, c, s):
    for i in range(u.size):
        c[i], s[i] = sincos_2pi(u[i])


def test_log_accuracy():
    x = np.concatenate(
        [
            np.linspace(2.0**-53, 1.0, 1_000_001),
            np.geomspace(2.0**-53, 1.0, 1_000_001),
            2.0 ** -np.arange(54.0),
            np.nextafter(2.0 ** -np.arange(54.0), 0.0),
            np.nextafter(2.0 ** -np.arange(54.0), 2.0),
            1.0 - np.arange(1, 1000) * 2.0**-53,
            np.sqrt(0.5) * (1 + np.linspace(-1e-6, 1e-6, 1001)),
        ]
    )
    x = x[(x > 0) & (x <= 1)]
    got = np.empty_like(x)
    _log_all(x, got)
    ref = np.log(x)
    nz = ref != 0
    assert (got[~nz] == 0).all()
    rel = np.abs(got[nz] - ref[nz]) / np.abs(ref[nz])
    assert rel.max() < 2e-15  # docstring: 1.2e-15
    # also beyond the range the generator uses
    y = np.geomspace(1e-300, 1e300, 100_001)
    got = np.empty_like(y)
    _log_all(y, got)
    ref = np.log(y)
    assert np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)) < 2e-15


def test_sincos_accuracy():
    u = np.concatenate([np.linspace(0.0, 1.0, 2_000_001), np.arange(0, 9) / 8.0, np.nextafter(np.arange(1, 9) / 8.0, 0)])
    c = np.empty_like(u)
    s = np.empty_like(u)
    _sincos_all(u, c, s)
    assert np.max(np.abs(c - np.cos(2 * np.pi * u))) < 1e-15  # docstring: 7e-16
    assert np.max(np.abs(s - np.sin(2 * np.pi * u))) < 1e-15
    assert np.max(np.abs(c**2 + s**2 - 1)) < 2e-15


def test_geometric_gaps():
    from neuro.ops.rng_cpu import NEVER, geometric_at

    @njit
    def draws(p, n):
        out = np.empty(n, np.int64)
        for i in range(n):
            out[i] = geometric_at(11, 3, 0, i, p)
        return out

    for p in (0.3, 0.01):
        g = draws(p, 200_000)
        assert g.min() >= 0
        kmax = int(np.ceil(np.log(1e-3) / np.log(1 - p)))  # bins with >= 200 expected draws, then a tail bin
        k = np.arange(kmax)
        expected = np.r_[(1 - p) ** k * p, (1 - p) ** kmax] * g.size
        observed = np.r_[np.bincount(np.minimum(g, kmax), minlength=kmax + 1)[:kmax], np.count_nonzero(g >= kmax)]
        assert stats.chisquare(observed, expected).pvalue > 1e-3, p
    # p below 1e-8 (1 - p rounds to 1): the mean 1 / p - 1 still holds
    g = draws(1e-12, 100_000).astype(float)
    assert g.mean() == pytest.approx(1e12, rel=0.02)
    assert draws(1.0, 10).max() == 0 and draws(2.0, 10).max() == 0
    assert (draws(0.0, 10) == NEVER).all() and (draws(-0.5, 10) == NEVER).all() and (draws(np.nan, 10) == NEVER).all()
    # the same uniform as uniform_at: a pure function of (seed, step, stream, index)
    assert geometric_at(11, 3, 0, 5, 0.2) == int(np.log(1 - uniform_at(11, 3, 0, 5)) / np.log(0.8))
