"""Patient variability: schema validation and reproducible draws."""

from __future__ import annotations

import numpy as np
import pytest
from cohort_helpers import SMALL_COHORT

from sim.cohort.draw import draw_cohort, draw_patient
from sim.scenario import ScenarioError, parse_scenario, with_overrides
from sim.scenario.schema import Patient
from sim.scenario.variability import field_bounds


@pytest.fixture
def scen():
    return parse_scenario(SMALL_COHORT)


def test_patient_k_does_not_depend_on_cohort_size_or_start(scen):
    big = draw_cohort(scen, 10)
    assert [p.seed for p in draw_cohort(scen, 4)] == [p.seed for p in big[:4]]
    late = draw_cohort(scen, 3, start=7)
    for a, b in zip(late, big[7:]):
        assert a.index == b.index and a.seed == b.seed and a.effects == b.effects and a.scenario == b.scenario
    assert len({p.seed for p in big}) == 10  # distinct simulation seeds
    # another root seed gives other patients
    assert draw_patient(scen, 0, root=999).seed != big[0].seed


def test_draws_respect_mix_bounds_and_settings(scen):
    pts = draw_cohort(scen, 400)
    types = [p.effects["herniation_type"] for p in pts]
    assert set(types) <= {"protrusion", "sequestration"}  # bulging has weight 0
    assert 0.4 < types.count("protrusion") / len(types) < 0.6
    for name in Patient.model_fields:
        if name == "herniation_type":
            continue
        lo, hi, _, _ = field_bounds(Patient, name)
        vals = np.array([p.effects[name] for p in pts], dtype=float)
        assert np.all((vals >= lo) & (vals <= hi)), name
    vols = np.array([p.effects["herniation_volume_mm3"] for p in pts])
    assert vols.min() >= 100 and vols.max() <= 2000
    assert 300 < np.median(vols) < 530
    assert all(p.effects["disc_cell_activity"] == 1.2 for p in pts)
    assert all(p.effects["il4_pg_ml"] >= 0 for p in pts)  # normal clipped to the schema bound
    assert all(5 <= p.effects["sample_day"] <= 15 for p in pts)
    # breach: about half of the protrusions get rim exposure 0.4, the rest the type default
    prot = [p for p in pts if p.effects["herniation_type"] == "protrusion"]
    breached = [p for p in prot if p.effects["breach"]]
    assert 0.3 < len(breached) / len(prot) < 0.7
    assert all(p.effects["rim_exposure"] == 0.4 for p in breached)
    default = scen.parameters.containment.protrusion
    assert all(p.effects["rim_exposure"] == default for p in prot if not p.effects["breach"])
    # the patient's scenario carries the effects and its seed, and no cohort section
    p = pts[3]
    assert p.scenario.simulation.seed == p.seed and p.scenario.cohort is None
    assert p.scenario.patient.herniation_volume_mm3 == p.effects["herniation_volume_mm3"]


def test_adding_a_distribution_leaves_other_effects_unchanged(scen):
    more = with_overrides(scen, {"cohort.patient.il10_background_pg_ml": {"dist": "uniform", "low": 0, "high": 9}})
    for a, b in zip(draw_cohort(scen, 5), draw_cohort(more, 5)):
        assert a.seed == b.seed
        assert a.effects["herniation_volume_mm3"] == b.effects["herniation_volume_mm3"]
        assert b.effects["il10_background_pg_ml"] != a.effects["il10_background_pg_ml"]


def test_bad_cohort_section_lists_every_problem_with_path_and_line():
    text = """
[cohort]
patients = 0
sample_day = { dist = "uniform", low = -3, high = 4 }
[cohort.patient]
herniation_type = { dist = "categorical", weights = { protrusio = 1 } }
herniation_volume_mm3 = { dist = "lognormal", median = -400, gsd = 1.8 }
ifng_pg_ml = { dist = "uniform", low = -1, high = 20 }
nerve_sensitivity = { dist = "beta" }
typo_key = { dist = "fixed", value = 1 }
"""
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text)
    # a problem inside a distribution is named down to its parameter ("...herniation_volume_mm3.median")
    paths = {".".join(p.path.split(".")[:3]): p for p in err.value.problems}
    for path in (
        "cohort.patients",
        "cohort.sample_day",
        "cohort.patient.herniation_type",
        "cohort.patient.herniation_volume_mm3",
        "cohort.patient.ifng_pg_ml",
        "cohort.patient.nerve_sensitivity",
        "cohort.patient.typo_key",
    ):
        assert path in paths, (path, [str(p) for p in err.value.problems])
        assert paths[path].line is not None
    assert "lognormal" not in " ".join(p.path for p in err.value.problems)  # no union tags in the paths
    assert "protrusio" in paths["cohort.patient.herniation_type"].message


