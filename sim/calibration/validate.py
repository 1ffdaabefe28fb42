"""The target table: every target and check beside the cohort's simulated value.

Each row compares one number: a target item (a scalar target, one label of a vector target, or one visit of a
time series) with the matching statistic of :mod:`sim.calibration.stats`. Status:

``inside``          the simulated point estimate lies in the target range
``consistent``      outside, but the simulated 95 % CI overlaps the target range (too few patients to tell)
``outside``         neither
``reproduced`` / ``not reproduced``   sign and qualitative checks
``undetermined``    a sign rule could not be evaluated (constant readout, degenerate bootstrap)
``not simulated``   the cohort does not contain it (horizon too short, type absent, factor not modelled)

Every target id maps to a *kind* (:data:`TARGET_KINDS`), and each kind is one function that builds the rows of
such a target (:data:`KINDS`). Ranges, ``n`` and labels are read from the target where the targets file gives
them; where it gives no range, a documented range is constructed (``range_basis`` column): binomial Wilson
intervals from the source's n, the trial's 95 % CI of a mean, midpoints between sampled time points, or a stated
tolerance (the constants below). A ``calibrate`` or ``check`` target without a kind gets a ``not simulated`` row.
The same rows define the ABC distance (:func:`distance_spec`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .stats import (
    ASSOCIATION_FACTORS,
    MIN_FIT_VISITS,
    CohortStatistics,
    StatsConfig,
    reproduced,
    wilson_interval,
)
from .targets import Target, TargetSet, load_targets

__all__ = [
    "Comparison",
    "comparisons",
    "table_targets",
    "validation_table",
    "write_validation",
    "distance_spec",
    "COLUMNS",
    "TARGET_KINDS",
    "KINDS",
]

# ---------------------------------------------------------------------------------------------
# constructed ranges: every number the targets file does not give (docs/calibration.md lists them)
# ---------------------------------------------------------------------------------------------

#: absolute tolerance for a fraction target published without any range (also the floor of its ABC scale)
FRACTION_TOLERANCE = 0.05
#: per-type n assumed for Ikeda 1996 when the target has no ``n`` (100 discs, per-type counts not in the targets
#: file: 100 / 4 types)
IKEDA_N_PER_TYPE = 25
#: ± days around a rodent peak known only at sampled time points (target without lower/upper); also the floor
#: of the half-width of a range built from sampled weeks
SAMPLED_PEAK_TOLERANCE_DAYS = 3.0
#: "M1 peak before M2 peak in the majority of patients": the range of that fraction and its ABC scale
M1_BEFORE_M2_RANGE = (0.5, 1.0)
M1_BEFORE_M2_SCALE = 0.25
#: normal quantile of the trial's 95 % CI of a visit mean (mean ± 1.96·SD/√n, SD and n from the targets file)
TRIAL_CI_Z = 1.96
#: floor of the ABC scale of a trial visit mean (VAS points)
TRIAL_VAS_SCALE_FLOOR = 2.5
#: floor of the ABC scale of the fitted τ (weeks)
TAU_SCALE_FLOOR = 0.5
#: the visit whose trial CI is the range of the fitted plateau (the target's ``plateau_c`` is the week-52 mean)
PLATEAU_VISIT_WEEK = 52.0
#: floor of the width of the plateau range for its ABC scale (VAS points; scale = width / 2)
PLATEAU_WIDTH_FLOOR = 1.0
#: sign targets as intervals of ρ (for the ABC distance; the table uses the CI rule of stats.reproduced)
SIGN_INTERVALS = {1: (0.1, 1.0), 0: (-0.1, 0.1), -1: (-1.0, -0.1)}
#: ABC scale of a sign target (it counts only outside its interval)
SIGN_SCALE = 0.2
#: the shown range of a sign check (the ρ side the CI must lie on; not in the ABC distance)
SIGN_CHECK_INTERVALS = {1: (0.0, 1.0), 0: (-0.1, 0.1), -1: (-1.0, 0.0)}
#: "most resorption within the window": share of the 1-year mean reduction reached by day 182
MAIN_WINDOW_SHARE = 0.5
#: lower end of the paracrine communication length (µm) when the target gives none (published models; the
#: target's notes: GR-ABM TNF ~110 µm)
PARACRINE_LOWER_UM = 100.0
#: the targets the model has no statistic for, and why (``not simulated`` rows)
NOT_SIMULATED = {
    "inflammation_modic_rdq_effect": "post-surgical RDQ and Modic status not modelled",
    "macrophage_depletion_delays_pain_resolution": "needs a macrophage-depletion experiment scenario",
    "rat_np_hyperalgesia_duration": "needs a rat NP-on-DRG experiment scenario",
    "serum_cytokines_acute_radiculopathy": "serum (systemic) levels not modelled",
}
#: note of a ``calibrate`` or ``check`` target whose id has no kind in :data:`TARGET_KINDS`
NO_KIND_NOTE = "no matching statistic"
#: the trial pain course: its visit means give the ranges of the fit plateau and the n of the VAS ≤ 17.5 rows
TRIAL_COURSE_ID = "sciatica_trial_leg_vas_itt"


COLUMNS = [
    "target_id",
    "item",
    "use",
    "quantity",
    "units",
    "target",
    "target_lo",
    "target_hi",
    "range_basis",
    "simulated",
    "sim_lo",
    "sim_hi",
    "sim_interval",
    "n",
    "status",
    "note",
    "confidence",
    "reference",
    "stat_key",
]


@dataclass
class Comparison:
    """One row of the target table."""

    target: Target
    item: str
    value: float
    lo: float
    hi: float
    range_basis: str
    simulated: float = math.nan
    sim_lo: float = math.nan
    sim_hi: float = math.nan
    sim_interval: str = "95% CI"
    n: int = 0
    status: str = ""
    note: str = ""
    #: ABC distance kind (not the target kind of :data:`TARGET_KINDS`): "value": distance to the value;
    #: "interval": distance to [lo, hi] (signs)
    kind: str = "value"
    scale: float = math.nan  # ABC normalisation (half-width of the range, floored)

    @property
    def stat_key(self) -> str:
        return f"{self.target.id}[{self.item}]" if self.item else self.target.id

    def judge(self) -> None:
        """Set ``status`` from the point estimate, its interval and the target range (if not set already)."""
        if self.status:
            return
        if not np.isfinite(self.simulated):
            self.status = "not simulated"
            return
        if self.lo <= self.simulated <= self.hi:
            self.status = "inside"
        elif (
            self.sim_interval == "95% CI"
            and np.isfinite(self.sim_lo)
            and np.isfinite(self.sim_hi)
            and self.sim_lo <= self.hi
            and self.sim_hi >= self.lo
        ):
            self.status = "consistent"
        else:
            self.status = "outside"

    def row(self) -> dict[str, Any]:
        t = self.target
        return {
            "target_id": t.id,
            "item": self.item,
            "use": t.use,
            "quantity": t.quantity,
            "units": t.units,
            "target": self.value,
            "target_lo": self.lo,
            "target_hi": self.hi,
            "range_basis": self.range_basis,
            "simulated": self.simulated,
            "sim_lo": self.sim_lo,
            "sim_hi": self.sim_hi,
            "sim_interval": self.sim_interval,
            "n": self.n,
            "status": self.status,
            "note": self.note,
            "confidence": t.confidence,
            "reference": t.reference,
            "stat_key": self.stat_key,
        }


def _range(t: Target, value: float, floor: float) -> tuple[float, float, str, float]:
    """Range given in the file (widened to the value if needed), its basis and the ABC scale."""
    lo, hi = float(t.lower), float(t.upper)
    lo, hi = min(lo, value), max(hi, value)
    scale = max(value - lo, hi - value, floor)
    return lo, hi, "range in targets file", scale


def _has_range(t: Target) -> bool:
    return t.lower is not None and t.upper is not None


def _find(df: pd.DataFrame, key: str, value: Any) -> pd.Series | None:
    hit = df[df[key] == value]
    return None if hit.empty else hit.iloc[0]


def _visit_index(course: pd.DataFrame, week: float) -> pd.Series | None:
    hit = course[np.isclose(course["week"].to_numpy(float), week)]
    return None if hit.empty else hit.iloc[0]


def _fill(c: Comparison, source: Mapping[str, Any], value: str, lo: str, hi: str, n: str | None = None) -> None:
    """Set the simulated value, its interval and (with ``n``) the count from one statistics row or dict."""
    c.simulated, c.sim_lo, c.sim_hi = source[value], source[lo], source[hi]
    if n is not None:
        c.n = int(source[n])


_REPRODUCED = {True: "reproduced", False: "not reproduced", None: "undetermined"}


def _sign_basis(sign: int, cfg: StatsConfig) -> str:
    return {1: "CI > 0", 0: f"CI ∋ 0 or |ρ| < {cfg.null_rho:g}", -1: "CI < 0"}[sign]


def _trial_ci(itt: Target) -> dict[float, tuple[float, float, float, int]]:
    """``{week: (lo, hi, mean, n)}``: the trial's 95 % CI of each visit mean."""
    out = {}
    for w, m, sd, n in zip(itt.time, itt.value, itt.sd, itt.n, strict=True):
        half = TRIAL_CI_Z * sd / math.sqrt(n)
        out[float(w)] = (m - half, m + half, m, int(n))
    return out


