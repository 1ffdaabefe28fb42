"""Scenario files: schema (units, bounds, provenance), loading with complete error reports, overrides."""

from .loader import Problem, ScenarioError, load_scenario, parse_scenario, validate_model, with_overrides
from .scenario import Scenario
from .schema import CYTOKINES, HerniationType

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
