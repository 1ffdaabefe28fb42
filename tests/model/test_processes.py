"""Processes of the step (issue 12): declarations, field order, closed forms through the compiled step, ablations.

The closed forms below are written out from the equations of docs/model.md with the scenario's own values;
they do not reuse the model's derived parameters. Each runs through the compiled step (``DiscModel.step``) with
every other process switched off (``[model] disable``), so what is checked is what a run does.
"""

import inspect
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sim.model import OBSERVABLES, DiscModel
from sim.model import kernels as K
from sim.model.processes import (
    DOC_PATH,
    PROCESS_NAMES,
    PROCESSES,
    STATE,
    field_index_record,
    render_doc,
)
from sim.run import run_one
from sim.scenario import Scenario, ScenarioError, with_overrides
from sim.scenario.schema import CYTOKINES

NO_PATIENT_SIGNALS = {"patient.ifng_pg_ml": 0.0, "patient.il4_pg_ml": 0.0, "patient.il10_background_pg_ml": 0.0}

ROOT = Path(__file__).resolve().parents[2]


def only(*keep):
    return [p for p in PROCESS_NAMES if p not in keep]


def model(disable=(), kind="sequestration", seed=1, **overrides) -> DiscModel:
    s = with_overrides(Scenario(), {"patient.herniation_type": kind, "model.disable": list(disable), **overrides})
    return DiscModel(s, seed=seed)


def fragment_voxels(m, k=3):
    """Flat indices of ``k`` voxels well inside the fragment."""
    return np.flatnonzero(m.material.ravel() > 0.99)[:k]


# ------------------------------------------------------------------------------------------- declarations
def test_field_order_has_one_source_of_truth():
    """Kernels address fields by name through a record built from CYTOKINES; the solver's stack is in that order."""
    rec = field_index_record()
    assert rec.dtype.names == CYTOKINES
    assert [int(rec[0][c]) for c in CYTOKINES] == list(range(len(CYTOKINES)))
    m = model()
    assert m.fields.names == CYTOKINES
    p = m.config.parameters.transport
    for i, c in enumerate(CYTOKINES):
        assert m.fields._D[i] == getattr(p, c).diffusion_um2_per_s
        assert m.fields._k[i] == pytest.approx(math.log(2) / (getattr(p, c).half_life_min * 60), rel=1e-15)
    for proc in PROCESSES:
        assert proc.field_indices() == {c: CYTOKINES.index(c) for c in proc.field_indices()}
    # no second, hand-typed list of field positions in the kernels module
    src = inspect.getsource(K)
    assert not re.search(r"^\s*TNF\s*,.*=\s*range\(", src, re.M)
    assert not re.search(r"fields\[\s*\d", src) and not re.search(r"sources\[\s*\d", src)


def test_processes_declare_known_state_kernels_and_observables():
    assert len(set(PROCESS_NAMES)) == len(PROCESS_NAMES)
    for proc in PROCESSES:
        for item in (*proc.reads, *proc.writes):
            kind, _, name = item.partition(".")
            if kind in ("field", "source"):
                assert name in CYTOKINES, (proc.name, item)
            else:
                assert item in STATE, (proc.name, item)
        for kernel in proc.kernels:
            assert callable(getattr(K, kernel)), (proc.name, kernel)
        assert set(proc.observables) <= set(OBSERVABLES), proc.name
        assert proc.sections and proc.summary


def test_compiled_step_calls_the_processes_in_the_declared_order():
    order = re.findall(r"\bon\.(\w+)", inspect.getsource(K.advance))
    assert order == list(PROCESS_NAMES)


def test_docs_process_section_is_up_to_date():
    text = DOC_PATH.read_text(encoding="utf-8")
    assert text == render_doc(text), "docs/model.md is stale: run `python -m sim.model.processes`"


def test_unknown_process_is_a_scenario_error_naming_the_valid_ones():
    with pytest.raises(ScenarioError) as err:
        with_overrides(Scenario(), {"model.disable": ["recruitment", "macrophage_secretoin"]})
    msg = str(err.value)
    assert "model.disable" in msg and "macrophage_secretoin" in msg
    assert all(name in msg for name in PROCESS_NAMES)


