"""The one place where calibration meets the cohort runner (``sim/cohort``, issue 4).

Sensitivity analysis and ABC need "simulate K virtual patients of this scenario with these parameter
overrides and give me ``patients`` / ``trajectories`` tables". This module does exactly that, using the cohort
runner's patient draw (:func:`sim.cohort.draw.draw_cohort`), its tissue-sample definition
(:func:`sim.cohort.summaries.tissue_sample`) and its executor (:func:`sim.cohort.executor.run_tasks`:
process pool, Dask, resumable parts). When those are not importable (an older checkout), a documented stand-in
is used: patients differ only by seed, the scenario's ``[patient]`` values are used, the sample is taken on
day 63 (9 weeks, the middle of the Sciatica Trial's 6-12 week entry window), and tasks run serially or in a
``concurrent.futures`` pool.
"""

from __future__ import annotations

import math
import multiprocessing
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..scenario import Scenario, with_overrides

__all__ = ["PatientRun", "draw_patients", "simulate_patient", "run_patients", "simulate_cohort", "STAND_IN_SAMPLE_DAY"]

STAND_IN_SAMPLE_DAY = 63
_SAMPLE_CYTOKINES = ("tnf", "il1b", "il6", "il8", "il10", "tgfb")


@dataclass(frozen=True)
class PatientRun:
    """One virtual patient to simulate: key, resolved scenario and the patient-table columns it contributes."""

    key: str
    scenario: Scenario
    info: dict[str, Any]


def draw_patients(scenario: Scenario, n: int, *, seed: int, days: float) -> list[PatientRun]:
    """Patients ``0 .. n-1`` of the cohort described by ``scenario`` (common to every design point / particle)."""
    try:
        from ..cohort.draw import draw_cohort
    except ImportError:
        draw_cohort = None
    runs = []
    if draw_cohort is not None and hasattr(scenario, "cohort"):
        for vp in draw_cohort(scenario, n, root=seed, days=days):
            eff = vp.effects
            info = {"patient": vp.index, "seed": vp.seed, **eff,
                    "ifng": eff.get("ifng_pg_ml", math.nan), "il4": eff.get("il4_pg_ml", math.nan)}
            runs.append(PatientRun(f"patient-{vp.index:06d}", vp.scenario, info))
        return runs
    warnings.warn("sim.cohort not available: using the calibration stand-in cohort (patients differ by seed only)",
                  stacklevel=2)
    seeds = np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)
    for k in range(n):
        s = int(seeds[k])
        scen = scenario.model_copy(update={"simulation": scenario.simulation.model_copy(update={"seed": s, "days": days})})
        pat = scen.patient
        info = {"patient": k, "seed": s, "herniation_type": pat.herniation_type.value,
                "sample_day": min(STAND_IN_SAMPLE_DAY, int(days)), "ifng": pat.ifng_pg_ml, "il4": pat.il4_pg_ml}
        runs.append(PatientRun(f"patient-{k:06d}", scen, info))
    return runs


def simulate_patient(payload: tuple[dict[str, Any], dict[str, Any]]) -> pd.DataFrame:
    """Worker function: run one patient (no snapshots); ``ids`` become leading constant columns.

    The scenario travels as its JSON dump (the schema's generated classes do not pickle) and is re-validated.
    """
    from ..run import run_one

    data, ids = payload
    ts = run_one(Scenario.model_validate(data), snapshots=False).timeseries.reset_index(drop=True)
    for i, (k, v) in enumerate(ids.items()):
        ts.insert(i, k, v)
    return ts


def _tissue_sample(ts: pd.DataFrame, day: int) -> dict[str, float]:
    try:
        from ..cohort.summaries import tissue_sample
    except ImportError:
        tissue_sample = None
    if tissue_sample is not None:
        return tissue_sample(ts, day)
    row = ts[np.isclose(ts["day"].to_numpy(float), day)]
    if row.empty:
        return {"pain_vas_sample": math.nan}
    r = row.iloc[0]
    out = {"pain_vas_sample": float(r["pain_vas"])}
    out |= {f"{c}_sample": float(r[f"{c}_fragment_pg_ml"]) for c in _SAMPLE_CYTOKINES}
    out |= {"cd68_per_cm2_sample": float(r["cd68_per_cm2"]), "m1_fraction_sample": float(r["m1_fraction"])}
    return out


