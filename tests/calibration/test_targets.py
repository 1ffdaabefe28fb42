import math
import tomllib
from pathlib import Path

import pytest

from sim.calibration.targets import (
    TARGETS_FILE,
    TargetsError,
    calibrated_parameters,
    load_targets,
    parameter_prior,
    parameters_citing,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "science" / "calibration_targets.toml"


def test_targets_split_by_use():
    t = load_targets()
    assert t.path == TARGETS_FILE
    assert {x.use for x in t.calibrate} == {"calibrate"}
    assert "sciatica_trial_leg_vas_itt" in {x.id for x in t.calibrate}
    assert "tnf_plasma_half_life_human" in {x.id for x in t.priors}
    assert "macrophage_load_vs_size_reduction" in {x.id for x in t.checks}
    itt = t["sciatica_trial_leg_vas_itt"]
    assert itt.time[0] == 0 and len(itt.sd) == len(itt.n) == len(itt.value) == 10
    assert itt.doi == "10.1056/NEJMoa064039" and itt.confidence == "derived"
    fit = t["sciatica_trial_leg_vas_exponential_fit"]
    assert fit.extra["plateau_c"] == 10.6 and fit.lower == 6.1
    assert t["review_association_signs"].by_label()["IL-10"] == -1


@pytest.mark.skipif(not SHARED.is_file(), reason="../shared not beside the repository")
def test_repository_copy_matches_shared_targets():
    ours = tomllib.loads(TARGETS_FILE.read_text(encoding="utf-8"))
    theirs = tomllib.loads(SHARED.read_text(encoding="utf-8"))
    assert ours == theirs, f"calibration/targets.toml differs from {SHARED}: re-copy it (see its header)"


def test_bad_targets_files(tmp_path):
    with pytest.raises(TargetsError, match="not found"):
        load_targets(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[target]]\nid = "x"\nuse = "calibrate"\n')
    with pytest.raises(TargetsError, match="missing"):
        load_targets(bad)
    bad.write_text('[[target]]\nid="x"\nuse="fit"\nvalue=1\nunits="-"\nsource="s"\nconfidence="read"\n')
    with pytest.raises(TargetsError, match="use must be"):
        load_targets(bad)


def test_calibrated_parameters_from_schema():
    table = calibrated_parameters()
    p = table["parameters.pain.resolution_per_day"]
    assert (p.lo, p.hi, p.scale) == (0.02, 1.0, "linear")
    log = table["parameters.tissue.mmp_half_max_pg_ml"]
    assert log.scale == "log10" and log.bounds == (math.log10(log.lo), math.log10(log.hi))
    assert math.isclose(log.to_value(log.to_coord(2e4)), 2e4)
    assert all(q.lo < q.hi for q in table.values())
    # sourced parameters are not calibrated
    assert "parameters.transport.tnf.half_life_min" not in table
    with pytest.raises(KeyError, match="did you mean"):
        parameter_prior("parameters.tissue.resolution_per_day")  # right name, wrong section


def test_prior_entries_link_to_schema():
    assert "parameters.transport.tnf.half_life_min" in parameters_citing("tnf_plasma_half_life_human")


def test_shipped_calibrated_parameters_are_calibrated_keys_inside_their_priors_and_used_by_the_scenarios():
    import tomllib
    from pathlib import Path

    from sim.calibration.abc import read_calibrated
    from sim.scenario import load_scenario

    root = Path(__file__).resolve().parents[2]
    path = root / "calibration" / "calibrated.toml"
    values = read_calibrated(path)
    priors = calibrated_parameters()
    assert values, "calibration/calibrated.toml is empty"
    for key, value in values.items():
        assert key in priors, f"{key} is not a calibrated parameter"
        assert priors[key].lo <= value <= priors[key].hi, (key, value, priors[key])
    header = path.read_text(encoding="utf-8")
    assert "# budget:" in header and "wall time" in header  # the budget travels with the values
    for scen in sorted((root / "scenarios").glob("*.toml")):
        data = tomllib.loads(scen.read_text(encoding="utf-8"))
        if "base" in data:
            continue  # sweep files inherit their base scenario
        assert data.get("parameter_set") == "../calibration/calibrated.toml", scen.name
        s = load_scenario(scen)
        for key, value in values.items():
            node = s
            for part in key.split("."):
                node = getattr(node, part)
            own = data.get("parameters", {})
            for part in key.split(".")[1:]:
                own = own.get(part, {}) if isinstance(own, dict) else {}
            if own == {}:  # not overridden by the scenario itself
                assert node == value, (scen.name, key)


def test_project_targets_are_read_after_the_science_file_and_may_not_repeat_an_id(tmp_path, monkeypatch):
    from sim.calibration.targets import PROJECT_TARGETS_FILE

    t = load_targets()
    assert t["sciatica_trial_crossover_first_year"].value == 0.39
    assert t["sciatica_trial_crossover_first_year"].use == "calibrate"
    assert t["sciatica_trial_crossover_mean_weeks"].use == "check"
    project = tomllib.loads(PROJECT_TARGETS_FILE.read_text(encoding="utf-8"))
    science = tomllib.loads(TARGETS_FILE.read_text(encoding="utf-8"))
    assert not {x["id"] for x in project["target"]} & {x["id"] for x in science["target"]}
    # an explicit path reads that file only; "none" switches the project file off
    assert "sciatica_trial_crossover_first_year" not in {x.id for x in load_targets(TARGETS_FILE)}
    monkeypatch.setenv("DISCSIM_PROJECT_TARGETS", "none")
    assert "sciatica_trial_crossover_first_year" not in {x.id for x in load_targets()}
    dup = tmp_path / "dup.toml"
    dup.write_text(
        '[[target]]\nid = "regression_prob_bulging"\nuse = "check"\nvalue = 0.1\nunits = "-"\nsource = "s"\n'
        'confidence = "read"\n'
    )
    monkeypatch.setenv("DISCSIM_PROJECT_TARGETS", str(dup))
    with pytest.raises(TargetsError, match="duplicate target ids.*regression_prob_bulging"):
        load_targets()
    monkeypatch.setenv("DISCSIM_PROJECT_TARGETS", str(tmp_path / "missing.toml"))
    with pytest.raises(TargetsError, match="missing.toml: targets file not found"):
        load_targets()
