"""Task functions for executor tests (module level, so spawned workers can import them)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

#: a small, fast cohort: coarse grid, 20 days, every kind of variability
SMALL_COHORT = """
name = "small_cohort"
[simulation]
days = 20
seed = 1
snapshot_every_days = 0
[geometry]
dx_um = 500
[cohort]
patients = 6
seed = 123
sample_day = { dist = "uniform", low = 5, high = 15 }
[cohort.patient]
herniation_type = { dist = "categorical", weights = { protrusion = 1, sequestration = 1, bulging = 0 } }
herniation_volume_mm3 = { dist = "lognormal", median = 400, gsd = 1.8, low = 100, high = 2000 }
inflammatory_propensity = { dist = "lognormal", median = 1.0, gsd = 1.5 }
ifng_pg_ml = { dist = "uniform", low = 0, high = 20 }
il4_pg_ml = { dist = "normal", mean = 5, sd = 3 }
nerve_sensitivity = { dist = "loguniform", low = 0.5, high = 2 }
disc_cell_activity = { dist = "fixed", value = 1.2 }
[cohort.breach]
probability = { protrusion = 0.5 }
rim_exposure = 0.4
"""


def square(payload: dict) -> pd.DataFrame:
    """Fails when asked; with ``flaky_dir`` fails the first attempt only (a marker file remembers it)."""
    if payload.get("fail"):
        raise RuntimeError(f"task {payload['x']} fails on purpose")
    flaky = payload.get("flaky_dir")
    if flaky:
        marker = Path(flaky) / f"attempted-{payload['x']}"
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            raise RuntimeError("transient failure")
    x = payload["x"]
    import numba

    return pd.DataFrame({"x": [x], "x2": [x * x], "threads": [numba.get_num_threads()]})


def noop(payload):
    return payload