# ------------------------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("il10", [0.0, 30.0, 400.0])
def test_macrophage_secretion_into_a_voxel_with_il10_suppression(il10):
    """source_c = conv · (n0·r0_c + n1·r1_c·σ_c + n2·r2_c) · g_c, σ = 1 − Imax·IL10/(IL10 + IC50) for the M1
    pro-inflammatory products (TNF-α, IL-1β, IL-6, IL-8), σ = 1 otherwise; g = the voxel's NP material for the
    stimulus-induced chemoattractant, 1 otherwise; conv = 1/(voxel mL · 3600 s/h). The same cells in a voxel
    without material (a vascular site outside the fragment) make everything but chemoattractant."""
    m = model(only("macrophage_secretion"), **NO_PATIENT_SIGNALS)
    material = m.material.reshape(-1)
    inside = int(np.flatnonzero((material > 0.2) & (material < 1.0))[0])  # a partial-volume rim voxel
    outside = int(next(s for s in m.section.vessel_index if material[s] == 0.0))
    for v in (inside, outside):
        m.macrophages.add(np.full(4, v, dtype=np.int64))
        m.fields["il10"].flat[v] = il10
    m.macrophages.phen[:] = [1, 1, 2, 0] * 2
    m.step()
    se = m.config.parameters.secretion
    conv = 1.0 / (m.section.voxel_volume_ml * 3600.0)
    sigma = 1.0 - se.il10_max_inhibition * il10 / (il10 + se.il10_ic50_pg_ml)
    for c in CYTOKINES:
        r1 = getattr(se.m1, c) * (sigma if c in ("tnf", "il1b", "il6", "il8") else 1.0)
        made = conv * (getattr(se.m0, c) + 2 * r1 + getattr(se.m2, c))
        src = m.fields.source(c)
        for v in (inside, outside):
            expected = made * (material[v] if c == "chemo" else 1.0)
            assert src.flat[v] == pytest.approx(expected, rel=1e-12, abs=0.0), (c, v)
        assert np.count_nonzero(src) == (int(src.flat[inside] > 0) + int(src.flat[outside] > 0)), c
    assert m.fields.source("chemo").flat[outside] == 0.0 < m.fields.source("chemo").flat[inside]
    if il10 > 0:  # the suppression is real, not a no-op
        assert m.fields.source("tnf").flat[v] < conv * (2 * se.m1.tnf + se.m2.tnf + se.m0.tnf) * 0.9


def test_disc_cell_secretion_scales_with_material_and_viability():
    """NP source_c = viability_v · rate_c · density · multiplier · m (pg/mL/s) with the voxel's viability, × (1 + a·B)
    for the NF-κB programme, B = 1 − (1 − TNF/(TNF + K))(1 − IL1β/(IL1β + K));
    MMP-3 = viability_v · max · density · m · (1 − (1 − TNF/(TNF + K_T))(1 − IL1β/(IL1β + K_I))) only where a
    macrophage is; chemoattractant gains chemo_per_mmp · MMP · m."""
    over = {
        **NO_PATIENT_SIGNALS,
        "patient.disc_cell_activity": 1.7,
        "patient.np_il1b_expression": 0.6,
        "patient.np_tgfb_expression": 2.5,
        "patient.np_cell_survival": 1.3,
        "parameters.disc_cells.activation_gain": 2.5,
    }
    m = model(only("disc_cell_secretion"), **over)
    dc = m.config.parameters.disc_cells
    v, w = fragment_voxels(m, 2)
    m.material.flat[v], m.material.flat[w] = 0.8, 0.35
    m.macrophages.add(np.array([v], dtype=np.int64))
    tnf, il1b, mmp = 12.0, 7.0, 40.0
    m.fields["tnf"].flat[[v, w]] = tnf
    m.fields["il1b"].flat[[v, w]] = il1b
    m.fields["mmp"].flat[[v, w]] = mmp
    viab = {v: 0.55, w: 0.2}
    for vox, x in viab.items():
        m.np_viability[vox] = x
    m.step()
    per_s = dc.density_per_mm3 * 1e3 / 3600.0
    mult = {"tnf": 1.7, "il6": 1.7, "il8": 1.7, "chemo": 1.7, "il1b": 0.6, "tgfb": 2.5}
    k_a = dc.activation_half_max_pg_ml
    act = 1 + 2.5 * (1 - (1 - tnf / (tnf + k_a)) * (1 - il1b / (il1b + k_a)))
    for vox, mat, has_mac in ((v, 0.8, True), (w, 0.35, False)):
        viability = viab[vox]
        for c, k in mult.items():
            expected = viability * getattr(dc, f"{c}_pg_per_cell_h") * per_s * k * mat
            if c in ("tnf", "il6", "il8", "chemo"):
                expected *= act
            if c == "chemo":
                expected += dc.chemo_per_mmp / 3600.0 * mmp * mat
            assert m.fields.source(c).flat[vox] == pytest.approx(expected, rel=1e-12), (c, vox)
        f_t, f_i = tnf / (tnf + dc.mmp3_tnf_half_max_pg_ml), il1b / (il1b + dc.mmp3_il1b_half_max_pg_ml)
        mmp_src = viability * dc.mmp3_max_pg_per_cell_h * per_s * mat * (1 - (1 - f_t) * (1 - f_i))
        assert m.fields.source("mmp").flat[vox] == pytest.approx(mmp_src if has_mac else 0.0, rel=1e-12)
    assert m.fields.source("il10").max() == 0.0  # NP cells make no IL-10
    outside = m.material.ravel() <= 0
    assert not m.fields.sources.reshape(len(CYTOKINES), -1)[:, outside].any()


