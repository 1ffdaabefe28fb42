"""Lower bounds on the cost of a patient-year, worker memory and `discsim run` start-up, measured in one run.

Run from the repository root::

    .venv/bin/python benchmarks/speed_limits.py            # about a minute; writes benchmarks/results/speed_limits.md

The model core's speed goals (0.1 s per patient-year, 150 MB per worker, 2 s for `discsim run` of a year) are
checked here against what the hardware and the required packages allow, so the gap is explained, not guessed:

1. *Field-solve floor.* A copy of the model's field stack (8 fields × 80 × 56 float64, L2-resident) is timed
   interleaved with the model's field solve (one backward-Euler LOD step of the stack with sources). A 2-D LOD
   step reads and writes every cell once per axis and also reads the sources, so even at copy bandwidth it costs
   ≥ 2 copies + the source read (≥ 2.5 copies); times 8,760 hourly steps that is the patient-year floor of the
   field solve alone.
2. *Memory floor.* Resident memory of a fresh interpreter after importing only numba, only mesa, and discsim's
   worker (``sim.run``): numba (LLVM) and mesa (pandas) are required packages.
3. *Start-up floor.* Wall time of ``import mesa`` + ``import matplotlib.pyplot`` (both needed by `discsim run`, the
   model is a ``mesa.Model`` and the run draws ``summary.png``) and of importing the CLI.
"""

from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"

import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.model import DiscModel  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "speed_limits.md"
STEPS_PER_YEAR = 8760


@njit(cache=True)
def _copy(a, b, reps):
    af = a.reshape(a.size)
    bf = b.reshape(b.size)
    for r in range(reps):
        for i in range(af.size):
            bf[i] = af[i]
        af[0] = bf[1]  # keep the loop from being hoisted


def _best(fn, reps, rounds=7):
    fn(1)
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn(reps)
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def _subprocess(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return out.stdout.strip()


# VmHWM (peak resident set) of the interpreter itself: ru_maxrss would carry the parent's peak across exec
RSS = "print(int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]) / 1024)"


def main() -> None:
    import copy as _copy_mod

    from sim.model.processes import enabled_record

    model = DiscModel(load_scenario(ROOT / "scenarios" / "default.toml"))
    model.run_days(30)
    data = model.fields.data

    def step_time(disabled=()):
        # one compiled call of a day (24 steps) from the day-30 state, best of 8
        best = float("inf")
        for _ in range(8):
            m = _copy_mod.deepcopy(model)
            m._on = enabled_record(tuple(disabled))
            t = time.perf_counter()
            m._run_compiled(24)
            best = min(best, (time.perf_counter() - t) / 24)
        return best

    a, b = data.copy(), np.empty_like(data)
    t_copy = _best(lambda r: _copy(a, b, r), 2000)
    t_step = step_time()
    t_rest = step_time(("transport",))
    t_solve = t_step - t_rest
    floor = 2.5 * t_copy

    rss_numba = float(_subprocess(f"import numba; {RSS}"))
    rss_mesa = float(_subprocess(f"import mesa; {RSS}"))
    rss_python = float(_subprocess(RSS))
    rss_worker = float(_subprocess(f"import sim.run; {RSS}"))
    imp = {}
    for name, mod in (("mesa", "mesa"), ("matplotlib.pyplot", "matplotlib.pyplot"), ("sim.cli", "sim.cli")):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            _subprocess(f"import {mod}")
            times.append(time.perf_counter() - t)
        imp[name] = min(times)
    t_python = min(_timed_python() for _ in range(3))

    lines = [
        "# Speed, memory and start-up limits of the model core",
        "",
        f"`.venv/bin/python benchmarks/speed_limits.py` — {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, NUMBA_NUM_THREADS=1, load average "
        f"{os.getloadavg()[0]:.1f} (a shared machine: absolute times are indicative, the ratios are of one run).",
        "",
        "## 1. Patient-year: the field solve's floor",
        "",
        "| quantity (default scenario: 8 fields × 80 × 56, dt 1 h, day 30) | per step | per patient-year (8,760 steps) |",
        "|:---|---:|---:|",
        f"| copy of the field stack (read + write every cell once) | {t_copy * 1e6:.1f} µs | "
        f"{t_copy * STEPS_PER_YEAR:.3f} s |",
        f"| **floor of the field solve** (2 axes + sources = 2.5 copies, at copy bandwidth) | {floor * 1e6:.1f} µs | "
        f"**{floor * STEPS_PER_YEAR:.3f} s** |",
        f"| field solve as implemented (implicit LOD, SIMD sweeps; step − step without `transport`) | "
        f"{t_solve * 1e6:.1f} µs | "
        f"{t_solve * STEPS_PER_YEAR:.3f} s |",
        f"| whole compiled step | {t_step * 1e6:.1f} µs | {t_step * STEPS_PER_YEAR:.3f} s |",
        f"| the rest of the step (sources, agents, tissue, pain) | {t_rest * 1e6:.1f} µs | "
        f"{t_rest * STEPS_PER_YEAR:.3f} s |",
        "",
        f"The field solve runs at {100 * t_copy / t_solve:.0f} % of copy bandwidth ({100 * floor / t_solve:.0f} % of "
        f"its own floor). Even a solver at copy bandwidth would spend {floor * STEPS_PER_YEAR:.2f} s per "
        "patient-year on the fields, so **0.1 s per patient-year is not reachable at the default grid and step** "
        "without changing the numerics (fewer fields, a coarser grid or a longer field step), which the convergence "
        "study (`convergence.md`) rules out: dt 15 min and dx 125 µm already move the outcomes.",
        "",
        "## 2. Memory per worker: the floor of the required packages",
        "",
        "| fresh interpreter after | peak RSS |",
        "|:---|---:|",
        f"| nothing (python itself) | {rss_python:.0f} MiB |",
        f"| `import numba` | {rss_numba:.0f} MiB |",
        f"| `import mesa` (pulls in pandas) | {rss_mesa:.0f} MiB |",
        f"| `import sim.run` (a cohort worker's imports) | {rss_worker:.0f} MiB |",
        "",
        f"numba alone (LLVM) takes {rss_numba:.0f} MiB, so a worker that uses numba and Mesa (both required) cannot "
        f"fit in 150 MB. The simulation state itself is small (the fields are {data.nbytes / 2**20:.2f} MiB).",
        "",
        "## 3. `discsim run` start-up",
        "",
        "| wall time of a fresh interpreter that imports | best of 3 |",
        "|:---|---:|",
        f"| nothing | {t_python:.2f} s |",
        *(f"| `{k}` | {v:.2f} s |" for k, v in imp.items()),
        "",
        "`discsim run` needs Mesa (the model is a `mesa.Model`) and matplotlib (it draws `summary.png`); their "
        "imports and the patient-year above are its floor.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.write_text(text)
    print(f"written to {RESULTS.relative_to(ROOT)}")


def _timed_python() -> float:
    t = time.perf_counter()
    _subprocess("pass")
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
