"""Benchmark of the disc model's compiled engine: patient-year, agent part vs Mesa agents, memory, scaling.

Run from the repository root::

    .venv/bin/python benchmarks/bench_model.py                      # full run, a few minutes
    .venv/bin/python benchmarks/bench_model.py --quick              # fewer repeats / sizes (smoke test)
    .venv/bin/python benchmarks/bench_model.py --old /tmp/old       # also time the engine of another checkout
                                                                     # (e.g. `git worktree add /tmp/old f652fe1`)

Prints Markdown tables and writes them to ``benchmarks/results/model.md``. Not collected by pytest. Following
ENGINEERING.md §3 it reports *ratios measured in the same run*; absolute times are only indicative (the machine
is shared). ``NUMBA_NUM_THREADS=1`` (one worker per core).

Sections
--------
1. Patient-year: ``run_one(scenarios/default.toml, days=365, snapshots=False)``, best of N, JIT warm; with
   ``--old`` the same measurement in a subprocess on the other checkout, interleaved.
2. Agent part per agent-step: the compiled step with only the agent processes on (macrophage secretion,
   polarization, death and egress, phagocytosis, chemotaxis, and the compaction of the dead) on a synthetic
   population placed on the default grid with the fields of a day-30 run, minus the same loop with every process
   off (the loop's fixed per-step work); against the same logic on Mesa 3.5 ``CellAgent`` objects.
3. Memory per worker: peak RSS of a fresh process that imports discsim and runs one patient-year.
4. Scaling: the agent part against the number of agents (to 1e5) and the full step against the number of voxels
   (to 1024²), per agent-step and per voxel-step: flat columns mean linear growth.
"""

from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"  # before numba is imported

import argparse
import math
import platform
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import mesa
import numba
import numpy as np
from mesa.discrete_space import CellAgent, OrthogonalVonNeumannGrid, PropertyLayer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.model import DiscModel  # noqa: E402
from sim.model.agents import MacrophageArrays  # noqa: E402
from sim.model.processes import PROCESS_NAMES, enabled_record  # noqa: E402
from sim.run import run_one  # noqa: E402
from sim.scenario import load_scenario, with_overrides  # noqa: E402
from sim.scenario.schema import CYTOKINES  # noqa: E402

SCENARIO = ROOT / "scenarios" / "default.toml"
RESULTS = ROOT / "benchmarks" / "results" / "model.md"
FIELD = {name: i for i, name in enumerate(CYTOKINES)}
PHEN_MIX = (0.10, 0.15, 0.75)  # M0, M1, M2 share of the synthetic population (a run is mostly M2)
AGENT_PROCESSES = ("macrophage_secretion", "polarization", "death_and_egress", "phagocytosis", "chemotaxis")


def table(headers, rows):
    out = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if i else ":---" for i in range(len(headers))) + "|",
    ]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def fmt_t(seconds):
    if seconds < 1e-6:
        return f"{seconds * 1e9:.1f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def git_state():
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "sim"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"commit {head}" + (" + uncommitted changes under sim/" if dirty else "")


def kinetics_view(model):
    """The model's scalar kernel parameters as attributes (for the Mesa version)."""
    rec = model._c[0]
    return SimpleNamespace(**{k: float(rec[k]) for k in rec.dtype.names})


class AgentState:
    """A synthetic macrophage population on the model's grid (structure of arrays)."""

    def __init__(self, model, n, seed, fields, material, hours):
        rng = np.random.default_rng(seed)
        walk = np.flatnonzero(model.section.walkable.ravel())
        self.pos = rng.choice(walk, size=n).astype(np.int64)
        self.phen = rng.choice(3, size=n, p=PHEN_MIX).astype(np.int8)
        self.age_h = rng.uniform(0.0, 24.0 * 10, size=n)
        self.engulfed_um3 = rng.uniform(0.0, 2.0 * float(model._c[0]["k_engulfed"]), size=n)
        self.fields, self.material, self.hours = fields, material, hours


def load_state(model, state):
    mac = MacrophageArrays(capacity=max(256, state.pos.size))
    mac.add(state.pos)
    mac.phen[:] = state.phen
    mac.age_h[:] = state.age_h
    mac.engulfed_um3[:] = state.engulfed_um3
    model.macrophages = mac
    model.fields.data[...] = state.fields
    model.material[...] = state.material
    model.hours = state.hours