def test_np_cell_death_is_basal_decay_times_macrophage_killing():
    """viability_v(t) = exp(−(ln 2/(T½·s) + n_v·k_m)·t) with n_v macrophages held in voxel v (the other processes
    off); voxels outside the fragment stay 0, and the material-weighted mean is the model's viability readout."""
    over = {"parameters.disc_cells.macrophage_kill_per_day": 0.3, "patient.np_cell_survival": 1.3}
    m = model(only("np_cell_death"), **over)
    dc, pat = m.config.parameters.disc_cells, m.config.patient
    v, w, u = fragment_voxels(m, 3)
    m.macrophages.add(np.array([v, v, w], dtype=np.int64))
    days = 5.0
    m.run_days(days)
    k_b = math.log(2.0) / (dc.viability_half_life_days * pat.np_cell_survival)
    for vox, n in ((v, 2), (w, 1), (u, 0)):
        expected = math.exp(-(k_b + n * dc.macrophage_kill_per_day) * days)
        assert m.np_viability[vox] == pytest.approx(expected, rel=1e-9), n
    outside = m.material.ravel() <= 0
    assert not m.np_viability[outside].any()
    mat = m.material.ravel()
    assert m.disc_cell_viability() == pytest.approx(float(mat @ m.np_viability / mat.sum()), rel=1e-12)


def test_vessel_ingrowth_follows_the_digested_tissue_one_voxel_a_day():
    """Once a day, a fragment voxel below θ × its onset material next to a vascular site becomes a site; the front
    advances one voxel per day; undigested voxels and voxels away from the vessels stay as they are."""
    theta = 0.4
    m = model(only("vessel_ingrowth"), **{"parameters.tissue.vascularization_threshold": theta})
    nx, ny = m.section.shape
    m0 = m.section.material0.ravel()
    sites = set(m.section.vessel_index.tolist())

    def neighbours(v):
        ix, iy = divmod(v, ny)
        return [
            (ix + dx) * ny + iy + dy
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
            if 0 <= ix + dx < nx and 0 <= iy + dy < ny
        ]

    # a chain site -> a -> b of fragment voxels, b not next to any site
    a = next(u for s_ in sorted(sites) for u in neighbours(s_) if m0[u] >= 0.9 and u not in sites)
    b = next(u for u in neighbours(a) if m0[u] >= 0.9 and u not in sites and not set(neighbours(u)) & sites)
    c = next(u for s_ in sorted(sites) for u in neighbours(s_) if m0[u] >= 0.9 and u not in sites | {a})
    mat = m.material.ravel()
    mat[a] = mat[b] = 0.5 * theta * m0[a]
    mat[c] = 1.01 * theta * m0[c]  # digested, but not below the threshold
    m.run_days(1)
    assert set(m.vessel_sites.tolist()) == sites | {a}
    m.run_days(1)
    assert set(m.vessel_sites.tolist()) == sites | {a, b}
    m.run_days(3)
    assert set(m.vessel_sites.tolist()) == sites | {a, b}  # nothing else is digested


def test_matrix_digestion_follows_the_exponential_law():
    """m(t + dt) = m(t) · exp(−(k/24 h) · MMP/(MMP + K) · dt), MMP held (no transport)."""
    m = model(only("matrix_digestion"))
    t = m.config.parameters.tissue
    vox = fragment_voxels(m, 3)
    levels = np.array([1.0, 50.0, 5000.0])
    m.fields["mmp"].flat[vox] = levels
    m0 = m.material.ravel()[vox].copy()
    for _ in range(10):
        m.step()
    dt_h = 10 * m.dt_h
    expected = m0 * np.exp(-t.mmp_degradation_per_day / 24.0 * levels / (levels + t.mmp_half_max_pg_ml) * dt_h)
    np.testing.assert_allclose(m.material.ravel()[vox], expected, rtol=1e-12)
    untouched = np.setdiff1d(np.flatnonzero(m.material.ravel() > 0), vox)
    assert np.array_equal(m.material.ravel()[untouched], m.section.material0.ravel()[untouched])


