"""Patient variability: the ``[cohort]`` section of a scenario.

A cohort is N virtual patients drawn from distributions over the ``[patient]`` keys (herniation-type
mix, fragment size, inflammatory propensity, IFN-γ / IL-4 / IL-10 backgrounds, nerve sensitivity,
disc-cell activity, rim exposure), plus a tissue-sampling day. A key without a distribution keeps the
scenario's ``[patient]`` value for every patient.

Distributions are a small discriminated union on ``dist``::

    herniation_volume_mm3 = { dist = "lognormal", median = 400, gsd = 1.8 }
    ifng_pg_ml = { dist = "uniform", low = 0, high = 20 }
    herniation_type = { dist = "categorical", weights = { protrusion = 0.5, sequestration = 0.5 } }

Every numeric draw is clipped to the schema bounds of its key (and to ``low``/``high`` when given):
a distribution whose support lies outside those bounds is an error at load time.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from .schema import HerniationType, HerniationTypeName, Patient, whole_days

__all__ = [
    "Fixed",
    "Uniform",
    "LogUniform",
    "Normal",
    "LogNormal",
    "Categorical",
    "Distribution",
    "Breach",
    "PatientVariability",
    "CohortSpec",
    "field_bounds",
]


class _Strict(BaseModel):
    # as in the schema: numbers are TOML numbers, and finite
    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False)


#: Largest |value| a distribution parameter may take: far beyond any physical key, small enough that a draw
#: (median × gsd^z, a uniform range high − low) cannot overflow a float.
_BIG = 1e12


class _Continuous(_Strict):
    """Common part of numeric distributions: optional clipping bounds."""

    low: float | None = Field(None, ge=-_BIG, le=_BIG, description="Draws below are clipped to this value.")
    high: float | None = Field(None, ge=-_BIG, le=_BIG, description="Draws above are clipped to this value.")

    @model_validator(mode="after")
    def _ordered(self):
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low must be < high (got low={self.low}, high={self.high})")
        return self

    def support(self) -> tuple[float, float]:
        return (-math.inf if self.low is None else self.low, math.inf if self.high is None else self.high)

    def _clip(self, x: float) -> float:
        lo, hi = self.support()
        return float(min(max(x, lo), hi))


class Fixed(_Strict):
    """The same value for every patient."""

    dist: Literal["fixed"]
    value: Annotated[float, Field(ge=-_BIG, le=_BIG)] | str

    def support(self) -> tuple[float, float]:
        return (self.value, self.value) if isinstance(self.value, float) else (math.nan, math.nan)

    def draw(self, rng: np.random.Generator) -> float | str:
        return self.value


class Uniform(_Strict):
    dist: Literal["uniform"]
    low: float = Field(ge=-_BIG, le=_BIG)
    high: float = Field(ge=-_BIG, le=_BIG)

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise ValueError(f"low must be < high (got low={self.low}, high={self.high})")
        return self

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


class LogUniform(Uniform):
    """Uniform in log space between ``low`` > 0 and ``high``."""

    dist: Literal["loguniform"]  # type: ignore[assignment]
    low: float = Field(gt=0, le=_BIG)

    def draw(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


class Normal(_Continuous):
    """Normal(mean, sd), clipped to ``[low, high]`` and the key's bounds."""

    dist: Literal["normal"]
    mean: float = Field(ge=-_BIG, le=_BIG)
    sd: float = Field(ge=0, le=_BIG)

    def draw(self, rng: np.random.Generator) -> float:
        return self._clip(rng.normal(self.mean, self.sd))


