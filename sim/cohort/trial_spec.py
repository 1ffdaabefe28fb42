"""Trial files: a virtual randomized trial on a cohort scenario's patients (``discsim trial TRIAL.toml``).

A trial file names a population (a cohort scenario), when and who enters (the entry window after onset and the
eligibility rules checked at entry), the arms (each a list of treatments, days relative to entry), crossover
rules, visits and follow-up, and how recovery, response and subgroups are defined. See docs/trials.md::

    name = "peul2007"
    reference = "conservative"              # the arm every other arm is compared with (default: the first)
    follow_up_days = 365                    # after entry
    visits_days = [14, 28, 56, 84, 182, 266, 365]

    [population]
    scenario = "../cohort_default.toml"     # relative to this file; must have a [cohort] section
    patients = 400                          # screened at most
    enrol = 200                             # the first 200 eligible (in patient order) enter

    [entry]
    window_days = [42, 84]                  # entry day after onset, uniform whole days, per patient
    vas_at_least = 60                       # leg VAS at entry
    [[entry.require]]
    variable = "patient.herniation_type"
    one_of = ["protrusion", "subligamentous_extrusion", "transligamentous_extrusion", "sequestration"]

    [[arm]]
    name = "surgery"
    treatment = [{ kind = "discectomy", start_day = "entry+15" }]
    [[arm]]
    name = "conservative"
    [[arm.crossover]]
    vas_at_least = 75
    for_days = 14
    from_day = "entry+14"
    until_day = "entry+182"

Days written ``"entry"`` or ``"entry+N"`` are resolved per patient; a plain number is a day after onset and must
fall after the last possible entry day (a treatment cannot start before some patients enter).

Validation happens here, before anything runs: the schema (strict, every problem with its path and line), the
population file, unknown treatment kinds, schedules outside the follow-up, arms with different populations,
variables that do not exist. Eligibility that selects nobody can only be seen on the screening runs
(:mod:`sim.cohort.trial`).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..limits import check_count
from ..model import OBSERVABLES
from ..scenario import Problem, Scenario, ScenarioError, load_scenario, validate_model
from ..scenario.loader import _line_for, _line_index, parse_toml, read_input_text
from ..scenario.schema import Patient

if TYPE_CHECKING:
    from .posterior import PosteriorDraws

__all__ = [
    "TrialFile",
    "Trial",
    "load_trial",
    "parse_day",
    "entry_day",
    "ENTRY_STREAM",
    "PATIENT_VARIABLES",
    "variable_column",
]

#: Spawn-key tag of a patient's entry-day stream: ``SeedSequence(root, spawn_key=(k, ENTRY_STREAM))``, a sibling
#: of the patient's own children 0 (random effects) and 1 (simulation seed), which it leaves untouched.
ENTRY_STREAM = zlib.crc32(b"trial.entry_day")

#: Patient-level variables a rule or subgroup may name as ``patient.<name>``.
PATIENT_VARIABLES: tuple[str, ...] = (*Patient.model_fields, "breach")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DAY = re.compile(r"^\s*entry\s*(?:\+\s*(\d+(?:\.\d+)?)\s*)?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False)


def parse_day(value: float | int | str) -> tuple[str, float]:
    """``("entry", N)`` for ``"entry"`` / ``"entry+N"``, ``("onset", d)`` for a number. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"expected a day: a number or 'entry' / 'entry+N' (got {value!r})")
    if isinstance(value, (int, float)):
        return "onset", float(value)
    m = _DAY.match(value)
    if not m:
        raise ValueError(f"expected a day: a number (after onset) or 'entry' / 'entry+N' with N ≥ 0 (got {value!r})")
    return "entry", float(m.group(1) or 0.0)


def _day_field(v: Any) -> Any:
    kind, d = parse_day(v)
    if d != int(d) or d < 0 or d > 3650:
        raise ValueError(f"a day must be a whole number of days in 0-3650 (got {v!r})")
    return v


DayRef = float | int | str


# ---------------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------------