def test_pain_sensitization_has_its_exact_solution():
    """Constant root cytokines: S(t) = (k/r)(1 − e^{−r t}), k = k_s·Σ w_j c_j/(c_j + K_j),
    r = r0(1 + g10·IL10/(IL10 + K10)); VAS = 100(1 − exp(−s(S(1 + w_c C) + w_m C))), C = 1. The patient's IFN-γ
    and IL-4 (set high here) do not enter."""
    over = {"patient.ifng_pg_ml": 40.0, "patient.il4_pg_ml": 30.0, "patient.nerve_sensitivity": 1.4}
    m = model(only("pain"), **over)
    levels = {"tnf": 3.0, "il1b": 6.0, "il6": 9.0, "il8": 15.0, "il10": 20.0, "tgfb": 100.0, "chemo": 50.0}
    for c, val in levels.items():
        m.fields[c][...] = val
    m.run_days(3)
    p, pat = m.config.parameters.pain, m.config.patient
    drive = sum(
        getattr(p, f"{c}_weight") * levels[c] / (levels[c] + getattr(p, f"{c}_half_max_pg_ml"))
        for c in ("tnf", "il1b", "il6", "il8")
    )
    k = p.sensitization_per_day * drive
    r = p.resolution_per_day * (1 + p.il10_resolution_gain * 20.0 / (20.0 + p.il10_half_max_pg_ml))
    s_exact = k / r * (1 - math.exp(-r * 3.0))
    ts = m.datacollector.get_model_vars_dataframe()
    assert ts.sensitization.iloc[-1] == pytest.approx(s_exact, rel=1e-10)
    assert ts.compression.iloc[-1] == 1.0
    vas = 100 * (1 - math.exp(-pat.nerve_sensitivity * (s_exact * (1 + p.compression_weight) + p.mechanical_weight)))
    assert ts.pain_vas.iloc[-1] == pytest.approx(vas, rel=1e-10)


def _binomial_ok(successes, n, p, z=4.5):
    return abs(successes - n * p) <= z * math.sqrt(n * p * (1 - p)) + 1


def test_polarization_and_death_rates_match_their_probabilities():
    """One step from M0 at a voxel with known stimuli: P(switch) = 1 − e^{−(r1+r2)dt}, P(M1 | switch) = r1/(r1+r2);
    P(death of M1) = 1 − e^{−dt/τ1}. Binomial 4.5σ bands over 20 000 cells."""
    m = model(only("polarization"), **NO_PATIENT_SIGNALS)
    v = int(m.section.vessel_index[0])
    n = 20_000
    m.macrophages.add(np.full(n, v, dtype=np.int64))
    tnf, il10 = 4.0, 15.0
    m.fields["tnf"].flat[v], m.fields["il10"].flat[v] = tnf, il10
    pol = m.config.parameters.polarization
    s1 = tnf / (tnf + pol.tnf_half_max_pg_ml) + pol.danger_weight * m.material.flat[v]  # material at a site: 0
    s2 = il10 / (il10 + pol.il10_half_max_pg_ml)
    r1, r2 = pol.m0_to_m1_per_day / 24 * s1, pol.m0_to_m2_per_day / 24 * s2
    m.step()
    phen = m.macrophages.phen
    switched = int((phen != 0).sum())
    assert _binomial_ok(switched, n, 1 - math.exp(-(r1 + r2) * m.dt_h))
    assert _binomial_ok(int((phen == 1).sum()), switched, r1 / (r1 + r2))

    d = model(only("death_and_egress"))
    d.macrophages.add(np.full(n, v, dtype=np.int64))
    d.macrophages.phen[:] = 1
    d.step()
    p_death = 1 - math.exp(-d.dt_h / (24 * d.config.parameters.lifespan.m1_days))
    assert _binomial_ok(n - d.macrophages.n, n, p_death)
    assert (np.diff(d.macrophages.uid) > 0).all()  # survivors keep recruitment order


def test_recruitment_is_poisson_with_the_stated_rate():
    """Influx per site and hour = max·propensity·(basal·left + (1 − basal)·c/(c + K)); fragment intact (left = 1)."""
    m = model(only("recruitment"), **{"patient.inflammatory_propensity": 1.5})
    rec = m.config.parameters.recruitment
    chemo = 25.0
    m.fields["chemo"][...] = chemo
    hours = 24 * 20
    m.run_days(20)
    lam = (
        rec.monocyte_influx_per_site_per_day
        / 24
        * 1.5
        * (rec.basal_fraction + (1 - rec.basal_fraction) * chemo / (chemo + rec.chemo_half_max_pg_ml))
    )
    mean = lam * hours * m.section.vessel_index.size
    assert abs(m.macrophages.n - mean) <= 4.5 * math.sqrt(mean)
    assert set(m.macrophages.pos.tolist()) <= set(m.section.vessel_index.tolist())
    assert m.macrophages.capacity >= m.macrophages.n > 256  # the arrays grew past their initial capacity


# ------------------------------------------------------------------------------------------- ablations
def _run(disable=(), days=12, seed=3, kind="sequestration", **over):
    s = with_overrides(Scenario(), {"patient.herniation_type": kind, "model.disable": list(disable), **over})
    m = DiscModel(s, seed=seed)
    m.run_days(days)
    return m, m.datacollector.get_model_vars_dataframe()


