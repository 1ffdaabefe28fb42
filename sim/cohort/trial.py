"""Virtual randomized trials: screen a cohort's patients at entry, simulate every arm on the same patients, compare.

Steps (``discsim trial TRIAL.toml``; the file format is in :mod:`sim.cohort.trial_spec`)::

    trial = load_trial("scenarios/trials/peul2007.toml")   # every check that needs no simulation
    screening = screen(trial)                              # untreated course to each patient's entry day
    enrolled = enrolment(trial, screening)                 # ScenarioError if nobody is eligible
    result = run_trial(trial, out, screening)              # arms through the executor, tables, effects

Common random numbers: patient ``k`` is drawn once (:func:`sim.cohort.draw.draw_patient`, same random effects
and simulation seed in every arm), enters on the day its own entry stream gives, and every arm simulates that
same patient from onset; the arms differ only by their treatments, which start at entry or later, so every arm
is identical to the screening run up to the entry day.

Output directory::

    OUT/
      screening.parquet  one row per screened patient: entry day, values at entry, eligible, enrolled, why not
                         (with a posterior: its draw, ``posterior_draw``, and the draw's values by dotted path)
      parts/arm-<arm>-patient-000042.parquet   one per patient and arm (daily timeseries), atomic, resumable
      arms.parquet       one row per patient, arm and visit (visit 0 = entry): every timeseries column
      outcomes.parquet   one row per patient and arm: time to recovery, surgery, responder, window means, MRI
      effects.parquet    effects of each arm against the reference, overall and by subgroup (sim.cohort.trial_stats)
      manifest.json      kind "trial": the trial, the population, seeds, enrolment, published vs simulated

Parameter uncertainty (``discsim trial --posterior``, :meth:`Trial.with_posterior`): patient ``k`` is drawn under
one posterior draw, chosen from its own stream (:func:`sim.cohort.posterior.posterior_draw_index` of the trial's
root seed), the same draw in screening and in every arm; the arms still differ only by their treatments.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..io.provenance import provenance
from ..io.store import read_parquet_metadata, write_json, write_parquet
from ..model import OBSERVABLES
from ..scenario import Problem, Scenario, ScenarioError, with_overrides
from .draw import VirtualPatient, draw_patient, fingerprint
from .executor import Outcome, Task, part_path, read_error, run_tasks
from .tasks import RunSpec, simulate, simulate_treated
from .trial_spec import ENTRY_STREAM, Requirement, Trial, variable_column

__all__ = [
    "TrialResult",
    "screen",
    "enrolment",
    "run_trial",
    "SCREENING",
    "ARMS",
    "OUTCOMES",
    "EFFECTS",
    "arm_scenario",
    "patient_draw",
]

SCREENING = "screening.parquet"
ARMS = "arms.parquet"
OUTCOMES = "outcomes.parquet"
EFFECTS = "effects.parquet"
MANIFEST = "manifest.json"
PARTS = "parts"
#: bump when the content of a part or of the screening table changes meaning
PART_FORMAT = 1
_ENTRY_COLUMNS = [c for c in OBSERVABLES if c != "day"]
#: what the effects' intervals cover (manifest ``intervals``, printed after a run; docs/trials.md)
INTERVALS_WITHOUT_POSTERIOR = (
    "patient sampling only: the parameters are fixed at the population scenario's values, so the intervals do "
    "not include parameter uncertainty"
)
INTERVALS_WITH_POSTERIOR = (
    "patients and parameters together: each patient is an independent draw from the posterior predictive "
    "population (its own posterior draw), so the intervals include parameter uncertainty as it spreads the "
    "patients' outcomes; they are intervals for the effect averaged over the posterior, and shrink with more "
    "patients (not a credible interval of the effect across draws)"
)


@dataclass
class TrialResult:
    out: Path
    n_enrolled: int
    n_runs: int
    n_failed: int
    n_cached: int
    wall_time_s: float
    manifest: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# patients
# ---------------------------------------------------------------------------------------------


def patient_draw(trial: Trial, k: int) -> tuple[VirtualPatient, int]:
    """Patient ``k`` of the trial's population and its entry day (the same in screening and in every arm).

    With ``trial.posterior``, the patient is drawn under its posterior draw (``trial.posterior_draw(k)``):
    :func:`sim.cohort.posterior.draw_posterior_patient` with the trial's root seed, so its random-effect uniforms,
    simulation seed and entry day are those without a posterior, and its scenario carries the draw's values.
    """
    entry = trial.entry_day(k)
    days = trial.days_for(entry)
    if trial.posterior is None:
        return draw_patient(trial.population, k, root=trial.root_seed, days=days), entry
    from .posterior import draw_posterior_patient

    vp, _ = draw_posterior_patient(
        trial.population, trial.posterior, k, root=trial.root_seed, days=days, cache=trial._draw_scenarios
    )
    return vp, entry


def arm_scenario(trial: Trial, vp: VirtualPatient, entry: int, arm_index: int) -> Scenario:
    """Patient ``vp`` under arm ``arm_index``: the same patient and seed, the arm's treatments resolved at entry."""
    arm = trial.spec.arm[arm_index]
    treatments = trial.arm_treatments(arm, entry)
    if not treatments:
        return vp.scenario
    return with_overrides(vp.scenario, {"treatment": treatments}, f"{trial.source}: arm {arm.name!r}")