@dataclass
class _Context:
    """What every kind function reads besides its target: the statistics (None: targets only), the
    definitions, the whole targets file and the scenario (for the paracrine length)."""

    stats: CohortStatistics | None
    cfg: StatsConfig
    targets: TargetSet
    scenario: Any = None

    @property
    def horizon(self) -> str:
        return f"horizon {self.stats.horizon_day:.0f} d" if self.stats is not None else ""

    @cached_property
    def trial_ci(self) -> dict[float, tuple[float, float, float, int]]:
        return _trial_ci(self.targets[TRIAL_COURSE_ID]) if TRIAL_COURSE_ID in self.targets else {}

    @property
    def trial_weeks(self) -> list[float]:
        """The trial's visit weeks (the targets file's, else the simulated visits)."""
        return list(self.trial_ci) or [float(w) for w in self.cfg.visits_weeks]


# ---------------------------------------------------------------------------------------------
# the kinds: one function per kind of target, each returning the target's rows
# ---------------------------------------------------------------------------------------------

#: target-id prefix of the resorption fractions -> column of the resorption table
RESORPTION_PREFIXES = {"regression_prob_": "regression", "complete_resolution_": "resolution"}


def _regression_cutoffs(r: pd.Series, cfg: StatsConfig) -> str:
    """The regression fraction at the other cut-offs (is it sitting on its threshold?)."""
    other = []
    for thr in cfg.regression_sensitivity:
        key = f"regression_ge{round(100 * thr)}"
        if key in r and abs(thr - cfg.regression_threshold) > 1e-9:
            other.append(f"≥ {round(100 * thr)} %: {r[key]:.2f}")
    return f" ({', '.join(other)})" if other else ""