def test_no_recruitment_once_the_fragment_is_gone():
    """Every chemoattractant source needs NP material, so macrophages left in cleared tissue recruit no one:
    with the fragment removed, the population only falls (before 2026-12-02 M1 chemoattractant kept
    recruiting, and a large population could sustain itself for a year)."""
    m = DiscModel(with_overrides(Scenario(), {"patient.herniation_type": "sequestration"}), seed=5)
    m.material[...] = 0.0
    sites = m.section.vessel_index
    m.macrophages.add(np.resize(sites, 2000).astype(np.int64))
    m.macrophages.phen[:] = 1  # M1, the main chemoattractant makers
    counts = []
    for _ in range(10):
        m.run_days(1)
        counts.append(m.macrophages.n)
    assert counts[0] < 2000 and all(b <= a for a, b in zip(counts, counts[1:]))
    assert m.macrophages.uid.max() <= 2000  # nobody new: recruits get fresh uids (> 2000)


def test_disabling_recruitment_gives_no_macrophages():
    _, ts = _run(["recruitment"])
    assert (ts.n_m0 + ts.n_m1 + ts.n_m2).max() == 0


def test_disabling_macrophage_secretion_leaves_the_np_only_fields():
    """Macrophages present but silent (and not eating, so the material is the same): every field the NP cells
    make regardless of macrophage contact is bit-identical to the run without any macrophage."""
    silent, ts = _run(["macrophage_secretion", "phagocytosis", "matrix_digestion", "np_cell_death"])
    assert (ts.n_m0 + ts.n_m1 + ts.n_m2).iloc[-1] > 0
    np_only, _ = _run(["recruitment", "phagocytosis", "matrix_digestion", "np_cell_death"])
    for c in ("tnf", "il1b", "il6", "il8", "il10", "tgfb"):
        np.testing.assert_array_equal(silent.fields[c], np_only.fields[c], err_msg=c)
    assert np_only.fields["mmp"].max() == 0.0  # MMP-3 induction needs macrophage contact
    speaking, _ = _run(["phagocytosis", "matrix_digestion", "np_cell_death"])
    assert not np.array_equal(speaking.fields["tnf"], np_only.fields["tnf"])  # the comparison has power


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_disabling_each_process_does_what_it_says(name):
    over = {"patient.il10_background_pg_ml": 10.0, "patient.dehydration_fraction": 0.3}
    m, ts = _run([name], days=8, **over)
    mac = m.macrophages
    if name == "disc_cell_secretion":
        m2, _ = _run([name, "recruitment"], days=8, **over)
        assert not m2.fields.data[[CYTOKINES.index(c) for c in CYTOKINES if c != "il10"]].any()
    elif name == "il10_background":
        m2, _ = _run([name, "recruitment"], days=8, **over)
        assert m2.fields["il10"].max() < 1e-6  # the initial background decays away
    elif name == "macrophage_secretion":
        pass  # test_disabling_macrophage_secretion_leaves_the_np_only_fields
    elif name == "transport":
        assert not m.fields.data[[CYTOKINES.index(c) for c in CYTOKINES if c != "il10"]].any()
        assert (m.fields["il10"] == 10.0).all()
    elif name == "polarization":
        assert ts.n_m1.max() == 0 and ts.n_m2.max() == 0 and ts.n_m0.iloc[-1] > 0
    elif name == "death_and_egress":
        total = (ts.n_m0 + ts.n_m1 + ts.n_m2).to_numpy()
        assert (np.diff(total) >= 0).all() and total[-1] > 0
        assert mac.n == mac._next_uid - 1  # every cell ever recruited is alive
    elif name == "phagocytosis":
        assert mac.n > 0 and not mac.engulfed_um3.any()
    elif name == "chemotaxis":
        assert mac.n > 0 and set(mac.pos.tolist()) <= set(m.section.vessel_index.tolist())
    elif name == "recruitment":
        assert (ts.n_m0 + ts.n_m1 + ts.n_m2).max() == 0
    elif name == "matrix_digestion":
        m2, ts2 = _run([name, "phagocytosis", "shrinkage"], days=8, **over)
        assert m2.fields["mmp"].max() > 0 and (ts2.volume_fraction == 1.0).all()
    elif name == "shrinkage":
        m2, ts2 = _run([name, "recruitment"], days=8, **over)
        assert (ts2.volume_fraction == 1.0).all()
    elif name == "vessel_ingrowth":  # switched off, no site is added even where digestion has cleared the tissue
        m2, _ = _run([name, "recruitment"], days=3, **over, **{"parameters.tissue.vascularization_threshold": 0.5})
        m2.material.ravel()[m2.section.material0.ravel() > 0] = 0.0
        m2.run_days(2)
        assert np.array_equal(m2.vessel_sites, m2.section.vessel_index)
    elif name == "np_cell_death":
        assert mac.n > 0 and np.allclose(ts.np_viability, 1.0, rtol=1e-12)
        assert (m.np_viability[m.section.material0.ravel() > 0] == 1.0).all()
    elif name == "pain":
        assert (ts.sensitization == 0.0).all() and (ts.compression == 1.0).all()
    elif name == "glucocorticoid_repression":
        # without macrophages (recruitment off) a glucocorticoid acts only through this process on NP secretion
        gc = [{"kind": "glucocorticoid", "start_day": 2}]
        _, ts_off = _run([name, "recruitment"], days=8, treatment=gc, **over)
        _, ts_none = _run(["recruitment"], days=8, **over)
        _, ts_on = _run(["recruitment"], days=8, treatment=gc, **over)
        assert ts_off.equals(ts_none)
        assert ts_on.tnf_fragment_pg_ml.iloc[-1] < ts_none.tnf_fragment_pg_ml.iloc[-1]
    else:  # a new process needs its ablation test here
        pytest.fail(f"no ablation check for process {name!r}")


