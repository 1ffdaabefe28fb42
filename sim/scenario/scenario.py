"""The complete scenario: the schema's sections (:mod:`.schema`) plus patient variability (:mod:`.variability`).

Kept apart from both so that the imports run one way: ``schema`` ← ``variability`` ← ``scenario``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .schema import Geometry, ModelSpec, Parameters, Patient, Simulation, Treatment, _Strict
from .variability import CohortSpec

__all__ = ["Scenario"]


class Scenario(_Strict):
    """A complete, validated scenario."""

    name: str = Field("unnamed", description="Short name of the scenario (used in outputs).", max_length=200)
    description: str = Field("", description="Free text.", max_length=5000)
    parameter_set: str | None = Field(
        None,
        description="Path (relative to the scenario file) of a parameter-set TOML whose `parameters.*` values apply "
        'beneath this file\'s own [parameters] (which win), e.g. "../calibration/calibrated.toml". Resolved when '
        "the file is loaded; kept here as provenance.",
        max_length=1000,
    )
    simulation: Simulation = Field(default_factory=Simulation)
    patient: Patient = Field(default_factory=Patient)
    geometry: Geometry = Field(default_factory=Geometry)
    parameters: Parameters = Field(default_factory=Parameters)
    model: ModelSpec = Field(default_factory=ModelSpec, description="Processes switched off ([model] disable).")
    cohort: CohortSpec | None = Field(None, description="Patient variability of a virtual cohort (docs/cohorts.md).")
    treatment: list[Treatment] = Field(
        default_factory=list,
        description="Scheduled treatments ([[treatment]] entries: drugs and discectomy; docs/trials.md).",
        max_length=100,
    )

    @model_validator(mode="after")
    def _treatments_in_simulated_time(self):
        days = self.simulation.days
        for i, t in enumerate(self.treatment):
            first = t.rule.from_day if t.rule is not None else t.start_day
            if first >= days:
                raise ValueError(
                    f"treatment[{i}] ({t.kind}) starts on day {first:g}, at or after the end of the simulated time "
                    f"(simulation.days = {days:g})"
                )
        return self

    def rim_exposure(self) -> float:
        """The patient's rim exposure, or its herniation type's default."""
        if self.patient.rim_exposure is not None:
            return self.patient.rim_exposure
        return getattr(self.parameters.containment, self.patient.herniation_type.value)