def _resorption_fraction(t: Target, ctx: _Context) -> list[Comparison]:
    """Regression or complete-resolution fraction of one herniation group at the outcome day (Chiu 2015)."""
    cfg = ctx.cfg
    prefix, col = next((p, c) for p, c in RESORPTION_PREFIXES.items() if t.id.startswith(p))
    group = t.id[len(prefix) :]
    value = float(t.value)
    if _has_range(t):
        lo, hi, basis, scale = _range(t, value, FRACTION_TOLERANCE)
    else:
        lo, hi = value - FRACTION_TOLERANCE, value + FRACTION_TOLERANCE
        basis, scale = f"no range published: ±{FRACTION_TOLERANCE}", FRACTION_TOLERANCE
    thr = cfg.regression_threshold if col == "regression" else cfg.resolution_threshold
    c = Comparison(t, "", value, lo, hi, basis, scale=scale, note=f"reduction ≥ {thr:.0%} at day {cfg.outcome_day:.0f}")
    if group == "extrusion":
        c.note += "; sub- + transligamentous pooled"
    if ctx.stats is None:
        return [c]
    r = _find(ctx.stats.resorption, "group", group)
    if r is not None and r["n"] > 0:
        _fill(c, r, col, f"{col}_lo", f"{col}_hi", "n")
        if col == "regression":
            c.note += _regression_cutoffs(r, cfg)
    elif r is not None and r["n_patients"] > 0:
        c.note += f"; {ctx.horizon} < day {cfg.outcome_day:.0f}"
    else:
        c.note += "; no patient of this type"
    return [c]


def _prevalence_by_type(t: Target, ctx: _Context) -> list[Comparison]:
    """Fraction of specimens with an inflammatory infiltrate, per herniation type (Ikeda 1996)."""
    n_src = int(t.n) if t.n else IKEDA_N_PER_TYPE
    basis = f"Wilson 95% CI, n={n_src}" if t.n else f"Wilson 95% CI, n≈{IKEDA_N_PER_TYPE} per type (assumed)"
    rows = []
    for label, value in t.by_label().items():
        lo, hi = wilson_interval(round(float(value) * n_src), n_src)
        lo, hi = min(lo, value), max(hi, value)
        c = Comparison(
            t,
            label,
            float(value),
            lo,
            hi,
            basis,
            scale=max(value - lo, hi - value),
            note=f"CD68 ≥ {ctx.cfg.infiltrate_threshold_per_cm2:g}/cm² at the sample",
        )
        if ctx.stats is not None:
            r = _find(ctx.stats.inflammation, "group", label)
            if r is not None and r["n"] > 0:
                _fill(c, r, "prevalence", "prevalence_lo", "prevalence_hi", "n")
            else:
                c.note += "; no patient of this type"
        rows.append(c)
    return rows


def _cd68_categories(t: Target, ctx: _Context) -> list[Comparison]:
    """Fractions of patients per CD68 density category (Djuric 2019); a label's first word names the category."""
    n_src = int(t.n or 0)
    rows = []
    for label, value in zip(t.labels, t.value, strict=True):
        if n_src:
            lo, hi = wilson_interval(round(value * n_src), n_src)
            basis = f"Wilson 95% CI, n={n_src}"
        else:
            lo, hi, basis = value - FRACTION_TOLERANCE, value + FRACTION_TOLERANCE, f"±{FRACTION_TOLERANCE}"
        c = Comparison(
            t, label, float(value), lo, hi, basis, scale=max(value - lo, hi - value), note="all patients pooled"
        )
        if ctx.stats is not None:
            r = _find(ctx.stats.cd68_categories, "category", label.split("_", 1)[0])
            if r is not None and r["n"] > 0:
                _fill(c, r, "fraction", "lo", "hi", "n")
        rows.append(c)
    return rows


def _species(t: Target) -> str:
    """The rodent species of a kinetics target, from its id (``mouse_…``, ``rat_…``)."""
    species = t.id.split("_", 1)[0]
    if species not in ("mouse", "rat"):
        raise ValueError(f"kinetics target {t.id!r}: no species prefix (mouse_ or rat_)")
    return species