def _screening_scenario(vp: VirtualPatient, entry: int) -> Scenario:
    return vp.scenario.model_copy(
        update={"simulation": vp.scenario.simulation.model_copy(update={"days": float(entry)})}
    )


def _screening_fingerprint(trial: Trial) -> str:
    h = hashlib.sha256(trial.population.model_dump_json().encode())
    h.update(repr((trial.root_seed, trial.window, trial.spec.follow_up_days, ENTRY_STREAM, PART_FORMAT)).encode())
    if trial.posterior is not None:  # a screening made without it, or with another file, is not reused
        h.update(f"posterior {trial.posterior.sha256}".encode())
    return h.hexdigest()[:24]


# ---------------------------------------------------------------------------------------------
# screening and eligibility
# ---------------------------------------------------------------------------------------------


def _rule_fails(rule: Requirement, value: Any) -> str | None:
    """Why ``value`` fails ``rule`` (None when it passes)."""
    if rule.one_of is not None:
        allowed = [str(v).lower() if isinstance(v, bool) else str(v) for v in rule.one_of]
        shown = str(value).lower() if isinstance(value, (bool, np.bool_)) else str(value)
        return None if shown in allowed else f"{rule.variable} = {shown} not in {allowed}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return f"{rule.variable} = {value!r} is not a number"
    if not math.isfinite(x):
        return f"{rule.variable} is undefined (NaN)"
    if rule.at_least is not None and x < rule.at_least:
        return f"{rule.variable} = {x:.4g} < {rule.at_least:g}"
    if rule.at_most is not None and x > rule.at_most:
        return f"{rule.variable} = {x:.4g} > {rule.at_most:g}"
    return None


def _screen_row(trial: Trial, vp: VirtualPatient, entry: int, ts: pd.DataFrame | None, error: str) -> dict[str, Any]:
    row: dict[str, Any] = {"patient": vp.index, "seed": vp.seed}
    draw = trial.posterior_draw(vp.index)
    if draw is not None:
        row["posterior_draw"] = draw
    row["entry_day"] = entry
    row.update({k: v for k, v in vp.effects.items() if k != "sample_day"})
    if draw is not None:  # the draw's values, by dotted path, after the patient variables
        row.update(trial.posterior.values_of(draw))  # type: ignore[union-attr]
    if ts is not None:
        last = ts[ts["day"] == float(entry)]
        values = last.iloc[0] if len(last) else None
        for c in _ENTRY_COLUMNS:
            row[f"entry_{c}"] = float(values[c]) if values is not None else math.nan
        row["status"], row["error"] = ("ok", "") if values is not None else ("failed", "no row on the entry day")
    else:
        row.update({f"entry_{c}": math.nan for c in _ENTRY_COLUMNS})
        row["status"], row["error"] = "failed", error
    return row


def _eligibility(trial: Trial, row: dict[str, Any]) -> str:
    """'' when eligible, else the first reason."""
    if row["status"] != "ok":
        return f"screening run failed: {row['error']}"
    for rule in trial.spec.entry.rules():
        why = _rule_fails(rule, row.get(variable_column(rule.variable)))
        if why is not None:
            return why
    return ""


def _cached_screening(trial: Trial, out: Path | None) -> dict[int, dict[str, Any]]:
    if out is None or not (out / SCREENING).is_file():
        return {}
    try:
        if read_parquet_metadata(out / SCREENING).get("fingerprint") != _screening_fingerprint(trial):
            return {}
        df = pq.read_table(out / SCREENING).to_pandas()
    except Exception:  # unreadable: screen again
        return {}
    df = df.drop(columns=["eligible", "enrolled", "reason"])
    return {int(r["patient"]): r for r in df.to_dict("records")}


