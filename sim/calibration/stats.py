"""Summary statistics of a virtual cohort, defined to match the calibration targets.

Input: a cohort output directory (``patients.parquet``, ``trajectories.parquet``, ``manifest.json``; see
``discsim cohort``) or the two DataFrames. The coupling to the cohort runner's column names is kept in one
function, :func:`adapt_cohort_frames`; everything else reads the documented names.

Definitions (all thresholds are fields of :class:`StatsConfig`, defined in :mod:`sim.calibration.settings`;
docs/calibration.md justifies them):

* **association** — Spearman ρ of each tissue readout at the sample with ``pain_vas_sample``, with a seeded
  percentile-bootstrap CI. *Reproduced*: for a review sign ±1 the CI excludes 0 on that side; for 0 the CI
  includes 0 or |ρ| < ``null_rho``.
* **regression** — volume reduction ``1 − volume_fraction`` at ``outcome_day`` ≥ ``regression_threshold``
  (0.30); **complete resolution** — reduction ≥ ``resolution_threshold`` (0.90). "extrusion" pools sub- and
  transligamentous extrusions. Proportions carry Wilson 95 % intervals.
* **inflammatory infiltrate present** — ``cd68_per_cm2_sample`` ≥ ``infiltrate_threshold_per_cm2`` (10/cm²);
  CD68 categories [0, 10), [10, 100], > 100 per cm².
* **pain course** — entry into the trial = each patient's ``sample_day`` (6-12 weeks after onset, like the
  Sciatica Trial); mean leg VAS at entry + 0, 2, … 104 weeks; a visit is simulated only when every patient's
  trajectory reaches it. Exponential fit ``c + (a − c)·exp(−t/τ)`` of the visit means (bootstrap CI over
  patients); fraction with VAS ≤ 17.5.
* **macrophage kinetics** — per-patient day of the peak of (7-day smoothed) M0+M1+M2, M1 and M2 counts.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.optimize import curve_fit

from .settings import TRIAL_VISITS_WEEKS, StatsConfig

__all__ = [
    "ASSOCIATION_FACTORS",
    "MIN_FIT_VISITS",
    "TRIAL_VISITS_WEEKS",
    "Cohort",
    "CohortError",
    "CohortStatistics",
    "StatsConfig",
    "adapt_cohort_frames",
    "cohort_from_frames",
    "compute_statistics",
    "load_cohort",
    "patient_outcomes",
    "spearman_bootstrap",
    "wilson_interval",
    "exponential_course",
    "fit_exponential_course",
]

#: Review factor label (``review_association_signs``) -> patients.parquet column. Factors absent here
#: (TNFR1, TNFR2, IL-1α) are not modelled.
ASSOCIATION_FACTORS: dict[str, str] = {
    "TNF-a": "tnf_sample",
    "IL-6": "il6_sample",
    "IL-8": "il8_sample",
    "IFN-g": "ifng",
    "IL-1b": "il1b_sample",
    "IL-4": "il4",
    "IL-10": "il10_sample",
    "TGF-b": "tgfb_sample",
    "CD68_macrophages": "cd68_per_cm2_sample",
}

#: fewest simulated visits the exponential pain-course fit is attempted on (three parameters)
MIN_FIT_VISITS = 4

EXTRUSION_TYPES = ("subligamentous_extrusion", "transligamentous_extrusion")
HERNIATION_GROUPS: dict[str, tuple[str, ...]] = {
    "bulging": ("bulging",),
    "protrusion": ("protrusion",),
    "subligamentous_extrusion": ("subligamentous_extrusion",),
    "transligamentous_extrusion": ("transligamentous_extrusion",),
    "extrusion": EXTRUSION_TYPES,
    "sequestration": ("sequestration",),
}

PATIENT_REQUIRED = ("patient", "herniation_type", "sample_day", "pain_vas_sample")
TRAJECTORY_REQUIRED = ("patient", "day", "pain_vas", "volume_fraction", "n_m0", "n_m1", "n_m2")
#: ``status`` values that mark a patient whose simulation did not complete (excluded from every statistic).
FAILED_STATUS = frozenset({"failed", "error", "timeout", "crashed", "cancelled", "missing"})


class CohortError(ValueError):
    """A cohort directory or DataFrame is missing, incomplete or not a cohort."""


# ---------------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------------


@dataclass
class Cohort:
    """A virtual cohort: one row per patient plus daily trajectories (only completed patients)."""

    patients: pd.DataFrame
    trajectories: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    n_excluded: int = 0

    @property
    def horizon_day(self) -> float:
        """The last day every included patient's trajectory reaches."""
        if self.trajectories.empty:
            return 0.0
        return float(self.trajectories.groupby("patient")["day"].max().min())


