"""Scenario files: schema (units, bounds, provenance), loading with complete error reports, overrides."""

from .loader import Problem, ScenarioError, load_scenario, parse_scenario, validate_model, with_overrides
from .schema import CYTOKINES, HerniationType, Scenario

__all__ = [
    "CYTOKINES",
    "HerniationType",
    "Problem",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
    "validate_model",
    "with_overrides",
]