def screen(
    trial: Trial,
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    retries: int = 2,
    progress: Callable[[Outcome, int, int], None] | None = None,
) -> pd.DataFrame:
    """Run the untreated course of patients 0, 1, … to their entry day and evaluate eligibility.

    With ``population.enrol``, patients are screened in batches until that many are eligible (or
    ``population.patients`` are screened); the table then ends at the last enrolled patient, as a trial stops
    recruiting. The runs are kept in memory (nothing is written); a ``screening.parquet`` already in ``out`` from
    the same population is reused.

    Returns the screening table (one row per screened patient: entry day, every timeseries column at entry as
    ``entry_<column>``, patient variables, ``eligible``, ``enrolled``, ``reason``).
    """
    pop = trial.spec.population
    assert pop is not None
    cached = _cached_screening(trial, Path(out) if out is not None else None)
    rows: dict[int, dict[str, Any]] = {}
    n_eligible = 0
    k_next = 0
    target = pop.enrol
    while k_next < pop.patients and (target is None or n_eligible < target):
        if target is None:
            batch = pop.patients - k_next
        else:
            rate = max(n_eligible / k_next, 0.05) if k_next else 0.5
            batch = max(math.ceil((target - n_eligible) / rate * 1.1), 4)
        ks = range(k_next, min(pop.patients, k_next + batch))
        draws = {k: patient_draw(trial, k) for k in ks}
        todo = [k for k in ks if k not in cached]
        tasks = [Task(f"screen-{k:06d}", RunSpec.of(_screening_scenario(*draws[k]), {}), "") for k in todo]
        report = run_tasks(
            tasks,
            simulate,
            None,
            workers=workers,
            scheduler=scheduler,
            client=client,
            retries=retries,
            progress=progress,
        )
        for k in ks:
            vp, entry = draws[k]
            if k in cached:
                row = cached[k]
            else:
                key = f"screen-{k:06d}"
                ts = (report.results or {}).get(key)
                err = report.outcomes[key].error or "no result" if ts is None else ""
                row = _screen_row(trial, vp, entry, ts, err)
            row["reason"] = _eligibility(trial, row)
            row["eligible"] = row["reason"] == ""
            n_eligible += bool(row["eligible"])
            rows[k] = row
        k_next = ks.stop
    table = pd.DataFrame.from_records([rows[k] for k in sorted(rows)])
    order = np.cumsum(table["eligible"].to_numpy())
    table["enrolled"] = table["eligible"] & ((order <= target) if target is not None else True)
    if target is not None and n_eligible >= target:
        last = int(table.index[table["enrolled"]].max())
        table = table.iloc[: last + 1].reset_index(drop=True)
    for col in ("patient", "seed", "entry_day", *(("posterior_draw",) if trial.posterior is not None else ())):
        table[col] = table[col].astype("int64")
    table["breach"] = table["breach"].astype(bool)
    return table


def enrolment(trial: Trial, screening: pd.DataFrame) -> list[int]:
    """The enrolled patients; a :class:`ScenarioError` naming the eligibility rules when nobody is eligible."""
    enrolled = screening.loc[screening["enrolled"], "patient"].astype(int).tolist()
    if enrolled:
        return enrolled
    from ..scenario.loader import _line_index

    rules = trial.spec.entry.rules()
    ok = screening[screening["status"] == "ok"]
    vas = ok["entry_pain_vas"].to_numpy(dtype=float)
    spread = (
        f"leg VAS at entry: median {np.median(vas):.1f}, max {np.max(vas):.1f}" if vas.size else "no screening run ran"
    )
    reasons = screening["reason"].value_counts().head(3)
    why = "; ".join(f"{n}× {r}" for r, n in reasons.items())
    described = ", ".join(
        f"{r.variable}"
        + (f" in {r.one_of}" if r.one_of is not None else "")
        + (f" ≥ {r.at_least:g}" if r.at_least is not None else "")
        + (f" ≤ {r.at_most:g}" if r.at_most is not None else "")
        for r in rules
    )
    try:
        index = _line_index(Path(trial.source).read_text(encoding="utf-8"))
    except OSError:
        index = {}
    raise ScenarioError(
        trial.source,
        [
            Problem(
                "entry",
                f"eligibility ({described or 'no rule'}) selects none of the {len(screening)} screened patients "
                f"({spread}; {why}). Relax the rules, widen entry.window_days or screen more patients",
                index.get("entry"),
            )
        ],
    )


# ---------------------------------------------------------------------------------------------
# arms
# ---------------------------------------------------------------------------------------------


def run_key(arm: str, k: int) -> str:
    return f"arm-{arm}-patient-{k:06d}"


