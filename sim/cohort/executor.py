"""Run many independent tasks in parallel, one Parquet part per task, resumable and fault tolerant.

The one executor behind ``discsim cohort``, ``discsim sweep`` and calibration (pyabc, SALib)::

    report = run_tasks(tasks, fn, out_dir / "parts", workers=2)           # local process pool
    report = run_tasks(tasks, fn, out_dir / "parts", scheduler="tcp://host:8786")  # Dask cluster

Each :class:`Task` has a file-name-safe ``key`` and a ``fingerprint`` of its inputs. ``fn(payload)``
runs in a worker process and returns a :class:`pandas.DataFrame`; the parent writes it atomically to
``out_dir/<key>.parquet`` (fingerprint in the footer) and forgets it, so memory stays flat however many
tasks there are. On a rerun, a part whose fingerprint matches is not recomputed: an interrupted run
(Ctrl-C, killed worker, crash) resumes where it stopped and gives the same parts as an uninterrupted
run. A task that raises is retried ``retries`` times; if it still fails, its error is written to
``out_dir/<key>.error.json`` and the other tasks go on (failed tasks are tried again on a rerun).

Workers run with ``NUMBA_NUM_THREADS=1``: parallelism comes from tasks, not threads. Local workers die with
their parent, however it dies (``SIGKILL`` included): nothing keeps computing, or holds the terminal, after it.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..io.store import read_parquet_metadata, write_json, write_parquet

__all__ = ["Task", "Outcome", "Report", "run_tasks", "part_path", "error_path", "read_error", "default_workers"]


@dataclass(frozen=True)
class Task:
    """One unit of work.

    Attributes
    ----------
    key : str
        Unique, file-name safe (``patient-000042``); names the part file.
    payload : object
        Picklable argument of ``fn``.
    fingerprint : str
        Identifies the inputs (e.g. a hash of the resolved scenario and seed); an existing part with a
        different fingerprint is stale and recomputed.
    """

    key: str
    payload: Any
    fingerprint: str = ""


@dataclass
class Outcome:
    key: str
    status: str  # "done" (computed now), "cached" (valid part found), "failed"
    attempts: int = 0
    error: str | None = None
    wall_time_s: float = 0.0


@dataclass
class Report:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    wall_time_s: float = 0.0
    backend: str = ""
    workers: int = 0
    results: dict[str, Any] | None = None  # only when out_dir is None

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes.values())

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.status == "failed"]

    def manifest_fields(self, failed: list, retries: int, wall: float) -> dict[str, Any]:
        """The run-accounting entries every cohort, sweep and trial manifest records, in their order."""
        return {
            "n_failed": len(failed),
            "failed": failed,
            "n_computed": self.count("done"),
            "n_reused": self.count("cached"),
            "backend": self.backend,
            "workers": self.workers,
            "retries": retries,
            "wall_time_s": round(wall, 3),
        }


def part_path(out_dir: str | Path, key: str) -> Path:
    return Path(out_dir) / f"{key}.parquet"


def error_path(out_dir: str | Path, key: str) -> Path:
    return Path(out_dir) / f"{key}.error.json"


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------------
# worker side
# ---------------------------------------------------------------------------------------------


def _single_threaded_numba() -> None:
    """One numba thread in this worker: parallelism comes from tasks, not threads.

    Before numba is imported the environment variable does it. Afterwards the variable must not change
    (numba re-reads it at every compilation and refuses a new value once its threads run), so the
    thread count is set through the API instead.
    """
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = "1"
        return
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # pragma: no cover - threading layer unavailable
        pass


#: seconds between two looks of a worker's watchdog at its parent
_PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent_signal() -> bool:
    """Ask the Linux kernel to SIGKILL this process when its parent dies. False where that is not available.

    The signal comes when the parent *thread* that started this process ends; pool workers are started by the
    thread that calls :func:`run_tasks` (``submit``), which outlives the pool.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except Exception:  # pragma: no cover - no libc / prctl
        return False


def _watch_parent(parent_pid: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent_pid:  # orphaned: re-parented to init or a subreaper
            os._exit(1)


def _init_worker(parent_pid: int | None = None) -> None:
    """Pool initializer: single-threaded numba, and the worker dies with its parent.

    Linux kills the worker the moment its parent dies (``PR_SET_PDEATHSIG``); a daemon thread polling
    ``os.getppid()`` is the fallback elsewhere (and a second line on Linux). A parent that died before the
    request was made is caught by comparing ``os.getppid()`` with the pid it passed. This runs once the spawned
    worker has imported ``sim`` (~2-3 s): a parent killed before that leaves a worker that exits when it gets here,
    before taking any task.
    """
    _single_threaded_numba()
    if parent_pid is None:
        return
    _die_with_parent_signal()
    if os.getppid() != parent_pid:  # the parent died before we asked: nobody will collect our results
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent_pid, _PARENT_POLL_S), name="discsim-parent-watchdog", daemon=True
    ).start()


