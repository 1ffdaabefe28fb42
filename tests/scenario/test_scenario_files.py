import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario, with_overrides
from sim.scenario.dump import to_toml
from sim.scenario.params import provenance_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_are_valid(path):
    data = tomllib.loads(path.read_text())
    if "base" in data or "vary" in data:  # sweep files are checked by the sweep tests
        pytest.skip("sweep file")
    load_scenario(path)


def test_every_problem_is_reported_at_once_with_path_and_line():
    text = """
name = "x"
[patient]
herniation_type = "sequestrated"
nerve_sensitivty = 2

[parameters.pain]
tnf_weight = -1

[simulation]
days = "a year"
"""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.toml")
    probs = {p.path: p for p in info.value.problems}
    assert set(probs) == {
        "patient.herniation_type",
        "patient.nerve_sensitivty",
        "parameters.pain.tnf_weight",
        "simulation.days",
    }
    assert probs["patient.herniation_type"].line == 4
    assert probs["patient.nerve_sensitivty"].line == 5
    assert "unknown key" in probs["patient.nerve_sensitivty"].message
    assert probs["parameters.pain.tnf_weight"].line == 8
    assert probs["simulation.days"].line == 11
    assert "bad.toml" in str(info.value)


def test_missing_file_and_invalid_toml(tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[patient\nx=1")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)


def test_overrides_revalidate_and_reject_unknown_paths():
    s = with_overrides(Scenario(), {"parameters.pain.tnf_weight": 2.0, "patient.herniation_type": "sequestration"})
    assert s.parameters.pain.tnf_weight == 2.0 and s.rim_exposure() == s.parameters.containment.sequestration
    with pytest.raises(ScenarioError, match="unknown parameter path"):
        with_overrides(Scenario(), {"parameters.pain.tnf_wieght": 1.0})
    with pytest.raises(ScenarioError, match="greater than or equal"):
        with_overrides(Scenario(), {"parameters.pain.tnf_weight": -1.0})


def _leaves(model_cls, prefix=""):
    from pydantic import BaseModel

    for name, info in model_cls.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _leaves(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", model_cls, name


def test_every_parameter_has_units_and_a_source_or_a_calibration_prior():
    from sim.scenario.schema import Parameters, Patient

    for cls, prefix in ((Parameters, "parameters."), (Patient, "patient.")):
        for path, owner, name in _leaves(cls, prefix):
            if path == "patient.herniation_type":
                continue
            prov = provenance_of(owner, name)
            assert prov.get("unit"), path
            assert prov["status"] in ("sourced", "calibrated"), path
            if prov["status"] == "sourced":
                assert prov.get("source"), path
            else:
                lo, hi = prov["prior"]
                assert lo <= hi, path


@settings(deadline=None, max_examples=30)
@given(
    st.sampled_from(["bulging", "protrusion", "sequestration"]),
    st.floats(100, 2000),
    st.floats(0, 40),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=40),
)
def test_resolved_scenario_round_trips_through_toml(kind, volume, il4, name):
    s = with_overrides(
        Scenario(name=name),
        {"patient.herniation_type": kind, "patient.herniation_volume_mm3": volume, "patient.il4_pg_ml": il4},
    )
    assert parse_scenario(to_toml(s.model_dump(mode="json"))) == s


def test_exported_json_schema_and_docs_are_up_to_date():
    from sim.scenario.docs import render_markdown

    schema = json.loads((ROOT / "docs" / "scenario.schema.json").read_text())
    assert schema == json.loads(json.dumps(Scenario.model_json_schema()))
    assert (ROOT / "docs" / "scenario.md").read_text() == render_markdown(), (
        "docs/scenario.md is stale: run `python -m sim.scenario.docs`"
    )


def test_scenarios_pickle_for_worker_processes():
    import pickle

    s = with_overrides(Scenario(), {"patient.herniation_type": "sequestration", "parameters.secretion.m1.tnf": 1e-3})
    assert pickle.loads(pickle.dumps(s)) == s


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_parameter_set_applies_beneath_the_scenarios_own_parameters(tmp_path):
    (tmp_path / "cal").mkdir()
    _write(
        tmp_path / "cal" / "set.toml",
        "parameters.pain.tnf_weight = 1.7\nparameters.pain.il6_weight = 0.3\n[parameters.lifespan]\nm2_days = 21.0\n",
    )
    scen = load_scenario(
        _write(tmp_path / "s.toml", 'parameter_set = "cal/set.toml"\n[parameters.pain]\nil6_weight = 0.9\n')
    )
    assert scen.parameter_set == "cal/set.toml"
    assert scen.parameters.pain.tnf_weight == 1.7  # from the set
    assert scen.parameters.lifespan.m2_days == 21.0
    assert scen.parameters.pain.il6_weight == 0.9  # the scenario's own value wins
    assert scen.parameters.pain.il8_weight == Scenario().parameters.pain.il8_weight  # untouched default
    # the resolved scenario carries the merged values, so it round-trips without the set file
    assert parse_scenario(to_toml(scen.model_dump(mode="json"))).parameters == scen.parameters


def test_parameter_set_problems_name_the_file_key_and_line(tmp_path):
    s = _write(tmp_path / "s.toml", 'name = "x"\nparameter_set = "missing.toml"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(s)
    (p,) = info.value.problems
    assert p.path == "parameter_set" and p.line == 2 and "missing.toml" in p.message and "file not found" in p.message

    _write(
        tmp_path / "set.toml",
        "# calibrated\nparameters.pain.tnf_wieght = 1.0\nparameters.pain.il6_weight = -2\n"
        "patient.nerve_sensitivity = 2\n",
    )
    _write(s, 'parameter_set = "set.toml"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(s)
    assert info.value.source.endswith("set.toml")
    probs = {p.path: p for p in info.value.problems}
    assert set(probs) == {"parameters.pain.tnf_wieght", "parameters.pain.il6_weight", "patient"}
    assert (
        probs["parameters.pain.tnf_wieght"].line == 2 and "unknown key" in probs["parameters.pain.tnf_wieght"].message
    )
    assert probs["parameters.pain.il6_weight"].line == 3
    assert "only hold parameters" in probs["patient"].message

    _write(s, "parameter_set = 3\n")
    with pytest.raises(ScenarioError, match="must be a file path"):
        load_scenario(s)