def engine_time(model, state, enabled, steps):
    """Wall time of one compiled call of ``steps`` steps from ``state`` with only ``enabled`` processes on;
    returns (seconds, agent-steps)."""
    load_state(model, state)
    model._on = enabled_record([p for p in PROCESS_NAMES if p not in enabled])
    n0 = model.macrophages.n
    t0 = time.perf_counter()
    model._run_compiled(steps)
    t = time.perf_counter() - t0
    return t, 0.5 * (n0 + model.macrophages.n) * steps


def bench_agents(model, state, steps, repeats):
    """Agent part per agent-step: (agent processes on) − (all off), best of ``repeats`` (interleaved)."""
    best_on, best_off, agent_steps = math.inf, math.inf, 1.0
    engine_time(model, state, AGENT_PROCESSES, 2)  # warm-up
    for _ in range(repeats):
        t, agent_steps = engine_time(model, state, AGENT_PROCESSES, steps)
        best_on = min(best_on, t)
        best_off = min(best_off, engine_time(model, state, (), steps)[0])
    return max(best_on - best_off, 0.0) / agent_steps, best_off / steps


class MesaMacrophage(CellAgent):
    """The same macrophage logic as the kernels, written as an idiomatic Mesa 3.5 ``CellAgent``.

    Fields and material are read through the grid's ``PropertyLayer`` accessors (``cell.tnf``, ...) and
    converted to ``float`` once (Python-float arithmetic is ~2.5x cheaper than on ``numpy.float64``),
    neighbours through ``cell.connections``; random draws from the model's ``random``.
    """

    def __init__(self, model: "MesaMacrophageModel", cell, phen: int, age_h: float, engulfed_um3: float):
        super().__init__(model)
        self.cell = cell
        self.phen = phen
        self.age_h = age_h
        self.engulfed_um3 = engulfed_um3

    def step(self) -> None:
        m = self.model
        kin = m.kin
        rnd = self.random
        cell = self.cell
        dt = kin.dt_h

        # --- polarization (M0 -> M1/M2, M1 <-> M2), ageing, death draw
        s1 = m.sat(float(cell.tnf), kin.k_tnf) + m.ifng_signal + kin.danger_w * float(cell.material) * m.viability
        s2 = (
            m.il4_signal
            + m.sat(float(cell.il10), kin.k_il10)
            + m.sat(float(cell.tgfb), kin.k_tgfb)
            + kin.phago_w * m.sat(self.engulfed_um3, kin.k_engulfed)
        )
        if self.phen == 0:
            r1 = kin.m0_m1 * s1
            r2 = kin.m0_m2 * s2
            tot = r1 + r2
            if tot > 0.0 and rnd.random() < 1.0 - math.exp(-tot * dt):
                self.phen = 1 if rnd.random() * tot < r1 else 2
        elif self.phen == 1:
            if rnd.random() < 1.0 - math.exp(-kin.m1_m2 * s2 * dt):
                self.phen = 2
        elif rnd.random() < 1.0 - math.exp(-kin.m2_m1 * s1 * dt):
            self.phen = 1
        self.age_h += dt
        dies = rnd.random() < 1.0 - math.exp(-m.death_rate[self.phen] * dt)

        # --- phagocytosis: the voxel's occupants share what they can engulf by phenotype weight
        material = float(cell.material)
        if material > 0.0:
            w = 0.0
            for other in cell.agents:
                w += m.phago_factor[other.phen]
        if material > 0.0 and w > 0.0:
            take = min(kin.phago_frac * dt * w, material)
            share = take * m.phago_factor[self.phen] / w
            self.engulfed_um3 += share * kin.voxel_um3
            cell.material = material - share

        # --- chemotaxis: biased jump to a walkable von Neumann neighbour
        if rnd.random() < kin.p_jump:
            conn = cell.connections
            c = float(cell.chemo)
            xp, xm, yp, ym = conn.get((1, 0)), conn.get((-1, 0)), conn.get((0, 1)), conn.get((0, -1))
            gx = (float(xp.chemo if xp else c) - float(xm.chemo if xm else c)) / (m.dx * (2.0 if xp and xm else 1.0))
            gy = (float(yp.chemo if yp else c) - float(ym.chemo if ym else c)) / (m.dx * (2.0 if yp and ym else 1.0))
            scale = kin.chemotaxis * m.dx / (c + kin.k_chemo_sense)
            bx, by = scale * gx, scale * gy
            options, weights = [], []
            for nbr, b in ((xp, bx), (xm, -bx), (yp, by), (ym, -by)):
                if nbr is not None and nbr.walkable:
                    options.append(nbr)
                    weights.append(math.exp(min(b, 30.0)))
            if options:
                self.cell = rnd.choices(options, weights)[0]

        if dies:
            self.remove()
            return

        # --- secretion into the source arrays for the next field solve (M1 products cut by IL-10)
        rates = m.secretion[self.phen]
        if self.phen == 1:
            rates = rates * (1.0 - m.pro * (kin.il10_imax * m.sat(float(self.cell.il10), kin.il10_ic50)))
        x, y = self.cell.coordinate
        m.sources[:, x, y] += rates


