"""``run_one``: the one pure unit of work. Serial runs, pools, Dask, pyabc and SALib all call it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .model import DiscModel
from .scenario import Scenario

__all__ = ["RunResult", "run_one", "resolve_scenario", "start_model", "run_day", "timeseries_of"]


@dataclass
class RunResult:
    """Everything a run produces, in memory.

    Attributes
    ----------
    scenario : Scenario
        The resolved scenario (``simulation.seed`` and ``simulation.days`` as run).
    seed : int
    timeseries : pandas.DataFrame
        One row per simulated day; columns :data:`sim.model.OBSERVABLES`.
    snapshots : list of (day, dict of arrays)
        Spatial state every ``snapshot_every_days`` (empty when disabled).
    section : dict
        Geometry summary (grid shape, dx, onset area and volume, vessel count).
    wall_time_s : float
    engine_stream : dict
        The engine's random stream: generator, ``SeedSequence`` entropy and spawn key, initial state
        (recorded in the manifest).
    disabled : list of str
        Processes switched off by the scenario's ``[model] disable``.
    surgery_day : float or None
        Day of the discectomy, if a ``[[treatment]]`` discectomy was done.
    """

    scenario: Scenario
    seed: int
    timeseries: pd.DataFrame
    snapshots: list[tuple[float, dict[str, np.ndarray]]] = field(default_factory=list)
    section: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0
    engine_stream: dict[str, Any] = field(default_factory=dict)
    disabled: list[str] = field(default_factory=list)
    surgery_day: float | None = None


def resolve_scenario(scenario: Scenario, seed: int | None = None, days: float | None = None) -> Scenario:
    """``scenario`` as run: ``simulation.seed`` and ``simulation.days`` replaced when given."""
    updates: dict[str, Any] = {}
    if seed is not None:
        updates["seed"] = int(seed)
    if days is not None:
        updates["days"] = float(days)
    if not updates:
        return scenario
    return scenario.model_copy(update={"simulation": scenario.simulation.model_copy(update=updates)})


def start_model(scenario: Scenario) -> DiscModel:
    """The model at onset (day 0) of a resolved scenario; :func:`run_one` and ``discsim view`` both start here."""
    return DiscModel(scenario)


def run_day(model: DiscModel) -> None:
    """Advance ``model`` by one simulated day: one compiled call, then the day's DataCollector row."""
    sim = model.config.simulation
    model.run_days(sim.steps_per_day * sim.dt_hours / 24.0)


def timeseries_of(model: DiscModel) -> pd.DataFrame:
    """The model's daily observations so far, one row per day (the table of timeseries.parquet)."""
    ts = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    for col in ("n_m0", "n_m1", "n_m2", "n_fragment"):
        ts[col] = ts[col].astype("int64")
    return ts


def run_one(
    scenario: Scenario,
    seed: int | None = None,
    *,
    days: float | None = None,
    snapshots: bool = True,
    progress: Callable[[float], None] | None = None,
) -> RunResult:
    """Simulate one patient.

    Parameters
    ----------
    scenario : Scenario
        Validated scenario.
    seed : int, optional
        Overrides ``scenario.simulation.seed``. The same scenario and seed give bit-identical results.
    days : float, optional
        Overrides ``scenario.simulation.days``.
    snapshots : bool
        Collect field snapshots at ``simulation.snapshot_every_days``.
    progress : callable, optional
        Called with the simulated day once per day.
    """
    scenario = resolve_scenario(scenario, seed, days)
    sim = scenario.simulation
    t0 = time.perf_counter()
    model = start_model(scenario)

    every = sim.snapshot_every_days if snapshots else 0.0
    shots: list[tuple[float, dict[str, np.ndarray]]] = []
    if every > 0:
        shots.append((0.0, model.snapshot()))
    n_days = int(math.floor(sim.days + 1e-9))
    next_shot = every
    for day in range(1, n_days + 1):
        run_day(model)
        if every > 0 and day + 1e-9 >= next_shot:
            shots.append((float(day), model.snapshot()))
            next_shot += every
        if progress is not None:
            progress(float(day))

    ts = timeseries_of(model)
    sec = model.section
    section = {
        "shape": list(sec.shape),
        "dx_um": sec.dx_um,
        "area0_mm2": sec.area0_mm2,
        "volume0_mm3": sec.volume0_mm3,
        "n_vessel_sites": int(sec.vessel_index.size),
        "rim_exposure": scenario.rim_exposure(),
        "root_voxels": int(sec.root.sum()),
        "contact_zone_voxels": int(sec.contact_zone.sum()),
    }
    return RunResult(
        scenario,
        sim.seed,
        ts,
        shots,
        section,
        time.perf_counter() - t0,
        engine_stream=dict(model.engine_stream),
        disabled=list(model.disabled),
        surgery_day=model.surgery_day,
    )
