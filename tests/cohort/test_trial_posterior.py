"""`discsim trial --posterior`: each patient screened and simulated in every arm under one posterior draw.

A trial of 3 patients × 2 arms × (entry ≤ day 8 + 8 days of follow-up) on a coarse grid, in this process (`-j 0`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort.draw import draw_patient
from sim.cohort.posterior import load_posterior, posterior_draw_index
from sim.cohort.trial import (
    ARMS,
    EFFECTS,
    OUTCOMES,
    PART_FORMAT,
    SCREENING,
    _screening_fingerprint,
    arm_scenario,
    patient_draw,
)
from sim.cohort.trial_spec import ENTRY_STREAM, load_trial
from sim.io.store import read_parquet_metadata
from sim.model import OBSERVABLES

runner = CliRunner()
ROOT_SEED = 321
N = 3
SENS = "parameters.pain.sensitization_per_day"
TABLES = (SCREENING, ARMS, OUTCOMES, EFFECTS)
#: columns a posterior adds to screening.parquet and outcomes.parquet
POSTERIOR_COLUMNS = ["posterior_draw", SENS]

POPULATION = """
name = "trial_population"
[simulation]
days = 30
seed = 1
snapshot_every_days = 0
[geometry]
dx_um = 500
[cohort]
patients = 6
seed = 321
[cohort.patient]
herniation_type = { dist = "categorical", weights = { protrusion = 1, sequestration = 1 } }
herniation_volume_mm3 = { dist = "lognormal", median = 400, gsd = 1.8, low = 100, high = 2000 }
nerve_sensitivity = { dist = "loguniform", low = 0.5, high = 2 }
"""

TRIAL = f"""
name = "posterior_trial"
reference = "control"
follow_up_days = 8
visits_days = [4, 8]
[population]
scenario = "population.toml"
patients = {N}
[entry]
window_days = [6, 8]
vas_at_least = 0.0
[recovery]
vas_at_most = 40
[responder]
drop_fraction_at_least = 0.3
visit_day = 4
[windows]
short = [1, 4]
medium = [5, 6]
long = [7, 8]
[[arm]]
name = "control"
[[arm]]
name = "surgery"
treatment = [{{ kind = "discectomy", start_day = "entry" }}]
"""


def _draws(path: Path, values: list[float]) -> Path:
    pq.write_table(pa.table({"draw": pa.array(range(len(values)), pa.int64()), SENS: values}), path)
    return path


def _trial(args, ok=(0,)):
    res = runner.invoke(app, ["trial", *map(str, args)])
    assert res.exit_code in ok, res.output
    return res


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The trial file, two draws files, and a run without a posterior and one with draws A."""
    d = tmp_path_factory.mktemp("trial_posterior")
    (d / "population.toml").write_text(POPULATION, encoding="utf-8")
    path = d / "trial.toml"
    path.write_text(TRIAL, encoding="utf-8")
    base = load_trial(path).population.parameters.pain.sensitization_per_day
    a = _draws(d / "a.parquet", [0.4 * base, 0.7 * base, 1.4 * base, 2.0 * base])
    b = _draws(d / "b.parquet", [0.5 * base, 1.7 * base, 2.5 * base])
    _trial([path, "-o", d / "plain", "-j", "0", "--no-plot"])
    res = _trial([path, "-o", d / "a", "-j", "0", "--no-plot", "--posterior", a])
    return {"dir": d, "path": path, "base": base, "a": a, "b": b, "plain": d / "plain", "out_a": d / "a", "res": res}


def test_each_patients_draw_is_recorded_and_the_same_in_screening_and_every_arm(runs):
    out, a = runs["out_a"], load_posterior(runs["a"])
    screening = pd.read_parquet(out / SCREENING).set_index("patient")
    assert len(screening) == N
    expected = {k: posterior_draw_index(ROOT_SEED, k, a.n_draws) for k in range(N)}
    assert len(set(expected.values())) > 1  # the test sees patients under different draws
    assert screening["posterior_draw"].to_dict() == expected
    assert screening["posterior_draw"].dtype == "int64"
    for k, d in expected.items():
        assert screening.at[k, SENS] == a.values[d, 0]
    outcomes = pd.read_parquet(out / OUTCOMES)
    assert len(outcomes) == 2 * N
    per_patient = outcomes.groupby("patient")["posterior_draw"].agg(["min", "max"])
    assert (per_patient["min"] == per_patient["max"]).all()  # one draw per patient, the same in every arm
    assert per_patient["min"].to_dict() == expected
    assert outcomes.groupby("patient")[SENS].nunique().eq(1).all()
    m = _manifest(out)
    assert m["posterior"]["sha256"] == hashlib.sha256(runs["a"].read_bytes()).hexdigest()
    assert m["posterior"]["file"] == str(runs["a"]) and m["posterior"]["n_draws"] == a.n_draws
    assert {int(k): v for k, v in m["posterior_draws"].items()} == expected
    assert "include parameter uncertainty" in m["intervals"] and "not include" not in m["intervals"]
    assert "include parameter uncertainty" in runs["res"].output
    assert read_parquet_metadata(out / SCREENING)["posterior"]["sha256"] == a.sha256


