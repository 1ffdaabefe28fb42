"""Resource limits checked at the boundary, before any work starts.

Every refusal names the limit that was hit, the estimate that hit it, and how to change either. A limit can be
raised for one command with an environment variable (``DISCSIM_MAX_...``), for users who know their machine.

| limit | default | variable |
|---|---|---|
| size of a scenario, parameter-set or sweep file | 1 MiB | ``DISCSIM_MAX_INPUT_BYTES`` |
| nesting depth of tables and arrays in such a file | 32 | (fixed) |
| design points of a sweep | 100,000 | ``DISCSIM_MAX_DESIGN_POINTS`` |
| runs of a sweep or patients of a cohort | 1,000,000 | ``DISCSIM_MAX_RUNS`` |
| time steps of one run | 10,000,000 | ``DISCSIM_MAX_STEPS`` |
| voxel updates of one run (steps × voxels) | 2·10¹⁰ | ``DISCSIM_MAX_VOXEL_STEPS`` |
| memory of one run (state, snapshots, daily table) | 4 GiB | ``DISCSIM_MAX_RUN_BYTES`` |
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .scenario import Scenario

__all__ = ["LimitError", "limit", "check_run_budget", "run_estimate", "MAX_NESTING"]

MAX_NESTING = 32

_DEFAULTS = {
    "DISCSIM_MAX_INPUT_BYTES": 1 << 20,
    "DISCSIM_MAX_DESIGN_POINTS": 100_000,
    "DISCSIM_MAX_RUNS": 1_000_000,
    "DISCSIM_MAX_STEPS": 10_000_000,
    "DISCSIM_MAX_VOXEL_STEPS": 2e10,
    "DISCSIM_MAX_RUN_BYTES": 4 << 30,
}

# bytes per voxel of a run's state: 8 fields × (value, source, solver scratch) in float64, NP material and
# its onset copy, masks and agent counts
_BYTES_PER_VOXEL = 8 * 3 * 8 + 2 * 8 + 8 + 3 * 8
# per snapshot: 8 fields and the material (float64), 3 phenotype counts (int32)
_SNAPSHOT_BYTES_PER_VOXEL = 9 * 8 + 3 * 4
# one row of the daily table: ~30 float64 columns, with pandas/DataCollector overhead
_ROW_BYTES = 30 * 8 * 4


class LimitError(ValueError):
    """A request exceeds a resource limit; the message says which, by how much, and how to change it."""


def limit(name: str) -> float:
    """The limit ``name`` (``DISCSIM_MAX_...``), from the environment when set to a positive number."""
    raw = os.environ.get(name)
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value > 0:
            return value
        raise LimitError(f"environment variable {name}={raw!r}: expected a positive number")
    return _DEFAULTS[name]


def run_estimate(scenario: Scenario, days: float | None = None) -> dict[str, float]:
    """Steps, voxels, voxel updates and memory (bytes) of one run of ``scenario``."""
    sim, geo = scenario.simulation, scenario.geometry
    days = sim.days if days is None else days
    nx = math.ceil(geo.width_mm * 1000.0 / geo.dx_um)
    ny = math.ceil(geo.height_mm * 1000.0 / geo.dx_um)
    voxels = nx * ny
    steps = days * 24.0 / sim.dt_hours
    n_snap = 1 + (math.floor(days / sim.snapshot_every_days) if sim.snapshot_every_days > 0 else -1)
    memory = voxels * _BYTES_PER_VOXEL + max(n_snap, 0) * voxels * _SNAPSHOT_BYTES_PER_VOXEL + (days + 1) * _ROW_BYTES
    return {"steps": steps, "voxels": float(voxels), "voxel_steps": steps * voxels, "bytes": float(memory)}


def check_run_budget(scenario: Scenario, days: float | None = None, *, what: str = "a run") -> dict[str, float]:
    """Refuse a run whose step count, work or memory would be absurd; returns the estimate."""
    est = run_estimate(scenario, days)
    sim, geo = scenario.simulation, scenario.geometry
    shape = (
        f"{math.ceil(geo.width_mm * 1000 / geo.dx_um)}×{math.ceil(geo.height_mm * 1000 / geo.dx_um)} voxels "
        f"at dx {geo.dx_um:g} µm"
    )
    checks = [
        (
            "DISCSIM_MAX_STEPS",
            est["steps"],
            f"{est['steps']:.3g} time steps ({days or sim.days:g} days at dt {sim.dt_hours:g} h)",
            "raise simulation.dt_hours or lower the simulated days",
        ),
        (
            "DISCSIM_MAX_VOXEL_STEPS",
            est["voxel_steps"],
            f"{est['voxel_steps']:.3g} voxel updates ({est['steps']:.3g} steps × {shape})",
            "raise geometry.dx_um or simulation.dt_hours, or lower the days",
        ),
        (
            "DISCSIM_MAX_RUN_BYTES",
            est["bytes"],
            f"about {est['bytes'] / 2**30:.3g} GiB of memory ({shape}"
            f"{', with field snapshots every %g days' % sim.snapshot_every_days if sim.snapshot_every_days else ''})",
            "raise geometry.dx_um or simulation.snapshot_every_days (0 turns snapshots off)",
        ),
    ]
    for name, value, said, how in checks:
        cap = limit(name)
        if value > cap:
            raise LimitError(
                f"{what} would need {said}, above the limit of {cap:.3g}: {how} "
                f"(or raise the limit with the environment variable {name})"
            )
    return est


def check_count(name: str, count: float, what: str, how: str) -> None:
    """Refuse ``count`` items of ``what`` above the limit ``name``."""
    cap = limit(name)
    if count > cap:
        raise LimitError(
            f"{what}: {count:.4g} is above the limit of {cap:.4g}; {how} "
            f"(or raise the limit with the environment variable {name})"
        )