def test_by_type_distributions_replace_the_general_ones_for_that_type_only(scen):
    """[cohort.by_type.protrusion] wins over [cohort.patient] for protrusions only; everything else is unchanged."""
    typed = parse_scenario(
        SMALL_COHORT.replace(
            "[cohort.breach]", 'dehydration_fraction = { dist = "fixed", value = 0.05 }\n[cohort.breach]'
        )
        + '[cohort.by_type.protrusion]\ndehydration_fraction = { dist = "fixed", value = 0.3 }\n'
    )
    pts = draw_cohort(typed, 40)
    base = draw_cohort(scen, 40)
    kinds = {p.effects["herniation_type"] for p in pts}
    assert kinds == {"protrusion", "sequestration"}
    for p, b in zip(pts, base):
        want = 0.3 if p.effects["herniation_type"] == "protrusion" else 0.05
        assert p.effects["dehydration_fraction"] == want
        assert p.scenario.patient.dehydration_fraction == want
        # every other effect (the type included) is the patient's own, with or without the per-type section
        same = {k: v for k, v in p.effects.items() if k != "dehydration_fraction"}
        assert same == {k: v for k, v in b.effects.items() if k != "dehydration_fraction"}


def test_by_type_section_is_validated_with_paths():
    bad = (
        SMALL_COHORT
        + """
[cohort.by_type.protrusio]
dehydration_fraction = { dist = "fixed", value = 0.3 }
[cohort.by_type.sequestration]
herniation_type = { dist = "fixed", value = "bulging" }
dehydration_fraction = { dist = "uniform", low = 0.1, high = 1.5 }
"""
    )
    with pytest.raises(ScenarioError) as err:
        parse_scenario(bad)
    text = "\n".join(str(p) for p in err.value.problems)
    assert "cohort.by_type.protrusio" in text
    assert "cohort.by_type.sequestration.herniation_type" in text  # the type cannot depend on itself
    assert "cohort.by_type.sequestration.dehydration_fraction" in text  # 1.5 is above the key's bound (< 1)
    clash = SMALL_COHORT + '\n[cohort.by_type.protrusion]\nrim_exposure = { dist = "fixed", value = 0.2 }\n'
    with pytest.raises(ScenarioError, match="rim exposure"):
        parse_scenario(clash)  # SMALL_COHORT already has a breach for protrusions


def test_usual_care_surgery_gives_every_herniation_a_discectomy_rule_from_entry_and_none_to_a_bulge():
    """[cohort.surgery]: each candidate type gets one discectomy rule checked from entry + from_days_after_entry to
    the last day; bulging is not a candidate by default; the patient's own draws do not change."""
    text = SMALL_COHORT.replace("bulging = 0", "bulging = 1")
    plain = parse_scenario(text)
    scen = parse_scenario(text + "[cohort.surgery]\nvas_at_least = 70\nfor_days = 5\nfrom_days_after_entry = 2\n")
    seen = set()
    for k in range(12):
        a, b = draw_patient(plain, k), draw_patient(scen, k)
        assert a.seed == b.seed and a.scenario.patient == b.scenario.patient
        htype = b.effects["herniation_type"]
        seen.add(htype)
        rules = [t for t in b.scenario.treatment if t.kind == "discectomy"]
        assert b.effects["surgery_candidate"] == (htype != "bulging")
        if htype == "bulging":
            assert rules == []
            continue
        (t,) = rules
        assert t.rule.vas_at_least == 70 and t.rule.for_days == 5
        assert t.rule.from_day == b.effects["sample_day"] + 2 and t.rule.until_day == 20
    assert "bulging" in seen and len(seen) > 1


def test_usual_care_surgery_types_and_a_start_past_the_horizon():
    from sim.scenario.variability import UsualCareSurgery

    rule = UsualCareSurgery(vas_at_least=60, from_days_after_entry=14)
    assert "bulging" not in {t.value for t in rule.types} and len(rule.types) == 4
    assert rule.treatment(10, 24.0) is None  # first check on the last day: nothing to check
    assert rule.treatment(10, 25.0)["rule"]["from_day"] == 24.0
    scen = parse_scenario(SMALL_COHORT + '[cohort.surgery]\nvas_at_least = 60\ntypes = ["sequestration"]\n')
    for k in range(8):
        vp = draw_patient(scen, k)
        assert vp.effects["surgery_candidate"] == (vp.effects["herniation_type"] == "sequestration")
    with pytest.raises(ScenarioError, match="cohort.surgery.vas_at_least"):
        parse_scenario(SMALL_COHORT + "[cohort.surgery]\nvas_at_least = 120\n")
    with pytest.raises(ScenarioError, match="cohort.surgery.vas_at_least"):
        parse_scenario(SMALL_COHORT + "[cohort.surgery]\nfor_days = 3\n")