class LogNormal(_Continuous):
    """Log-normal given by its median and geometric SD (``gsd`` ≥ 1: ~68 % of draws within median ×/÷ gsd)."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0, le=_BIG)
    gsd: float = Field(
        ge=1,
        le=100,
        description="Geometric SD (at most 100: ×/÷ 100 per SD already spans "
        "four orders of magnitude in 68 % of draws).",
    )

    def draw(self, rng: np.random.Generator) -> float:
        return self._clip(self.median * math.exp(math.log(self.gsd) * rng.standard_normal()))


class Categorical(_Strict):
    """One of several labels with relative weights (normalised; need not sum to 1)."""

    dist: Literal["categorical"]
    weights: dict[str, Annotated[float, Field(ge=0, le=_BIG)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _some_weight(self):
        if sum(self.weights.values()) <= 0:
            raise ValueError("weights must not all be zero")
        return self

    def support(self) -> tuple[float, float]:
        return (math.nan, math.nan)

    def probabilities(self) -> dict[str, float]:
        total = sum(self.weights.values())
        return {k: w / total for k, w in self.weights.items()}

    def draw(self, rng: np.random.Generator) -> str:
        labels = list(self.weights)
        p = np.array([self.weights[k] for k in labels], dtype=float)
        return labels[int(rng.choice(len(labels), p=p / p.sum()))]


Distribution = Annotated[Union[Fixed, Uniform, LogUniform, Normal, LogNormal, Categorical], Field(discriminator="dist")]
NumericDistribution = Annotated[Union[Fixed, Uniform, LogUniform, Normal, LogNormal], Field(discriminator="dist")]
TypeDistribution = Annotated[Union[Fixed, Categorical], Field(discriminator="dist")]


def field_bounds(model: type[BaseModel], name: str) -> tuple[float, float, bool, bool]:
    """``(low, high, low_inclusive, high_inclusive)`` of a numeric pydantic field."""
    lo, hi, lo_inc, hi_inc = -math.inf, math.inf, True, True
    for m in model.model_fields[name].metadata:
        if getattr(m, "ge", None) is not None:
            lo, lo_inc = float(m.ge), True
        if getattr(m, "gt", None) is not None:
            lo, lo_inc = float(m.gt), False
        if getattr(m, "le", None) is not None:
            hi, hi_inc = float(m.le), True
        if getattr(m, "lt", None) is not None:
            hi, hi_inc = float(m.lt), False
    return lo, hi, lo_inc, hi_inc


def _check_numeric(dist: Any, model: type[BaseModel], name: str) -> None:
    """Raise ValueError if ``dist`` can draw outside the bounds it is not clipped to."""
    lo, hi, lo_inc, hi_inc = field_bounds(model, name)
    if isinstance(dist, Fixed):
        if isinstance(dist.value, str):
            raise ValueError(f"expected a number, got {dist.value!r}")
        v = dist.value
        if v < lo or v > hi or (v == lo and not lo_inc) or (v == hi and not hi_inc):
            raise ValueError(f"value {v:g} outside the allowed range [{lo:g}, {hi:g}] of {name}")
        return
    if isinstance(dist, Uniform):  # also LogUniform: fixed support, not clipped
        if dist.low < lo or dist.high > hi or (dist.low == lo and not lo_inc) or (dist.high == hi and not hi_inc):
            raise ValueError(
                f"range [{dist.low:g}, {dist.high:g}] outside the allowed range [{lo:g}, {hi:g}] of {name}"
            )
        return
    # normal / lognormal: clipped, so only explicit low/high must lie inside the bounds
    for what, v in (("low", dist.low), ("high", dist.high)):
        if v is not None and (v < lo or v > hi):
            raise ValueError(f"{what} = {v:g} outside the allowed range [{lo:g}, {hi:g}] of {name}")


def clip_to_field(model: type[BaseModel], name: str, value: float) -> float:
    """Clip a drawn value into the schema bounds of ``model.name`` (open bounds nudged inside)."""
    lo, hi, lo_inc, hi_inc = field_bounds(model, name)
    if value < lo or (value == lo and not lo_inc):
        value = lo if lo_inc else math.nextafter(lo, math.inf)
    if value > hi or (value == hi and not hi_inc):
        value = hi if hi_inc else math.nextafter(hi, -math.inf)
    return float(value)


_TYPES = [t.value for t in HerniationType]


def _check_type_labels(dist: Any) -> Any:
    if dist is None:
        return dist
    labels = [dist.value] if isinstance(dist, Fixed) else list(dist.weights)
    bad = [x for x in labels if x not in _TYPES]
    if bad:
        raise ValueError(f"unknown herniation type(s) {bad}; expected some of {_TYPES}")
    return dist


def _numeric_checker(model: type[BaseModel], name: str):
    def check(dist: Any) -> Any:
        if dist is not None:
            _check_numeric(dist, model, name)
        return dist

    return AfterValidator(check)


def _patient_variability_fields(*, with_type: bool = True) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, info in Patient.model_fields.items():
        if name == "herniation_type":
            if not with_type:
                continue
            kind: Any = Annotated[TypeDistribution | None, AfterValidator(_check_type_labels)]
        else:
            kind = Annotated[NumericDistribution | None, _numeric_checker(Patient, name)]
        desc = (
            f"Distribution of patient.{name} across the cohort (unset: the [patient] value for everyone)."
            if with_type
            else f"Distribution of patient.{name} for patients of this type (unset: the [cohort.patient] one)."
        )
        if info.description:
            desc += f" {info.description}"
        fields[name] = (kind, Field(None, description=desc))
    return fields


#: One optional distribution per ``[patient]`` key (built from the Patient schema, so new patient keys
#: are variable too). Each is checked against its key's bounds.
PatientVariability = create_model(
    "PatientVariability",
    __base__=_Strict,
    __doc__="Distributions of the patient random effects (keys of [patient]).",
    **_patient_variability_fields(),
)

#: Per-type distributions: the same keys as [cohort.patient] except herniation_type (which they condition on).
TypeVariability = create_model(
    "TypeVariability",
    __base__=_Strict,
    __doc__="Distributions of patient random effects for one herniation type; they replace [cohort.patient]'s.",
    **_patient_variability_fields(with_type=False),
)

RimExposureDistribution = Annotated[NumericDistribution, _numeric_checker(Patient, "rim_exposure")]


class Breach(_Strict):
    """A contained herniation (bulging, protrusion) may have a breach of the annulus that exposes it.

    Inflammatory infiltrate is found in ~17 % of protrusions (Ikeda 1996): with
    ``probability = { protrusion = 0.17 }`` a drawn protrusion is breached with that probability and its
    rim exposure becomes ``rim_exposure`` instead of the type default.
    """

    probability: dict[HerniationTypeName, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict, description="Per herniation type, the probability of a breach."
    )
    rim_exposure: float = Field(0.35, ge=0, le=1, description="Rim exposure of a breached herniation (fraction).")


class UsualCareSurgery(_Strict):
    """Usual care after the sample day: a discectomy for persistent severe leg pain.

    The tissue sample day is the day a patient enters care 6-12 weeks after onset (a trial's randomization). From
    ``from_days_after_entry`` days after it, a patient of one of ``types`` is operated on the first day on which
    leg VAS ≥ ``vas_at_least`` has held for the last ``for_days`` days (a ``discectomy`` rule, docs/trials.md).
    Patients who are operated this way leave the natural-history statistics (regression, resolution) from the
    day of surgery and stay in the intention-to-treat pain course, as in the Sciatica Trial's conservative arm
    (39 % operated in the first year, Peul 2007). A virtual trial replaces this with its arms' own protocol.
    """

    vas_at_least: float = Field(
        ..., ge=0, le=100, description="Leg VAS that counts as severe pain (calibrated: the operated fraction)."
    )
    for_days: int = Field(28, ge=1, le=3650, description="Whole days the severe pain must have lasted.")
    from_days_after_entry: int = Field(
        14, ge=0, le=3650, description="Days after entry (the sample day) before the rule is first checked."
    )
    types: list[HerniationTypeName] = Field(
        default_factory=lambda: [t for t in HerniationType if t is not HerniationType.bulging],
        description="Herniation types that are candidates for surgery (default: every herniation, not a bulge).",
    )

    def treatment(self, entry: int, days: float) -> dict[str, Any] | None:
        """The discectomy ``[[treatment]]`` of a patient entering on day ``entry`` and simulated ``days`` days
        (None when the rule would first be checked at or after the last simulated day)."""
        last = math.floor(days + 1e-9)
        start = entry + self.from_days_after_entry
        if start >= last:
            return None
        return {
            "kind": "discectomy",
            "rule": {
                "vas_at_least": float(self.vas_at_least),
                "for_days": float(self.for_days),
                "from_day": float(start),
                "until_day": float(last),
            },
        }


def _non_negative_day(dist: Any) -> Any:
    lo = dist.support()[0]
    if isinstance(dist, Fixed) and isinstance(dist.value, str):
        raise ValueError(f"expected a day number, got {dist.value!r}")
    if lo < 0:
        raise ValueError(f"can draw negative days (lower end {lo:g}); give low ≥ 0")
    hi = dist.support()[1]
    if not isinstance(dist, (Normal, LogNormal)) and hi > 3650:
        raise ValueError(f"can draw days beyond the longest run of 3650 days (upper end {hi:g})")
    return dist


class CohortSpec(_Strict):
    """A virtual cohort: how many patients, from which root seed, and how they vary."""

    patients: int = Field(100, ge=1, le=1_000_000, description="Default number of patients (CLI --patients wins).")
    seed: int | None = Field(
        None,
        ge=0,
        description="Root seed of the cohort (unset: simulation.seed). Patient k derives its seeds "
        "from SeedSequence(seed, spawn_key=(k,)), whatever N, worker count or order.",
    )
    days: float | None = Field(
        None, ge=1, le=3650, description="Simulated days per patient, a whole number (unset: simulation.days)."
    )
    sample_day: Annotated[NumericDistribution, AfterValidator(_non_negative_day)] = Field(
        default_factory=lambda: Uniform(dist="uniform", low=42.0, high=84.0),
        description="Day of the tissue sample (surgery), rounded to a whole day; default uniform 42-84 "
        "(6-12 weeks after onset, like the Sciatica Trial).",
    )
    patient: PatientVariability = Field(default_factory=PatientVariability)  # type: ignore[valid-type]
    rim_exposure_by_type: dict[HerniationTypeName, RimExposureDistribution] = Field(
        default_factory=dict,
        description="Per herniation type, a distribution of rim exposure (fraction) replacing the type default.",
    )
    breach: Breach | None = Field(None, description="Optional breach of contained herniations.")
    surgery: UsualCareSurgery | None = Field(
        None, description="Optional usual-care discectomy for persistent severe pain after the sample day."
    )
    by_type: dict[HerniationTypeName, TypeVariability] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="Per herniation type, distributions of [patient] keys that replace those of [cohort.patient] "
        "for patients of that type (e.g. [cohort.by_type.protrusion] dehydration_fraction = {...}).",
    )

    _whole_days = field_validator("days")(classmethod(lambda cls, v: whole_days(v)))

    @model_validator(mode="after")
    def _consistent(self):
        problems = []
        typed_rim = self.rim_exposure_by_type or self.breach
        if self.patient.rim_exposure is not None and typed_rim:
            problems.append(
                "give rim exposure either as patient.rim_exposure or per type (rim_exposure_by_type / breach), not both"
            )
        for htype, dists in self.by_type.items():
            if dists.rim_exposure is not None and typed_rim:
                problems.append(
                    f"by_type.{htype.value}.rim_exposure: give rim exposure per type either there or in "
                    "rim_exposure_by_type / breach, not both"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def sample_day_max(self) -> float:
        return self.sample_day.support()[1]
