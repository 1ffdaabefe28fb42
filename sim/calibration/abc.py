"""ABC-SMC calibration with pyabc (optional extra ``[calibrate]``; imported lazily).

* **priors** — uniform over the schema's ``x-prior`` range of each chosen parameter, in its sampling scale
  (log10 for ranges spanning ≥ 2 decades; :class:`sim.calibration.targets.ParameterPrior`);
* **cohort spreads** — ``cohort.*`` paths (``AbcSettings.ranges`` gives their prior ranges) are applied to the
  scenario before the patients are drawn; their calibrated values go to ``OUT/cohort_calibrated.toml``;
* **model** — :class:`CohortModel`: simulate ``K`` virtual patients with the particle's parameters
  (:func:`sim.calibration.cohort_adapter.simulate_cohort`), compute the summary statistics
  (:mod:`sim.calibration.stats`) and return them as a flat dict keyed like the target table's ``stat_key``;
* **distance** — :class:`TargetDistance`: each statistic's deviation from its target, normalised by the
  target's range half-width (or SE-based interval, see :mod:`sim.calibration.validate`); sign targets count only
  when ρ lies outside their interval; each target id weighs 1 in total whatever its number of items (or the
  weight given in ``AbcSettings.weights``); a missing statistic costs ``NAN_PENALTY`` standard units.
  Distance = √(weighted mean over target ids of the mean z² of their items).
* **sampler** — ``SingleCoreSampler`` (tests, small runs; the cohort itself may use local worker processes) or
  ``DaskDistributedSampler`` with a given client. pyabc's forking multicore sampler is not used.
* **resume** — the SQLite history ``OUT/abc.db`` and ``OUT/abc_config.json``; ``resume=True`` continues the
  stored run up to ``populations`` in total.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io.store import save_figure
from ..scenario import Scenario
from .cohort_adapter import simulate_cohort
from .sensitivity import short_name
from .settings import POINTS, AbcSettings
from .stats import CohortError, StatsConfig, cohort_from_frames, compute_statistics
from .targets import ParameterPrior, TargetSet, load_targets, parameter_prior, ranged_prior
from .validate import comparisons, distance_spec

__all__ = [
    "CalibrationError",
    "AbcSettings",
    "CohortModel",
    "TargetDistance",
    "require_pyabc",
    "run_abc",
    "check_settings",
    "abc_priors",
    "COHORT_FILE",
    "reachable_spec",
    "write_calibrated",
    "read_calibrated",
    "NAN_PENALTY",
]

#: z-score charged for a statistic the simulated cohort could not produce (type absent, degenerate readout)
NAN_PENALTY = 3.0
#: point estimates ``calibrated.toml`` can carry (``run_abc(point=...)``, ``discsim calibrate --point``)
CONFIG_FILE = "abc_config.json"
DB_FILE = "abc.db"
#: the calibrated cohort spreads (``cohort.*`` paths), beside OUT/calibrated.toml, which holds model parameters only
COHORT_FILE = "cohort_calibrated.toml"


class CalibrationError(RuntimeError):
    """A calibration cannot start or continue (missing extra, inconsistent resume, bad settings)."""


def require_pyabc():
    """Import pyabc or explain how to install it."""
    try:
        import pyabc
    except ImportError:
        raise CalibrationError(
            "pyabc is not installed; it is an optional extra: pip install 'discsim[calibrate]'"
        ) from None
    return pyabc


def par_name(path: str) -> str:
    """pyabc parameter key of a dotted path (``parameters.pain.tnf_weight`` -> ``parameters__pain__tnf_weight``)."""
    return path.replace(".", "__")


# ---------------------------------------------------------------------------------------------
# model, distance
# ---------------------------------------------------------------------------------------------


def reachable_spec(spec: pd.DataFrame, days: float, max_entry_day: float, config: StatsConfig) -> pd.DataFrame:
    """Drop target rows the simulated horizon cannot reach (so they do not add a constant penalty)."""
    keep = []
    n_visits = 0
    for key in spec["stat_key"]:
        ok = True
        if key.startswith(("regression_prob_", "complete_resolution_")):
            ok = days >= config.outcome_day
        elif key.startswith(("sciatica_trial_leg_vas_itt[week ", "sciatica_trial_fraction_leg_vas_le_17_5[week ")):
            week = float(key.rsplit("week ", 1)[1].rstrip("]"))
            ok = max_entry_day + 7.0 * week <= days
            if ok and key.startswith("sciatica_trial_leg_vas_itt"):
                n_visits += 1
        keep.append(ok)
    out = spec[keep]
    if n_visits < 4:
        out = out[~out["stat_key"].str.startswith("sciatica_trial_leg_vas_exponential_fit")]
    return out.reset_index(drop=True)


def _max_entry_day(scenario: Scenario) -> float:
    """Latest tissue-sample day of the cohort (the default [cohort] section's when the scenario has none)."""
    from ..scenario.variability import CohortSpec

    return float((scenario.cohort or CohortSpec()).sample_day_max())


class CohortModel:
    """pyabc model: parameters -> a small virtual cohort -> flat summary statistics (picklable)."""

    def __init__(
        self,
        scenario: Scenario,
        priors: Sequence[ParameterPrior],
        settings: AbcSettings,
        keys: Sequence[str],
        targets: TargetSet,
    ):
        self.scenario_json = scenario.model_dump(mode="json")
        self.priors = list(priors)
        self.settings = settings
        self.keys = list(keys)
        self.targets = targets
        self.signs = {k: int(v) for k, v in targets["review_association_signs"].by_label().items()}

    def overrides(self, par: dict[str, float]) -> dict[str, float]:
        """Every parameter's value, model parameters and cohort spreads."""
        return {p.path: p.to_value(float(par[par_name(p.path)])) for p in self.priors}

    def seed_for(self, par: dict[str, float]) -> int:
        if self.settings.common_patients:
            return self.settings.seed
        # fresh patients per particle, reproducible from the particle's values
        text = json.dumps([round(float(par[par_name(p.path)]), 12) for p in self.priors])
        return int(np.random.SeedSequence([self.settings.seed, zlib.crc32(text.encode())]).generate_state(1)[0])

    def scenario_for(self, par: dict[str, float]) -> tuple[Scenario, dict[str, float]]:
        """The particle's cohort scenario (its cohort spreads applied: the population the patients are drawn
        from) and its model-parameter overrides (applied to every drawn patient)."""
        from ..scenario import with_overrides

        scenario = Scenario.model_validate(self.scenario_json)
        values = self.overrides(par)
        spreads = {k: v for k, v in values.items() if k.startswith("cohort.")}
        if spreads:
            scenario = with_overrides(scenario, spreads)
        return scenario, {k: v for k, v in values.items() if not k.startswith("cohort.")}

    def __call__(self, par: dict[str, float]) -> dict[str, float]:
        s = self.settings
        nan = dict.fromkeys(self.keys, math.nan)
        scenario, model = self.scenario_for(par)
        patients, traj = simulate_cohort(
            scenario, s.patients, days=s.days, seed=self.seed_for(par), overrides=model, workers=s.workers
        )
        try:
            stats = compute_statistics(cohort_from_frames(patients, traj), s.stats_config(), self.signs)
        except CohortError:
            return nan
        values = {c.stat_key: float(c.simulated) for c in comparisons(stats, self.targets, include_checks=False)}
        return {k: values.get(k, math.nan) for k in self.keys}


class TargetDistance:
    """Normalised distance of simulated statistics to the targets (see module docstring)."""

    def __init__(self, spec: pd.DataFrame, weights: dict[str, float] | None = None):
        self.spec = spec.reset_index(drop=True)
        self.weights = dict(weights or {})

    def zscores(self, x: dict[str, float]) -> pd.Series:
        z = []
        for r in self.spec.itertuples(index=False):
            s = x.get(r.stat_key, math.nan)
            s = float(s) if s is not None else math.nan
            if not np.isfinite(s):
                z.append(NAN_PENALTY)
            elif r.kind == "interval":
                z.append(max(r.lo - s, 0.0, s - r.hi) / r.scale)
            else:
                z.append((s - r.value) / r.scale)
        return pd.Series(z, index=self.spec["stat_key"], dtype=float)

    def __call__(self, x: dict[str, float], x_0: dict[str, float] | None = None, *args: Any, **kwargs: Any) -> float:
        z2 = self.zscores(x) ** 2
        groups = self.spec["target_id"].to_numpy()
        total = wsum = 0.0
        for g in dict.fromkeys(groups):
            w = self.weights.get(g, 1.0)
            total += w * float(z2[groups == g].mean())
            wsum += w
        return math.sqrt(total / wsum) if wsum > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------


@dataclass
class AbcResult:
    out_dir: Path
    posterior: pd.DataFrame
    calibrated: dict[str, float]
    budget: dict[str, Any]
    files: list[Path]


def _dotted(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def abc_priors(scenario: Scenario, settings: AbcSettings) -> list[ParameterPrior]:
    """The prior of each ``settings.params`` path: its explicit range (``settings.ranges``) or the schema's
    ``x-prior``. A cohort spread (``cohort.*``) needs a range and must exist in the scenario's ``[cohort]``.

    Raises
    ------
    CalibrationError
        A path that is neither, a cohort spread without a range or absent from the scenario, a bad range.
    """
    from ..scenario import ScenarioError, with_overrides

    data = scenario.model_dump(mode="json")
    problems, priors = [], []
    unknown_ranges = sorted(set(settings.ranges) - set(settings.params))
    if unknown_ranges:
        problems.append(f"ranges for parameters that are not calibrated: {', '.join(unknown_ranges)}")
    for path in settings.params:
        rng = settings.ranges.get(path)
        try:
            if rng is not None:
                if len(rng) != 2:
                    raise ValueError(f"{path}: a range is [LO, HI], got {rng!r}")
                prior = ranged_prior(path, rng[0], rng[1], default=_dotted(data, path))
            elif path.startswith("cohort."):
                raise ValueError(f"{path}: a cohort spread has no schema prior; give its range as {path}=LO:HI")
            else:
                prior = parameter_prior(path)
        except (KeyError, ValueError) as exc:
            problems.append(str(exc.args[0]))
            continue
        if path.startswith("cohort."):
            if scenario.cohort is None:
                problems.append(f"{path}: the scenario has no [cohort] section")
                continue
            try:  # both ends must give a valid cohort (a gsd below 1, a median outside the key's bounds, ...)
                with_overrides(scenario, {path: prior.lo})
                with_overrides(scenario, {path: prior.hi})
            except ScenarioError as exc:
                problems.append(f"{path}: " + "; ".join(p.message for p in exc.problems))
                continue
        priors.append(prior)
    if problems:
        raise CalibrationError("parameters: " + "; ".join(problems))
    return priors


def _setup(scenario: Scenario, settings: AbcSettings, targets: TargetSet):
    priors = abc_priors(scenario, settings)
    spec = distance_spec(targets, settings.stats_config(), uses=tuple(settings.uses))
    spec = reachable_spec(spec, settings.days, _max_entry_day(scenario), settings.stats_config())
    if spec.empty:
        raise CalibrationError("no target is reachable with these settings (increase --days)")
    known = set(spec["target_id"])
    for tid, w in settings.weights.items():
        if tid not in known:
            raise CalibrationError(
                f"weight for {tid!r}: not a target of this calibration (reachable targets: {', '.join(sorted(known))})"
            )
        if not (math.isfinite(w) and w >= 0):
            raise CalibrationError(f"weight for {tid!r} must be a finite number ≥ 0, got {w}")
    model = CohortModel(scenario, priors, settings, list(spec["stat_key"]), targets)
    return priors, spec, model


def check_settings(scenario: Scenario, settings: AbcSettings, targets: TargetSet | None = None) -> None:
    """Raise :class:`CalibrationError` for what :func:`run_abc` would refuse (parameters, ranges, weights,
    reachable targets), before anything is written."""
    _setup(scenario, settings, targets or load_targets())


def run_abc(
    scenario: Scenario,
    out_dir: str | Path,
    settings: AbcSettings | None = None,
    *,
    resume: bool = False,
    client: Any = None,
    targets: TargetSet | None = None,
    calibrated_path: str | Path | None = None,
    log: Any = None,
    point: str = POINTS[0],
) -> AbcResult:
    """Run (or continue) ABC-SMC and write posterior, calibrated parameters, report and budget into ``out_dir``.

    ``point`` is the point estimate written to the calibrated file: ``"mean"``, the posterior weighted mean
    (geometric for log-scaled parameters), or ``"best"``, the particle of the last population with the smallest
    distance (for a posterior that is still broad, where the mean of the marginals may be a point no particle
    supports). Both are reported.
    """
    if point not in POINTS:
        raise CalibrationError(f"point must be one of {', '.join(POINTS)}, got {point!r}")
    pyabc = require_pyabc()
    from ..io.store import write_json

    out = Path(out_dir)
    db = out / DB_FILE
    cfg_path = out / CONFIG_FILE
    log = log or (lambda msg: None)
    if resume:
        if not db.is_file() or not cfg_path.is_file():
            raise CalibrationError(f"{out}: nothing to resume (no {DB_FILE} / {CONFIG_FILE})")
        stored = json.loads(cfg_path.read_text(encoding="utf-8"))
        base = AbcSettings(**stored["settings"])
        if settings is not None:  # only the budget may change on resume
            base.populations, base.workers = settings.populations, settings.workers
        settings = base
        scenario = Scenario.model_validate(stored["scenario"])
    else:
        settings = settings or AbcSettings()
        if db.exists():
            raise CalibrationError(f"{db} exists: continue it with --resume, or choose another --out")
    targets = targets or load_targets()
    priors, spec, model = _setup(scenario, settings, targets)
    distance = TargetDistance(spec, settings.weights)
    prior = pyabc.Distribution(
        **{par_name(p.path): pyabc.RV("uniform", p.bounds[0], p.bounds[1] - p.bounds[0]) for p in priors}
    )
    if client is not None:
        from pyabc.sampler import DaskDistributedSampler

        sampler = DaskDistributedSampler(dask_client=client)
    else:
        from pyabc.sampler import SingleCoreSampler

        sampler = SingleCoreSampler()
    abc = pyabc.ABCSMC(model, prior, distance, population_size=settings.population_size, sampler=sampler)
    out.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{db.resolve()}"
    previous_wall = 0.0
    if resume:
        history = abc.load(db_url, 1)
        done = history.max_t + 1
        previous_wall = (
            float(json.loads((out / "budget.json").read_text())["wall_time_s"])
            if (out / "budget.json").is_file()
            else 0.0
        )
    else:
        write_json(
            {
                "settings": settings.to_json(),
                "scenario": scenario.model_dump(mode="json"),
                "spec": spec.to_dict(orient="records"),
            },
            cfg_path,
        )
        x0 = {r.stat_key: float(r.value) for r in spec.itertuples(index=False)}
        history = abc.new(db_url, x0)
        done = 0
    remaining = settings.populations - done
    t0 = time.perf_counter()
    if remaining > 0:
        log(
            f"running {remaining} population(s) of {settings.population_size} particles "
            f"({settings.patients} patients × {settings.days:g} days each)"
        )
        history = abc.run(max_nr_populations=remaining, minimum_epsilon=settings.min_epsilon)
    else:
        log(f"all {settings.populations} populations already done; rewriting the outputs")
    wall = previous_wall + time.perf_counter() - t0
    return _write_outputs(out, history, priors, spec, settings, scenario, wall, calibrated_path, targets, point)


def _posterior_frames(history, priors: Sequence[ParameterPrior]) -> pd.DataFrame:
    frames = []
    for t in range(history.max_t + 1):
        df, w = history.get_distribution(m=0, t=t)
        rec = pd.DataFrame({"t": t, "weight": np.asarray(w, dtype=float)})
        for p in priors:
            x = df[par_name(p.path)].to_numpy(dtype=float)
            rec[f"x:{p.path}"] = x
            rec[p.path] = [p.to_value(v) for v in x]
        frames.append(rec)
    return pd.concat(frames, ignore_index=True)


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x)
    x, w = x[order], w[order]
    cw = np.cumsum(w) / w.sum()
    return float(np.interp(q, cw - w / (2 * w.sum()), x))


def _best_particle(history, priors: Sequence[ParameterPrior]) -> tuple[dict[str, float], float]:
    """Values and distance of the last population's particle with the smallest distance."""
    pop = history.get_population(t=history.max_t)
    best = min(pop.particles, key=lambda q: q.distance)
    return {p.path: p.to_value(float(best.parameter[par_name(p.path)])) for p in priors}, float(best.distance)


def _write_outputs(
    out: Path,
    history,
    priors,
    spec,
    settings: AbcSettings,
    scenario: Scenario,
    wall: float,
    calibrated_path,
    targets: TargetSet,
    point: str = POINTS[0],
) -> AbcResult:
    from ..io.provenance import git_revision
    from ..io.store import write_json, write_parquet

    populations = _posterior_frames(history, priors)
    last = populations[populations["t"] == history.max_t].reset_index(drop=True)
    w = last["weight"].to_numpy(float)
    means = {}
    best, best_distance = _best_particle(history, priors)
    summary = []
    for p in priors:
        x = last[f"x:{p.path}"].to_numpy(float)
        mean_x = float(np.average(x, weights=w))
        means[p.path] = p.to_value(mean_x)
        summary.append(
            {
                "parameter": p.path,
                "unit": p.unit,
                "prior_lo": p.lo,
                "prior_hi": p.hi,
                "scale": p.scale,
                "default": p.default,
                "posterior_mean": means[p.path],
                "q05": p.to_value(_weighted_quantile(x, w, 0.05)),
                "q95": p.to_value(_weighted_quantile(x, w, 0.95)),
                "best_particle": best[p.path],
            }
        )
    summary_df = pd.DataFrame(summary)
    calibrated = means if point == "mean" else best
    n_sim = int(history.total_nr_simulations)
    pops = history.get_all_populations()
    budget = {
        "populations": int(history.max_t + 1),
        "population_size": settings.population_size,
        "patients_per_simulation": settings.patients,
        "days": settings.days,
        "model_simulations": n_sim,
        "simulated_patients": n_sim * settings.patients,
        "wall_time_s": round(wall, 1),
        "epsilons": [float(e) for e in pops.loc[pops["t"] >= 0, "epsilon"]],
        "git_revision": git_revision(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "parameters": settings.params,
        "point_estimate": point,
        "best_particle_distance": best_distance,
    }
    meta = {"kind": "abc", "settings": settings.to_json(), "budget": budget}
    files = [
        write_parquet(last, out / "posterior.parquet", metadata=meta),
        write_parquet(populations, out / "populations.parquet", metadata=meta),
        write_json(budget, out / "budget.json"),
    ]
    summary_df.to_csv(out / "posterior_summary.csv", index=False)
    files.append(out / "posterior_summary.csv")
    files.append(
        write_calibrated(
            {k: v for k, v in calibrated.items() if not k.startswith("cohort.")},
            Path(calibrated_path) if calibrated_path else out / "calibrated.toml",
            budget=budget,
            scenario=scenario.name,
        )
    )
    spreads = {k: v for k, v in calibrated.items() if k.startswith("cohort.")}
    if spreads:  # not a parameter set (which holds parameters.* only): values for the scenario's [cohort]
        files.append(write_calibrated(spreads, out / COHORT_FILE, budget=budget, scenario=scenario.name))
    # simulated statistics of the last population (weighted), from the history: no extra simulation
    sw, sstats = history.get_weighted_sum_stats(t=history.max_t)
    sims = pd.DataFrame([{k: float(v) for k, v in s.items()} for s in sstats])
    sims_w = np.asarray(sw, dtype=float)
    files += _report(
        out, spec, sims, sims_w, last, priors, summary_df, budget, targets, settings, _max_entry_day(scenario)
    )
    return AbcResult(out, last, calibrated, budget, files)


# ---------------------------------------------------------------------------------------------
# calibrated parameter file
# ---------------------------------------------------------------------------------------------


def write_calibrated(values: dict[str, float], path: str | Path, *, budget: dict[str, Any], scenario: str) -> Path:
    """Write dotted-path overrides as TOML (bare dotted keys: also a valid partial scenario file)."""
    from ..io.store import atomic_file

    path = Path(path)
    if budget.get("point_estimate", "mean") == "best":
        what = [
            "# Calibrated parameters (discsim calibrate --point best): the particle of the last ABC-SMC population",
            f"# with the smallest distance ({budget.get('best_particle_distance', float('nan')):.4g}); "
            "posterior means and 5-95 % ranges are in the run's report.",
        ]
    else:
        what = [
            "# Calibrated parameters (discsim calibrate): posterior weighted means of the last ABC-SMC population",
            "# (log-scaled parameters: weighted mean of log10, i.e. a weighted geometric mean).",
        ]
    lines = [
        *what,
        f"# date: {budget.get('date')}",
        f"# git: {budget.get('git_revision')}",
        f"# scenario: {scenario}",
        f"# budget: {budget['populations']} populations x {budget['population_size']} particles, "
        f"{budget['model_simulations']} model simulations x {budget['patients_per_simulation']} patients = "
        f"{budget['simulated_patients']} simulated patients of {budget['days']:g} days, "
        f"wall time {budget['wall_time_s']:.0f} s",
        "# Keys are dotted scenario paths; apply with sim.scenario.with_overrides(scenario, read_calibrated(path)).",
        "",
    ]
    for k, v in values.items():
        lines.append(f"{k} = {float(v):.6g}")
    with atomic_file(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_calibrated(path: str | Path) -> dict[str, Any]:
    """The overrides of a calibrated file as ``{dotted.path: value}``."""
    return read_calibrated_text(Path(path).read_text(encoding="utf-8"))


def read_calibrated_text(text: str) -> dict[str, Any]:
    """The overrides of a calibrated file's text as ``{dotted.path: value}``."""
    import tomllib

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out |= flat(v, f"{prefix}{k}.")
            else:
                out[f"{prefix}{k}"] = v
        return out

    return flat(tomllib.loads(text))


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def _wq(x: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    ok = np.isfinite(x)
    if not ok.any():
        return math.nan, math.nan, math.nan
    x, w = x[ok], w[ok]
    return float(np.average(x, weights=w)), _weighted_quantile(x, w, 0.05), _weighted_quantile(x, w, 0.95)


def _association_figure(
    assoc: pd.DataFrame, path: Path, *, days: float, patients: int, latest_sample_day: float
) -> None:
    """Simulated Spearman ρ (weighted mean, 5-95 %) against the review's signs as ρ intervals; a message where
    nothing was simulated (run shorter than the sample day, too few patients, a constant readout)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.4 * len(assoc)), layout="constrained")
    yy = np.arange(len(assoc))[::-1]
    ax.barh(
        yy,
        assoc["target_hi"] - assoc["target_lo"],
        left=assoc["target_lo"],
        height=0.6,
        color="0.85",
        label="review sign as ρ interval",
    )
    ax.hlines(yy, assoc["sim_q05"], assoc["sim_q95"], color="C0", lw=1.2)
    ax.plot(assoc["sim_mean"], yy, "o", color="C0", label="simulated Spearman ρ (5-95 %)")
    labels = [f"{k.split('[', 1)[1].rstrip(']')} ({int(v):+d})" for k, v in zip(assoc["stat_key"], assoc["target"])]
    ax.set_yticks(yy, labels)
    ax.axvline(0, color="0.4", lw=0.8)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-0.6, len(assoc) - 0.4)
    ax.set_xlabel("Spearman ρ with leg VAS at the sample (-)")
    short = bool(np.isfinite(latest_sample_day) and days < latest_sample_day)
    simulated = np.isfinite(assoc["sim_mean"].to_numpy(float))
    if not simulated.any():
        why = [f"run shorter than sample day {latest_sample_day:g}"] if short else []
        if patients < 3:
            why.append(f"{patients} patients per simulation, Spearman ρ needs 3")
        why = "\n".join(why) or "constant readouts: no Spearman ρ"
        box = {"boxstyle": "round", "facecolor": "white", "edgecolor": "0.6"}
        ax.text(0.5, 0.5, f"not simulated\n{why}", transform=ax.transAxes, ha="center", va="center", bbox=box)
    else:
        for yi, ok in zip(yy, simulated, strict=True):
            if not ok:
                ax.annotate("no value", (0, yi), xytext=(4, -3), textcoords="offset points", fontsize=7, color="0.4")
    title = "Association with pain vs the review's signs"
    if short and simulated.any():
        title += f"\n(run of {days:g} days: samples due after day {days:g} taken on that day)"
    ax.set_title(title, pad=28)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False)
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _report(
    out: Path,
    spec: pd.DataFrame,
    sims: pd.DataFrame,
    w: np.ndarray,
    last: pd.DataFrame,
    priors: Sequence[ParameterPrior],
    summary: pd.DataFrame,
    budget: dict[str, Any],
    targets: TargetSet,
    settings: AbcSettings,
    latest_sample_day: float = math.nan,
) -> list[Path]:
    """posterior_statistics.csv, the figures and report.md. ``latest_sample_day``: the cohort's latest tissue-sample
    day; a shorter run samples those patients on its last day, and the association figure says so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for r in spec.itertuples(index=False):
        x = sims[r.stat_key].to_numpy(float) if r.stat_key in sims else np.full(len(w), np.nan)
        m, lo, hi = _wq(x, w)
        rows.append(
            {
                "stat_key": r.stat_key,
                "target": r.value,
                "target_lo": r.lo,
                "target_hi": r.hi,
                "scale": r.scale,
                "kind": r.kind,
                "sim_mean": m,
                "sim_q05": lo,
                "sim_q95": hi,
            }
        )
    comp = pd.DataFrame(rows)
    comp.to_csv(out / "posterior_statistics.csv", index=False)
    files = [out / "posterior_statistics.csv"]

    # 1. every statistic against its target, in normalised units
    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.28 * len(comp)), layout="constrained")
    y = np.arange(len(comp))[::-1]
    centre = np.where(comp["kind"] == "interval", 0.5 * (comp["target_lo"] + comp["target_hi"]), comp["target"])
    z = lambda v: (v - centre) / comp["scale"].to_numpy()  # noqa: E731
    ax.barh(
        y,
        z(comp["target_hi"]) - z(comp["target_lo"]),
        left=z(comp["target_lo"]),
        height=0.6,
        color="0.85",
        label="target range",
    )
    # range and mean drawn separately: with few effective particles the weighted mean can lie outside 5-95 %
    ax.hlines(y, z(comp["sim_q05"]), z(comp["sim_q95"]), color="C3", lw=1.2)
    ax.plot(z(comp["sim_mean"]), y, "o", color="C3", ms=4, label="posterior sims: weighted mean, 5-95 %")
    ax.axvline(0, color="0.4", lw=0.8)
    ax.set_yticks(y, comp["stat_key"], fontsize=7)
    ax.set_xlabel("(simulated − target) / target scale")
    for yi, m in zip(y, comp["sim_mean"], strict=True):
        if not np.isfinite(m):
            ax.annotate("no value", (0, yi), xytext=(4, -3), textcoords="offset points", fontsize=7, color="0.4")
    ax.set_title("Simulated statistics vs targets (last population)", pad=28)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False)
    save_figure(fig, out / "fig_targets.png", dpi=110)
    plt.close(fig)
    files.append(out / "fig_targets.png")

    # 2. association signs
    assoc = comp[comp["stat_key"].str.startswith("review_association_signs[")]
    if not assoc.empty:
        _association_figure(
            assoc,
            out / "fig_associations.png",
            days=settings.days,
            patients=settings.patients,
            latest_sample_day=latest_sample_day,
        )
        files.append(out / "fig_associations.png")

    # 3. posterior marginals
    n = len(priors)
    ncol = min(4, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.6 * nrow), layout="constrained", squeeze=False)
    wl = last["weight"].to_numpy(float)
    for ax, p in zip(axes.flat, priors, strict=False):
        x = last[f"x:{p.path}"].to_numpy(float)
        lo, hi = p.bounds
        ax.hist(x, bins=np.linspace(lo, hi, 16), weights=wl, color="C2", alpha=0.8)
        ax.axhline(1.0 / 15, color="0.4", ls=":", lw=1)  # uniform prior density per bin
        ax.set_xlim(lo, hi)
        ax.set_title(short_name(p.path), fontsize=8)
        ax.set_xlabel(("log10 " if p.scale == "log10" else "") + (p.unit or ""), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("Posterior marginals (weighted; dotted: prior)", fontsize=10)
    save_figure(fig, out / "fig_posterior.png", dpi=110)
    plt.close(fig)
    files.append(out / "fig_posterior.png")

    def f(v: Any) -> str:
        return (
            ""
            if v is None or (isinstance(v, float) and not np.isfinite(v))
            else (f"{v:.4g}" if isinstance(v, float) else str(v))
        )

    md = [
        "# ABC-SMC calibration report",
        "",
        "## Budget",
        "",
        "| populations | particles | model simulations | patients/simulation | simulated patients | days | wall time |",
        "|---|---|---|---|---|---|---|",
        f"| {budget['populations']} | {budget['population_size']} | {budget['model_simulations']} | "
        f"{budget['patients_per_simulation']} | {budget['simulated_patients']} | {budget['days']:g} | "
        f"{budget['wall_time_s']:.0f} s |",
        "",
        f"Epsilons: {', '.join(f'{e:.3g}' for e in budget['epsilons'])}. Git: `{budget['git_revision']}`, "
        f"{budget['date']}. Patients per particle: {'common' if settings.common_patients else 'fresh'}.",
        "",
        "## Parameters (prior range, posterior weighted mean, 5-95 %, best particle)",
        "",
        f"Shipped point estimate: **{budget.get('point_estimate', 'mean')}** "
        f"(best particle distance {budget.get('best_particle_distance', float('nan')):.4g}).",
        "",
        "| parameter | unit | scale | prior | default | posterior mean | 5-95 % | best particle |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary.itertuples(index=False):
        md.append(
            f"| `{r.parameter}` | {r.unit} | {r.scale} | {f(r.prior_lo)}–{f(r.prior_hi)} | {f(r.default)} | "
            f"{f(r.posterior_mean)} | {f(r.q05)}–{f(r.q95)} | {f(r.best_particle)} |"
        )
    md += [
        "",
        "![posterior](fig_posterior.png)",
        "",
        "## Statistics of the last population vs targets",
        "",
        "| statistic | target | range | simulated (weighted mean) | 5-95 % | inside |",
        "|---|---|---|---|---|---|",
    ]
    for r in comp.itertuples(index=False):
        inside = "" if not np.isfinite(r.sim_mean) else ("yes" if r.target_lo <= r.sim_mean <= r.target_hi else "no")
        md.append(
            f"| {r.stat_key} | {f(r.target)} | {f(r.target_lo)}–{f(r.target_hi)} | {f(r.sim_mean)} | "
            f"{f(r.sim_q05)}–{f(r.sim_q95)} | {inside} |"
        )
    md += ["", "![targets](fig_targets.png)", ""]
    if not assoc.empty:
        md += ["![associations](fig_associations.png)", ""]
    weights = ", ".join(f"{k} × {v:g}" for k, v in sorted(settings.weights.items())) or "none (every target 1)"
    md += [
        "Distance: √(weighted mean over targets of the mean z² of their items), z = (simulated − target) / scale "
        f"(sign targets: distance to the ρ interval); missing statistic z = {NAN_PENALTY}. "
        f"Target weights: {weights}. See docs/calibration.md.",
        "",
    ]
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    files.append(out / "report.md")
    return files
