"""Treatments ([[treatment]]): pharmacokinetics, each channel's effect through the compiled step against its
closed form, the discectomy event and its rule, and input errors. The closed forms are written out from
sim/model/treatments.py's equations and its pharmacology table, not taken from the kernels."""

import math

import numpy as np
import pytest

from sim.model import DiscModel
from sim.model import kernels as K
from sim.model.processes import PROCESS_NAMES
from sim.model.treatments import CHANNELS, TREATMENTS, channel_schedule, exposure
from sim.run import run_one
from sim.scenario import Scenario, ScenarioError, with_overrides
from sim.scenario.schema import CYTOKINES, Treatment


def only(*keep):
    return [p for p in PROCESS_NAMES if p not in keep]


def scenario(treatments=(), disable=(), days=60, kind="sequestration", **over):
    return with_overrides(
        Scenario(),
        {
            "patient.herniation_type": kind,
            "simulation.days": days,
            "model.disable": list(disable),
            "treatment": list(treatments),
            **over,
        },
    )


# ------------------------------------------------------------------------------------------- pharmacokinetics
def test_exposure_superposes_first_order_boluses():
    pk = TREATMENTS["anti_tnf"].routes["epidural"]
    t = Treatment(kind="anti_tnf", route="epidural", start_day=10, doses=2, interval_days=14, dose_mg=4)
    hours = np.array([0.0, 239.0, 240.0, 240.0 + 24.0, 24.0 * 24, 24.0 * 30])
    c = exposure(hours, t, pk)
    k = math.log(2) / (pk.half_life_days.value * 24)
    c0 = pk.c_per_mg.value * 4

    def one(h, t0):
        return c0 * math.exp(-k * (h - t0)) if h >= t0 else 0.0

    expected = [one(h, 240.0) + one(h, 240.0 + 14 * 24) for h in hours]
    np.testing.assert_allclose(c, expected, rtol=1e-12)
    assert c[0] == c[1] == 0.0 and c[2] == pytest.approx(c0)
    assert c[3] == pytest.approx(c0 / 2 ** (1 / pk.half_life_days.value))


def test_effects_of_several_treatments_combine_as_independent_actions():
    a = Treatment(kind="glucocorticoid", start_day=0)
    b = Treatment(kind="glucocorticoid", start_day=0, route="systemic")
    hours = np.array([1.0, 30.0])
    ch_a, ch_b, ch_ab = (channel_schedule(x, hours) for x in ([a], [b], [a, b]))
    g, r, m2 = CHANNELS.index("gc_repression"), CHANNELS.index("recruitment"), CHANNELS.index("m2_stimulus")
    np.testing.assert_allclose(ch_ab[g], 1 - (1 - ch_a[g]) * (1 - ch_b[g]))
    np.testing.assert_allclose(ch_ab[r], ch_a[r] * ch_b[r])
    np.testing.assert_allclose(ch_ab[m2], ch_a[m2] + ch_b[m2])
    none = channel_schedule([], hours)
    assert none[r].tolist() == [1.0, 1.0] and not none[g].any()


def test_every_pharmacology_number_has_a_source():
    from sim.model.treatments import parameter_table

    rows = parameter_table()
    assert rows and all(r["source"].strip() for r in rows)
    for kind in TREATMENTS.values():
        assert set(kind.channels) <= set(CHANNELS)
        assert kind.default_route in kind.routes or not kind.routes


# ------------------------------------------------------------------------------------------- channel effects
def test_anti_tnf_adds_its_binding_sink_to_the_tnf_decay():
    """Uniform TNF-α, no sources, transport only: one backward-Euler step is c/(1 + (k + k_on·[drug])·dt)."""
    tr = {"kind": "anti_tnf", "start_day": 0}
    m = DiscModel(scenario([tr], only("transport")))
    m.fields["tnf"][...] = 10.0
    m.step()
    pk, kind = TREATMENTS["anti_tnf"].routes["systemic"], TREATMENTS["anti_tnf"]
    drug_molar = pk.c_per_mg.value * pk.dose_mg.value * 1e-6 / 150e3  # ng/mL → g/L → mol/L (150 kDa)
    sink = kind.potency["tnf_sink"].value * drug_molar
    k = math.log(2) / (m.config.parameters.transport.tnf.half_life_min * 60)
    np.testing.assert_allclose(m.fields["tnf"], 10.0 / (1 + (k + sink) * 3600.0), rtol=1e-12)
    il6 = m.fields["il6"]
    assert (il6 == 0).all()  # other fields untouched by the drug


def test_glucocorticoid_represses_exactly_its_nf_kb_targets():
    """Sources of TNF-α, IL-1β, IL-6, IL-8, MMP-3 × (1 − Emax·C/(C + EC50)); IL-10, TGF-β, chemoattractant kept."""
    keep = ("disc_cell_secretion", "macrophage_secretion", "glucocorticoid_repression")
    ref = DiscModel(scenario((), only(*keep)))
    gc = DiscModel(scenario([{"kind": "glucocorticoid", "start_day": 0}], only(*keep)))
    for m in (ref, gc):
        v = np.flatnonzero(m.material.ravel() > 0.99)[:5]
        m.macrophages.add(v)
        m.macrophages.phen[:] = 1  # M1
        m.fields["tnf"].flat[v] = 5.0
        m.step()
    kind = TREATMENTS["glucocorticoid"]
    pk = kind.routes["epidural"]
    c = pk.c_per_mg.value * pk.dose_mg.value  # at hour 0 of the first dose
    e = kind.emax["gc_repression"].value * c / (c + kind.potency["gc_repression"].value)
    for i, name in enumerate(CYTOKINES):
        factor = 1 - e if name in ("tnf", "il1b", "il6", "il8", "mmp") else 1.0
        np.testing.assert_allclose(gc.fields.sources[i], ref.fields.sources[i] * factor, rtol=1e-12, err_msg=name)
    assert ref.fields.sources[CYTOKINES.index("tnf")].max() > 0


