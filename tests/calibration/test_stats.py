"""Summary statistics against known answers on synthetic cohorts."""

import math

import numpy as np
import pytest
from calibration_data import synthetic_cohort

from sim.calibration.stats import (
    CohortError,
    StatsConfig,
    cohort_from_frames,
    compute_statistics,
    exponential_course,
    fit_exponential_course,
    reproduced,
    spearman_bootstrap,
    wilson_interval,
)


def test_spearman_bootstrap_known_answers():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=60)
    rho, lo, hi = spearman_bootstrap(x, np.exp(3 * x), n_boot=500, seed=1)
    assert rho == pytest.approx(1.0) and lo == pytest.approx(1.0) and hi == pytest.approx(1.0)
    rho, lo, hi = spearman_bootstrap(x, -x, n_boot=500, seed=1)
    assert rho == pytest.approx(-1.0) and hi < 0
    covered = 0
    for s in range(20):  # independent variables: the 95 % CI covers 0 in (almost) every replicate
        r = np.random.default_rng(100 + s)
        _, lo, hi = spearman_bootstrap(r.normal(size=80), r.normal(size=80), n_boot=400, seed=s)
        covered += lo <= 0 <= hi
    assert covered >= 17
    assert all(math.isnan(v) for v in spearman_bootstrap(np.ones(10), x[:10]))
    y = x + rng.normal(size=60)
    assert spearman_bootstrap(x, y, seed=3) == spearman_bootstrap(x, y, seed=3)  # seeded: reproducible CI


def test_reproduced_rule():
    assert reproduced(1, 0.4, 0.1, 0.6) is True
    assert reproduced(1, 0.4, -0.1, 0.6) is False
    assert reproduced(-1, -0.4, -0.6, -0.1) is True
    assert reproduced(-1, 0.3, 0.1, 0.5) is False
    assert reproduced(0, 0.3, -0.1, 0.6) is True  # CI covers 0
    assert reproduced(0, 0.05, 0.02, 0.08) is True  # |ρ| < 0.1
    assert reproduced(0, 0.3, 0.1, 0.5) is False
    assert reproduced(1, math.nan, math.nan, math.nan) is None


def test_wilson_interval():
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_exponential_fit_recovers_parameters():
    t = np.array([0, 2, 4, 8, 12, 26, 38, 52.0])
    a, c, tau = fit_exponential_course(t, exponential_course(t, 53.7, 10.6, 8.4))
    assert (a, c, tau) == pytest.approx((53.7, 10.6, 8.4), rel=1e-4)
    assert all(math.isnan(v) for v in fit_exponential_course(t[:3], t[:3]))


@pytest.fixture(scope="module")
def stats():
    p, t = synthetic_cohort()
    return compute_statistics(cohort_from_frames(p, t), StatsConfig(n_boot=500))


def test_association_table(stats):
    a = stats.associations.set_index("factor")
    assert a.loc["TNF-a", "rho"] == pytest.approx(1.0) and a.loc["TNF-a", "reproduced"]
    assert a.loc["IL-10", "rho"] == pytest.approx(-1.0) and a.loc["IL-10", "reproduced"]
    assert a.loc["IL-8", "review_sign"] == 1 and a.loc["IL-1b", "review_sign"] == 0
    assert a.loc["IL-1b", "ci_lo"] <= 0 <= a.loc["IL-1b", "ci_hi"]


def test_regression_and_resolution_by_type(stats):
    p, _ = synthetic_cohort()
    red = np.linspace(0.0, 0.99, len(p))
    r = stats.resorption.set_index("group")
    for group, types in {
        "bulging": ["bulging"],
        "sequestration": ["sequestration"],
        "extrusion": ["subligamentous_extrusion", "transligamentous_extrusion"],
    }.items():
        sel = p["herniation_type"].isin(types).to_numpy()
        assert r.loc[group, "n"] == sel.sum()
        assert r.loc[group, "regression"] == pytest.approx((red[sel] >= 0.30).mean())
        assert r.loc[group, "resolution"] == pytest.approx((red[sel] >= 0.90).mean())
        assert r.loc[group, "regression_lo"] <= r.loc[group, "regression"] <= r.loc[group, "regression_hi"]
    # a stricter threshold (parameter) lowers the fraction
    p2, t2 = synthetic_cohort()
    strict = compute_statistics(cohort_from_frames(p2, t2), StatsConfig(regression_threshold=0.5, n_boot=200))
    assert strict.resorption.set_index("group").loc["extrusion", "regression"] < r.loc["extrusion", "regression"]


def test_inflammation_and_cd68_categories(stats):
    p, _ = synthetic_cohort()
    cd = p["cd68_per_cm2_sample"].to_numpy()
    c = stats.cd68_categories.set_index("category")["fraction"]
    assert c["mild"] == pytest.approx(np.mean(cd < 10)) and c["considerable"] == pytest.approx(np.mean(cd > 100))
    infl = stats.inflammation.set_index("group")
    sel = (p["herniation_type"] == "protrusion").to_numpy()
    assert infl.loc["protrusion", "prevalence"] == pytest.approx(np.mean(cd[sel] >= 10))


