"""Draw virtual patients from a scenario's ``[cohort]`` section, reproducibly.

Seeds
-----
Patient ``k`` of a cohort with root seed ``R`` owns ``SeedSequence(R, spawn_key=(k,))``, whatever the
cohort size, the worker count or the order of execution. Its first child draws the random effects (each
effect from its own sub-stream keyed by the CRC-32 of its name, so adding a distribution for one key
does not change the draws of the others); its second child gives the integer simulation seed passed to
:func:`sim.run.run_one`.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..scenario import Scenario
from ..scenario.schema import Patient, Treatment
from ..scenario.variability import CohortSpec, clip_to_field

__all__ = [
    "VirtualPatient",
    "draw_patient",
    "draw_cohort",
    "patient_seed_sequence",
    "simulation_seed",
    "cohort_root_seed",
    "cohort_days",
    "fingerprint",
]


@dataclass(frozen=True)
class VirtualPatient:
    """One drawn patient.

    Attributes
    ----------
    index : int
        ``k``, the patient's number in the cohort (0-based).
    seed : int
        Simulation seed passed to ``run_one``.
    scenario : Scenario
        The scenario of this patient (``[patient]`` filled with its random effects, ``simulation.seed`` =
        ``seed``, ``simulation.days`` = the cohort's days, no ``[cohort]`` section).
    effects : dict
        The patient's values of every ``[patient]`` key, the effective ``rim_exposure`` (type default
        resolved), ``breach`` and ``sample_day`` (whole day).
    """

    index: int
    seed: int
    scenario: Scenario
    effects: dict[str, Any]


def patient_seed_sequence(root: int, k: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(root, spawn_key=(k,))


def _effect_rng(effects_ss: np.random.SeedSequence, name: str) -> np.random.Generator:
    ss = np.random.SeedSequence(effects_ss.entropy, spawn_key=(*effects_ss.spawn_key, zlib.crc32(name.encode())))
    return np.random.default_rng(ss)


def simulation_seed(sim_ss: np.random.SeedSequence) -> int:
    """A 63-bit integer seed from a SeedSequence (non-negative, fits int64)."""
    return int(sim_ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def cohort_root_seed(scenario: Scenario) -> int:
    spec = scenario.cohort
    return int(spec.seed) if spec is not None and spec.seed is not None else int(scenario.simulation.seed)


def cohort_days(scenario: Scenario) -> float:
    spec = scenario.cohort
    return float(spec.days) if spec is not None and spec.days is not None else float(scenario.simulation.days)


def fingerprint(scenario: Scenario, *extra: Any) -> str:
    """A short hash of a resolved scenario (and anything else that defines a task)."""
    h = hashlib.sha256(scenario.model_dump_json().encode())
    for e in extra:
        h.update(repr(e).encode())
    return h.hexdigest()[:24]


def draw_patient(scenario: Scenario, k: int, *, root: int | None = None, days: float | None = None) -> VirtualPatient:
    """Draw patient ``k`` of the cohort described by ``scenario.cohort`` (defaults when absent)."""
    spec = scenario.cohort if scenario.cohort is not None else CohortSpec()
    root = cohort_root_seed(scenario) if root is None else int(root)
    days = cohort_days(scenario) if days is None else float(days)
    effects_ss, sim_ss = patient_seed_sequence(root, k).spawn(2)
    seed = simulation_seed(sim_ss)

    patient = scenario.patient.model_dump()
    variability = spec.patient
    # the type first: [cohort.by_type.<type>] distributions replace [cohort.patient]'s for that type. Every key
    # draws from its own stream, so the order of the draws does not change any value.
    if variability.herniation_type is not None:
        patient["herniation_type"] = variability.herniation_type.draw(_effect_rng(effects_ss, "herniation_type"))
    htype = str(getattr(patient["herniation_type"], "value", patient["herniation_type"]))
    patient["herniation_type"] = htype
    typed = {t.value: d for t, d in spec.by_type.items()}.get(htype)
    for name in Patient.model_fields:
        if name == "herniation_type":
            continue
        dist = getattr(typed, name, None)  # typed may be None: no per-type section for this type
        if dist is None:
            dist = getattr(variability, name)
        if dist is None:
            continue
        patient[name] = clip_to_field(Patient, name, float(dist.draw(_effect_rng(effects_ss, name))))

    breach = False
    if spec.breach is not None:
        p = {t.value: v for t, v in spec.breach.probability.items()}.get(htype, 0.0)
        if p > 0 and _effect_rng(effects_ss, "breach").random() < p:
            breach = True
            patient["rim_exposure"] = spec.breach.rim_exposure
    if not breach:
        by_type = {t.value: d for t, d in spec.rim_exposure_by_type.items()}
        if htype in by_type:
            value = by_type[htype].draw(_effect_rng(effects_ss, "rim_exposure_by_type"))
            patient["rim_exposure"] = clip_to_field(Patient, "rim_exposure", float(value))

    sample_day = spec.sample_day.draw(_effect_rng(effects_ss, "sample_day"))
    sample_day = int(min(max(round(float(sample_day)), 0), math.floor(days + 1e-9)))

    update: dict[str, Any] = {
        "patient": Patient.model_validate(patient),
        "simulation": scenario.simulation.model_copy(update={"seed": seed, "days": days}),
        "cohort": None,
    }
    surgery = spec.surgery is not None and htype in {t.value for t in spec.surgery.types}
    care = spec.surgery.treatment(sample_day, days) if surgery else None
    if care is not None:
        update["treatment"] = [*scenario.treatment, Treatment.model_validate(care)]
    scen = scenario.model_copy(update=update)
    effects = {name: getattr(scen.patient, name) for name in Patient.model_fields}
    effects["herniation_type"] = scen.patient.herniation_type.value
    effects["rim_exposure"] = float(scen.rim_exposure())
    effects["breach"] = breach
    effects["sample_day"] = sample_day
    effects["surgery_candidate"] = surgery
    return VirtualPatient(k, seed, scen, effects)


def draw_cohort(
    scenario: Scenario, n: int, *, root: int | None = None, days: float | None = None, start: int = 0
) -> list[VirtualPatient]:
    """Patients ``start .. start+n-1``; patient k does not depend on ``n`` or ``start``."""
    return [draw_patient(scenario, k, root=root, days=days) for k in range(start, start + n)]