class MesaMacrophageModel(mesa.Model):
    """A Mesa model holding only the macrophages of a ``DiscModel`` state (no field solve)."""

    def __init__(self, model: DiscModel, state: AgentState, seed: int):
        super().__init__(rng=seed)
        sec = model.section
        self.kin = kin = kinetics_view(model)
        self.dx = sec.dx_um
        self.grid = OrthogonalVonNeumannGrid(sec.shape, torus=False, random=self.random)
        for name in ("tnf", "il10", "tgfb", "chemo"):
            self.grid.add_property_layer(PropertyLayer.from_data(name, state.fields[FIELD[name]]))
        self.grid.add_property_layer(PropertyLayer.from_data("material", state.material))
        self.grid.add_property_layer(PropertyLayer.from_data("walkable", sec.walkable.copy()))
        self.sources = np.zeros_like(state.fields)
        self.secretion = model.kernel_arrays["secretion_table"] * kin.conv_cell  # pg/mL/s per phenotype
        self.pro = model.kernel_arrays["il10_suppressible"].astype(float)
        self.viability = 0.5 ** (state.hours / 24.0 / kin.viability_half_life_days)
        self.ifng_signal = self.sat(kin.ifng, kin.k_ifng)
        self.il4_signal = self.sat(kin.il4, kin.k_il4)
        self.death_rate = (kin.death_m0, kin.death_m1, kin.death_m2)
        self.phago_factor = (kin.phago_f0, kin.phago_f1, 1.0)
        ny = sec.shape[1]
        cells = self.grid._cells
        for v, p, a, e in zip(
            state.pos.tolist(), state.phen.tolist(), state.age_h.tolist(), state.engulfed_um3.tolist()
        ):
            MesaMacrophage(self, cells[(v // ny, v % ny)], p, a, e)

    @staticmethod
    def sat(c: float, k: float) -> float:
        return c / (c + k) if c > 0.0 else 0.0

    def step(self) -> None:
        self.sources.fill(0.0)
        self.agents.do("step")


def bench_mesa(model, state, steps, repeats):
    best = math.inf
    for r in range(repeats):
        mm = MesaMacrophageModel(model, state, seed=2000 + r)
        agent_steps = 0
        t0 = time.perf_counter()
        for _ in range(steps):
            agent_steps += len(mm.agents)
            mm.step()
        best = min(best, (time.perf_counter() - t0) / agent_steps)
    return best


def year_in_process(days, repeats):
    scenario = load_scenario(SCENARIO)
    run_one(scenario, days=2, snapshots=False)
    return min(run_one(scenario, days=days, snapshots=False).wall_time_s for _ in range(repeats))


_YEAR_CODE = (
    "import sys, os; os.environ['NUMBA_NUM_THREADS']='1'; sys.path.insert(0, sys.argv[1]);"
    "from sim.run import run_one; from sim.scenario import load_scenario;"
    "s = load_scenario(sys.argv[2]); run_one(s, days=2, snapshots=False);"
    "print(min(run_one(s, days=float(sys.argv[3]), snapshots=False).wall_time_s for _ in range(int(sys.argv[4]))))"
)


def year_subprocess(checkout, days, repeats):
    env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=str(checkout))
    out = subprocess.run(
        [sys.executable, "-c", _YEAR_CODE, str(checkout), str(SCENARIO), str(days), str(repeats)],
        env=env,
        capture_output=True,
        text=True,
        cwd=checkout,
    )
    if out.returncode:
        print(out.stderr[-2000:], file=sys.stderr)
        return math.nan
    return float(out.stdout.strip().splitlines()[-1])


_RSS_CODE = (
    "import sys, os, resource; os.environ['NUMBA_NUM_THREADS']='1'; sys.path.insert(0, sys.argv[1]);"
    "from sim.run import run_one; from sim.scenario import load_scenario;"
    "r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
    "run_one(load_scenario(sys.argv[2]), days=365, snapshots=False);"
    "print(r0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
)


def rss_subprocess(checkout):
    env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=str(checkout))
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CODE, str(checkout), str(SCENARIO)],
        env=env,
        capture_output=True,
        text=True,
        cwd=checkout,
    )
    if out.returncode:
        print(out.stderr[-2000:], file=sys.stderr)
        return math.nan, math.nan
    a, b = out.stdout.split()
    return int(a) / 1024.0, int(b) / 1024.0  # MiB (ru_maxrss is KiB on Linux)


