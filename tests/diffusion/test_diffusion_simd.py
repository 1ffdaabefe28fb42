"""The SIMD sweeps (``_simd.py``) against the reference kernels, bit for bit.

The SIMD paths must do exactly the reference arithmetic per cell, so every
comparison here is ``assert_array_equal`` (no tolerance), plus the exactness
properties stated in ``_implicit.py`` checked on the new paths directly.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.diffusion import _implicit as imp


def _coeffs(n, a, dlo, dhi):
    alpha, beta = np.empty(n), np.empty(n)
    imp.line_coefficients(n, a, dlo, dhi, alpha, beta)
    return alpha, beta


@st.composite
def last_axis_cases(draw):
    lines = draw(st.integers(1, 75))
    n = draw(st.sampled_from([1, 2, 3, 4, 5, 7, 8, 9, 31, 56, 64, 129]))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([1.0, 1e-300, 1e-6, 1e6, 1e300]))
    return dict(
        shape=(lines, n),
        seed=seed,
        scale=scale,
        a=draw(st.floats(1e-3, 1e4)),
        dlo=draw(st.booleans()),
        dhi=draw(st.booleans()),
        react=draw(st.booleans()),
        has_src=draw(st.booleans()),
        one_k=draw(st.sampled_from([1.0, 1.0 + 1e-9, 1.3, 7.0, 3.0e3])),
        g=draw(st.sampled_from([0.0, 0.25, 3.0])),
    )


@settings(deadline=None, max_examples=120)
@given(last_axis_cases())
def test_last_axis_matches_reference_bit_for_bit(c):
    rng = np.random.default_rng(c["seed"])
    u = rng.random(c["shape"]) * c["scale"]
    src = rng.random(c["shape"]) if c["has_src"] else np.zeros((1, 1))
    alpha, beta = _coeffs(c["shape"][1], c["a"], c["dlo"], c["dhi"])
    args = (alpha, beta, c["dlo"], c["dhi"], c["g"], c["react"], c["has_src"], 17.0, c["one_k"])
    ref, new, par = u.copy(), u.copy(), u.copy()
    imp._sweep_last_axis_reference(ref, src, *args)
    imp.sweep_last_axis(new, src, *args)
    imp.sweep_last_axis_parallel(par, src, *args, 2)
    np.testing.assert_array_equal(new, ref)
    np.testing.assert_array_equal(par, ref)


@settings(deadline=None, max_examples=80)
@given(
    st.integers(1, 3),
    st.integers(1, 90),
    st.sampled_from([1, 3, 4, 8, 30, 56, 61, 512]),
    st.floats(1e-3, 1e4),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_strided_axis_matches_reference_bit_for_bit(batch, n, m, a, dlo, dhi, seed):
    u = np.random.default_rng(seed).random((batch, n, m))
    alpha, beta = _coeffs(n, a, dlo, dhi)
    ref, new, par = u.copy(), u.copy(), u.copy()
    imp._sweep_middle_axis_reference(ref, alpha, beta, dlo, dhi, 0.4)
    imp.sweep_middle_axis(new, alpha, beta, dlo, dhi, 0.4)
    imp.sweep_middle_axis_parallel(par, alpha, beta, dlo, dhi, 0.4)
    np.testing.assert_array_equal(new, ref)
    np.testing.assert_array_equal(par, ref)


@settings(deadline=None, max_examples=60)
@given(
    st.integers(1, 70),
    st.sampled_from([1, 4, 6, 56, 80, 1024]),
    st.floats(1e-3, 1e4),
    st.floats(0.0, 1e6),
    st.sampled_from([1.0, 1.0 + 2**-40, 1.7, 1e3]),
)
def test_uniform_line_is_bit_exact_on_simd_path(lines, n, a, c, one_k):
    # no-flux ends: the line stays uniform at exactly RN(c / one_k)
    u = np.full((lines, n), c)
    alpha, beta = _coeffs(n, a, False, False)
    imp.sweep_last_axis(u, u, alpha, beta, False, False, 0.0, True, False, 1.0, one_k)
    np.testing.assert_array_equal(u, np.full((lines, n), np.float64(c) / np.float64(one_k)))
    alpha, beta = _coeffs(lines, a, False, False)
    v = u.reshape(1, lines, n)
    imp.sweep_middle_axis(v, alpha, beta, False, False, 0.0)
    np.testing.assert_array_equal(u, np.full((lines, n), np.float64(c) / np.float64(one_k)))


@settings(deadline=None, max_examples=60)
@given(
    st.integers(1, 70),
    st.sampled_from([1, 5, 56, 64]),
    st.floats(1e-3, 1e4),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**32 - 1),
    st.sampled_from([1.0, 1e-310, 1e-300, 1e300]),
)
def test_non_negative_exactly_on_simd_path(lines, n, a, dlo, dhi, seed, scale):
    rng = np.random.default_rng(seed)
    u = rng.random((lines, n)) * scale
    u[rng.random((lines, n)) < 0.3] = 0.0
    alpha, beta = _coeffs(n, a, dlo, dhi)
    imp.sweep_last_axis(u, u, alpha, beta, dlo, dhi, 0.0, True, False, 1.0, 1.25)
    assert u.min() >= 0.0
    v = u.reshape(1, lines, n)
    alpha, beta = _coeffs(lines, a, dlo, dhi)
    imp.sweep_middle_axis(v, alpha, beta, dlo, dhi, 0.0)
    assert u.min() >= 0.0


def _fast_reaction(a, one_k):
    u = a.reshape(1, -1).copy()
    imp._react_rows_fast(u, u, 0, 1, False, 0.0, one_k, 1.0 / one_k, one_k * 2.0**-900, 2.0**1000)
    return u.ravel()


def test_division_free_reaction_is_correctly_rounded():
    # random doubles over the whole exponent range, subnormals, zeros,
    # infinities and NaN: the Markstein path or its fallback must equal a / b
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**63 - 1, size=200_000, dtype=np.int64)
    a = bits.view(np.float64)
    a = np.concatenate([a, [0.0, -0.0, 5e-324, 2.0**-1022, np.inf, -np.inf, np.nan, np.finfo(np.float64).max]])
    a = np.concatenate([a, -a])
    for b in [1.0, 1.0 + 2**-52, 1.5, 1.9999999999999998, 3.0, 1e-4 * 3600 + 1, 7e8]:
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(_fast_reaction(a, b), a / b)


def test_division_free_reaction_dense_mantissas():
    # consecutive doubles: every mantissa pattern of a dense window, for one_k
    # values whose reciprocal is inexact, against numpy's division
    start = np.array([1.0, 1.7, 3.3e-7]).view(np.int64)
    for s in start:
        a = (s + np.arange(1 << 18, dtype=np.int64)).view(np.float64)
        for b in [1.1, 1.0 + 1e-3 * 3600, 1.0 + 1e-9, 2.9999999999999996]:
            np.testing.assert_array_equal(_fast_reaction(a, b), a / b)


def test_block_width_avoids_l1_set_conflicts():
    assert imp.block_lines(np.empty((80, 56))) == 32
    assert imp.block_lines(np.empty((1024, 1024))) == 8  # 8 KiB line stride
    assert imp.block_lines(np.empty((8, 512))) == 8  # 4 KiB line stride
