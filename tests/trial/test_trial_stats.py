"""Trial statistics on synthetic data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.cohort.trial_spec import Subgroup
from sim.cohort.trial_stats import (
    cox_hazard_ratio,
    kaplan_meier,
    mean_ci,
    paired_difference,
    subgroup_levels,
    wilson_ci,
)


def test_paired_ci_covers_a_planted_difference_at_its_nominal_rate():
    rng = np.random.default_rng(1)
    hits = 0
    n_rep = 400
    for _ in range(n_rep):
        patient = rng.normal(50, 20, size=60)  # large between-patient spread, removed by pairing
        a = patient + rng.normal(-5.0, 4.0, size=60)
        b = patient + rng.normal(0.0, 4.0, size=60)
        r = paired_difference(a, b)
        hits += r["effect_ci_low"] <= -5.0 <= r["effect_ci_high"]
    assert 0.92 <= hits / n_rep <= 0.98  # 95 % nominal, binomial sd ≈ 1.1 %


def test_paired_difference_uses_pairs_and_drops_incomplete_ones():
    a = np.array([10.0, 20.0, 30.0, np.nan])
    b = np.array([8.0, 19.0, 27.0, 5.0])
    r = paired_difference(a, b)
    assert r["n"] == 3
    assert r["effect"] == pytest.approx(2.0)
    d = np.array([2.0, 1.0, 3.0])
    h = 4.302652729911275 * d.std(ddof=1) / math.sqrt(3)  # t(0.975, 2)
    assert r["effect_ci_low"] == pytest.approx(2.0 - h) and r["effect_ci_high"] == pytest.approx(2.0 + h)
    same = paired_difference(np.ones(5), np.ones(5))
    assert same["effect"] == 0 and same["p_value"] == 1.0


def test_mean_and_wilson_intervals():
    m, lo, hi = mean_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    assert m == 2.5 and lo < 2.5 < hi
    f, lo, hi = wilson_ci(np.array([True] * 3 + [False] * 7))
    assert f == pytest.approx(0.3)
    assert lo == pytest.approx(0.1078, abs=1e-3) and hi == pytest.approx(0.6032, abs=1e-3)  # Wilson, n = 10


def test_cox_hazard_ratio_recovers_a_planted_rate_ratio():
    rng = np.random.default_rng(7)
    n = 600
    t_ref = rng.exponential(1 / 0.05, n)  # recovery rate 0.05 / day
    t_arm = rng.exponential(1 / 0.10, n)  # twice as fast
    censor = 60.0
    dur = np.minimum(np.r_[t_arm, t_ref], censor)
    ev = np.r_[t_arm, t_ref] <= censor
    treated = np.r_[np.ones(n, int), np.zeros(n, int)]
    r = cox_hazard_ratio(dur, ev, treated, cluster=np.r_[np.arange(n), np.arange(n)])
    assert r["effect_ci_low"] < 2.0 < r["effect_ci_high"]
    assert 1.7 < r["effect"] < 2.35
    assert r["p_value"] < 1e-6
    # no events in one group: no estimate rather than a spurious one
    none = cox_hazard_ratio(dur, np.r_[ev[:n], np.zeros(n, bool)], treated)
    assert math.isnan(none["effect"])


def test_kaplan_meier_median_of_exponential_times():
    rng = np.random.default_rng(3)
    lam = 1 / 30.0
    t = rng.exponential(1 / lam, 2000)
    censor = 90.0
    _, s = kaplan_meier(np.minimum(t, censor), t <= censor, at=60.0)
    assert s["median"] == pytest.approx(math.log(2) / lam, rel=0.08)
    lo, hi = s["median_ci"]
    assert lo <= s["median"] <= hi
    frac, flo, fhi = s["recovered_at"]
    assert frac == pytest.approx(1 - math.exp(-lam * 60), abs=0.03)
    assert flo <= frac <= fhi


def test_subgroup_levels():
    x = pd.Series([0.1, 0.2, 0.3, 0.4, np.nan])
    levels = subgroup_levels(x, Subgroup(variable="entry.m1_fraction"))
    assert list(levels) == ["≤ 0.25", "≤ 0.25", "> 0.25", "> 0.25", "missing"]
    cut = subgroup_levels(x, Subgroup(variable="entry.m1_fraction", cuts=[0.15, 0.35]))
    assert list(cut) == ["≤ 0.15", "0.15-0.35", "0.15-0.35", "> 0.35", "missing"]
    cat = subgroup_levels(pd.Series(["protrusion", "sequestration"]), Subgroup(variable="patient.herniation_type"))
    assert list(cat) == ["protrusion", "sequestration"]
    assert len(set(subgroup_levels(pd.Series(np.arange(9.0)), Subgroup(variable="x", split="tertiles")))) == 3
