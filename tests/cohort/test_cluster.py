"""--cluster slurm|pbs: validated settings, the generated batch scripts (no batch system needed), CLI plumbing."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort import cluster as C

runner = CliRunner()
REPO = str(Path(C.__file__).resolve().parents[2])


@pytest.fixture(autouse=True)
def _package_defaults_only():
    """The tests see dask-jobqueue's shipped defaults, not a jobqueue.yaml of the machine they run on."""
    try:
        import dask_jobqueue
    except ImportError:
        yield
        return
    import dask
    import yaml

    defaults = yaml.safe_load((Path(dask_jobqueue.__file__).parent / "jobqueue.yaml").read_text())
    with dask.config.set({"jobqueue": defaults["jobqueue"]}):
        yield


def _spec(system: str, **kw) -> C.ClusterSpec:
    return C.cluster_spec(
        system, **{"queue": "normal", "account": "proj1", "cores": 4, "memory": "8GiB", "walltime": "02:30:00", **kw}
    )


def test_slurm_job_script():
    pytest.importorskip("dask_jobqueue")
    script = C.job_script(_spec("slurm", jobs=3))
    for line in ("#SBATCH -p normal", "#SBATCH -A proj1", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=8G"):
        assert line in script, line
    assert "#SBATCH -t 02:30:00" in script
    assert f"{sys.executable} -m distributed.cli.dask_worker" in script
    # one single-threaded worker per core, numba single-threaded, the same sim as this process
    assert "--nthreads 1" in script and "--nworkers 4" in script
    assert "export NUMBA_NUM_THREADS=1" in script
    assert f"export PYTHONPATH={shlex.quote(REPO)}" in script
    # workers retire 5 min before the walltime (9000 s) so that their tasks move instead of failing
    assert "--lifetime 8700s" in script


def test_pbs_job_script():
    pytest.importorskip("dask_jobqueue")
    script = C.job_script(_spec("pbs"))
    assert "#PBS -q normal" in script and "#PBS -A proj1" in script
    assert "#PBS -l select=1:ncpus=4:mem=8192MB" in script  # 8 GiB in the units PBS reads
    assert "#PBS -l walltime=02:30:00" in script
    assert f"{sys.executable} -m distributed.cli.dask_worker" in script
    assert "--nthreads 1" in script and "--nworkers 4" in script and "export NUMBA_NUM_THREADS=1" in script


def test_defaults_memory_per_core_and_site_queue():
    pytest.importorskip("dask_jobqueue")
    spec = C.cluster_spec("slurm")
    assert (spec.cores, spec.jobs, spec.walltime) == (8, 1, "01:00:00")
    assert spec.memory_text == "12GiB"  # 1.5 GiB per core
    script = C.job_script(spec)
    assert "#SBATCH --mem=12G" in script and "#SBATCH -p" not in script and "#SBATCH -A" not in script


def test_every_bad_setting_is_reported_at_once():
    with pytest.raises(C.ClusterError) as err:
        C.cluster_spec("lsf", queue="a;b", cores=0, memory="lots", walltime="2h", jobs=-1)
    problems = "\n".join(err.value.problems)
    assert len(err.value.problems) == 6, problems
    for option in ("--cluster:", "--cluster-queue:", "--cluster-cores:", "--cluster-memory:", "--cluster-walltime:"):
        assert option in problems
    assert "--cluster-jobs: must be ≥ 1, got -1" in problems


@pytest.mark.parametrize(
    "options, message",
    [
        ({"walltime": "00:00:30"}, "at least one minute"),
        ({"walltime": "1:60:00"}, "not HH:MM:SS"),
        ({"memory": "0GiB"}, "must be positive"),
        ({"cores": 16, "memory": "8GiB"}, "0.50 GiB per worker"),
        ({"cores": 2000}, "must be ≤ 1024"),
    ],
)
def test_bad_settings(options, message):
    with pytest.raises(C.ClusterError, match=message):
        C.cluster_spec("slurm", **options)


def test_long_walltimes_and_no_lifetime_for_short_jobs():
    assert C.cluster_spec("pbs", walltime="100:00:00").walltime == "100:00:00"
    pytest.importorskip("dask_jobqueue")
    assert "--lifetime" not in C.job_script(C.cluster_spec("slurm", walltime="00:10:00"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cluster", "lsf", "--cluster-cores", "0"], "2 problems with the cluster settings"),
        (["--cluster", "slurm", "--cluster-memory", "1GiB"], "0.12 GiB per worker"),
        (["--cluster-jobs", "4"], "the --cluster-* options need --cluster slurm|pbs"),
        (["--cluster", "pbs", "--workers", "2"], "not both"),
        (["--cluster", "pbs", "--scheduler", "tcp://x:1"], "not both"),
    ],
)
def test_cli_bad_cluster_options_exit_2_before_any_work(small_cohort_file, tmp_path, args, message):
    out = tmp_path / "out"
    res = runner.invoke(app, ["cohort", str(small_cohort_file), "-n", "2", "--out", str(out), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not out.exists()


@pytest.mark.parametrize("command", ["sweep", "sensitivity", "calibrate"])
def test_every_scheduler_command_takes_cluster(command):
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0
    for option in ("--cluster", "--cluster-queue", "--cluster-cores", "--cluster-memory", "--cluster-walltime"):
        assert option in res.output, (command, option)


def test_cli_cohort_runs_on_the_cluster_client(small_cohort_file, tmp_path, monkeypatch):
    """The plumbing from --cluster to the executor, with a local Dask cluster standing in for the batch jobs."""
    distributed = pytest.importorskip("distributed")
    made = []

    class FakeJobCluster(distributed.LocalCluster):
        def job_script(self):
            return "#!/bin/sh\n# fake job script"

    def fake_job_cluster(spec, **overrides):
        made.append(spec)
        return FakeJobCluster(
            n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )

    monkeypatch.setattr(C, "require_jobqueue", lambda: None)
    monkeypatch.setattr(C, "job_cluster", fake_job_cluster)
    out = tmp_path / "out"
    args = ["cohort", str(small_cohort_file), "-n", "2", "--out", str(out), "--no-plot"]
    args += ["--cluster", "slurm", "--cluster-cores", "1", "--cluster-memory", "2GiB", "--cluster-queue", "short"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert made and made[0].queue == "short" and made[0].workers == 1
    assert "fake job script" in res.output  # the job script is shown before the run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backend"] == "dask" and manifest["n_ok"] == 2 and manifest["workers"] == 1