def _call(fn: Callable[[Any], Any], payload: Any) -> tuple[Any, float, float]:
    """Run one task in a worker: single-threaded numba; wall and CPU time."""
    _single_threaded_numba()
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(payload)
    return out, time.perf_counter() - t0, time.process_time() - c0


def _describe(exc: BaseException) -> tuple[str, str]:
    return f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc))


# ---------------------------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------------------------


class _Recorder:
    """Writes parts and error files, keeps the outcomes, drives the progress callback."""

    def __init__(self, out_dir: Path | None, n_total: int, progress, metadata: Mapping[str, Any] | None):
        self.out_dir = out_dir
        self.n_total = n_total
        self.progress = progress
        self.metadata = dict(metadata or {})
        self.report = Report(results=None if out_dir is not None else {})

    def _tick(self, outcome: Outcome) -> None:
        self.report.outcomes[outcome.key] = outcome
        if self.progress is not None:
            self.progress(outcome, len(self.report.outcomes), self.n_total)

    def cached(self, task: Task) -> None:
        self._tick(Outcome(task.key, "cached"))

    def done(self, task: Task, result: Any, wall: float, attempts: int, cpu: float = math.nan) -> None:
        if self.out_dir is None:
            self.report.results[task.key] = result  # type: ignore[index]
        else:
            if not isinstance(result, pd.DataFrame):
                raise TypeError(f"task {task.key}: fn must return a pandas DataFrame, got {type(result).__name__}")
            meta = {
                **self.metadata,
                "task": task.key,
                "fingerprint": task.fingerprint,
                "wall_time_s": round(wall, 3),
                "cpu_time_s": round(cpu, 3),
            }
            write_parquet(result, part_path(self.out_dir, task.key), meta)
            error_path(self.out_dir, task.key).unlink(missing_ok=True)
        self._tick(Outcome(task.key, "done", attempts, None, wall))

    def failed(self, task: Task, message: str, tb: str, attempts: int) -> None:
        if self.out_dir is not None:
            write_json(
                {
                    "task": task.key,
                    "fingerprint": task.fingerprint,
                    "error": message,
                    "traceback": tb,
                    "attempts": attempts,
                },
                error_path(self.out_dir, task.key),
            )
        self._tick(Outcome(task.key, "failed", attempts, message))


def _is_valid_part(out_dir: Path, task: Task) -> bool:
    path = part_path(out_dir, task.key)
    if not path.is_file():
        return False
    try:
        return read_parquet_metadata(path).get("fingerprint") == task.fingerprint
    except Exception:  # unreadable (should not happen: parts are written atomically)
        return False