def _time_note(ctx: _Context, species: str, ts: float) -> str:
    how = "allometric, (M_human/M)^¼" if ctx.cfg.rodent_time_scale is None else "set"
    return f"{species} time × {ts:.2g} ({how})"


def _macrophage_peak(t: Target, ctx: _Context) -> list[Comparison]:
    """Day of the total macrophage peak (mouse; rodent time mapped by ``StatsConfig.time_scale``)."""
    ts = ctx.cfg.time_scale(_species(t))
    v = float(t.value) * ts
    if _has_range(t):
        lo, hi, basis = float(t.lower) * ts, float(t.upper) * ts, "range in targets file"
        scale = max(v - lo, hi - v)
    else:
        tol = SAMPLED_PEAK_TOLERANCE_DAYS
        lo, hi, basis, scale = v - tol * ts, v + tol * ts, f"±{tol:g} days (sampled time points only)", tol * ts
    c = Comparison(
        t,
        "",
        v,
        lo,
        hi,
        basis,
        scale=scale,
        sim_interval="IQR",
        note=f"median day of the total macrophage peak; {_time_note(ctx, _species(t), ts)}",
    )
    if ctx.stats is not None:
        _fill(c, ctx.stats.kinetics, "peak_day_total_median", "peak_day_total_q25", "peak_day_total_q75", "n_total")
    return [c]


def _m1_m2_peaks(t: Target, ctx: _Context) -> list[Comparison]:
    """Day of the M2 peak (range: midpoints to the neighbouring sampled weeks) and M1 peaking before M2 (rat)."""
    ts = ctx.cfg.time_scale(_species(t))
    peak = float(t.value)
    weeks = sorted({float(w) for w in t.extra.get("sample_weeks", ())} | {peak})
    i = weeks.index(peak)
    near = weeks[max(i - 1, 0) : i + 2]
    lo, hi = (near[0] + peak) / 2 * 7.0, (peak + near[-1]) / 2 * 7.0
    c = Comparison(
        t,
        "M2 peak day",
        peak * 7.0 * ts,
        lo * ts,
        hi * ts,
        f"midpoints between sampled weeks {', '.join(f'{w:g}' for w in near)}",
        scale=max((hi - lo) / 2, SAMPLED_PEAK_TOLERANCE_DAYS) * ts,
        sim_interval="IQR",
        note=f"median day of the M2 peak; {_time_note(ctx, _species(t), ts)}",
    )
    c2 = Comparison(
        t,
        "M1 peak before M2 peak",
        1.0,
        *M1_BEFORE_M2_RANGE,
        "majority of patients",
        scale=M1_BEFORE_M2_SCALE,
        kind="interval",
        note="fraction of patients whose M1 peak precedes their M2 peak",
    )
    if ctx.stats is not None:
        k = ctx.stats.kinetics
        _fill(c, k, "peak_day_m2_median", "peak_day_m2_q25", "peak_day_m2_q75", "n_m1_m2")
        _fill(c2, k, "frac_m1_before_m2", "frac_m1_before_m2_lo", "frac_m1_before_m2_hi", "n_m1_m2")
    return [c, c2]


def _trial_vas_course(t: Target, ctx: _Context) -> list[Comparison]:
    """Mean leg VAS at each trial visit, weeks after entry (Sciatica Trial, ITT conservative arm)."""
    cfg = ctx.cfg
    note = "weeks after entry (= sample_day)" if cfg.entry == "sample_day" else f"weeks after entry (day {cfg.entry})"
    rows = []
    for w, (lo, hi, m, n) in _trial_ci(t).items():
        c = Comparison(
            t,
            f"week {w:g}",
            m,
            lo,
            hi,
            f"trial 95% CI of the mean (n={n})",
            scale=max(hi - m, TRIAL_VAS_SCALE_FLOOR),
            note=note,
        )
        if ctx.stats is not None:
            r = _visit_index(ctx.stats.pain_course, w)
            if r is not None and r["simulated"]:
                _fill(c, r, "mean", "ci_lo", "ci_hi", "n")
            else:
                c.note += f"; beyond {ctx.horizon}"
        rows.append(c)
    return rows


def _exponential_fit(t: Target, ctx: _Context) -> list[Comparison]:
    """τ (range from the file) and, with ``plateau_c``, the plateau of the exponential fit of the visit means."""
    lo, hi, basis, scale = _range(t, float(t.value), TAU_SCALE_FLOOR)
    note = "fit of simulated visit means"
    items = [(Comparison(t, "tau", float(t.value), lo, hi, basis, scale=scale, note=note), "tau_weeks", "tau")]
    if "plateau_c" in t.extra and PLATEAU_VISIT_WEEK in ctx.trial_ci:
        lo_p, hi_p, _, _ = ctx.trial_ci[PLATEAU_VISIT_WEEK]
        cp = Comparison(
            t,
            "plateau",
            float(t.extra["plateau_c"]),
            lo_p,
            hi_p,
            f"trial 95% CI of the week-{PLATEAU_VISIT_WEEK:g} mean",
            scale=max(hi_p - lo_p, PLATEAU_WIDTH_FLOOR) / 2,
            note=note,
        )
        items.append((cp, "plateau", "plateau"))
    if ctx.stats is None:
        return [c for c, _, _ in items]
    fit = ctx.stats.pain_fit
    last = max(ctx.trial_weeks)
    for c, key, ci in items:
        c.simulated, c.sim_lo, c.sim_hi = (fit.get(k, math.nan) for k in (key, f"{ci}_lo", f"{ci}_hi"))
        c.n = ctx.stats.n_patients
        if np.isfinite(fit.get("last_week", math.nan)) and fit["last_week"] < last:
            c.note += f"; fitted over weeks 0-{fit['last_week']:g} (trial: 0-{last:g})"
        if fit.get("n_visits", 0) < MIN_FIT_VISITS:
            c.note += f"; < {MIN_FIT_VISITS} simulated visits"
    return [c for c, _, _ in items]


