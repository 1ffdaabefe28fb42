"""The page's logic without a browser: its buttons, selectors and settings act on the session as documented."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bokeh", reason="the view needs the optional 'view' extra (bokeh)")

from bokeh.document import Document  # noqa: E402
from bokeh.events import ButtonClick  # noqa: E402
from bokeh.models import ColorBar  # noqa: E402

from sim.run import run_one  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402
from sim.view.app import _build_page  # noqa: E402
from sim.view.session import ViewSession  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def page():
    scen = load_scenario(ROOT / "scenarios" / "default.toml")
    doc = Document()
    session = ViewSession(scen, seed=5)
    _build_page(doc, session)
    return doc, session


def click(doc, name):
    button = doc.select_one({"name": name})
    button._trigger_event(ButtonClick(button))


def traces(doc):
    return doc.select_one({"name": "traces"}).data


def test_step_advances_a_day_and_updates_traces_section_and_status(page):
    doc, session = page
    assert list(traces(doc)["day"]) == [0.0]
    cells_before = sum(len(doc.select_one({"name": f"cells_{p}"}).data["x"]) for p in ("M0", "M1", "M2"))
    click(doc, "step")
    click(doc, "step")
    assert session.day == 2 and list(traces(doc)["day"]) == [0.0, 1.0, 2.0]
    ts = run_one(session.scenario, 5, days=2, snapshots=False).timeseries
    np.testing.assert_array_equal(traces(doc)["pain_vas"], ts["pain_vas"].to_numpy())
    cells = sum(len(doc.select_one({"name": f"cells_{p}"}).data["x"]) for p in ("M0", "M1", "M2"))
    assert cells_before == 0 and cells == ts["n_m0"].iloc[-1] + ts["n_m1"].iloc[-1] + ts["n_m2"].iloc[-1]
    assert "day 2" in doc.select_one({"name": "section"}).title.text
    assert "Day 2</b> of 365" in doc.select_one({"name": "status"}).text
    image = doc.select_one({"name": "field"}).data["image"][0]
    np.testing.assert_array_equal(image, session.field("tnf").T)


def test_play_runs_speed_days_per_update_and_pause_stops(page):
    doc, session = page
    doc.select_one({"name": "speed"}).value = 3
    click(doc, "play")
    (callback,) = doc.session_callbacks
    assert doc.select_one({"name": "step"}).disabled and doc.select_one({"name": "play"}).disabled
    callback.callback()  # what the server's event loop calls every UPDATE_MS
    callback.callback()
    assert session.day == 6 and len(traces(doc)["day"]) == 7
    click(doc, "pause")
    assert not doc.session_callbacks and not doc.select_one({"name": "step"}).disabled


def test_field_selector_shows_that_field_with_its_unit(page):
    doc, session = page
    click(doc, "step")
    doc.select_one({"name": "field_select"}).value = "il10"
    np.testing.assert_array_equal(doc.select_one({"name": "field"}).data["image"][0], session.field("il10").T)
    (colorbar,) = doc.select({"type": ColorBar})
    assert colorbar.title == "IL-10 (pg/mL)"


def test_settings_apply_at_restart_from_day_0(page):
    doc, session = page
    click(doc, "step")
    doc.select_one({"name": "seed"}).value = 11
    doc.select_one({"name": "herniation_type"}).value = "sequestration"
    assert session.day == 1  # nothing changes until Restart
    assert "press Restart" in doc.select_one({"name": "status"}).text
    click(doc, "restart")
    assert session.day == 0 and session.seed == 11
    assert session.scenario.patient.herniation_type.value == "sequestration"
    assert list(traces(doc)["day"]) == [0.0]
    assert "press Restart" not in doc.select_one({"name": "status"}).text
    lay = session.layout
    assert doc.select_one({"name": "section"}).x_range.end == pytest.approx(lay.width_mm)
    np.testing.assert_array_equal(doc.select_one({"name": "vessels"}).data["x"], lay.vessels_mm[:, 0])


def test_a_treatment_chosen_on_the_page_applies_at_restart(page):
    doc, session = page
    doc.select_one({"name": "treatment"}).value = "anti_tnf"
    doc.select_one({"name": "treatment_day"}).value = 2
    assert session.scenario.treatment == [] and "press Restart" in doc.select_one({"name": "status"}).text
    click(doc, "restart")
    t = session.scenario.treatment
    assert len(t) == 1 and t[0].kind == "anti_tnf" and t[0].start_day == 2.0
    assert "anti_tnf from day 2" in doc.select_one({"name": "status"}).text
    doc.select_one({"name": "treatment"}).value = "none"
    click(doc, "restart")
    assert session.scenario.treatment == []
