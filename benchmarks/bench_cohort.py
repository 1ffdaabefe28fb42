"""Benchmark of the cohort executor: parallel speed-up, per-task overhead, parent memory as runs grow.

Run from the repository root::

    .venv/bin/python benchmarks/bench_cohort.py            # ~3-5 min on 2 cores
    .venv/bin/python benchmarks/bench_cohort.py --quick    # smoke test (~1 min)

Prints a Markdown table and writes ``benchmarks/results/cohort.md``. Not collected by pytest. Ratios are
measured in the same run (ENGINEERING.md §3); absolute times only indicate this machine.

1. **Throughput, 1 vs 2 worker processes**: the same virtual cohort (``scenarios/cohort_default.toml``,
   default grid, ``--days`` simulated days each, snapshots off) through ``run_cohort`` with 1 and with 2
   local workers, each into a fresh directory (worker start-up and consolidation included). Goal ≥ 1.8×.
2. **Per-task overhead**: the executor round trip of a trivial task (returns a 1-row frame, written as a
   part) on 2 workers, against the mean wall time of one simulated patient.
3. **Peak RSS of the parent** (``ru_maxrss`` of a fresh process that runs the cohort and consolidates it)
   for a small and a 4× larger cohort of short runs: flat if results stream to part files.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "cohort_default.toml"
RESULTS = ROOT / "benchmarks" / "results" / "cohort.md"


def _scenario(dx_um: float | None = None):
    from sim.scenario import load_scenario, with_overrides

    scen = load_scenario(SCENARIO)
    return with_overrides(scen, {"geometry.dx_um": dx_um}) if dx_um else scen


def throughput(n: int, days: float, workers: int, tmp: Path) -> dict:
    from sim.cohort import run_cohort

    out = tmp / f"thr-{workers}"
    t0 = time.perf_counter()
    res = run_cohort(_scenario(), out, patients=n, days=days, workers=workers)
    wall = time.perf_counter() - t0
    assert res.n_ok == n, res.manifest["failed"]
    run_times, cpu_times = [], []
    import pyarrow.parquet as pq

    for part in sorted((out / "parts").glob("patient-*.parquet")):
        meta = json.loads(pq.read_schema(part).metadata[b"discsim"])
        run_times.append(meta["wall_time_s"])
        cpu_times.append(meta["cpu_time_s"])
    shutil.rmtree(out)
    return {
        "workers": workers,
        "n": n,
        "wall_s": wall,
        "mean_run_s": sum(run_times) / len(run_times),
        "mean_cpu_s": sum(cpu_times) / len(cpu_times),
    }


def overhead(n: int, workers: int, tmp: Path) -> dict:
    from sim.cohort.executor import Task, run_tasks

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_cohort as me  # module-level function importable by spawned workers

    tasks = [Task(f"t-{i:05d}", i) for i in range(n)]
    # warm the pool's start-up out of the measurement: first a tiny batch
    run_tasks(tasks[:workers], me.trivial, tmp / "warm", workers=workers)
    t0 = time.perf_counter()
    run_tasks(tasks, me.trivial, tmp / "ovh", workers=workers)
    wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_tasks(tasks, me.trivial, None, workers=0)
    serial = time.perf_counter() - t0
    shutil.rmtree(tmp / "ovh")
    return {"n": n, "wall_s": wall, "per_task_ms": 1e3 * wall / n * workers, "serial_per_task_ms": 1e3 * serial / n}


def trivial(i: int):
    import pandas as pd

    return pd.DataFrame({"i": [i]})


def rss_child(n: int, days: float, out: str) -> None:
    from sim.cohort import run_cohort

    res = run_cohort(_scenario(dx_um=500), out, patients=n, days=days, workers=2)
    assert res.n_ok == n
    print(json.dumps({"n": n, "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def rss(n: int, days: float, tmp: Path) -> dict:
    out = tmp / f"rss-{n}"
    cp = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(n), "--days", str(days), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    shutil.rmtree(out)
    return json.loads(cp.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller cohorts (smoke test)")
    ap.add_argument("--days", type=float, default=None, help="simulated days per patient (throughput)")
    ap.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/cohort.md")
    ap.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child is not None:
        rss_child(args.rss_child, args.days or 30, args.out)
        return

    days = args.days or (60 if args.quick else 90)
    n_thr = 8 if args.quick else 24  # best of 2 alternating repetitions (1 with --quick)
    rss_small, rss_large = (10, 40) if args.quick else (20, 80)
    load0 = __import__("os").getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_cohort.") as d:
        tmp = Path(d)
        # warm the numba disk cache in this process and the file system
        from sim.run import run_one

        run_one(_scenario(), days=2, snapshots=False)
        print(f"throughput: {n_thr} patients × {days:g} days, 1 then 2 workers ...", flush=True)
        # alternate 1, 2, 1, 2 workers and keep the best of each: the machine is shared
        reps = [throughput(n_thr, days, w, tmp) for w in (1, 2, 1, 2)[: 2 if args.quick else 4]]
        one = min((r for r in reps if r["workers"] == 1), key=lambda r: r["wall_s"])
        two = min((r for r in reps if r["workers"] == 2), key=lambda r: r["wall_s"])
        print("per-task overhead ...", flush=True)
        ovh = overhead(200 if args.quick else 400, 2, tmp)
        print(f"parent peak RSS: {rss_small} vs {rss_large} runs ...", flush=True)
        small = rss(rss_small, 30, tmp)
        large = rss(rss_large, 30, tmp)

    speedup = one["wall_s"] / two["wall_s"]
    lines = [
        "# Cohort executor benchmark",
        "",
        f"`benchmarks/bench_cohort.py{' --quick' if args.quick else ''}` on {platform.node()} "
        f"({platform.processor() or platform.machine()}, {len(__import__('os').sched_getaffinity(0))} usable cores), "
        f"{time.strftime('%Y-%m-%d %H:%M')}. Scenario `scenarios/cohort_default.toml`. Load average before / "
        f"after: {load0:.1f} / {__import__('os').getloadavg()[0]:.1f} (the machine is shared: a load above the core "
        "count means other processes competed for the cores and the speed-up is understated).",
        "",
        "| measurement | value |",
        "|---|---|",
        f"| cohort of {n_thr} × {days:g} days, 1 worker (wall, incl. start-up + consolidation) | {one['wall_s']:.1f} s |",
        f"| same cohort, 2 workers | {two['wall_s']:.1f} s |",
        f"| **speed-up 2 vs 1 worker** (goal ≥ 1.8) | **{speedup:.2f}×** |",
        f"| throughput, 2 workers | {3600 * n_thr / two['wall_s']:.0f} patients/h "
        f"({3600 * n_thr * days / 365 / two['wall_s']:.0f} patient-years/h) |",
        f"| mean wall / CPU time of one patient in a worker, 2 workers | {two['mean_run_s']:.2f} s / "
        f"{two['mean_cpu_s']:.2f} s |",
        f"| same, 1 worker | {one['mean_run_s']:.2f} s / {one['mean_cpu_s']:.2f} s |",
        f"| all throughput repetitions (workers: wall s) | "
        f"{', '.join(str(r['workers']) + ': ' + format(r['wall_s'], '.1f') for r in reps)} |",
        f"| executor round trip of a trivial task (2 workers, part written) | {ovh['per_task_ms']:.1f} ms "
        f"(= {100 * ovh['per_task_ms'] / 1e3 / two['mean_run_s']:.2f} % of one {days:g}-day patient) |",
        f"| same trivial task in-process (workers=0, no part) | {ovh['serial_per_task_ms']:.2f} ms |",
        f"| parent peak RSS, {small['n']} runs (30 days, dx 500 µm, 2 workers) | {small['maxrss_mib']:.0f} MiB |",
        f"| parent peak RSS, {large['n']} runs | {large['maxrss_mib']:.0f} MiB "
        f"(ratio {large['maxrss_mib'] / small['maxrss_mib']:.2f}) |",
        "",
        "Throughput: best of 2 alternating repetitions (1, 2, 1, 2 workers). Wall > CPU time per patient means the",
        "worker waited for a core (other processes). Per-task overhead is wall time × workers / tasks (pool started).",
        "Peak RSS is `ru_maxrss` of a fresh process that draws, runs (2 workers) and consolidates the cohort; the",
        "workers are separate processes.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
