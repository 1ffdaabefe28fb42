"""Per-run outcomes, tissue samples, and per-group statistics (pure functions of timeseries tables)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "SAMPLE_CYTOKINES",
    "PAIN_DAYS",
    "VOLUME_DAYS",
    "tissue_sample",
    "run_outcomes",
    "outcome_columns",
    "group_statistics",
    "STATISTICS",
]

#: Cytokines measured in a tissue sample (mean concentration in the fragment, pg/mL).
SAMPLE_CYTOKINES: tuple[str, ...] = ("tnf", "il1b", "il6", "il8", "il10", "tgfb")
#: Days at which pain is reported (Sciatica Trial-like landmarks: 2, 4, 8, 12 weeks, 6 months, 1 year).
PAIN_DAYS: tuple[int, ...] = (14, 28, 56, 84, 182, 365)
#: Days at which the remaining herniation volume is reported.
VOLUME_DAYS: tuple[int, ...] = (56, 182, 365)
#: Statistics per group in points.parquet.
STATISTICS: tuple[str, ...] = ("mean", "sd", "q05", "q25", "q50", "q75", "q95")


def _at(ts: pd.DataFrame, day: float, col: str) -> float:
    """Value of ``col`` on ``day`` (the row with that day), NaN if not simulated."""
    days = ts["day"].to_numpy()
    i = int(np.searchsorted(days, day - 1e-9))
    if i >= len(days) or abs(days[i] - day) > 1e-6:
        return math.nan
    return float(ts[col].iloc[i])


def tissue_sample(ts: pd.DataFrame, day: int) -> dict[str, float]:
    """What a surgeon's specimen at ``day`` would show: mean fragment cytokines, CD68+ density, pain.

    Columns: ``pain_vas_sample``, ``{c}_sample`` (pg/mL, mean over the fragment) for c in
    :data:`SAMPLE_CYTOKINES`, ``cd68_per_cm2_sample``, ``m1_fraction_sample``, ``volume_fraction_sample``.
    """
    out = {"pain_vas_sample": _at(ts, day, "pain_vas")}
    for c in SAMPLE_CYTOKINES:
        out[f"{c}_sample"] = _at(ts, day, f"{c}_fragment_pg_ml")
    out["cd68_per_cm2_sample"] = _at(ts, day, "cd68_per_cm2")
    out["m1_fraction_sample"] = _at(ts, day, "m1_fraction")
    out["volume_fraction_sample"] = _at(ts, day, "volume_fraction")
    return out


def outcome_columns() -> list[str]:
    return (
        [f"pain_vas_d{d}" for d in PAIN_DAYS]
        + [f"volume_fraction_d{d}" for d in VOLUME_DAYS]
        + [
            "pain_vas_end",
            "volume_fraction_end",
            "last_day",
            "peak_m1",
            "day_peak_m1",
            "peak_m2",
            "day_peak_m2",
            "peak_cd68_per_cm2",
            "peak_pain_vas",
        ]
    )


def run_outcomes(ts: pd.DataFrame) -> dict[str, float]:
    """Outcomes of one run used in summaries and calibration (NaN for days not simulated).

    ``pain_vas_d{d}``, ``volume_fraction_d{d}`` at landmark days; values at the last day; peak M1 and M2
    cell counts and their days; peak CD68+ density and peak pain.
    """
    out: dict[str, float] = {}
    for d in PAIN_DAYS:
        out[f"pain_vas_d{d}"] = _at(ts, d, "pain_vas")
    for d in VOLUME_DAYS:
        out[f"volume_fraction_d{d}"] = _at(ts, d, "volume_fraction")
    last = ts.iloc[-1]
    out["pain_vas_end"] = float(last["pain_vas"])
    out["volume_fraction_end"] = float(last["volume_fraction"])
    out["last_day"] = float(last["day"])
    for ph in ("m1", "m2"):
        col = ts[f"n_{ph}"].to_numpy()
        i = int(np.argmax(col))
        out[f"peak_{ph}"] = float(col[i])
        out[f"day_peak_{ph}"] = float(ts["day"].iloc[i])
    out["peak_cd68_per_cm2"] = float(ts["cd68_per_cm2"].max())
    out["peak_pain_vas"] = float(ts["pain_vas"].max())
    return out


def _stats(values: np.ndarray) -> dict[str, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return dict.fromkeys(STATISTICS, math.nan)
    q = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if v.size > 1 else math.nan,
        "q05": q[0],
        "q25": q[1],
        "q50": q[2],
        "q75": q[3],
        "q95": q[4],
    }


def group_statistics(
    rows: pd.DataFrame, by: Sequence[str], values: Sequence[str], status_col: str = "status"
) -> pd.DataFrame:
    """One row per group: ``n_runs``, ``n_ok``, and ``{value}_{stat}`` for every statistic."""
    records: list[dict[str, Any]] = []
    for key, g in rows.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        ok = g[g[status_col] == "ok"] if status_col in g else g
        rec: dict[str, Any] = dict(zip(by, key))
        rec["n_runs"] = int(len(g))
        rec["n_ok"] = int(len(ok))
        for v in values:
            for stat, x in _stats(ok[v].to_numpy(dtype=float)).items():
                rec[f"{v}_{stat}"] = x
        records.append(rec)
    return pd.DataFrame.from_records(records)
