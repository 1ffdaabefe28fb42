"""`discsim sweep`: designs, validation, tidy outputs, plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort.sweep import LatinHypercube, Sobol, design_points, load_sweep

runner = CliRunner()
DATA = Path(__file__).resolve().parents[1] / "data" / "cohort"


@pytest.fixture(scope="module")
def factorial_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "factorial"
    res = runner.invoke(
        app, ["sweep", str(DATA / "sweep_factorial.toml"), "--out", str(out), "--workers", "2", "--no-plot"]
    )
    assert res.exit_code == 0, res.output
    return out


def test_factorial_sweep_outputs(factorial_run):
    out = factorial_run
    gain, kind = "parameters.pain.il10_resolution_gain", "patient.herniation_type"
    points = pd.read_parquet(out / "points.parquet")
    assert len(points) == 4
    assert sorted(zip(points[gain], points[kind])) == [
        (0.0, "protrusion"),
        (0.0, "sequestration"),
        (8.0, "protrusion"),
        (8.0, "sequestration"),
    ]
    assert (points["n_ok"] == 2).all()
    for col in (
        "pain_vas_d14_mean",
        "pain_vas_d14_sd",
        "pain_vas_d14_q50",
        "volume_fraction_end_q95",
        "peak_m1_mean",
        "peak_m2_mean",
    ):
        assert col in points and points[col].notna().all(), col
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs.columns[:5]) == ["point", "replicate", "seed", gain, kind]
    assert len(runs) == 4 * 2 * 21
    outcomes = pd.read_parquet(out / "outcomes.parquet")
    assert len(outcomes) == 8 and (outcomes["status"] == "ok").all()
    # common random numbers: replicate r has the same seed at every point
    seeds = outcomes.pivot(index="point", columns="replicate", values="seed")
    assert (seeds.nunique(axis=0) == 1).all() and seeds.iloc[0].nunique() == 2
    # the swept type is what ran: sequestrations resorb more than protrusions
    end = outcomes.groupby(kind)["volume_fraction_end"].mean()
    assert end["sequestration"] < end["protrusion"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "sweep" and manifest["n_runs"] == 8 and manifest["parameters"] == [gain, kind]
    assert len(list((out / "parts").glob("point-*.parquet"))) == 8


def test_sweep_plots_png_and_svg(factorial_run, tmp_path):
    import shutil

    d = tmp_path / "p"
    shutil.copytree(factorial_run, d)
    assert runner.invoke(app, ["plot", str(d)]).exit_code == 0
    for name in ("sweep_courses", "sweep_outcomes", "sweep_map"):
        assert (d / f"{name}.png").stat().st_size > 10_000
    assert runner.invoke(app, ["plot", str(d), "--format", "svg"]).exit_code == 0
    assert (d / "sweep_outcomes.svg").exists()


def test_lhs_sweep_runs_and_covers_the_ranges(tmp_path):
    out = tmp_path / "lhs"
    res = runner.invoke(app, ["sweep", str(DATA / "sweep_lhs.toml"), "--out", str(out), "--workers", "2"])
    assert res.exit_code == 0, res.output
    points = pd.read_parquet(out / "points.parquet")
    influx = "parameters.recruitment.monocyte_influx_per_site_per_day"
    assert len(points) == 5 and points[influx].between(0.2, 3.0).all()
    assert points["patient.nerve_sensitivity"].between(0.5, 2.0).all()
    assert (out / "sweep_map.png").exists() and (out / "sweep_outcomes.png").exists()


def test_designs_are_stratified_and_reproducible():
    lhs = LatinHypercube.model_validate(
        {
            "method": "lhs",
            "n": 8,
            "seed": 1,
            "parameters": {"a": {"low": 0, "high": 1}, "b": {"low": 1, "high": 100, "scale": "log"}},
        }
    )
    pts = design_points(lhs)
    assert pts == design_points(lhs)
    a = np.array([p["a"] for p in pts])
    assert sorted(np.floor(a * 8).astype(int)) == list(range(8))  # one point per stratum
    b = np.log10([p["b"] for p in pts]) / 2
    assert sorted(np.floor(b * 8).astype(int)) == list(range(8))
    sob = Sobol.model_validate({"method": "sobol", "n": 8, "seed": 2, "parameters": {"a": {"low": -1, "high": 1}}})
    vals = [p["a"] for p in design_points(sob)]
    assert len(set(vals)) == 8 and all(-1 <= v <= 1 for v in vals)


def test_bad_sweep_lists_every_problem_and_writes_nothing(tmp_path):
    out = tmp_path / "never"
    res = runner.invoke(app, ["sweep", str(DATA / "sweep_bad.toml"), "--out", str(out)])
    assert res.exit_code == 2
    for expected in (
        "replicates (line 4)",
        "colour (line 5)",
        "overrides.geometry.dx_mm (line 8)",
        "design.parameters.parameters.pain.tnf_wieght (line 14)",
        "unknown parameter path",
        "design.parameters.parameters.pain.il6_weight (line 15)",
    ):
        assert expected in res.output, (expected, res.output)
    assert not out.exists()


def test_sweep_values_rejected_by_the_scenario(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(
        f'base = "{DATA.parent.parent.parent / "scenarios" / "default.toml"}"\n'
        '[design]\nmethod = "factorial"\n[design.parameters]\n'
        '"parameters.pain.tnf_weight" = [1.0, -2.0]\n"patient.herniation_type" = ["protrusion", "hernia"]\n'
        '"cohort.patients" = [3]\n'
    )
    with pytest.raises(Exception) as err:
        load_sweep(f)
    text = str(err.value)
    assert "parameters.pain.tnf_weight (line 5)" in text and "-2" in text
    assert "patient.herniation_type (line 6)" in text and "hernia" in text
    assert "no [cohort] section" in text
    missing = tmp_path / "m.toml"
    missing.write_text('base = "nope.toml"\n[design]\nmethod = "factorial"\n[design.parameters]\n"a.b" = [1]\n')
    res = runner.invoke(app, ["sweep", str(missing)])
    assert res.exit_code == 2 and "base scenario 'nope.toml' not found" in res.output
