"""The definitions and defaults of the calibration runs, in one module light enough for the command line to read
its option defaults from (no scipy, no model imports).

``StatsConfig``          definitions and thresholds of the summary statistics (:mod:`sim.calibration.stats`)
``SensitivitySettings``  defaults of a sensitivity run (:func:`sim.calibration.sensitivity.run_sensitivity`)
``AbcSettings``          everything that defines an ABC-SMC run (:func:`sim.calibration.abc.run_abc`)

Each is re-exported by the module that uses it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "BODY_MASS_KG",
    "allometric_time_scale",
    "TRIAL_VISITS_WEEKS",
    "DEFAULT_PARAMETERS",
    "POINTS",
    "StatsConfig",
    "SensitivitySettings",
    "AbcSettings",
]

#: Body masses for the rodent-to-human time mapping (kg): an adult human, a laboratory mouse (C57BL/6, ~25 g) and
#: an adult rat of the size used in caudal disc-puncture models (Sprague-Dawley, ~300 g).
BODY_MASS_KG: dict[str, float] = {"human": 70.0, "mouse": 0.025, "rat": 0.3}
#: Exponent of physiological time in body mass: durations of physiological events (turnover, healing, lifespan)
#: scale as M^(1/4) across mammals (Lindstedt & Calder 1981, Q Rev Biol 56:1; West, Brown & Enquist 1997,
#: Science 276:122).
ALLOMETRIC_EXPONENT = 0.25


def allometric_time_scale(species: str, exponent: float = ALLOMETRIC_EXPONENT) -> float:
    """Human days per day of ``species`` by quarter-power scaling of physiological time:
    (M_human / M_species)^(1/4): mouse 7.3, rat 3.9."""
    return (BODY_MASS_KG["human"] / BODY_MASS_KG[species]) ** exponent


#: Sciatica Trial visits, weeks after randomization (``sciatica_trial_leg_vas_itt``).
TRIAL_VISITS_WEEKS: tuple[float, ...] = (0.0, 2.0, 4.0, 8.0, 12.0, 26.0, 38.0, 52.0, 78.0, 104.0)

#: A default subset of influential calibrated parameters: recruitment, polarization, resorption, pain.
DEFAULT_PARAMETERS: tuple[str, ...] = (
    "parameters.recruitment.monocyte_influx_per_site_per_day",
    "parameters.polarization.m0_to_m1_per_day",
    "parameters.polarization.m1_to_m2_per_day",
    "parameters.lifespan.m2_days",
    "parameters.phagocytosis.volume_um3_per_h",
    "parameters.tissue.mmp_degradation_per_day",
    "parameters.disc_cells.tnf_pg_per_cell_h",
    "parameters.disc_cells.viability_half_life_days",
    "parameters.pain.compression_weight",
    "parameters.pain.sensitization_per_day",
    "parameters.pain.resolution_per_day",
    "parameters.pain.il10_resolution_gain",
    "parameters.disc_cells.macrophage_kill_per_day",
    "parameters.pain.il1b_weight",
)

#: point estimates ``discsim calibrate`` can write to the calibrated file (the first is the default)
POINTS = ("mean", "best")


@dataclass(frozen=True)
class StatsConfig:
    """Definitions and thresholds of the summary statistics (see docs/calibration.md)."""

    #: volume reduction counted as radiological regression (Bozzao 1992 grading: < 30 % = "no/minor change")
    regression_threshold: float = 0.30
    #: thresholds at which the regression fraction is also reported, so that a fraction sitting on its cut-off
    #: shows (the ``regression_ge<NN>`` columns of the resorption table)
    regression_sensitivity: tuple[float, ...] = (0.25, 0.30, 0.50)
    #: volume reduction counted as complete resolution (no herniation left at MRI resolution)
    resolution_threshold: float = 0.90
    #: day of the regression outcome (Chiu 2015 pooled studies followed patients mostly ~1 year)
    outcome_day: float = 365.0
    #: CD68+ density at the sample above which an inflammatory infiltrate counts as present (cells/cm²)
    infiltrate_threshold_per_cm2: float = 10.0
    #: CD68 density category edges (Djuric 2019/2020: mild 0-10, moderate 10-100, considerable > 100 /cm²)
    cd68_edges: tuple[float, float] = (10.0, 100.0)
    #: trial entry: "sample_day" (each patient's sampling day) or a fixed day after onset
    entry: str | float = "sample_day"
    #: visits, weeks after entry
    visits_weeks: tuple[float, ...] = TRIAL_VISITS_WEEKS
    #: herniation types of the trial's patients ("a distinct disc herniation" on MRI: not a bulge); the pain course
    #: and the crossover statistics use these patients only
    trial_types: tuple[str, ...] = (
        "protrusion",
        "subligamentous_extrusion",
        "transligamentous_extrusion",
        "sequestration",
    )
    #: weeks after entry within which a surgery counts as a crossover (the trial's first year)
    crossover_weeks: float = 52.0
    #: leg-VAS success cut-off (Haugen 2011)
    vas_cutoff: float = 17.5
    #: |ρ| below which a null (sign 0) association counts as reproduced even when the CI excludes 0
    null_rho: float = 0.1
    n_boot: int = 2000
    seed: int = 20200701
    confidence: float = 0.95
    #: smoothing window (days, centred rolling mean) before locating macrophage peaks
    peak_smoothing_days: int = 7
    #: model days per rodent day for the kinetics targets (BRIEF §4: rodent time courses need a mapping). None: the
    #: allometric mapping of each target's species (:func:`allometric_time_scale`; mouse 7.3, rat 3.9); a number
    #: applies to every species
    rodent_time_scale: float | None = None
    #: patient-bootstrap resamples for the CI of the exponential pain-course fit (0: no CI)
    fit_n_boot: int = 300

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def time_scale(self, species: str) -> float:
        """Model days per day of ``species`` (``rodent_time_scale``, or the allometric mapping when it is None)."""
        return allometric_time_scale(species) if self.rodent_time_scale is None else float(self.rodent_time_scale)


@dataclass(frozen=True)
class SensitivitySettings:
    """Defaults of a sensitivity run (the keywords of :func:`sim.calibration.sensitivity.run_sensitivity`)."""

    #: "morris" (screening) or "sobol" (variance-based)
    method: str = "morris"
    #: Morris trajectories / Sobol base samples
    n: int = 10
    #: virtual patients per design point (the same patients at every point)
    patients_per_point: int = 4
    #: simulated days per patient
    days: float = 365.0
    #: design and patient seed
    seed: int = 0


@dataclass
class AbcSettings:
    """Everything that defines a calibration run (stored in ``abc_config.json`` for resume)."""

    params: list[str] = field(default_factory=lambda: list(DEFAULT_PARAMETERS))
    #: explicit prior ranges ``[lo, hi]`` by path: required for a cohort spread (``cohort.*``, applied to the
    #: scenario before the patients are drawn; no schema prior), optional for a model parameter (replaces its
    #: ``x-prior``)
    ranges: dict[str, list[float]] = field(default_factory=dict)
    patients: int = 8
    days: float = 365.0
    seed: int = 0
    population_size: int = 50
    populations: int = 8
    min_epsilon: float = 0.0
    workers: int = 0
    #: same K patients for every particle (common random numbers) or fresh patients per particle
    common_patients: bool = False
    #: target uses entering the distance
    uses: list[str] = field(default_factory=lambda: ["calibrate"])
    #: weight of each target id in the distance (default 1 each; see :class:`sim.calibration.abc.TargetDistance`)
    weights: dict[str, float] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=lambda: {"n_boot": 200, "fit_n_boot": 0})

    def stats_config(self) -> StatsConfig:
        return StatsConfig(**self.stats)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
