"""Agent coupling kernels: order independence, correctness, gradients."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.diffusion import deposit, sample_gradient, uptake


def _agents(rng, n, n_vox, k=None, crowd=True):
    # few voxels so many agents share one (that is where order matters)
    index = rng.integers(0, min(n_vox, 7) if crowd else n_vox, size=n).astype(np.int64)
    shape = (n,) if k is None else (n, k)
    amounts = rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 8, size=shape)
    return index, amounts


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.sampled_from([None, 3]))
def test_deposit_bit_identical_under_permutation(seed, n, k):
    rng = np.random.default_rng(seed)
    shape = (6, 5)
    index, amounts = _agents(rng, n, 30, k)
    base = rng.random(shape if k is None else (k,) + shape)
    a = base.copy()
    deposit(a, index, amounts)
    for _ in range(3):
        p = rng.permutation(n)
        b = base.copy()
        deposit(b, index[p], amounts[p])
        assert a.tobytes() == b.tobytes()
    ref = base.copy()
    if k is None:
        np.add.at(ref.reshape(-1), index, amounts)
    else:
        for f in range(k):
            np.add.at(ref[f].reshape(-1), index, amounts[:, f])
    np.testing.assert_allclose(a, ref, rtol=1e-9, atol=1e-9 * np.abs(amounts).sum())


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300))
def test_uptake_bit_identical_under_permutation(seed, n):
    rng = np.random.default_rng(seed)
    shape = (4, 3, 5)
    index = rng.integers(0, 9, size=n).astype(np.int64)
    rates = rng.random(n) * 10.0 ** rng.integers(-6, -1, size=n)
    base = rng.random(shape) + 0.1
    a = base.copy()
    uptake(a, index, rates, 3600.0)
    for _ in range(3):
        p = rng.permutation(n)
        b = base.copy()
        uptake(b, index[p], rates[p], 3600.0)
        assert a.tobytes() == b.tobytes()
    total = np.zeros(base.size)
    np.add.at(total, index, rates)
    ref = base / (1.0 + 3600.0 * total.reshape(shape))
    np.testing.assert_allclose(a, ref, rtol=1e-13)


def test_deposit_float32_target_and_empty():
    t = np.zeros((3, 4), dtype=np.float32)
    deposit(t, np.array([0, 5, 5], dtype=np.int64), np.array([1.0, 2.0, 0.5]))
    assert t[0, 0] == 1.0 and t[1, 1] == 2.5
    deposit(t, np.array([], dtype=np.int64), np.array([]))
    assert t.sum() == 3.5


def test_uptake_stacked():
    u = np.ones((2, 3, 3))
    uptake(u, np.array([4, 4], dtype=np.int64), np.array([[1e-3, 0.0], [1e-3, 2e-3]]), 100.0)
    assert u[0, 1, 1] == 1.0 / 1.2 and u[1, 1, 1] == 1.0 / 1.2
    assert u.sum() == pytest.approx(16 + 2 / 1.2)


@pytest.mark.parametrize("shape", [(7, 5), (4, 6, 5)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sample_gradient_exact_on_linear_field(shape, dtype):
    dx = 2.5
    coef = np.array([0.5, -1.25, 2.0][: len(shape)])
    grids = np.meshgrid(*[np.arange(n) * dx for n in shape], indexing="ij")
    u = (3.0 + sum(c * g for c, g in zip(coef, grids))).astype(dtype)
    index = np.arange(u.size, dtype=np.int64)  # every voxel, faces included
    grad = sample_gradient(u, index, dx)
    assert grad.shape == (u.size, len(shape)) and grad.dtype == np.float64
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(grad, np.broadcast_to(coef, grad.shape), rtol=tol, atol=tol)


def test_sample_gradient_central_inside_one_sided_at_faces():
    u = np.array([[0.0, 1.0, 4.0, 9.0]])  # x^2 along axis 1, one voxel along axis 0
    g = sample_gradient(u, np.arange(4, dtype=np.int64), 1.0)
    np.testing.assert_array_equal(g[:, 0], 0.0)  # axis of length 1
    np.testing.assert_array_equal(g[:, 1], [1.0, 2.0, 4.0, 5.0])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda t: deposit(t, np.array([0, 99], dtype=np.int64), np.ones(2)), "index"),
        (lambda t: deposit(t, np.array([0, 1], dtype=np.int32), np.ones(2)), "index"),
        (lambda t: deposit(t, np.array([0, 1], dtype=np.int64), np.ones(3)), "amounts"),
        (lambda t: deposit(t, np.array([0], dtype=np.int64), np.array([np.nan])), "amounts"),
        (lambda t: deposit(t, np.array([0], dtype=np.int64), np.ones((1, 2))), "target"),
        (lambda t: uptake(t, np.array([0], dtype=np.int64), np.array([-1.0]), 1.0), "rates"),
        (lambda t: uptake(t, np.array([0], dtype=np.int64), np.array([1.0]), 0.0), "dt"),
        (lambda t: sample_gradient(t, np.array([0], dtype=np.int64), -1.0), "dx"),
    ],
)
def test_coupling_validation(call, name):
    t = np.zeros((4, 5))
    with pytest.raises(ValueError, match=name):
        call(t)
    assert (t == 0).all()
