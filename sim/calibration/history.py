"""Bayesian calibration of the cohort model: history matching with Gaussian-process emulators, then the posterior.

The simulator is expensive (a 60-patient cohort of one year is about two minutes on two cores) and stochastic, so
the posterior is computed on emulators of the summary statistics, not on the simulator itself:

1. **Waves of design points** (:func:`run_wave`). Wave 1 is a scrambled Sobol' design over the whole prior (unit
   cube of the sampling scales); wave k > 1 takes its points from the region the earlier waves left
   non-implausible. Each point is a fresh virtual cohort (``budget.patients`` patients of
   ``budget.days`` days, seed ``SeedSequence([seed, wave, point])``) with the point's parameter values; its
   summary statistics (every target statistic of :mod:`sim.calibration.validate`, fitted or not) are stored
   per point. A wave stops and resumes: the statistics of finished points are kept in the wave's
   ``points.csv`` (committed with the calibration), the per-patient parts in a scratch folder.
2. **Emulators** (:class:`Emulator`): one scikit-learn Gaussian process per fitted statistic, on the unit-cube
   coordinates, with an anisotropic squared-exponential kernel and a white-noise term for the sampling noise of
   a 60-patient cohort. Predictions are of the *population* statistic (the latent mean, without that noise).
   Held-out diagnostics: k-fold standardized errors and R².
3. **Implausibility** (:func:`implausibility`): I_j(x) = |r_j(μ_j(x))| / √(σ²_emu,j(x) + s_j²(1 + δ²)), with
   r_j the residual of statistic j from its target (for an interval target, the distance outside the interval)
   and s_j the target's uncertainty scale; a point is non-implausible when the ``order``-th largest I_j is
   below ``cutoff`` (Vernon, Goldstein & Bower 2010).
4. **Posterior** (:func:`fit_posterior`): pyabc ABC-SMC on the emulators with a stochastic acceptor and a
   Gaussian kernel of variance s_j²(1 + δ²) on the residuals, each simulated statistic drawn from its emulator's
   predictive. With a stochastic acceptor and a temperature schedule down to 1 this samples the posterior of
   the Gaussian noise model exactly (Wilkinson 2013; Schälte & Hasenauer 2020), the emulator uncertainty
   included. No inference algorithm is written here.

The declared settings (parameters, priors, fit and check targets, budget) live in ``calibration/posterior.toml``
(:func:`load_config`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import tomllib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io.store import write_json
from ..scenario import Scenario, load_scenario, with_overrides
from .settings import StatsConfig
from .targets import TargetSet, calibrated_parameters, load_targets

__all__ = [
    "HistoryError",
    "Parameter",
    "HistoryConfig",
    "load_config",
    "model_hash",
    "wave_design",
    "run_wave",
    "read_points",
    "Emulator",
    "fit_emulators",
    "implausibility",
    "fit_spec",
    "posterior_box",
    "sobol_convergence",
    "emulator_sobol",
    "sensitivity",
    "write_point",
    "EmulatorLikelihood",
    "fit_posterior_mcmc",
    "SAMPLERS",
]

POINTS_FILE = "points.csv"
DESIGN_FILE = "design.csv"
#: statistics of a design point are computed with these (the bootstrap CIs are not used)
POINT_STATS = {"n_boot": 200, "fit_n_boot": 0}


class HistoryError(ValueError):
    """The calibration file is malformed or a wave cannot start or continue."""


# ---------------------------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """A fitted parameter: dotted path, prior range and sampling scale (uniform on [lo, hi] in that scale)."""

    path: str
    lo: float
    hi: float
    scale: str = "linear"
    source: str = ""

    @property
    def is_cohort(self) -> bool:
        """A cohort-spread parameter: applied to the scenario before the patients are drawn."""
        return self.path.startswith("cohort.")

    def from_unit(self, u: np.ndarray | float) -> np.ndarray | float:
        """Unit-cube coordinate -> parameter value."""
        if self.scale == "log10":
            a, b = math.log10(self.lo), math.log10(self.hi)
            return 10.0 ** (a + (b - a) * np.asarray(u, dtype=float))
        return self.lo + (self.hi - self.lo) * np.asarray(u, dtype=float)

    def to_unit(self, value: np.ndarray | float) -> np.ndarray | float:
        """Parameter value -> unit-cube coordinate."""
        v = np.asarray(value, dtype=float)
        if self.scale == "log10":
            a, b = math.log10(self.lo), math.log10(self.hi)
            return (np.log10(v) - a) / (b - a)
        return (v - self.lo) / (self.hi - self.lo)


@dataclass
class HistoryConfig:
    """Everything declared in ``calibration/posterior.toml`` (see that file)."""

    path: Path
    scenario: Path
    out: Path
    parameters: list[Parameter]
    fit: list[str]
    check: list[str]
    patients: int = 60
    days: float = 365.0
    #: days per wave (default: ``days`` for every wave); a cheaper first wave screens the prior on the early
    #: statistics, the later ones reach the one-year outcomes
    wave_days: list[float] = field(default_factory=list)
    seed: int = 20240601
    wave_points: list[int] = field(default_factory=lambda: [128, 64, 64])
    cutoff: float = 3.0
    order: int = 2
    discrepancy: float = 0.5
    candidates: int = 65536
    population: int = 1000
    max_populations: int = 20
    #: relative effective sample size the tempering keeps from one population to the next (pyabc.EssScheme)
    target_ess: float = 0.5
    posterior_seed: int = 20261202

    def days_of(self, wave: int) -> float:
        """Simulated days of a wave's patients."""
        return float(self.wave_days[wave - 1]) if self.wave_days else float(self.days)

    @property
    def names(self) -> list[str]:
        return [p.path for p in self.parameters]

    def stats_config(self) -> StatsConfig:
        return StatsConfig(**POINT_STATS)

    def declaration(self) -> dict[str, Any]:
        """The declared settings (what a stored wave must have been made with)."""
        d = asdict(self)
        d.pop("path")
        # Relative to the config file, so that a calibration's history stays valid in another clone.
        base = self.path.parent
        d["scenario"] = Path(os.path.relpath(self.scenario, base)).as_posix()
        d["out"] = Path(os.path.relpath(self.out, base)).as_posix()
        return d


def _problem(path: Path, where: str, what: str) -> HistoryError:
    return HistoryError(f"{path}: {where}: {what}")


def _number(path: Path, table: dict[str, Any], where: str, key: str, default: Any, kind: type = float, low=0.0):
    """``table[key]`` (or ``default``) as a finite number of ``kind`` ≥ ``low``."""
    v = table.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _problem(path, f"{where}.{key}", f"must be a number, got {v!r}")
    if kind is int and int(v) != v:
        raise _problem(path, f"{where}.{key}", f"must be an integer, got {v!r}")
    if v < low:
        raise _problem(path, f"{where}.{key}", f"must be ≥ {low:g}, got {v!r}")
    return kind(v)


