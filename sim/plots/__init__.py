"""Figures. :func:`plot_output_dir` redraws whatever an output directory holds (run, cohort, sweep, sensitivity, trial)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .summary import plot_run

__all__ = ["plot_run", "plot_output_dir", "PLOTTERS"]


def _plot_run_dir(directory: Path, format: str) -> list[Path]:
    from ..io.rundir import read_run

    ts, manifest = read_run(directory)
    return [plot_run(ts, manifest, directory / f"summary.{format}")]


#: manifest "kind" -> function(directory, format) -> written paths. Cohort and sweep plotters register here.
PLOTTERS: dict[str, Callable[[Path, str], list[Path]]] = {"run": _plot_run_dir}


def _plot_cohort_dir(directory: Path, format: str) -> list[Path]:
    from .cohort import plot_cohort_dir

    return plot_cohort_dir(directory, format)


def _plot_sweep_dir(directory: Path, format: str) -> list[Path]:
    from .cohort import plot_sweep_dir

    return plot_sweep_dir(directory, format)


def _plot_sensitivity_dir(directory: Path, format: str) -> list[Path]:
    import pandas as pd

    from ..calibration.sensitivity import plot_morris, plot_sobol, read_manifest

    manifest = read_manifest(directory)
    method = manifest["method"]
    draw = plot_morris if method == "morris" else plot_sobol
    indices = pd.read_parquet(directory / "indices.parquet")
    return [draw(indices, directory / f"{method}.{format}", manifest.get("output_days"))]


def _plot_trial_dir(directory: Path, format: str) -> list[Path]:
    from .trial import plot_trial_dir

    return plot_trial_dir(directory, format)


PLOTTERS.update(
    cohort=_plot_cohort_dir, sweep=_plot_sweep_dir, sensitivity=_plot_sensitivity_dir, trial=_plot_trial_dir
)


def plot_output_dir(directory: str | Path, format: str = "png") -> list[Path]:
    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    kind = manifest.get("kind", "run")
    if kind not in PLOTTERS:
        raise ValueError(f"{directory}: unknown output kind {kind!r} (known: {sorted(PLOTTERS)})")
    return PLOTTERS[kind](directory, format)
