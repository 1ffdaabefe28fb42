"""The on-disk layout of one run.

::

    OUT/
      timeseries.parquet   one row per simulated day (columns: sim.model.OBSERVABLES)
      manifest.json        resolved scenario, seed, versions, git revision, wall time, geometry
      fields.zarr          snapshots: every cytokine field, NP material, macrophages per voxel
      summary.png          pain, herniation volume, M0/M1/M2, fragment cytokines against time
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..model import OBSERVABLES
from ..run import RunResult
from ..scenario.schema import CYTOKINES
from .outdir import claim_out_dir
from .provenance import provenance
from .store import atomic_subdir, write_json, write_parquet

__all__ = ["write_run", "read_run", "manifest_of", "snapshots_dataset"]

TIMESERIES = "timeseries.parquet"
MANIFEST = "manifest.json"
FIELDS = "fields.zarr"


def manifest_of(result: RunResult) -> dict[str, Any]:
    return {
        "kind": "run",
        "scenario": result.scenario.model_dump(mode="json"),
        "seed": result.seed,
        "engine_stream": result.engine_stream,  # the derived random stream (sim.model.rng)
        "wall_time_s": round(result.wall_time_s, 3),
        "section": result.section,
        "columns": OBSERVABLES,
        **provenance(),
    }


def snapshots_dataset(result: RunResult):
    """The snapshots as a labelled ``xarray.Dataset`` (dims day, x, y; units in attrs)."""
    import xarray as xr

    days = [d for d, _ in result.snapshots]
    first = result.snapshots[0][1]
    nx, ny = first["material"].shape
    dx = result.section["dx_um"]
    coords = {"day": np.asarray(days), "x_um": (np.arange(nx) + 0.5) * dx, "y_um": (np.arange(ny) + 0.5) * dx}
    data = {}
    for name in first:
        arr = np.stack([s[name] for _, s in result.snapshots])
        unit = "pg/mL" if name in CYTOKINES else ("fraction" if name == "material" else "cells per voxel")
        data[name] = (("day", "x_um", "y_um"), arr, {"units": unit})
    ds = xr.Dataset(data, coords=coords)
    ds["day"].attrs.update(units="day", long_name="days since the herniation event")
    ds.attrs.update(scenario=result.scenario.name, seed=result.seed, dx_um=dx)
    return ds


def write_run(result: RunResult, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write a run directory's data: each file atomically, the manifest last (figures: :mod:`sim.plots`).

    ``out`` is claimed first (:func:`sim.io.outdir.claim_out_dir`): a new or empty directory or an earlier run
    is fine; a directory with someone else's files is refused unless ``overwrite``. Only the run's own files
    (timeseries.parquet, fields.zarr, manifest.json) are replaced; nothing else is touched.
    """
    out = claim_out_dir(out, "run", overwrite=overwrite)
    manifest = manifest_of(result)
    write_parquet(
        result.timeseries,
        out / TIMESERIES,
        metadata={k: manifest[k] for k in ("kind", "seed", "git_revision")} | {"scenario": manifest["scenario"]},
    )
    if result.snapshots:
        with atomic_subdir(out / FIELDS) as tmp:
            snapshots_dataset(result).to_zarr(tmp, consolidated=False, mode="w")
    write_json(manifest, out / MANIFEST)
    return out


def read_run(out: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Timeseries and manifest of a run directory."""
    out = Path(out)
    ts = pd.read_parquet(out / TIMESERIES)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    return ts, manifest