def _section(path: Path, raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise _problem(path, f"[{name}]", "must be a table")
    return value


def _parameter(path: Path, i: int, entry: Any, schema: dict[str, Any], seen: set[str]) -> Parameter:
    """One ``[[parameter]]`` entry: a schema prior by path, or an explicit range with its reason."""
    where = f"parameter[{i}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise _problem(path, where, "needs a `path`")
    p = entry["path"]
    extra = set(entry) - {"path", "low", "high", "scale", "reason"}
    if extra:
        raise _problem(path, f"{where} ({p})", f"unknown key {', '.join(sorted(extra))}")
    if p in seen:
        raise _problem(path, f"{where} ({p})", "listed twice")
    if "low" in entry or "high" in entry:
        lo = _number(path, entry, where, "low", None, low=-math.inf)
        hi = _number(path, entry, where, "high", None, low=-math.inf)
        if not hi > lo:
            raise _problem(path, f"{where} ({p})", f"high must exceed low, got {lo:g}..{hi:g}")
        source = str(entry.get("reason", ""))
        if not source:
            what = (
                "a cohort spread needs a `reason` for its range"
                if p.startswith("cohort.")
                else ("a range other than the schema's prior needs a `reason`")
            )
            raise _problem(path, f"{where} ({p})", what)
        scale = entry.get("scale", "log10" if lo > 0 and hi / lo >= 100 else "linear")
    elif p in schema:
        pr = schema[p]
        lo, hi, scale, source = pr.lo, pr.hi, pr.scale, "schema prior (x-prior)"
    else:
        raise _problem(path, f"{where} ({p})", "not a calibrated parameter of the schema; give low/high/reason")
    if scale not in ("linear", "log10") or (scale == "log10" and lo <= 0):
        raise _problem(path, f"{where} ({p})", f"scale must be linear or log10 (with low > 0), got {scale!r}")
    return Parameter(p, float(lo), float(hi), scale, source)


def _target_split(path: Path, tsec: dict[str, Any], targets: TargetSet) -> tuple[list[str], list[str]]:
    """``[targets]`` fit and check lists: known ids, at least one fitted, none in both."""
    known = {t.id for t in targets.entries}
    fit, check = tsec.get("fit", []), tsec.get("check", [])
    for name, ids in (("fit", fit), ("check", check)):
        if not isinstance(ids, list) or not all(isinstance(t, str) for t in ids):
            raise _problem(path, f"targets.{name}", "must be a list of target ids")
        for t in ids:
            if t not in known:
                raise _problem(path, f"targets.{name}", f"{t!r} is not a target of {targets.path}")
    if not fit:
        raise _problem(path, "targets.fit", "no fitted target")
    both = set(fit) & set(check)
    if both:
        raise _problem(path, "targets", f"{', '.join(sorted(both))} both fitted and checked")
    return list(fit), list(check)


def _waves(path: Path, budget: dict[str, Any]) -> tuple[list[int], list[float]]:
    """``budget.wave_points`` (≥ 8 each) and ``budget.wave_days`` (empty, or one number ≥ 1 per wave)."""
    waves = budget.get("wave_points", [128, 64, 64])
    if not isinstance(waves, list) or not waves or not all(isinstance(n, int) and n >= 8 for n in waves):
        raise _problem(path, "budget.wave_points", f"must be a list of integers ≥ 8, got {waves!r}")
    days = budget.get("wave_days", [])
    ok = isinstance(days, list) and (
        not days
        or (
            len(days) == len(waves)
            and all(isinstance(x, int | float) and not isinstance(x, bool) and x >= 1 for x in days)
        )
    )
    if not ok:
        raise _problem(path, "budget.wave_days", f"must be one number of days ≥ 1 per wave, got {days!r}")
    return list(waves), days


def load_config(path: str | Path, targets: TargetSet | None = None) -> HistoryConfig:
    """Read and check a calibration file; every problem names the file and the entry."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise HistoryError(f"{path}: not valid TOML: {err}") from None
    targets = targets or load_targets()
    unknown = set(raw) - {"scenario", "out", "budget", "emulator", "posterior", "targets", "parameter"}
    if unknown:
        raise _problem(path, ", ".join(sorted(unknown)), "unknown key")
    for key in ("scenario", "out"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise _problem(path, key, "missing (a path, relative to this file)")
    budget, emulator, post = (_section(path, raw, k) for k in ("budget", "emulator", "posterior"))

    entries = raw.get("parameter", [])
    if not isinstance(entries, list) or not entries:
        raise _problem(path, "[[parameter]]", "at least one parameter is needed")
    schema = calibrated_parameters()
    params: list[Parameter] = []
    for i, entry in enumerate(entries):
        params.append(_parameter(path, i, entry, schema, {q.path for q in params}))
    fit, check = _target_split(path, _section(path, raw, "targets"), targets)
    waves, wave_days = _waves(path, budget)

    def number(table: dict[str, Any], where: str, key: str, default: Any, kind: type = float, low: float = 0.0):
        return _number(path, table, where, key, default, kind, low)

    base = path.parent
    cfg = HistoryConfig(
        path=path,
        scenario=(base / raw["scenario"]).resolve(),
        out=(base / raw["out"]).resolve(),
        parameters=params,
        fit=fit,
        check=check,
        patients=number(budget, "budget", "patients", 60, int, 8),
        days=number(budget, "budget", "days", 365.0, float, 1.0),
        seed=number(budget, "budget", "seed", 20240601, int),
        wave_points=waves,
        wave_days=wave_days,
        cutoff=number(emulator, "emulator", "cutoff", 3.0, float, 0.1),
        order=number(emulator, "emulator", "order", 2, int, 1),
        discrepancy=number(emulator, "emulator", "discrepancy", 0.5),
        candidates=number(emulator, "emulator", "candidates", 65536, int, 64),
        population=number(post, "posterior", "population", 1000, int, 10),
        max_populations=number(post, "posterior", "max_populations", 20, int, 1),
        target_ess=number(post, "posterior", "target_relative_ess", 0.5, float, 0.05),
        posterior_seed=number(post, "posterior", "seed", 20261202, int),
    )
    if not cfg.scenario.is_file():
        raise _problem(path, "scenario", f"{cfg.scenario}: no such file")
    return cfg


#: the source that determines a simulated patient: the model, the field solver, the scenario schema and loader,
#: the run loop, the patient draw and the tissue sample (not the cohort runner, command line or analysis)
MODEL_SOURCES = ("model", "diffusion", "scenario", "run.py", "limits.py", "cohort/draw.py", "cohort/summaries.py")


def model_hash(root: Path | None = None) -> str:
    """Hash of :data:`MODEL_SOURCES` (names and contents). Design-point statistics stay valid while it is
    unchanged."""
    root = root or Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if not any(rel == s or rel.startswith(s + "/") for s in MODEL_SOURCES):
            continue
        h.update(rel.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------
# target specification
# ---------------------------------------------------------------------------------------------------------------


def fit_spec(config: HistoryConfig, targets: TargetSet | None = None) -> pd.DataFrame:
    """The fitted statistics: one row per statistic key (value, range, scale, kind), those the budget's horizon
    reaches. Rows of a fitted target beyond the horizon (late trial visits) are left to the predictive check."""
    from .abc import _max_entry_day, reachable_spec
    from .validate import distance_spec

    targets = targets or load_targets()
    spec = distance_spec(targets, config.stats_config(), uses=("calibrate",))
    spec = spec[spec["target_id"].isin(config.fit)]
    scenario = load_scenario(config.scenario)
    spec = reachable_spec(spec, config.days, _max_entry_day(scenario), config.stats_config())
    return spec.reset_index(drop=True)


def residuals(values: np.ndarray, spec: pd.DataFrame) -> np.ndarray:
    """Residual of each statistic from its target (columns in ``spec`` order): value − target, or for an interval
    target the distance outside the interval (0 inside)."""
    values = np.asarray(values, dtype=float)
    value = spec["value"].to_numpy(float)
    lo, hi = spec["lo"].to_numpy(float), spec["hi"].to_numpy(float)
    interval = (spec["kind"] == "interval").to_numpy()
    out = values - value
    outside = np.maximum(np.maximum(lo - values, 0.0), values - hi)
    return np.where(interval, outside, out)


# ---------------------------------------------------------------------------------------------------------------
# design
# ---------------------------------------------------------------------------------------------------------------


def _sobol(d: int, n: int, seed: int) -> np.ndarray:
    from scipy.stats import qmc

    m = int(math.ceil(math.log2(max(n, 2))))
    return qmc.Sobol(d, scramble=True, seed=seed).random_base2(m)[:n]


def wave_design(
    config: HistoryConfig, wave: int, previous: Sequence[tuple[Emulator, pd.DataFrame]] = ()
) -> pd.DataFrame:
    """The design points of ``wave`` (1-based): unit coordinates ``u.<path>`` and values ``<path>``.

    Wave 1: the first ``wave_points[0]`` points of a scrambled Sobol' sequence over the prior. Later waves: the
    first ``wave_points[k]`` non-implausible points (under every earlier wave's emulators) of a Sobol' sequence
    of ``candidates`` prior points.
    """
    if wave < 1 or wave > len(config.wave_points):
        raise HistoryError(f"wave {wave}: the calibration declares waves 1..{len(config.wave_points)}")
    n = config.wave_points[wave - 1]
    d = len(config.parameters)
    seed = int(np.random.SeedSequence([config.seed, wave, 0xD5]).generate_state(1)[0])
    if wave == 1:
        u = _sobol(d, n, seed)
    else:
        if not previous:
            raise HistoryError(f"wave {wave} needs the emulators of the earlier waves")
        cand = _sobol(d, config.candidates, seed)
        keep = np.ones(len(cand), dtype=bool)
        for emu, spec in previous:
            keep &= non_implausible(emu, spec, cand, config)
        u = cand[keep][:n]
        if len(u) < n:
            raise HistoryError(
                f"wave {wave}: only {len(u)} of {config.candidates} prior candidates are non-implausible "
                f"(need {n}); raise emulator.candidates"
            )
    return design_frame(config, u, wave)


def design_frame(config: HistoryConfig, u: np.ndarray, wave: int) -> pd.DataFrame:
    rows = pd.DataFrame({"wave": wave, "point": np.arange(len(u))})
    for j, p in enumerate(config.parameters):
        rows[f"u.{p.path}"] = u[:, j]
    for j, p in enumerate(config.parameters):
        rows[p.path] = p.from_unit(u[:, j])
    return rows


def point_seed(config: HistoryConfig, wave: int, point: int) -> int:
    """Root seed of a design point's patients (fresh patients at every point)."""
    return int(np.random.SeedSequence([config.seed, wave, point]).generate_state(1, dtype=np.uint64)[0] >> 1)


def point_scenario(base: Scenario, config: HistoryConfig, row: pd.Series) -> tuple[Scenario, dict[str, float]]:
    """The point's scenario with its cohort spreads applied (before the draw), and its parameter overrides
    (applied to every drawn patient)."""
    cohort = {p.path: float(row[p.path]) for p in config.parameters if p.is_cohort}
    params = {p.path: float(row[p.path]) for p in config.parameters if not p.is_cohort}
    return (with_overrides(base, cohort, source=str(config.path)) if cohort else base), params


# ---------------------------------------------------------------------------------------------------------------
# running a wave
# ---------------------------------------------------------------------------------------------------------------


def wave_dir(config: HistoryConfig, wave: int) -> Path:
    return config.out / f"wave-{wave:02d}"


def read_points(config: HistoryConfig, wave: int) -> pd.DataFrame:
    """The finished design points of a wave (design columns + one column per statistic key)."""
    f = wave_dir(config, wave) / POINTS_FILE
    if not f.is_file():
        return pd.DataFrame()
    return pd.read_csv(f)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False, float_format="%.10g")
    tmp.replace(path)


def _manifest(config: HistoryConfig, wave: int) -> dict[str, Any]:
    return {
        "wave": wave,
        "declaration": config.declaration(),
        "config_sha256": _file_hash(config.path),
        "scenario_sha256": _file_hash(config.scenario),
        "model_hash": model_hash(),
    }


def _wave_declaration(declaration: dict[str, Any], wave: int) -> dict[str, Any]:
    """What a wave's points depend on: every declared setting, but only the first ``wave`` entries of the wave
    lists. A wave appended to the declaration later therefore leaves the earlier waves valid, while a change of
    an earlier wave's size or days (or of anything else) does not."""
    d = dict(declaration)
    for key in ("wave_points", "wave_days"):
        d[key] = list(d.get(key) or [])[:wave]
    return d


def _check_manifest(config: HistoryConfig, wave: int, allow_stale: bool) -> dict[str, Any]:
    d = wave_dir(config, wave)
    f = d / "wave.json"
    now = _manifest(config, wave)
    if not f.is_file():
        return now
    stored = json.loads(f.read_text(encoding="utf-8"))
    if _wave_declaration(stored.get("declaration") or {}, wave) != _wave_declaration(now["declaration"], wave):
        raise HistoryError(f"{d}: made with other declared settings than {config.path}; use a new `out`")
    for key, what in (("model_hash", "model source"), ("scenario_sha256", "scenario file")):
        if stored.get(key) != now[key] and not allow_stale:
            raise HistoryError(
                f"{d}: its points were simulated with another {what} ({stored.get(key)} vs {now[key]}); "
                "start a new calibration (`out`) or pass --allow-stale"
            )
    return stored


def point_statistics(patients: pd.DataFrame, trajectories: pd.DataFrame, config: HistoryConfig, targets: TargetSet):
    """Every target statistic of one simulated cohort, keyed by statistic key (NaN where not computable)."""
    from .stats import CohortError, cohort_from_frames, compute_statistics
    from .validate import comparisons

    signs = {k: int(v) for k, v in targets["review_association_signs"].by_label().items()}
    try:
        stats = compute_statistics(cohort_from_frames(patients, trajectories), config.stats_config(), signs)
    except CohortError:
        return {}
    out = {}
    for c in comparisons(stats, targets, include_checks=True):
        try:
            out[c.stat_key] = float(c.simulated)
        except (TypeError, ValueError):
            continue
    return out


def run_wave(
    config: HistoryConfig,
    wave: int,
    *,
    parts: str | Path,
    workers: int = 0,
    client: Any = None,
    max_points: int | None = None,
    batch: int = 4,
    allow_stale: bool = False,
    targets: TargetSet | None = None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Simulate the wave's unfinished design points, ``batch`` points at a time, and append their statistics to
    ``points.csv`` (rewritten atomically after every batch). Stops after ``max_points`` new points; a rerun
    resumes (finished points are kept, finished patients of an unfinished batch are read back from ``parts``)."""
    from .cohort_adapter import assemble, draw_patients, run_patients

    log = log or (lambda msg: None)
    targets = targets or load_targets()
    d = wave_dir(config, wave)
    manifest = _check_manifest(config, wave, allow_stale)
    design_file = d / DESIGN_FILE
    if design_file.is_file():
        design = pd.read_csv(design_file)
    else:
        previous = [] if wave == 1 else [wave_emulator(config, w, targets) for w in range(1, wave)]
        design = wave_design(config, wave, previous)
        d.mkdir(parents=True, exist_ok=True)
        _write_csv(design, design_file)
    write_json(manifest, d / "wave.json")
    done = read_points(config, wave)
    finished = set(done["point"].astype(int)) if not done.empty else set()
    todo = [int(p) for p in design["point"] if int(p) not in finished]
    if max_points is not None:
        todo = todo[: max(0, max_points)]
    base = load_scenario(config.scenario)
    parts_dir = Path(parts) / f"wave-{wave:02d}"
    days = config.days_of(wave)
    budget_file = d / "budget.json"
    budget = json.loads(budget_file.read_text(encoding="utf-8")) if budget_file.is_file() else {"sessions": []}
    session = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "points": 0, "wall_time_s": 0.0}
    budget["sessions"].append(session)
    t0 = time.perf_counter()
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        jobs, plan = [], {}
        for point in chunk:
            row = design.loc[design["point"] == point].iloc[0]
            scen, params = point_scenario(base, config, row)
            runs = draw_patients(scen, config.patients, seed=point_seed(config, wave, point), days=days)
            plan[point] = runs
            for r in runs:
                jobs.append(
                    (f"p{point:04d}-{r.key}", with_overrides(r.scenario, params), {"patient": r.info["patient"]})
                )
        results = run_patients(jobs, workers=workers, client=client, out_dir=parts_dir)
        rows = []
        for point in chunk:
            runs = plan[point]
            res = {r.key: results[f"p{point:04d}-{r.key}"] for r in runs}
            patients, traj = assemble(runs, res)
            stats = point_statistics(patients, traj, config, targets)
            row = design.loc[design["point"] == point].iloc[0].to_dict()
            row["failed_patients"] = int((patients["status"] == "failed").sum())
            rows.append(row | stats)
        done = pd.concat([done, pd.DataFrame(rows)], ignore_index=True) if not done.empty else pd.DataFrame(rows)
        done = done.sort_values("point").reset_index(drop=True)
        _write_csv(done, d / POINTS_FILE)
        session["points"] += len(chunk)
        session["wall_time_s"] = round(time.perf_counter() - t0, 1)
        budget["points"] = int(len(done))
        budget["simulated_patients"] = int(len(done)) * config.patients
        budget["patient_days"] = int(len(done)) * config.patients * days
        budget["wall_time_s"] = round(sum(s["wall_time_s"] for s in budget["sessions"]), 1)
        write_json(budget, budget_file)
        log(f"wave {wave}: {len(done)}/{len(design)} points ({session['wall_time_s']:.0f} s this session)")
    return done


# ---------------------------------------------------------------------------------------------------------------
# emulation and implausibility
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Emulator:
    """Gaussian-process emulators of the fitted statistics on the unit cube (one per statistic key)."""

    keys: list[str]
    models: dict[str, Any]
    noise_sd: dict[str, float]
    diagnostics: pd.DataFrame

    def predict(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and SD of each statistic at unit coordinates ``u`` (n × d): arrays n × len(keys).

        The GP predictive equations evaluated from each fitted scikit-learn model's own factors (training inputs,
        ``alpha_``, Cholesky factor ``L_``, kernel hyperparameters, target normalization), batched over the
        statistics: the same numbers as ``GaussianProcessRegressor.predict`` (tested), without its per-call
        overhead, which dominated one-point calls from the ABC sampler. The SD is the latent one: the white-noise
        term (the sampling noise of a cohort) is left out."""
        u = np.atleast_2d(np.asarray(u, dtype=float))
        mean = np.empty((len(u), len(self.keys)))
        sd = np.empty_like(mean)
        for j, f in enumerate(self._factors()):
            k = f["amplitude"] * np.exp(-0.5 * _sqdist(u / f["length"], f["x"]))
            mean[:, j] = (k @ f["alpha"]) * f["y_std"] + f["y_mean"]
            v = k @ f["l_inv_t"]
            var = np.maximum(f["amplitude"] - np.einsum("ij,ij->i", v, v), 1e-12 / f["y_std"] ** 2)
            sd[:, j] = np.sqrt(var) * f["y_std"]
        return mean, sd

    def predict_mean(self, u: np.ndarray) -> np.ndarray:
        """Latent mean of each statistic at ``u`` (n × len(keys)), without the cost of the SD."""
        u = np.atleast_2d(np.asarray(u, dtype=float))
        out = np.empty((len(u), len(self.keys)))
        for j, f in enumerate(self._factors()):
            k = f["amplitude"] * np.exp(-0.5 * _sqdist(u / f["length"], f["x"]))
            out[:, j] = (k @ f["alpha"]) * f["y_std"] + f["y_mean"]
        return out

    def _factors(self) -> list[dict[str, Any]]:
        cached = getattr(self, "_cache", None)
        if cached is None:
            from scipy.linalg import solve_triangular

            cached = []
            for key in self.keys:
                gp = self.models[key]
                length = np.atleast_1d(gp.kernel_.k1.k2.length_scale).astype(float)
                l_inv = solve_triangular(gp.L_, np.eye(len(gp.L_)), lower=True)
                cached.append(
                    {
                        "x": gp.X_train_ / length,
                        "length": length,
                        "amplitude": float(gp.kernel_.k1.k1.constant_value),
                        "alpha": np.ravel(gp.alpha_),
                        "l_inv_t": l_inv.T,
                        "y_mean": float(np.atleast_1d(gp._y_train_mean)[0]),
                        "y_std": float(np.atleast_1d(gp._y_train_std)[0]),
                    }
                )
            self._cache = cached
        return cached


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``a`` and ``b``."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def _gp(d: int, seed: int):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(np.full(d, 0.5), (1e-2, 1e3)) + WhiteKernel(0.1, (1e-6, 1e1))
    return GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2, random_state=seed)


def _noise_sd(gp) -> float:
    """SD of the fitted white-noise term, in the units of the statistic."""
    noise = gp.kernel_.k2.noise_level
    return float(math.sqrt(noise) * float(np.atleast_1d(gp._y_train_std)[0]))


def fit_emulators(u: np.ndarray, y: pd.DataFrame, *, seed: int = 0, folds: int = 5) -> Emulator:
    """One GP per column of ``y`` (rows: design points at unit coordinates ``u``), with k-fold diagnostics:
    R² of the held-out latent mean, and the fraction of held-out points within 2 and 3 predictive SDs
    (latent + noise): about 0.95 and 0.997 for a well-calibrated emulator."""
    from sklearn.exceptions import ConvergenceWarning

    u = np.asarray(u, dtype=float)
    d = u.shape[1]
    models, noise, diag = {}, {}, []
    rng = np.random.default_rng(seed)
    for j, key in enumerate(y.columns):
        col = y[key].to_numpy(float)
        ok = np.isfinite(col)
        if ok.sum() < max(8, folds):
            continue
        x, t = u[ok], col[ok]
        if np.ptp(t) == 0:
            continue
        with warnings.catch_warnings():
            # a length scale at its upper bound is a result (the statistic ignores that parameter), not a fault
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp = _gp(d, seed + j).fit(x, t)
        models[key], noise[key] = gp, _noise_sd(gp)
        order = rng.permutation(len(t))
        z, pred = np.empty(len(t)), np.empty(len(t))
        for f in range(folds):
            test = order[f::folds]
            train = np.setdiff1d(order, test)
            g = _gp(d, seed + j)
            g.kernel = gp.kernel_  # held-out prediction with the fitted hyperparameters
            g.optimizer = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                g.fit(x[train], t[train])
            m, s = g.predict(x[test], return_std=True)
            pred[test], z[test] = m, (t[test] - m) / np.maximum(s, 1e-12)
        ss = float(np.sum((t - t.mean()) ** 2))
        diag.append(
            {
                "stat_key": key,
                "points": int(ok.sum()),
                "r2_heldout": 1.0 - float(np.sum((t - pred) ** 2)) / ss if ss > 0 else math.nan,
                "within_2sd": float(np.mean(np.abs(z) <= 2)),
                "within_3sd": float(np.mean(np.abs(z) <= 3)),
                "noise_sd": noise[key],
                "length_scales": " ".join(f"{v:.3g}" for v in np.atleast_1d(gp.kernel_.k1.k2.length_scale)),
            }
        )
    keys = [k for k in y.columns if k in models]
    return Emulator(keys, models, noise, pd.DataFrame(diag))


def holdout_check(emu: Emulator, u: np.ndarray, y: pd.DataFrame) -> pd.DataFrame:
    """How well ``emu`` predicts simulated points it was not trained on (rows of ``y`` at unit coordinates ``u``).

    Per emulated statistic: the points with a value, R² of the predicted latent mean, the mean error (simulated
    minus predicted), and the fraction of points within 2 and 3 predictive SDs (latent + the cohort noise),
    about 0.95 and 0.997 for an emulator that is right about its own uncertainty."""
    mean, sd = emu.predict(u)
    rows = []
    for j, key in enumerate(emu.keys):
        if key not in y.columns:
            continue
        t = y[key].to_numpy(float)
        ok = np.isfinite(t)
        if not ok.any():
            continue
        err = t[ok] - mean[ok, j]
        z = err / np.sqrt(sd[ok, j] ** 2 + emu.noise_sd[key] ** 2)
        ss = float(np.sum((t[ok] - t[ok].mean()) ** 2))
        rows.append(
            {
                "stat_key": key,
                "points": int(ok.sum()),
                "r2": 1.0 - float(np.sum(err**2)) / ss if ss > 0 else math.nan,
                "mean_error": float(err.mean()),
                "within_2sd": float(np.mean(np.abs(z) <= 2)),
                "within_3sd": float(np.mean(np.abs(z) <= 3)),
            }
        )
    return pd.DataFrame(rows, columns=["stat_key", "points", "r2", "mean_error", "within_2sd", "within_3sd"])


def next_wave_check(config: HistoryConfig, wave: int, targets: TargetSet | None = None) -> pd.DataFrame:
    """The emulators of waves < ``wave`` on the points of ``wave``, which they chose but never saw
    (:func:`holdout_check`): a test of the emulators inside the non-implausible region, where cross-validation
    over the whole design says little."""
    emu, _ = wave_emulator(config, wave - 1, targets)
    pts = read_points(config, wave)
    u = pts[[f"u.{p}" for p in config.names]].to_numpy(float)
    return holdout_check(emu, u, pts)


def implausibility(emu: Emulator, spec: pd.DataFrame, u: np.ndarray, config: HistoryConfig) -> np.ndarray:
    """I_j(u) for the emulated fitted statistics (n × j, columns ``emu.keys``)."""
    s = spec.set_index("stat_key").loc[emu.keys].reset_index()
    mean, sd = emu.predict(u)
    r = residuals(mean, s)
    obs = s["scale"].to_numpy(float) ** 2 * (1.0 + config.discrepancy**2)
    return np.abs(r) / np.sqrt(sd**2 + obs)


def non_implausible(emu: Emulator, spec: pd.DataFrame, u: np.ndarray, config: HistoryConfig, chunk: int = 8192):
    """Mask of points whose ``order``-th largest implausibility is below ``cutoff``."""
    keep = np.empty(len(u), dtype=bool)
    for a in range(0, len(u), chunk):
        imp = np.sort(implausibility(emu, spec, u[a : a + chunk], config), axis=1)
        k = min(config.order, imp.shape[1])
        keep[a : a + chunk] = imp[:, -k] < config.cutoff
    return keep


def wave_emulator(config: HistoryConfig, wave: int, targets: TargetSet | None = None) -> tuple[Emulator, pd.DataFrame]:
    """Emulators of a finished (or partly finished) wave, trained on all points of waves ≤ ``wave``, and the spec."""
    spec = fit_spec(config, targets)
    frames = [read_points(config, w) for w in range(1, wave + 1)]
    pts = pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(not f.empty for f in frames) else None
    if pts is None or len(pts) < 8:
        raise HistoryError(f"wave {wave}: fewer than 8 finished points to emulate")
    u = pts[[f"u.{p}" for p in config.names]].to_numpy(float)
    cols = [k for k in spec["stat_key"] if k in pts.columns]
    emu = fit_emulators(u, pts[cols], seed=config.seed % 2**31)
    return emu, spec


# ---------------------------------------------------------------------------------------------------------------
# posterior
# ---------------------------------------------------------------------------------------------------------------


class EmulatorModel:
    """pyabc model: unit coordinates -> residuals of the statistics drawn from the emulators' predictive."""

    def __init__(self, emu: Emulator, spec: pd.DataFrame, d: int, seed: int):
        self.emu = emu
        self.spec = spec.set_index("stat_key").loc[emu.keys].reset_index()
        self.d = d
        self.rng = np.random.default_rng(seed)

    def __call__(self, par: dict[str, float]) -> dict[str, float]:
        u = np.array([[par[f"u{j}"] for j in range(self.d)]])
        mean, sd = self.emu.predict(u)
        draw = mean[0] + sd[0] * self.rng.standard_normal(len(self.emu.keys))
        r = residuals(draw, self.spec)
        return {f"s{j}": float(v) for j, v in enumerate(r)}


@dataclass
class PosteriorResult:
    particles: pd.DataFrame  # unit coordinates u.<path>, values <path>, weight
    draws: pd.DataFrame  # equally weighted resample: draw, <path>
    summary: pd.DataFrame
    temperatures: list[float]
    evaluations: int
    #: effective sample size 1/Σw² of each population's normalized weights (the last is the posterior's); for
    #: the MCMC sampler, one number: post-burn-in samples / the longest integrated autocorrelation time
    ess: list[float] = field(default_factory=list)
    #: "mcmc" (emcee on the emulator likelihood) or "abc" (pyabc ABC-SMC on the emulators)
    sampler: str = "abc"
    #: sampler diagnostics written to budget.json (MCMC: walkers, steps, burn-in, thinning, autocorrelation times,
    #: acceptance fraction, whether the chain reached ``CHAIN_TAUS`` autocorrelation times)
    diagnostics: dict[str, Any] = field(default_factory=dict)


#: the emulator posterior's samplers: "mcmc" (default) and "abc" (the declared ABC-SMC; see fit_posterior)
SAMPLERS = ("mcmc", "abc")
#: an MCMC run is long enough when it spans this many integrated autocorrelation times (emcee's guidance, Foreman-
#: Mackey et al. 2013 PASP 125:306; Goodman & Weare 2010)
CHAIN_TAUS = 50


class EmulatorLikelihood:
    """Log-likelihood of unit coordinates ``u`` (n × d, vectorized) under the Gaussian noise model of the ABC
    posterior: each residual r_j ~ N(0, σ²_emu,j(u) + s_j²(1 + δ²)), the emulator's own uncertainty added to the
    target's. For a value target this is exactly the density the stochastic acceptor of :func:`fit_posterior`
    samples (the emulator draw convolved with the Gaussian kernel); for an interval target (the review's signs,
    residual = distance outside the interval) it is the same Gaussian approximation the implausibility uses.
    Outside the unit cube (the uniform prior's support) it is −∞."""

    def __init__(self, emu: Emulator, spec: pd.DataFrame, discrepancy: float):
        self.emu = emu
        self.spec = spec.set_index("stat_key").loc[emu.keys].reset_index()
        self.noise = self.spec["scale"].to_numpy(float) ** 2 * (1.0 + discrepancy**2)
        self.calls = 0

    def __call__(self, u: np.ndarray) -> np.ndarray:
        u = np.atleast_2d(np.asarray(u, dtype=float))
        self.calls += len(u)
        out = np.full(len(u), -np.inf)
        inside = np.all((u >= 0.0) & (u <= 1.0), axis=1)
        if inside.any():
            mean, sd = self.emu.predict(u[inside])
            var = sd**2 + self.noise
            r = residuals(mean, self.spec)
            out[inside] = -0.5 * np.sum(r * r / var + np.log(var), axis=1)
        return out


class UnitLogitDensity:
    """The posterior density of :class:`EmulatorLikelihood` in the unconstrained coordinates z = logit(u).

    The uniform prior on the unit cube becomes the density Π u_i(1 − u_i) (the Jacobian of u = expit(z)), so a
    sample of z maps back to a sample of the same posterior in u. The sampler then never meets the cube's faces:
    on the cube itself a walker's proposal past a face is rejected, and a posterior pressed against a bound
    (the kill rate, NP viability and MMP digestion of the shipped calibration) mixes slowly there, whereas in z
    that region is an ordinary tail. This is the transform Stan applies to a bounded parameter (Carpenter et al.
    2017, J Stat Softw 76:1, "lower and upper bounded scalar")."""

    def __init__(self, like: Callable[[np.ndarray], np.ndarray]):
        self.like = like

    @staticmethod
    def to_u(z: np.ndarray) -> np.ndarray:
        from scipy.special import expit

        return expit(z)

    @staticmethod
    def to_z(u: np.ndarray) -> np.ndarray:
        from scipy.special import logit

        return logit(u)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.atleast_2d(np.asarray(z, dtype=float))
        # expit rounds |z| > ~37 to exactly 0 or 1; those points still lie in the support
        return self.like(np.clip(self.to_u(z), 0.0, 1.0)) + self.log_jacobian(z)

    @staticmethod
    def log_jacobian(z: np.ndarray) -> np.ndarray:
        """Σ log u_i(1 − u_i), computed stably for large |z|."""
        from scipy.special import log_expit

        z = np.atleast_2d(z)
        return np.sum(log_expit(z) + log_expit(-z), axis=1)


def fit_posterior_mcmc(
    config: HistoryConfig,
    emu: Emulator,
    spec: pd.DataFrame,
    *,
    population: int | None = None,
    walkers: int | None = None,
    chunk: int = 2000,
    max_steps: int = 100_000,
    start: np.ndarray | None = None,
    seed: int | None = None,
    log: Callable[[str], None] | None = None,
) -> PosteriorResult:
    """The emulator posterior by affine-invariant ensemble MCMC (emcee, differential-evolution moves) on
    :class:`EmulatorLikelihood` with the uniform prior on the unit cube, sampled in logit coordinates
    (:class:`UnitLogitDensity`). The walkers start at the most likely points of a Sobol' set of prior
    candidates; the chain grows by ``chunk`` steps until it spans :data:`CHAIN_TAUS` integrated autocorrelation
    times of its slowest parameter (or ``max_steps``: then ``converged`` is false in the diagnostics); the first 5 τ are discarded as burn-in and the rest thinned by
    τ/2. ``population`` (the declaration's) equally weighted draws are taken from what is left. ``start``
    (walkers × d, unit coordinates) and ``seed`` (default: the declared posterior seed) replace the start and
    the random stream, for a second, independently started chain (``calibration/mcmc_restart_check.py``)."""
    try:
        import emcee
    except ImportError:
        raise HistoryError(
            "emcee is not installed; it is an optional extra: pip install 'discsim[calibrate]'"
        ) from None
    log = log or (lambda msg: None)
    d = len(config.parameters)
    n_out = population or config.population
    nw = walkers or max(32, 4 * d)
    nw += nw % 2
    if start is not None and np.shape(start) != (nw, d):
        raise HistoryError(f"MCMC start: {np.shape(start)} walkers × parameters, expected ({nw}, {d})")
    like = EmulatorLikelihood(emu, spec, config.discrepancy)
    seed = config.posterior_seed if seed is None else seed
    if start is None:
        cand = _sobol(d, max(4096, 16 * nw), seed % 2**31)
        start = cand[np.argsort(like(cand))[-nw:]]
    density = UnitLogitDensity(like)
    sampler = emcee.EnsembleSampler(
        nw,
        d,
        density,
        vectorize=True,
        moves=[(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)],
    )
    sampler.random_state = np.random.RandomState(seed % 2**32).get_state()
    # the walkers move in logit coordinates; a Sobol' point on the cube's face (0) would be at −∞
    state, steps = UnitLogitDensity.to_z(np.clip(start, 1e-6, 1.0 - 1e-6)), 0
    while True:
        state = sampler.run_mcmc(state, chunk, progress=False)
        steps += chunk
        tau = sampler.get_autocorr_time(tol=0)
        log(f"MCMC: {steps} steps × {nw} walkers, longest autocorrelation time {np.max(tau):.0f} steps")
        if steps >= CHAIN_TAUS * np.max(tau) or steps >= max_steps:
            break
    tau_max = float(np.max(tau))
    burn = int(math.ceil(5 * tau_max))
    thin = max(1, int(tau_max // 2))
    flat = UnitLogitDensity.to_u(sampler.get_chain(discard=burn, thin=thin, flat=True))
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(flat), size=min(n_out, len(flat)), replace=False))
    u = flat[pick]
    particles = design_frame(config, u, 0).drop(columns=["wave", "point"]).assign(weight=1.0 / len(u))
    draws = particles[config.names].copy()
    draws.insert(0, "draw", np.arange(len(u)))
    n_eff = (steps - burn) * nw / tau_max
    chain, log_prob = sampler.get_chain(flat=True), sampler.get_log_prob(flat=True)
    diagnostics = {
        "walkers": nw,
        "steps": steps,
        "burn_in": burn,
        "thin": thin,
        "autocorrelation_time": {p.path: round(float(t), 1) for p, t in zip(config.parameters, tau, strict=True)},
        "autocorrelation_time_max": round(tau_max, 1),
        "chain_taus": round(steps / tau_max, 1),
        "converged": bool(steps >= CHAIN_TAUS * tau_max),
        "acceptance_fraction": round(float(np.mean(sampler.acceptance_fraction)), 3),
        "effective_samples": round(n_eff, 1),
        "max_log_likelihood": round(float(np.max(log_prob - UnitLogitDensity.log_jacobian(chain))), 3),
        "coordinates": "logit of the unit cube",
    }
    return PosteriorResult(
        particles=particles,
        draws=draws,
        summary=posterior_summary(config, particles),
        temperatures=[],
        evaluations=like.calls,
        ess=[n_eff],
        sampler="mcmc",
        diagnostics=diagnostics,
    )


def _ess_scheme(pyabc: Any, target: float) -> Any:
    """pyabc's EssScheme returning a float (0.13 returns a one-element array, which its logging cannot format)."""

    class EssScheme(pyabc.EssScheme):
        def __call__(self, *args: Any, **kwargs: Any) -> float:
            return float(np.asarray(super().__call__(*args, **kwargs)).ravel()[0])

    return EssScheme(target)


def fit_posterior(
    config: HistoryConfig, emu: Emulator, spec: pd.DataFrame, db: str | Path, *, population: int | None = None
) -> PosteriorResult:
    """ABC-SMC with a stochastic acceptor on the emulators (see the module docstring); pyabc's SQLite history in
    ``db`` (rewritten)."""
    from .abc import require_pyabc

    pyabc = require_pyabc()
    d = len(config.parameters)
    s = spec.set_index("stat_key").loc[emu.keys].reset_index()
    var = s["scale"].to_numpy(float) ** 2 * (1.0 + config.discrepancy**2)
    keys = [f"s{j}" for j in range(len(emu.keys))]
    prior = pyabc.Distribution(**{f"u{j}": pyabc.RV("uniform", 0.0, 1.0) for j in range(d)})
    np.random.seed(config.posterior_seed % 2**32)  # pyabc samples from numpy's global generator
    abc = pyabc.ABCSMC(
        EmulatorModel(emu, spec, d, config.posterior_seed),
        prior,
        pyabc.IndependentNormalKernel(var=list(var), keys=keys),
        population_size=population or config.population,
        # the next temperature keeps `target_ess` of the particles effective (Del Moral, Doucet & Jasra 2012); the
        # default schedule forces T = 1 at max_populations, which collapsed the ESS (60 of 1000 at T 17 -> 1)
        eps=pyabc.Temperature(schemes=[_ess_scheme(pyabc, config.target_ess)]),
        acceptor=pyabc.StochasticAcceptor(),
        sampler=pyabc.SingleCoreSampler(),
    )
    db = Path(db)
    if db.exists():
        db.unlink()
    db.parent.mkdir(parents=True, exist_ok=True)
    abc.new(f"sqlite:///{db}", dict.fromkeys(keys, 0.0))
    history = abc.run(max_nr_populations=config.max_populations)
    frame, w = history.get_distribution(m=0, t=history.max_t)
    u = np.column_stack([frame[f"u{j}"].to_numpy(float) for j in range(d)])
    w = np.asarray(w, dtype=float) / np.sum(w)
    particles = design_frame(config, u, 0).drop(columns=["wave", "point"]).assign(weight=w)
    rng = np.random.default_rng(config.posterior_seed)
    idx = rng.choice(len(w), size=len(w), p=w)
    draws = pd.DataFrame({"draw": np.arange(len(idx))})
    for p in config.parameters:
        draws[p.path] = particles[p.path].to_numpy()[idx]
    pops = history.get_all_populations()
    temps = [float(t) for t in history.get_all_populations()["epsilon"] if np.isfinite(t)]
    ess = []
    for t in range(history.max_t + 1):
        _, wt = history.get_distribution(m=0, t=t)
        wt = np.asarray(wt, dtype=float) / np.sum(wt)
        ess.append(float(1.0 / np.sum(wt**2)))
    return PosteriorResult(
        particles=particles,
        draws=draws,
        summary=posterior_summary(config, particles),
        temperatures=temps,
        evaluations=int(pops["samples"].sum()),
        ess=ess,
    )


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: Sequence[float]) -> np.ndarray:
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    cw /= cw[-1]
    return np.interp(q, cw - w[order] / (2 * w.sum()), x[order])


