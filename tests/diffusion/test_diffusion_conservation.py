"""Exact mass conservation and the exact decay law of uniform fields."""

import numpy as np
import pytest

from sim.diffusion import advance, explicit_dt_limit
from sim.diffusion._explicit import explicit_substeps

SHAPES = [(37, 23), (11, 9, 7)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("method", ["explicit", "implicit"])
def test_mass_conserved_no_flux_no_decay(shape, method):
    rng = np.random.default_rng(0)
    u = rng.random(shape) * (rng.random(shape) < 0.3)
    m0 = u.sum()
    D, dx = 25.0, 10.0
    dt = 50 * explicit_dt_limit(D, 0.0, dx, len(shape))  # many sub-steps / large implicit step
    for _ in range(20):
        advance(u, D=D, dx=dx, dt=dt, method=method)
    assert abs(u.sum() - m0) <= 1e-10 * m0
    assert u.min() >= 0.0


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_uniform_field_implicit_follows_backward_euler_exactly(shape, dtype):
    k, dt, S = 3e-4, 3600.0, 0.25
    u = np.full(shape, 7.0, dtype=dtype)
    src = np.full(shape, S, dtype=dtype)
    expected = np.full(shape, 7.0, dtype=dtype)
    for _ in range(5):
        advance(u, D=40.0, decay=k, dx=100.0, dt=dt, source=src, method="implicit")
        # the law evaluated in u's precision (1 + k*dt rounded once to dtype)
        expected = (expected + dtype(dt) * src) / dtype(1.0 + k * dt)
        np.testing.assert_array_equal(u, expected)  # bit for bit: no splitting of decay


@pytest.mark.parametrize("shape", SHAPES)
def test_uniform_field_implicit_decay_factor(shape):
    k, dt = 1e-3, 3600.0
    u = np.full(shape, 2.0)
    advance(u, D=40.0, decay=k, dx=100.0, dt=dt, method="implicit")
    np.testing.assert_array_equal(u, 2.0 / (1.0 + k * dt))


@pytest.mark.parametrize("shape", SHAPES)
def test_uniform_field_explicit_own_factor(shape):
    k, dt, D, dx = 1e-3, 600.0, 40.0, 100.0
    n = explicit_substeps(dt, D, k, dx, len(shape))
    dts = dt / n
    u = np.full(shape, 2.0)
    advance(u, D=D, decay=k, dx=dx, dt=dt, method="explicit")
    c = 2.0
    for _ in range(n):
        c = c - dts * k * c  # forward Euler on a uniform field
    assert np.ptp(u) == 0.0  # stays exactly uniform
    np.testing.assert_allclose(u, c, rtol=1e-14)
    np.testing.assert_allclose(u, 2.0 * (1 - k * dts) ** n, rtol=1e-12)


def test_source_adds_expected_mass_implicit():
    # no-flux, no decay: mass grows by exactly dt * sum(S) per step
    rng = np.random.default_rng(3)
    u = rng.random((20, 30))
    S = rng.random((20, 30))
    m0 = u.sum()
    advance(u, D=10.0, dx=5.0, dt=100.0, source=S, method="implicit")
    assert abs(u.sum() - (m0 + 100.0 * S.sum())) <= 1e-12 * u.sum()
