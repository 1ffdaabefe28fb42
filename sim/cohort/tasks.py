"""The worker-side unit of a cohort or sweep: simulate one scenario, return its tidy timeseries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..scenario import Scenario

__all__ = ["RunSpec", "simulate", "simulate_treated"]


@dataclass(frozen=True)
class RunSpec:
    """One simulation: a resolved scenario (its ``simulation.seed`` is the seed) and identifying columns.

    The scenario travels as JSON (re-validated in the worker): small, version-proof, and independent
    of whether the schema classes pickle.
    """

    scenario_json: str
    ids: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, scenario: Scenario, ids: dict[str, Any]) -> RunSpec:
        return cls(scenario.model_dump_json(), dict(ids))


def simulate(spec: RunSpec) -> pd.DataFrame:
    """Run :func:`sim.run.run_one` without snapshots; the ``ids`` become leading constant columns."""
    from ..run import run_one

    scenario = Scenario.model_validate_json(spec.scenario_json)
    ts = run_one(scenario, snapshots=False).timeseries
    ids = pd.DataFrame({k: pd.Series([v] * len(ts)) for k, v in spec.ids.items()})
    return pd.concat([ids, ts.reset_index(drop=True)], axis=1)


def simulate_treated(spec: RunSpec) -> pd.DataFrame:
    """:func:`simulate` plus a constant ``surgery_day`` column (day of the discectomy after onset, NaN if none)."""
    from ..run import run_one

    scenario = Scenario.model_validate_json(spec.scenario_json)
    result = run_one(scenario, snapshots=False)
    ts = result.timeseries.reset_index(drop=True)
    ids = pd.DataFrame({k: pd.Series([v] * len(ts)) for k, v in spec.ids.items()})
    out = pd.concat([ids, ts], axis=1)
    out["surgery_day"] = float("nan") if result.surgery_day is None else float(result.surgery_day)
    return out
