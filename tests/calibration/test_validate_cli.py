"""``discsim validate``: the target table on synthetic and real cohort directories; bad inputs exit 2."""

import json

import pandas as pd
import pytest
from calibration_data import synthetic_cohort, write_cohort_dir
from typer.testing import CliRunner

from sim.cli import app

runner = CliRunner()


def test_validate_synthetic_cohort(tmp_path):
    p, t = synthetic_cohort(n=40, days=400)
    d = write_cohort_dir(tmp_path / "coh", p, t)
    res = runner.invoke(app, ["validate", str(d), "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(d / "validation.csv")
    md = (d / "validation.md").read_text()
    assert "| target |" in md and "sciatica_trial_leg_vas_itt" in md
    rows = table.set_index("stat_key")
    assert rows.loc["review_association_signs[TNF-a]", "status"] == "reproduced"
    assert rows.loc["review_association_signs[TNFR1]", "status"] == "not simulated"
    assert rows.loc["sciatica_trial_leg_vas_itt[week 52]", "status"] == "not simulated"  # beyond day 400
    assert rows.loc["sciatica_trial_leg_vas_itt[week 0]", "simulated"] == pytest.approx(55.0)
    assert rows.loc["sciatica_trial_leg_vas_exponential_fit[tau]", "simulated"] == pytest.approx(8.0, rel=1e-3)
    assert rows.loc["sciatica_trial_leg_vas_exponential_fit[tau]", "status"] == "inside"
    assert rows.loc["rat_puncture_m1_m2_timecourse[M2 peak day]", "status"] == "inside"  # day 14
    assert set(table["status"]) <= {
        "inside",
        "consistent",
        "outside",
        "reproduced",
        "not reproduced",
        "undetermined",
        "not simulated",
    }
    # every calibrate/check target of the file appears
    from sim.calibration.targets import load_targets

    ids = {x.id for x in load_targets() if x.use in ("calibrate", "check")}
    assert ids <= set(table["target_id"])


def test_validate_out_option(tmp_path):
    p, t = synthetic_cohort(n=12, days=100)
    d = write_cohort_dir(tmp_path / "coh", p, t)
    res = runner.invoke(app, ["validate", str(d), "--out", str(tmp_path / "report"), "--bootstrap", "100"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report" / "validation.csv").is_file() and not (d / "validation.csv").exists()


@pytest.mark.parametrize("case", ["missing", "file", "no_manifest", "not_cohort", "no_column", "bad_json"])
def test_validate_bad_inputs_exit_2(tmp_path, case):
    p, t = synthetic_cohort(n=8, days=30)
    d = tmp_path / "coh"
    if case == "missing":
        pass
    elif case == "file":
        d.write_text("x")
    else:
        write_cohort_dir(d, p, t, kind="run" if case == "not_cohort" else "cohort")
        if case == "no_manifest":
            (d / "manifest.json").unlink()
        elif case == "no_column":
            p.drop(columns="pain_vas_sample").to_parquet(d / "patients.parquet")
        elif case == "bad_json":
            (d / "manifest.json").write_text("{not json")
    res = runner.invoke(app, ["validate", str(d)])
    assert res.exit_code == 2, res.output
    assert "error" in res.output and "Traceback" not in res.output


def test_validate_real_cohort(tmp_path):
    """A real (tiny) cohort from `discsim cohort` on a coarse grid."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    src = (root / "scenarios" / "cohort_default.toml").read_text()
    # the copy lives elsewhere: point its parameter set at the repository's calibrated file
    src = src.replace('"../calibration/calibrated.toml"', f'"{root / "calibration" / "calibrated.toml"}"')
    scen = tmp_path / "coarse.toml"
    scen.write_text(src + "\n[geometry]\ndx_um = 500\n" if "[geometry]" not in src else src)
    out = tmp_path / "coh"
    res = runner.invoke(
        app, ["cohort", str(scen), "--patients", "4", "--days", "20", "--workers", "0", "--out", str(out), "--no-plot"]
    )
    assert res.exit_code == 0, res.output[-500:]
    assert json.loads((out / "manifest.json").read_text())["kind"] == "cohort"
    res = runner.invoke(app, ["validate", str(out), "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "validation.csv")
    assert (table["n"] > 0).any()
    # 20-day horizon: no 1-year outcome
    assert (table.loc[table["target_id"] == "regression_prob_extrusion", "status"] == "not simulated").all()


def test_validate_console_table_fits_80_columns(tmp_path):
    """At COLUMNS=80 every line fits, target ids stay whole on lines of their own, and a status is never split."""
    import os
    import subprocess
    import sys

    from rich.cells import cell_len

    p, t = synthetic_cohort(n=40, days=400)
    write_cohort_dir(tmp_path / "coh", p, t)
    res = subprocess.run(
        [sys.executable, "-m", "sim", "validate", "coh", "--bootstrap", "100"],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    too_wide = [line for line in lines if cell_len(line) > 80]
    assert not too_wide, "\n".join(too_wide)
    table = pd.read_csv(tmp_path / "coh" / "validation.csv")
    stripped = {line.strip() for line in lines}
    assert set(table["target_id"]) <= stripped
    for status in set(table["status"]):
        assert sum(line.rstrip().endswith("  " + status) for line in lines) == int((table["status"] == status).sum())