def test_pain_course_aligned_to_entry(stats):
    c = stats.pain_course.set_index("week")
    # entry = sample_day 56; horizon 400 days: visits up to 38 weeks simulated, 52+ not
    assert c.loc[0.0, "mean"] == pytest.approx(55.0)
    assert c.loc[8.0, "mean"] == pytest.approx(10 + 45 * math.exp(-1))
    assert bool(c.loc[38.0, "simulated"]) and not bool(c.loc[52.0, "simulated"])
    assert math.isnan(c.loc[104.0, "mean"])
    assert c.loc[26.0, "frac_le_cutoff"] == 1.0 and c.loc[2.0, "frac_le_cutoff"] == 0.0
    f = stats.pain_fit
    assert f["tau_weeks"] == pytest.approx(8.0, rel=1e-3) and f["plateau"] == pytest.approx(10.0, abs=1e-2)
    assert f["last_week"] == 38.0


def test_macrophage_kinetics(stats):
    k = stats.kinetics
    assert k["peak_day_m1_median"] == 7 and k["peak_day_m2_median"] == 14 and k["peak_day_total_median"] == 10
    assert k["frac_m1_before_m2"] == 1.0


def test_adapter_excludes_failed_and_rejects_missing_columns():
    p, t = synthetic_cohort(n=10, days=30)
    p.loc[[0, 3], "status"] = "failed"
    c = cohort_from_frames(p, t)
    assert c.n_excluded == 2 and len(c.patients) == 8 and set(c.trajectories["patient"]) == set(c.patients["patient"])
    with pytest.raises(CohortError, match="pain_vas_sample"):
        cohort_from_frames(p.drop(columns="pain_vas_sample"), t)
    with pytest.raises(CohortError, match="volume_fraction"):
        cohort_from_frames(p, t.drop(columns="volume_fraction"))
    # aliases of the cohort runner's names
    alias = p.drop(columns=["ifng"]).assign(ifng_pg_ml=1.0)
    assert "ifng" in cohort_from_frames(alias, t).patients


def test_statistics_on_a_real_tiny_simulation():
    """The adapter on real run_one columns (2 patients, 20 days, coarse grid)."""
    from sim.calibration.cohort_adapter import assemble, draw_patients, run_patients
    from sim.scenario import Scenario, with_overrides

    scen = with_overrides(Scenario(), {"geometry.dx_um": 500.0})
    runs = draw_patients(scen, 2, seed=5, days=20)
    for r in runs:
        r.info["sample_day"] = 10
    res = run_patients([(r.key, r.scenario, {"patient": r.info["patient"]}) for r in runs])
    patients, traj = assemble(runs, res)
    s = compute_statistics(cohort_from_frames(patients, traj), StatsConfig(n_boot=200))
    assert s.n_patients == 2 and s.horizon_day == 20
    assert s.pain_course.set_index("week").loc[0.0, "simulated"]  # day 10 exists
    assert not s.pain_course.set_index("week").loc[2.0, "simulated"]  # day 24 does not
    assert np.isfinite(patients["tnf_sample"]).all() and np.isfinite(patients["cd68_per_cm2_sample"]).all()


