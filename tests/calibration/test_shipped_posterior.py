"""The shipped defaults are the shipped posterior's medians, and its draws load for `--posterior` runs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sim.calibration.abc import read_calibrated
from sim.cohort.posterior import PosteriorDraws
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
POSTERIOR = ROOT / "calibration" / "posterior" / "posterior"


def _get(tree: object, path: str):
    for part in path.split("."):
        tree = tree[part] if isinstance(tree, dict) else getattr(tree, part)
    return tree


def test_calibrated_file_and_cohort_scenario_hold_the_posterior_point():
    point = read_calibrated(POSTERIOR / "point.toml")
    shipped = read_calibrated(ROOT / "calibration" / "calibrated.toml")

    scenario = tomllib.loads((ROOT / "scenarios" / "cohort_default.toml").read_text(encoding="utf-8"))
    for key, value in point.items():
        got = shipped[key] if key.startswith("parameters.") else _get(scenario, key)
        assert got == pytest.approx(value, rel=1e-3), key
    # and the loaded scenario applies them (the parameter set under the scenario's own keys)
    scen = load_scenario(ROOT / "scenarios" / "cohort_default.toml")
    for key, value in point.items():
        if key.startswith("parameters."):
            assert float(_get(scen, key)) == pytest.approx(value, rel=1e-3), key


def test_shipped_draws_load_with_the_fitted_paths():
    draws = PosteriorDraws.load(POSTERIOR / "draws.parquet")
    point = read_calibrated(POSTERIOR / "point.toml")
    assert draws.n_draws == 1000 and set(draws.columns) == set(point)
    assert draws.metadata["waves"] == [1, 2, 3, 4]
