"""`discsim trial` end to end on a small trial: tables, common random numbers, resume identity, figures."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from trial_helpers import write_trial
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort.trial import ARMS, EFFECTS, OUTCOMES, SCREENING
from sim.model import OBSERVABLES

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
TABLES = (SCREENING, ARMS, OUTCOMES, EFFECTS)


def _trial(args, ok=(0,)):
    res = runner.invoke(app, ["trial", *map(str, args)])
    assert res.exit_code in ok, res.output
    return res


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One uninterrupted trial (5 patients screened, 3 arms), run in this process."""
    d = tmp_path_factory.mktemp("trial")
    path = write_trial(d, patients=5)
    out = d / "full"
    res = _trial([path, "-o", out, "-j", "0"])
    return path, out, res.output


def test_outputs(full_run):
    path, out, output = full_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "trial" and manifest["arms"] == ["control", "surgery", "anti_tnf"]
    n = manifest["n_enrolled"]
    assert n >= 2 and manifest["n_failed"] == 0
    arms = pd.read_parquet(out / ARMS)
    assert len(arms) == n * 3 * 4  # patients × arms × (entry + 3 visits)
    assert {"patient", "seed", "arm", "entry_day", "visit_day", "surgery", *OBSERVABLES} <= set(arms.columns)
    outcomes = pd.read_parquet(out / OUTCOMES)
    assert len(outcomes) == 3 * n
    surg = outcomes.groupby("arm")["surgery"].mean()
    assert surg["surgery"] == 1.0 and surg["control"] == 0.0
    assert (outcomes.loc[outcomes["arm"] == "surgery", "surgery_day_after_entry"] == 0).all()
    assert (outcomes.loc[outcomes["arm"] == "surgery", "volume_fraction_mri"] == 0).all()
    eff = pd.read_parquet(out / EFFECTS)
    overall = eff[eff["subgroup"] == "all"]
    for measure in ("vas", "vas_window", "hazard_ratio_recovery", "median_recovery_days", "responder", "surgery"):
        assert measure in set(overall["measure"]), measure
    assert set(eff["subgroup"]) == {"all", "patient.herniation_type", "entry.m1_fraction"}
    entry_rows = overall[(overall["measure"] == "vas") & (overall["label"] == "day 0")]
    assert (entry_rows["effect"] == 0).all()  # identical patients at entry
    short = overall[
        (overall["measure"] == "vas_window") & (overall["label"] == "short") & (overall["arm"] == "surgery")
    ]
    assert short["effect_ci_high"].iloc[0] < 0  # removing the fragment relieves the pain
    for name in ("pain.png", "recovery.png", "forest-surgery.png", "forest-anti_tnf.png"):
        assert (out / name).stat().st_size > 10_000, name
    assert "surgery vs control" in output and "hazard ratio of recovery" in output


def test_arms_are_identical_up_to_entry_for_every_patient(full_run):
    """Common random numbers: same draw and seed; arms differ only from entry on."""
    _, out, _ = full_run
    screening = pd.read_parquet(out / SCREENING).set_index("patient")
    cols = [c for c in OBSERVABLES if c != "day"]
    for k in screening.index[screening["enrolled"]]:
        frames = [
            pd.read_parquet(out / "parts" / f"arm-{a}-patient-{k:06d}.parquet")
            for a in ("control", "surgery", "anti_tnf")
        ]
        entry = int(screening.at[k, "entry_day"])
        assert len({int(f["seed"].iloc[0]) for f in frames}) == 1
        before = [f[f["day"] <= entry][["day", *cols]].reset_index(drop=True) for f in frames]
        for b in before[1:]:
            pd.testing.assert_frame_equal(before[0], b, check_exact=True)
        at_entry = before[0].iloc[-1]
        for c in cols:  # the screening run saw the same patient on the entry day
            assert at_entry[c] == screening.at[k, f"entry_{c}"] or (
                pd.isna(at_entry[c]) and pd.isna(screening.at[k, f"entry_{c}"])
            )
        after = [f[f["day"] == entry + 1]["pain_vas"].iloc[0] for f in frames]
        assert after[1] < after[0]  # surgery at entry changes the course from the next day


def _finished_parts(out):
    """Parts written in full: a write killed mid-way leaves a hidden ``.<name>.*.tmp.parquet`` that is no part."""
    d = out / "parts"
    return [p for p in d.glob("*.parquet") if not p.name.startswith(".")] if d.is_dir() else []


def test_interrupted_trial_resumes_to_identical_tables(full_run, tmp_path):
    path, full, _ = full_run
    out = tmp_path / "resumed"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "trial", str(path), "-o", str(out), "-j", "2", "--no-plot"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            parts = _finished_parts(out)
            if len(parts) >= 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the trial produced no part in time")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    n_parts = len(_finished_parts(out))
    assert n_parts < 15 and not (out / "manifest.json").exists()  # it was interrupted mid-run
    res = _trial([path, "-o", out, "-j", "0", "--no-plot"])
    m = json.loads((out / "manifest.json").read_text())
    assert m["n_reused"] >= n_parts >= 2
    for name in TABLES:
        pd.testing.assert_frame_equal(pd.read_parquet(out / name), pd.read_parquet(full / name), check_exact=True)
        assert (out / name).read_bytes() == (full / name).read_bytes(), name
    assert "reused" in res.output


def test_rerun_after_lost_parts_recomputes_only_those(full_run, tmp_path):
    _, full, _ = full_run
    out = tmp_path / "copy"
    shutil.copytree(full, out)
    lost = sorted((out / "parts").glob("arm-surgery-*.parquet"))
    for p in lost:
        p.unlink()
    for name in TABLES:
        (out / name).unlink()
    path = full.parent / "trial.toml"
    _trial([path, "-o", out, "-j", "0", "--no-plot"])
    m = json.loads((out / "manifest.json").read_text())
    assert m["n_computed"] == len(lost)
    for name in TABLES:
        assert (out / name).read_bytes() == (full / name).read_bytes(), name


def test_plot_command_redraws_a_trial(full_run, tmp_path):
    _, full, _ = full_run
    out = tmp_path / "plots"
    shutil.copytree(full, out)
    res = runner.invoke(app, ["plot", str(out), "--format", "svg"])
    assert res.exit_code == 0, res.output
    assert (out / "forest-surgery.svg").is_file() and (out / "recovery.svg").is_file()


def test_out_dir_of_another_kind_is_refused(full_run, tmp_path):
    path, _, _ = full_run
    other = tmp_path / "cohort_out"
    other.mkdir()
    (other / ".discsim").write_text('{"kind": "cohort", "program": "discsim"}')
    res = _trial([path, "-o", other, "-j", "0"], ok=(2,))
    assert "holds a discsim cohort output" in res.output