def _window_mean(vas: np.ndarray, days_after: np.ndarray, window: list[int]) -> float:
    sel = (days_after >= window[0]) & (days_after <= window[1])
    return float(vas[sel].mean()) if sel.any() else math.nan


def _recovery(trial: Trial, vas: np.ndarray, days_after: np.ndarray, vas_entry: float) -> tuple[float, bool]:
    """(days after entry to recovery, recovered) or (last day assessed, False): censored at the end of follow-up."""
    rec = trial.spec.recovery
    sel = days_after >= 0
    if rec.assessed == "visits":
        sel &= np.isin(days_after, trial.spec.visits_days)
    sel &= days_after <= trial.spec.follow_up_days
    d, v = days_after[sel], vas[sel]
    hit = np.flatnonzero(rec.holds(v, vas_entry) & (d > 0))
    if hit.size:
        return float(d[hit[0]]), True
    return float(d.max()) if d.size else 0.0, False


def _outcome(trial: Trial, frame: pd.DataFrame, entry: int) -> dict[str, Any]:
    days_after = frame["day"].to_numpy() - entry
    vas = frame["pain_vas"].to_numpy(dtype=float)
    at_entry = np.flatnonzero(days_after == 0)
    vas_entry = float(vas[at_entry[0]]) if at_entry.size else math.nan
    t, event = _recovery(trial, vas, days_after, vas_entry)
    out: dict[str, Any] = {"vas_entry": vas_entry, "recovery_days": t, "recovered": event}
    sday = float(frame["surgery_day"].iloc[0])
    out["surgery"] = bool(math.isfinite(sday))
    out["surgery_day_after_entry"] = sday - entry if math.isfinite(sday) else math.nan
    resp = trial.spec.responder
    at = np.flatnonzero(days_after == resp.visit_day)
    out["responder"] = bool(resp.holds(vas[at[:1]], vas_entry)[0]) if at.size else False
    for name, window in trial.spec.windows.items():
        out[f"vas_{name}"] = _window_mean(vas, days_after, window)
    mri = min(365, trial.spec.follow_up_days)
    at = np.flatnonzero(days_after == mri)
    for col in ("volume_fraction", "herniation_volume_mm3"):
        out[f"{col}_mri"] = float(frame[col].iloc[at[0]]) if at.size else math.nan
    return out


def _failed_outcome(trial: Trial) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(["vas_entry", "recovery_days", "surgery_day_after_entry"], math.nan)
    out.update(recovered=False, surgery=False, responder=False)
    for name, _ in trial.spec.windows.items():
        out[f"vas_{name}"] = math.nan
    out["volume_fraction_mri"] = out["herniation_volume_mm3_mri"] = math.nan
    return out