def _fraction_vas_le_cutoff(t: Target, ctx: _Context) -> list[Comparison]:
    """Fraction of patients with leg VAS ≤ the cut-off at each visit (Wilson CI with the trial's n there)."""
    rows = []
    for w, value in zip(t.time, t.value, strict=True):
        n_src = ctx.trial_ci.get(float(w), (0, 0, 0, 0))[3]
        if n_src:
            lo, hi = wilson_interval(round(value * n_src), n_src)
            basis = f"Wilson 95% CI, trial n={n_src}"
        else:
            lo, hi, basis = value - FRACTION_TOLERANCE, value + FRACTION_TOLERANCE, f"±{FRACTION_TOLERANCE}"
        c = Comparison(
            t,
            f"week {w:g}",
            float(value),
            lo,
            hi,
            basis,
            scale=max(value - lo, hi - value),
            note=f"VAS ≤ {ctx.cfg.vas_cutoff:g}",
        )
        if ctx.stats is not None:
            r = _visit_index(ctx.stats.pain_course, float(w))
            if r is not None and r["simulated"]:
                _fill(c, r, "frac_le_cutoff", "frac_lo", "frac_hi", "n")
            else:
                c.note += f"; beyond {ctx.horizon}"
        rows.append(c)
    return rows


def _crossover_fraction(t: Target, ctx: _Context) -> list[Comparison]:
    """Fraction of the trial's patients operated within the first year after entry (Wilson CI with the trial's
    n); needs a cohort with usual-care surgery ([cohort.surgery])."""
    value, n_src = float(t.value), int(t.n)
    lo, hi = wilson_interval(round(value * n_src), n_src)
    c = Comparison(
        t,
        "",
        value,
        lo,
        hi,
        f"Wilson 95% CI, trial n={n_src}",
        scale=max(value - lo, hi - value),
        note=f"surgery ≤ {ctx.cfg.crossover_weeks:g} weeks after entry, patients with a herniation (not a bulge)",
    )
    cx = ctx.stats.crossover if ctx.stats is not None else {}
    if cx and np.isfinite(cx.get("fraction", math.nan)):
        _fill(c, cx, "fraction", "lo", "hi", "n")
    elif ctx.stats is not None:
        c.note += f"; {ctx.horizon} < entry + {ctx.cfg.crossover_weeks:g} weeks"
    return [c]


def _crossover_timing(t: Target, ctx: _Context) -> list[Comparison]:
    """Mean weeks from entry to surgery of the first-year crossovers (check; no spread published: ±25 %)."""
    value = float(t.value)
    c = Comparison(
        t,
        "",
        value,
        0.75 * value,
        1.25 * value,
        "no spread published: ±25 %",
        sim_interval="",
        scale=0.25 * value,
        note="mean over the operated patients",
    )
    cx = ctx.stats.crossover if ctx.stats is not None else {}
    if cx and np.isfinite(cx.get("mean_weeks", math.nan)):
        c.simulated, c.n = cx["mean_weeks"], round(cx["fraction"] * cx["n"])
    elif ctx.stats is not None:
        c.note += "; nobody operated" if cx and np.isfinite(cx.get("fraction", math.nan)) else f"; {ctx.horizon}"
    return [c]


def _recovery_median(t: Target, ctx: _Context) -> list[Comparison]:
    """Kaplan-Meier median weeks from entry to leg VAS ≤ 17.5, the trial's patients not recovered at entry,
    intention to treat (check; no interval quoted: ±25 %)."""
    value = float(t.value)
    c = Comparison(
        t,
        "",
        value,
        0.75 * value,
        1.25 * value,
        "no interval quoted: ±25 %",
        sim_interval="Kaplan-Meier 95% CI of the median",
        scale=0.25 * value,
        note=f"recovery = first day with leg VAS ≤ {ctx.cfg.vas_cutoff:g} after entry; patients with a herniation "
        "not recovered at entry, operated ones included",
    )
    rec = ctx.stats.recovery if ctx.stats is not None else {}
    if rec and np.isfinite(rec.get("median_weeks", math.nan)):
        c.simulated, c.sim_lo, c.sim_hi, c.n = rec["median_weeks"], rec["median_lo"], rec["median_hi"], int(rec["n"])
    elif ctx.stats is not None:
        c.note += "; fewer than half recovered within the horizon"
    return [c]