class Population(_Strict):
    """Who is screened: the patients of a cohort scenario."""

    scenario: str = Field(description="Cohort scenario file (with [cohort]), relative to the trial file.")
    patients: int = Field(100, ge=1, le=100_000, description="Patients screened (at most), patient 0, 1, 2, …")
    enrol: int | None = Field(
        None, ge=1, le=100_000, description="Enrol the first `enrol` eligible patients (in patient order)."
    )
    seed: int | None = Field(None, ge=0, description="Root seed (default: the scenario's cohort.seed).")

    @model_validator(mode="after")
    def _enrol_le_patients(self):
        if self.enrol is not None and self.enrol > self.patients:
            raise ValueError(f"enrol ({self.enrol}) is more than the patients screened ({self.patients})")
        return self


class Requirement(_Strict):
    """One eligibility rule: a variable at entry within bounds, or one of a set of values."""

    variable: str = Field(
        description="'entry.<timeseries column>' (its value on the entry day) or 'patient.<variable>'.",
        max_length=100,
    )
    at_least: float | None = None
    at_most: float | None = None
    one_of: list[str | bool | float] | None = Field(None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_kind(self):
        bounds = self.at_least is not None or self.at_most is not None
        if bounds == (self.one_of is not None):
            raise ValueError("give at_least and/or at_most, or one_of")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ValueError(f"at_least ({self.at_least:g}) is above at_most ({self.at_most:g})")
        return self


class Entry(_Strict):
    """Entry (randomization) day and eligibility at entry."""

    window_days: list[int] = Field(
        [42, 84], min_length=2, max_length=2, description="[first, last] entry day after onset (6-12 weeks)."
    )
    vas_at_least: float | None = Field(None, ge=0, le=100, description="Leg VAS at entry at least this.")
    vas_at_most: float | None = Field(None, ge=0, le=100, description="Leg VAS at entry at most this.")
    require: list[Requirement] = Field(default_factory=list, max_length=50)

    @field_validator("window_days")
    @classmethod
    def _window(cls, v: list[int]) -> list[int]:
        if not 1 <= v[0] <= v[1] <= 3000:
            raise ValueError(f"expected [first, last] with 1 ≤ first ≤ last ≤ 3000 (got {v})")
        return v

    def rules(self) -> list[Requirement]:
        """Every rule, the VAS shorthands first."""
        out = []
        if self.vas_at_least is not None or self.vas_at_most is not None:
            out.append(Requirement(variable="entry.pain_vas", at_least=self.vas_at_least, at_most=self.vas_at_most))
        return out + list(self.require)


class ArmRule(_Strict):
    """A discectomy rule in an arm: operate when leg VAS ≥ vas_at_least has held for for_days days."""

    vas_at_least: float = Field(ge=0, le=100)
    for_days: int = Field(ge=1, le=3650)
    from_day: DayRef = "entry"
    until_day: DayRef | None = Field(None, description="Default: the end of follow-up.")

    _days = field_validator("from_day", "until_day")(classmethod(lambda cls, v: v if v is None else _day_field(v)))


class Crossover(ArmRule):
    """A crossover to surgery: a discectomy rule, with the protocol's reason."""

    reason: str = Field("", max_length=500)


class ArmTreatment(_Strict):
    """A ``[[treatment]]`` entry of a scenario (sim.scenario.schema.Treatment) with days relative to entry."""

    kind: str = Field(max_length=64)
    start_day: DayRef | None = None
    route: str | None = None
    doses: int = Field(1, ge=1, le=1000)
    interval_days: float | None = Field(None, gt=0, le=3650)
    dose_mg: float | None = Field(None, gt=0, le=1e5)
    rule: ArmRule | None = None

    _start = field_validator("start_day")(classmethod(lambda cls, v: v if v is None else _day_field(v)))

    @field_validator("kind")
    @classmethod
    def _known(cls, v: str) -> str:
        from ..model.treatments import TREATMENTS

        if v not in TREATMENTS:
            raise ValueError(f"unknown treatment kind {v!r}; valid: {', '.join(TREATMENTS)}")
        return v


class Arm(_Strict):
    name: str = Field(max_length=64)
    description: str = Field("", max_length=2000)
    population: str | None = Field(
        None, description="Must be the trial's population (arms share the same patients); for explicitness."
    )
    treatment: list[ArmTreatment] = Field(default_factory=list, max_length=100)
    crossover: list[Crossover] = Field(default_factory=list, max_length=20)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"arm names are letters, digits, '_', '-', '.' (got {v!r})")
        return v


