"""Synthetic cohorts with known answers for the calibration statistics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

TYPES = ["bulging", "protrusion", "subligamentous_extrusion", "transligamentous_extrusion", "sequestration"]


def synthetic_cohort(n: int = 40, days: int = 400, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patients whose readouts have known relations with pain, and trajectories with known courses.

    * tnf_sample = VAS³ (monotone: ρ = +1); il10_sample = −VAS (ρ = −1); il1b_sample independent noise.
    * volume_fraction(day) = exp(−k·day) with k chosen so the 1-year reduction is known per patient.
    * pain_vas(day) = 10 + 45·exp(−(day − entry)/(7·8)) after entry (τ = 8 weeks, plateau 10), 55 before.
    * n_m1 peaks at day 7, n_m2 at day 14, n_m0 (and the total) at day 10 (triangular peaks).
    """
    rng = np.random.default_rng(seed)
    vas = rng.uniform(20, 80, n)
    htype = [TYPES[i % len(TYPES)] for i in range(n)]
    reduction_1y = np.linspace(0.0, 0.99, n)  # known: regression iff ≥ 0.30, resolution iff ≥ 0.90
    entry = np.full(n, 56)
    patients = pd.DataFrame(
        {
            "patient": np.arange(n),
            "seed": np.arange(n) + 100,
            "herniation_type": htype,
            "sample_day": entry,
            "pain_vas_sample": vas,
            "tnf_sample": vas**3,
            "il10_sample": -vas,
            "il1b_sample": rng.normal(size=n),
            "il6_sample": vas + rng.normal(0, 1, n),
            "il8_sample": vas,
            "tgfb_sample": rng.normal(size=n),
            "ifng": rng.normal(size=n),
            "il4": rng.normal(size=n),
            "cd68_per_cm2_sample": np.tile([5.0, 50.0, 500.0, 9.99], n // 4 + 1)[:n],
            "m1_fraction_sample": 0.5,
            "status": "ok",
        }
    )
    day = np.arange(days + 1)
    rows = []
    for i in range(n):
        k = -np.log(max(1.0 - reduction_1y[i], 1e-6)) / 365.0
        vf = np.exp(-k * day)
        t_w = (day - entry[i]) / 7.0
        pain = np.where(t_w >= 0, 10.0 + 45.0 * np.exp(-np.clip(t_w, 0, None) / 8.0), 55.0)
        m1 = np.clip(10 - np.abs(day - 7), 0, None).astype(int)
        m2 = np.clip(10 - np.abs(day - 14), 0, None).astype(int)
        n_m0 = np.clip(50 - 5 * np.abs(day - 10), 0, None).astype(int)
        rows.append(
            pd.DataFrame(
                {
                    "patient": i,
                    "day": day.astype(float),
                    "pain_vas": pain,
                    "volume_fraction": vf,
                    "n_m0": n_m0,
                    "n_m1": m1,
                    "n_m2": m2,
                }
            )
        )
    return patients, pd.concat(rows, ignore_index=True)


def write_cohort_dir(path: Path, patients: pd.DataFrame, trajectories: pd.DataFrame, kind: str = "cohort") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    patients.to_parquet(path / "patients.parquet")
    trajectories.to_parquet(path / "trajectories.parquet")
    (path / "manifest.json").write_text(json.dumps({"kind": kind}))
    return path
