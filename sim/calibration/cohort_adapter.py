"""The one place where calibration meets the cohort runner (``sim/cohort``).

Sensitivity analysis and ABC need "simulate K virtual patients of this scenario with these parameter
overrides and give me ``patients`` / ``trajectories`` tables". This module does exactly that with the cohort
runner's own pieces: its patient draw (:func:`sim.cohort.draw.draw_cohort`), its tissue-sample definition
(:func:`sim.cohort.summaries.tissue_sample`) and its executor (:func:`sim.cohort.executor.run_tasks`: process
pool, Dask, resumable parts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..cohort.draw import draw_cohort, fingerprint
from ..cohort.executor import Task, run_tasks
from ..cohort.summaries import tissue_sample
from ..scenario import Scenario, with_overrides

__all__ = ["PatientRun", "draw_patients", "simulate_patient", "run_patients", "simulate_cohort", "assemble"]


@dataclass(frozen=True)
class PatientRun:
    """One virtual patient to simulate: key, resolved scenario and the patient-table columns it contributes."""

    key: str
    scenario: Scenario
    info: dict[str, Any]


def draw_patients(scenario: Scenario, n: int, *, seed: int, days: float) -> list[PatientRun]:
    """Patients ``0 .. n-1`` of the cohort described by ``scenario`` (common to every design point / particle)."""
    runs = []
    for vp in draw_cohort(scenario, n, root=seed, days=days):
        eff = vp.effects
        info = {
            "patient": vp.index,
            "seed": vp.seed,
            **eff,
            "ifng": eff.get("ifng_pg_ml", math.nan),
            "il4": eff.get("il4_pg_ml", math.nan),
        }
        runs.append(PatientRun(f"patient-{vp.index:06d}", vp.scenario, info))
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

    Runs on the cohort executor (resumable parts in ``out_dir`` when given). ``reduce(timeseries)``, when given, is applied to each
    result as it is read back (keeps memory flat for large designs whose parts are on disk).
    """
    reduce = reduce or (lambda ts: ts)
    tasks = [
        Task(key, (scen.model_dump(mode="json"), ids), fingerprint(scen, sorted(ids.items())))
        for key, scen, ids in jobs
    ]
    report = run_tasks(tasks, simulate_patient, out_dir, workers=workers, client=client, progress=progress, retries=1)
    out: dict[str, Any] = {}
    for key, _, _ in jobs:
        if report.outcomes[key].status == "failed":
            out[key] = None
        elif out_dir is None:
            out[key] = reduce(report.results[key])
        else:
            out[key] = reduce(pd.read_parquet(Path(out_dir) / f"{key}.parquet"))
    return out


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


def assemble(
    runs: Sequence[PatientRun], results: Mapping[str, pd.DataFrame | None]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patient and trajectory tables from the draws and the simulated timeseries."""
    rows, trajs = [], []
    for r in runs:
        ts = results.get(r.key)
        row = dict(r.info)
        if ts is None:
            row["status"] = "failed"
        else:
            row |= tissue_sample(ts, int(row["sample_day"]))
            row["status"] = "ok"
            trajs.append(ts.assign(patient=r.info["patient"]))
        rows.append(row)
    patients = pd.DataFrame(rows)
    trajectories = (
        pd.concat(trajs, ignore_index=True)
        if trajs
        else pd.DataFrame(columns=["patient", "day", "pain_vas", "volume_fraction", "n_m0", "n_m1", "n_m2"])
    )
    return patients, trajectories