class Criterion(_Strict):
    """A pain criterion: exactly one of leg VAS ≤ x, a drop from entry ≥ x points, or a drop ≥ a fraction."""

    vas_at_most: float | None = Field(None, ge=0, le=100)
    drop_at_least: float | None = Field(None, gt=0, le=100)
    drop_fraction_at_least: float | None = Field(None, gt=0, le=1)

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in ("vas_at_most", "drop_at_least", "drop_fraction_at_least") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of vas_at_most, drop_at_least, drop_fraction_at_least (got {given or 'none'})"
            )
        return self

    def holds(self, vas: np.ndarray, vas_entry: float) -> np.ndarray:
        if self.vas_at_most is not None:
            return vas <= self.vas_at_most
        if self.drop_at_least is not None:
            return vas_entry - vas >= self.drop_at_least
        if not vas_entry > 0:
            return np.zeros_like(vas, dtype=bool)
        return (vas_entry - vas) / vas_entry >= self.drop_fraction_at_least

    def describe(self) -> str:
        if self.vas_at_most is not None:
            return f"leg VAS ≤ {self.vas_at_most:g}"
        if self.drop_at_least is not None:
            return f"leg VAS ≥ {self.drop_at_least:g} points below entry"
        return f"leg VAS ≥ {100 * self.drop_fraction_at_least:g} % below entry"


class Recovery(Criterion):
    """Time to recovery: the first day after entry on which the criterion holds."""

    assessed: Literal["daily", "visits"] = Field("daily", description="Every day, or at the visits only.")


class Responder(Criterion):
    """A responder meets the criterion at ``visit_day`` (days after entry)."""

    visit_day: int = Field(182, ge=1, le=3650)


class Subgroup(_Strict):
    variable: str = Field(max_length=100)
    split: Literal["category", "median", "tertiles"] | None = None
    cuts: list[float] | None = Field(None, min_length=1, max_length=20)

    @model_validator(mode="after")
    def _how(self):
        if self.split is not None and self.cuts is not None:
            raise ValueError("give split or cuts, not both")
        if self.cuts is not None and sorted(self.cuts) != self.cuts:
            raise ValueError(f"cuts must be increasing (got {self.cuts})")
        return self


class Windows(_Strict):
    """Effect windows, [first, last] day after entry (inclusive): mean daily leg VAS over the window."""

    short: list[int] = Field([1, 91], min_length=2, max_length=2, description="≤ 3 months")
    medium: list[int] = Field([92, 182], min_length=2, max_length=2, description="3-6 months")
    long: list[int] = Field([274, 365], min_length=2, max_length=2, description="≈ 1 year (9-12 months)")

    @model_validator(mode="after")
    def _ordered(self):
        for name in ("short", "medium", "long"):
            a, b = getattr(self, name)
            if not 0 <= a <= b:
                raise ValueError(f"{name}: expected [first, last] with 0 ≤ first ≤ last (got {[a, b]})")
        return self

    def items(self) -> list[tuple[str, list[int]]]:
        return [("short", self.short), ("medium", self.medium), ("long", self.long)]


class Published(_Strict):
    """A published result shown beside the simulated one (never used to tune anything)."""

    measure: Literal[
        "median_recovery_weeks",
        "recovered_fraction_1y",
        "hazard_ratio_recovery",
        "surgery_fraction",
        "vas_difference",
        "vas_mean",
        "vas_window_difference",
    ]
    arm: str
    visit_day: int | None = Field(None, ge=0, le=3650, description="For vas_mean / vas_difference.")
    window: Literal["short", "medium", "long"] | None = Field(None, description="For vas_window_difference.")
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    source: str = Field(max_length=1000)


