"""pyabc ABC-SMC end-to-end with a tiny budget (real pyabc, real model, no mocks), resume, and the distance."""

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyabc")

from sim.calibration.abc import (  # noqa: E402
    NAN_PENALTY,
    AbcSettings,
    CalibrationError,
    TargetDistance,
    read_calibrated,
    run_abc,
)
from sim.calibration.targets import calibrated_parameters, load_targets  # noqa: E402
from sim.scenario import Scenario, with_overrides  # noqa: E402

PARAMS = ["parameters.pain.compression_weight", "parameters.pain.resolution_per_day"]


def test_target_distance():
    spec = pd.DataFrame(
        [
            {"stat_key": "a", "target_id": "A", "value": 10.0, "lo": 8.0, "hi": 12.0, "scale": 2.0, "kind": "value"},
            {
                "stat_key": "b[1]",
                "target_id": "B",
                "value": 1.0,
                "lo": 0.1,
                "hi": 1.0,
                "scale": 0.2,
                "kind": "interval",
            },
            {
                "stat_key": "b[2]",
                "target_id": "B",
                "value": 1.0,
                "lo": 0.1,
                "hi": 1.0,
                "scale": 0.2,
                "kind": "interval",
            },
        ]
    )
    d = TargetDistance(spec)
    assert d({"a": 10.0, "b[1]": 0.5, "b[2]": 0.9}) == 0.0
    # a: z = 1 ; b: z = (0.1 - (-0.1)) / 0.2 = 1 for one of two items -> mean z² = 0.5
    assert d({"a": 12.0, "b[1]": -0.1, "b[2]": 0.5}) == pytest.approx(math.sqrt((1.0 + 0.5) / 2))
    assert d({"a": math.nan, "b[1]": 0.5, "b[2]": 0.5}) == pytest.approx(math.sqrt(NAN_PENALTY**2 / 2))
    # weights per target id: A counts 3 times as much as B
    w = TargetDistance(spec, {"A": 3.0})
    assert w({"a": 12.0, "b[1]": -0.1, "b[2]": 0.5}) == pytest.approx(math.sqrt((3 * 1.0 + 0.5) / 4))
    assert TargetDistance(spec, {"A": 0.0})({"a": 1e6, "b[1]": 0.5, "b[2]": 0.5}) == 0.0


def test_abc_tiny_end_to_end_and_resume(tmp_path):
    scen = with_overrides(Scenario(name="coarse"), {"geometry.dx_um": 500.0})
    settings = AbcSettings(params=PARAMS, patients=3, days=20, population_size=6, populations=1, seed=1)
    out = tmp_path / "abc"
    r1 = run_abc(scen, out, settings)
    assert r1.budget["populations"] == 1
    with pytest.raises(CalibrationError, match="--resume"):
        run_abc(scen, out, settings)
    # continue the stored run to 2 populations in total
    more = AbcSettings(params=PARAMS, populations=2)
    r2 = run_abc(None, out, more, resume=True)
    b = r2.budget
    assert b["populations"] == 2 and b["population_size"] == 6 and b["patients_per_simulation"] == 3
    assert b["simulated_patients"] == 3 * b["model_simulations"] >= 3 * 12
    assert b["wall_time_s"] >= r1.budget["wall_time_s"]
    post = pd.read_parquet(out / "posterior.parquet")
    assert len(post) == 6 and post["weight"].sum() == pytest.approx(1.0)
    priors = calibrated_parameters()  # the schema's x-prior ranges: the single source of ABC priors
    for p in PARAMS:
        assert post[p].between(priors[p].lo, priors[p].hi).all()
    cal = read_calibrated(out / "calibrated.toml")
    assert set(cal) == set(PARAMS)
    text = (out / "calibrated.toml").read_text()
    assert "# git:" in text and "# budget: 2 populations x 6 particles" in text
    with_overrides(scen, cal)  # the file applies to a scenario
    for f in (
        "report.md",
        "fig_targets.png",
        "fig_posterior.png",
        "fig_associations.png",
        "budget.json",
        "populations.parquet",
        "posterior_statistics.csv",
    ):
        assert (out / f).is_file(), f
    stats = pd.read_csv(out / "posterior_statistics.csv")
    assert np.isfinite(stats["sim_mean"]).any()
    assert not stats["stat_key"].str.startswith("regression_prob_").any()  # 20 days: unreachable, dropped
    # the same finished run, shipping the best particle instead of the mean (outputs rewritten, no simulation)
    r3 = run_abc(None, out, AbcSettings(populations=2), resume=True, point="best")
    assert r3.budget["model_simulations"] == b["model_simulations"]
    last = pd.read_parquet(out / "posterior.parquet")
    import pyabc

    pop = pyabc.History(f"sqlite:///{out / 'abc.db'}").get_population(t=1)
    best = min(pop.particles, key=lambda q: q.distance)
    assert r3.budget["best_particle_distance"] == pytest.approx(best.distance)
    cal_best = read_calibrated(out / "calibrated.toml")
    assert any(np.isclose(last[p], cal_best[p]).any() for p in PARAMS)  # a particle of the last population
    for p in PARAMS:
        assert cal_best[p] == pytest.approx(best.parameter[p.replace(".", "__")], rel=1e-5)  # written to 6 digits
    assert "--point best" in (out / "calibrated.toml").read_text()
    assert "Shipped point estimate: **best**" in (out / "report.md").read_text()
    with pytest.raises(CalibrationError, match="point"):
        run_abc(None, out, AbcSettings(populations=2), resume=True, point="median")


