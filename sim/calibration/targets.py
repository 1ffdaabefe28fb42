"""Calibration targets, literature priors and qualitative checks, and the ABC priors of the model.

Two sources of information:

* ``calibration/targets.toml`` (a copy of the science team's ``calibration_targets.toml``): every entry has an
  ``id``, a source, a DOI where known, units and a confidence tag. Entries are split by their ``use``:
  ``"calibrate"`` -> :class:`Target` (fitted to), ``"prior"`` -> parameter-range information, ``"check"`` ->
  qualitative checks.
* the scenario schema: every parameter marked ``calibrated`` carries an ``x-prior`` [lo, hi] range in its JSON
  schema extra. :func:`calibrated_parameters` walks the schema and returns them as :class:`ParameterPrior`
  (dotted path, range, unit, scale), the single source of the ranges used by the sensitivity analysis and ABC.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..scenario.params import provenance_of
from ..scenario.scenario import Scenario

__all__ = [
    "TARGETS_FILE",
    "PROJECT_TARGETS_FILE",
    "Target",
    "TargetSet",
    "TargetsError",
    "ParameterPrior",
    "load_targets",
    "calibrated_parameters",
    "parameter_prior",
    "ranged_prior",
    "parameters_citing",
]

#: The repository's copy of the targets (``DISCSIM_TARGETS`` overrides it).
TARGETS_FILE = Path(__file__).resolve().parents[2] / "calibration" / "targets.toml"
#: This project's own targets (numbers the science brief quotes that the science team's file lacks), read after
#: the default targets file; ``DISCSIM_PROJECT_TARGETS`` overrides it ("" or "none": none).
PROJECT_TARGETS_FILE = TARGETS_FILE.with_name("targets_project.toml")

_USES = ("calibrate", "prior", "check")
_KNOWN = {
    "id",
    "category",
    "quantity",
    "value",
    "lower",
    "upper",
    "sd",
    "n",
    "median",
    "time",
    "labels",
    "units",
    "use",
    "source",
    "doi",
    "url",
    "confidence",
    "notes",
}


class TargetsError(ValueError):
    """The targets file is missing or malformed."""


@dataclass(frozen=True)
class Target:
    """One entry of the targets file (any ``use``).

    ``value`` is a float, or a list for labelled vectors and time series (``labels`` / ``time`` give the index).
    ``lower``/``upper`` are the plausible range as stated in the file (CI, IQR or spread across sources);
    ``sd``/``n``/``median`` accompany time series. Unrecognised keys (``a``, ``plateau_c``, ``sample_weeks``…)
    are kept in ``extra``.
    """

    id: str
    use: str
    category: str
    quantity: str
    value: Any
    units: str
    source: str
    confidence: str
    doi: str | None = None
    url: str | None = None
    lower: Any = None
    upper: Any = None
    sd: Any = None
    n: Any = None
    median: Any = None
    time: list[float] | None = None
    labels: list[str] | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """Short citation: the DOI if known, else the URL, else the source text."""
        if self.doi:
            return f"doi:{self.doi}"
        return self.url or self.source

    def by_label(self) -> dict[str, Any]:
        """``{label: value}`` for labelled vector targets."""
        if self.labels is None:
            raise TargetsError(f"target {self.id!r} has no labels")
        return dict(zip(self.labels, self.value, strict=True))


@dataclass(frozen=True)
class TargetSet:
    """All entries of a targets file, with their origin."""

    entries: tuple[Target, ...]
    path: Path

    def __iter__(self) -> Iterator[Target]:
        return iter(self.entries)

    def __getitem__(self, target_id: str) -> Target:
        for t in self.entries:
            if t.id == target_id:
                return t
        raise KeyError(f"no target {target_id!r} in {self.path}")

    def __contains__(self, target_id: object) -> bool:
        return any(t.id == target_id for t in self.entries)

    @property
    def calibrate(self) -> tuple[Target, ...]:
        """Quantitative targets the model is fitted to (``use = "calibrate"``)."""
        return tuple(t for t in self.entries if t.use == "calibrate")

    @property
    def priors(self) -> tuple[Target, ...]:
        """Parameter values or bounds from the literature (``use = "prior"``)."""
        return tuple(t for t in self.entries if t.use == "prior")

    @property
    def checks(self) -> tuple[Target, ...]:
        """Qualitative or sign checks (``use = "check"``)."""
        return tuple(t for t in self.entries if t.use == "check")


def _target(raw: dict[str, Any], where: str) -> Target:
    missing = [k for k in ("id", "use", "value", "units", "source", "confidence") if k not in raw]
    if missing:
        raise TargetsError(f"{where}: missing {', '.join(missing)}")
    if raw["use"] not in _USES:
        raise TargetsError(f"{where} ({raw['id']}): use must be one of {_USES}, got {raw['use']!r}")
    labels = raw.get("labels")
    if labels is not None and isinstance(raw["value"], list) and len(labels) != len(raw["value"]):
        raise TargetsError(f"{where} ({raw['id']}): {len(labels)} labels for {len(raw['value'])} values")
    time = raw.get("time")
    if time is not None and len(time) != len(raw["value"]):
        raise TargetsError(f"{where} ({raw['id']}): {len(time)} times for {len(raw['value'])} values")
    return Target(
        id=raw["id"],
        use=raw["use"],
        category=raw.get("category", ""),
        quantity=raw.get("quantity", ""),
        value=raw["value"],
        units=raw["units"],
        source=raw["source"],
        confidence=raw["confidence"],
        doi=raw.get("doi"),
        url=raw.get("url"),
        lower=raw.get("lower"),
        upper=raw.get("upper"),
        sd=raw.get("sd"),
        n=raw.get("n"),
        median=raw.get("median"),
        time=time,
        labels=labels,
        notes=raw.get("notes", ""),
        extra={k: v for k, v in raw.items() if k not in _KNOWN},
    )


def load_targets(path: str | Path | None = None) -> TargetSet:
    """Read a targets file (default: ``$DISCSIM_TARGETS`` or the repository's ``calibration/targets.toml``).

    Raises
    ------
    TargetsError
        The file is missing, not TOML, or an entry lacks a required key.
    """
    default = path is None
    path = Path(path or os.environ.get("DISCSIM_TARGETS") or TARGETS_FILE)
    entries = _read_targets(path)
    if default:
        extra = os.environ.get("DISCSIM_PROJECT_TARGETS", str(PROJECT_TARGETS_FILE))
        if extra.strip() and extra.strip().lower() != "none":
            entries += _read_targets(Path(extra))
    ids = [t.id for t in entries]
    if dupes := sorted({i for i in ids if ids.count(i) > 1}):
        raise TargetsError(f"{path}: duplicate target ids {dupes}")
    return TargetSet(entries, path)


def _read_targets(path: Path) -> tuple[Target, ...]:
    if not path.is_file():
        raise TargetsError(f"{path}: targets file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TargetsError(f"{path}: not valid TOML: {exc}") from None
    return tuple(_target(raw, f"{path}: target #{i + 1}") for i, raw in enumerate(data.get("target", [])))


# ---------------------------------------------------------------------------------------------
# model parameters with a calibration range
# ---------------------------------------------------------------------------------------------

#: A range spanning at least this ratio (with lo > 0) is sampled uniformly in log10 space.
LOG_RATIO = 100.0


@dataclass(frozen=True)
class ParameterPrior:
    """A calibrated model parameter and its prior range (from the schema's ``x-prior``).

    ``scale`` is ``"log10"`` when ``lo > 0`` and ``hi / lo >= 100`` (the range spans orders of magnitude, so a
    uniform prior on the value would put almost all mass in the top decade), else ``"linear"``. ABC and SALib
    sample uniformly on ``[lo, hi]`` in that scale.
    """

    path: str
    lo: float
    hi: float
    unit: str
    default: Any
    description: str
    note: str | None = None
    scale: str = "linear"

    @property
    def bounds(self) -> tuple[float, float]:
        """Bounds in the sampling scale."""
        if self.scale == "log10":
            return math.log10(self.lo), math.log10(self.hi)
        return self.lo, self.hi

    def to_value(self, x: float) -> float:
        """Sampling-scale coordinate -> parameter value."""
        return float(10.0**x) if self.scale == "log10" else float(x)

    def to_coord(self, value: float) -> float:
        """Parameter value -> sampling-scale coordinate."""
        return math.log10(value) if self.scale == "log10" else float(value)


def _walk(cls: type[BaseModel], prefix: str) -> Iterator[tuple[str, type[BaseModel], str]]:
    for name, info in cls.model_fields.items():
        ann = info.annotation
        path = f"{prefix}{name}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _walk(ann, f"{path}.")
        else:
            yield path, cls, name


def calibrated_parameters(scenario_cls: type[BaseModel] = Scenario) -> dict[str, ParameterPrior]:
    """Every parameter marked ``calibrated`` in the schema, by dotted path, with its ``x-prior`` range."""
    out = {}
    for path, cls, name in _walk(scenario_cls, ""):
        prov = provenance_of(cls, name)
        if prov.get("status") != "calibrated" or "prior" not in prov:
            continue
        lo, hi = (float(v) for v in prov["prior"])
        info = cls.model_fields[name]
        scale = "log10" if lo > 0 and hi / lo >= LOG_RATIO else "linear"
        out[path] = ParameterPrior(
            path=path,
            lo=lo,
            hi=hi,
            unit=prov.get("unit", ""),
            default=info.get_default(call_default_factory=True),
            description=info.description or "",
            note=prov.get("source"),
            scale=scale,
        )
    return out


def ranged_prior(path: str, lo: float, hi: float, *, default: Any = None, note: str | None = None) -> ParameterPrior:
    """A :class:`ParameterPrior` with an explicit range (a cohort spread, which has no schema prior, or a range
    other than the schema's); log10-scaled by the same rule as the schema's priors."""
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"{path}: the range must be two finite numbers LO < HI, got {lo:g}:{hi:g}")
    scale = "log10" if lo > 0 and hi / lo >= 100 else "linear"
    return ParameterPrior(path, lo, hi, "", default, "", note or "explicit range", scale)


def parameter_prior(path: str) -> ParameterPrior:
    """The :class:`ParameterPrior` of one dotted path; a clear error when it is not a calibrated parameter."""
    table = calibrated_parameters()
    if path not in table:
        close = [p for p in table if p.rsplit(".", 1)[-1] == path.rsplit(".", 1)[-1]]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(f"{path!r} is not a calibrated parameter with an x-prior range{hint}")
    return table[path]


def parameters_citing(target_id: str, scenario_cls: type[BaseModel] = Scenario) -> list[str]:
    """Dotted paths of parameters whose ``x-source`` names ``target_id`` (links prior entries to the schema)."""
    hits = []
    for path, cls, name in _walk(scenario_cls, ""):
        if target_id in (provenance_of(cls, name).get("source") or ""):
            hits.append(path)
    return hits