class TrialFile(_Strict):
    """A trial file."""

    name: str = Field("trial", max_length=200)
    description: str = Field("", max_length=5000)
    population: Population | None = Field(
        None, description="Default for every arm (required unless each arm names one)."
    )
    entry: Entry = Field(default_factory=Entry)
    arm: list[Arm] = Field(min_length=2, max_length=20)
    reference: str | None = Field(None, description="Reference arm (default: the first).")
    follow_up_days: int = Field(365, ge=1, le=3650, description="Days simulated after entry.")
    visits_days: list[int] = Field(
        [14, 28, 56, 84, 182, 266, 365], min_length=1, max_length=200, description="Visit days after entry."
    )
    recovery: Recovery = Field(default_factory=lambda: Recovery(vas_at_most=17.5))
    responder: Responder = Field(default_factory=lambda: Responder(drop_fraction_at_least=0.3))
    subgroup: list[Subgroup] = Field(default_factory=list, max_length=20)
    windows: Windows = Field(default_factory=Windows)
    published: list[Published] = Field(default_factory=list, max_length=100)

    @field_validator("visits_days")
    @classmethod
    def _visits(cls, v: list[int]) -> list[int]:
        if any(d < 1 for d in v) or sorted(set(v)) != v:
            raise ValueError(f"visit days must be increasing whole days ≥ 1 after entry (got {v})")
        return v


# ---------------------------------------------------------------------------------------------
# the validated trial
# ---------------------------------------------------------------------------------------------


@dataclass
class Trial:
    """A validated trial: the file, its population scenario and the resolved choices.

    ``posterior`` (optional, see :meth:`with_posterior`): parameter uncertainty; patient ``k`` is then drawn under
    its own posterior draw (:func:`sim.cohort.posterior.draw_posterior_patient` with the trial's root seed), the
    same in screening and in every arm (:func:`sim.cohort.trial.patient_draw` is the one place that applies it).
    """

    spec: TrialFile
    source: str
    population: Scenario
    population_path: Path
    root_seed: int
    reference: str
    posterior: PosteriorDraws | None = None
    #: draw -> population scenario with that draw applied (validated once per draw)
    _draw_scenarios: dict[int, Scenario] = field(default_factory=dict, repr=False, compare=False)

    def with_posterior(self, posterior: PosteriorDraws | None) -> Trial:
        """This trial with ``posterior`` (checked against the population: :class:`PosteriorError`), or without one.

        The arms replace the population's usual-care surgery rule (:func:`load_trial`), so the draws' values of it
        (``cohort.surgery.*``, which a calibration fits) have nothing to set: they are dropped and listed in the
        kept draws' ``ignored``."""
        if posterior is not None:
            surgery = [c for c in posterior.columns if c.startswith("cohort.surgery.")]
            if surgery:
                posterior = posterior.without(surgery)
            posterior.check(self.population)
        return replace(self, posterior=posterior, _draw_scenarios={})

    def posterior_draw(self, k: int) -> int | None:
        """Patient ``k``'s posterior draw (None without a posterior)."""
        if self.posterior is None:
            return None
        from .posterior import posterior_draw_index

        return posterior_draw_index(self.root_seed, k, self.posterior.n_draws)

    @property
    def arm_names(self) -> list[str]:
        return [a.name for a in self.spec.arm]

    @property
    def window(self) -> tuple[int, int]:
        lo, hi = self.spec.entry.window_days
        return int(lo), int(hi)

    def days_for(self, entry: int) -> float:
        """Simulated days of a patient entering on day ``entry``."""
        return float(entry + self.spec.follow_up_days)

    def entry_day(self, k: int) -> int:
        return entry_day(self.root_seed, k, self.window)

    def arm_treatments(self, arm: Arm, entry: int) -> list[dict[str, Any]]:
        """The arm's ``[[treatment]]`` entries (scenario form) for a patient entering on ``entry``."""
        end = entry + self.spec.follow_up_days
        out = []
        for t in arm.treatment:
            d = t.model_dump(exclude_none=True, exclude={"rule"})
            if t.start_day is not None:
                d["start_day"] = _resolve(t.start_day, entry)
            if t.rule is not None:
                d["rule"] = _rule(t.rule, entry, end)
            out.append(d)
        for c in arm.crossover:
            out.append({"kind": "discectomy", "rule": _rule(c, entry, end)})
        return out