def test_arms_equal_the_screening_run_up_to_entry_under_the_draw(runs):
    """Common random numbers kept: the same patient and draw in screening and both arms, up to the entry day."""
    out = runs["out_a"]
    screening = pd.read_parquet(out / SCREENING).set_index("patient")
    cols = [c for c in OBSERVABLES if c != "day"]
    for k in range(N):
        entry = int(screening.at[k, "entry_day"])
        frames = [
            pd.read_parquet(out / "parts" / f"arm-{arm}-patient-{k:06d}.parquet") for arm in ("control", "surgery")
        ]
        before = [f[f["day"] <= entry][["day", *cols]].reset_index(drop=True) for f in frames]
        pd.testing.assert_frame_equal(before[0], before[1], check_exact=True)
        at_entry = before[0].iloc[-1]
        for c in cols:
            assert at_entry[c] == screening.at[k, f"entry_{c}"] or (
                pd.isna(at_entry[c]) and pd.isna(screening.at[k, f"entry_{c}"])
            )


def test_a_patients_arm_scenario_carries_its_draw(runs):
    trial = load_trial(runs["path"])
    post = load_posterior(runs["a"])
    with_post = trial.with_posterior(post)
    for k in range(N):
        d = posterior_draw_index(ROOT_SEED, k, post.n_draws)
        assert with_post.posterior_draw(k) == d and trial.posterior_draw(k) is None
        vp, entry = patient_draw(with_post, k)
        vp0, entry0 = patient_draw(trial, k)
        assert entry == entry0 and vp.seed == vp0.seed and vp.effects == vp0.effects  # the same patient
        assert vp0.scenario.parameters.pain.sensitization_per_day == runs["base"]
        for i in range(2):
            scen = arm_scenario(with_post, vp, entry, i)
            assert scen.parameters.pain.sensitization_per_day == post.values[d, 0]
            assert scen.simulation.seed == vp0.seed
        # patient_draw without a posterior is the cohort's patient k, as before
        plain = draw_patient(trial.population, k, root=ROOT_SEED, days=trial.days_for(entry0))
        assert plain.scenario == vp0.scenario


def test_without_posterior_nothing_changes(runs, tmp_path):
    """No posterior columns or fingerprint term without --posterior; a posterior whose every draw is the population's
    own value gives the same parts (all reused) and the same values as the run without."""
    plain = runs["plain"]
    trial = load_trial(runs["path"])
    for name in (SCREENING, OUTCOMES):
        assert not set(POSTERIOR_COLUMNS) & set(pd.read_parquet(plain / name).columns), name
    assert _manifest(plain)["posterior"] is None and "posterior_draws" not in _manifest(plain)
    assert "not include parameter uncertainty" in _manifest(plain)["intervals"]
    # the screening fingerprint of a trial without a posterior is the one from before --posterior existed
    h = hashlib.sha256(trial.population.model_dump_json().encode())
    h.update(repr((trial.root_seed, trial.window, trial.spec.follow_up_days, ENTRY_STREAM, PART_FORMAT)).encode())
    assert (
        read_parquet_metadata(plain / SCREENING)["fingerprint"] == h.hexdigest()[:24] == _screening_fingerprint(trial)
    )

    same = _draws(tmp_path / "same.parquet", [runs["base"]] * 3)
    out = tmp_path / "same"
    shutil.copytree(plain, out)
    _trial([runs["path"], "-o", out, "-j", "0", "--no-plot", "--posterior", same])
    m = _manifest(out)
    assert m["n_reused"] == m["n_runs"] == 2 * N  # identical scenarios: identical part fingerprints
    for name in TABLES:
        got = pd.read_parquet(out / name)
        got = got.drop(columns=[c for c in POSTERIOR_COLUMNS if c in got.columns])
        pd.testing.assert_frame_equal(got, pd.read_parquet(plain / name), check_exact=True)


@pytest.mark.parametrize("kind", ["missing", "junk", "unknown_path", "invalid_value"])
def test_a_bad_posterior_file_exits_2_before_anything_is_written(runs, tmp_path, kind):
    bad = tmp_path / f"{kind}.parquet"
    if kind == "junk":
        bad.write_bytes(b"not parquet at all")
    elif kind == "unknown_path":
        pq.write_table(pa.table({"draw": pa.array([0], pa.int64()), "parameters.pain.no_such_rate": [1.0]}), bad)
    elif kind == "invalid_value":
        _draws(bad, [runs["base"], -1.0])
    out = tmp_path / "out" / "trial"
    res = _trial([runs["path"], "-o", out, "-j", "0", "--no-plot", "--posterior", bad], ok=(2,))
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and bad.name in lines[0], res.output
    assert {"missing": "not found", "junk": "Parquet", "unknown_path": "no_such_rate", "invalid_value": "draw 1"}[
        kind
    ] in lines[0]
    assert not (tmp_path / "out").exists()


