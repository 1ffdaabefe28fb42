"""Planning numbers for a cluster run (docs/cluster.md): patients per core-hour and memory per Dask worker.

Runs a small cohort of the shipped scenario on a local Dask cluster (worker processes with one thread each, as
the SLURM/PBS workers of ``--cluster`` are), then reads, from every part, the wall and CPU time of each patient,
and from every worker its resident memory before the first task (``sim`` imported), after a 1-day warm-up run that
loads the compiled kernels (from numba's cache, or compiling them: run twice to see both), and its peak
(``ru_maxrss``) after the cohort::

    python benchmarks/cluster_planning.py                    # 12 patients x 365 days on 2 workers
    python benchmarks/cluster_planning.py --patients 40 --days 820 --workers 2

Prints a Markdown table. The numbers are indicative: one machine, shared with other processes (the load average
is printed), one scenario; a patient's cost grows with its fragment (domain size) and its macrophage count.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _worker_memory() -> dict[str, float]:
    """Resident and peak memory of the calling worker process, MiB (Linux ru_maxrss is KiB)."""
    import resource

    import psutil

    import sim.run  # noqa: F401 - what a worker holds once it has taken a task's code

    return {
        "rss_mib": psutil.Process().memory_info().rss / 2**20,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _warm_up(scenario) -> dict[str, float]:
    """One 1-day run in the worker: loads the numba kernels (from the cache, or compiles them), then memory."""
    from sim.run import run_one

    run_one(scenario, seed=0, days=1.0, snapshots=False)
    return _worker_memory()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=12)
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "cohort_default.toml"))
    args = ap.parse_args()

    from distributed import Client, LocalCluster

    from sim.cohort import run_cohort
    from sim.io.store import read_parquet_metadata
    from sim.scenario import load_scenario

    scen = load_scenario(args.scenario)
    load_before = os.getloadavg()[0]
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        Client(cluster) as client,
        tempfile.TemporaryDirectory() as tmp,
    ):
        idle = client.run(_worker_memory)
        warm = client.run(_warm_up, scen)  # the per-patient times below exclude loading the kernels
        result = run_cohort(scen, Path(tmp) / "cohort", patients=args.patients, days=args.days, client=client)
        after = client.run(_worker_memory)
        parts = sorted((Path(tmp) / "cohort" / "parts").glob("*.parquet"))
        meta = [read_parquet_metadata(p) for p in parts]
    load_after = os.getloadavg()[0]
    wall = [m["wall_time_s"] for m in meta]
    cpu = [m["cpu_time_s"] for m in meta]
    mean_cpu = statistics.mean(cpu)
    rows = [
        ("patients × days", f"{args.patients} × {args.days:g} ({result.n_ok} ok)"),
        ("Dask workers (processes × 1 thread)", str(args.workers)),
        ("wall time of the cohort (incl. cluster start, consolidation)", f"{result.wall_time_s:.1f} s"),
        ("per patient: mean wall / mean CPU time", f"{statistics.mean(wall):.2f} s / {mean_cpu:.2f} s"),
        ("per patient: median / max wall time", f"{statistics.median(wall):.2f} s / {max(wall):.2f} s"),
        ("**patients per core-hour** (3600 s / mean CPU time)", f"**{3600.0 / mean_cpu:.0f}**"),
        ("patient-years per core-hour", f"{3600.0 / mean_cpu * args.days / 365.0:.0f}"),
        (
            "worker RSS before the first task (sim imported)",
            ", ".join(f"{v['rss_mib']:.0f}" for v in idle.values()) + " MiB",
        ),
        (
            "worker peak RSS after loading the kernels (1-day run)",
            ", ".join(f"{v['peak_mib']:.0f}" for v in warm.values()) + " MiB",
        ),
        (
            "**worker peak RSS** after the cohort (ru_maxrss)",
            "**" + ", ".join(f"{v['peak_mib']:.0f}" for v in after.values()) + " MiB**",
        ),
    ]
    print(
        f"`benchmarks/cluster_planning.py` on {platform.node()} ({platform.machine()}, {os.cpu_count()} cores), "
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, scenario `{Path(args.scenario).name}`. "
        f"Load average before / after: {load_before:.1f} / {load_after:.1f}.\n"
    )
    print("| measurement | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