def _resolve(value: DayRef, entry: int) -> float:
    kind, d = parse_day(value)
    return float(entry + d) if kind == "entry" else float(d)


def _rule(r: ArmRule, entry: int, end: int) -> dict[str, Any]:
    # the rule is checked on days the simulation observes: at most the last simulated day
    until = _resolve(r.until_day, entry) if r.until_day is not None else float(end)
    return {
        "vas_at_least": float(r.vas_at_least),
        "for_days": float(r.for_days),
        "from_day": _resolve(r.from_day, entry),
        "until_day": min(until, float(end)),
    }


def entry_day(root: int, k: int, window: tuple[int, int]) -> int:
    """Entry day of patient ``k``: uniform whole day in ``window``, from the patient's own entry stream."""
    rng = np.random.default_rng(np.random.SeedSequence(root, spawn_key=(k, ENTRY_STREAM)))
    return int(rng.integers(window[0], window[1] + 1))


def variable_column(variable: str) -> str:
    """Column of a rule/subgroup variable in the trial's tables: ``entry.x`` → ``entry_x``, ``patient.x`` → ``x``."""
    scope, _, name = variable.partition(".")
    return f"entry_{name}" if scope == "entry" else name


def _variable_problem(variable: str) -> str | None:
    scope, dot, name = variable.partition(".")
    if not dot or scope not in ("entry", "patient"):
        return (
            f"unknown variable {variable!r}: write 'entry.<timeseries column>' (e.g. entry.pain_vas, "
            "entry.m1_fraction) or 'patient.<variable>' (e.g. patient.herniation_type)"
        )
    known = [c for c in OBSERVABLES if c != "day"] if scope == "entry" else list(PATIENT_VARIABLES)
    if name not in known:
        return f"unknown variable {variable!r}; {scope}.* variables: {', '.join(known)}"
    return None


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------


def _arm_lines(text: str) -> list[int]:
    """Line of each ``[[arm]]`` header, in order."""
    return [i for i, raw in enumerate(text.splitlines(), start=1) if raw.strip().replace(" ", "") == "[[arm]]"]


class _Where:
    """Lines for dotted paths; ``arm.<i>…`` resolves to the i-th [[arm]] header."""

    def __init__(self, text: str):
        self.index = _line_index(text)
        self.arms = _arm_lines(text)

    def line(self, path: str) -> int | None:
        parts = path.split(".")
        if len(parts) > 1 and parts[0] == "arm" and parts[1].isdigit() and int(parts[1]) < len(self.arms):
            return self.arms[int(parts[1])]
        return _line_for(path, self.index)

    def problem(self, path: str, message: str) -> Problem:
        return Problem(path, message, self.line(path))


def _resolve_path(base: Path, ref: str) -> Path | None:
    if len(ref) > 1000 or "\0" in ref:
        return None
    p = Path(ref)
    try:
        return (p if p.is_absolute() else base / p).resolve()
    except (OSError, RuntimeError):  # a symlink loop, a name too long for the file system
        return None


