import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model import kernels as K
from sim.model.geometry import build_section
from sim.model.pain import PainState
from sim.model.processes import parameter_record
from sim.model.rng import stream_for
from sim.scenario import Scenario
from sim.scenario.schema import CYTOKINES

IL6, IL10, TNF = (CYTOKINES.index(c) for c in ("il6", "il10", "tnf"))


def _params(**replace):
    """The default scenario's kernel parameter record, with some values replaced."""
    s = Scenario()
    rec = parameter_record(s, build_section(s, np.random.default_rng(0)))
    for key, value in replace.items():
        rec[0][key] = value
    return rec[0]


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 60), st.integers(0, 2**32 - 1))
def test_phagocytosis_is_independent_of_agent_order(n, seed):
    rng = np.random.default_rng(seed)
    nv = 30
    pos = rng.integers(0, nv, n).astype(np.int64)
    phen = rng.integers(0, 3, n).astype(np.int8)
    mat0 = rng.random(nv) * (rng.random(nv) > 0.3)
    kin = _params(phago_frac=rng.random() * 0.2)
    mat_a, eng_a = mat0.copy(), np.zeros(n)
    K.phagocytosis(pos, phen, eng_a, n, mat_a, np.zeros((3, nv), np.int64), kin)
    perm = rng.permutation(n)
    mat_b, eng_b = mat0.copy(), np.zeros(n)
    K.phagocytosis(pos[perm], phen[perm], eng_b, n, mat_b, np.zeros((3, nv), np.int64), kin)
    assert np.array_equal(mat_a, mat_b)
    assert np.array_equal(eng_a[perm], eng_b)
    # engulfed volume equals material removed (conservation), and material never goes negative
    assert (mat_a >= 0).all()
    removed_um3 = (mat0 - mat_a).sum() * kin["voxel_um3"]
    assert math.isclose(eng_a.sum(), removed_um3, rel_tol=1e-9, abs_tol=1e-6)


def test_matrix_degradation_is_exact_exponential():
    m = np.full(5, 0.8)
    mmp = np.array([0.0, 1.0, 10.0, 100.0, 1e6])
    K.matrix_digestion(m, mmp, _params(degrade_h=0.01, k_mmp=10.0, dt_h=2.0))
    expected = 0.8 * np.exp(-0.01 * mmp / (mmp + 10.0) * 2.0)
    np.testing.assert_allclose(m, expected, rtol=1e-15)


def test_no_recruitment_at_zero_influx():
    out = np.zeros(10, dtype=np.int64)
    total = K.recruitment(
        np.arange(10, dtype=np.int64), np.full(10, 1e3), 1.0, _params(influx_h=0.0), stream_for(0)[0], out
    )
    assert total == 0 and out.sum() == 0


def test_sensitization_relaxes_to_its_analytic_equilibrium():
    s = Scenario()
    pain = PainState.from_parameters(s.parameters.pain, 1.0)
    root = np.zeros(8)
    root[TNF] = 5.0
    k = s.parameters.pain.sensitization_per_day * pain.drive(root)
    r = s.parameters.pain.resolution_per_day
    for _ in range(10):
        pain.update(root, 1.0, 1.0)
    s_eq = k / r
    assert math.isclose(pain.sensitization, s_eq * (1 - math.exp(-r * 10.0)), rel_tol=1e-12)


@given(st.floats(0, 1), st.floats(0, 50), st.floats(0.01, 10))
def test_vas_is_bounded_and_monotone_in_compression(contact, sens, sensitivity):
    s = Scenario()
    pain = PainState.from_parameters(s.parameters.pain, sensitivity)
    pain.sensitization = sens
    pain.update(np.zeros(8), contact, 0.0)
    v1 = pain.vas
    pain.update(np.zeros(8), min(1.0, contact + 0.2), 0.0)
    assert 0.0 <= v1 <= pain.vas <= 100.0
    zd = s.parameters.pain.decompression_fraction
    if contact <= zd:
        pain.update(np.zeros(8), contact, 0.0)
        assert pain.compression == 0.0


