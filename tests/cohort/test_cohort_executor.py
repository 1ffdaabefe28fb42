"""The reusable executor: parts, failures, retries, resume, in-memory mode."""

from __future__ import annotations

import cohort_helpers
import pandas as pd

from sim.cohort.executor import Task, error_path, part_path, read_error, run_tasks


def _tasks(n, extra=None):
    extra = extra or {}
    return [Task(f"t-{i:03d}", {"x": i, **extra.get(i, {})}, fingerprint="v1") for i in range(n)]


def test_failed_task_is_recorded_and_the_rest_completes(tmp_path):
    tasks = _tasks(5, {2: {"fail": True}})
    report = run_tasks(tasks, cohort_helpers.square, tmp_path, workers=2, retries=1)
    assert report.backend == "processes"
    assert report.count("done") == 4 and report.count("failed") == 1
    bad = report.outcomes["t-002"]
    assert bad.attempts == 2 and "fails on purpose" in bad.error
    assert "fails on purpose" in read_error(tmp_path, "t-002")["traceback"]
    assert not part_path(tmp_path, "t-002").exists()
    done = pd.read_parquet(part_path(tmp_path, "t-004"))
    assert done["x2"].tolist() == [16]
    assert done["threads"].tolist() == [1]  # spawned workers run single-threaded numba

    # rerun: the 4 good parts are reused, the failed task is tried again (and now succeeds)
    tasks[2] = Task("t-002", {"x": 2}, fingerprint="v1")
    again = run_tasks(tasks, cohort_helpers.square, tmp_path, workers=2)
    assert again.count("cached") == 4 and again.outcomes["t-002"].status == "done"
    assert not error_path(tmp_path, "t-002").exists()
    # a changed fingerprint makes a part stale
    stale = [Task(t.key, t.payload, "v2") if t.key == "t-001" else t for t in tasks]
    third = run_tasks(stale, cohort_helpers.square, tmp_path, workers=0)
    assert third.outcomes["t-001"].status == "done" and third.count("cached") == 4


def test_transient_failures_are_retried(tmp_path):
    flaky = tmp_path / "markers"
    flaky.mkdir()
    tasks = _tasks(3, {i: {"flaky_dir": str(flaky)} for i in range(3)})
    report = run_tasks(tasks, cohort_helpers.square, tmp_path / "parts", workers=2, retries=2)
    assert report.count("done") == 3
    assert all(o.attempts == 2 for o in report.outcomes.values())
    # with no retries the same failures are final
    flaky2 = tmp_path / "markers2"
    flaky2.mkdir()
    tasks = _tasks(2, {i: {"flaky_dir": str(flaky2)} for i in range(2)})
    report = run_tasks(tasks, cohort_helpers.square, tmp_path / "parts2", workers=0, retries=0)
    assert report.count("failed") == 2


def test_in_memory_mode_returns_results():
    report = run_tasks([Task(f"k{i}", i) for i in range(4)], cohort_helpers.noop, None, workers=0)
    assert report.results == {"k0": 0, "k1": 1, "k2": 2, "k3": 3}
    assert list(report.outcomes) == ["k0", "k1", "k2", "k3"]
