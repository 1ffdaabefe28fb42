"""The same cohort on a real Dask distributed cluster (LocalCluster, 2 worker processes) via --scheduler."""

from __future__ import annotations

import json

import cohort_helpers
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort.executor import Task, run_tasks

runner = CliRunner()


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, timeout="60s", silence_logs=40
    ) as c:
        yield c


def test_cohort_on_a_dask_cluster_matches_local_processes(cluster, small_cohort_file, tmp_path):
    on_dask, local = tmp_path / "dask", tmp_path / "local"
    res = runner.invoke(
        app,
        [
            "cohort",
            str(small_cohort_file),
            "--patients",
            "4",
            "--out",
            str(on_dask),
            "--scheduler",
            cluster.scheduler_address,
            "--no-plot",
        ],
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads((on_dask / "manifest.json").read_text())
    assert manifest["backend"] == "dask" and manifest["workers"] == 2 and manifest["n_ok"] == 4
    res = runner.invoke(
        app, ["cohort", str(small_cohort_file), "--patients", "4", "--out", str(local), "--workers", "1", "--no-plot"]
    )
    assert res.exit_code == 0, res.output
    for name in ("patients.parquet", "trajectories.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(on_dask / name), pd.read_parquet(local / name), check_exact=True)


def test_dask_failures_are_recorded_and_retried(cluster, tmp_path):
    from distributed import Client

    flaky = tmp_path / "markers"
    flaky.mkdir()
    tasks = [
        Task("ok", {"x": 1}),
        Task("bad", {"x": 2, "fail": True}),
        Task("flaky", {"x": 3, "flaky_dir": str(flaky)}),
    ]
    with Client(cluster.scheduler_address, timeout="30s") as client:
        report = run_tasks(tasks, cohort_helpers.square, tmp_path / "parts", client=client, retries=1)
    assert report.outcomes["ok"].status == "done"
    assert report.outcomes["flaky"].status == "done"  # failed once, retried by Dask
    assert report.outcomes["bad"].status == "failed" and "fails on purpose" in report.outcomes["bad"].error
    assert pd.read_parquet(tmp_path / "parts" / "flaky.parquet")["x2"].tolist() == [9]
