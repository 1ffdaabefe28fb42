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


# ---------------------------------------------------------------------------------------------
# --posterior: one posterior draw per cohort (the posterior predictive of the signs)
# ---------------------------------------------------------------------------------------------


def test_cohort_draws_are_distinct_deterministic_and_do_not_depend_on_the_number_of_cohorts():
    draws = rb.cohort_draws(31337, 200, 20, 500)
    assert draws == rb.cohort_draws(31337, 200, 20, 500)
    assert len(set(draws)) == 20 and all(0 <= d < 500 for d in draws)
    assert rb.cohort_draws(31337, 200, 5, 500) == draws[:5]  # cohort j's draw is the same with fewer cohorts
    assert rb.cohort_draws(31337, 60, 20, 500) != draws  # each size its own stream
    # the documented derivation
    rng = np.random.default_rng(np.random.SeedSequence(31337, spawn_key=(200, rb.DRAW_STREAM)))
    assert draws == rng.permutation(500)[:20].tolist()
    with pytest.raises(ValueError, match="at least as many posterior draws"):
        rb.cohort_draws(31337, 200, 4, 3)


def _draws_file(path: Path, sensitization: list[float]) -> Path:
    frame = pd.DataFrame({"draw": range(len(sensitization)), "parameters.pain.sensitization_per_day": sensitization})
    frame.to_parquet(path, index=False)
    return path


def test_each_cohort_is_simulated_under_its_own_draw(tmp_path, monkeypatch):
    monkeypatch.setattr(rb, "VALIDATION", tmp_path / "validation")
    # two draws that give very different pain: no sensitization at all, and the prior's top
    draws = _draws_file(tmp_path / "draws.parquet", [0.0, 5.0])
    out = tmp_path / "runs"
    argv = ["--cohorts", "2", "--sizes", "3", "--days", "10", "--workers", "0", "--out", str(out)]
    argv += ["--bootstrap", "100", "--posterior", str(draws)]
    result = rb.main(argv)
    post = result["posterior"]
    folder = out / f"seed31337-posterior-{post.sha256[:12]}"
    assert result["out"] == folder
    assert [c["draw"] for c in result["plan"]] == rb.cohort_draws(31337, 3, 2, 2)
    assert sorted(result["cohorts"]["draw"]) == [0, 1]
    per = pd.read_csv(folder / "robustness_posterior_cohorts.csv")
    assert set(per["draw"]) == {0, 1}
    assert not (folder / rb.MD).exists() and (folder / "robustness_posterior.csv").is_file()
    md = (folder / "robustness_posterior.md").read_text()
    assert "one posterior draw per cohort" in md and post.sha256[:12] in md

    # every patient of a cohort is the patient of a plain cohort run over the scenario under that draw
    scen = load_scenario(rb.SCENARIO)
    pain = {}
    for c in result["plan"]:
        ref = tmp_path / f"ref-{c['cohort']}"
        rb.run_cohort(post.scenario_for(scen, c["draw"]), ref, patients=3, days=10, root_seed=c["root_seed"], workers=0)
        got = rb.load_cohort(folder / c["key"]).patients.sort_values("patient").reset_index(drop=True)
        want = rb.load_cohort(ref).patients.sort_values("patient").reset_index(drop=True)
        pd.testing.assert_series_equal(got["pain_vas_sample"], want["pain_vas_sample"])
        pain[c["draw"]] = got["pain_vas_sample"].mean()
    assert pain[1] > pain[0] + 5  # the draws did reach the patients

    # a second run reuses every patient (same folder, same tables)
    again = rb.main(argv)
    assert again["cohorts"]["n_computed"].sum() == 0
    pd.testing.assert_frame_equal(result["per_cohort"], again["per_cohort"])


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "file not found"),
        (b"not parquet", "not a readable Parquet file"),
        ("bad-path", "parameters.pain.no_such_parameter"),
        ("few", "at least as many posterior draws"),
    ],
)
def test_a_bad_posterior_file_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, content, message):
    path = tmp_path / "draws.parquet"
    if content == "bad-path":
        pd.DataFrame({"draw": [0, 1, 2], "parameters.pain.no_such_parameter": [1.0, 2.0, 3.0]}).to_parquet(path)
    elif content == "few":
        _draws_file(path, [1.0])
    elif content is not None:
        path.write_bytes(content)
    out = tmp_path / "runs"
    argv = ["--cohorts", "2", "--sizes", "3", "--days", "10", "--workers", "0", "--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        rb.main([*argv, "--posterior", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("robustness.py: error: --posterior") and len(err.splitlines()) == 1
    assert not out.exists()