def adapt_cohort_frames(patients: pd.DataFrame, trajectories: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The one coupling point to the cohort runner's output: normalise names, types and failed patients.

    Returns ``(patients, trajectories, n_excluded)`` with the documented column names, ``herniation_type``
    as plain strings, integer days, and patients whose ``status`` is a failure removed.
    """
    p = patients.copy()
    t = trajectories.copy()
    # the cohort runner writes the backgrounds as ifng_sample/il4_sample (and the effects as *_pg_ml); the
    # calibration adapter writes ifng/il4 (first one present wins)
    aliases = {"ifng": ("ifng_sample", "ifng_pg_ml"), "il4": ("il4_sample", "il4_pg_ml")}
    for name, alts in aliases.items():
        if name not in p.columns:
            for alt in alts:
                if alt in p.columns:
                    p = p.rename(columns={alt: name})
                    break
    missing_p = [c for c in PATIENT_REQUIRED if c not in p.columns]
    missing_t = [c for c in TRAJECTORY_REQUIRED if c not in t.columns]
    if missing_p or missing_t:
        parts = []
        if missing_p:
            parts.append(f"patients lacks column(s) {', '.join(missing_p)}")
        if missing_t:
            parts.append(f"trajectories lacks column(s) {', '.join(missing_t)}")
        raise CohortError("; ".join(parts))
    n0 = len(p)
    if "status" in p.columns:
        p = p[~p["status"].astype(str).str.lower().isin(FAILED_STATUS)]
    p = p.assign(herniation_type=p["herniation_type"].map(lambda v: getattr(v, "value", v)).astype(str))
    t = t[t["patient"].isin(p["patient"])]
    t = t.assign(day=np.rint(t["day"].astype(float)).astype(np.int64)).sort_values(["patient", "day"])
    return p.reset_index(drop=True), t.reset_index(drop=True), n0 - len(p)


def cohort_from_frames(
    patients: pd.DataFrame, trajectories: pd.DataFrame, manifest: dict[str, Any] | None = None
) -> Cohort:
    """Build a :class:`Cohort` from in-memory tables (e.g. a cohort run inside ABC)."""
    p, t, excluded = adapt_cohort_frames(patients, trajectories)
    return Cohort(p, t, dict(manifest or {}), None, excluded)


def load_cohort(directory: str | Path) -> Cohort:
    """Read a ``discsim cohort`` output directory.

    Raises
    ------
    CohortError
        The directory or one of its files is missing, the manifest does not say ``"kind": "cohort"``, or a
        required column is absent.
    """
    d = Path(directory)
    if not d.exists():
        raise CohortError(f"{d}: no such directory")
    if not d.is_dir():
        raise CohortError(f"{d}: not a directory (expected the output directory of `discsim cohort`)")
    missing = [f for f in ("manifest.json", "patients.parquet", "trajectories.parquet") if not (d / f).is_file()]
    if missing:
        raise CohortError(f"{d}: missing {', '.join(missing)}; expected the output directory of `discsim cohort`")
    try:
        manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CohortError(f"{d / 'manifest.json'}: unreadable ({exc})") from None
    kind = manifest.get("kind") if isinstance(manifest, dict) else None
    if kind != "cohort":
        raise CohortError(f"{d}: manifest kind is {kind!r}, expected 'cohort' (this is not a cohort directory)")
    try:
        patients = pd.read_parquet(d / "patients.parquet")
        trajectories = pd.read_parquet(d / "trajectories.parquet")
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a corrupt file
        raise CohortError(f"{d}: cannot read Parquet ({exc})") from None
    try:
        p, t, excluded = adapt_cohort_frames(patients, trajectories)
    except CohortError as exc:
        raise CohortError(f"{d}: {exc}") from None
    if p.empty:
        raise CohortError(f"{d}: no completed patients")
    return Cohort(p, t, manifest, d, excluded)


# ---------------------------------------------------------------------------------------------
# elementary statistics (tested against known answers)
# ---------------------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    return float(sps.norm.ppf(0.5 + confidence / 2.0))


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n (NaN, NaN when n = 0)."""
    if n <= 0:
        return math.nan, math.nan
    z = _z(confidence)
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def spearman_bootstrap(
    x: np.ndarray, y: np.ndarray, *, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Spearman ρ of (x, y) and its percentile-bootstrap CI (resampling pairs), ignoring NaN pairs.

    Returns ``(rho, lo, hi)``; all NaN with fewer than 3 pairs or a constant variable.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = x.size
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan, math.nan
    rho = float(_rowwise_pearson(sps.rankdata(x), sps.rankdata(y)))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    boot = _rowwise_pearson(sps.rankdata(x[idx], axis=1), sps.rankdata(y[idx], axis=1))
    boot = boot[np.isfinite(boot)]
    if boot.size < n_boot / 2:  # most resamples degenerate: no meaningful interval
        return rho, math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    return rho, float(lo), float(hi)


def exponential_course(t: np.ndarray, a: float, c: float, tau: float) -> np.ndarray:
    """``c + (a − c)·exp(−t/τ)``: the trial's description of mean leg VAS against weeks since entry."""
    return c + (a - c) * np.exp(-np.asarray(t, dtype=float) / tau)


def fit_exponential_course(t: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares ``(a, c, τ)`` of :func:`exponential_course`; NaNs if < 4 points or no convergence."""
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    if t.size < 4 or np.ptp(t) == 0:
        return math.nan, math.nan, math.nan
    span = float(np.ptp(t))
    p0 = (float(y[np.argmin(t)]), float(y[np.argmax(t)]), max(span / 4.0, 1.0))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = curve_fit(
                exponential_course,
                t,
                y,
                p0=p0,
                bounds=([-50.0, -50.0, 1e-3], [200.0, 150.0, 50.0 * max(span, 1.0)]),
                maxfev=5000,
            )
    except (RuntimeError, ValueError):
        return math.nan, math.nan, math.nan
    a, c, tau = (float(v) for v in popt)
    return a, c, tau


# ---------------------------------------------------------------------------------------------
# per-patient outcomes
# ---------------------------------------------------------------------------------------------


def _wide(traj: pd.DataFrame, column: str) -> pd.DataFrame:
    return traj.pivot_table(index="patient", columns="day", values=column, aggfunc="first")


def _value_at(wide: pd.DataFrame, days: pd.Series) -> np.ndarray:
    """Per patient (rows of ``wide``), the value at the integer day given by ``days`` (NaN if not simulated)."""
    cols = np.asarray(wide.columns, dtype=np.int64)
    lookup = {d: j for j, d in enumerate(cols)}
    d = np.rint(days.reindex(wide.index).to_numpy(dtype=float))
    out = np.full(len(wide), np.nan)
    vals = wide.to_numpy(dtype=float)
    for i, day in enumerate(d):
        if np.isfinite(day) and (j := lookup.get(int(day))) is not None:
            out[i] = vals[i, j]
    return out


def _peak_day(wide: pd.DataFrame, window: int) -> pd.Series:
    sm = wide.T.rolling(window, center=True, min_periods=1).mean().T if window > 1 else wide
    vals = sm.to_numpy(dtype=float)
    vals = np.where(np.isfinite(vals), vals, -np.inf)
    j = np.argmax(vals, axis=1)
    peak = np.asarray(sm.columns, dtype=float)[j]
    has = np.max(vals, axis=1) > 0
    return pd.Series(np.where(has, peak, np.nan), index=wide.index)


def entry_days(cohort: Cohort, config: StatsConfig) -> pd.Series:
    """Trial entry day (days after onset) per patient."""
    p = cohort.patients.set_index("patient")
    if config.entry == "sample_day":
        return p["sample_day"].astype(float)
    return pd.Series(float(config.entry), index=p.index)


def surgery_days(cohort: Cohort) -> pd.Series:
    """Per patient, the day of the discectomy (NaN if never operated).

    The model operates right after a day's observation (sim.model.DiscModel: a rule is checked at the day boundary
    and a scheduled operation is done before the next step), so the first row whose ``surgery`` flag is set is the
    next observed day: the surgery day is the day of the row before it, as ``surgery_day`` of a run reports it.
    """
    t = cohort.trajectories
    index = cohort.patients["patient"].to_numpy()
    if "surgery" not in t.columns:
        return pd.Series(np.nan, index=index, dtype=float)
    t = t[["patient", "day", "surgery"]].sort_values(["patient", "day"])
    previous = t.groupby("patient")["day"].shift(1).fillna(t["day"])
    first = t["surgery"].to_numpy(float) > 0.5
    first &= ~(t.groupby("patient")["surgery"].shift(1).to_numpy(float) > 0.5)
    op = previous[first].groupby(t.loc[first, "patient"]).min()
    return op.reindex(index).astype(float)


def patient_outcomes(cohort: Cohort, config: StatsConfig | None = None) -> pd.DataFrame:
    """One row per patient: outcome volume reduction, regression/resolution flags, infiltrate, CD68 category,
    trial entry day, and macrophage peak days (NaN where the trajectory does not reach the day)."""
    config = config or StatsConfig()
    p = cohort.patients.set_index("patient")
    t = cohort.trajectories
    vf = _wide(t, "volume_fraction").reindex(p.index)
    out = pd.DataFrame(index=p.index)
    out["herniation_type"] = p["herniation_type"]
    out["surgery_day"] = surgery_days(cohort).reindex(p.index)
    reduction = 1.0 - _value_at(vf, pd.Series(config.outcome_day, index=p.index))
    # an operated patient leaves the natural history: no regression outcome after a discectomy
    reduction = np.where(out["surgery_day"].to_numpy(float) <= config.outcome_day, np.nan, reduction)
    out["reduction_outcome"] = reduction
    out["regressed"] = np.where(np.isfinite(reduction), reduction >= config.regression_threshold, np.nan)
    out["resolved"] = np.where(np.isfinite(reduction), reduction >= config.resolution_threshold, np.nan)
    if "cd68_per_cm2_sample" in p.columns:
        cd68 = p["cd68_per_cm2_sample"].astype(float)
        out["cd68_per_cm2_sample"] = cd68
        out["infiltrate"] = np.where(np.isfinite(cd68), cd68 >= config.infiltrate_threshold_per_cm2, np.nan)
        lo_edge, hi_edge = config.cd68_edges
        cat = np.select([cd68 < lo_edge, cd68 <= hi_edge, cd68 > hi_edge], ["mild", "moderate", "considerable"], "")
        out["cd68_category"] = pd.Series(cat, index=p.index).replace("", np.nan)
    out["entry_day"] = entry_days(cohort, config)
    total = _wide(t.assign(n_total=t["n_m0"] + t["n_m1"] + t["n_m2"]), "n_total").reindex(p.index)
    w = config.peak_smoothing_days
    out["peak_day_total"] = _peak_day(total, w)
    out["peak_day_m1"] = _peak_day(_wide(t, "n_m1").reindex(p.index), w)
    out["peak_day_m2"] = _peak_day(_wide(t, "n_m2").reindex(p.index), w)
    return out


# ---------------------------------------------------------------------------------------------
# the statistics
# ---------------------------------------------------------------------------------------------


@dataclass
class CohortStatistics:
    """All summary statistics of one cohort (tables), the config used and the cohort size."""

    config: StatsConfig
    n_patients: int
    horizon_day: float
    associations: pd.DataFrame
    resorption: pd.DataFrame
    inflammation: pd.DataFrame
    cd68_categories: pd.DataFrame
    pain_course: pd.DataFrame
    pain_fit: dict[str, float]
    kinetics: dict[str, float]
    checks: dict[str, float]
    outcomes: pd.DataFrame
    #: the trial patients' surgeries within the first year after entry (:func:`crossover_summary`)
    crossover: dict[str, float] = field(default_factory=dict)
    #: their time to recovery, Kaplan-Meier (:func:`recovery_summary`)
    recovery: dict[str, float] = field(default_factory=dict)


def _fraction_row(flags: pd.Series, confidence: float) -> tuple[int, float, float, float]:
    f = flags.dropna().astype(bool)
    n = int(f.size)
    if n == 0:
        return 0, math.nan, math.nan, math.nan
    k = int(f.sum())
    lo, hi = wilson_interval(k, n, confidence)
    return n, k / n, lo, hi


def association_table(
    patients: pd.DataFrame, signs: dict[str, int] | None = None, config: StatsConfig | None = None
) -> pd.DataFrame:
    """Spearman ρ of each readout with ``pain_vas_sample`` (bootstrap CI) beside the review's sign."""
    config = config or StatsConfig()
    rows = []
    vas = patients["pain_vas_sample"].to_numpy(dtype=float)
    for i, (factor, col) in enumerate(ASSOCIATION_FACTORS.items()):
        sign = None if signs is None else signs.get(factor)
        if col not in patients.columns:
            rho = lo = hi = math.nan
            n = 0
        else:
            x = patients[col].to_numpy(dtype=float)
            n = int((np.isfinite(x) & np.isfinite(vas)).sum())
            rho, lo, hi = spearman_bootstrap(
                x, vas, n_boot=config.n_boot, seed=config.seed + i, confidence=config.confidence
            )
        rows.append(
            {
                "factor": factor,
                "column": col,
                "review_sign": sign,
                "n": n,
                "rho": rho,
                "ci_lo": lo,
                "ci_hi": hi,
                "reproduced": reproduced(sign, rho, lo, hi, config.null_rho),
            }
        )
    return pd.DataFrame(rows)


def reproduced(sign: int | None, rho: float, lo: float, hi: float, null_rho: float = 0.1) -> bool | None:
    """The association rule: ±1 -> CI excludes 0 on that side; 0 -> CI includes 0 or |ρ| < ``null_rho``.

    None when undefined (no sign, or ρ / CI not computable).
    """
    if sign is None or not np.isfinite(rho):
        return None
    if sign == 0:
        if abs(rho) < null_rho:
            return True
        return bool(np.isfinite(lo) and lo <= 0.0 <= hi) if np.isfinite(lo) else None
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return bool(lo > 0.0) if sign > 0 else bool(hi < 0.0)


def resorption_table(outcomes: pd.DataFrame, config: StatsConfig) -> pd.DataFrame:
    rows = []
    for group, types in HERNIATION_GROUPS.items():
        sel = outcomes[outcomes["herniation_type"].isin(types)]
        n, f, lo, hi = _fraction_row(sel["regressed"], config.confidence)
        _, fr, rlo, rhi = _fraction_row(sel["resolved"], config.confidence)
        rows.append(
            {
                "group": group,
                "n_patients": len(sel),
                "n": n,
                "regression": f,
                "regression_lo": lo,
                "regression_hi": hi,
                "resolution": fr,
                "resolution_lo": rlo,
                "resolution_hi": rhi,
                "mean_reduction": float(sel["reduction_outcome"].mean()) if n else math.nan,
                **_threshold_fractions(sel["reduction_outcome"], config),
            }
        )
    return pd.DataFrame(rows)


def _threshold_fractions(reduction: pd.Series, config: StatsConfig) -> dict[str, float]:
    r = reduction[np.isfinite(reduction.astype(float))]
    return {
        f"regression_ge{round(100 * t)}": float((r >= t).mean()) if r.size else math.nan
        for t in config.regression_sensitivity
    }


def inflammation_table(outcomes: pd.DataFrame, config: StatsConfig) -> pd.DataFrame:
    rows = []
    for group, types in HERNIATION_GROUPS.items():
        sel = outcomes[outcomes["herniation_type"].isin(types)]
        flags = sel["infiltrate"] if "infiltrate" in sel else pd.Series(dtype=float)
        n, f, lo, hi = _fraction_row(flags, config.confidence)
        rows.append({"group": group, "n": n, "prevalence": f, "prevalence_lo": lo, "prevalence_hi": hi})
    return pd.DataFrame(rows)


def cd68_category_table(outcomes: pd.DataFrame, config: StatsConfig) -> pd.DataFrame:
    cats = outcomes["cd68_category"].dropna() if "cd68_category" in outcomes else pd.Series(dtype=object)
    n = int(cats.size)
    rows = []
    for cat in ("mild", "moderate", "considerable"):
        k = int((cats == cat).sum())
        lo, hi = wilson_interval(k, n, config.confidence)
        rows.append({"category": cat, "n": n, "fraction": k / n if n else math.nan, "lo": lo, "hi": hi})
    return pd.DataFrame(rows)


def pain_course_table(cohort: Cohort, outcomes: pd.DataFrame, config: StatsConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """Per visit: n, mean, SD, CI of the mean, fraction ≤ cutoff (+ Wilson CI); and the patient × visit matrix."""
    vas = _wide(cohort.trajectories, "pain_vas").reindex(outcomes.index)
    entry = outcomes["entry_day"]
    z = _z(config.confidence)
    mat = np.full((len(outcomes), len(config.visits_weeks)), np.nan)
    rows = []
    for j, w in enumerate(config.visits_weeks):
        y = _value_at(vas, entry + 7.0 * w)
        mat[:, j] = y
        ok = np.isfinite(y)
        n = int(ok.sum())
        simulated = n == len(y) and n > 0
        if simulated:
            mean = float(y.mean())
            sd = float(y.std(ddof=1)) if n > 1 else math.nan
            half = z * sd / math.sqrt(n) if n > 1 else math.nan
            k = int((y <= config.vas_cutoff).sum())
            flo, fhi = wilson_interval(k, n, config.confidence)
            frac = k / n
        else:
            mean = sd = half = frac = flo = fhi = math.nan
        rows.append(
            {
                "week": w,
                "n": n,
                "simulated": simulated,
                "mean": mean,
                "sd": sd,
                "ci_lo": mean - half,
                "ci_hi": mean + half,
                "frac_le_cutoff": frac,
                "frac_lo": flo,
                "frac_hi": fhi,
            }
        )
    return pd.DataFrame(rows), mat


def pain_fit(course: pd.DataFrame, matrix: np.ndarray, config: StatsConfig) -> dict[str, float]:
    """Exponential fit of the simulated visit means, with a patient-bootstrap CI for τ and the plateau."""
    sim = course["simulated"].to_numpy()
    weeks = course["week"].to_numpy(dtype=float)[sim]
    out = {
        "a": math.nan,
        "plateau": math.nan,
        "tau_weeks": math.nan,
        "tau_lo": math.nan,
        "tau_hi": math.nan,
        "plateau_lo": math.nan,
        "plateau_hi": math.nan,
        "n_visits": int(sim.sum()),
        "last_week": float(weeks.max()) if weeks.size else math.nan,
    }
    if weeks.size < MIN_FIT_VISITS:
        return out
    m = matrix[:, sim]
    a, c, tau = fit_exponential_course(weeks, m.mean(axis=0))
    out.update(a=a, plateau=c, tau_weeks=tau)
    n_boot = config.fit_n_boot
    if n_boot > 0 and m.shape[0] >= 3 and np.isfinite(tau):
        rng = np.random.default_rng(config.seed + 101)
        taus, cs = [], []
        for _ in range(n_boot):
            idx = rng.integers(0, m.shape[0], m.shape[0])
            _, cb, tb = fit_exponential_course(weeks, m[idx].mean(axis=0))
            if np.isfinite(tb):
                taus.append(tb)
                cs.append(cb)
        if len(taus) >= n_boot / 2:
            alpha = (1.0 - config.confidence) / 2.0
            out["tau_lo"], out["tau_hi"] = (float(v) for v in np.quantile(taus, [alpha, 1 - alpha]))
            out["plateau_lo"], out["plateau_hi"] = (float(v) for v in np.quantile(cs, [alpha, 1 - alpha]))
    return out


def kinetics_summary(outcomes: pd.DataFrame) -> dict[str, float]:
    def q(col: str, p: float) -> float:
        s = outcomes[col].dropna()
        return float(s.quantile(p)) if len(s) else math.nan

    both = outcomes[["peak_day_m1", "peak_day_m2"]].dropna()
    n = len(both)
    k = int((both["peak_day_m1"] < both["peak_day_m2"]).sum())
    lo, hi = wilson_interval(k, n)
    return {
        "peak_day_total_median": q("peak_day_total", 0.5),
        "peak_day_total_q25": q("peak_day_total", 0.25),
        "peak_day_total_q75": q("peak_day_total", 0.75),
        "n_total": int(outcomes["peak_day_total"].notna().sum()),
        "peak_day_m1_median": q("peak_day_m1", 0.5),
        "peak_day_m2_median": q("peak_day_m2", 0.5),
        "peak_day_m2_q25": q("peak_day_m2", 0.25),
        "peak_day_m2_q75": q("peak_day_m2", 0.75),
        "frac_m1_before_m2": k / n if n else math.nan,
        "frac_m1_before_m2_lo": lo,
        "frac_m1_before_m2_hi": hi,
        "n_m1_m2": n,
    }


def _mean_ci(x: np.ndarray, confidence: float) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    half = _z(confidence) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return m, m - half, m + half


def resorption_checks(cohort: Cohort, outcomes: pd.DataFrame, config: StatsConfig) -> dict[str, float]:
    """Quantities for the resorption ``check`` targets (NaN where the horizon is too short)."""
    vf = _wide(cohort.trajectories, "volume_fraction").reindex(outcomes.index)
    operated = outcomes["surgery_day"].to_numpy(float) if "surgery_day" in outcomes else np.full(len(outcomes), np.nan)
    red = {
        d: np.where(operated <= d, np.nan, 1.0 - _value_at(vf, pd.Series(float(d), index=outcomes.index)))
        for d in (60, 182, 365)
    }
    out: dict[str, float] = {}
    out["reduction_day60_mean"], out["reduction_day60_lo"], out["reduction_day60_hi"] = _mean_ci(
        red[60], config.confidence
    )
    out["reduction_day365_mean"], out["reduction_day365_lo"], out["reduction_day365_hi"] = _mean_ci(
        red[365], config.confidence
    )
    m182, m365 = np.nanmean(red[182]) if np.isfinite(red[182]).any() else math.nan, out["reduction_day365_mean"]
    out["share_of_1y_reduction_by_6_months"] = m182 / m365 if np.isfinite(m182) and m365 > 0 else math.nan
    cd = outcomes.get("cd68_per_cm2_sample")
    if cd is not None:
        rho, lo, hi = spearman_bootstrap(
            cd.to_numpy(float), red[365], n_boot=config.n_boot, seed=config.seed + 57, confidence=config.confidence
        )
    else:
        rho = lo = hi = math.nan
    out.update(cd68_vs_reduction_rho=rho, cd68_vs_reduction_lo=lo, cd68_vs_reduction_hi=hi)
    return out


def crossover_summary(outcomes: pd.DataFrame, horizon_day: float, config: StatsConfig) -> dict[str, float]:
    """The trial patients' (``config.trial_types``) surgeries within ``crossover_weeks`` of entry: the operated
    fraction with its Wilson interval and the mean weeks from entry to surgery. NaN unless every such patient is
    followed to the end of that window."""
    sel = outcomes[outcomes["herniation_type"].isin(config.trial_types)]
    window = 7.0 * config.crossover_weeks
    out = dict.fromkeys(("n", "fraction", "lo", "hi", "mean_weeks"), math.nan)
    if sel.empty or not bool((sel["entry_day"] + window <= horizon_day + 1e-9).all()):
        return out
    after = (sel["surgery_day"] - sel["entry_day"]).to_numpy(float)
    op = np.isfinite(after) & (after <= window)
    n, k = len(sel), int(op.sum())
    lo, hi = wilson_interval(k, n, config.confidence)
    out.update(n=float(n), fraction=k / n, lo=lo, hi=hi, mean_weeks=float(after[op].mean() / 7.0) if k else math.nan)
    return out


def recovery_summary(cohort: Cohort, outcomes: pd.DataFrame, config: StatsConfig) -> dict[str, float]:
    """Time from entry to recovery (the first later day with leg VAS ≤ ``vas_cutoff``) of the trial's patients
    (``config.trial_types``) who have not recovered at entry, intention to treat (an operated patient's pain
    after surgery counts), censored at the last simulated day: the Kaplan-Meier median in weeks with its
    interval (lifelines), and the fraction recovered one year after entry with its interval (NaN unless every
    such patient is followed for a year)."""
    from ..cohort.trial_stats import kaplan_meier

    out = dict.fromkeys(
        ("n", "median_weeks", "median_lo", "median_hi", "recovered_1y", "recovered_1y_lo", "recovered_1y_hi"),
        math.nan,
    )
    sel = outcomes[outcomes["herniation_type"].isin(config.trial_types)]
    if sel.empty:
        return out
    vas = _wide(cohort.trajectories, "pain_vas").reindex(sel.index)
    days = vas.columns.to_numpy(float)
    entry = sel["entry_day"].to_numpy(float)
    v = vas.to_numpy(float)
    at_entry = _value_at(vas, sel["entry_day"])
    keep = np.isfinite(at_entry) & (at_entry > config.vas_cutoff)
    if not keep.any():
        return out
    after = days[None, :] - entry[:, None]
    hit = (after > 0) & (v <= config.vas_cutoff)
    first = np.where(hit.any(axis=1), np.argmax(hit, axis=1), -1)
    last = np.where(np.isfinite(v), after, -np.inf).max(axis=1)
    durations = np.where(first >= 0, after[np.arange(len(sel)), np.maximum(first, 0)], last)[keep]
    events = (first >= 0)[keep]
    year = 364.0
    followed = bool((last[keep] >= year).all())
    _, km = kaplan_meier(durations, events, at=year if followed else None)
    out["n"] = float(keep.sum())
    out["median_weeks"] = km["median"] / 7.0
    out["median_lo"], out["median_hi"] = (x / 7.0 for x in km["median_ci"])
    if followed:
        out["recovered_1y"], out["recovered_1y_lo"], out["recovered_1y_hi"] = km["recovered_at"]
    return out


def compute_statistics(
    cohort: Cohort, config: StatsConfig | None = None, signs: dict[str, int] | None = None
) -> CohortStatistics:
    """Every summary statistic of a cohort.

    Parameters
    ----------
    cohort : Cohort
    config : StatsConfig, optional
    signs : dict, optional
        Review sign per factor label (default: ``review_association_signs`` from the targets file).
    """
    config = config or StatsConfig()
    if signs is None:
        from .targets import load_targets

        signs = {k: int(v) for k, v in load_targets()["review_association_signs"].by_label().items()}
    outcomes = patient_outcomes(cohort, config)
    # the trial's course: its patients (a herniation, not a bulge), intention to treat (operated ones included)
    course, matrix = pain_course_table(cohort, outcomes[outcomes["herniation_type"].isin(config.trial_types)], config)
    return CohortStatistics(
        config=config,
        n_patients=len(outcomes),
        horizon_day=cohort.horizon_day,
        associations=association_table(cohort.patients, signs, config),
        resorption=resorption_table(outcomes, config),
        inflammation=inflammation_table(outcomes, config),
        cd68_categories=cd68_category_table(outcomes, config),
        pain_course=course,
        pain_fit=pain_fit(course, matrix, config),
        kinetics=kinetics_summary(outcomes),
        checks=resorption_checks(cohort, outcomes, config),
        outcomes=outcomes,
        crossover=crossover_summary(outcomes, cohort.horizon_day, config),
        recovery=recovery_summary(cohort, outcomes, config),
    )
