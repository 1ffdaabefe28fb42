"""Parameter sweeps: a TOML sweep file names a base scenario, the parameters to vary and how.

Example (``scenarios/sweep_example.toml``)::

    name = "il10_resolution"
    base = "default.toml"          # relative to this file
    days = 120                     # optional: simulation.days of every run
    replicates = 3                 # seeds per design point
    seed = 7                       # root seed of the replicate seeds

    [overrides]                    # fixed for every run
    "geometry.dx_um" = 500

    [design]
    method = "factorial"           # or "lhs" / "sobol" (with n, seed and ranges)
    [design.parameters]
    "parameters.pain.il10_resolution_gain" = [0.0, 2.0, 4.0, 8.0]
    "patient.herniation_type" = ["protrusion", "sequestration"]

For ``lhs`` / ``sobol``: ``n = 16``, ``seed = 3`` and ranges ``{ low = 0.1, high = 2.0, scale = "log" }``
(scipy.stats.qmc). With ``[cohort] patients = 20`` every point is a virtual cohort drawn from the base
scenario's ``[cohort]`` section instead of replicates.

Seeds are common random numbers: replicate r (or patient k) has the same seeds at every point, so
differences between points are not masked by different noise.

Output directory::

    OUT/parts/<run>.parquet   one per run: point, replicate|patient, seed, swept parameters, timeseries
    OUT/runs.parquet          all runs, tidy (one row per run and day)
    OUT/outcomes.parquet      one row per run: parameters, seed, status/error, outcomes (pain at landmark
                              days, volume fraction at the end, peak M1/M2, ...)
    OUT/points.parquet        one row per point: parameters, n_runs, n_ok, mean/sd/quantiles of outcomes
    OUT/manifest.json         kind "sweep", the sweep, the design, seeds, versions
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..io.provenance import provenance
from ..io.store import write_json, write_parquet
from ..limits import check_count
from ..scenario import Problem, Scenario, ScenarioError, load_scenario, validate_model, with_overrides
from ..scenario.loader import _line_for, _line_index, parse_toml, read_input_text
from ..scenario.schema import whole_days
from .cohort import consolidate_parts, patient_row
from .draw import draw_patient, fingerprint, patient_seed_sequence, simulation_seed
from .executor import Outcome, Report, Task, read_error, run_tasks
from .summaries import outcome_columns, run_outcomes
from .tasks import RunSpec, simulate

__all__ = ["SweepFile", "Sweep", "load_sweep", "design_points", "run_sweep", "SweepResult"]

PART_FORMAT = 1
Scalar = Union[bool, int, float, str]


class _Strict(BaseModel):
    # as in the scenario schema: numbers are TOML numbers (no "1.5", no "yes" for true), and finite
    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False)


class Range(_Strict):
    """A continuous range of a swept parameter."""

    low: float
    high: float
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _valid(self):
        if not self.low < self.high:
            raise ValueError(f"low must be < high (got low={self.low:g}, high={self.high:g})")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"a log-scale range needs low > 0 (got {self.low:g})")
        return self

    def map(self, u: np.ndarray) -> np.ndarray:
        if self.scale == "log":
            return np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        return self.low + u * (self.high - self.low)


class Factorial(_Strict):
    """Every combination of explicit levels (full factorial)."""

    method: Literal["factorial"]
    parameters: dict[str, Annotated[list[Scalar], Field(min_length=1)]] = Field(min_length=1)


class LatinHypercube(_Strict):
    """``n`` points from a Latin hypercube over the ranges (scipy.stats.qmc.LatinHypercube)."""

    method: Literal["lhs"]
    n: int = Field(ge=1, le=1_000_000)
    seed: int = Field(0, ge=0)
    parameters: dict[str, Range] = Field(min_length=1)


class Sobol(_Strict):
    """``n`` points of a scrambled Sobol sequence over the ranges (best balanced when n is a power of 2)."""

    method: Literal["sobol"]
    n: int = Field(ge=1, le=1_000_000)
    seed: int = Field(0, ge=0)
    scramble: bool = True
    parameters: dict[str, Range] = Field(min_length=1)


Design = Annotated[Union[Factorial, LatinHypercube, Sobol], Field(discriminator="method")]


class SweepCohort(_Strict):
    """Run a virtual cohort at every point, drawn from the base scenario's ``[cohort]`` section."""

    patients: int = Field(ge=1, le=100_000)