def _recovered_one_year(t: Target, ctx: _Context) -> list[Comparison]:
    """Fraction recovered one year after entry (Kaplan-Meier), the same patients (check; Wilson CI with the
    arm's n)."""
    value, n_src = float(t.value), int(t.n)
    lo, hi = wilson_interval(round(value * n_src), n_src)
    c = Comparison(
        t,
        "",
        value,
        lo,
        hi,
        f"Wilson 95% CI, arm n={n_src}",
        sim_interval="Kaplan-Meier 95% CI",
        scale=max(value - lo, hi - value),
        note="1 − S(52 weeks), recovery as for the median",
    )
    rec = ctx.stats.recovery if ctx.stats is not None else {}
    if rec and np.isfinite(rec.get("recovered_1y", math.nan)):
        c.simulated, c.sim_lo, c.sim_hi = rec["recovered_1y"], rec["recovered_1y_lo"], rec["recovered_1y_hi"]
        c.n = int(rec["n"])
    elif ctx.stats is not None:
        c.note += f"; {ctx.horizon} < entry + 52 weeks"
    return [c]


def _association_signs(t: Target, ctx: _Context) -> list[Comparison]:
    """Sign of the Spearman ρ of each readout with pain at the sample (Djuric 2020 review)."""
    cfg = ctx.cfg
    rows = []
    for label, value in t.by_label().items():
        sign = int(value)
        lo, hi = SIGN_INTERVALS[sign]
        c = Comparison(
            t,
            label,
            float(sign),
            lo,
            hi,
            _sign_basis(sign, cfg),
            kind="interval",
            scale=SIGN_SCALE,
            note="Spearman ρ with pain_vas_sample",
        )
        if label not in ASSOCIATION_FACTORS:
            c.status, c.note = "not simulated", "factor not modelled"
        elif ctx.stats is not None:
            _fill(c, _find(ctx.stats.associations, "factor", label), "rho", "ci_lo", "ci_hi", "n")
            if not np.isfinite(c.simulated):
                c.status, c.note = "not simulated", "readout constant or missing"
            else:
                c.status = _REPRODUCED[reproduced(sign, c.simulated, c.sim_lo, c.sim_hi, cfg.null_rho)]
        rows.append(c)
    return rows


def _cd68_reduction_sign(t: Target, ctx: _Context) -> list[Comparison]:
    """Sign of the Spearman ρ of CD68 at the sample with the volume reduction at the outcome day (check)."""
    cfg = ctx.cfg
    sign = int(t.value)
    c = Comparison(
        t,
        "",
        float(t.value),
        *SIGN_CHECK_INTERVALS[sign],
        _sign_basis(sign, cfg),
        kind="interval",
        note=f"Spearman ρ of CD68 at the sample with volume reduction at day {cfg.outcome_day:.0f}",
    )
    if ctx.stats is not None:
        _fill(c, ctx.stats.checks, "cd68_vs_reduction_rho", "cd68_vs_reduction_lo", "cd68_vs_reduction_hi")
        c.n = ctx.stats.n_patients
        if np.isfinite(c.simulated):
            c.status = _REPRODUCED[reproduced(sign, c.simulated, c.sim_lo, c.sim_hi, cfg.null_rho)]
    return [c]


def _early_resorption(t: Target, ctx: _Context) -> list[Comparison]:
    """Reduction already significant at day 60 and larger at day 365 (check)."""
    c = Comparison(
        t,
        "",
        float(t.value),
        0.0,
        1.0,
        "CI of mean reduction at day 60 > 0 and mean(365) > mean(60)",
        note="mean volume reduction at day 60 (all patients)",
    )
    if ctx.stats is None:
        return [c]
    ck = ctx.stats.checks
    _fill(c, ck, "reduction_day60_mean", "reduction_day60_lo", "reduction_day60_hi")
    c.n = ctx.stats.n_patients
    m365 = ck["reduction_day365_mean"]
    if not np.isfinite(c.simulated):
        c.status = "not simulated"
        return [c]
    ok = bool(np.isfinite(c.sim_lo) and c.sim_lo > 0)
    if np.isfinite(m365):
        ok = ok and m365 > c.simulated
        c.note += f"; day 365: {m365:.2f}"
    else:
        c.note += "; continuation to 12 months not simulated"
    c.status = "reproduced" if ok else "not reproduced"
    return [c]


def _resorption_window(t: Target, ctx: _Context) -> list[Comparison]:
    """Most of the 1-year reduction reached by 6 months (check)."""
    c = Comparison(
        t,
        "",
        float(t.value),
        MAIN_WINDOW_SHARE,
        1.0,
        "≥ half of the 1-year reduction by 6 months",
        sim_interval="",
        note="share of the mean 1-year reduction reached by day 182",
    )
    if ctx.stats is not None:
        c.simulated, c.n = ctx.stats.checks["share_of_1y_reduction_by_6_months"], ctx.stats.n_patients
        if np.isfinite(c.simulated):
            c.status = "reproduced" if c.simulated >= MAIN_WINDOW_SHARE else "not reproduced"
    return [c]


