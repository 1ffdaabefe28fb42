"""The same trial on a Dask distributed cluster (--scheduler) as in this process: identical tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from trial_helpers import write_trial
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort.trial import ARMS, EFFECTS, OUTCOMES, SCREENING

runner = CliRunner()


def test_trial_on_a_dask_cluster_matches_a_local_run(tmp_path):
    distributed = pytest.importorskip("distributed")
    path = write_trial(tmp_path, patients=3)
    local, on_dask = tmp_path / "local", tmp_path / "dask"
    res = runner.invoke(app, ["trial", str(path), "-o", str(local), "-j", "0", "--no-plot"])
    assert res.exit_code == 0, res.output
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, timeout="60s", silence_logs=40
    ) as cluster:
        res = runner.invoke(
            app, ["trial", str(path), "-o", str(on_dask), "--scheduler", cluster.scheduler_address, "--no-plot"]
        )
    assert res.exit_code == 0, res.output
    assert json.loads((on_dask / "manifest.json").read_text())["backend"] == "dask"
    for name in (SCREENING, ARMS, OUTCOMES, EFFECTS):
        pd.testing.assert_frame_equal(pd.read_parquet(on_dask / name), pd.read_parquet(local / name), check_exact=True)