class SweepFile(_Strict):
    """A sweep file."""

    name: str = Field("sweep", max_length=200)
    description: str = Field("", max_length=5000)
    base: str = Field(description="Base scenario file, relative to the sweep file.")
    days: float | None = Field(None, ge=1, le=3650, description="simulation.days of every run (whole days).")
    replicates: int = Field(1, ge=1, le=100_000, description="Seeds per point (ignored with [cohort]).")
    seed: int = Field(0, ge=0, description="Root seed of the replicate (or patient) seeds.")
    overrides: dict[str, Scalar] = Field(default_factory=dict, description="Fixed dotted-path overrides.")
    design: Design
    cohort: SweepCohort | None = None

    _whole_days = field_validator("days")(classmethod(lambda cls, v: whole_days(v)))

    @model_validator(mode="after")
    def _within_limits(self):
        n_points = design_size(self.design)
        runs = n_points * (self.cohort.patients if self.cohort is not None else self.replicates)
        check_count(
            "DISCSIM_MAX_DESIGN_POINTS",
            n_points,
            "design points",
            "use fewer levels (factorial) or a smaller n, or split the sweep into several files",
        )
        check_count(
            "DISCSIM_MAX_RUNS",
            runs,
            "runs (points × replicates or patients)",
            "use fewer points, replicates or patients",
        )
        return self


@dataclass
class Sweep:
    """A validated sweep: the file, its resolved base scenario, and the design points."""

    spec: SweepFile
    source: str
    base: Scenario  # base file with [overrides] applied
    base_path: Path
    points: list[dict[str, Any]]

    @property
    def parameter_names(self) -> list[str]:
        return list(self.spec.design.parameters)

    @property
    def runs_per_point(self) -> int:
        return self.spec.cohort.patients if self.spec.cohort is not None else self.spec.replicates


def design_size(design: Factorial | LatinHypercube | Sobol) -> int:
    """Number of points of a design, computed without building it."""
    if isinstance(design, Factorial):
        return math.prod(len(v) for v in design.parameters.values())
    return design.n


def design_points(design: Factorial | LatinHypercube | Sobol) -> list[dict[str, Any]]:
    """The design as a list of {dotted path: value}, in a fixed order."""
    names = list(design.parameters)
    if isinstance(design, Factorial):
        levels = [_uniform_type(design.parameters[n]) for n in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*levels)]
    from scipy.stats import qmc

    d = len(names)
    if isinstance(design, LatinHypercube):
        u = qmc.LatinHypercube(d, rng=np.random.default_rng(design.seed)).random(design.n)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance warning for n not a power of 2
            u = qmc.Sobol(d, scramble=design.scramble, rng=np.random.default_rng(design.seed)).random(design.n)
    cols = [design.parameters[n].map(u[:, j]) for j, n in enumerate(names)]
    return [{n: float(cols[j][i]) for j, n in enumerate(names)} for i in range(design.n)]


def _uniform_type(values: list[Any]) -> list[Any]:
    # one dtype per parameter column: ints stay ints, mixed int/float become float
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) and any(
        isinstance(v, float) for v in values
    ):
        return [float(v) for v in values]
    return list(values)


def _path_problems(base: Scenario, section: str, values: dict[str, list[Any]], index) -> list[Problem]:
    """Problems of dotted paths (unknown, or a value the scenario rejects), as sweep-file problems."""
    problems: list[Problem] = []
    for dotted, candidates in values.items():
        where = f"{section}.{dotted}"
        line = _line_for(where, index)
        if dotted.split(".")[0] in ("cohort",) and base.cohort is None:
            problems.append(Problem(where, "the base scenario has no [cohort] section", line))
            continue
        seen: set[str] = set()
        for v in candidates:
            try:
                with_overrides(base, {dotted: v})
            except ScenarioError as exc:
                for p in exc.problems:
                    msg = p.message if p.path in (dotted, "") else f"{p.path}: {p.message}"
                    if msg.split(" (got ")[0] not in seen:
                        seen.add(msg.split(" (got ")[0])
                        seen.add(msg)
                        problems.append(
                            Problem(
                                where, msg if ("unknown" in msg or "(got " in msg) else f"{msg} (value {v!r})", line
                            )
                        )
                if any("unknown parameter path" in p.message for p in exc.problems):
                    break
    return problems


def _untag(p: Problem, index) -> Problem:
    # "design.lhs.parameters.x" -> "design.parameters.x" (pydantic puts the union tag in the path)
    parts = p.path.split(".")
    if len(parts) > 1 and parts[0] == "design" and parts[1] in ("factorial", "lhs", "sobol"):
        path = ".".join([parts[0], *parts[2:]])
        return Problem(path, p.message, _line_for(path, index))
    return p


