"""Bad trial files: exit 2 before anything runs, a message naming the problem and its place, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from trial_helpers import TRIAL, write_trial
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort.draw import draw_patient, patient_seed_sequence
from sim.cohort.trial import patient_draw
from sim.cohort.trial_spec import entry_day, load_trial, parse_day
from sim.scenario import ScenarioError

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def _trial_text(**replace: str) -> str:
    text = TRIAL.format(patients=4, vas_at_least=10.0)
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def _fails(tmp_path: Path, text: str, *expected: str) -> str:
    path = write_trial(tmp_path, text=text)
    out = tmp_path / "out"
    res = runner.invoke(app, ["trial", str(path), "-o", str(out), "-j", "0", "--no-plot"])
    assert res.exit_code == 2, res.output
    for e in expected:
        assert e in res.output, res.output
    assert "Traceback" not in res.output
    assert not out.exists(), "nothing may be written for a bad trial file"
    return res.output


def test_unknown_treatment_kind(tmp_path):
    out = _fails(
        tmp_path, _trial_text(**{'kind = "anti_tnf"': 'kind = "anti_tfn"'}), "unknown treatment kind 'anti_tfn'"
    )
    assert "arm.2.treatment.0.kind" in out and "(line " in out


def test_schedule_after_the_end_of_follow_up(tmp_path):
    _fails(
        tmp_path,
        _trial_text(**{'start_day = "entry+1"': 'start_day = "entry+40"'}),
        "arm.2.treatment.0.start_day",
        "entry+40, at or after the end of follow-up (follow_up_days = 16)",
    )


def test_repeated_doses_running_past_follow_up(tmp_path):
    text = _trial_text(**{'route = "epidural"': 'route = "epidural", doses = 3, interval_days = 10.0'})
    _fails(tmp_path, text, "arm.2.treatment.0.start_day", "the last dose falls on entry+21")


def test_day_before_some_patients_entry(tmp_path):
    _fails(
        tmp_path,
        _trial_text(**{'start_day = "entry"': "start_day = 10"}),
        "arm.1.treatment.0.start_day",
        "before the entry of patients who enter as late as day 12",
    )


def test_arms_with_different_populations(tmp_path):
    (tmp_path / "other.toml").write_text("name = 'x'\n[cohort]\npatients = 3\n", encoding="utf-8")
    text = _trial_text(**{'name = "surgery"': 'name = "surgery"\npopulation = "other.toml"'})
    out = _fails(tmp_path, text, "arm.1.population", "arms cannot have different populations")
    assert "'other.toml'" in out


def test_population_without_cohort_and_unknown_variable(tmp_path):
    path = write_trial(tmp_path, text=_trial_text(**{'"entry.m1_fraction"': '"entry.m1_fractoin"'}))
    with pytest.raises(ScenarioError) as exc:
        load_trial(path)
    assert any(p.path == "subgroup.1.variable" and "m1_fractoin" in p.message for p in exc.value.problems)


def test_schema_errors_are_listed_with_lines(tmp_path):
    text = _trial_text(**{"follow_up_days = 16": "follow_up_days = 16\nfolow_up = 3", "[4, 8, 16]": "[8, 4]"})
    out = _fails(tmp_path, text, "folow_up", "unknown key", "visits_days")
    assert "2 problem(s)" in out


def test_eligibility_that_selects_nobody_exits_2_after_screening(tmp_path):
    _fails(
        tmp_path,
        TRIAL.format(patients=3, vas_at_least=100.0),
        "eligibility (entry.pain_vas ≥ 100) selects none of the 3 screened patients",
        "line ",
    )


def test_eligibility_that_selects_nobody_leaves_an_existing_empty_folder_as_it_was(tmp_path):
    path = write_trial(tmp_path, text=TRIAL.format(patients=2, vas_at_least=100.0))
    out = tmp_path / "empty"
    out.mkdir()
    res = runner.invoke(app, ["trial", str(path), "-o", str(out), "-j", "0", "--no-plot"])
    assert res.exit_code == 2, res.output
    assert list(out.iterdir()) == []


def test_a_foreign_out_is_refused_before_screening(tmp_path):
    path = write_trial(tmp_path)
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("keep")
    res = runner.invoke(app, ["trial", str(path), "-o", str(out), "-j", "0", "--no-plot"])
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert "screened" not in res.output and "untreated course" not in res.output
    assert [p.name for p in out.iterdir()] == ["chapter1.tex"]


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios" / "trials").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_trials_are_valid(path):
    trial = load_trial(path)
    assert trial.population.cohort is not None and trial.reference in trial.arm_names
    assert {p.arm for p in trial.spec.published} <= set(trial.arm_names)
    res = runner.invoke(app, ["check", str(path)])
    assert res.exit_code == 0 and "valid trial" in res.output, res.output


def test_day_references():
    assert parse_day("entry") == ("entry", 0.0)
    assert parse_day("entry+14") == ("entry", 14.0)
    assert parse_day("entry + 3") == ("entry", 3.0)
    assert parse_day(63.0) == ("onset", 63.0)
    for bad in ("entry-3", "start", "14", "entry+x"):
        with pytest.raises(ValueError):
            parse_day(bad)


def test_entry_day_stream_leaves_the_cohort_draws_alone(tmp_path):
    """The entry day comes from its own stream: the patient's random effects and seed are the cohort's."""
    trial = load_trial(write_trial(tmp_path))
    days = {entry_day(trial.root_seed, k, trial.window) for k in range(40)}
    assert days <= set(range(8, 13)) and len(days) > 2
    assert entry_day(trial.root_seed, 3, trial.window) == entry_day(trial.root_seed, 3, trial.window)
    for k in range(4):
        vp, entry = patient_draw(trial, k)
        cohort_vp = draw_patient(trial.population, k, root=trial.root_seed)
        assert vp.seed == cohort_vp.seed
        assert vp.scenario.patient == cohort_vp.scenario.patient
        assert vp.scenario.simulation.days == entry + trial.spec.follow_up_days
    # the patient's own children are untouched by the entry stream
    ss = patient_seed_sequence(trial.root_seed, 0)
    ss.spawn(2)
    assert ss.n_children_spawned == 2


def test_a_trial_replaces_the_populations_usual_care_surgery_with_its_arms(tmp_path):
    """A population with [cohort.surgery] gives a trial patient no discectomy beyond what the arm prescribes."""
    from trial_helpers import POPULATION

    path = write_trial(tmp_path)
    (tmp_path / "population.toml").write_text(
        POPULATION + "[cohort.surgery]\nvas_at_least = 0\nfor_days = 1\n", encoding="utf-8"
    )
    trial = load_trial(path)
    assert trial.population.cohort.surgery is None
    for k in range(3):
        vp, _ = patient_draw(trial, k)
        assert not [t for t in vp.scenario.treatment if t.kind == "discectomy"]
        assert "surgery_candidate" in vp.effects and not vp.effects["surgery_candidate"]