def grid_model(n_side):
    """Default scenario on an ``n_side``² grid (voxel edge chosen so the domain is the default 20 mm wide)."""
    s = load_scenario(SCENARIO)
    dx = 20_000.0 / n_side
    s = with_overrides(
        s,
        {
            "geometry.dx_um": max(20.0, dx),
            "geometry.width_mm": n_side * max(20.0, dx) / 1000.0,
            "geometry.height_mm": n_side * max(20.0, dx) / 1000.0,
        },
    )
    return DiscModel(s, seed=1)


def bench_voxels(n_side, steps):
    m = grid_model(n_side)
    m.run_days(1)  # a population and fields to work on (and JIT warm)
    nv = m.material.size
    out = {}
    for label, disabled in (("full step", ()), ("everything but the field solve", ("transport",))):
        m._on = enabled_record(disabled)
        best = math.inf
        for _ in range(2):
            t0 = time.perf_counter()
            m._run_compiled(steps)
            best = min(best, (time.perf_counter() - t0) / steps)
        out[label] = best
    return m.section.shape, nv, m.macrophages.n, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--old", type=Path, default=None, help="another checkout to time the patient-year of")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    quick = args.quick
    reps = 2 if quick else 5
    out = []

    def emit(s=""):
        print(s, flush=True)
        out.append(s)

    t_start = time.perf_counter()
    emit("# discsim model benchmark")
    emit()
    emit(
        f"`{' '.join(['.venv/bin/python', 'benchmarks/bench_model.py', *sys.argv[1:]])}` — "
        f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, mesa {mesa.__version__}, "
        f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}, load average before the run {os.getloadavg()[0]:.1f}. "
        f"Code: {git_state()}. Best of N after warm-up; ratios are within this run; the machine is shared, so "
        "absolute times are indicative only."
    )
    emit()

    # ------------------------------------------------------------------ 1
    emit("## 1. Patient-year (default scenario, 365 days, snapshots off)")
    emit()
    yr_reps = 2 if quick else 3
    new, old = math.inf, math.inf
    for _ in range(2 if args.old else 1):  # interleaved with the other checkout
        new = min(new, year_in_process(365.0, yr_reps))
        if args.old:
            old = min(old, year_subprocess(args.old, 365.0, yr_reps))
    m_split = DiscModel(load_scenario(SCENARIO), seed=1)
    m_split.run_days(30)
    t_full = min(_timed(m_split, (), 24) for _ in range(3))
    t_nofield = min(_timed(m_split, ("transport",), 24) for _ in range(3))
    rows = [["compiled engine (this checkout)", fmt_t(new), fmt_t(new / 8760)]]
    if args.old:
        rows.append([f"engine of `{args.old}` (per-step Python loop)", fmt_t(old), fmt_t(old / 8760)])
        rows.append(["speed-up", f"{old / new:.1f}×", ""])
    emit(table(["engine", "patient-year", "per step"], rows))
    emit()
    emit(
        f"Split of one compiled step at day 30-31 (24 steps per call): full step {fmt_t(t_full)}, of which the "
        f"field solve (`transport`: 8 fields, implicit LOD, `sim.diffusion` stack solver called from numba) "
        f"{fmt_t(t_full - t_nofield)} ({100 * (t_full - t_nofield) / t_full:.0f} %) and everything else "
        f"{fmt_t(t_nofield)}. The speed limit this sets is worked out in `benchmarks/results/speed_limits.md`."
    )
    emit()

    # ------------------------------------------------------------------ 2 + 4a
    model = DiscModel(load_scenario(SCENARIO), seed=1)
    model.run_days(30)
    n_real = max(model.macrophages.n, 10)
    base = (model.fields.data.copy(), model.material.copy(), model.hours)
    emit("## 2. Agent part per agent-step: compiled engine vs Mesa `CellAgent` (and 4a. scaling with agents)")
    emit()
    sizes = [n_real, 1_000, 10_000] if quick else [n_real, 1_000, 10_000, 100_000]
    rows = []
    for n in sizes:
        state = AgentState(model, n, n, *base)
        steps = max(24, min(480, 2_000_000 // n))
        t_k, t_loop = bench_agents(model, state, steps, reps)
        if n <= 10_000:
            bench_mesa(model, AgentState(model, min(n, 200), n, *base), 1, 1)
            t_m = bench_mesa(model, state, 3 if n >= 10_000 else 10, 2 if n >= 10_000 else 3)
            rows.append(
                [
                    f"{n:,}",
                    fmt_t(t_k),
                    fmt_t(t_m),
                    f"1/{t_m / t_k:,.0f}" if t_k > 0 else "–",
                    "yes" if t_k * 300 <= t_m else "**no**",
                ]
            )
        else:
            rows.append([f"{n:,}", fmt_t(t_k), "(not run)", "", ""])
        print(f"  n={n}: engine {fmt_t(t_k)}/agent-step, loop {fmt_t(t_loop)}/step", flush=True)
    emit(
        table(
            [
                "agents",
                "compiled engine, per agent-step",
                "Mesa CellAgent, per agent-step",
                "engine / Mesa",
                "≤ 1/300?",
            ],
            rows,
        )
    )
    emit()
    emit(
        f"First row: the population the default scenario actually has at day 30 ({n_real} macrophages). The "
        "engine column is one compiled call of many steps with only the agent processes on "
        f"({', '.join(f'`{p}`' for p in AGENT_PROCESSES)}, plus ageing and compaction of the dead) on the "
        "synthetic population (fields frozen: no transport; no recruitment), minus the same call with every "
        "process off (the loop's per-step fixed work: zeroing the sources), divided by the agent-steps. The Mesa "
        "column is the same logic as idiomatic Mesa 3.5 `CellAgent`s on an `OrthogonalVonNeumannGrid` with the "
        "fields as `PropertyLayer`s (`MesaMacrophage` below, sequential activation, Python `random`). A flat "
        "engine column means the agent part grows linearly with the number of agents."
    )
    emit()

    # ------------------------------------------------------------------ 3
    emit("## 3. Memory per worker")
    emit()
    r0, r1 = rss_subprocess(ROOT)
    rows = [["this checkout", f"{r0:.0f} MiB", f"{r1:.0f} MiB", f"{r1 - r0:.0f} MiB"]]
    if args.old:
        o0, o1 = rss_subprocess(args.old)
        rows.append([f"`{args.old}`", f"{o0:.0f} MiB", f"{o1:.0f} MiB", f"{o1 - o0:.0f} MiB"])
    emit(table(["engine", "peak RSS after imports", "peak RSS after a patient-year", "the run's own"], rows))
    emit()
    emit(
        "A fresh process: imports (numpy, pandas, numba, mesa, pydantic, the JIT caches) then one `run_one` of "
        "365 days; `ru_maxrss`."
    )
    emit()

    # ------------------------------------------------------------------ 4b
    emit("## 4. Scaling with voxels (full compiled step)")
    emit()
    sides = [64, 128, 256] if quick else [64, 128, 256, 512, 1024]
    rows = []
    for side in sides:
        shape, nv, n_mac, t = bench_voxels(side, 4 if side >= 512 else 12)
        rows.append(
            [
                f"{shape[0]}×{shape[1]}",
                f"{nv:,}",
                f"{n_mac}",
                fmt_t(t["full step"]),
                fmt_t(t["full step"] / nv),
                fmt_t(t["everything but the field solve"] / nv),
            ]
        )
        print(f"  {shape}: {fmt_t(t['full step'])}/step", flush=True)
    emit(
        table(
            ["grid", "voxels", "macrophages", "full step", "per voxel-step", "per voxel-step without the field solve"],
            rows,
        )
    )
    emit()
    emit(
        "The default scenario on an n×n grid of the default 20 mm width (voxel edge 20 mm/n), one simulated day "
        "after onset; best of 2 compiled calls of several steps. Flat per-voxel columns mean linear growth."
    )
    emit()
    emit(f"_Benchmark wall time: {time.perf_counter() - t_start:.0f} s._")
    if not args.no_write:
        tmp = RESULTS.with_suffix(".md.tmp")
        tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
        tmp.replace(RESULTS)
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


def _timed(model, disabled, steps):
    model._on = enabled_record(disabled)
    t0 = time.perf_counter()
    model._run_compiled(steps)
    return (time.perf_counter() - t0) / steps


if __name__ == "__main__":
    main()