def load_trial(path: str | Path) -> Trial:
    """Read and validate a trial file and its population, everything that can be checked before simulating.

    Raises
    ------
    ScenarioError
        Listing every problem with its dotted path and line: schema errors, a population file that is
        missing or has no [cohort], arms with different populations, unknown treatment kinds or variables,
        treatments before entry or after the end of follow-up.
    """
    path = Path(path)
    source = str(path)
    text = read_input_text(path)
    data = parse_toml(text, source)
    where = _Where(text)
    try:
        spec = validate_model(TrialFile, data, source, text)
    except ScenarioError as exc:
        raise ScenarioError(
            source, [Problem(p.path, p.message, where.line(p.path) or p.line) for p in exc.problems]
        ) from None
    problems: list[Problem] = []

    # one population for every arm
    pop_refs = {}
    if spec.population is not None:
        pop_refs["population.scenario"] = spec.population.scenario
    for i, arm in enumerate(spec.arm):
        if arm.population is not None:
            pop_refs[f"arm.{i}.population"] = arm.population
    if not pop_refs:
        problems.append(where.problem("population", "missing: the trial needs [population] scenario = <cohort file>"))
    resolved = {k: _resolve_path(path.parent, v) for k, v in pop_refs.items()}
    first_key = next(iter(resolved), None)
    for key, p in resolved.items():
        if p is None:
            problems.append(where.problem(key, "not a usable file path"))
        elif p != resolved[first_key]:
            problems.append(
                where.problem(
                    key,
                    f"population {pop_refs[key]!r} differs from {pop_refs[first_key]!r} ({first_key}): every arm "
                    "of a trial gets the same patients (common random numbers), so arms cannot have different "
                    "populations",
                )
            )
    if spec.population is None and pop_refs:
        problems.append(
            where.problem(
                "population",
                "missing: arms name a population but [population] (patients screened, seed) is not given",
            )
        )

    # names
    names = [a.name for a in spec.arm]
    for i, n in enumerate(names):
        if names.index(n) != i:
            problems.append(where.problem(f"arm.{i}.name", f"arm name {n!r} is used twice"))
    reference = spec.reference if spec.reference is not None else names[0]
    if reference not in names:
        problems.append(where.problem("reference", f"no arm is named {reference!r}; arms: {', '.join(names)}"))
    for i, pub in enumerate(spec.published):
        if pub.arm not in names:
            problems.append(where.problem(f"published.{i}.arm", f"no arm is named {pub.arm!r}"))

    # variables
    for i, r in enumerate(spec.entry.require):
        if (msg := _variable_problem(r.variable)) is not None:
            problems.append(where.problem(f"entry.require.{i}.variable", msg))
    for i, s in enumerate(spec.subgroup):
        if (msg := _variable_problem(s.variable)) is not None:
            problems.append(where.problem(f"subgroup.{i}.variable", msg))

    # schedule: visits and windows inside the follow-up, treatments between entry and its end
    fu = spec.follow_up_days
    lo, hi = spec.entry.window_days
    if hi + fu > 3650:
        problems.append(
            where.problem(
                "follow_up_days",
                f"the last entry day ({hi}) + follow_up_days ({fu}) is {hi + fu} days, above the 3650 a run can last",
            )
        )
    late = [d for d in spec.visits_days if d > fu]
    if late:
        problems.append(where.problem("visits_days", f"visits {late} are after the end of follow-up ({fu} days)"))
    for name, (a, b) in spec.windows.items():
        if b > fu:
            problems.append(where.problem(f"windows.{name}", f"ends on day {b}, after the follow-up ({fu} days)"))
    if spec.responder.visit_day > fu:
        problems.append(
            where.problem("responder.visit_day", f"day {spec.responder.visit_day} is after the follow-up ({fu} days)")
        )
    for i, arm in enumerate(spec.arm):
        problems += _schedule_problems(arm, i, lo, hi, fu, where)

    population = None
    key = first_key
    pop_path = resolved.get(key) if key else None
    if pop_path is not None and not problems:
        try:
            found = pop_path.is_file()
        except OSError:
            found = False
        if not found:
            problems.append(
                where.problem(key, f"population scenario {pop_refs[key]!r} not found (looked for {pop_path})")
            )
        else:
            population = load_scenario(pop_path)  # its own problems are reported against that file
            if population.cohort is not None and population.cohort.surgery is not None:
                # the trial's arms are the care: the population's usual-care surgery rule gives way to them
                population = population.model_copy(
                    update={"cohort": population.cohort.model_copy(update={"surgery": None})}
                )
            if population.cohort is None:
                problems.append(
                    where.problem(key, f"{pop_refs[key]!r} has no [cohort] section: a trial's population is a cohort")
                )
            if population.treatment:
                problems.append(
                    where.problem(
                        key,
                        f"{pop_refs[key]!r} has [[treatment]] entries: give treatments in the arms (a population is "
                        "the untreated course)",
                    )
                )
    if not problems:
        problems += _engine_problems(spec, population, where)  # type: ignore[arg-type]
    if problems:
        raise ScenarioError(source, problems)
    assert population is not None and pop_path is not None and spec.population is not None
    spec_pop = spec.population
    check_count(
        "DISCSIM_MAX_RUNS",
        spec_pop.patients * (1 + len(spec.arm)),
        "runs (screened patients × (1 + arms))",
        "screen fewer patients",
    )
    root = (
        int(spec_pop.seed)
        if spec_pop.seed is not None
        else int(population.cohort.seed if population.cohort.seed is not None else population.simulation.seed)
    )
    return Trial(spec, source, population, pop_path, root, reference)