def test_pain_sees_only_the_root_drive_and_il10_resolution_analytically():
    """dS/dt = k·drive − r0(1 + g10·f10)·S, integrated exactly: compare with the closed form. The patient's
    IFN-γ and IL-4 backgrounds have no path into pain except through the cells (no parameter, no argument)."""
    p = Scenario().parameters.pain
    assert not any(name.startswith(("ifng", "il4")) for name in type(p).model_fields)
    pain = PainState.from_parameters(p, 1.0)
    root = np.zeros(8)
    root[IL6] = 7.0
    root[IL10] = 4.0
    drive = p.il6_weight * 7.0 / (7.0 + p.il6_half_max_pg_ml)
    assert math.isclose(pain.drive(root), drive, rel_tol=1e-12)
    r = p.resolution_per_day * (1 + p.il10_resolution_gain * 4.0 / (4.0 + p.il10_half_max_pg_ml))
    for _ in range(4):
        pain.update(root, 1.0, 0.5)
    s_eq = p.sensitization_per_day * drive / r
    assert math.isclose(pain.sensitization, s_eq * (1 - math.exp(-r * 2.0)), rel_tol=1e-12)
    # more IL-10 at the root -> faster resolution -> lower sensitization
    more = PainState.from_parameters(p, 1.0)
    root10 = root.copy()
    root10[IL10] = 40.0
    more.update(root10, 1.0, 2.0)
    ref = PainState.from_parameters(p, 1.0)
    ref.update(root, 1.0, 2.0)
    assert more.sensitization < ref.sensitization
    assert pain.drive(np.zeros(8)) == 0.0


def test_ifng_primes_and_il4_suppresses_m1_pro_inflammatory_secretion():
    from sim.model import DiscModel
    from sim.scenario import with_overrides

    base = Scenario()
    se, pol = base.parameters.secretion, base.parameters.polarization
    for ifng, il4 in ((0.0, 0.0), (20.0, 0.0), (0.0, 12.0), (20.0, 12.0)):
        m = DiscModel(with_overrides(base, {"patient.ifng_pg_ml": ifng, "patient.il4_pg_ml": il4}))
        gain = (1 + se.ifng_priming_gain * ifng / (ifng + pol.ifng_half_max_pg_ml)) * (
            1 - se.il4_max_inhibition * il4 / (il4 + pol.il4_half_max_pg_ml)
        )
        table = m.kernel_arrays["secretion_table"]
        for c in ("tnf", "il1b", "il6", "il8", "il10", "tgfb"):
            expected = getattr(se.m1, c) * (gain if c in ("tnf", "il6", "il8") else 1.0)
            assert math.isclose(table[K.M1, CYTOKINES.index(c)], expected, rel_tol=1e-12)
        assert np.array_equal(table[K.M2], [getattr(se.m2, c) for c in CYTOKINES])


def test_observable_reductions_equal_their_numpy_definitions():
    """Root means, contact fraction, material-weighted fragment means and the 8-way partial sum, against numpy
    on random data (including sums of fewer than 8 values and totals below 1)."""

    rng = np.random.default_rng(11)
    for nv in (1, 5, 8, 13, 64, 203):
        fields = rng.uniform(0, 50, size=(3, nv))
        material = rng.uniform(0, 1, size=nv) * (rng.uniform(size=nv) > 0.3)
        index = np.sort(rng.choice(nv, size=max(1, nv // 3), replace=False)).astype(np.int64)
        np.testing.assert_allclose(K.masked_means(fields, index), fields[:, index].mean(axis=1), rtol=1e-13)
        zone0 = float(material[index].sum()) + 0.5
        assert K.contact_fraction(material, index, zone0) == pytest.approx(material[index].sum() / zone0, rel=1e-13)
        if material.sum() > 0:
            expected = (fields * material).sum(axis=1) / material.sum()
            np.testing.assert_allclose(K.material_weighted_means(fields, material), expected, rtol=1e-12)
        small = material * 0.01  # a total below 1 voxel of material
        if small.sum() > 0:
            expected = (fields * small).sum(axis=1) / small.sum()
            np.testing.assert_allclose(K.material_weighted_means(fields, small), expected, rtol=1e-12)
        assert K._sum(material) == pytest.approx(math.fsum(material), rel=1e-13, abs=0.0)
    assert K.contact_fraction(np.ones(3), np.arange(3, dtype=np.int64), 0.0) == 0.0
    assert not K.material_weighted_means(np.ones((2, 4)), np.zeros(4)).any()
