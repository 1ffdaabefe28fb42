"""Benchmark of the disc model: agent kernels vs Mesa agents, step-time split, 365-day wall time.

Run from the repository root::

    .venv/bin/python benchmarks/bench_model.py            # full run, ~2 min
    .venv/bin/python benchmarks/bench_model.py --quick    # fewer repeats / sizes, for a smoke test

Prints Markdown tables and writes them to ``benchmarks/results/model.md``. Not collected by pytest
(``testpaths = ["tests"]``, and the name does not start with ``test_``). Following ENGINEERING.md §3 it
reports *ratios measured in the same run*; absolute times are only indicative of this machine.

Sections
--------
1. Per-agent-step cost of the agent part of one step -- ``kernels.secrete`` (count-based secretion),
   ``kernels.macrophage_step`` (polarization/ageing/death, phagocytosis, gradient, chemotactic move and the
   recruitment draws, switched off here: influx 0) and ``MacrophageArrays.keep`` (compaction of the dead)
   -- on structure-of-arrays state, against the same logic on Mesa 3.5 ``CellAgent`` objects on an
   ``OrthogonalVonNeumannGrid`` with the fields as ``PropertyLayer`` s. Both use the same synthetic
   population placed on the default scenario's grid with the fields and material of a warmed-up run.
   Also: what ``macrophage_step`` spends inside numba vs on crossing into it, ``secrete`` against the
   general ``diffusion.deposit`` path for the same secretion, and fixed per-call costs.
2. Split of the step time of a real ``DiscModel`` run (default scenario, 60 days after a 30-day
   warm-up): the functions ``DiscModel.step`` calls are wrapped with ``time.perf_counter`` pairs while the
   step itself runs unmodified (checked bit-identical to an uninstrumented run).
3. Wall time of ``run_one`` on the default scenario for 365 simulated days (JIT caches warm), snapshots
   off and on, and the implied cohort throughput on 2 cores (2 worker processes).

All timings are best-of-N after a warm-up, with ``NUMBA_NUM_THREADS=1`` (one worker per core).
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

import mesa
import numba
import numpy as np
from mesa.discrete_space import CellAgent, OrthogonalVonNeumannGrid, PropertyLayer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import diffusion  # noqa: E402
from sim.diffusion._coupling import _gradient_2d  # noqa: E402
from sim.model import DiscModel  # noqa: E402
from sim.model import kernels as K  # noqa: E402
from sim.run import run_one  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402
from sim.model.agents import MacrophageArrays  # noqa: E402
from sim.scenario.schema import CYTOKINES  # noqa: E402

SCENARIO = ROOT / "scenarios" / "default.toml"
RESULTS = ROOT / "benchmarks" / "results" / "model.md"
FIELD = {name: i for i, name in enumerate(CYTOKINES)}
PHEN_MIX = (0.10, 0.15, 0.75)  # M0, M1, M2 share of the synthetic population (a run is mostly M2)


# ====================================================================== helpers
def best_of(fn, repeats: int, setup=None) -> float:
    """Minimum over ``repeats`` of the wall time of ``fn()`` (``setup()`` runs untimed before each)."""
    best = math.inf
    for _ in range(repeats):
        arg = setup() if setup is not None else None
        t0 = time.perf_counter()
        fn(arg) if setup is not None else fn()
        best = min(best, time.perf_counter() - t0)
    return best


def table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if i else ":---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def fmt_t(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.1f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "sim"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"commit {head}" + (" + uncommitted changes under sim/" if dirty else "")


def warmed_model(days: float, seed: int = 1) -> DiscModel:
    model = DiscModel(load_scenario(SCENARIO), seed=seed)
    for _ in range(int(round(days * 24 / model.dt_h))):
        model.step()
    return model


# ====================================================================== step sections
SECTIONS = ("field solve (FieldSet.advance)", "sources: clear + disc cells", "sources: macrophages (secrete)",
            "agents: macrophage_step (polarize, phagocytose, gradient, move, recruit draws)",
            "agents: keep survivors + add recruits", "tissue (degrade_matrix)", "pain (root means + contact + update)",
            "observation + DataCollector (daily)", "Python glue (rest of step)")
GLUE = SECTIONS[-1]


class SectionTimer:
    """Times ``DiscModel.step`` by section without copying it: the functions the step calls are wrapped
    (module attributes of ``sim.model.kernels`` / ``sim.diffusion`` and methods of the model's parts) with
    a ``perf_counter`` pair each; nested calls are charged to the outermost section. The step itself runs
    unmodified, so the split follows the model as it evolves."""

    def __init__(self, model: DiscModel):
        self.acc = dict.fromkeys(SECTIONS, 0.0)
        self.by_fn: dict[str, float] = {}  # outermost-call time per wrapped function
        self.calls: dict[str, int] = {}  # calls per wrapped function
        self.crossings = {"Kinetics": 0, "Generator": 0}  # calls that pass these objects into numba
        self.depth = 0
        self._undo = []
        mac = model.macrophages
        plan = [
            (model.fields, "advance", SECTIONS[0]), (model.fields, "clear_sources", SECTIONS[1]),
            (K, "disc_cell_sources", SECTIONS[1]),
            (K, "secrete", SECTIONS[2]),
            (K, "macrophage_step", SECTIONS[3]),
            (mac, "keep", SECTIONS[4]), (mac, "add", SECTIONS[4]),
            (K, "degrade_matrix", SECTIONS[5]),
            (K, "masked_means", SECTIONS[6]), (model.pain, "update", SECTIONS[6]),
            (model, "_contact_fraction", SECTIONS[6]),
            (model, "_observe", SECTIONS[7]), (model.datacollector, "collect", SECTIONS[7]),
        ]
        for owner, name, section in plan:
            self._wrap(owner, name, section)

    def _wrap(self, owner, name, section):
        fn = getattr(owner, name)
        acc, by_fn, calls, cross, pc, timer = self.acc, self.by_fn, self.calls, self.crossings, time.perf_counter, self
        label = {"keep": "MacrophageArrays.keep", "add": "MacrophageArrays.add"}.get(name, name)
        by_fn[label] = 0.0
        calls[label] = 0

        def timed(*args, **kwargs):
            calls[label] += 1
            if any(isinstance(a, K.Kinetics) for a in args):
                cross["Kinetics"] += 1
            if any(isinstance(a, np.random.Generator) for a in args):
                cross["Generator"] += 1
            if timer.depth:
                return fn(*args, **kwargs)
            timer.depth = 1
            t0 = pc()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = pc() - t0
                acc[section] += dt
                by_fn[label] += dt
                timer.depth = 0

        # put back what was there: the module's function or an instance attribute; else drop ours
        # so that the class's method shows through again
        had_own = isinstance(owner, type(K)) or name in getattr(owner, "__dict__", {})
        self._undo.append((owner, name, fn if had_own else None))
        setattr(owner, name, timed)

    def uncalled(self) -> list[str]:
        """Wrapped functions the step never called (a sign that this plan no longer matches the model)."""
        return [k for k, c in self.calls.items() if c == 0]

    def restore(self):
        for owner, name, fn in reversed(self._undo):
            if fn is not None:
                setattr(owner, name, fn)
            else:
                delattr(owner, name)


# ====================================================================== 1. agent kernels vs Mesa
class AgentState:
    """A synthetic macrophage population on the model's grid (structure of arrays)."""

    def __init__(self, model: DiscModel, n: int, seed: int, fields: np.ndarray, material: np.ndarray, hours: float):
        rng = np.random.default_rng(seed)
        walk = np.flatnonzero(model.section.walkable.ravel())
        self.pos = rng.choice(walk, size=n).astype(np.int64)
        self.phen = rng.choice(3, size=n, p=PHEN_MIX).astype(np.int8)
        self.age_h = rng.uniform(0.0, 24.0 * 10, size=n)
        self.engulfed_um3 = rng.uniform(0.0, 2.0 * model._kin.k_engulfed, size=n)
        self.fields = fields  # (8, nx, ny), pg/mL
        self.material = material
        self.hours = hours  # model time of the fields/material (sets the NP-cell viability)


def viability_at(model: DiscModel, hours: float) -> float:
    """``model.disc_cell_viability()`` at model time ``hours``."""
    return 0.5 ** (hours / 24.0 / model.config.parameters.disc_cells.viability_half_life_days)


AGENT_FUNCS = ("secrete", "macrophage_step", "MacrophageArrays.keep")


def load_state(model: DiscModel, state: AgentState) -> None:
    """Put the synthetic population, fields and material into ``model`` (fresh arrays, same layout)."""
    mac = MacrophageArrays(capacity=max(256, state.pos.size))
    mac.add(state.pos)
    mac.phen[:] = state.phen
    mac.age_h[:] = state.age_h
    mac.engulfed_um3[:] = state.engulfed_um3
    model.macrophages = mac
    model.fields.data[...] = state.fields
    model.material[...] = state.material
    model.hours = state.hours


class AgentsOnly:
    """Context: ``model.fields.advance`` is a no-op (the agents act on fixed day-30 fields) and the
    monocyte influx is 0, so ``macrophage_step``'s recruitment part returns zeros before any draw and the
    population is the synthetic one (minus deaths), as in the Mesa version, which has no recruitment."""

    def __init__(self, model: DiscModel):
        self.model = model

    def __enter__(self):
        self.model.fields.advance = lambda *args, **kwargs: None
        self.influx, self.model._influx_h = self.model._influx_h, 0.0
        return self

    def __exit__(self, *exc):
        del self.model.fields.advance
        self.model._influx_h = self.influx


def bench_kernels(model: DiscModel, state: AgentState, steps: int, repeats: int):
    """The agent part of ``DiscModel.step`` on the synthetic population: the real ``model.step()`` runs
    under :class:`AgentsOnly` and ``secrete``, ``macrophage_step`` and ``MacrophageArrays.keep`` are timed
    by :class:`SectionTimer`. Best of ``repeats`` runs of ``steps`` steps, each from the same state.
    Returns (seconds per agent-step, {function: seconds per agent-step})."""
    best, best_parts = math.inf, None
    for _ in range(repeats):
        load_state(model, state)
        with AgentsOnly(model):
            timer = SectionTimer(model)
            try:
                agent_steps = 0
                for _ in range(steps):
                    agent_steps += model.macrophages.n
                    model.step()
            finally:
                timer.restore()
        t = sum(timer.by_fn[k] for k in AGENT_FUNCS) / agent_steps
        if t < best:
            best = t
            best_parts = {k: timer.by_fn[k] / agent_steps for k in AGENT_FUNCS}
    return best, best_parts


# ---------------------------------------------------------------------- inside macrophage_step
# Each driver repeats one kernel ``steps`` times inside numba: one crossing for all repeats, so the time
# per agent-step is the kernel's own work, without the Python -> numba call (argument unboxing, dispatch).
@numba.njit(cache=False)
def _in_polarize(steps, pos, phen, age, engulfed, alive, fields, material, viability, kin, rng):
    for _ in range(steps):
        K.polarize_and_age(pos, phen, age, engulfed, alive, fields, material, viability, kin, rng)


@numba.njit(cache=False)
def _in_phagocytose(steps, pos, phen, engulfed, material, counts, kin):
    for _ in range(steps):
        K.phagocytose(pos, phen, engulfed, material, counts, kin)


@numba.njit(cache=False)
def _in_gradient(steps, chemo2d, pos, inv_dx, grad):
    for _ in range(steps):
        _gradient_2d(chemo2d, pos, inv_dx, grad)


@numba.njit(cache=False)
def _in_move(steps, pos, grad, chemo, walkable, ny, kin, rng):
    for _ in range(steps):
        K.move(pos, grad, chemo, walkable, ny, kin, rng)


@numba.njit(cache=False)
def _in_step(steps, pos, phen, age, engulfed, alive, fields, chemo2d, material, viability, walkable, counts, grad,
             vessel_index, influx_h, basal, k_chemo, fragment_left, kin, rng):
    for _ in range(steps):
        K.macrophage_step(pos, phen, age, engulfed, alive, fields, chemo2d, material, viability, walkable, counts,
                          grad, vessel_index, influx_h, basal, k_chemo, fragment_left, kin, rng)


@numba.njit(cache=False)
def _in_secrete(steps, pos, phen, fields, table, conv, kin, sources, counts):
    for _ in range(steps):
        K.secrete(pos, phen, fields, table, conv, kin, sources, counts)


INSIDE = ("polarize_and_age", "phagocytose", "_gradient_2d", "move", "macrophage_step (all of the above)",
          "secrete")


def bench_inside(model: DiscModel, state: AgentState, steps: int, repeats: int) -> dict[str, float]:
    """Seconds per agent-step of the work inside ``macrophage_step`` (and ``secrete``), part by part,
    with the call overhead amortised over ``steps`` repeats in one numba call. Fresh copies of the
    state for every repeat; dead agents are flagged, not removed, so every repeat covers all n agents."""
    n = state.pos.size
    nf = state.fields.shape[0]
    kin, ny = model._kin, model.section.shape[1]
    rec = model._rec
    via = viability_at(model, state.hours)

    def fresh(_=None):
        fields = state.fields.copy()
        flat = fields.reshape(nf, -1)
        return dict(pos=state.pos.copy(), phen=state.phen.copy(), age=state.age_h.copy(),
                    engulfed=state.engulfed_um3.copy(), alive=np.ones(n, dtype=np.bool_), fields=flat,
                    chemo2d=fields[K.CHEMO], material=state.material.reshape(-1).copy(),
                    counts=np.zeros((3, flat.shape[1]), dtype=np.int64), grad=np.zeros((n, 2)),
                    sources=np.zeros_like(flat), rng=np.random.default_rng(n))

    runs = {
        "polarize_and_age": lambda a: _in_polarize(steps, a["pos"], a["phen"], a["age"], a["engulfed"], a["alive"],
                                                   a["fields"], a["material"], via, kin, a["rng"]),
        "phagocytose": lambda a: _in_phagocytose(steps, a["pos"], a["phen"], a["engulfed"], a["material"],
                                                 a["counts"], kin),
        "_gradient_2d": lambda a: _in_gradient(steps, a["chemo2d"], a["pos"], 1.0 / kin.dx_um, a["grad"]),
        "move": lambda a: _in_move(steps, a["pos"], a["grad"], a["fields"][K.CHEMO], model._walkable, ny, kin,
                                   a["rng"]),
        "macrophage_step (all of the above)": lambda a: _in_step(
            steps, a["pos"], a["phen"], a["age"], a["engulfed"], a["alive"], a["fields"], a["chemo2d"],
            a["material"], via, model._walkable, a["counts"], a["grad"], model.section.vessel_index, 0.0,
            rec.basal_fraction, rec.chemo_half_max_pg_ml, 1.0, kin, a["rng"]),
        "secrete": lambda a: _in_secrete(steps, a["pos"], a["phen"], a["fields"], model._secretion_table,
                                         model._conv_cell, kin, a["sources"], a["counts"]),
    }
    out = {}
    for name in INSIDE:
        if name == "move":  # a realistic gradient for the moves
            def setup(_=None):
                a = fresh()
                _gradient_2d(a["chemo2d"], a["pos"], 1.0 / kin.dx_um, a["grad"])
                return a
        else:
            setup = fresh
        runs[name](setup())  # compile (first size only) and warm
        out[name] = best_of(runs[name], repeats, setup) / (steps * n)
    return out


# ---------------------------------------------------------------------- secrete vs the general deposit path
@numba.njit(cache=False)
def per_agent_secretion(pos, phen, fields, table, conv, kin, out):
    """Per-agent secretion rates (pg/mL/s) into ``out`` (n, k): what the model computed before it
    switched to ``secrete`` (the former ``kernels.macrophage_secretion``), to be scattered by ``deposit``."""
    n = pos.shape[0]
    k = table.shape[1]
    for i in range(n):
        p = phen[i]
        suppress = 1.0
        if p == K.M1:
            suppress = 1.0 - kin.il10_imax * K._sat(fields[K.IL10, pos[i]], kin.il10_ic50)
        for f in range(k):
            rate = table[p, f] * conv
            if p == K.M1 and (f == K.TNF or f == K.IL1B or f == K.IL6 or f == K.IL8):
                rate *= suppress
            out[i, f] = rate


def bench_secretion_paths(model: DiscModel, state: AgentState, steps: int, repeats: int):
    """Seconds per agent-step of ``kernels.secrete`` as the model calls it, and of the same secretion
    through the general path (per-agent rates + ``diffusion.deposit``, canonical-order scatter), both
    called from Python once per step; plus the largest relative difference of the two source arrays."""
    kin, nf = model._kin, state.fields.shape[0]
    flat = state.fields.reshape(nf, -1)
    src_a = np.zeros_like(state.fields)
    src_b = np.zeros_like(state.fields)
    flat_a = src_a.reshape(nf, -1)
    counts = np.zeros((3, flat.shape[1]), dtype=np.int64)
    pos, phen, table, conv = state.pos, state.phen, model._secretion_table, model._conv_cell

    def run_secrete():
        for _ in range(steps):
            K.secrete(pos, phen, flat, table, conv, kin, flat_a, counts)

    def run_deposit():
        for _ in range(steps):
            amounts = np.empty((pos.size, nf))
            per_agent_secretion(pos, phen, flat, table, conv, kin, amounts)
            diffusion.deposit(src_b, pos, amounts)

    K.secrete(pos, phen, flat, table, conv, kin, flat_a, counts)
    amounts = np.empty((pos.size, nf))
    per_agent_secretion(pos, phen, flat, table, conv, kin, amounts)
    diffusion.deposit(src_b, pos, amounts)
    scale = np.abs(src_b).max(axis=tuple(range(1, src_b.ndim)), keepdims=True)
    rel = float((np.abs(src_a - src_b) / np.where(scale > 0, scale, 1.0)).max())
    t_s = t_d = math.inf
    for _ in range(repeats):  # alternate, so that changing machine load hits both alike
        t_s = min(t_s, best_of(run_secrete, 1))
        t_d = min(t_d, best_of(run_deposit, 1))
    n_steps = steps * pos.size
    return t_s / n_steps, t_d / n_steps, rel


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
        s2 = (m.il4_signal + m.sat(float(cell.il10), kin.k_il10) + m.sat(float(cell.tgfb), kin.k_tgfb)
              + kin.phago_w * m.sat(self.engulfed_um3, kin.k_engulfed))
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
        self.kin = kin = model._kin
        self.dx = sec.dx_um
        self.grid = OrthogonalVonNeumannGrid(sec.shape, torus=False, random=self.random)
        for name in ("tnf", "il10", "tgfb", "chemo"):
            self.grid.add_property_layer(PropertyLayer.from_data(name, state.fields[FIELD[name]]))
        self.grid.add_property_layer(PropertyLayer.from_data("material", state.material))
        self.grid.add_property_layer(PropertyLayer.from_data("walkable", sec.walkable.copy()))
        self.sources = np.zeros_like(state.fields)
        self.secretion = model._secretion_table * model._conv_cell  # pg/mL/s per phenotype
        self.pro = np.zeros(self.secretion.shape[1])
        self.pro[[K.TNF, K.IL1B, K.IL6, K.IL8]] = 1.0
        self.viability = viability_at(model, state.hours)
        self.ifng_signal = self.sat(kin.ifng, kin.k_ifng)
        self.il4_signal = self.sat(kin.il4, kin.k_il4)
        self.death_rate = (kin.death_m0, kin.death_m1, kin.death_m2)
        self.phago_factor = (kin.phago_f0, kin.phago_f1, 1.0)
        ny = sec.shape[1]
        cells = self.grid._cells
        for v, p, a, e in zip(state.pos.tolist(), state.phen.tolist(), state.age_h.tolist(),
                              state.engulfed_um3.tolist()):
            MesaMacrophage(self, cells[(v // ny, v % ny)], p, a, e)

    @staticmethod
    def sat(c: float, k: float) -> float:
        return c / (c + k) if c > 0.0 else 0.0

    def step(self) -> None:
        self.sources.fill(0.0)
        self.agents.do("step")


def bench_mesa(model: DiscModel, state: AgentState, steps: int, repeats: int) -> float:
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


def check_mesa_equivalence(model: DiscModel, state: AgentState, steps: int = 5) -> str:
    """A statistical sanity check that the Mesa version does the same thing as the model's kernels."""
    n = state.pos.size
    load_state(model, state)
    with AgentsOnly(model):
        for _ in range(steps):
            model.step()
    mac = model.macrophages
    old = mac.uid <= n  # leave out monocytes recruited meanwhile (the Mesa model has no recruitment)
    k_phen = np.bincount(mac.phen[old], minlength=3) / old.sum()
    k_eaten = float(mac.engulfed_um3[old].sum() - state.engulfed_um3.sum())
    mm = MesaMacrophageModel(model, state, seed=5)
    for _ in range(steps):
        mm.step()
    agents = list(mm.agents)
    m_phen = np.bincount([a.phen for a in agents], minlength=3) / len(agents)
    m_eaten = float(sum(a.engulfed_um3 for a in agents) - state.engulfed_um3.sum())
    ny = model.section.shape[1]
    m_pos = np.mean([a.cell.coordinate[0] * ny + a.cell.coordinate[1] for a in agents])
    return (f"after {steps} steps (fields frozen) from the same {n} agents: phenotype mix M0/M1/M2 kernels "
            f"{np.round(k_phen, 3).tolist()} vs Mesa {np.round(m_phen, 3).tolist()}; survivors {int(old.sum())} vs "
            f"{len(agents)}; NP volume engulfed by survivors {k_eaten / 1e6:.2f} vs {m_eaten / 1e6:.2f} ×10⁶ µm³; "
            f"mean flat voxel index {mac.pos[old].mean():.0f} vs {m_pos:.0f}")


# ====================================================================== fixed per-call costs
@numba.njit(cache=False)
def _nop():
    return 0


@numba.njit(cache=False)
def _nop_arg(x):
    return 0


def _nop_with(k: int):
    """A numba no-op taking ``k`` positional arguments (explicit parameters: ``*args`` is much slower)."""
    ns: dict = {}
    exec(f"def nop({', '.join(f'a{i}' for i in range(k))}):\n    return 0", ns)
    return numba.njit(cache=False)(ns["nop"])


def step_profile(steps: int = 24):
    """Calls per step of the wrapped functions and of numba calls receiving ``Kinetics`` / the
    ``Generator`` (from a day of the default scenario after day 30), and the arguments of one real call of
    ``secrete`` and ``macrophage_step``."""
    model = warmed_model(30.0)
    timer = SectionTimer(model)
    try:
        for _ in range(steps):
            model.step()
    finally:
        timer.restore()
    captured = {}

    def capture(name):
        fn = getattr(K, name)

        def wrapper(*args):
            captured[name] = args
            return fn(*args)
        setattr(K, name, wrapper)
        return fn

    saved = {name: capture(name) for name in ("secrete", "macrophage_step")}
    try:
        model.step()
    finally:
        for name, fn in saved.items():
            setattr(K, name, fn)
    calls = {k: c / steps for k, c in timer.calls.items()}
    crossings = {k: c / steps for k, c in timer.crossings.items()}
    return calls, crossings, captured


NOP_SECRETE = "numba no-op with `secrete`'s {} arguments as the step passes them (incl. `Kinetics`)"
NOP_STEP = "numba no-op with `macrophage_step`'s {} arguments as the step passes them (incl. `Kinetics` and the `Generator`)"


def per_call_costs(model: DiscModel, captured: dict, loops: int = 20_000) -> dict[str, float]:
    """Seconds per call of things the step does a fixed number of times, independent of the agent count."""
    kin_array = np.array(model._kin, dtype=np.float64)

    class Empty(mesa.Model):
        def step(self):
            pass

    empty = Empty(rng=1)
    _nop_arg(model.rng)
    entry = _nop_arg.overloads[_nop_arg.signatures[0]].entry_point  # compiled code: unboxing, no dispatch
    sec_args, step_args = captured["secrete"], captured["macrophage_step"]
    nop_sec, nop_step = _nop_with(len(sec_args)), _nop_with(len(step_args))
    n_draw = 3 * int(step_args[0].size)
    bulk_rng = np.random.default_rng(0)
    probes = [
        ("numba call, no arguments", lambda: _nop()),
        ("numba call with a 1-D float64 array", lambda: _nop_arg(kin_array)),
        (f"numba call with the `Kinetics` NamedTuple ({len(model._kin)} floats)", lambda: _nop_arg(model._kin)),
        ("numba call with a `numpy.random.Generator`", lambda: _nop_arg(model.rng)),
        ("… of which unboxing (same call through the compiled overload's `entry_point`, no type dispatch)",
         lambda: entry(model.rng)),
        (NOP_SECRETE.format(len(sec_args)), lambda: nop_sec(*sec_args)),
        (NOP_STEP.format(len(step_args)), lambda: nop_step(*step_args)),
        (f"for comparison: `rng.random({n_draw})` in numpy (≈ 3 uniforms per agent at day 30, drawn in bulk)",
         lambda: bulk_rng.random(n_draw)),
        ("Mesa 3.5 `Model.step()` wrapper around an empty step (event list, logging)", empty.step),
    ]
    out = {}
    for name, fn in probes:
        fn()

        def run(fn=fn):
            for _ in range(loops):
                fn()

        out[name] = best_of(run, 5) / loops
    return out


# ====================================================================== 2. step-time split
def bench_split(warm_days: float, days: float, repeats: int):
    n_steps = int(round(days * 24))
    best = None
    for _ in range(repeats):
        # same seed: the plain and the instrumented model follow the same trajectory
        plain = warmed_model(warm_days)
        t0 = time.perf_counter()
        for _ in range(n_steps):
            plain.step()
        t_plain = time.perf_counter() - t0

        inst = warmed_model(warm_days)
        timer = SectionTimer(inst)
        try:
            t0 = time.perf_counter()
            for _ in range(n_steps):
                inst.step()
            t_inst = time.perf_counter() - t0
        finally:
            timer.restore()
        acc = timer.acc
        acc[GLUE] = t_inst - sum(v for k, v in acc.items() if k != GLUE)
        identical = (np.array_equal(plain.fields.data, inst.fields.data) and np.array_equal(plain.material, inst.material)
                     and np.array_equal(plain.macrophages.pos, inst.macrophages.pos))
        if best is None or t_inst < best[1]:
            ts = inst.datacollector.get_model_vars_dataframe()
            n_mean = float(ts[["n_m0", "n_m1", "n_m2"]].sum(axis=1).iloc[-int(days):].mean())
            best = (t_plain, t_inst, dict(acc), identical, n_mean, timer.uncalled(), list(timer.calls))
    t_plain, t_inst, acc, identical, n_mean, uncalled, wrapped = best
    return n_steps, t_plain, t_inst, acc, identical, n_mean, uncalled, wrapped


# ====================================================================== 3. 365-day wall time
def bench_year(repeats: int, days: float):
    scenario = load_scenario(SCENARIO)
    best = {False: math.inf, True: math.inf}
    shots = {}
    for _ in range(repeats):  # interleaved, so drifting machine load affects both alike
        for snaps in (False, True):
            res = run_one(scenario, days=days, snapshots=snaps)
            best[snaps] = min(best[snaps], res.wall_time_s)
            shots[snaps] = len(res.snapshots)
    return {k: (best[k], shots[k]) for k in best}


def cold_start() -> float:
    """Wall time of a fresh process that imports discsim and simulates one day (JIT caches on disk)."""
    code = ("import time; t=time.perf_counter(); from sim.run import run_one; from sim.scenario import load_scenario; "
            f"run_one(load_scenario({str(SCENARIO)!r}), days=1, snapshots=False); print(time.perf_counter()-t)")
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    best = math.nan
    for _ in range(2):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode == 0:
            best = min(best, time.perf_counter() - t0) if best == best else time.perf_counter() - t0
        else:
            print("cold-start process failed:\n" + proc.stderr[-2000:], file=sys.stderr)
    return best


# ====================================================================== main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer sizes and repeats (smoke test)")
    ap.add_argument("--mesa-max", type=int, default=10_000, help="largest Mesa population (default 1e4)")
    ap.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/model.md")
    args = ap.parse_args()
    quick = args.quick
    reps = 2 if quick else 7
    out: list[str] = []

    def emit(s: str = "") -> None:
        print(s, flush=True)
        out.append(s)

    t_start = time.perf_counter()
    emit("# discsim model benchmark")
    emit()
    emit(f"`{' '.join(['.venv/bin/python', 'benchmarks/bench_model.py', *sys.argv[1:]])}` — "
         f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
         f"Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, mesa {mesa.__version__}, "
         f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}, load average before the run {os.getloadavg()[0]:.1f}. "
         f"Code: {git_state()}. Best of N after warm-up; ratios are within this run; the machine is shared, so "
         "absolute times are indicative only.")
    emit()

    # warm-up: JIT (from the on-disk cache) and a realistic state: fields/material after 30 days
    model = warmed_model(30.0)
    sec = model.section
    emit(f"Default scenario grid: {sec.shape[0]}×{sec.shape[1]} voxels of {sec.dx_um:.0f} µm, "
         f"{int(sec.walkable.sum())} walkable; {model.macrophages.n} macrophages at day 30.")
    emit()

    # ---------------------------------------------------------------- 1
    emit("## 1. Agent part of one step: numba kernels vs Mesa `CellAgent`s (per agent-step)")
    emit()
    n_real = max(model.macrophages.n, 10)  # the population the default scenario actually has
    base_fields, base_material, base_hours = model.fields.data.copy(), model.material.copy(), model.hours

    def population(n: int, seed: int) -> AgentState:
        return AgentState(model, n, seed, base_fields, base_material, base_hours)

    sizes = [n_real, 1_000, 10_000] if quick else [n_real, 1_000, 10_000, 100_000]
    rows, part_rows = [], []
    parts_by_n, inside_by_n, secr_by_n = {}, {}, {}
    for n in sizes:
        state = population(n, seed=n)
        bench_kernels(model, state, 2, 1)  # warm-up
        k_steps = max(10, min(200, 200_000 // n))
        with_mesa = n <= args.mesa_max
        if with_mesa:
            m_steps = 3 if n >= 10_000 else 10
            bench_mesa(model, population(min(n, 200), seed=n), 1, 1)  # warm-up
        # kernels and Mesa alternate, so that changing machine load hits both alike
        t_k, t_m, parts = math.inf, math.inf, None
        for r in range(reps):
            t, p = bench_kernels(model, state, k_steps, 1)
            if t < t_k:
                t_k, parts = t, p
            if with_mesa and r < (2 if quick or n >= 10_000 else 3):
                t_m = min(t_m, bench_mesa(model, state, m_steps, 1))
        parts_by_n[n] = parts
        inside_by_n[n] = bench_inside(model, state, k_steps, reps)
        secr_by_n[n] = bench_secretion_paths(model, state, k_steps, reps)
        if with_mesa:
            rows.append([f"{n:,}", fmt_t(t_k), fmt_t(t_m), f"1/{t_m / t_k:,.0f}", "yes" if t_k * 100 <= t_m else "**no**"])
        else:
            rows.append([f"{n:,}", fmt_t(t_k), "(not run)", "", ""])
        print(f"  n={n}: kernel {fmt_t(t_k)}/agent-step" + (f", Mesa {fmt_t(t_m)}" if with_mesa else ""), flush=True)
    emit(table(["agents", "kernels, per agent-step", "Mesa CellAgent, per agent-step", "kernel / Mesa", "≤ 1/100?"], rows))
    emit()
    for name in AGENT_FUNCS:
        part_rows.append([f"`{name}`"] + [fmt_t(parts_by_n[n][name]) for n in sizes])
    part_rows.append(["**total**"] + [fmt_t(sum(parts_by_n[n].values())) for n in sizes])
    emit("Per-function cost per agent-step (same runs as above, called by the real step; argument unboxing and "
         "numba dispatch included):")
    emit()
    emit(table(["function"] + [f"n = {n:,}" for n in sizes], part_rows))
    emit()
    calls, crossings, captured = step_profile()
    costs = per_call_costs(model, captured)
    t_nop_step = costs[NOP_STEP.format(len(captured["macrophage_step"]))]
    t_nop_sec = costs[NOP_SECRETE.format(len(captured["secrete"]))]
    inside_rows = [[f"`{name}`"] + [fmt_t(inside_by_n[n][name]) for n in sizes] for name in INSIDE]
    inside_rows.append(["crossing into `macrophage_step` + `secrete` (no-ops with their arguments, below) ÷ n"]
                       + [fmt_t((t_nop_step + t_nop_sec) / n) for n in sizes])
    emit("Inside numba: each kernel repeated as many times as above within one numba call, so the cost of calling "
         "it from Python is amortised away (the parts of `macrophage_step`, the whole of it, and `secrete`; fresh "
         "state per repeat, dead agents flagged but not removed, so every pass covers all n; NP material is "
         "eaten across passes). The last row is the fixed cost of the two crossings spread over the agents:")
    emit()
    emit(table(["work per agent-step"] + [f"n = {n:,}" for n in sizes], inside_rows))
    emit()
    secr_rows = [
        ["`kernels.secrete` (the model: integer (phenotype, voxel) counts)"] + [fmt_t(secr_by_n[n][0]) for n in sizes],
        ["per-agent rates (n, 8) + `diffusion.deposit` (general canonical-order scatter; the model before db25253)"]
        + [fmt_t(secr_by_n[n][1]) for n in sizes],
        ["deposit path / `secrete`"] + [f"{secr_by_n[n][1] / secr_by_n[n][0]:.1f}×" for n in sizes],
        ["largest difference of the two source arrays (relative to each field's max)"]
        + [f"{secr_by_n[n][2]:.1e}" for n in sizes],
    ]
    emit("Macrophage secretion: `secrete` against the general `diffusion.deposit` path for the same secretion "
         "(each called from Python once per step, as the model does; per agent-step):")
    emit()
    emit(table(["secretion path"] + [f"n = {n:,}" for n in sizes], secr_rows))
    emit()
    numba_calls = {k: v for k, v in calls.items() if k not in ("MacrophageArrays.keep", "MacrophageArrays.add")
                   and isinstance(getattr(K, k, None), numba.core.registry.CPUDispatcher)}
    emit(f"Fixed cost per call (independent of the number of agents). Per step of the default scenario (day 30-31), "
         f"`DiscModel.step` makes {sum(numba_calls.values()):.0f} calls into the model's kernels "
         f"({', '.join(f'`{k}`' for k, v in numba_calls.items() if v)}), plus the field solve's; "
         f"{crossings['Kinetics']:.0f} of them receive the `Kinetics` NamedTuple and {crossings['Generator']:.0f} "
         "the `Generator`; the step runs inside Mesa's `Model.step` wrapper:")
    emit()
    emit(table(["call", "time per call"], [[name, fmt_t(t)] for name, t in costs.items()]))
    emit()
    emit("Sanity check of the Mesa version (statistics, not bit equality): "
         + check_mesa_equivalence(model, population(2000, seed=7)))
    emit()
    emit("""Set-up: the agents are placed uniformly on walkable voxels of the default grid with phenotype mix
M0/M1/M2 = {mix}, ages 0-10 days and engulfed volumes 0-2 K; fields and NP material are those of the default
run at day 30. The kernel column is the real `DiscModel.step()` on that state with the field solve replaced by a
no-op (fields frozen) and the monocyte influx set to 0 (`model._influx_h = 0`: the recruitment part of
`macrophage_step` returns zeros before drawing, and the population is the synthetic one minus deaths, as in the
Mesa version, which has no recruitment). It times only the functions of the step's agent part — `kernels.secrete`,
`kernels.macrophage_step` (polarization + ageing + death, phagocytosis, `_gradient_2d`, chemotactic `move`,
recruitment draws) and `MacrophageArrays.keep`, each wrapped with a `perf_counter` pair (~0.1 µs per call; the
step's two `np.ones`/`np.empty` scratch allocations are not counted) — divided by the agents alive at the start
of each step; the first row is the population the default scenario actually has at day 30.
The Mesa version is `MesaMacrophage(CellAgent)` on an `OrthogonalVonNeumannGrid` with `tnf`, `il10`, `tgfb`,
`chemo`, `material`, `walkable` as `PropertyLayer`s; one `step()` per agent (`model.agents.do("step")`) does
polarization + ageing + death draw, phagocytosis, chemotaxis, removal of the dead and secretion into a numpy source
array. Differences, all in Mesa's favour or neutral: (a) sequential activation — each agent sees the voxel as
left by the agents before it (phagocytosis shares are taken one after another, instead of the kernels'
order-independent integer-count split) and adds its own secretion to the source array (the kernels count
(phenotype, voxel) pairs first, so the sum is order-independent); (b) draws come
from the model's `random` (Python `random.Random`, 10-20× cheaper per scalar draw than `model.rng.random()`), and
PropertyLayer values are converted to `float` once per read; (c) fixed
activation order (`do`, not `shuffle_do`); (d) the neighbour choice uses `random.choices`. The occupancy scan of a
voxel (`cell.agents`) grows with density (≈ n / {walk} agents per voxel).""".format(mix=PHEN_MIX, walk=int(sec.walkable.sum())))
    emit()

    # ---------------------------------------------------------------- 2
    emit("## 2. Split of the step time in a real `DiscModel` run")
    emit()
    split_days = 30 if quick else 60
    split_reps = 2 if quick else 5
    n_steps, t_plain, t_inst, acc, identical, n_mean, uncalled, wrapped = bench_split(30.0, split_days, split_reps)
    rows = []
    for name in SECTIONS:
        rows.append([name, f"{acc[name] / n_steps * 1e6:.1f}", f"{100 * acc[name] / t_inst:.1f} %"])
    rows.append(["**total (instrumented step)**", f"**{t_inst / n_steps * 1e6:.1f}**", "100 %"])
    rows.append(["`DiscModel.step` (unmodified, same trajectory)", f"{t_plain / n_steps * 1e6:.1f}",
                 f"{100 * t_plain / t_inst:.1f} %"])
    emit(table(["section", "µs per step", "share"], rows))
    emit()
    emit(f"Default scenario, days 30-{30 + split_days} ({n_steps} steps of 1 h, ~{n_mean:.0f} macrophages on "
         f"average), best of {split_reps}. Timed by wrapping every function `DiscModel.step` calls "
         f"({', '.join(f'`{w}`' for w in wrapped)}; never called in this run: "
         f"{', '.join(f'`{w}`' for w in uncalled) if uncalled else 'none'}). The step "
         f"itself runs unmodified; the instrumented run ends bit-identical to an uninstrumented one: **{identical}**. "
         "'Python glue' is the step's wall time minus the timed sections: the step body itself and Mesa 3.5's "
         "`Model.step` wrapper (views, the IL-10 background add, the `np.ones`/`np.empty` scratch for "
         "`macrophage_step`, `disc_cell_viability()` twice, `material.sum()`, argument look-ups, day bookkeeping) "
         "plus the wrappers' "
         "own overhead (compare the two totals). The field solve is 8 fields × "
         f"{sec.shape[0]}×{sec.shape[1]} voxels, implicit LOD (Thomas) per field.")
    emit()

    # ---------------------------------------------------------------- 3
    emit("## 3. Default scenario, 365 simulated days (`run_one`)")
    emit()
    year_reps = 2 if quick else 4
    year = bench_year(year_reps, 365.0)
    cs = cold_start()
    snap_model = warmed_model(1.0)
    t_snap = best_of(snap_model.snapshot, 20)
    rows = []
    for snaps in (False, True):
        t, nshot = year[snaps]
        rows.append([f"snapshots {'on' if snaps else 'off'} ({nshot})", f"{t:.2f} s",
                     f"{t / (365 * 24) * 1e6:.0f} µs", f"{2 * 60 / t:.1f}", f"{2 * 3600 / (t + cs / 1):.0f}"])
    emit(table(["run", "wall time, 365 days", "per step", "patients/min on 2 cores", "patients/h incl. one cold start each"], rows))
    emit()
    emit(f"`run_one(default, days=365)` after JIT warm-up, best of {year_reps}, off/on interleaved (includes `DiscModel` "
         f"construction and the DataCollector frame). Cohort throughput assumes 2 worker processes, one per core, "
         f"`NUMBA_NUM_THREADS=1`, each running whole patients: 2 × 60 s / wall time. A fresh worker process "
         f"(import + numba cache load + 1 simulated day) costs {cs:.1f} s once; a long-lived pool pays it once per "
         f"worker, the last column charges it to every patient (worst case: one process per patient). One `model.snapshot()` "
         f"costs {fmt_t(t_snap)} (best of 20), so 13 snapshots add {13 * t_snap * 1e3:.1f} ms to a run: a difference "
         "between the two rows larger than that is machine noise.")
    emit()
    emit(f"_Benchmark wall time: {time.perf_counter() - t_start:.0f} s._")

    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        tmp = RESULTS.with_suffix(".md.tmp")
        tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
        tmp.replace(RESULTS)
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