def run_patients(
    jobs: Sequence[tuple[str, Scenario, dict[str, Any]]],
    *,
    workers: int = 0,
    client: Any = None,
    out_dir: str | Path | None = None,
    progress: Any = None,
    reduce: Any = None,
) -> dict[str, Any]:
    """Simulate ``(key, scenario, ids)`` jobs; ``{key: timeseries}`` (None for a failed job).

    Uses the cohort executor (resumable parts in ``out_dir`` when given) or, without it, a spawn-context
    process pool (``workers > 1``) or a serial loop. ``reduce(timeseries)``, when given, is applied to each
    result as it is read back (keeps memory flat for large designs whose parts are on disk).
    """
    reduce = reduce or (lambda ts: ts)
    try:
        from ..cohort.executor import Task, run_tasks
    except ImportError:
        run_tasks = None
    if run_tasks is not None:
        from ..cohort.draw import fingerprint

        tasks = [Task(key, (scen.model_dump(mode="json"), ids), fingerprint(scen, sorted(ids.items()))) for key, scen, ids in jobs]
        report = run_tasks(tasks, simulate_patient, out_dir, workers=workers, client=client,
                           progress=progress, retries=1)
        out: dict[str, Any] = {}
        for key, _, _ in jobs:
            if report.outcomes[key].status == "failed":
                out[key] = None
            elif out_dir is None:
                out[key] = reduce(report.results[key])
            else:
                out[key] = reduce(pd.read_parquet(Path(out_dir) / f"{key}.parquet"))
        return out
    # stand-in executor (no resume)
    payloads = [(scen.model_dump(mode="json"), ids) for _, scen, ids in jobs]
    results: list[pd.DataFrame | None]
    if workers and workers > 1 and client is None:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futs = [pool.submit(simulate_patient, p) for p in payloads]
            results = []
            for f in futs:
                try:
                    results.append(f.result())
                except Exception:  # noqa: BLE001 - a failed patient is recorded, not fatal
                    results.append(None)
    else:
        results = []
        for p in payloads:
            try:
                results.append(simulate_patient(p))
            except Exception:  # noqa: BLE001
                results.append(None)
    return {key: (None if r is None else reduce(r)) for (key, _, _), r in zip(jobs, results, strict=True)}


def simulate_cohort(
    scenario: Scenario,
    n_patients: int,
    *,
    days: float,
    seed: int,
    overrides: Mapping[str, Any] | None = None,
    workers: int = 0,
    client: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a small virtual cohort in memory; ``(patients, trajectories)`` with the documented columns.

    ``overrides`` (dotted paths, e.g. ``{"parameters.pain.tnf_weight": 1.2}``) are applied to every patient
    after the draw, so the same ``seed`` gives the same patients at every parameter point (common random
    numbers). Failed patients get ``status = "failed"`` and no trajectory.
    """
    runs = draw_patients(scenario, n_patients, seed=seed, days=days)
    jobs = []
    for r in runs:
        scen = with_overrides(r.scenario, overrides) if overrides else r.scenario
        jobs.append((r.key, scen, {"patient": r.info["patient"]}))
    results = run_patients(jobs, workers=workers, client=client)
    return assemble(runs, results)


def assemble(runs: Sequence[PatientRun], results: Mapping[str, pd.DataFrame | None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patient and trajectory tables from the draws and the simulated timeseries."""
    rows, trajs = [], []
    for r in runs:
        ts = results.get(r.key)
        row = dict(r.info)
        if ts is None:
            row["status"] = "failed"
        else:
            row |= _tissue_sample(ts, int(row["sample_day"]))
            row["status"] = "ok"
            trajs.append(ts.assign(patient=r.info["patient"]))
        rows.append(row)
    patients = pd.DataFrame(rows)
    trajectories = pd.concat(trajs, ignore_index=True) if trajs else pd.DataFrame(
        columns=["patient", "day", "pain_vas", "volume_fraction", "n_m0", "n_m1", "n_m2"])
    return patients, trajectories