def posterior_summary(config: HistoryConfig, particles: pd.DataFrame, *, bound_margin: float = 0.02) -> pd.DataFrame:
    """Per parameter: prior range, posterior mean, median and 90 %/95 % intervals, the posterior-to-prior SD
    ratio on the unit scale (≈ 1: the data do not inform it; uniform prior SD = 1/√12), and whether the
    posterior presses against a prior bound (its 2.5 % or 97.5 % quantile within ``bound_margin`` of the bound
    on the unit scale while the mode region lies there)."""
    w = particles["weight"].to_numpy(float)
    rows = []
    for p in config.parameters:
        x = particles[p.path].to_numpy(float)
        u = particles[f"u.{p.path}"].to_numpy(float)
        q = _weighted_quantile(x, w, [0.025, 0.05, 0.5, 0.95, 0.975])
        qu = _weighted_quantile(u, w, [0.025, 0.5, 0.975])
        mu = float(np.sum(w * u))
        sd_ratio = float(np.sqrt(np.sum(w * (u - mu) ** 2)) * math.sqrt(12.0))
        at = ""
        if qu[0] < bound_margin and qu[1] < 0.25:
            at = "low"
        elif qu[2] > 1 - bound_margin and qu[1] > 0.75:
            at = "high"
        rows.append(
            {
                "parameter": p.path,
                "prior_low": p.lo,
                "prior_high": p.hi,
                "scale": p.scale,
                "mean": float(p.from_unit(mu)),
                "median": q[2],
                "q05": q[1],
                "q95": q[3],
                "q025": q[0],
                "q975": q[4],
                "sd_ratio": sd_ratio,
                "informed": sd_ratio < 0.7,
                "at_bound": at,
                "source": p.source,
            }
        )
    return pd.DataFrame(rows)


