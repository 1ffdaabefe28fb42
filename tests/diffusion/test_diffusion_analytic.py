"""Verification against closed-form solutions and observed orders of accuracy."""

import math

import numpy as np
import pytest

from sim.diffusion import Dirichlet, advance


def gaussian(shape, dx, D, t, t0, k=0.0, mass=1.0):
    """Free-space heat kernel started from a Gaussian of variance 2*D*t0.

    u = M / (4 pi D (t+t0))^(d/2) * exp(-r^2 / (4 D (t+t0))) * exp(-k t),
    sampled at cell centres; the grid is centred on the origin.
    """
    nd = len(shape)
    axes = [(np.arange(n) - (n - 1) / 2) * dx for n in shape]
    grids = np.meshgrid(*axes, indexing="ij")
    r2 = sum(g**2 for g in grids)
    T = t + t0
    return mass / (4 * math.pi * D * T) ** (nd / 2) * np.exp(-r2 / (4 * D * T)) * math.exp(-k * t)


def gaussian_error(nd, dx, method, nsteps, *, k=0.0, D=1.0, sigma0=2.0, grow=2.0, halfwidth=None):
    """Relative L2 error after the Gaussian's width has grown by ``grow``.

    The domain half-width defaults to 6 final standard deviations, so the
    no-flux walls see < 1e-7 of the peak: the problem is free space.
    """
    t0 = sigma0**2 / (2 * D)
    T = (grow**2 - 1) * t0
    half = 6 * sigma0 * grow if halfwidth is None else halfwidth
    n = int(round(2 * half / dx)) + 1
    shape = (n,) * nd
    u = gaussian(shape, dx, D, 0.0, t0)
    for _ in range(nsteps):
        advance(u, D=D, decay=k, dx=dx, dt=T / nsteps, method=method)
    exact = gaussian(shape, dx, D, T, t0, k)
    return float(np.linalg.norm(u - exact) / np.linalg.norm(exact))


# Resolution stated per case: sigma0 = 2 (length units), D = 1, run until the
# width doubles (2-D) or grows 1.5x (3-D); dx and the number of steps below.
@pytest.mark.parametrize("k", [0.0, 0.05])
@pytest.mark.parametrize(
    "nd, dx, method, nsteps, kwargs",
    [
        (2, 0.5, "explicit", 1, {}),  # sub-stepped automatically
        (2, 0.5, "implicit", 100, {}),
        (3, 0.5, "explicit", 1, {"grow": 1.5, "halfwidth": 15.0}),
        (3, 0.5, "implicit", 40, {"grow": 1.5, "halfwidth": 15.0}),
    ],
)
def test_gaussian_point_source_within_one_percent(nd, dx, method, nsteps, kwargs, k):
    err = gaussian_error(nd, dx, method, nsteps, k=k, **kwargs)
    assert err <= 0.01, f"relative L2 error {err:.4f}"


def test_explicit_spatial_order_is_two():
    # dt is tied to the stability limit (~dx^2), so the time error also scales
    # as dx^2 and the observed order is that of the scheme as used.
    errs = [gaussian_error(2, dx, "explicit", 1) for dx in (1.0, 0.5, 0.25)]
    orders = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    assert all(1.85 <= p <= 2.15 for p in orders), (errs, orders)


def test_implicit_temporal_order_is_one():
    # fine fixed grid (dx = 0.25: spatial error ~4e-4), halving dt
    errs = [gaussian_error(2, 0.25, "implicit", n) for n in (10, 20, 40)]
    orders = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    assert all(0.85 <= p <= 1.15 for p in orders), (errs, orders)


def exponential_steady_state(n, dx, D, k, c0):
    """Steady state of D u'' = k u with u = c0 at the ghost and no flux at the
    far wall: u(x) = c0 cosh((L - x)/lam) / cosh(L/lam), lam = sqrt(D/k).

    The ghost sits one dx outside the first voxel (x = 0), voxel i is at
    x = (i + 1) dx and the no-flux wall at L = (n + 1/2) dx.
    """
    lam = math.sqrt(D / k)
    x = (np.arange(n) + 1) * dx
    L = (n + 0.5) * dx
    return c0 * np.cosh((L - x) / lam) / math.cosh(L / lam)


@pytest.mark.parametrize("method", ["explicit", "implicit"])
def test_steady_exponential_profile_from_held_face(method):
    # lambda = 10 voxels; discretisation error ~ (dx/lambda)^2/12 ~ 1e-3
    D, k, dx, c0, n = 100.0, 1e-2, 10.0, 3.0, 80
    u = np.zeros((n, 4))
    bc = Dirichlet(c0, faces=("x-",))
    if method == "explicit":
        # forward Euler's fixed point is exactly the discrete steady state
        for _ in range(60):
            advance(u, D=D, decay=k, dx=dx, dt=100.0, boundary=bc, method="explicit")
    else:
        # LOD's fixed point has decay k/(1+k dt): keep k*dt = 1e-3
        for _ in range(8000):
            advance(u, D=D, decay=k, dx=dx, dt=0.1, boundary=bc, method="implicit")
    exact = exponential_steady_state(n, dx, D, k, c0)
    assert np.ptp(u, axis=1).max() < 1e-12 * c0  # uniform across y
    err = np.abs(u[:, 0] - exact).max() / c0
    assert err < 5e-3, err


def test_steady_uniform_source_with_decay():
    # no-flux everywhere: the steady state of D lap u - k u + S = 0 is S/k
    S, k = 2.0, 1e-3
    u = np.zeros((6, 5))
    for _ in range(200):
        advance(u, D=10.0, decay=k, dx=50.0, dt=3600.0, source=np.full_like(u, S), method="implicit")
    np.testing.assert_allclose(u, S / k, rtol=1e-12)