def _paracrine_length(t: Target, ctx: _Context) -> list[Comparison]:
    """Median √(D/k) over the scenario's fields against the published communication length (check)."""
    lo = float(t.lower) if t.lower is not None else PARACRINE_LOWER_UM
    hi = float(t.upper) if t.upper is not None else float(t.value)
    c = Comparison(
        t,
        "",
        float(t.value),
        lo,
        hi,
        f"roughly {lo:g}-{hi:g} µm (published models; source in the targets file)",
        sim_interval="min-max",
        note="median √(D/k) over the fields of the scenario",
    )
    if ctx.scenario is not None:
        lengths = communication_lengths(ctx.scenario)
        vals = np.array(list(lengths.values()))
        c.simulated, c.sim_lo, c.sim_hi = float(np.median(vals)), float(vals.min()), float(vals.max())
        c.n = len(vals)
        c.note += ": " + ", ".join(f"{k} {v:.0f}" for k, v in lengths.items())
    return [c]


def _not_simulated(t: Target, ctx: _Context) -> list[Comparison]:
    """A target without a model statistic: one ``not simulated`` row with the reason."""
    return [
        Comparison(
            t,
            "",
            float(t.value) if np.isscalar(t.value) else math.nan,
            math.nan,
            math.nan,
            "",
            status="not simulated",
            note=NOT_SIMULATED.get(t.id, NO_KIND_NOTE),
        )
    ]


#: kind -> the function building the rows of a target of that kind
KINDS: dict[str, Callable[[Target, _Context], list[Comparison]]] = {
    "resorption_fraction": _resorption_fraction,
    "prevalence_by_type": _prevalence_by_type,
    "cd68_categories": _cd68_categories,
    "macrophage_peak": _macrophage_peak,
    "m1_m2_peaks": _m1_m2_peaks,
    "trial_vas_course": _trial_vas_course,
    "exponential_fit": _exponential_fit,
    "fraction_vas_le_cutoff": _fraction_vas_le_cutoff,
    "crossover_fraction": _crossover_fraction,
    "crossover_timing": _crossover_timing,
    "recovery_median": _recovery_median,
    "recovered_one_year": _recovered_one_year,
    "association_signs": _association_signs,
    "cd68_reduction_sign": _cd68_reduction_sign,
    "early_resorption": _early_resorption,
    "resorption_window": _resorption_window,
    "paracrine_length": _paracrine_length,
    "not_simulated": _not_simulated,
}

#: target id -> kind, in the order of the table's rows. Ids absent from the targets file are skipped
#: (``complete_resolution_bulging``/``_protrusion``: the statistic exists, the file has no target).
TARGET_KINDS: dict[str, str] = {
    **{
        f"{prefix}{group}": "resorption_fraction"
        for group in ("bulging", "protrusion", "extrusion", "sequestration")
        for prefix in RESORPTION_PREFIXES
    },
    "inflammation_prevalence_by_type": "prevalence_by_type",
    "cd68_density_category_fractions": "cd68_categories",
    "mouse_puncture_macrophage_peak": "macrophage_peak",
    "rat_puncture_m1_m2_timecourse": "m1_m2_peaks",
    TRIAL_COURSE_ID: "trial_vas_course",
    "sciatica_trial_leg_vas_exponential_fit": "exponential_fit",
    "sciatica_trial_fraction_leg_vas_le_17_5": "fraction_vas_le_cutoff",
    "sciatica_trial_crossover_first_year": "crossover_fraction",
    "sciatica_trial_crossover_mean_weeks": "crossover_timing",
    "sciatica_trial_recovery_median_weeks_conservative": "recovery_median",
    "sciatica_trial_recovered_one_year_conservative": "recovered_one_year",
    "review_association_signs": "association_signs",
    "macrophage_load_vs_size_reduction": "cd68_reduction_sign",
    "resorption_detectable_by_2_months": "early_resorption",
    "resorption_main_window": "resorption_window",
    "paracrine_communication_length": "paracrine_length",
    **dict.fromkeys(NOT_SIMULATED, "not_simulated"),
}


def table_targets(targets: TargetSet, include_checks: bool = True) -> list[tuple[Target, str]]:
    """The targets of the table with their kind: the ids of :data:`TARGET_KINDS` in its order, then every other
    ``calibrate`` or ``check`` target of the file (kind ``not_simulated``) in file order. Without
    ``include_checks``, no ``check`` target."""
    pairs = [(targets[tid], kind) for tid, kind in TARGET_KINDS.items() if tid in targets]
    pairs += [(t, "not_simulated") for t in targets if t.use in ("calibrate", "check") and t.id not in TARGET_KINDS]
    return [(t, kind) for t, kind in pairs if include_checks or t.use != "check"]


