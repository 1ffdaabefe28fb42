"""calibration/robustness.py: cohort seeds (deterministic, distinct, disjoint patients, not the tuning seeds), the
aggregation over cohorts (against synthetic cohorts with known associations) and a tiny end-to-end run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calibration.stats import ASSOCIATION_FACTORS, StatsConfig, wilson_interval
from sim.cohort.draw import draw_patient, simulation_seed
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("robustness", ROOT / "calibration" / "robustness.py")
rb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rb)

SIGNS = {"TNF-a": 1, "IL-6": 1, "IL-8": 1, "IFN-g": 1, "IL-1b": 0, "IL-4": -1, "IL-10": -1, "TGF-b": 0}
SIGNS["CD68_macrophages"] = -1


def test_cohort_seeds_are_deterministic_distinct_and_spawned_from_the_master_seed():
    plan = rb.cohort_plan(31337, [60, 200], 20)
    assert plan == rb.cohort_plan(31337, [60, 200], 20)
    roots = [c["root_seed"] for c in plan]
    assert len(roots) == 40 and len(set(roots)) == 40
    assert not set(roots) & {20240601, 777}
    assert all(0 <= r < 2**63 for r in roots)
    # keyed by (size, cohort): adding a size or cohorts does not change the others' seeds
    small = rb.cohort_plan(31337, [60], 5)
    assert [c["root_seed"] for c in small] == roots[:5]
    # the documented derivation: SeedSequence(master).spawn(n + 1)[n].spawn(j + 1)[j]
    ss = np.random.SeedSequence(31337).spawn(201)[200].spawn(4)[3]
    assert plan[20 + 3]["root_seed"] == simulation_seed(ss)
    assert not set(roots) & {c["root_seed"] for c in rb.cohort_plan(31338, [60, 200], 20)}


def test_a_tuning_seed_is_refused(monkeypatch):
    root = rb.cohort_root_seed(31337, 60, 2)
    monkeypatch.setattr(rb, "TUNING_SEEDS", frozenset({root}))
    with pytest.raises(ValueError, match="tuning seed"):
        rb.cohort_plan(31337, [60], 3)


def test_the_cohorts_hold_disjoint_patients():
    scen = load_scenario(ROOT / "scenarios" / "cohort_default.toml")
    plan = rb.cohort_plan(31337, [5, 8], 3)
    seeds = {
        c["key"]: [draw_patient(scen, k, root=c["root_seed"], days=90).seed for k in range(c["size"])] for c in plan
    }
    assert rb.check_disjoint(seeds) == 3 * (5 + 8)
    with pytest.raises(ValueError, match="not disjoint"):
        rb.check_disjoint({"a": [1, 2, 3], "b": [4, 2]})
    with pytest.raises(ValueError, match="share a seed"):
        rb.check_disjoint({"a": [1, 2, 1]})


def _synthetic_cohort(rng: np.random.Generator, n: int, direction: dict[str, int]) -> pd.DataFrame:
    """Patients whose readout f is (almost) direction[f] × pain: ρ ≈ ±0.99 (0: independent of pain)."""
    vas = rng.uniform(0, 100, n)
    cols = {"patient": rng.permutation(n), "pain_vas_sample": vas}
    for factor, col in ASSOCIATION_FACTORS.items():
        d = direction[factor]
        cols[col] = d * vas + rng.normal(0, 5, n) if d else rng.normal(0, 1, n)
    return pd.DataFrame(cols)


def _per_cohort(frames: dict[tuple[int, int], pd.DataFrame], config: StatsConfig) -> pd.DataFrame:
    tables = [rb.cohort_associations(p, SIGNS, config).assign(size=size, cohort=j) for (size, j), p in frames.items()]
    return pd.concat(tables, ignore_index=True)


def test_known_associations_give_the_expected_reproduction_fractions():
    rng = np.random.default_rng(5)
    config = StatsConfig(n_boot=200)
    # every readout follows the review's sign strongly, except the two nulls, which follow pain (+) strongly
    direction = {f: (s if s else 1) for f, s in SIGNS.items()}
    frames = {(60, j): _synthetic_cohort(rng, 60, direction) for j in range(6)}
    # in the 200-patient cohorts the signs are reversed and the nulls are really null
    reverse = {f: -s for f, s in SIGNS.items()}
    frames |= {(200, j): _synthetic_cohort(rng, 200, reverse) for j in range(4)}
    per = _per_cohort(frames, config)
    s = rb.summarize(per).set_index(["size", "factor"])
    assert list(s.index.get_level_values(0).unique()) == [60, 200]
    for f, sign in SIGNS.items():
        r60, r200 = s.loc[(60, f)], s.loc[(200, f)]
        assert r60["cohorts"] == 6 and r200["cohorts"] == 4
        assert r60["review_sign"] == sign
        if sign:
            assert (r60["reproduced"], r60["fraction"]) == (6, 1.0)
            assert (r60["wilson_lo"], r60["wilson_hi"]) == pytest.approx(wilson_interval(6, 6))
            assert r60["rho_median"] == pytest.approx(0.99 * sign, abs=0.02)
            assert (r200["reproduced"], r200["fraction"]) == (0, 0.0)
            assert r60["meets_acceptance"] and not r200["meets_acceptance"]
        else:  # null sign: a strong association is not reproduced; independence (ρ ≈ 0, n = 200) is
            assert r60["reproduced"] == 0 and r60["rho_median"] > 0.9
            assert r200["reproduced"] == 4 and abs(r200["rho_median"]) < 0.2
        assert r60["undetermined"] == 0
    # the ρ summary is the median and 10-90 % quantiles of the cohorts' ρ
    rho = per[(per["size"] == 60) & (per["factor"] == "IL-10")]["rho"].to_numpy()
    r = s.loc[(60, "IL-10")]
    assert r["rho_median"] == pytest.approx(np.median(rho))
    assert (r["rho_q10"], r["rho_q90"]) == pytest.approx(tuple(np.quantile(rho, [0.1, 0.9])))


def test_an_undetermined_cohort_counts_as_not_reproduced():
    rng = np.random.default_rng(9)
    direction = {f: (s if s else 1) for f, s in SIGNS.items()}
    frames = {(60, j): _synthetic_cohort(rng, 60, direction) for j in range(5)}
    frames[(60, 2)] = frames[(60, 2)].assign(tnf_sample=1.0)  # a constant readout: ρ undefined
    s = rb.summarize(_per_cohort(frames, StatsConfig(n_boot=200))).set_index(["size", "factor"])
    r = s.loc[(60, "TNF-a")]
    assert (r["cohorts"], r["reproduced"], r["undetermined"]) == (5, 4, 1)
    assert r["fraction"] == pytest.approx(0.8) and r["meets_acceptance"]
    assert (r["wilson_lo"], r["wilson_hi"]) == pytest.approx(wilson_interval(4, 5))
    assert s.loc[(60, "IL-6"), "undetermined"] == 0


def test_a_tiny_run_end_to_end_is_resumable_and_deterministic(tmp_path, monkeypatch):
    # the tables go to --out only (--write is off): keep calibration/validation out of reach anyway
    monkeypatch.setattr(rb, "VALIDATION", tmp_path / "validation")
    out = tmp_path / "runs"
    argv = ["--cohorts", "2", "--sizes", "3", "4", "--days", "10", "--workers", "0"]
    argv += ["--out", str(out), "--bootstrap", "100"]
    first = rb.main(argv)
    folder = out / "seed31337"
    summary = pd.read_csv(folder / rb.CSV)
    per = pd.read_csv(folder / rb.COHORTS_CSV)
    assert len(summary) == 2 * len(ASSOCIATION_FACTORS) and len(per) == 4 * len(ASSOCIATION_FACTORS)
    md = (folder / rb.MD).read_text()
    assert "Master seed 31337" in md and "--cohorts 2 --sizes 3 4" in md
    assert all(str(c["root_seed"]) in md for c in first["plan"])
    assert first["n_distinct_patients"] == 2 * (3 + 4)
    assert first["cohorts"]["n_computed"].sum() == 14
    assert not (tmp_path / "validation").exists()

    second = rb.main(argv)  # everything reused, same tables
    assert second["cohorts"]["n_computed"].sum() == 0 and second["cohorts"]["n_reused"].sum() == 14
    pd.testing.assert_frame_equal(first["per_cohort"], second["per_cohort"])
    budget = json.loads((folder / "budget.json").read_text())
    assert [r["patients_simulated"] for r in budget["invocations"]] == [14, 0]

    # patients simulated with other model code are not reused silently
    record = folder / "n003" / "c00" / rb.SOURCE_RECORD
    record.write_text(json.dumps({"source_hash": "0" * 16}))
    with pytest.raises(SystemExit, match="fresh --out"):
        rb.main(argv)
    assert rb.main([*argv, "--allow-stale"])["cohorts"]["n_computed"].sum() == 0


def test_out_inside_the_repository_is_refused():
    with pytest.raises(SystemExit):
        rb.parse_args(["--out", str(ROOT / "runs" / "robustness")])