def _schedule_problems(arm: Arm, i: int, lo: int, hi: int, fu: int, where: _Where) -> list[Problem]:
    """Treatments that start before some patient's entry or end after some patient's follow-up."""
    from ..model.treatments import TREATMENTS

    out = []

    def check(path: str, value: DayRef, last_offset: float = 0.0) -> None:
        kind, d = parse_day(value)
        if kind == "onset":
            if d < hi:
                out.append(
                    where.problem(
                        path,
                        f"day {d:g} after onset is before the entry of patients who enter as late as day {hi}: "
                        "give it relative to entry ('entry' or 'entry+N')",
                    )
                )
            elif d + last_offset >= lo + fu:
                out.append(
                    where.problem(
                        path,
                        f"day {d + last_offset:g} after onset is at or after the end of follow-up of patients who "
                        f"enter on day {lo} (entry + follow_up_days = {lo + fu})",
                    )
                )
        elif d + last_offset >= fu:
            out.append(
                where.problem(
                    path,
                    f"{'the last dose' if last_offset else 'it'} falls on entry+{d + last_offset:g}, at or after the "
                    f"end of follow-up (follow_up_days = {fu})",
                )
            )

    for j, t in enumerate(arm.treatment):
        base = f"arm.{i}.treatment.{j}"
        if t.start_day is not None:
            offset = 0.0
            kind = TREATMENTS[t.kind]
            if kind.routes:
                route = t.route if t.route in kind.routes else kind.default_route
                interval = t.interval_days if t.interval_days is not None else kind.routes[route].interval_days.value
                offset = (t.doses - 1) * interval
            check(f"{base}.start_day", t.start_day, offset)
        if t.rule is not None:
            check(f"{base}.rule.from_day", t.rule.from_day)
    for j, c in enumerate(arm.crossover):
        check(f"arm.{i}.crossover.{j}.from_day", c.from_day)
        if c.until_day is not None and parse_day(c.until_day)[0] == "onset" and parse_day(c.until_day)[1] < hi:
            check(f"arm.{i}.crossover.{j}.until_day", c.until_day)
    return out


def _engine_problems(spec: TrialFile, population: Scenario, where: _Where) -> list[Problem]:
    """Every arm's treatments as the engine validates them, for the earliest and the latest entry day."""
    from ..scenario import with_overrides

    out: list[Problem] = []
    lo, hi = spec.entry.window_days
    probe = Trial(spec, "", population, Path("."), 0, spec.arm[0].name)
    for i, arm in enumerate(spec.arm):
        seen: set[str] = set()
        for entry in sorted({lo, hi}):
            try:
                with_overrides(
                    population,
                    {
                        "treatment": probe.arm_treatments(arm, entry),
                        "simulation.days": probe.days_for(entry),
                        "cohort": None,
                    },
                )
            except ScenarioError as exc:
                for p in exc.problems:
                    msg = p.message
                    m = re.match(r"treatment\.(\d+)", p.path)
                    path = f"arm.{i}.treatment" if m is None else _arm_entry_path(arm, i, int(m.group(1)))
                    text = f"{msg} (for a patient entering on day {entry})" if lo != hi else msg
                    if msg not in seen:
                        seen.add(msg)
                        out.append(where.problem(path, text))
    return out


def _arm_entry_path(arm: Arm, i: int, j: int) -> str:
    n = len(arm.treatment)
    return f"arm.{i}.treatment.{j}" if j < n else f"arm.{i}.crossover.{j - n}"