def _raw_path_problems(path: Path, data: dict[str, Any], index) -> list[Problem]:
    """Unknown dotted paths in an (otherwise invalid) sweep file, checked against its base if it loads."""
    base_name = data.get("base")
    try:
        if not isinstance(base_name, str) or not (path.parent / base_name).is_file():
            return []
    except (OSError, ValueError):
        return []
    try:
        base = load_scenario(path.parent / base_name)
    except ScenarioError:
        return []
    known = base.model_dump(mode="json")
    problems = []
    design = data.get("design")
    for section, table in (
        ("overrides", data.get("overrides")),
        ("design.parameters", design.get("parameters") if isinstance(design, dict) else None),
    ):
        if not isinstance(table, dict):
            continue
        for dotted in table:
            node: Any = known
            for part in str(dotted).split("."):
                if not isinstance(node, dict) or part not in node:
                    where = f"{section}.{dotted}"
                    problems.append(Problem(where, "unknown parameter path", _line_for(where, index)))
                    break
                node = node[part]
    return problems


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file and its base scenario.

    Raises
    ------
    ScenarioError
        Listing every problem of the sweep file (dotted path and line): schema errors, a missing base,
        unknown parameter paths, values the scenario rejects. Problems of the base file itself are
        reported against that file.
    """
    path = Path(path)
    source = str(path)
    text = read_input_text(path)
    data = parse_toml(text, source)
    index = _line_index(text)
    try:
        spec = validate_model(SweepFile, data, source, text)
    except ScenarioError as exc:
        # also report unknown parameter paths, so that one run lists every problem
        problems = [_untag(p, index) for p in exc.problems] + _raw_path_problems(path, data, index)
        raise ScenarioError(source, problems) from None

    if len(spec.base) > 1000 or "\0" in spec.base:
        raise ScenarioError(source, [Problem("base", "not a usable file path", _line_for("base", index))])
    base_path = (path.parent / spec.base).absolute()
    try:
        base_found = base_path.is_file()
    except OSError:  # e.g. a name too long for the file system
        base_found = False
    if not base_found:
        raise ScenarioError(
            source,
            [
                Problem(
                    "base", f"base scenario {spec.base!r} not found (looked for {base_path})", _line_for("base", index)
                )
            ],
        )
    base = load_scenario(base_path)
    problems = _path_problems(base, "overrides", {k: [v] for k, v in spec.overrides.items()}, index)
    if not problems and spec.overrides:
        base = with_overrides(base, spec.overrides, source)
    if spec.days is not None:
        base = base.model_copy(update={"simulation": base.simulation.model_copy(update={"days": spec.days})})
    design = spec.design
    if isinstance(design, Factorial):
        candidates = {k: list(v) for k, v in design.parameters.items()}
    else:
        candidates = {k: [r.low, r.high] for k, r in design.parameters.items()}
    problems += _path_problems(base, "design.parameters", candidates, index)
    for dotted in spec.overrides:
        if dotted in design.parameters:
            problems.append(
                Problem(
                    f"overrides.{dotted}",
                    "also swept in [design.parameters]; give it once",
                    _line_for(f"overrides.{dotted}", index),
                )
            )
    if problems:
        raise ScenarioError(source, problems)
    return Sweep(spec, source, base, base_path, design_points(design))


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    out: Path
    n_points: int
    n_runs: int
    n_ok: int
    n_failed: int
    n_cached: int
    wall_time_s: float
    manifest: dict[str, Any]


@dataclass(frozen=True)
class _Run:
    key: str
    point: int
    index: int  # replicate or patient
    seed: int
    scenario: Scenario
    effects: dict[str, Any] | None
    sample_day: int | None


def _plan(sweep: Sweep) -> list[_Run]:
    runs = []
    root = sweep.spec.seed
    cohort = sweep.spec.cohort is not None
    for i, point in enumerate(sweep.points):
        scen = with_overrides(sweep.base, point, sweep.source)
        patient_overrides = {k: v for k, v in point.items() if k.startswith("patient.")}
        for r in range(sweep.runs_per_point):
            if cohort:
                vp = draw_patient(scen, r, root=root, days=scen.simulation.days)
                s = with_overrides(vp.scenario, patient_overrides) if patient_overrides else vp.scenario
                effects = dict(vp.effects)
                for k in patient_overrides:
                    name = k.split(".", 1)[1]
                    effects[name] = getattr(s.patient, name)
                effects["herniation_type"] = s.patient.herniation_type.value
                effects["rim_exposure"] = float(s.rim_exposure())
                runs.append(_Run(f"point-{i:05d}-patient-{r:06d}", i, r, vp.seed, s, effects, vp.effects["sample_day"]))
            else:
                seed = simulation_seed(patient_seed_sequence(root, r).spawn(2)[1])
                s = scen.model_copy(
                    update={"simulation": scen.simulation.model_copy(update={"seed": seed}), "cohort": None}
                )
                runs.append(_Run(f"point-{i:05d}-rep-{r:04d}", i, r, seed, s, None, None))
    return runs


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    retries: int = 2,
    progress: Callable[[Outcome, int, int], None] | None = None,
) -> SweepResult:
    """Run every point × replicate (or patient) of ``sweep`` into ``out`` (layout in the module docstring)."""
    from types import SimpleNamespace

    t0 = time.perf_counter()
    out = Path(out)
    parts = out / "parts"
    names = sweep.parameter_names
    unit = "patient" if sweep.spec.cohort is not None else "replicate"
    plan = _plan(sweep)
    tasks = []
    for run in plan:
        ids = {"point": run.point, unit: run.index, "seed": run.seed}
        ids.update({n: sweep.points[run.point][n] for n in names})
        tasks.append(Task(run.key, RunSpec.of(run.scenario, ids), fingerprint(run.scenario, ids, PART_FORMAT)))
    prov = provenance()
    report: Report = run_tasks(
        tasks,
        simulate,
        parts,
        workers=workers,
        scheduler=scheduler,
        client=client,
        retries=retries,
        progress=progress,
        metadata={"kind": "sweep-part", "git_revision": prov["git_revision"]},
    )

    by_key = {r.key: r for r in plan}
    rows: dict[str, dict[str, Any]] = {}
    id_cols = ["point", unit, "seed", *names]

    def row_of(run: _Run, ts: pd.DataFrame | None, status: str, error: str) -> dict[str, Any]:
        row: dict[str, Any] = {"point": run.point, unit: run.index, "seed": run.seed}
        row.update({n: sweep.points[run.point][n] for n in names})
        row["status"], row["error"] = status, error
        if run.effects is not None:
            vp = SimpleNamespace(index=run.index, seed=run.seed, effects=run.effects)
            pr = patient_row(vp, ts, status, error)  # type: ignore[arg-type]
            for k in ("patient", "seed", "status", "error"):
                pr.pop(k)
            row.update(pr)
        else:
            row.update(run_outcomes(ts) if ts is not None else dict.fromkeys(outcome_columns(), math.nan))
        return row

    def on_part(key: str, frame: pd.DataFrame) -> None:
        rows[key] = row_of(by_key[key], frame.drop(columns=id_cols), "ok", "")

    meta = {"kind": "sweep", "name": sweep.spec.name, "parameters": names}
    keys = [t.key for t in tasks]
    consolidate_parts(parts, keys, out / "runs.parquet", meta, on_part)
    failed = []
    for key in keys:
        if key not in rows:
            err = read_error(parts, key)
            msg = err["error"] if err else "no result"
            rows[key] = row_of(by_key[key], None, "failed", msg)
            failed.append({"run": key, "error": msg})
    outcomes = pd.DataFrame.from_records([rows[k] for k in keys])
    for col in ("point", unit, "seed"):
        outcomes[col] = outcomes[col].astype("int64")
    write_parquet(outcomes, out / "outcomes.parquet", meta)

    from .summaries import group_statistics

    values = [c for c in outcome_columns() if c in outcomes and outcomes[c].notna().any()]
    if sweep.spec.cohort is not None:
        values += [c for c in outcomes.columns if c.endswith("_sample") and c not in values]
    stats = group_statistics(outcomes, ["point"], values)
    points = pd.DataFrame.from_records([{"point": i, **p} for i, p in enumerate(sweep.points)])
    points = points.merge(stats, on="point", how="left")
    write_parquet(points, out / "points.parquet", meta)

    wall = time.perf_counter() - t0
    manifest = {
        "kind": "sweep",
        "name": sweep.spec.name,
        "source": sweep.source,
        "sweep": sweep.spec.model_dump(mode="json"),
        "base_scenario": sweep.base.model_dump(mode="json"),
        "base_path": str(sweep.base_path),
        "parameters": names,
        "method": sweep.spec.design.method,
        "points": sweep.points,
        "run_unit": unit,
        "runs_per_point": sweep.runs_per_point,
        "root_seed": sweep.spec.seed,
        "seed_derivation": f"{unit} r: SeedSequence(root_seed, spawn_key=(r,)), the same at every point "
        "(common random numbers)",
        "seeds": sorted({r.seed for r in plan}, key=[r.seed for r in plan].index),
        "n_points": len(sweep.points),
        "n_runs": len(plan),
        "n_ok": int((outcomes["status"] == "ok").sum()),
        **report.manifest_fields(failed, retries, wall),
        "files": {
            "runs": "runs.parquet",
            "outcomes": "outcomes.parquet",
            "points": "points.parquet",
            "parts": "parts/",
        },
        **prov,
    }
    write_json(manifest, out / "manifest.json")
    return SweepResult(
        out, len(sweep.points), len(plan), manifest["n_ok"], len(failed), report.count("cached"), wall, manifest
    )
