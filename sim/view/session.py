"""One browser tab's simulation: the scenario, the settings chosen in the page, and the model they give.

The model is built and advanced through the same functions as ``discsim run`` (:func:`sim.run.start_model`,
:func:`sim.run.run_day`), so a tab stepped N days with seed s holds the same state, bit for bit, as
``discsim run SCENARIO --seed s`` after N days. The settings the page offers (seed, patient parameters) are
applied by starting again from day 0 with a scenario re-validated by the schema: a run is never changed halfway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..run import resolve_scenario, run_day, start_model, timeseries_of
from ..scenario import HerniationType, Scenario, with_overrides
from ..scenario.schema import Patient
from .section import SectionLayout, cells_by_phenotype, layout_of

__all__ = ["ViewSession", "PatientControl", "patient_controls"]


@dataclass(frozen=True)
class PatientControl:
    """A patient parameter the page offers as a slider (range: the parameter's prior, widened to its value)."""

    name: str
    label: str
    unit: str
    start: float
    end: float
    step: float
    value: float


#: The patient parameters offered in the page, the ones that move a patient's course most (docs/view.md).
SLIDERS: dict[str, str] = {
    "herniation_volume_mm3": "herniation volume",
    "nerve_sensitivity": "nerve sensitivity",
    "inflammatory_propensity": "inflammatory propensity (monocyte influx)",
    "il10_background_pg_ml": "IL-10 background",
    "ifng_pg_ml": "IFN-γ background",
    "il4_pg_ml": "IL-4 background",
}


def patient_controls(scenario: Scenario) -> list[PatientControl]:
    """The sliders for ``scenario``'s patient: schema unit and prior, widened to include the current value."""
    out = []
    for name, label in SLIDERS.items():
        extra = Patient.model_fields[name].json_schema_extra or {}
        lo, hi = extra["x-prior"]
        value = float(getattr(scenario.patient, name))
        lo, hi = min(lo, value), max(hi, value)
        step = 10.0 ** np.floor(np.log10((hi - lo) / 100.0)) if hi > lo else 1.0
        out.append(PatientControl(name, label, str(extra.get("x-unit", "")), lo, hi, float(step), value))
    return out


class ViewSession:
    """The simulation behind one page.

    Parameters
    ----------
    scenario : Scenario
        The scenario given to ``discsim view`` (its ``simulation.days`` ends the run).
    seed : int, optional
        Overrides ``scenario.simulation.seed``.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None):
        self.base = scenario
        self.patient: dict[str, Any] = {}
        self.treatment: list[dict[str, Any]] | None = None  # None: the scenario's own [[treatment]] entries
        self.restart(seed=scenario.simulation.seed if seed is None else seed)

    def restart(
        self,
        seed: int | None = None,
        patient: Mapping[str, Any] | None = None,
        treatment: list[Mapping[str, Any]] | None = None,
    ) -> None:
        """Start again at day 0 with ``seed`` and patient values ``patient`` (given keys replace earlier ones);
        ``treatment``, when given, replaces the scenario's ``[[treatment]]`` entries (``[]``: untreated).

        Raises :class:`sim.scenario.ScenarioError` (the model is left as it was) if a value is out of bounds.
        """
        merged = {**self.patient, **(patient or {})}
        treat = self.treatment if treatment is None else [dict(t) for t in treatment]
        over: dict[str, Any] = {f"patient.{k}": _plain(v) for k, v in merged.items()}
        if treat is not None:
            over["treatment"] = treat
        scen = self.base
        if over:
            scen = with_overrides(self.base, over, "view settings")
        scen = resolve_scenario(scen, self.seed if seed is None else int(seed))
        self.model = start_model(scen)
        self.scenario = scen
        self.patient = merged
        self.treatment = treat
        self.layout: SectionLayout = layout_of(self.model.section, scen.geometry.root_radius_mm)

    # ------------------------------------------------------------------ time
    @property
    def seed(self) -> int:
        return int(self.model.seed) if hasattr(self, "model") else int(self.base.simulation.seed)

    @property
    def day(self) -> int:
        return int(round(self.model.day))

    @property
    def days_total(self) -> int:
        return int(self.scenario.simulation.days)

    @property
    def finished(self) -> bool:
        return self.day >= self.days_total

    def step_days(self, n: int = 1) -> int:
        """Advance up to ``n`` whole days (not past ``simulation.days``); returns the days run."""
        done = 0
        while done < n and not self.finished:
            run_day(self.model)
            done += 1
        return done

    # ------------------------------------------------------------------ what the page shows
    def timeseries(self) -> pd.DataFrame:
        """Daily observables so far (the rows ``discsim run`` writes to timeseries.parquet)."""
        return timeseries_of(self.model)

    def latest(self) -> dict[str, float]:
        """Today's observables."""
        return dict(self.model._obs)

    def field(self, name: str) -> np.ndarray:
        """Cytokine field ``name`` (pg/mL), shape (nx, ny); a copy."""
        return self.model.fields[name].copy()

    def material(self) -> np.ndarray:
        return self.model.material.copy()

    def cells(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Live macrophages per phenotype as (x_mm, y_mm) points."""
        mac = self.model.macrophages
        return cells_by_phenotype(mac.pos, mac.phen, mac.uid, self.layout.shape, self.layout.dx_mm)


def _plain(value: Any) -> Any:
    """Widget values as the schema takes them (strict mode: a float, not a numpy scalar; an enum name)."""
    if isinstance(value, HerniationType):
        return value.value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
