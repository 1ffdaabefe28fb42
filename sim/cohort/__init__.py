"""Virtual cohorts and parameter sweeps: patient variability, a resumable parallel executor, summaries.

- :mod:`sim.cohort.draw`: reproducible virtual patients from a scenario's ``[cohort]`` section
- :mod:`sim.cohort.executor`: ``run_tasks`` (process pool or Dask; one Parquet part per task; retries; resume)
- :mod:`sim.cohort.cohort`: ``run_cohort`` (patients.parquet, trajectories.parquet, manifest.json)
- :mod:`sim.cohort.posterior`: posterior-draws files (``PosteriorDraws``) and each patient's draw
- :mod:`sim.cohort.sweep`: sweep files and ``run_sweep`` (runs.parquet, points.parquet, manifest.json)
- :mod:`sim.cohort.summaries`: tissue samples, run outcomes, per-group statistics
"""

from .cohort import CohortResult, run_cohort
from .draw import VirtualPatient, draw_cohort, draw_patient
from .executor import Outcome, Report, Task, run_tasks
from .posterior import PosteriorDraws, PosteriorError, draw_posterior_patient, load_posterior

__all__ = [
    "CohortResult",
    "Outcome",
    "PosteriorDraws",
    "PosteriorError",
    "Report",
    "Task",
    "VirtualPatient",
    "draw_cohort",
    "draw_patient",
    "draw_posterior_patient",
    "load_posterior",
    "run_cohort",
    "run_tasks",
]