def test_il1_receptor_antagonist_blocks_its_share_of_the_root_drive():
    w = np.array([1.0, 2.0, 0.5, 0.0])
    km = np.array([10.0, 20.0, 5.0, 1.0])
    root = np.array([10.0, 20.0, 5.0, 3.0])
    # each saturating term is w/2 at c = K
    assert K.pain_drive(root, w, km) == pytest.approx(0.5 + 1.0 + 0.25)
    assert K.pain_drive(root, w, km, 1, 0.75) == pytest.approx(0.5 + 1.0 * 0.25 + 0.25)
    assert K.pain_drive(root, w, km, 1, 1.0) == pytest.approx(0.75)


def test_a_treatment_changes_nothing_before_its_first_dose():
    base = run_one(scenario(days=20), snapshots=False).timeseries
    for kind in ("anti_tnf", "glucocorticoid", "il1ra", "m2_therapy"):
        tr = run_one(scenario([{"kind": kind, "start_day": 12}], days=20), snapshots=False).timeseries
        before = base["day"] <= 12
        assert base[before].equals(tr[before]), kind
        assert not base.equals(tr) or kind == "il1ra", kind  # after the dose something moves (IL-1β's weight is small)


# ------------------------------------------------------------------------------------------- discectomy
def test_discectomy_removes_the_fragment_and_stops_compression_but_not_sensitization():
    m = DiscModel(scenario([{"kind": "discectomy", "start_day": 30}], days=40))
    m.run_days(29)
    mac_before = m.macrophages.n
    assert m.surgery_day is None and m.material.sum() > 0 and m.pain.compression > 0
    m.run_days(1)  # the surgery is done at the day-30 boundary, before the next step
    assert m.surgery_day == 30.0 and m.material.sum() == 0.0
    assert m.macrophages.n < mac_before  # the cells in the fragment went with it
    s_before = m.pain.sensitization
    assert s_before == m.datacollector.get_model_vars_dataframe().set_index("day").loc[30, "sensitization"]
    m.step()
    assert m.pain.compression == 0.0  # nothing left in the contact zone
    p = m.config.parameters.pain
    r_max = p.resolution_per_day * (1 + p.il10_resolution_gain)  # the fastest resolution (IL-10 saturating)
    assert s_before * math.exp(-r_max * m.dt_h / 24) <= m.pain.sensitization < s_before  # resolves, not reset
    m.run_days(9 - 1 / 24)
    ts = m.datacollector.get_model_vars_dataframe().set_index("day")
    assert ts.loc[29, "surgery"] == 0.0 and ts.loc[30, "surgery"] == 0.0 and ts.loc[31, "surgery"] == 1.0
    assert ts.loc[31, "volume_fraction"] == 0.0 and ts.loc[31, "pain_vas"] < ts.loc[29, "pain_vas"]


def test_discectomy_rule_operates_on_the_first_day_the_pain_has_persisted():
    rule = {"vas_at_least": 40.0, "for_days": 3, "from_day": 5, "until_day": 30}
    res = run_one(scenario([{"kind": "discectomy", "rule": rule}], days=30), snapshots=False)
    vas = res.timeseries.set_index("day")["pain_vas"]
    days = [d for d in range(5, 31) if all(vas[d - j] >= 40.0 for j in range(3))]
    assert res.surgery_day == float(days[0])
    never = {"vas_at_least": 100.0, "for_days": 3, "from_day": 5}
    assert run_one(scenario([{"kind": "discectomy", "rule": never}], days=20), snapshots=False).surgery_day is None


# ------------------------------------------------------------------------------------------- input errors
@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"kind": "anti_tnff", "start_day": 3}, ["unknown treatment kind 'anti_tnff'", "glucocorticoid"]),
        ({"kind": "discectomy"}, ["exactly one of start_day"]),
        ({"kind": "discectomy", "start_day": 3, "route": "epidural"}, ["takes no route"]),
        ({"kind": "anti_tnf"}, ["needs start_day"]),
        ({"kind": "m2_therapy", "start_day": 3, "route": "systemic"}, ["not available", "epidural"]),
        ({"kind": "anti_tnf", "start_day": 60}, ["at or after the end of the simulated time"]),
        ({"kind": "anti_tnf", "start_day": -1}, ["treatment.0.start_day"]),
        (
            {"kind": "discectomy", "rule": {"vas_at_least": 50, "for_days": 3, "from_day": 9, "until_day": 4}},
            ["before"],
        ),
    ],
)
def test_bad_treatments_are_errors_naming_the_problem(entry, words):
    with pytest.raises(ScenarioError) as err:
        scenario([entry], days=60)
    msg = str(err.value)
    assert all(w in msg for w in words), msg