def test_rerun_resumes_and_another_posterior_recomputes(runs, tmp_path):
    path, full = runs["path"], runs["out_a"]
    out = tmp_path / "rerun"
    shutil.copytree(full, out)
    for name in TABLES:
        (out / name).unlink()
    _trial([path, "-o", out, "-j", "0", "--no-plot", "--posterior", runs["a"]])
    m = _manifest(out)
    assert m["n_reused"] == m["n_runs"] and m["n_computed"] == 0
    for name in TABLES:
        assert (out / name).read_bytes() == (full / name).read_bytes(), name

    # another draws file into the same folder: screening and every changed part are recomputed, not reused
    res = _trial([path, "-o", out, "-j", "0", "--no-plot", "--posterior", runs["b"]])
    assert "holds a trial run with --posterior" in " ".join(res.output.split())
    m = _manifest(out)
    assert m["posterior"]["sha256"] == load_posterior(runs["b"]).sha256
    assert m["n_computed"] == m["n_runs"]  # no value of B is one of A's: every patient's scenario changed
    fresh = tmp_path / "fresh_b"
    _trial([path, "-o", fresh, "-j", "0", "--no-plot", "--posterior", runs["b"]])
    for name in TABLES:
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name
    a_scr = pd.read_parquet(full / SCREENING)
    b_scr = pd.read_parquet(out / SCREENING)
    assert (a_scr[SENS] != b_scr[SENS]).all()
    assert not a_scr["entry_pain_vas"].equals(b_scr["entry_pain_vas"])  # screened again under B's draws
    assert (
        read_parquet_metadata(out / SCREENING)["fingerprint"] != read_parquet_metadata(full / SCREENING)["fingerprint"]
    )


def test_a_calibrations_surgery_threshold_is_ignored_where_the_arms_bring_the_surgery(runs, tmp_path):
    """A calibration's draws include the usual-care surgery threshold (``cohort.surgery.vas_at_least``); in a trial
    the arms replace that rule, so the column is ignored (said, and recorded), not an error. A file holding only
    that column leaves nothing to vary: exit 2, one line, nothing written."""
    (tmp_path / "population.toml").write_text(POPULATION + "[cohort.surgery]\nvas_at_least = 70\n", encoding="utf-8")
    path = tmp_path / "trial.toml"
    path.write_text(TRIAL, encoding="utf-8")
    assert load_trial(path).population.cohort.surgery is None  # the arms' protocol replaces usual care
    base = runs["base"]
    draws = tmp_path / "calibration_draws.parquet"
    pq.write_table(
        pa.table(
            {
                "draw": pa.array(range(3), pa.int64()),
                SENS: [0.5 * base, base, 1.5 * base],
                "cohort.surgery.vas_at_least": [60.0, 70.0, 80.0],
            }
        ),
        draws,
    )
    out = tmp_path / "out"
    res = _trial([path, "-o", out, "-j", "0", "--no-plot", "--posterior", draws])
    assert "ignoring cohort.surgery.vas_at_least" in " ".join(res.output.split())
    post = _manifest(out)["posterior"]
    assert post["columns"] == [SENS] and post["ignored_columns"] == ["cohort.surgery.vas_at_least"]
    scr = pd.read_parquet(out / SCREENING)
    assert SENS in scr.columns and "cohort.surgery.vas_at_least" not in scr.columns

    only = tmp_path / "only_surgery.parquet"
    pq.write_table(pa.table({"draw": pa.array([0], pa.int64()), "cohort.surgery.vas_at_least": [70.0]}), only)
    res = _trial([path, "-o", tmp_path / "none" / "x", "-j", "0", "--no-plot", "--posterior", only], ok=(2,))
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "no column is left" in lines[0], res.output
    assert not (tmp_path / "none").exists()


def test_the_plots_of_a_run_with_draws_say_so_in_their_titles(runs, monkeypatch):
    """Two folders, one run at the point and one under posterior draws, must not look the same at a glance."""
    from sim.plots import trial as trial_plots

    titles: dict[str, list[str]] = {}

    def record(fig, path, **_):
        titles[Path(path).name] = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]

    monkeypatch.setattr(trial_plots, "save_figure", record)
    for run in ("plain", "out_a"):
        titles.clear()
        trial_plots.plot_trial_dir(runs[run])
        assert {"pain.png", "recovery.png"} <= set(titles)
        for name, texts in titles.items():
            says = any("posterior draws" in t for t in texts)
            assert says == (run == "out_a"), (run, name, texts)
            if says:
                assert any("each patient under one of 4 posterior draws" in t for t in texts)
