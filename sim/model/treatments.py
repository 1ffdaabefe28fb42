"""Treatments: scheduled interventions that act on the model's processes.

A scenario's ``[[treatment]]`` entries (:class:`sim.scenario.schema.Treatment`) are turned into per-step
*channels*: the drug's exposure at the site, from its dosing schedule and one-compartment pharmacokinetics, and
the effect that exposure has where a process uses it (``E = Emax·C/(C + EC50)``). Each treatment is one entry
of :data:`TREATMENTS`: its routes, its pharmacology (every number with its source, or marked as an assumption
with its range) and the channels it drives. The compiled step reads the channels; nothing else in the model
knows about drugs:

==================  ===========================================================  ============================
channel             what it does in the step                                     process that applies it
==================  ===========================================================  ============================
``tnf_sink``        extra first-order loss of TNF-α, 1/s (neutralizing          ``transport`` (implicit, with
                    antibody: k_on·[drug])                                       the field's own decay)
``gc_repression``   fraction of the NF-κB/AP-1 target secretion repressed        ``glucocorticoid_repression``
                    (TNF-α, IL-1β, IL-6, IL-8, MMP-3; NP cells and macrophages)  (after the source processes)
``m2_stimulus``     extra M2-polarizing stimulus, added to s2 (0-1)              ``polarization``
``il4_added``       IL-4 added to the tissue's IL-4, pg/mL                       ``polarization``
``recruitment``     multiplier of monocyte influx (1 = none)                     ``recruitment``
``il1_block``       fraction of IL-1 receptor signalling blocked at the root     ``pain``
==================  ===========================================================  ============================

A discectomy is an event, not a channel: :class:`sim.model.DiscModel` removes the fragment (material, the cells
in it and its cytokines) at the start of the step of its day, or on the first day its rule holds (persistent
severe pain), so that compression stops while the root's sensitization still has to resolve.

Pharmacology figures marked ``recalled`` were not re-read in a source (as in the targets file); ``assumption``
marks a value with no direct source, with the range it could take. None of them was tuned to a trial's outcome:
a trial's effect is a prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CHANNELS", "NEUTRAL", "Pharmacology", "TreatmentKind", "TREATMENTS", "channel_schedule", "exposure"]

#: Channel order of the (n_channels, n_steps) array the compiled step reads.
CHANNELS: tuple[str, ...] = ("tnf_sink", "gc_repression", "m2_stimulus", "il4_added", "recruitment", "il1_block")
#: Value of each channel without treatment.
NEUTRAL: dict[str, float] = {c: (1.0 if c == "recruitment" else 0.0) for c in CHANNELS}


@dataclass(frozen=True)
class Value:
    """A number with its provenance."""

    value: float
    unit: str
    source: str


@dataclass(frozen=True)
class Pharmacology:
    """Exposure at the site after one dose, by route: ``C(t) = c_per_mg · dose · 2^(−t/t½)`` (bolus, first order).

    ``c_per_mg`` is the free concentration at the lesion per mg dosed (for a systemic dose: plasma peak × the
    tissue-to-plasma ratio), ``half_life_days`` the decay of that exposure.
    """

    dose_mg: Value
    interval_days: Value
    c_per_mg: Value  # ng/mL per mg at the site
    half_life_days: Value


@dataclass(frozen=True)
class TreatmentKind:
    name: str
    summary: str
    routes: dict[str, Pharmacology]
    default_route: str
    potency: dict[str, Value] = field(default_factory=dict)  # channel -> EC50 (ng/mL) or conversion
    emax: dict[str, Value] = field(default_factory=dict)  # channel -> maximal effect
    channels: tuple[str, ...] = ()


_REC = "recalled"
_ASS = "assumption"

TREATMENTS: dict[str, TreatmentKind] = {
    "anti_tnf": TreatmentKind(
        "anti_tnf",
        "Anti-TNF-α biologic: the antibody binds free TNF-α in the tissue, a sink k_on·[drug] added to the TNF-α "
        "field's decay.",
        routes={
            # infliximab 5 mg/kg IV (FIRST II, Korhonen 2005): median Cmax 118 µg/mL, terminal t½ 7.7-9.5 d
            "systemic": Pharmacology(
                Value(350.0, "mg", f"{_REC}: infliximab 5 mg/kg × 70 kg, single infusion (Korhonen 2005, FIRST II)"),
                Value(56.0, "day", f"{_REC}: infliximab maintenance every 8 weeks (label)"),
                Value(
                    33.7,
                    "ng/mL per mg",
                    f"{_REC}: Cmax 118 µg/mL after 5 mg/kg (label) × tissue/plasma 0.1 ({_ASS}: interstitial/plasma "
                    "IgG 0.04-0.3, Shah & Betts 2013)",
                ),
                Value(8.5, "day", f"{_REC}: infliximab terminal half-life 7.7-9.5 d (label)"),
            ),
            # etanercept epidural (Cohen 2009: 2 × 4 mg two weeks apart; Ohtori 2012: 10 mg)
            "epidural": Pharmacology(
                Value(4.0, "mg", f"{_REC}: etanercept 4 mg transforaminal epidural (Cohen 2009)"),
                Value(14.0, "day", f"{_REC}: second injection after 2 weeks (Cohen 2009)"),
                Value(100_000.0, "ng/mL per mg", f"{_ASS}: 1 mg in 10 mL of epidural tissue (range 3-30 mL)"),
                Value(1.0, "day", f"{_ASS}: clearance of a 150 kDa protein from the epidural space (0.3-3 d)"),
            ),
        },
        default_route="systemic",
        potency={
            "tnf_sink": Value(
                1e6,
                "1/(M·s)",
                f"{_REC}: association rate of anti-TNF antibodies with TNF-α, 1e5-1e6 /M/s; molar mass 150 kDa",
            )
        },
        channels=("tnf_sink",),
    ),
    "glucocorticoid": TreatmentKind(
        "glucocorticoid",
        "Glucocorticoid: represses the NF-κB/AP-1 targets of M1 and NP cells (TNF-α, IL-1β, IL-6, IL-8, MMP-3), "
        "biases M0 → M2 (M2c) and reduces monocyte recruitment, each E = Emax·C/(C + EC50).",
        routes={
            # epidural methylprednisolone acetate 80 mg, a depot
            "epidural": Pharmacology(
                Value(80.0, "mg", f"{_REC}: methylprednisolone acetate 80 mg epidural (usual dose 40-80 mg)"),
                Value(21.0, "day", f"{_REC}: repeat injections 2-4 weeks apart when given"),
                Value(
                    12.5,
                    "ng/mL per mg",
                    f"{_ASS}: ~1 µg/mL free drug at the root after 80 mg (depot release; CSF 0.1-1 µg/mL recalled)",
                ),
                Value(3.0, "day", f"{_ASS}: release from the depot, clinical effect 2-6 weeks (1-7 d)"),
            ),
            # oral prednisone taper (Goldberg 2015: 60 mg × 5 d, 40 × 5, 20 × 5): one [[treatment]] per step
            "systemic": Pharmacology(
                Value(60.0, "mg", f"{_REC}: prednisone 60 mg/day (Goldberg 2015, JAMA)"),
                Value(1.0, "day", f"{_REC}: once daily"),
                Value(1.7, "ng/mL per mg", f"{_REC}: unbound prednisolone peak ~100 ng/mL after 60 mg (fu 0.1-0.3)"),
                Value(0.125, "day", f"{_REC}: prednisolone half-life 2-4 h"),
            ),
        },
        default_route="epidural",
        potency={
            c: Value(10.0, "ng/mL", f"{_REC}: glucocorticoid receptor EC50 ~ 10-30 nM for methylprednisolone")
            for c in ("gc_repression", "m2_stimulus", "recruitment")
        },
        emax={
            "gc_repression": Value(0.8, "fraction", f"{_ASS}: transrepression is incomplete (0.5-0.95)"),
            "m2_stimulus": Value(1.0, "stimulus", f"{_ASS}: one saturating M2 signal, as IL-10 or TGF-β (0.3-1)"),
            "recruitment": Value(0.5, "fraction", f"{_ASS}: reduction of monocyte influx (0.2-0.8)"),
        },
        channels=("gc_repression", "m2_stimulus", "recruitment"),
    ),
    "il1ra": TreatmentKind(
        "il1ra",
        "IL-1 receptor antagonist (anakinra): competitive block of IL-1 signalling at the root, "
        "block = C/(C + IC50) on IL-1β's share of the sensitization drive.",
        routes={
            "systemic": Pharmacology(
                Value(100.0, "mg", f"{_REC}: anakinra 100 mg subcutaneous daily (label)"),
                Value(1.0, "day", f"{_REC}: once daily (label)"),
                Value(4.0, "ng/mL per mg", f"{_REC}: Cmax 0.65-1.2 µg/mL after 100 mg × tissue/plasma 0.5 ({_ASS})"),
                Value(0.21, "day", f"{_REC}: terminal half-life 4-6 h (label)"),
            ),
            "epidural": Pharmacology(
                Value(10.0, "mg", f"{_ASS}: a local dose of the same order as epidural biologics"),
                Value(7.0, "day", f"{_ASS}: weekly"),
                Value(100_000.0, "ng/mL per mg", f"{_ASS}: 1 mg in 10 mL of epidural tissue (3-30 mL)"),
                Value(0.5, "day", f"{_ASS}: clearance of a 17 kDa protein from the epidural space (0.1-1 d)"),
            ),
        },
        default_route="systemic",
        potency={
            "il1_block": Value(
                50.0, "ng/mL", f"{_ASS}: IL-1Ra needs a 10-100-fold excess over IL-1 (recalled); IC50 10-500 ng/mL"
            )
        },
        emax={"il1_block": Value(1.0, "fraction", "competitive antagonist: full block at saturation")},
        channels=("il1_block",),
    ),
    "m2_therapy": TreatmentKind(
        "m2_therapy",
        "M2-polarizing therapy: IL-4 delivered at the root (a local depot), added to the tissue IL-4 that drives "
        "M0 → M2 and M1 → M2 (a prediction: no trial in sciatica).",
        routes={
            "epidural": Pharmacology(
                Value(0.01, "mg", f"{_ASS}: 10 µg recombinant IL-4 (rodent local-delivery studies use ng-µg)"),
                Value(7.0, "day", f"{_ASS}: weekly"),
                Value(100_000.0, "ng/mL per mg", f"{_ASS}: 1 mg in 10 mL of tissue (3-30 mL)"),
                Value(1.0, "day", f"{_ASS}: release from a hydrogel depot (free IL-4 lasts minutes; 0.1-3 d)"),
            ),
        },
        default_route="epidural",
        potency={"il4_added": Value(1000.0, "pg/mL per ng/mL", "unit conversion")},
        channels=("il4_added",),
    ),
    "discectomy": TreatmentKind(
        "discectomy",
        "Discectomy: the fragment is removed at the start of the step of its day (material, the cells in it and "
        "its cytokines); compression stops, the root's sensitization resolves at its own rate.",
        routes={},
        default_route="",
    ),
}

TNF_KDA = 150.0  # molar mass of the anti-TNF biologics (infliximab 149 kDa, etanercept 150 kDa)


def exposure(hours: np.ndarray, treatment, pk: Pharmacology) -> np.ndarray:
    """Free drug at the site, ng/mL, at ``hours`` after onset (superposed first-order boluses)."""
    dose = treatment.dose_mg if treatment.dose_mg is not None else pk.dose_mg.value
    interval = treatment.interval_days if treatment.interval_days is not None else pk.interval_days.value
    k = math.log(2.0) / (pk.half_life_days.value * 24.0)
    c = np.zeros_like(hours, dtype=float)
    for i in range(treatment.doses):
        t0 = (treatment.start_day + i * interval) * 24.0
        after = hours >= t0
        c[after] += pk.c_per_mg.value * dose * np.exp(-k * (hours[after] - t0))
    return c


def _effect(kind: TreatmentKind, channel: str, c: np.ndarray) -> np.ndarray:
    if channel == "tnf_sink":  # k_on [M⁻¹s⁻¹] × C [ng/mL → mol/L]
        return kind.potency[channel].value * c * 1e-6 / (TNF_KDA * 1e3)
    if channel == "il4_added":
        return kind.potency[channel].value * c
    ec50 = kind.potency[channel].value
    return kind.emax[channel].value * c / (c + ec50)


def channel_schedule(treatments, hours: np.ndarray) -> np.ndarray:
    """Channels (``len(CHANNELS)``, ``len(hours)``) at the start of each step (hours after onset).

    Effects of several treatments on one channel combine as independent actions: sinks and added IL-4 add,
    fractions combine as 1 − Π(1 − f), the recruitment multiplier multiplies.
    """
    out = np.empty((len(CHANNELS), hours.size))
    for i, ch in enumerate(CHANNELS):
        out[i] = NEUTRAL[ch]
    for t in treatments:
        kind = TREATMENTS[t.kind]
        if not kind.channels:
            continue
        c = exposure(hours, t, kind.routes[t.route or kind.default_route])
        for ch in kind.channels:
            e = _effect(kind, ch, c)
            i = CHANNELS.index(ch)
            if ch in ("tnf_sink", "il4_added", "m2_stimulus"):
                out[i] += e
            elif ch == "recruitment":
                out[i] *= 1.0 - e
            else:
                out[i] = 1.0 - (1.0 - out[i]) * (1.0 - e)
    return out


def parameter_table() -> list[dict[str, str]]:
    """Every pharmacology number, for docs and reports: treatment, route, quantity, value, unit, source."""
    rows = []
    for kind in TREATMENTS.values():
        for route, pk in kind.routes.items():
            for q in ("dose_mg", "interval_days", "c_per_mg", "half_life_days"):
                v = getattr(pk, q)
                rows.append(
                    dict(
                        treatment=kind.name, route=route, quantity=q, value=f"{v.value:g}", unit=v.unit, source=v.source
                    )
                )
        for label, table in (("EC50/potency", kind.potency), ("Emax", kind.emax)):
            for ch, v in table.items():
                rows.append(
                    dict(
                        treatment=kind.name,
                        route="any",
                        quantity=f"{label} ({ch})",
                        value=f"{v.value:g}",
                        unit=v.unit,
                        source=v.source,
                    )
                )
    return rows
