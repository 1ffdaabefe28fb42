"""calibration/ship_posterior.py: the posterior medians become the shipped defaults, in place, read back."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("ship_posterior", ROOT / "calibration" / "ship_posterior.py")
ship = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ship)

CALIBRATED = """# old header
# budget: old

parameters.a.x = 1.0
parameters.a.kept = 3.0  # not fitted
"""

SCENARIO = """name = "s"
[cohort.patient]
# a comment that stays
spread = { dist = "lognormal", median = 1.35, gsd = 1.3 }  # trailing
[cohort.surgery]
vas_at_least = 60  # threshold
[cohort.other]
vas_at_least = 1
"""


def test_calibrated_file_gets_the_fitted_keys_and_keeps_the_others():
    fitted = {"parameters.a.x": (2.5, "95 % 1-4"), "parameters.a.new": (0.125, "95 % 0-1; uninformed")}
    text = ship.calibrated_text(CALIBRATED, fitted, ["new header", "budget: 10 patients, wall time 5 s"])
    values = ship.read_calibrated_text(text)
    assert values == {"parameters.a.x": 2.5, "parameters.a.kept": 3.0, "parameters.a.new": 0.125}
    assert text.startswith("# new header\n# budget: 10 patients, wall time 5 s\n")
    assert "old header" not in text and "# not fitted" in text and "uninformed" in text


def test_scenario_values_are_replaced_in_place_in_their_own_table():
    text = ship.scenario_text(
        SCENARIO,
        {
            "cohort.patient.spread.gsd": 1.456,
            "cohort.patient.spread.median": 0.98,
            "cohort.surgery.vas_at_least": 72.69,
        },
    )
    raw = tomllib.loads(text)
    assert raw["cohort"]["patient"]["spread"] == {"dist": "lognormal", "median": 0.98, "gsd": 1.456}
    assert raw["cohort"]["surgery"]["vas_at_least"] == 72.69 and raw["cohort"]["other"]["vas_at_least"] == 1
    assert "# a comment that stays" in text and "# trailing" in text and "# threshold" in text


@pytest.mark.parametrize("path", ["cohort.patient.missing.gsd", "cohort.patient.spread.low", "cohort.nowhere.x"])
def test_a_value_with_no_place_is_refused(path):
    with pytest.raises(ship.ShipError, match=path.replace(".", r"\.")):
        ship.scenario_text(SCENARIO, {path: 1.0})


def test_dry_run_on_the_repository_reads_back_the_posterior_medians_and_writes_nothing():
    cal, scen = ROOT / "calibration" / "calibrated.toml", ROOT / "scenarios" / "cohort_default.toml"
    before = cal.read_bytes(), scen.read_bytes()
    out = ship.ship(ROOT / "calibration" / "posterior.toml", "2026-12-03", dry_run=True)
    assert (cal.read_bytes(), scen.read_bytes()) == before
    point = ship.point_values(ROOT / "calibration" / "posterior" / "posterior" / "point.toml")
    shipped = ship.read_calibrated_text(out[cal]) | {
        k: v for k, v in ship.read_calibrated_text(out[scen]).items() if k.startswith("cohort.")
    }
    for key, (median, _) in point.items():
        assert shipped[key] == pytest.approx(median, rel=1e-3)
    header = out[cal].split("\n\n", 1)[0]
    assert "# budget:" in header and "wall time" in header
