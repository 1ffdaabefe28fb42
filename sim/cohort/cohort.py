"""Virtual cohorts: draw N patients, simulate each (in parallel), consolidate tidy tables.

Output directory::

    OUT/
      parts/patient-000042.parquet   one per patient (timeseries + patient/seed columns), atomic
      parts/patient-000042.error.json   only for a patient whose simulation failed
      patients.parquet     one row per patient: seed, random effects, tissue sample at sample_day, outcomes
                           (with a posterior: its draw, ``posterior_draw``, and the draw's values by dotted path)
      trajectories.parquet patient, day and every timeseries column
      manifest.json        kind "cohort", resolved scenario, root seed, N, per-patient seeds, versions

Rerunning into the same directory recomputes only missing or stale parts (a part is keyed by the patient's
resolved scenario, which holds its posterior draw's values when the cohort has one).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..io.provenance import provenance
from ..io.store import atomic_file, with_metadata, write_json, write_parquet
from ..model import OBSERVABLES
from ..scenario import Scenario
from ..scenario.schema import Patient
from .draw import VirtualPatient, cohort_days, cohort_root_seed, draw_patient, fingerprint
from .executor import Outcome, Report, Task, part_path, read_error, run_tasks
from .summaries import SAMPLE_CYTOKINES, outcome_columns, run_outcomes, tissue_sample
from .tasks import RunSpec, simulate

if TYPE_CHECKING:
    from .posterior import PosteriorDraws

__all__ = ["CohortResult", "run_cohort", "patient_key", "consolidate_parts", "PATIENTS", "TRAJECTORIES"]

PATIENTS = "patients.parquet"
TRAJECTORIES = "trajectories.parquet"
MANIFEST = "manifest.json"
PARTS = "parts"
#: bump when the content of a part changes meaning, so old parts are recomputed
PART_FORMAT = 1


@dataclass
class CohortResult:
    out: Path
    n_patients: int
    n_ok: int
    n_failed: int
    n_cached: int
    wall_time_s: float
    manifest: dict[str, Any]


def patient_key(k: int) -> str:
    return f"patient-{k:06d}"


def _sample_columns() -> list[str]:
    s = tissue_sample(pd.DataFrame({"day": [0.0], **{c: [0.0] for c in OBSERVABLES if c != "day"}}), 0)
    return list(s) + ["ifng_sample", "il4_sample"]


def patient_row(
    vp: VirtualPatient,
    ts: pd.DataFrame | None,
    status: str,
    error: str | None,
    posterior: tuple[int, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """The patients.parquet row of one patient (NaN samples and outcomes when it failed).

    ``posterior = (draw, values)``: the patient's posterior draw (column ``posterior_draw``, after ``seed``) and
    that draw's values (one column per dotted path, last).
    """
    row: dict[str, Any] = {"patient": vp.index, "seed": vp.seed}
    if posterior is not None:
        row["posterior_draw"] = posterior[0]
    row.update(status=status, error=error or "")
    row.update(vp.effects)
    if ts is not None:
        row.update(tissue_sample(ts, vp.effects["sample_day"]))
        row["ifng_sample"] = float(vp.effects["ifng_pg_ml"])
        row["il4_sample"] = float(vp.effects["il4_pg_ml"])
        row.update(run_outcomes(ts))
    else:
        row.update(dict.fromkeys(_sample_columns(), math.nan))
        row.update(dict.fromkeys(outcome_columns(), math.nan))
    if row.get("rim_exposure") is None:
        row["rim_exposure"] = math.nan
    if posterior is not None:
        row.update(posterior[1])
    return row


def _patients_frame(rows: list[dict[str, Any]], posterior_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows)
    for col in ("patient", "seed", "sample_day", "posterior_draw"):
        if col in df:
            df[col] = df[col].astype("int64")
    for col in posterior_columns:
        df[col] = df[col].astype("float64")
    df["breach"] = df["breach"].astype(bool)
    for name, info in Patient.model_fields.items():
        if name != "herniation_type" and name in df:
            df[name] = df[name].astype("float64")
    return df


def consolidate_parts(
    parts_dir: Path,
    keys: list[str],
    out_file: Path,
    metadata: dict[str, Any] | None = None,
    on_part: Callable[[str, pd.DataFrame], None] | None = None,
) -> int:
    """Append the existing parts of ``keys`` (in that order) into one Parquet file, one part in memory at a time.

    ``on_part(key, frame)`` sees each part as a DataFrame (to derive summary rows). Returns rows written.
    """
    writer = None
    schema = None
    n = 0
    with atomic_file(out_file) as tmp:
        try:
            for key in keys:
                path = part_path(parts_dir, key)
                if not path.is_file():
                    continue
                table = pq.read_table(path).replace_schema_metadata(None)
                if on_part is not None:
                    on_part(key, table.to_pandas())
                if writer is None:
                    schema = table.schema if metadata is None else with_metadata(table.schema, metadata)
                    writer = pq.ParquetWriter(tmp, schema)
                writer.write_table(table.cast(schema))
                n += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # no part at all: an empty file with no columns
            pq.write_table(pa.table({}), tmp)
    return n


def run_cohort(
    scenario: Scenario,
    out: str | Path,
    *,
    patients: int | None = None,
    days: float | None = None,
    root_seed: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    retries: int = 2,
    progress: Callable[[Outcome, int, int], None] | None = None,
    source: str | None = None,
    posterior: PosteriorDraws | None = None,
) -> CohortResult:
    """Simulate a virtual cohort into ``out`` (see the module docstring for the layout).

    Parameters
    ----------
    scenario : Scenario
        With an optional ``[cohort]`` section (without one, patients differ only by their seed).
    patients : int, optional
        N (default ``cohort.patients``).
    days, root_seed : optional
        Override ``cohort.days`` / ``cohort.seed``.
    workers, scheduler, client, retries, progress
        See :func:`sim.cohort.executor.run_tasks`.
    posterior : PosteriorDraws, optional
        Parameter uncertainty: patient k is simulated under its own posterior draw
        (:func:`sim.cohort.posterior.draw_posterior_patient`); checked against ``scenario`` first
        (:class:`sim.cohort.posterior.PosteriorError`, before anything is written).
    """
    t0 = time.perf_counter()
    out = Path(out)
    spec = scenario.cohort
    n = int(patients if patients is not None else (spec.patients if spec is not None else 100))
    if n < 1:
        raise ValueError(f"patients must be ≥ 1, got {n}")
    root = int(root_seed) if root_seed is not None else cohort_root_seed(scenario)
    days = float(days) if days is not None else cohort_days(scenario)
    parts = out / PARTS

    chosen: list[int] | None = None
    if posterior is None:
        plan = [draw_patient(scenario, k, root=root, days=days) for k in range(n)]
    else:
        from .posterior import draw_posterior_patient

        posterior.check(scenario)
        cache: dict[int, Scenario] = {}
        drawn = [draw_posterior_patient(scenario, posterior, k, root=root, days=days, cache=cache) for k in range(n)]
        plan = [vp for vp, _ in drawn]
        chosen = [d for _, d in drawn]
        del cache
    tasks = [
        Task(
            patient_key(vp.index),
            RunSpec.of(vp.scenario, {"patient": vp.index, "seed": vp.seed}),
            fingerprint(vp.scenario, PART_FORMAT),
        )
        for vp in plan
    ]
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
        metadata={"kind": "cohort-part", "git_revision": prov["git_revision"]},
    )

    # consolidate: stream the parts into trajectories.parquet, derive one patients row from each
    by_key = {patient_key(vp.index): vp for vp in plan}
    draw_of = {} if chosen is None else {patient_key(vp.index): d for vp, d in zip(plan, chosen, strict=True)}

    def posterior_of(key: str) -> tuple[int, dict[str, float]] | None:
        return None if posterior is None else (draw_of[key], posterior.values_of(draw_of[key]))

    rows: dict[str, dict[str, Any]] = {}

    def on_part(key: str, frame: pd.DataFrame) -> None:
        ts = frame.drop(columns=["patient", "seed"])
        rows[key] = patient_row(by_key[key], ts, "ok", None, posterior_of(key))

    meta = {"kind": "cohort", "scenario": scenario.name, "root_seed": root, "n_patients": n, "days": days}
    if posterior is not None:
        meta["posterior"] = {"file": str(posterior.path), "sha256": posterior.sha256, "n_draws": posterior.n_draws}
    keys = [t.key for t in tasks]
    consolidate_parts(parts, keys, out / TRAJECTORIES, meta, on_part)
    failed = []
    for key in keys:
        if key not in rows:
            err = read_error(parts, key)
            message = err["error"] if err else "no result"
            rows[key] = patient_row(by_key[key], None, "failed", message, posterior_of(key))
            failed.append({"patient": by_key[key].index, "error": message})
    patients_df = _patients_frame([rows[k] for k in keys], posterior.columns if posterior is not None else ())
    write_parquet(patients_df, out / PATIENTS, meta)

    wall = time.perf_counter() - t0
    manifest = {
        "kind": "cohort",
        "name": scenario.name,
        "source": source,
        "scenario": scenario.model_dump(mode="json"),
        "root_seed": root,
        "n_patients": n,
        "days": days,
        "seed_derivation": "patient k: SeedSequence(root_seed, spawn_key=(k,)); child 0 draws the random "
        "effects (one sub-stream per key), child 1 gives the simulation seed",
        "seeds": [vp.seed for vp in plan],
        "posterior": posterior.provenance() if posterior is not None else None,
        **({"posterior_draws": chosen} if chosen is not None else {}),
        "n_ok": int((patients_df["status"] == "ok").sum()),
        **report.manifest_fields(failed, retries, wall),
        "files": {"patients": PATIENTS, "trajectories": TRAJECTORIES, "parts": PARTS + "/"},
        "sample_cytokines": list(SAMPLE_CYTOKINES),
        **prov,
    }
    write_json(manifest, out / MANIFEST)
    return CohortResult(out, n, manifest["n_ok"], len(failed), report.count("cached"), wall, manifest)
