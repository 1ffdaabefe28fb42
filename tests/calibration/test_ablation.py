"""calibration/ablation.py: the diagnostic options (``--set``, ``--arms``), their bad input, and that a diagnostic
never writes over the shipped table."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "calibration" / "ablation.py"
_spec = importlib.util.spec_from_file_location("ablation", SCRIPT)
ab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab)


def test_set_values_are_parsed_as_toml():
    got = ab.parse_set(["parameters.pain.il1b_weight=0.5", " a.b = true ", 'c="x=y"', "d=3"])
    assert got == {"parameters.pain.il1b_weight": 0.5, "a.b": True, "c": "x=y", "d": 3}
    assert ab.parse_set([]) == {}


@pytest.mark.parametrize("item", ["nothing", "=1", "a.b=abc", "a.b="])
def test_a_malformed_set_is_refused(item):
    with pytest.raises(ValueError, match="--set"):
        ab.parse_set([item])


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--arms", "no_such_arm"], "unknown arm(s) no_such_arm"),
        (["--set", "parameters.pain.no_such_key=1"], "unknown parameter path"),
        (["--set", "parameters.pain.il1b_weight=-1"], "parameters.pain.il1b_weight"),
        (["--set", "parameters.pain.il1b_weight"], "expected KEY=VALUE"),
        (["--set", "parameters.pain.il1b_weight=nan"], "finite number"),
        (["--patients", "0"], "--patients: at least 1"),
        (["--days", "0"], "--days: 1-3650"),
        (["--days", "nan"], "--days: 1-3650"),
        (["--workers", "-1"], "--workers: at least 0"),
    ],
)
def test_bad_diagnostic_input_exits_2_with_a_message(tmp_path, args, message):
    res = _run(*args, "--out", str(tmp_path / "out"))
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_out_inside_the_repository_is_refused():
    res = _run("--out", str(ROOT / "runs" / "ablation-test"))
    assert res.returncode == 2 and "outside the repository" in res.stderr


def test_a_diagnostic_reports_into_out_and_leaves_the_shipped_table(tmp_path):
    shipped = ab.OUT_MD.read_bytes(), ab.OUT_MD.with_suffix(".csv").read_bytes()
    out = tmp_path / "diag"
    res = _run(
        "--arms", "depletion", "--patients", "3", "--days", "8",
        "--set", "parameters.recruitment.monocyte_influx_per_site_per_day=1.5", "--natural-history",
        "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (ab.OUT_MD.read_bytes(), ab.OUT_MD.with_suffix(".csv").read_bytes()) == shipped
    text = (out / "ablation.md").read_text()
    assert (
        "--set parameters.recruitment.monocyte_influx_per_site_per_day=1.5 --natural-history --arms depletion" in text
    )
    assert "| arm | median days to VAS < 20 | reached by the horizon | operated |" in text
    assert "| M1 share days 0-13 | M1 share weeks 6-12 |" in text and "| depletion |" in text
    depleted = [line for line in text.splitlines() if line.startswith("| depletion | ")][-1]  # the time table's row
    assert depleted.endswith("| – | – |")  # no macrophages, no share
    assert "Wall time per arm (" in text and "reused" not in text  # a fresh --out simulates every patient
    # --natural-history: the cohort's usual-care surgery is gone from every arm's resolved scenario
    for arm in ("baseline", "depletion"):
        manifest = json.loads((out / arm / "manifest.json").read_text())
        assert manifest["scenario"]["cohort"]["surgery"] is None
        assert manifest["scenario"]["parameters"]["recruitment"]["monocyte_influx_per_site_per_day"] == 1.5
    rows = pd.read_csv(out / "ablation.csv")
    assert set(rows["arm"]) == {"baseline", "depletion"}
    # only the arms asked for were simulated
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["baseline", "depletion"]


def test_the_timing_line_says_which_arms_were_reused_and_so_were_not_timed():
    fresh = ab.wall_line({"baseline": 301.4, "depletion": 288.0}, {"baseline": 0, "depletion": 0}, 200, 2)
    assert fresh == "Wall time per arm (2 worker(s)): baseline 301 s, depletion 288 s."
    mixed = ab.wall_line({"baseline": 2.0, "depletion": 150.2}, {"baseline": 200, "depletion": 90}, 200, 2)
    assert mixed.startswith("Wall time per arm (2 worker(s)): baseline 2 s (all reused), depletion 150 s (90 reused).")
    assert "not simulation costs" in mixed


def test_the_m1_share_pools_cells_over_patients_and_days():
    traj = pd.DataFrame(
        {
            "patient": [0, 0, 1, 1, 0],
            "day": [0.0, 13.0, 0.0, 13.0, 14.0],
            "n_m0": [1, 0, 0, 0, 0],
            "n_m1": [1, 2, 0, 1, 50],
            "n_m2": [0, 2, 3, 0, 0],
        }
    )
    first_two_weeks = traj[traj["day"] <= 13]
    assert ab.m1_share(first_two_weeks) == pytest.approx(4 / 10)  # patients pooled, not averaged
    assert ab.m1_share(traj[traj["day"] == 14]) == 1.0
    assert np.isnan(ab.m1_share(first_two_weeks.assign(n_m0=0, n_m1=0, n_m2=0)))  # no macrophages: depletion


def test_importing_the_script_leaves_the_environment_alone(monkeypatch):
    """Imported (as by these tests), the script must not pin numba's thread count for the whole process: a later
    numba config reload would then refuse to run with another thread count."""
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    spec = importlib.util.spec_from_file_location("ablation_again", SCRIPT)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    import os

    assert "NUMBA_NUM_THREADS" not in os.environ


def test_out_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "a_file"
    f.write_text("mine")
    res = _run("--arms", "depletion", "--out", str(f))
    assert res.returncode == 2 and "is not a directory" in res.stderr and "Traceback" not in res.stderr
    assert f.read_text() == "mine"