def run_trial(
    trial: Trial,
    out: str | Path,
    screening: pd.DataFrame,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    retries: int = 2,
    progress: Callable[[Outcome, int, int], None] | None = None,
) -> TrialResult:
    """Simulate every arm for every enrolled patient into ``out`` and write the tables (module docstring).

    Resumable: parts whose patient, arm and scenario are unchanged are reused, so a rerun after an interruption
    computes only what is missing and gives identical tables.
    """
    from .trial_stats import trial_effects

    t0 = time.perf_counter()
    out = Path(out)
    parts = out / PARTS
    enrolled = enrolment(trial, screening)
    post = trial.posterior
    post_meta = {"posterior": {"file": str(post.path), "sha256": post.sha256, "n_draws": post.n_draws}} if post else {}
    write_parquet(
        screening,
        out / SCREENING,
        {"kind": "trial-screening", "fingerprint": _screening_fingerprint(trial), **post_meta},
    )

    plan: list[tuple[str, int, int, int, VirtualPatient]] = []  # key, patient, arm index, entry, patient draw
    tasks = []
    for k in enrolled:  # patient-major: the arms of one patient finish together
        vp, entry = patient_draw(trial, k)
        for i, arm in enumerate(trial.spec.arm):
            scen = arm_scenario(trial, vp, entry, i)
            ids = {"patient": k, "seed": vp.seed, "arm": arm.name, "entry_day": entry}
            key = run_key(arm.name, k)
            tasks.append(Task(key, RunSpec.of(scen, ids), fingerprint(scen, ids, PART_FORMAT)))
            plan.append((key, k, i, entry, vp))
    prov = provenance()
    report = run_tasks(
        tasks,
        simulate_treated,
        parts,
        workers=workers,
        scheduler=scheduler,
        client=client,
        retries=retries,
        progress=progress,
        metadata={"kind": "trial-part", "git_revision": prov["git_revision"]},
    )

    # consolidate, one part in memory at a time
    base = screening.set_index("patient")
    patient_cols = [c for c in screening.columns if c not in ("status", "error", "eligible", "enrolled", "reason")]
    visits = [0, *trial.spec.visits_days]
    visit_rows: list[pd.DataFrame] = []
    outcome_rows: list[dict[str, Any]] = []
    failed = []
    for key, k, i, entry, vp in plan:
        arm = trial.spec.arm[i].name
        row: dict[str, Any] = {c: base.at[k, c] for c in patient_cols if c != "patient"}
        row = {"patient": k, "arm": arm, **row}
        path = part_path(parts, key)
        if path.is_file():
            frame = pq.read_table(path).to_pandas()
            row.update(status="ok", error="")
            row.update(_outcome(trial, frame, entry))
            sel = frame[(frame["day"] - entry).isin(visits)].copy()
            sel.insert(4, "visit_day", (sel["day"] - entry).astype("int64"))
            visit_rows.append(sel.drop(columns=["surgery_day"]))
        else:
            err = read_error(parts, key)
            message = err["error"] if err else "no result"
            row.update(status="failed", error=message)
            row.update(_failed_outcome(trial))
            failed.append({"patient": k, "arm": arm, "error": message})
        outcome_rows.append(row)
    outcomes = pd.DataFrame.from_records(outcome_rows)
    for col in ("patient", "seed", "entry_day", *(("posterior_draw",) if post is not None else ())):
        outcomes[col] = outcomes[col].astype("int64")
    arms_df = pd.concat(visit_rows, ignore_index=True) if visit_rows else pd.DataFrame()
    meta = {"kind": "trial", "name": trial.spec.name, "reference": trial.reference, "arms": trial.arm_names}
    meta.update(post_meta)
    write_parquet(arms_df, out / ARMS, meta)
    write_parquet(outcomes, out / OUTCOMES, meta)
    effects = trial_effects(outcomes, arms_df, trial.spec, trial.reference)
    write_parquet(effects, out / EFFECTS, meta)

    from .trial_stats import published_beside_simulated

    wall = time.perf_counter() - t0
    spec = trial.spec
    surgery = outcomes[outcomes["status"] == "ok"].groupby("arm")["surgery"].mean()
    manifest = {
        "kind": "trial",
        "name": spec.name,
        "source": trial.source,
        "trial": spec.model_dump(mode="json"),
        "population_path": str(trial.population_path),
        "population_scenario": trial.population.model_dump(mode="json"),
        "arms": trial.arm_names,
        "reference": trial.reference,
        "arm_treatments_at_entry_day": {
            a.name: {"entry_day": trial.window[0], "treatment": trial.arm_treatments(a, trial.window[0])}
            for a in spec.arm
        },
        "root_seed": trial.root_seed,
        "seed_derivation": "patient k: SeedSequence(root_seed, spawn_key=(k,)) as in a cohort (child 0 random "
        f"effects, child 1 simulation seed, the same in every arm); entry day from SeedSequence(root_seed, "
        f"spawn_key=(k, {ENTRY_STREAM})), uniform whole day in entry.window_days",
        "posterior": post.provenance() if post is not None else None,
        **({"posterior_draws": {int(k): trial.posterior_draw(k) for k in enrolled}} if post is not None else {}),
        "intervals": INTERVALS_WITH_POSTERIOR if post is not None else INTERVALS_WITHOUT_POSTERIOR,
        "n_screened": int(len(screening)),
        "n_eligible": int(screening["eligible"].sum()),
        "n_enrolled": len(enrolled),
        "enrolled": enrolled,
        "seeds": {int(k): int(base.at[k, "seed"]) for k in enrolled},
        "entry_days": {int(k): int(base.at[k, "entry_day"]) for k in enrolled},
        "n_runs": len(tasks),
        **report.manifest_fields(failed, retries, wall),
        "surgery_fraction": {a: float(surgery.get(a, math.nan)) for a in trial.arm_names},
        "recovery_definition": spec.recovery.describe() + f" (assessed {spec.recovery.assessed})",
        "responder_definition": spec.responder.describe() + f" at day {spec.responder.visit_day} after entry",
        "mri_day_after_entry": min(365, spec.follow_up_days),
        "published_vs_simulated": published_beside_simulated(spec, effects, trial.reference),
        "files": {
            "screening": SCREENING,
            "arms": ARMS,
            "outcomes": OUTCOMES,
            "effects": EFFECTS,
            "parts": PARTS + "/",
        },
        **prov,
    }
    write_json(manifest, out / MANIFEST)
    return TrialResult(out, len(enrolled), len(tasks), len(failed), report.count("cached"), wall, manifest)
