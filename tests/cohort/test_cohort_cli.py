"""`discsim cohort` end to end: columns, reproducibility across N and workers, resume, plots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.model import OBSERVABLES

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]

PATIENT_COLUMNS = [
    "patient",
    "seed",
    "status",
    "error",
    "herniation_type",
    "herniation_volume_mm3",
    "rim_exposure",
    "inflammatory_propensity",
    "ifng_pg_ml",
    "il4_pg_ml",
    "il10_background_pg_ml",
    "nerve_sensitivity",
    "disc_cell_activity",
    "breach",
    "sample_day",
    "pain_vas_sample",
    "tnf_sample",
    "il1b_sample",
    "il6_sample",
    "il8_sample",
    "il10_sample",
    "tgfb_sample",
    "cd68_per_cm2_sample",
    "m1_fraction_sample",
    "ifng_sample",
    "il4_sample",
    "volume_fraction_sample",
    "pain_vas_d14",
    "volume_fraction_d365",
    "volume_fraction_end",
    "peak_m1",
    "peak_m2",
]


def _cohort(args, ok=(0,)):
    res = runner.invoke(app, ["cohort", *map(str, args)])
    assert res.exit_code in ok, res.output
    return res


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """A 6-patient cohort on 2 local worker processes (reference for the other tests)."""
    from cohort_helpers import SMALL_COHORT

    d = tmp_path_factory.mktemp("cohort")
    scen = d / "small_cohort.toml"
    scen.write_text(SMALL_COHORT, encoding="utf-8")
    out = d / "full"
    _cohort([scen, "--patients", 6, "--out", out, "--workers", 2, "--no-plot"])
    return scen, out


def _frames(out: Path):
    return pd.read_parquet(out / "patients.parquet"), pd.read_parquet(out / "trajectories.parquet")


def test_cohort_outputs_documented_columns(full_run):
    scen, out = full_run
    patients, traj = _frames(out)
    assert set(PATIENT_COLUMNS) <= set(patients.columns), set(PATIENT_COLUMNS) - set(patients.columns)
    assert patients["patient"].tolist() == list(range(6))
    assert (patients["status"] == "ok").all()
    assert set(patients["herniation_type"]) <= {"protrusion", "sequestration"}
    assert patients["sample_day"].between(5, 15).all()
    assert patients["pain_vas_sample"].between(0, 100).all()
    assert (patients["ifng_sample"] == patients["ifng_pg_ml"]).all()
    # the sample is the trajectory at sample_day
    row = patients.iloc[2]
    t = traj[(traj["patient"] == 2) & (traj["day"] == row["sample_day"])].iloc[0]
    assert row["tnf_sample"] == t["tnf_fragment_pg_ml"] and row["pain_vas_sample"] == t["pain_vas"]
    assert list(traj.columns) == ["patient", "seed", *OBSERVABLES]
    assert len(traj) == 6 * 21
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "cohort" and manifest["n_patients"] == 6 and manifest["root_seed"] == 123
    assert manifest["seeds"] == patients["seed"].tolist()
    assert manifest["scenario"]["cohort"]["patients"] == 6 and "packages" in manifest
    assert len(list((out / "parts").glob("patient-*.parquet"))) == 6


def test_patient_k_is_the_same_whatever_n_and_workers(full_run, tmp_path):
    scen, out = full_run
    _cohort([scen, "--patients", 3, "--out", tmp_path / "few", "--workers", 0, "--no-plot"])
    p6, t6 = _frames(out)
    p3, t3 = _frames(tmp_path / "few")
    pd.testing.assert_frame_equal(p3, p6.iloc[:3].reset_index(drop=True), check_exact=True)
    pd.testing.assert_frame_equal(t3, t6[t6["patient"] < 3].reset_index(drop=True), check_exact=True)


def test_resume_after_lost_parts_is_identical(full_run, tmp_path):
    import shutil

    scen, out = full_run
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    for k in (1, 4):
        (resumed / "parts" / f"patient-{k:06d}.parquet").unlink()
    (resumed / "patients.parquet").unlink()
    (resumed / "trajectories.parquet").unlink()
    res = _cohort([scen, "--patients", 6, "--out", resumed, "--workers", 2, "--no-plot"])
    manifest = json.loads((resumed / "manifest.json").read_text())
    assert manifest["n_computed"] == 2 and manifest["n_reused"] == 4, res.output
    for name in ("patients.parquet", "trajectories.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(resumed / name), pd.read_parquet(out / name), check_exact=True)
        assert (resumed / name).read_bytes() == (out / name).read_bytes()


def test_interrupted_cohort_resumes_to_identical_results(full_run, tmp_path):
    """Ctrl-C a real `discsim cohort` process mid-run, rerun it, compare with the uninterrupted run."""
    scen, out = full_run
    target = tmp_path / "interrupted"
    cmd = [
        str(Path(sys.executable).parent / "discsim"),
        "cohort",
        str(scen),
        "--patients",
        "6",
        "--out",
        str(target),
        "--workers",
        "1",
        "--no-plot",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    parts = target / "parts"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(parts.glob("patient-*.parquet"))) >= 2:
            break
        time.sleep(0.05)
    interrupted = proc.poll() is None
    if interrupted:
        os.killpg(proc.pid, signal.SIGINT)  # like Ctrl-C in a terminal: the whole process group
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    n_before = len(list(parts.glob("patient-*.parquet")))
    assert n_before >= 1
    if interrupted:
        assert n_before < 6 or not (target / "patients.parquet").exists()
    _cohort([scen, "--patients", 6, "--out", target, "--workers", 2, "--no-plot"])
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["n_reused"] == n_before
    for name in ("patients.parquet", "trajectories.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(target / name), pd.read_parquet(out / name), check_exact=True)


def test_cohort_plots_png_and_svg(full_run, tmp_path):
    import shutil

    _, out = full_run
    d = tmp_path / "plots"
    shutil.copytree(out, d)
    res = runner.invoke(app, ["plot", str(d)])
    assert res.exit_code == 0, res.output
    for name in ("cohort_pain", "cohort_course", "cohort_sample"):
        assert (d / f"{name}.png").stat().st_size > 10_000
    res = runner.invoke(app, ["plot", str(d), "--format", "svg"])
    assert res.exit_code == 0, res.output
    assert (d / "cohort_pain.svg").read_text().lstrip().startswith("<?xml")


def test_cohort_bad_inputs_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[cohort]\npatients = -1\n[cohort.patient]\nifng_pg_ml = { dist = "uniform", low = 5, high = 1 }\n')
    res = runner.invoke(app, ["cohort", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "cohort.patients" in res.output and "cohort.patient.ifng_pg_ml" in res.output
    assert not (tmp_path / "o").exists()
    good = tmp_path / "good.toml"
    good.write_text("[cohort]\npatients = 2\n")
    res = runner.invoke(app, ["cohort", str(good), "--workers", "2", "--scheduler", "tcp://x:1"])
    assert res.exit_code == 2 and "not both" in res.output