def run_tasks(
    tasks: Iterable[Task],
    fn: Callable[[Any], Any],
    out_dir: str | Path | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    retries: int = 2,
    progress: Callable[[Outcome, int, int], None] | None = None,
    metadata: Mapping[str, Any] | None = None,
    max_in_flight: int | None = None,
) -> Report:
    """Run ``fn(task.payload)`` for every task not already done.

    Parameters
    ----------
    tasks : iterable of Task
        Keys must be unique.
    fn : callable
        Module-level (importable by workers) function of the payload. Returns a DataFrame when
        ``out_dir`` is given; anything picklable otherwise.
    out_dir : path, optional
        Directory of the part files. ``None``: keep results in memory (``Report.results``), no resume.
    workers : int, optional
        Local worker processes (default: the usable cores). ``0`` runs in this process, serially.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``); the tasks run on its workers.
    client : distributed.Client, optional
        An existing Dask client (instead of ``scheduler``).
    retries : int
        Extra attempts for a task that raises (or whose worker dies).
    progress : callable, optional
        ``progress(outcome, n_finished, n_total)`` after each task (cached ones included).
    metadata : mapping, optional
        Stored in every part's footer (e.g. provenance).
    max_in_flight : int, optional
        Tasks submitted but not finished (default 4 per worker): bounds the parent's memory.
    """
    t0 = time.perf_counter()
    tasks = list(tasks)
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError("task keys must be unique")
    if retries < 0:
        raise ValueError(f"retries must be ≥ 0, got {retries}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    rec = _Recorder(out, len(tasks), progress, metadata)
    todo = []
    for t in tasks:
        if out is not None and _is_valid_part(out, t):
            rec.cached(t)
        else:
            todo.append(t)

    if scheduler is not None or client is not None:
        rec.report.backend = "dask"
        rec.report.workers = _run_dask(todo, fn, rec, scheduler, client, retries, max_in_flight)
    elif workers == 0 or (workers is None and len(todo) <= 1):
        rec.report.backend, rec.report.workers = "serial", 0
        _run_serial(todo, fn, rec, retries)
    else:
        n = workers if workers is not None else default_workers()
        if n < 0:
            raise ValueError(f"workers must be ≥ 0, got {n}")
        n = max(1, min(n, len(todo))) if todo else n
        rec.report.backend, rec.report.workers = "processes", n
        if todo:
            _run_pool(todo, fn, rec, n, retries, max_in_flight or 4 * n)
    rec.report.wall_time_s = time.perf_counter() - t0
    # outcomes in task order
    rec.report.outcomes = {k: rec.report.outcomes[k] for k in keys}
    return rec.report


def _run_serial(todo: list[Task], fn, rec: _Recorder, retries: int) -> None:
    numba = sys.modules.get("numba")
    threads = numba.get_num_threads() if numba is not None else None
    try:
        _serial_loop(todo, fn, rec, retries)
    finally:  # leave the caller's numba thread count as it was
        if threads is not None:
            numba.set_num_threads(threads)


def _serial_loop(todo: list[Task], fn, rec: _Recorder, retries: int) -> None:
    for task in todo:
        for attempt in range(1, retries + 2):
            try:
                result, wall, cpu = _call(fn, task.payload)
            except Exception as exc:
                if attempt > retries:
                    rec.failed(task, *_describe(exc), attempt)
            else:
                rec.done(task, result, wall, attempt, cpu)
                break


def _new_pool(n: int) -> ProcessPoolExecutor:
    # spawn: no inherited numba threads / locks from the parent; workers import sim afresh
    # workers die with this process (see _init_worker): a SIGKILLed parent leaves no orphan computing or holding stdout
    return ProcessPoolExecutor(
        n, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(os.getpid(),)
    )


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()


def _run_pool(todo: list[Task], fn, rec: _Recorder, n: int, retries: int, window: int) -> None:
    queue: deque[Task] = deque(todo)
    attempts: dict[str, int] = {}
    inflight: dict[Any, Task] = {}
    pool = _new_pool(n)

    def retry_or_fail(task: Task, message: str, tb: str) -> None:
        if attempts[task.key] <= retries:
            queue.appendleft(task)
        else:
            rec.failed(task, message, tb, attempts[task.key])

    def fill() -> None:
        while queue and len(inflight) < window:
            task = queue.popleft()
            attempts[task.key] = attempts.get(task.key, 0) + 1
            inflight[pool.submit(_call, fn, task.payload)] = task

    try:
        fill()
        while inflight:
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                task = inflight.pop(fut)
                try:
                    result, wall, cpu = fut.result()
                except BrokenProcessPool as exc:
                    broken = True
                    retry_or_fail(task, f"worker process died ({exc})", "")
                except Exception as exc:
                    retry_or_fail(task, *_describe(exc))
                else:
                    rec.done(task, result, wall, attempts[task.key], cpu)
            if broken:
                # every task still in flight died with the pool: count the attempt, start a new pool
                for task in inflight.values():
                    retry_or_fail(task, "worker process died", "")
                inflight.clear()
                _kill_pool(pool)
                pool = _new_pool(n)
            fill()
    except BaseException:
        _kill_pool(pool)
        raise
    pool.shutdown(wait=True)


def _run_dask(todo: list[Task], fn, rec: _Recorder, scheduler, client, retries: int, window: int | None) -> int:
    from distributed import Client, as_completed

    own = client is None
    if own:
        client = Client(scheduler, timeout="30s")
    try:
        queue = deque(todo)
        inflight: dict[Any, Task] = {}
        ac = as_completed()

        def submit() -> None:
            # 2 tasks per worker thread, counted again each time: batch-job workers (--cluster) join while it runs
            limit = window or 2 * max(1, sum(client.nthreads().values()))
            while queue and len(inflight) < limit:
                task = queue.popleft()
                fut = client.submit(
                    _call, fn, task.payload, key=f"{task.key}-{uuid.uuid4().hex[:12]}", retries=retries, pure=False
                )
                inflight[fut] = task
                ac.add(fut)

        submit()
        for fut in ac:
            task = inflight.pop(fut)
            if fut.status == "finished":
                result, wall, cpu = fut.result()
                rec.done(task, result, wall, 1, cpu)
            else:
                exc = fut.exception()
                tb = fut.traceback()
                tb_text = "".join(traceback.format_tb(tb)) if tb is not None else ""
                rec.failed(task, f"{type(exc).__name__}: {exc}", tb_text, retries + 1)
            fut.release()
            submit()
        return len(client.nthreads())
    except BaseException:
        if client is not None:
            with contextlib.suppress(Exception):
                client.cancel(list(inflight))  # type: ignore[possibly-undefined]
        raise
    finally:
        if own:
            client.close()


def read_error(out_dir: str | Path, key: str) -> dict[str, Any] | None:
    path = error_path(out_dir, key)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
