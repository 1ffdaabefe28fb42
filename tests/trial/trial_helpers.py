"""Small trial files for the tests: a coarse grid, a few patients, a short follow-up."""

from __future__ import annotations

from pathlib import Path

#: a small, fast population (coarse grid); patients differ in type, size and nerve sensitivity
POPULATION = """
name = "trial_population"
[simulation]
days = 30
seed = 1
snapshot_every_days = 0
[geometry]
dx_um = 500
[cohort]
patients = 6
seed = 321
[cohort.patient]
herniation_type = { dist = "categorical", weights = { protrusion = 1, sequestration = 1 } }
herniation_volume_mm3 = { dist = "lognormal", median = 400, gsd = 1.8, low = 100, high = 2000 }
nerve_sensitivity = { dist = "loguniform", low = 0.5, high = 2 }
"""

TRIAL = """
name = "small_trial"
reference = "control"
follow_up_days = 16
visits_days = [4, 8, 16]
[population]
scenario = "population.toml"
patients = {patients}
[entry]
window_days = [8, 12]
vas_at_least = {vas_at_least}
[recovery]
vas_at_most = 40
[responder]
drop_fraction_at_least = 0.3
visit_day = 8
[windows]
short = [1, 5]
medium = [6, 10]
long = [11, 16]
[[subgroup]]
variable = "patient.herniation_type"
[[subgroup]]
variable = "entry.m1_fraction"
[[arm]]
name = "control"
[[arm]]
name = "surgery"
treatment = [{{ kind = "discectomy", start_day = "entry" }}]
[[arm]]
name = "anti_tnf"
treatment = [{{ kind = "anti_tnf", start_day = "entry+1", route = "epidural" }}]
[[arm.crossover]]
vas_at_least = 90
for_days = 3
from_day = "entry+3"
"""


def write_trial(directory: Path, *, patients: int = 5, vas_at_least: float = 10.0, text: str | None = None) -> Path:
    """population.toml and trial.toml in ``directory``; returns the trial file."""
    (directory / "population.toml").write_text(POPULATION, encoding="utf-8")
    path = directory / "trial.toml"
    body = text if text is not None else TRIAL.format(patients=patients, vas_at_least=vas_at_least)
    path.write_text(body, encoding="utf-8")
    return path