def test_regression_is_reported_at_25_30_and_50_percent_reduction():
    """A fraction that sits on its cut-off shows: 10 protrusions with these reductions regress in 8 of 10 at
    ≥ 25 %, 7 at ≥ 30 %, 5 at ≥ 50 % (≥ is inclusive: 0.3 and 0.5 count)."""
    import pandas as pd

    from sim.calibration.stats import StatsConfig, resorption_table

    red = [0.1, 0.2, 0.27, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    cfg = StatsConfig()
    out = pd.DataFrame(
        {
            "herniation_type": ["protrusion"] * 10,
            "reduction_outcome": red,
            "regressed": [float(x >= cfg.regression_threshold) for x in red],
            "resolved": [float(x >= cfg.resolution_threshold) for x in red],
        }
    )
    row = resorption_table(out, cfg).set_index("group").loc["protrusion"]
    assert (row["regression_ge25"], row["regression_ge30"], row["regression_ge50"]) == (0.8, 0.7, 0.5)
    assert row["regression"] == row["regression_ge30"]


def test_crossover_summary_counts_first_year_surgeries_of_trial_patients_only():
    """Known answer: 10 herniations entering on day 50, 4 operated within the window (2, 4, 6, 8 weeks after
    entry), 1 operated after it, bulges ignored even when operated; NaN while the window is not followed."""
    import pandas as pd

    from sim.calibration.stats import StatsConfig, crossover_summary

    cfg = StatsConfig(crossover_weeks=10)
    after = [14, 28, 42, 56, 100, np.nan, np.nan, np.nan, np.nan, np.nan]
    out = pd.DataFrame(
        {
            "herniation_type": ["protrusion", "sequestration"] * 5 + ["bulging"] * 3,
            "entry_day": 50.0,
            "surgery_day": [50 + a for a in after] + [51.0, 52.0, np.nan],
        }
    )
    cx = crossover_summary(out, horizon_day=120.0, config=cfg)
    assert cx["n"] == 10 and cx["fraction"] == pytest.approx(0.4)
    assert cx["lo"] < 0.4 < cx["hi"]
    assert cx["mean_weeks"] == pytest.approx(5.0)
    assert all(math.isnan(v) for v in crossover_summary(out, horizon_day=119.0, config=cfg).values())
    none = crossover_summary(out.assign(surgery_day=np.nan), horizon_day=120.0, config=cfg)
    assert none["fraction"] == 0 and math.isnan(none["mean_weeks"])


def test_usual_care_surgery_on_a_real_tiny_cohort_operates_by_the_rule_and_leaves_the_natural_history():
    """With a rule every patient meets (VAS ≥ 0 for 2 days, from 3 days after entry), each herniation is operated
    on entry + 3 and its fragment is gone; the regression outcome of an operated patient is missing, not 100 %;
    the pain course keeps the operated patients (intention to treat)."""
    from sim.calibration.cohort_adapter import assemble, draw_patients, run_patients
    from sim.calibration.stats import surgery_days
    from sim.scenario import parse_scenario

    scen = parse_scenario(
        """
[simulation]
days = 14
[geometry]
dx_um = 500
[cohort]
sample_day = { dist = "fixed", value = 6 }
[cohort.patient]
herniation_type = { dist = "categorical", weights = { bulging = 1, sequestration = 1 } }
[cohort.surgery]
vas_at_least = 0
for_days = 2
from_days_after_entry = 3
"""
    )
    runs = draw_patients(scen, 4, seed=11, days=14)
    res = run_patients([(r.key, r.scenario, {"patient": r.info["patient"]}) for r in runs])
    patients, traj = assemble(runs, res)
    cohort = cohort_from_frames(patients, traj)
    cfg = StatsConfig(n_boot=100, outcome_day=12, crossover_weeks=1)
    s = compute_statistics(cohort, cfg)
    day = surgery_days(cohort)
    seq = patients["herniation_type"].eq("sequestration").to_numpy()
    assert 0 < seq.sum() < len(seq)
    assert (day[seq] == 9).all() and day[~seq].isna().all()
    end = traj[traj["day"] == 14].set_index("patient")["volume_fraction"]
    assert (end[seq] == 0).all() and (end[~seq] > 0).all()
    assert s.outcomes.loc[seq, "reduction_outcome"].isna().all()
    assert s.outcomes.loc[~seq, "reduction_outcome"].notna().all()
    assert s.crossover["n"] == seq.sum() and s.crossover["fraction"] == 1.0
    assert s.crossover["mean_weeks"] == pytest.approx(3 / 7)
    assert s.pain_course.set_index("week").loc[0.0, "n"] == seq.sum()  # the trial's patients: no bulges


def test_recovery_summary_known_kaplan_meier_median_eligibility_and_censoring():
    """32 herniations entering on day 56 recover k weeks after entry (k = 1..32); the k = 32 patient is already at
    VAS 10 at entry (recovered before entry: not eligible), bulges never count. Median of k = 1..31: 16 weeks,
    all recovered within the year. Followed only to day 150, fewer than half recover: no median, no 1-year value."""
    from sim.calibration.stats import StatsConfig, patient_outcomes, recovery_summary

    p, t = synthetic_cohort(n=40, days=500)
    trial = [i for i in range(40) if p.loc[i, "herniation_type"] != "bulging"]
    assert len(trial) == 32
    k_of = {i: k for k, i in enumerate(trial, start=1)}
    day, pid = t["day"].to_numpy(), t["patient"].to_numpy()
    k = np.array([k_of.get(i, 10**6) for i in pid], dtype=float)
    vas = np.where(day >= 56 + 7 * k, 10.0, 55.0)
    vas[(k == 32)] = 10.0
    t = t.assign(pain_vas=vas)
    cfg = StatsConfig()
    cohort = cohort_from_frames(p, t)
    out = patient_outcomes(cohort, cfg)
    r = recovery_summary(cohort, out, cfg)
    assert r["n"] == 31 and r["median_weeks"] == pytest.approx(16.0)
    assert r["median_lo"] <= 16.0 <= r["median_hi"]
    assert r["recovered_1y"] == pytest.approx(1.0)
    short = cohort_from_frames(p, t[t["day"] <= 150])
    r = recovery_summary(short, patient_outcomes(short, cfg), cfg)
    assert r["n"] == 31 and not np.isfinite(r["median_weeks"]) and math.isnan(r["recovered_1y"])


def test_surgery_day_is_the_row_before_the_first_flagged_one():
    """The model operates right after a day's observation, so the flag first shows on the next row; a patient
    flagged from its first row was operated that day, one never flagged has no surgery day."""
    from sim.calibration.stats import surgery_days

    p, t = synthetic_cohort(n=4, days=30)
    flag = np.select([t["patient"].eq(0) & t["day"].gt(12), t["patient"].eq(1)], [1.0, 1.0], 0.0)
    t = t.assign(surgery=flag).sample(frac=1.0, random_state=1)  # row order must not matter
    days = surgery_days(cohort_from_frames(p, t))
    assert days.loc[0] == 12 and days.loc[1] == 0 and days.loc[[2, 3]].isna().all()
