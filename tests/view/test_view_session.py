"""``discsim view``'s model is the model of ``discsim run``: same scenario, seed and settings, same state."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.run import run_one
from sim.scenario import ScenarioError, load_scenario, with_overrides
from sim.view.section import cells_by_phenotype, cells_from_counts, nice_ceiling
from sim.view.session import SLIDERS, ViewSession, patient_controls

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default():
    return load_scenario(ROOT / "scenarios" / "default.toml")


def assert_same_state(session: ViewSession, result) -> None:
    """The session's daily table and spatial state equal those of a ``run_one`` result, exactly."""
    pd.testing.assert_frame_equal(session.timeseries(), result.timeseries, check_exact=True)
    day, snap = result.snapshots[-1]
    assert day == session.day
    for name, arr in session.model.snapshot().items():
        np.testing.assert_array_equal(arr, snap[name], err_msg=name)


def test_view_after_n_days_equals_discsim_run_with_the_same_seed(default):
    days = 9
    scen = default.model_copy(
        update={"simulation": default.simulation.model_copy(update={"snapshot_every_days": float(days)})}
    )
    session = ViewSession(scen, seed=4)
    session.step_days(2)  # the page steps a day at a time, or several per update while playing
    session.step_days(1)
    session.step_days(days - 3)
    assert_same_state(session, run_one(scen, 4, days=days))


def test_restart_with_patient_settings_equals_discsim_run_of_the_same_scenario(default):
    scen = default.model_copy(update={"simulation": default.simulation.model_copy(update={"snapshot_every_days": 5.0})})
    session = ViewSession(scen)
    session.step_days(3)
    settings = {"herniation_type": "sequestration", "nerve_sensitivity": 2.0, "il10_background_pg_ml": 4.0}
    session.restart(seed=7, patient=settings)
    assert session.day == 0 and session.seed == 7
    session.step_days(5)
    expected = with_overrides(scen, {f"patient.{k}": v for k, v in settings.items()})
    assert_same_state(session, run_one(expected, 7, days=5))


def test_out_of_bounds_setting_is_refused_and_the_run_kept(default):
    session = ViewSession(default, seed=2)
    session.step_days(2)
    with pytest.raises(ScenarioError) as err:
        session.restart(patient={"nerve_sensitivity": -1.0})
    assert "patient.nerve_sensitivity" in str(err.value.problems[0])
    assert session.day == 2 and session.seed == 2 and session.patient == {}


def test_run_stops_at_simulation_days(default):
    short = default.model_copy(update={"simulation": default.simulation.model_copy(update={"days": 3.0})})
    session = ViewSession(short)
    assert session.step_days(10) == 3 and session.finished and session.step_days(1) == 0


def test_patient_controls_cover_the_prior_and_the_current_value(default):
    big = with_overrides(default, {"patient.herniation_volume_mm3": 5000.0})
    controls = {c.name: c for c in patient_controls(big)}
    assert set(controls) == set(SLIDERS)
    vol = controls["herniation_volume_mm3"]
    assert vol.start == 100.0 and vol.end == 5000.0 and vol.value == 5000.0 and vol.unit == "mm^3"
    for c in controls.values():
        assert c.start <= c.value <= c.end and 0 < c.step <= (c.end - c.start) / 50


def test_cells_are_drawn_inside_their_voxel():
    shape, dx = (4, 3), 0.25
    pos = np.array([0, 0, 5, 11, 11, 11])
    phen = np.array([0, 1, 2, 1, 1, 0])
    pts = cells_by_phenotype(pos, phen, np.arange(1, 7), shape, dx)
    assert [len(pts[p][0]) for p in ("M0", "M1", "M2")] == [2, 3, 1]
    ix, iy = np.unravel_index(pos, shape)
    allx = np.concatenate([pts[p][0] for p in ("M0", "M1", "M2")])
    assert np.all((allx > 0) & (allx < shape[0] * dx))
    counts = {p: np.zeros(shape, dtype=np.int32) for p in ("M0", "M1", "M2")}
    counts["M1"][3, 2] = 3
    counts["M2"][3, 2] = 2
    pts = cells_from_counts(counts, dx)
    xy = np.column_stack([np.concatenate([pts[p][0] for p in pts]), np.concatenate([pts[p][1] for p in pts])])
    assert len(xy) == 5 and len(np.unique(xy.round(9), axis=0)) == 5  # five distinct points in one voxel
    assert np.all((xy[:, 0] > 3 * dx) & (xy[:, 0] < 4 * dx) & (xy[:, 1] > 2 * dx) & (xy[:, 1] < 3 * dx))


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0.0, 1.0), (0.7, 1.0), (1.0, 1.0), (1.3, 2.0), (2.2, 2.5), (3, 5.0), (6, 10), (9075, 10000)]
)
def test_colour_scale_ends_on_a_round_number(value, ceiling):
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_restart_with_a_treatment_equals_discsim_run_with_that_treatment_entry(default):
    scen = default.model_copy(update={"simulation": default.simulation.model_copy(update={"snapshot_every_days": 6.0})})
    session = ViewSession(scen, seed=3)
    treatment = [{"kind": "discectomy", "start_day": 3.0}]
    session.restart(treatment=treatment)
    session.step_days(6)
    assert session.model.surgery_day == 3.0
    assert_same_state(session, run_one(with_overrides(scen, {"treatment": treatment}), 3, days=6))
    session.restart(patient={"nerve_sensitivity": 1.5})  # the treatment is kept until changed
    assert session.scenario.treatment[0].kind == "discectomy"
    session.restart(treatment=[])
    assert session.scenario.treatment == []