def test_calibrate_cli_bad_inputs_exit_2(tmp_path):
    from typer.testing import CliRunner

    from sim.cli import app

    r = CliRunner()
    assert r.invoke(app, ["calibrate", "--out", str(tmp_path / "x"), "--resume"]).exit_code == 2
    assert r.invoke(app, ["calibrate", "--out", str(tmp_path / "x")]).exit_code == 2  # no scenario
    assert r.invoke(app, ["calibrate", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "x")]).exit_code == 2


def test_weights_are_checked_and_recorded(tmp_path):
    from typer.testing import CliRunner

    from sim.cli import app

    scen = with_overrides(Scenario(name="coarse"), {"geometry.dx_um": 500.0})
    bad = AbcSettings(
        params=PARAMS,
        patients=2,
        days=20,
        population_size=2,
        populations=1,
        weights={"sciatica_trial_leg_vas_itt_typo": 2.0},
    )
    with pytest.raises(CalibrationError, match="sciatica_trial_leg_vas_itt_typo.*not a target"):
        run_abc(scen, tmp_path / "a", bad)
    assert not (tmp_path / "a").exists()  # nothing written
    neg = AbcSettings(
        params=PARAMS,
        patients=2,
        days=20,
        population_size=2,
        populations=1,
        weights={"mouse_puncture_macrophage_peak": -1.0},
    )
    with pytest.raises(CalibrationError, match="≥ 0"):
        run_abc(scen, tmp_path / "b", neg)
    r = CliRunner()
    res = r.invoke(app, ["calibrate", "scenarios/default.toml", "--out", str(tmp_path / "c"), "--weight", "abc"])
    assert res.exit_code == 2 and "TARGET_ID=NUMBER" in res.output
    ok = AbcSettings(
        params=PARAMS,
        patients=2,
        days=20,
        population_size=3,
        populations=1,
        seed=2,
        weights={"mouse_puncture_macrophage_peak": 2.5},
    )
    run_abc(scen, tmp_path / "d", ok)
    assert "mouse_puncture_macrophage_peak × 2.5" in (tmp_path / "d" / "report.md").read_text()