# ------------------------------------------------------------------------------------------- behaviour, over seeds
def _t_interval(x, y, level=0.99):
    """Welch confidence interval of mean(x) − mean(y)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    res = stats.ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(confidence_level=level)
    return ci.low, ci.high


def test_sequestration_resorbs_more_than_protrusion_over_seeds():
    seeds = range(10, 16)
    frac = {
        k: [
            run_one(
                with_overrides(Scenario(), {"patient.herniation_type": k}), s, days=40, snapshots=False
            ).timeseries.volume_fraction.iloc[-1]
            for s in seeds
        ]
        for k in ("sequestration", "protrusion")
    }
    low, _ = _t_interval(frac["protrusion"], frac["sequestration"])
    assert low > 0.05, frac


def test_il10_suppression_of_m1_secretion_lowers_fragment_tnf_over_seeds():
    """Removing IL-10's suppression of M1 products (Imax = 0) raises fragment TNF-α, with a 99 % interval."""

    def tnf(imax, seed):
        s = with_overrides(
            Scenario(), {"patient.herniation_type": "sequestration", "parameters.secretion.il10_max_inhibition": imax}
        )
        return run_one(s, seed, days=25, snapshots=False).timeseries.tnf_fragment_pg_ml.iloc[5:].mean()

    seeds = range(20, 25)
    with_supp = [tnf(0.85, s) for s in seeds]
    without = [tnf(0.0, s) for s in seeds]
    low, _ = _t_interval(without, with_supp)
    assert low > 0, (with_supp, without)


@pytest.mark.parametrize("dt_hours", [1 / 60, 0.1, 0.25, 1.0, 8.0])
def test_the_day_column_is_exact_at_any_time_step_that_divides_a_day(dt_hours):
    """The clock counts steps: summing a dt such as 1/60 h used to drift (day 2.0007, a missing last day)."""
    from sim.run import run_one
    from sim.scenario import load_scenario, with_overrides

    scen = with_overrides(
        load_scenario(ROOT / "scenarios" / "default.toml"),
        {"simulation.dt_hours": dt_hours, "simulation.snapshot_every_days": 0.0},
    )
    ts = run_one(scen, days=3).timeseries
    assert ts["day"].tolist() == [0.0, 1.0, 2.0, 3.0]


