"""Property tests: positivity, maximum principle, symmetries, stability."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim.diffusion import advance, explicit_dt_limit

FINITE01 = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw, square=False):
    ndim = 2 if square else draw(st.sampled_from([2, 3]))
    if square:
        n = draw(st.integers(1, 12))
        shape = (n, n)
    else:
        hi = 12 if ndim == 2 else 6
        shape = tuple(draw(st.integers(1, hi)) for _ in range(ndim))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    scale = draw(st.sampled_from([1.0, 1e-6, 1e6]))
    u = draw(arrays(np.float64, shape, elements=FINITE01)) * scale
    D = draw(st.one_of(st.just(0.0), st.floats(1e-3, 100.0)))
    decay = draw(st.sampled_from([0.0, 1e-4, 1e-3, 1e-2]))
    dx = draw(st.floats(1.0, 250.0))
    lim = explicit_dt_limit(D, decay, dx, ndim)
    # steps from 1e-3x to 100x (implicit: up to 1e4x) the explicit limit
    factor = draw(st.sampled_from([1e-3, 0.5, 1.0, 3.0, 100.0, 1e4]))
    method = draw(st.sampled_from(["implicit", "explicit", "auto"]))
    if method == "explicit" and factor > 100.0:
        factor = 100.0
    # capped at ~3 years so dt*source stays far from float32 overflow
    dt = min(factor * lim, 1e8) if np.isfinite(lim) else 10.0 * factor
    return u.astype(dtype), dict(D=D, decay=decay, dx=dx, dt=dt, method=method)


def _ulp_tol(u):
    return 4 * np.finfo(u.dtype).eps * float(np.abs(u).max(initial=0.0))


@settings(deadline=None, max_examples=60)
@given(problems())
def test_non_negative_and_maximum_principle(p):
    u0, kw = p
    u = u0.copy()
    advance(u, **kw)
    assert np.isfinite(u).all()
    assert u.min() >= 0.0  # exact, not to round-off
    tol = _ulp_tol(u0)
    assert u.max() <= u0.max() + tol  # no source: the maximum cannot grow
    if kw["decay"] == 0.0:
        assert u.min() >= u0.min() - tol  # and without decay the minimum cannot drop


@settings(deadline=None, max_examples=40)
@given(problems(), st.data())
def test_mirror_symmetry(p, data):
    u0, kw = p
    axis = data.draw(st.integers(0, u0.ndim - 1))
    a = u0.copy()
    advance(a, **kw)
    b = np.ascontiguousarray(np.flip(u0, axis))
    advance(b, **kw)
    tol = 50 * np.finfo(u0.dtype).eps * max(float(u0.max(initial=0.0)), 1e-300)
    np.testing.assert_allclose(np.flip(b, axis), a, rtol=0, atol=tol)


@settings(deadline=None, max_examples=40)
@given(problems(square=True))
def test_transpose_symmetry(p):
    u0, kw = p
    a = u0.copy()
    advance(a, **kw)
    b = np.ascontiguousarray(u0.T)
    advance(b, **kw)
    tol = 50 * np.finfo(u0.dtype).eps * max(float(u0.max(initial=0.0)), 1e-300)
    np.testing.assert_allclose(b.T, a, rtol=0, atol=tol)


@pytest.mark.parametrize("shape", [(10, 12), (5, 6, 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_explicit_never_unstable_for_huge_dt(shape, dtype):
    rng = np.random.default_rng(7)
    u0 = (rng.random(shape) * (rng.random(shape) < 0.5)).astype(dtype)
    u = u0.copy()
    D, dx = 50.0, 10.0
    advance(u, D=D, decay=1e-3, dx=dx, dt=3000 * explicit_dt_limit(D, 1e-3, dx, len(shape)), method="explicit")
    assert np.isfinite(u).all()
    assert u.min() >= 0.0
    assert u.max() <= u0.max()


@settings(deadline=None, max_examples=30)
@given(problems())
def test_source_and_decay_bounds(p):
    # with a non-negative source the result stays non-negative and below the
    # bound max(u0, S/k) reached by the uniform ODE (or u0 + dt*S without decay)
    u0, kw = p
    rng = np.random.default_rng(0)
    S = (rng.random(u0.shape) * 1e-3).astype(u0.dtype)
    u = u0.copy()
    advance(u, source=S, **kw)
    assert u.min() >= 0.0
    bound = float(u0.max()) + kw["dt"] * float(S.max())
    assert u.max() <= bound * (1 + 8 * np.finfo(u0.dtype).eps) + 1e-300