COHORT_SCENARIO = """
name = "coarse_cohort"
[simulation]
days = 12
[geometry]
dx_um = 500
[cohort]
sample_day = { dist = "uniform", low = 4, high = 8 }
[cohort.patient]
herniation_type = { dist = "categorical", weights = { protrusion = 1, sequestration = 1 } }
nerve_sensitivity = { dist = "lognormal", median = 1.0, gsd = 1.5 }
"""
SPREAD = "cohort.patient.nerve_sensitivity.gsd"


def test_cohort_spreads_are_calibrated_beside_model_parameters(tmp_path):
    """A cohort spread (no schema prior: an explicit range) is applied before the draw, so its value changes the
    patients; its calibrated value goes to cohort_calibrated.toml, not to the parameter set; a resume keeps the
    range."""
    from sim.calibration.abc import COHORT_FILE, CohortModel, abc_priors
    from sim.cohort.draw import draw_patient
    from sim.scenario import parse_scenario

    scen = parse_scenario(COHORT_SCENARIO)
    settings = AbcSettings(
        params=[PARAMS[0], SPREAD], ranges={SPREAD: [1.0, 2.5]}, patients=2, days=12, population_size=3, seed=3
    )
    settings.populations = 1
    priors = abc_priors(scen, settings)
    assert [(p.lo, p.hi, p.scale) for p in priors][1] == (1.0, 2.5, "linear") and priors[1].default == 1.5
    model = CohortModel(scen, priors, settings, [], load_targets())
    narrow, over = model.scenario_for({PARAMS[0].replace(".", "__"): 1.0, SPREAD.replace(".", "__"): 1.0})
    wide, _ = model.scenario_for({PARAMS[0].replace(".", "__"): 1.0, SPREAD.replace(".", "__"): 2.5})
    assert over == {PARAMS[0]: 1.0}  # the model parameter goes to the patients, the spread to the cohort
    assert {draw_patient(narrow, k).effects["nerve_sensitivity"] for k in range(4)} == {1.0}
    assert len({draw_patient(wide, k).effects["nerve_sensitivity"] for k in range(4)}) == 4

    out = tmp_path / "abc"
    run_abc(scen, out, settings)
    post = pd.read_parquet(out / "posterior.parquet")
    assert post[SPREAD].between(1.0, 2.5).all()
    assert set(read_calibrated(out / "calibrated.toml")) == {PARAMS[0]}
    spreads = read_calibrated(out / COHORT_FILE)
    assert set(spreads) == {SPREAD} and 1.0 <= spreads[SPREAD] <= 2.5
    with_overrides(scen, spreads)  # applies to the cohort scenario
    import json

    stored = json.loads((out / "abc_config.json").read_text())["settings"]
    assert AbcSettings(**stored).ranges == {SPREAD: [1.0, 2.5]}  # what --resume rebuilds the priors from


def test_cohort_spread_problems_are_named_before_anything_is_written(tmp_path):
    from typer.testing import CliRunner

    from sim.cli import app

    f = tmp_path / "cohort.toml"
    f.write_text(COHORT_SCENARIO)
    out = tmp_path / "out"
    r = CliRunner()
    for params, expected in (
        (SPREAD, "give its prior range as cohort.patient.nerve_sensitivity.gsd=LO:HI"),
        (f"{SPREAD}=2:1", "expected PATH=LO:HI with numbers LO < HI"),
        (f"{SPREAD}=0.5:2", "greater than or equal to 1"),
        ("cohort.patient.nope.gsd=1:2", "cohort.patient.nope.gsd: unknown parameter path"),
        (f"{PARAMS[0]},{PARAMS[0]}", "listed twice"),
    ):
        res = r.invoke(app, ["calibrate", str(f), "--out", str(out), "--params", params, "--days", "12"])
        assert res.exit_code == 2 and expected in res.output, (params, res.output)
        assert "Traceback" not in res.output and not out.exists()
    res = r.invoke(app, ["sensitivity", str(f), "--out", str(out), "--params", f"{SPREAD}=1:2"])
    assert res.exit_code == 2 and "not accepted here" in res.output and not out.exists()