def comparisons(
    stats: CohortStatistics | None,
    targets: TargetSet | None = None,
    *,
    config: StatsConfig | None = None,
    scenario: Any = None,
    include_checks: bool = True,
) -> list[Comparison]:
    """Every comparison row. With ``stats=None`` the rows carry only the targets (used to build ABC specs)."""
    targets = targets or load_targets()
    cfg = stats.config if stats is not None else (config or StatsConfig())
    ctx = _Context(stats, cfg, targets, scenario)
    rows = [c for t, kind in table_targets(targets, include_checks) for c in KINDS[kind](t, ctx)]
    if stats is not None:
        for c in rows:
            c.judge()
    return rows


def communication_lengths(scenario: Any) -> dict[str, float]:
    """√(D/k) in µm per field, k = ln 2 / half-life (the paracrine reach of a secreting cell)."""
    out = {}
    transport = scenario.parameters.transport
    for name in type(transport).model_fields:
        tr = getattr(transport, name)
        k = math.log(2.0) / (tr.half_life_min * 60.0)
        out[name] = math.sqrt(tr.diffusion_um2_per_s / k)
    return out


def validation_table(
    stats: CohortStatistics, targets: TargetSet | None = None, *, scenario: Any = None
) -> pd.DataFrame:
    """The target table as a DataFrame (columns :data:`COLUMNS`)."""
    return pd.DataFrame([c.row() for c in comparisons(stats, targets, scenario=scenario)], columns=COLUMNS)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def format_range(lo: Any, hi: Any) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return ""
    return f"{_fmt(lo)}–{_fmt(hi)}"


def write_validation(table: pd.DataFrame, out_dir: str | Path, header: str = "") -> tuple[Path, Path]:
    """Write ``validation.csv`` and ``validation.md`` into ``out_dir`` (atomically)."""
    from ..io.store import atomic_file  # same atomic write as every other output

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "validation.csv"
    md = out / "validation.md"
    for path, text in ((csv, table.to_csv(index=False)), (md, to_markdown(table, header))):
        with atomic_file(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return csv, md


def status_counts(table: pd.DataFrame) -> dict[str, int]:
    return {k: int(v) for k, v in table["status"].value_counts().items()}


#: the role of a row under a calibration's declaration (``with_roles``), in the order the tables report them
ROLES = ("fit", "check", "not declared")


def with_roles(table: pd.DataFrame, fit: Sequence[str], check: Sequence[str]) -> pd.DataFrame:
    """``table`` with a ``role`` column: ``fit`` for a fitted target id, ``check`` for a declared check (never
    used to choose a value), ``not declared`` for the rest; rows ordered by role, the table's order within."""
    fit, check = set(fit), set(check)
    role = table["target_id"].map(lambda t: "fit" if t in fit else "check" if t in check else "not declared")
    out = table.assign(role=role)
    order = out["role"].map({r: i for i, r in enumerate(ROLES)})
    return out.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)


def role_counts(table: pd.DataFrame) -> list[tuple[str, int, dict[str, int]]]:
    """Per role of :func:`with_roles` present in ``table`` (in :data:`ROLES` order): the role, its rows and its
    status counts."""
    parts = [(role, table[table["role"] == role]) for role in ROLES]
    return [(role, len(part), status_counts(part)) for role, part in parts if len(part)]


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def to_markdown(table: pd.DataFrame, header: str = "") -> str:
    lines = [header.rstrip() + "\n" if header else ""]
    roles = "role" in table.columns
    if roles:
        for role, n, counts in role_counts(table):
            lines.append(f"Status counts, {role} targets ({n} rows): {_counts_line(counts)}\n")
    else:
        lines.append(f"Status counts: {_counts_line(status_counts(table))}\n")
    head = "| target | item | target value | target range | basis | simulated | sim. interval | n | status | note |"
    lines.append(("| role " + head) if roles else head)
    lines.append("|---" * (11 if roles else 10) + "|")
    for r in table.itertuples(index=False):
        sim_int = format_range(r.sim_lo, r.sim_hi)
        if sim_int and r.sim_interval:
            sim_int += f" ({r.sim_interval})"
        cells = [
            r.target_id,
            r.item,
            _fmt(r.target),
            format_range(r.target_lo, r.target_hi),
            r.range_basis,
            _fmt(r.simulated),
            sim_int,
            str(r.n) if r.n else "",
            f"**{r.status}**",
            r.note,
        ]
        if roles:
            cells.insert(0, r.role)
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def distance_spec(
    targets: TargetSet | None = None, config: StatsConfig | None = None, *, uses: tuple[str, ...] = ("calibrate",)
) -> pd.DataFrame:
    """The ABC target spec: one row per statistic key with value, range, normalising scale, kind and group.

    Only targets whose ``use`` is in ``uses`` (default: calibrate). Rows without a model statistic (factors not
    modelled) are dropped.
    """
    rows = comparisons(None, targets, config=config, include_checks="check" in uses)
    out = []
    for c in rows:
        if c.target.use not in uses or c.status == "not simulated" or not np.isfinite(c.scale):
            continue
        out.append(
            {
                "stat_key": c.stat_key,
                "target_id": c.target.id,
                "value": c.value,
                "lo": c.lo,
                "hi": c.hi,
                "scale": c.scale,
                "kind": c.kind,
            }
        )
    return pd.DataFrame(out)
