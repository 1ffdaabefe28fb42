"""The CLI as a user meets it: real scenario files, real output files, exit statuses."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.model import OBSERVABLES

ROOT = Path(__file__).resolve().parents[2]


def discsim(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "sim", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "default"
    r = discsim("run", ROOT / "scenarios" / "default.toml", "--out", out, "--days", 12, "--seed", 3)
    assert r.returncode == 0, r.stderr
    return out


def test_run_writes_documented_outputs(run_dir):
    ts = pd.read_parquet(run_dir / "timeseries.parquet")
    assert list(ts.columns) == list(OBSERVABLES)
    assert list(ts.day) == list(range(13))
    for col in (
        "pain_vas",
        "herniation_volume_mm3",
        "volume_fraction",
        "n_m0",
        "n_m1",
        "n_m2",
        "cd68_per_cm2",
        "tnf_fragment_pg_ml",
        "tnf_root_pg_ml",
        "il10_fragment_pg_ml",
    ):
        assert col in ts
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["kind"] == "run" and manifest["seed"] == 3
    assert manifest["scenario"]["simulation"]["days"] == 12
    assert "mesa" in manifest["packages"] and "wall_time_s" in manifest
    assert (run_dir / "summary.png").stat().st_size > 10_000
    import xarray as xr

    ds = xr.open_zarr(run_dir / "fields.zarr", consolidated=False)
    assert ds["tnf"].attrs["units"] == "pg/mL" and list(ds.day.values) == [0.0]  # snapshots every 30 days


def test_plot_redraws_from_saved_outputs(run_dir):
    (run_dir / "summary.png").unlink()
    r = discsim("plot", run_dir, "--format", "svg")
    assert r.returncode == 0, r.stderr
    assert (run_dir / "summary.svg").read_text().lstrip().startswith("<?xml")


def test_check_prints_the_resolved_scenario():
    r = discsim("check", ROOT / "scenarios" / "sequestration.toml")
    assert r.returncode == 0
    assert 'herniation_type = "sequestration"' in r.stdout and "[parameters.pain]" in r.stdout


def test_bad_scenario_exits_2_lists_every_problem_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[patient]\nherniation_type = "hernia"\nvolume = 3\n[simulation]\ndays = -5\n')
    out = tmp_path / "out"
    r = discsim("run", bad, "--out", out)
    assert r.returncode == 2
    for needle in ("patient.herniation_type (line 2)", "patient.volume (line 3)", "simulation.days (line 5)"):
        assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_missing_inputs_exit_2(tmp_path):
    r = discsim("run", tmp_path / "nope.toml")
    assert r.returncode == 2 and "file not found" in r.stderr
    r = discsim("plot", tmp_path)
    assert r.returncode == 2 and "manifest.json" in r.stderr


def test_failed_rerun_keeps_previous_outputs(run_dir, tmp_path):
    before = (run_dir / "timeseries.parquet").read_bytes()
    bad = tmp_path / "bad.toml"
    bad.write_text("[simulation]\ndt_hours = 0\n")
    assert discsim("run", bad, "--out", run_dir).returncode == 2
    assert (run_dir / "timeseries.parquet").read_bytes() == before


def test_help_texts_print_bracketed_words_as_written():
    r = discsim("cohort", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "[cohort] section" in text and "[default: cohort.patients]" in text


def test_a_missing_parameter_set_is_a_clean_exit_2(tmp_path):
    bad = tmp_path / "s.toml"
    bad.write_text('parameter_set = "nowhere/calibrated.toml"\n')
    r = discsim("check", bad)
    assert r.returncode == 2
    assert "parameter_set (line 1)" in r.stderr and "file not found" in r.stderr
    assert "Traceback" not in r.stderr