POINT_FILE = "point.toml"


def write_point(config: HistoryConfig, summary: pd.DataFrame, path: str | Path, *, budget: dict[str, Any]) -> Path:
    """The posterior medians of ``summary`` as dotted scenario keys (``parameters.*`` and ``cohort.*``): the point
    that the shipped scenario and parameter set are to take once a posterior passes its predictive check. Each
    line carries its 95 % interval, and a flag where the data do not inform the parameter or its
    posterior presses against a prior bound."""
    from ..io.store import atomic_file

    lines = [
        "# Posterior medians of the Bayesian calibration (discsim posterior --fit --posterior), one per fitted",
        "# parameter; the marginal medians, not a joint mode. Comments: the 95 % credible interval, the prior,",
        "# and flags (uninformed: posterior SD above 0.7 of the prior's; at_bound: pressed against a prior bound).",
        f"# declaration: {Path(config.path).name} (sha256 {budget.get('config_sha256', '?')}), "
        f"model {budget.get('model_hash', '?')}",
        f"# waves: {budget.get('waves')}, {budget.get('points')} design points",
        "",
    ]
    for row in summary.itertuples(index=False):
        flags = [f for f, on in (("uninformed", not row.informed), (f"at_bound {row.at_bound}", row.at_bound)) if on]
        lines.append(
            f"{row.parameter} = {float(row.median):.4g}  # 95 % {float(row.q025):.4g}-{float(row.q975):.4g}, "
            f"prior {row.prior_low:g}-{row.prior_high:g}" + (f"; {', '.join(flags)}" if flags else "")
        )
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def predictive_intervals(
    emu: Emulator, spec: pd.DataFrame, particles: pd.DataFrame, config: HistoryConfig, *, seed: int = 0
) -> pd.DataFrame:
    """Posterior predictive of every emulated statistic (population level: emulator mean and its uncertainty at
    the posterior particles): median and 90 % interval, with the target."""
    rng = np.random.default_rng(seed)
    u = particles[[f"u.{p}" for p in config.names]].to_numpy(float)
    mean, sd = emu.predict(u)
    sample = mean + sd * rng.standard_normal(mean.shape)
    w = particles["weight"].to_numpy(float)
    s = spec.set_index("stat_key").loc[emu.keys].reset_index()
    rows = []
    for j, key in enumerate(emu.keys):
        q = _weighted_quantile(sample[:, j], w, [0.05, 0.5, 0.95])
        t = s.iloc[j]
        rows.append(
            {
                "stat_key": key,
                "target": t["value"],
                "target_lo": t["lo"],
                "target_hi": t["hi"],
                "median": q[1],
                "q05": q[0],
                "q95": q[2],
                "target_range_overlaps": bool(q[0] <= t["hi"] and q[2] >= t["lo"]),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------------
# fit and report
# ---------------------------------------------------------------------------------------------------------------


def finished_waves(config: HistoryConfig) -> list[int]:
    """Waves with at least one finished point (in order)."""
    return [w for w in range(1, len(config.wave_points) + 1) if not read_points(config, w).empty]


def pairs_key(config: HistoryConfig, particles: pd.DataFrame) -> list[str]:
    """The pairs plot's key: per parameter, its number, name and weighted median [95 % interval] in its units."""
    w = particles["weight"].to_numpy(float)
    key = []
    for k, p in enumerate(config.parameters):
        vals = np.asarray(p.from_unit(particles[f"u.{p.path}"].to_numpy(float)), dtype=float)
        lo, med, hi = _weighted_quantile(vals, w, [0.025, 0.5, 0.975])
        key.append(f"{k + 1:>2}  {p.path.split('.', 1)[-1]}:  {med:.3g}  [{lo:.3g}, {hi:.3g}]")
    return key


def pairs_plot(config: HistoryConfig, particles: pd.DataFrame, path: Path) -> Path:
    """Weighted pairs plot of the posterior on the unit prior scale (prior = the unit square).

    The panels are numbered; the empty upper triangle holds the key: each parameter's number, name, and its
    posterior median with the 95 % interval in the parameter's own units, so that the labels stay readable for
    the twenty-odd parameters of the calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.store import save_figure

    names = config.names
    d = len(names)
    w = particles["weight"].to_numpy(float)
    side = max(1.1 * d, 7.0)
    fig, axes = plt.subplots(d, d, figsize=(side, side), squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            xi = particles[f"u.{names[j]}"].to_numpy(float)
            if i == j:
                ax.hist(xi, bins=20, range=(0, 1), weights=w, color="0.3")
                ax.set_xlim(0, 1)
                ax.text(0.03, 0.97, str(i + 1), transform=ax.transAxes, ha="left", va="top", fontsize=9, color="C3")
            elif i > j:
                yi = particles[f"u.{names[i]}"].to_numpy(float)
                ax.scatter(xi, yi, s=1.5, c=w, cmap="viridis", linewidths=0, rasterized=True)
                ax.set_xlim(0, 1)
                ax.set_ylim(0, 1)
            else:
                ax.axis("off")
            if i == d - 1:
                ax.set_xlabel(str(j + 1), fontsize=9)
            if j == 0:
                ax.set_ylabel(str(i + 1), fontsize=9, rotation=0, labelpad=8)
    fig.suptitle(
        "posterior on the unit prior scale\n(diagonal: marginals; key: median [95 % interval] in units)",
        fontsize=12,
        x=0.02,
        y=1.0 - 0.05 / side,
        ha="left",
        va="top",
    )
    fig.subplots_adjust(left=0.03, right=0.995, bottom=0.03, top=1.0 - 0.5 / side, wspace=0.05, hspace=0.05)
    # the key in the empty upper triangle, from its middle column on (clear of the diagonal below it)
    anchor = axes[0, max(1, d // 2)].get_position() if d > 1 else axes[0, 0].get_position()
    fig.text(
        anchor.x0,
        anchor.y1,
        "\n".join(pairs_key(config, particles)),
        ha="left",
        va="top",
        fontsize=13,
        family="monospace",
    )
    out = save_figure(fig, path, dpi=100)
    plt.close(fig)
    return out


# ---------------------------------------------------------------------------------------------------------------
# sensitivity on the emulators
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class SobolResult:
    """Sobol indices of every emulated statistic over a box of the unit cube."""

    indices: pd.DataFrame  # output, parameter, S1, S1_conf, ST, ST_conf
    converged: pd.DataFrame  # output, N, max_width, s1_le_st, converged
    box: pd.DataFrame  # parameter, unit_low, unit_high, low, high
    box_source: str
    n: int
    evaluations: int


def posterior_box(config: HistoryConfig, particles: pd.DataFrame | None, level: float = 0.95) -> pd.DataFrame:
    """Per parameter, the central ``level`` credible interval on the unit scale (the whole prior when
    ``particles`` is None), and the same interval in parameter units."""
    rows = []
    for p in config.parameters:
        if particles is None:
            lo, hi = 0.0, 1.0
        else:
            w = particles["weight"].to_numpy(float)
            u = particles[f"u.{p.path}"].to_numpy(float)
            lo, hi = (float(v) for v in _weighted_quantile(u, w, [(1 - level) / 2, (1 + level) / 2]))
            if hi - lo < 1e-6:  # a degenerate marginal: keep a sliver so that SALib's bounds are valid
                lo, hi = max(0.0, lo - 5e-7), min(1.0, hi + 5e-7)
        rows.append(
            {
                "parameter": p.path,
                "unit_low": lo,
                "unit_high": hi,
                "low": float(p.from_unit(lo)),
                "high": float(p.from_unit(hi)),
            }
        )
    return pd.DataFrame(rows)


def sobol_convergence(indices: pd.DataFrame, width: float = 0.1) -> pd.DataFrame:
    """Per output: the widest 95 % interval (2 × conf) of S1 and ST, whether S1 ≤ ST within the intervals for
    every parameter, and both together (``converged``)."""
    rows = []
    for name, df in indices.groupby("output", sort=False):
        widest = float(2 * np.nanmax(np.r_[df["S1_conf"].to_numpy(float), df["ST_conf"].to_numpy(float)]))
        ordered = bool(np.all(df["S1"] - df["S1_conf"] <= df["ST"] + df["ST_conf"]))
        rows.append({"output": name, "max_width": widest, "s1_le_st": ordered, "converged": ordered and widest < width})
    return pd.DataFrame(rows)


def emulator_sobol(
    config: HistoryConfig,
    emu: Emulator,
    box: pd.DataFrame,
    *,
    n: int = 1024,
    max_n: int = 65536,
    width: float = 0.1,
    seed: int | None = None,
    log=None,
) -> SobolResult:
    """Sobol first-order and total indices (SALib: Saltelli sampling, Jansen estimators, bootstrap CIs) of each
    emulated statistic's latent mean, inputs uniform on ``box`` (unit scale). N doubles from ``n`` until every
    output has converged (:func:`sobol_convergence`) or N reaches ``max_n``; the analysis is over the emulator
    means, so its cost is N·(d + 2) emulator evaluations, no simulation."""
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    from .sensitivity import short_name

    log = log or (lambda msg: None)
    seed = config.seed if seed is None else seed
    names = [short_name(p) for p in config.names]
    problem = {
        "num_vars": len(names),
        "names": names,
        "bounds": box[["unit_low", "unit_high"]].to_numpy(float).tolist(),
    }
    evaluations = 0
    while True:
        X = sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
        Y = np.vstack([emu.predict_mean(X[a : a + 16384]) for a in range(0, len(X), 16384)])
        evaluations += len(X)
        frames = []
        for j, key in enumerate(emu.keys):
            res = sobol_analyze.analyze(problem, Y[:, j], calc_second_order=False, conf_level=0.95, seed=seed)
            frames.append(
                pd.DataFrame(
                    {
                        "output": key,
                        "parameter": config.names,
                        "S1": res["S1"],
                        "S1_conf": res["S1_conf"],
                        "ST": res["ST"],
                        "ST_conf": res["ST_conf"],
                    }
                )
            )
        indices = pd.concat(frames, ignore_index=True)
        conv = sobol_convergence(indices, width).assign(N=n)
        log(f"Sobol on the emulators: N = {n}, {int(conv['converged'].sum())}/{len(conv)} outputs converged")
        if conv["converged"].all() or n * 2 > max_n:
            break
        n *= 2
    return SobolResult(indices, conv, box, "", n, evaluations)


def sensitivity(config: HistoryConfig, *, targets: TargetSet | None = None, log=None, **kwargs) -> dict[str, Any]:
    """Sobol indices on the emulators of the last finished wave, over the posterior's 95 % box when a posterior
    has been fitted (``OUT/posterior/particles.parquet``) and over the prior otherwise; writes
    ``OUT/sensitivity/`` (indices.csv, convergence.csv, box.csv, sobol.png, report.json)."""
    from .sensitivity import plot_sobol

    log = log or (lambda msg: None)
    waves = finished_waves(config)
    if not waves:
        raise HistoryError(f"{config.out}: no finished design point yet (run a wave first)")
    t0 = time.perf_counter()
    emu, _ = wave_emulator(config, waves[-1], targets)
    pfile = config.out / "posterior" / "particles.parquet"
    particles = pd.read_parquet(pfile) if pfile.is_file() else None
    source = f"95 % credible box of {pfile.relative_to(config.out)}" if particles is not None else "the prior"
    res = emulator_sobol(config, emu, posterior_box(config, particles), log=log, **kwargs)
    res.box_source = source
    folder = config.out / "sensitivity"
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(res.indices, folder / "indices.csv")
    _write_csv(res.converged, folder / "convergence.csv")
    _write_csv(res.box, folder / "box.csv")
    pain = [k for k in emu.keys if k.startswith("sciatica_trial_leg_vas")] or emu.keys[:1]
    shown = res.indices[res.indices["output"].isin(pain[:3])]
    figure = plot_sobol(shown, folder / "sobol.png")
    report = {
        "waves": waves,
        "box": source,
        "N": res.n,
        "emulator_evaluations": res.evaluations,
        "outputs": len(res.converged),
        "converged": int(res.converged["converged"].sum()),
        "criterion": "every 95 % interval of S1 and ST narrower than 0.1 and S1 <= ST within the intervals",
        "note": "indices of the emulators' latent means (population statistics), not of one simulated cohort",
        "wall_time_s": round(time.perf_counter() - t0, 1),
    }
    write_json(report, folder / "report.json")
    files = [folder / f for f in ("indices.csv", "convergence.csv", "box.csv", "report.json")] + [figure]
    return {"result": res, "report": report, "files": files}


def fit(
    config: HistoryConfig,
    *,
    posterior: bool = False,
    sampler: str = "mcmc",
    targets: TargetSet | None = None,
    log=None,
) -> dict[str, Any]:
    """Emulate the finished points of every wave and report them; with ``posterior`` also run the emulator
    posterior and write ``posterior/`` (particles, draws, summary, predictive, pairs plot, report)."""
    from ..io.store import write_parquet

    log = log or (lambda msg: None)
    waves = finished_waves(config)
    if not waves:
        raise HistoryError(f"{config.out}: no finished design point yet (run a wave first)")
    last = waves[-1]
    emu, spec = wave_emulator(config, last, targets)
    folder = config.out / "fit"
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(emu.diagnostics, folder / "emulators.csv")
    points = sum(len(read_points(config, w)) for w in waves)
    cand = _sobol(len(config.parameters), min(config.candidates, 16384), config.seed + 1)
    nroy = float(non_implausible(emu, spec, cand, config).mean())
    result: dict[str, Any] = {
        "waves": waves,
        "points": points,
        "nroy_fraction": nroy,
        "files": [folder / "emulators.csv"],
    }
    log(f"emulated {len(emu.keys)} statistics on {points} points; non-implausible fraction of the prior {nroy:.3g}")
    if len(waves) > 1:
        check = next_wave_check(config, last, targets)
        _write_csv(check, folder / "next_wave.csv")
        result["files"].append(folder / "next_wave.csv")
        result["next_wave"] = check
        log(
            f"emulators of waves < {last} on wave {last}'s {int(check['points'].max())} points: median R² "
            f"{check['r2'].median():.2f}, within 2 SD {check['within_2sd'].mean():.2f} (0.95 if calibrated)"
        )
    if posterior:
        post_dir = config.out / "posterior"
        t0 = time.perf_counter()
        if sampler not in SAMPLERS:
            raise HistoryError(f"sampler {sampler!r}: must be one of {', '.join(SAMPLERS)}")
        if sampler == "abc":
            res = fit_posterior(config, emu, spec, post_dir / "abc.db")
        else:
            res = fit_posterior_mcmc(config, emu, spec, log=log)
        meta = {
            "waves": waves,
            "points": points,
            "config_sha256": _file_hash(config.path),
            "model_hash": model_hash(),
            "sampler": res.sampler,
        }
        files = [
            write_parquet(res.particles, post_dir / "particles.parquet", meta),
            write_parquet(res.draws, post_dir / "draws.parquet", meta),
        ]
        _write_csv(res.summary, post_dir / "summary.csv")
        files.append(write_point(config, res.summary, post_dir / POINT_FILE, budget=meta))
        pred = predictive_intervals(emu, spec, res.particles, config, seed=config.posterior_seed)
        _write_csv(pred, post_dir / "predictive.csv")
        files += [
            post_dir / "summary.csv",
            post_dir / "predictive.csv",
            pairs_plot(config, res.particles, post_dir / "pairs.png"),
        ]
        budget = meta | {
            "emulator_evaluations": res.evaluations,
            "temperatures": res.temperatures,
            "ess": [round(e, 1) for e in res.ess],
            "population": len(res.particles),
            "wall_time_s": round(time.perf_counter() - t0, 1),
            **res.diagnostics,
        }
        write_json(budget, post_dir / "budget.json")
        if res.sampler == "abc":
            log(
                f"posterior: {len(res.temperatures)} populations, temperatures {res.temperatures[0]:.3g} -> "
                f"{res.temperatures[-1]:.3g}, ESS {min(res.ess):.0f}-{max(res.ess):.0f} (final {res.ess[-1]:.0f} "
                f"of {len(res.particles)}), {res.evaluations} emulator evaluations"
            )
        else:
            g = res.diagnostics
            log(
                f"posterior (MCMC): {g['steps']} steps × {g['walkers']} walkers = {g['chain_taus']} autocorrelation "
                f"times ({'converged' if g['converged'] else 'NOT converged'}), {g['effective_samples']:.0f} "
                f"effective samples, acceptance {g['acceptance_fraction']:.2f}; {len(res.particles)} draws, "
                f"{res.evaluations} emulator evaluations"
            )
        result |= {"posterior": res, "predictive": pred, "files": result["files"] + files}
    return result