# ------------------------------------------------------------------------------------------- grid independence
@pytest.mark.parametrize("dx_um", [250.0, 125.0, 62.5])
def test_unbiased_walk_spreads_as_the_random_motility_at_any_voxel_size(dx_um):
    """Mean squared displacement after t = 4·D·t with D = v·ℓ/2, whatever the voxel edge (the jump probability
    4·D·dt/dx² is split into sub-steps where it exceeds 1). 4.5σ band from the sample, 3000 cells, 6 h."""
    from scipy import ndimage

    m = model(only("chemotaxis"), **{"geometry.dx_um": dx_um, "parameters.motility.chemotaxis_sensitivity": 0.0})
    mo = m.config.parameters.motility
    hours = 6
    D_um2_per_h = mo.speed_um_per_min * mo.persistence_length_um / 2 * 60
    rms_um = math.sqrt(4 * D_um2_per_h * hours)
    # µm to the nearest blocked voxel or the domain's edge (padding blocks the outside)
    free = ndimage.distance_transform_edt(np.pad(m.section.walkable, 1))[1:-1, 1:-1] * dx_um
    start = int(np.argmax(free))
    assert free.flat[start] > 5 * rms_um  # no wall within reach: the free-space law applies
    n = 3000
    m.macrophages.add(np.full(n, start, dtype=np.int64))
    m.run_days(hours / 24)
    ny = m.section.shape[1]
    dxs = (m.macrophages.pos // ny - start // ny) * dx_um
    dys = (m.macrophages.pos % ny - start % ny) * dx_um
    r2 = dxs.astype(float) ** 2 + dys.astype(float) ** 2
    expected = 4 * D_um2_per_h * hours
    assert abs(r2.mean() - expected) <= 4.5 * r2.std(ddof=1) / math.sqrt(n)


@pytest.mark.parametrize("dx_um", [250.0, 125.0])
def test_recruitment_per_mm2_of_vessel_wall_does_not_depend_on_the_voxel_size(dx_um):
    """A site of edge dx receives influx × (dx/250 µm)²: the same monocytes per mm² of vessel wall (site edge ×
    slab depth dx). Poisson 4.5σ band on the total over 20 days at saturating chemoattractant."""
    m = model(only("recruitment"), **{"geometry.dx_um": dx_um})
    rec = m.config.parameters.recruitment
    m.fields["chemo"][...] = 1e9  # saturating
    m.run_days(20)
    wall_mm2 = m.section.vessel_index.size * (dx_um / 1000) ** 2
    per_mm2_day = rec.monocyte_influx_per_site_per_day / 0.25**2  # a reference site is 0.0625 mm²
    mean = per_mm2_day * wall_mm2 * 20
    assert abs(m.macrophages.n - mean) <= 4.5 * math.sqrt(mean)


# ------------------------------------------------------------------------------------------- gaps found by mutation testing
def test_a_single_macrophage_secretes_into_its_voxel():
    """One M1 cell alone in a voxel: source_c = conv · r1_c (no IL-10, so no suppression), chemoattractant × the
    voxel's NP material."""
    m = model(only("macrophage_secretion"), **NO_PATIENT_SIGNALS)
    v = int(m.section.vessel_index[0])
    m.macrophages.add(np.array([v], dtype=np.int64))
    m.macrophages.phen[:] = 1
    m.step()
    se = m.config.parameters.secretion
    conv = 1.0 / (m.section.voxel_volume_ml * 3600.0)
    for c in CYTOKINES:
        g = m.material.flat[v] if c == "chemo" else 1.0
        assert m.fields.source(c).flat[v] == pytest.approx(conv * getattr(se.m1, c) * g, rel=1e-12, abs=0.0), c


def test_m1_to_m2_and_m2_to_m1_switch_with_their_probabilities():
    """P(M1 → M2) = 1 − e^{−r12·s2·dt}, P(M2 → M1) = 1 − e^{−r21·s1·dt} (binomial 4.5σ, 200 000 cells); s1 = TNF/(TNF + K) at a vascular site
    (no material, no IFN-γ), s2 = IL10/(IL10 + K) + TGFβ/(TGFβ + K) (no IL-4, nothing engulfed)."""
    n = 200_000
    tnf, il10, tgfb = 6.0, 12.0, 3.0
    for start, rate_key in ((1, "m1_to_m2_per_day"), (2, "m2_to_m1_per_day")):
        m = model(only("polarization"), **NO_PATIENT_SIGNALS)
        v = int(m.section.vessel_index[0])
        m.macrophages.add(np.full(n, v, dtype=np.int64))
        m.macrophages.phen[:] = start
        m.fields["tnf"].flat[v], m.fields["il10"].flat[v], m.fields["tgfb"].flat[v] = tnf, il10, tgfb
        pol = m.config.parameters.polarization
        s1 = tnf / (tnf + pol.tnf_half_max_pg_ml)
        s2 = il10 / (il10 + pol.il10_half_max_pg_ml) + tgfb / (tgfb + pol.tgfb_half_max_pg_ml)
        rate = getattr(pol, rate_key) / 24 * (s2 if start == 1 else s1)
        m.step()
        switched = int((m.macrophages.phen != start).sum())
        p = 1 - math.exp(-rate * m.dt_h)
        assert n * p > 100 and _binomial_ok(switched, n, p), (start, switched, n * p)


@pytest.mark.parametrize("axis", [0, 1])
def test_chemotaxis_drifts_up_a_linear_gradient_as_its_jump_weights_say(axis):
    """Linear chemoattractant c = c0 + g·x along one axis, one step from one voxel in the open: a cell jumps with
    probability p to a 4-neighbour with weight e^{±b}, b = χ·dx·g/(c + K) along the gradient and e^0 across it, so
    E[Δ along] = p·(e^b − e^{−b})/(e^b + e^{−b} + 2) and E[Δ across] = 0 (4.5σ bands, 20 000 cells)."""
    from scipy import ndimage

    m = model(only("chemotaxis"), **{"parameters.motility.chemotaxis_sensitivity": 20.0})
    dx = m.section.dx_um
    nx, ny = m.section.shape
    c0, g = 50.0, 0.05  # pg/mL, pg/mL per µm
    coord = (np.arange(nx)[:, None] if axis == 0 else np.arange(ny)[None, :]) * dx
    m.fields["chemo"][...] = c0 + g * np.broadcast_to(coord, (nx, ny))
    free = ndimage.distance_transform_edt(np.pad(m.section.walkable, 1))[1:-1, 1:-1]  # voxels to a wall or edge
    start = int(np.argmax(free))
    assert free.flat[start] > 2
    n = 20_000
    m.macrophages.add(np.full(n, start, dtype=np.int64))
    mo = m.config.parameters.motility
    b = (
        mo.chemotaxis_sensitivity
        * dx
        * g
        / (m.fields["chemo"].flat[start] + m.config.parameters.recruitment.chemo_half_max_pg_ml)
    )
    D = mo.speed_um_per_min * mo.persistence_length_um / 2
    p = 4 * D * 60 * m.dt_h / dx**2
    assert p <= 1
    m.step()
    pos = m.macrophages.pos
    d_along = (pos // ny - start // ny) if axis == 0 else (pos % ny - start % ny)
    d_across = (pos % ny - start % ny) if axis == 0 else (pos // ny - start // ny)
    mean_along = p * (math.exp(b) - math.exp(-b)) / (math.exp(b) + math.exp(-b) + 2)
    band = 4.5 * math.sqrt(p / n)
    assert abs(d_along.mean() - mean_along) <= band and mean_along > 3 * band
    assert abs(d_across.mean()) <= band


def test_every_jump_goes_to_a_walkable_four_neighbour_without_wrapping():
    """Cells on every walkable voxel (domain edges included), steep random gradients, 6 steps: each step a cell
    stays or moves to an in-grid 4-neighbour that is walkable."""
    m = model(only("chemotaxis"), **{"parameters.motility.chemotaxis_sensitivity": 20.0})
    nx, ny = m.section.shape
    rng = np.random.default_rng(5)
    m.fields["chemo"][...] = rng.uniform(0, 500, size=(nx, ny))
    walk = m.section.walkable.ravel()
    start = np.flatnonzero(walk)
    m.macrophages.add(start.astype(np.int64))
    prev = m.macrophages.pos.copy()
    for _ in range(6):
        m.step()
        pos = m.macrophages.pos
        dix, diy = pos // ny - prev // ny, pos % ny - prev % ny
        assert set(np.abs(dix) + np.abs(diy)) <= {0, 1}
        assert walk[pos].all()
        prev = pos.copy()
    assert (prev != start).mean() > 0.5


def test_recruits_get_consecutive_uids_at_their_sites():
    m = model(only("recruitment"))
    m.fields["chemo"][...] = 1e6
    m.run_days(3)
    mac = m.macrophages
    assert mac.n > 10
    assert (np.diff(mac.uid) == 1).all() and mac.uid[-1] == mac._next_uid - 1
    assert set(mac.pos.tolist()) <= set(m.section.vessel_index.tolist()) and (mac.phen == 0).all()


def test_a_cell_with_one_open_neighbour_takes_it_and_a_boxed_in_cell_stops_nobody():
    """Against a wall: a cell whose only open neighbour lies down the gradient still jumps there with probability
    p (its weight e^{−b} < 1 is the whole sum). A cell with no open neighbour stays, and the cells after it in
    the arrays still move."""
    from scipy import ndimage

    m = model(only("chemotaxis"), **{"parameters.motility.chemotaxis_sensitivity": 20.0})
    nx, ny = m.section.shape
    walk = m.section.walkable  # the model's mask (the kernel reads it through a flat view)
    free = ndimage.distance_transform_edt(np.pad(walk, 1))[1:-1, 1:-1]
    cx, cy = np.unravel_index(int(np.argmax(free)), walk.shape)
    # a pocket at (cx, cy) open only towards −x, and a closed cell at (cx, cy + 4)
    for dx_, dy_ in ((1, 0), (0, 1), (0, -1)):
        walk[cx + dx_, cy + dy_] = False
    for dx_, dy_ in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        walk[cx + dx_, cy + 4 + dy_] = False
    m.fields["chemo"][...] = 10.0 + 0.5 * (np.arange(nx)[:, None] * m.section.dx_um) * np.ones((1, ny))  # up +x
    pocket, closed, open_ = cx * ny + cy, cx * ny + cy + 4, (cx - 6) * ny + cy
    n = 4000
    k = 20  # closed cells first: at least one of them tries to jump (all stay with probability (1 − p)^20 ≈ 2e-6)
    m.macrophages.add(np.array([closed] * k + [pocket] * n + [open_] * n, dtype=np.int64))
    m.step()
    pos = m.macrophages.pos[k - 1 :]
    mo = m.config.parameters.motility
    p = 4 * (mo.speed_um_per_min * mo.persistence_length_um / 2) * 60 * m.dt_h / m.section.dx_um**2
    moved_pocket = (pos[1 : n + 1] != pocket).mean()
    assert pos[0] == closed
    assert set(pos[1 : n + 1].tolist()) <= {pocket, pocket - ny}
    assert abs(moved_pocket - p) <= 4.5 * math.sqrt(p * (1 - p) / n)
    assert (pos[n + 1 :] != open_).mean() > 0.5 * p
