"""Property-based fuzzing of the loaders (issue 11): every mutated shipped file ends in a valid object or a
:class:`sim.scenario.ScenarioError`, never another exception, never a hang.

Example counts scale with the hypothesis profile (tests/conftest.py): ``ci`` by default, ``--hypothesis-profile
thorough`` for long local runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import event, given, settings
from safety_strategies import COHORT_NAMES, Hang, scenario_cases, sweep_cases, time_limit  # noqa: F401

from sim.limits import LimitError, check_run_budget
from sim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario, with_overrides
from sim.scenario.dump import to_toml

N = settings.default.max_examples
LIMIT_S = 10.0  # a load or a couple of draws take milliseconds; more is a hang


def _load(path: Path) -> Scenario | None:
    with time_limit(LIMIT_S):
        try:
            scen = load_scenario(path)
        except ScenarioError as exc:
            assert exc.problems, "a ScenarioError must list its problems"
            str(exc)  # the message itself must render
            event("refused")
            return None
    event("valid")
    assert isinstance(scen, Scenario)
    return scen


def _draw_some(scen: Scenario, n: int = 3) -> None:
    from sim.cohort.draw import draw_patient

    with time_limit(LIMIT_S):
        for k in range(n):
            try:
                vp = draw_patient(scen, k)
            except ScenarioError:
                continue
            assert isinstance(vp.scenario, Scenario)
            assert vp.effects["sample_day"] >= 0


@settings(max_examples=4 * N)
@given(case=scenario_cases())
def test_mutated_scenarios_load_or_raise_scenario_error(case):
    with tempfile.TemporaryDirectory() as d:
        scen = _load(case.write(Path(d)))
        if scen is None:
            return
        with time_limit(LIMIT_S):
            try:
                check_run_budget(scen)
            except LimitError:
                pass
        _draw_some(scen)


@settings(max_examples=4 * N)
@given(case=scenario_cases(COHORT_NAMES))
def test_mutated_cohorts_load_and_draw_or_raise_scenario_error(case):
    with tempfile.TemporaryDirectory() as d:
        scen = _load(case.write(Path(d)))
        if scen is not None:
            _draw_some(scen, 8)


@settings(max_examples=4 * N)
@given(case=sweep_cases())
def test_mutated_sweeps_load_or_raise_scenario_error(case):
    from sim.cohort.draw import draw_patient
    from sim.cohort.sweep import Sweep, load_sweep

    with tempfile.TemporaryDirectory() as d:
        path = case.write(Path(d))
        with time_limit(LIMIT_S):
            try:
                sw = load_sweep(path)
            except ScenarioError as exc:
                assert exc.problems
                str(exc)
                return
        assert isinstance(sw, Sweep) and sw.points
        with time_limit(LIMIT_S):
            for point in sw.points[:3]:
                scen = with_overrides(sw.base, point, str(path))  # every point of a valid sweep is a valid scenario
                if sw.spec.cohort is not None:
                    draw_patient(scen, 0, root=sw.spec.seed, days=scen.simulation.days)


@settings(max_examples=2 * N)
@given(case=scenario_cases())
def test_a_valid_scenario_round_trips_through_the_printed_toml(case):
    """``discsim check`` prints the resolved scenario as TOML that loads from any folder, to the same scenario."""
    with tempfile.TemporaryDirectory() as d:
        scen = _load(case.write(Path(d)))
        if scen is None:
            return
        data = scen.model_dump(mode="json")
        data.pop("parameter_set", None)
        with time_limit(LIMIT_S):
            again = parse_scenario(to_toml(data), "<printed by check>")
        assert again == scen.model_copy(update={"parameter_set": None})
