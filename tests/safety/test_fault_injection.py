"""Fault injection (issue 11): SIGKILL a 2-worker ``discsim cohort`` parent at several points.

After the kill no process of the run may survive (the workers die with their parent and let go of its stdout),
only whole part files may remain, and rerunning the same command must give tables bit-identical to an
uninterrupted run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; SIGKILL semantics")

ROOT = Path(__file__).resolve().parents[2]
DISCSIM = Path(sys.executable).parent / "discsim"
N_PATIENTS = 6
#: a small, fast cohort (coarse grid, 20 days) with every kind of patient variability
SCENARIO = """
name = "fault_injection"
[simulation]
days = 20
seed = 1
snapshot_every_days = 0
[geometry]
dx_um = 500
[cohort]
patients = 6
seed = 321
sample_day = { dist = "uniform", low = 5, high = 15 }
[cohort.patient]
herniation_type = { dist = "categorical", weights = { protrusion = 1, sequestration = 1 } }
herniation_volume_mm3 = { dist = "lognormal", median = 400, gsd = 1.8, low = 100, high = 2000 }
inflammatory_propensity = { dist = "lognormal", median = 1.0, gsd = 1.5 }
ifng_pg_ml = { dist = "uniform", low = 0, high = 20 }
il4_pg_ml = { dist = "normal", mean = 5, sd = 3 }
[cohort.breach]
probability = { protrusion = 0.5 }
rim_exposure = 0.4
"""
TABLES = ("patients.parquet", "trajectories.parquet")
#: the temporary name of an atomic write (sim.io.store.atomic_file) that a kill may leave behind
ATOMIC_TEMP = re.compile(r"^\.patient-\d{6}\.(parquet|error\.json)\.\w+\.tmp\.(parquet|json)$")
#: generous: a worker killed while still importing dies once it reaches its initializer (~3 s; more on busy cores)
SURVIVOR_TIMEOUT_S = 30.0
#: a run's own time: ~6 s warm, but the numba cache is keyed by the package source (sim/_numba_cache.py), so the
#: first run after any edit compiles every kernel, on cores shared with other work
START_TIMEOUT_S = 300.0
RUN_TIMEOUT_S = 600.0


def _command(scenario: Path, out: Path) -> list[str]:
    return [
        str(DISCSIM),
        "cohort",
        str(scenario),
        "--patients",
        str(N_PATIENTS),
        "--out",
        str(out),
        "--workers",
        "2",
        "--no-plot",
    ]


def _session_members(sid: int) -> dict[int, str]:
    """Live (not zombie) processes of session ``sid``: pid -> command line."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] not in "ZX":
            found[int(entry.name)] = cmdline.strip()
    return found


class _Run:
    """A ``discsim cohort`` in its own session; its stdout+stderr drained by a thread until EOF."""

    def __init__(self, cmd: list[str]):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.output = bytearray()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):
            self.output += chunk

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def workers(self) -> dict[int, str]:
        return {p: c for p, c in _session_members(self.proc.pid).items() if "spawn_main" in c}

    def finish(self, timeout: float = RUN_TIMEOUT_S) -> int:
        try:
            rc = self.proc.wait(timeout)
        finally:
            self.kill_all()
        self.reader.join(10)
        return rc

    def kill_all(self) -> None:
        """Clean-up only (the test has decided already): SIGKILL whatever is left of the session."""
        for pid in _session_members(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _run_to_completion(scenario: Path, out: Path) -> str:
    run = _Run(_command(scenario, out))
    rc = run.finish()
    assert rc == 0, run.text()
    return run.text()


def _parts(out: Path) -> list[Path]:
    return sorted((out / "parts").glob("patient-*.parquet"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("fault_injection")
    scenario = d / "fault_injection.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    out = d / "reference"
    _run_to_completion(scenario, out)
    assert len(_parts(out)) == N_PATIENTS
    return scenario, out


def _workers_started(run: _Run, out: Path) -> bool:
    return len(run.workers()) >= 2


def _first_part(run: _Run, out: Path) -> bool:
    return len(_parts(out)) >= 1


def _mid_run(run: _Run, out: Path) -> bool:
    return len(_parts(out)) >= N_PATIENTS // 2


@pytest.mark.parametrize(
    "kill_when", [_workers_started, _first_part, _mid_run], ids=["workers-starting", "first-part", "mid-run"]
)
def test_sigkilled_cohort_leaves_no_process_only_whole_parts_and_resumes_identically(reference, tmp_path, kill_when):
    scenario, ref = reference
    out = tmp_path / "killed"
    run = _Run(_command(scenario, out))
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while run.proc.poll() is None and not kill_when(run, out):
            assert time.monotonic() < deadline, f"kill point never reached:\n{run.text()}"
            time.sleep(0.02)
        assert run.proc.poll() is None, f"the run ended before the kill point:\n{run.text()}"
        workers = run.workers()
        assert len(workers) == 2, workers
        os.kill(run.proc.pid, signal.SIGKILL)  # the parent only, as `kill -9 PID` would
        run.proc.wait(10)

        # no process of the run survives (workers, resource tracker), and nobody holds its stdout any more
        deadline = time.monotonic() + SURVIVOR_TIMEOUT_S
        while (alive := _session_members(run.proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive, f"survivors {SURVIVOR_TIMEOUT_S} s after SIGKILL of the parent: {alive}"
        run.reader.join(max(0.0, deadline - time.monotonic()) + 1)
        assert not run.reader.is_alive(), "the run's stdout is still held open after every process died"
    finally:
        run.kill_all()

    # only whole parts remain, each equal to the uninterrupted run's part; a temp file of an atomic write may stay
    parts = _parts(out)
    assert len(parts) < N_PATIENTS or not (out / "patients.parquet").exists()
    for part in parts:
        table = pq.read_table(part).replace_schema_metadata(None)
        assert table.equals(pq.read_table(ref / "parts" / part.name).replace_schema_metadata(None)), part.name
    if (out / "parts").is_dir():
        others = {p.name for p in (out / "parts").iterdir()} - {p.name for p in parts}
        assert all(ATOMIC_TEMP.match(name) for name in others), others

    # the rerun reuses exactly those parts and gives bit-identical tables
    output = _run_to_completion(scenario, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["n_reused"], manifest["n_computed"]) == (len(parts), N_PATIENTS - len(parts)), output
    for name in TABLES:
        pd.testing.assert_frame_equal(pd.read_parquet(out / name), pd.read_parquet(ref / name), check_exact=True)
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
