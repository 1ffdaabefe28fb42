"""The target table: every target and check beside the cohort's simulated value.

Each row compares one number: a target item (a scalar target, one label of a vector target, or one visit of a
time series) with the matching statistic of :mod:`sim.calibration.stats`. Status:

``inside``          the simulated point estimate lies in the target range
``consistent``      outside, but the simulated 95 % CI overlaps the target range (too few patients to tell)
``outside``         neither
``reproduced`` / ``not reproduced``   sign and qualitative checks
``undetermined``    a sign rule could not be evaluated (constant readout, degenerate bootstrap)
``not simulated``   the cohort does not contain it (horizon too short, type absent, factor not modelled)

Where the targets file gives no range, a documented range is constructed (``range_basis`` column): binomial
Wilson intervals from the source's n, the trial's 95 % CI of a mean, midpoints between sampled time points, or a
stated tolerance. The same rows define the ABC distance (:func:`distance_spec`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .stats import ASSOCIATION_FACTORS, CohortStatistics, StatsConfig, reproduced, wilson_interval
from .targets import Target, TargetSet, load_targets

__all__ = ["Comparison", "comparisons", "validation_table", "write_validation", "distance_spec", "COLUMNS"]

#: absolute tolerance for a fraction target published without any range
FRACTION_TOLERANCE = 0.05
#: per-type n assumed for Ikeda 1996 (100 discs, per-type counts not in the targets file: 100 / 4 types)
IKEDA_N_PER_TYPE = 25
#: sign targets as intervals of ρ (for the ABC distance; the table uses the CI rule of stats.reproduced)
SIGN_INTERVALS = {1: (0.1, 1.0), 0: (-0.1, 0.1), -1: (-1.0, -0.1)}

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
    kind: str = "value"  # "value": distance to the value; "interval": distance to [lo, hi] (signs)
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


def _find(df: pd.DataFrame, key: str, value: Any) -> pd.Series | None:
    hit = df[df[key] == value]
    return None if hit.empty else hit.iloc[0]


def _visit_index(course: pd.DataFrame, week: float) -> pd.Series | None:
    hit = course[np.isclose(course["week"].to_numpy(float), week)]
    return None if hit.empty else hit.iloc[0]


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
    rows: list[Comparison] = []
    ts = cfg.rodent_time_scale
    horizon = f"horizon {stats.horizon_day:.0f} d" if stats is not None else ""

    # -- regression and complete resolution at the outcome day
    for group in ("bulging", "protrusion", "extrusion", "sequestration"):
        for prefix, col in (("regression_prob_", "regression"), ("complete_resolution_", "resolution")):
            if f"{prefix}{group}" not in targets:
                continue
            t = targets[f"{prefix}{group}"]
            value = float(t.value)
            if t.lower is not None and t.upper is not None:
                lo, hi, basis, scale = _range(t, value, FRACTION_TOLERANCE)
            else:
                lo, hi = value - FRACTION_TOLERANCE, value + FRACTION_TOLERANCE
                basis, scale = f"no range published: ±{FRACTION_TOLERANCE}", FRACTION_TOLERANCE
            c = Comparison(t, "", value, lo, hi, basis, scale=scale)
            thr = cfg.regression_threshold if col == "regression" else cfg.resolution_threshold
            c.note = f"reduction ≥ {thr:.0%} at day {cfg.outcome_day:.0f}"
            if group == "extrusion":
                c.note += "; sub- + transligamentous pooled"
            if stats is not None:
                r = _find(stats.resorption, "group", group)
                if r is not None and r["n"] > 0:
                    c.simulated, c.sim_lo, c.sim_hi, c.n = r[col], r[f"{col}_lo"], r[f"{col}_hi"], int(r["n"])
                    if col == "regression":  # the fraction at other cut-offs: is it sitting on its threshold?
                        other = [
                            f"≥ {round(100 * t)} %: {r[f'regression_ge{round(100 * t)}']:.2f}"
                            for t in cfg.regression_sensitivity
                            if f"regression_ge{round(100 * t)}" in r and abs(t - cfg.regression_threshold) > 1e-9
                        ]
                        if other:
                            c.note += f" ({', '.join(other)})"
                elif r is not None and r["n_patients"] > 0:
                    c.note += f"; {horizon} < day {cfg.outcome_day:.0f}"
                else:
                    c.note += "; no patient of this type"
            rows.append(c)

    # -- inflammation prevalence by type (Ikeda 1996)
    if "inflammation_prevalence_by_type" in targets:
        t = targets["inflammation_prevalence_by_type"]
        for label, value in t.by_label().items():
            k = round(float(value) * IKEDA_N_PER_TYPE)
            lo, hi = wilson_interval(k, IKEDA_N_PER_TYPE)
            lo, hi = min(lo, value), max(hi, value)
            c = Comparison(
                t,
                label,
                float(value),
                lo,
                hi,
                f"Wilson 95% CI, n≈{IKEDA_N_PER_TYPE} per type (assumed)",
                scale=max(value - lo, hi - value),
                note=f"CD68 ≥ {cfg.infiltrate_threshold_per_cm2:g}/cm² at the sample",
            )
            if stats is not None:
                r = _find(stats.inflammation, "group", label)
                if r is not None and r["n"] > 0:
                    c.simulated, c.sim_lo, c.sim_hi, c.n = (
                        r["prevalence"],
                        r["prevalence_lo"],
                        r["prevalence_hi"],
                        int(r["n"]),
                    )
                else:
                    c.note += "; no patient of this type"
            rows.append(c)

    # -- CD68 density categories (Djuric 2019, n = 119)
    if "cd68_density_category_fractions" in targets:
        t = targets["cd68_density_category_fractions"]
        n_src = int(t.n or 0)
        for label, value, cat in zip(t.labels, t.value, ("mild", "moderate", "considerable"), strict=True):
            lo, hi = (
                wilson_interval(round(value * n_src), n_src)
                if n_src
                else (value - FRACTION_TOLERANCE, value + FRACTION_TOLERANCE)
            )
            c = Comparison(
                t,
                label,
                float(value),
                lo,
                hi,
                f"Wilson 95% CI, n={n_src}",
                scale=max(value - lo, hi - value),
                note="all patients pooled",
            )
            if stats is not None:
                r = _find(stats.cd68_categories, "category", cat)
                if r is not None and r["n"] > 0:
                    c.simulated, c.sim_lo, c.sim_hi, c.n = r["fraction"], r["lo"], r["hi"], int(r["n"])
            rows.append(c)

    # -- macrophage kinetics (rodent; times scaled by rodent_time_scale)
    if "mouse_puncture_macrophage_peak" in targets:
        t = targets["mouse_puncture_macrophage_peak"]
        v = float(t.value) * ts
        c = Comparison(
            t,
            "",
            v,
            v - 3.0 * ts,
            v + 3.0 * ts,
            "±3 days (sampled time points only)",
            scale=3.0 * ts,
            sim_interval="IQR",
            note=f"median day of the total macrophage peak; rodent time × {ts:g}",
        )
        if stats is not None:
            k = stats.kinetics
            c.simulated, c.sim_lo, c.sim_hi, c.n = (
                k["peak_day_total_median"],
                k["peak_day_total_q25"],
                k["peak_day_total_q75"],
                int(k["n_total"]),
            )
        rows.append(c)
    if "rat_puncture_m1_m2_timecourse" in targets:
        t = targets["rat_puncture_m1_m2_timecourse"]
        v = float(t.value) * 7.0 * ts
        c = Comparison(
            t,
            "M2 peak day",
            v,
            10.5 * ts,
            21.0 * ts,
            "midpoints between sampled weeks 1, 2, 4",
            scale=5.25 * ts,
            sim_interval="IQR",
            note=f"median day of the M2 peak; rodent time × {ts:g}",
        )
        c2 = Comparison(
            t,
            "M1 peak before M2 peak",
            1.0,
            0.5,
            1.0,
            "majority of patients",
            scale=0.25,
            kind="interval",
            note="fraction of patients whose M1 peak precedes their M2 peak",
        )
        if stats is not None:
            k = stats.kinetics
            c.simulated, c.sim_lo, c.sim_hi, c.n = (
                k["peak_day_m2_median"],
                k["peak_day_m2_q25"],
                k["peak_day_m2_q75"],
                int(k["n_m1_m2"]),
            )
            c2.simulated, c2.sim_lo, c2.sim_hi, c2.n = (
                k["frac_m1_before_m2"],
                k["frac_m1_before_m2_lo"],
                k["frac_m1_before_m2_hi"],
                int(k["n_m1_m2"]),
            )
        rows += [c, c2]

    # -- Sciatica Trial pain course
    itt = targets["sciatica_trial_leg_vas_itt"] if "sciatica_trial_leg_vas_itt" in targets else None
    trial_ci: dict[float, tuple[float, float, float, int]] = {}
    if itt is not None:
        for w, m, sd, n in zip(itt.time, itt.value, itt.sd, itt.n, strict=True):
            half = 1.96 * sd / math.sqrt(n)
            trial_ci[float(w)] = (m - half, m + half, m, int(n))
        for w, (lo, hi, m, n) in trial_ci.items():
            c = Comparison(
                itt,
                f"week {w:g}",
                m,
                lo,
                hi,
                f"trial 95% CI of the mean (n={n})",
                scale=max(hi - m, 2.5),
                note="weeks after entry (= sample_day)"
                if cfg.entry == "sample_day"
                else f"weeks after entry (day {cfg.entry})",
            )
            if stats is not None:
                r = _visit_index(stats.pain_course, w)
                if r is not None and r["simulated"]:
                    c.simulated, c.sim_lo, c.sim_hi, c.n = r["mean"], r["ci_lo"], r["ci_hi"], int(r["n"])
                else:
                    c.note += f"; beyond {horizon}"
            rows.append(c)
    if "sciatica_trial_leg_vas_exponential_fit" in targets:
        t = targets["sciatica_trial_leg_vas_exponential_fit"]
        fit = stats.pain_fit if stats is not None else {}
        lo, hi, basis, scale = _range(t, float(t.value), 0.5)
        c = Comparison(
            t,
            "tau",
            float(t.value),
            lo,
            hi,
            basis,
            scale=scale,
            sim_interval="95% CI",
            note="fit of simulated visit means",
        )
        items = [(c, "tau_weeks", "tau_lo", "tau_hi")]
        if "plateau_c" in t.extra and 52.0 in trial_ci:
            lo52, hi52, _, _ = trial_ci[52.0]
            cp = Comparison(
                t,
                "plateau",
                float(t.extra["plateau_c"]),
                lo52,
                hi52,
                "trial 95% CI of the week-52 mean",
                scale=max(hi52 - lo52, 1.0) / 2,
                note="fit of simulated visit means",
            )
            items.append((cp, "plateau", "plateau_lo", "plateau_hi"))
        for comp, key, klo, khi in items:
            if stats is not None:
                comp.simulated, comp.sim_lo, comp.sim_hi = (
                    fit.get(key, math.nan),
                    fit.get(klo, math.nan),
                    fit.get(khi, math.nan),
                )
                comp.n = stats.n_patients
                if np.isfinite(fit.get("last_week", math.nan)) and fit["last_week"] < 104:
                    comp.note += f"; fitted over weeks 0-{fit['last_week']:g} (trial: 0-104)"
                if fit.get("n_visits", 0) < 4:
                    comp.note += "; < 4 simulated visits"
            rows.append(comp)
    if "sciatica_trial_fraction_leg_vas_le_17_5" in targets:
        t = targets["sciatica_trial_fraction_leg_vas_le_17_5"]
        for w, value in zip(t.time, t.value, strict=True):
            n_src = trial_ci.get(float(w), (0, 0, 0, 0))[3]
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
                note=f"VAS ≤ {cfg.vas_cutoff:g}",
            )
            if stats is not None:
                r = _visit_index(stats.pain_course, float(w))
                if r is not None and r["simulated"]:
                    c.simulated, c.sim_lo, c.sim_hi, c.n = r["frac_le_cutoff"], r["frac_lo"], r["frac_hi"], int(r["n"])
                else:
                    c.note += f"; beyond {horizon}"
            rows.append(c)

    # -- association signs (Djuric 2020 review)
    if "review_association_signs" in targets:
        t = targets["review_association_signs"]
        for label, sign in t.by_label().items():
            sign = int(sign)
            lo, hi = SIGN_INTERVALS[sign]
            basis = {1: "CI > 0", 0: f"CI ∋ 0 or |ρ| < {cfg.null_rho:g}", -1: "CI < 0"}[sign]
            c = Comparison(
                t, label, float(sign), lo, hi, basis, kind="interval", scale=0.2, note="Spearman ρ with pain_vas_sample"
            )
            if label not in ASSOCIATION_FACTORS:
                c.status, c.note = "not simulated", "factor not modelled"
            elif stats is not None:
                r = _find(stats.associations, "factor", label)
                c.simulated, c.sim_lo, c.sim_hi, c.n = r["rho"], r["ci_lo"], r["ci_hi"], int(r["n"])
                ok = reproduced(sign, c.simulated, c.sim_lo, c.sim_hi, cfg.null_rho)
                if not np.isfinite(c.simulated):
                    c.status, c.note = "not simulated", "readout constant or missing"
                else:
                    c.status = {True: "reproduced", False: "not reproduced", None: "undetermined"}[ok]
            rows.append(c)

    if include_checks:
        rows += _checks(stats, targets, scenario, cfg)
    for c in rows:
        if stats is not None:
            c.judge()
    return rows


def _checks(stats: CohortStatistics | None, targets: TargetSet, scenario: Any, cfg: StatsConfig) -> list[Comparison]:
    rows = []
    ck = stats.checks if stats is not None else {}
    handled = set()
    if "macrophage_load_vs_size_reduction" in targets:
        t = targets["macrophage_load_vs_size_reduction"]
        c = Comparison(
            t,
            "",
            float(t.value),
            0.0,
            1.0,
            "CI > 0",
            kind="interval",
            note=f"Spearman ρ of CD68 at the sample with volume reduction at day {cfg.outcome_day:.0f}",
        )
        if stats is not None:
            c.simulated, c.sim_lo, c.sim_hi = (
                ck["cd68_vs_reduction_rho"],
                ck["cd68_vs_reduction_lo"],
                ck["cd68_vs_reduction_hi"],
            )
            c.n = stats.n_patients
            if np.isfinite(c.simulated):
                c.status = {True: "reproduced", False: "not reproduced", None: "undetermined"}[
                    reproduced(1, c.simulated, c.sim_lo, c.sim_hi)
                ]
        rows.append(c)
        handled.add(t.id)
    if "resorption_detectable_by_2_months" in targets:
        t = targets["resorption_detectable_by_2_months"]
        c = Comparison(
            t,
            "",
            1.0,
            0.0,
            1.0,
            "CI of mean reduction at day 60 > 0 and mean(365) > mean(60)",
            note="mean volume reduction at day 60 (all patients)",
        )
        if stats is not None:
            c.simulated, c.sim_lo, c.sim_hi = (
                ck["reduction_day60_mean"],
                ck["reduction_day60_lo"],
                ck["reduction_day60_hi"],
            )
            c.n = stats.n_patients
            m365 = ck["reduction_day365_mean"]
            if np.isfinite(c.simulated):
                ok = bool(np.isfinite(c.sim_lo) and c.sim_lo > 0)
                if np.isfinite(m365):
                    ok = ok and m365 > c.simulated
                    c.note += f"; day 365: {m365:.2f}"
                else:
                    c.note += "; continuation to 12 months not simulated"
                c.status = "reproduced" if ok else "not reproduced"
            else:
                c.status = "not simulated"
        rows.append(c)
        handled.add(t.id)
    if "resorption_main_window" in targets:
        t = targets["resorption_main_window"]
        c = Comparison(
            t,
            "",
            float(t.value),
            0.5,
            1.0,
            "≥ half of the 1-year reduction by 6 months",
            sim_interval="",
            note="share of the mean 1-year reduction reached by day 182",
        )
        if stats is not None:
            c.simulated, c.n = ck["share_of_1y_reduction_by_6_months"], stats.n_patients
            if np.isfinite(c.simulated):
                c.status = "reproduced" if c.simulated >= 0.5 else "not reproduced"
        rows.append(c)
        handled.add(t.id)
    if "paracrine_communication_length" in targets:
        t = targets["paracrine_communication_length"]
        c = Comparison(
            t,
            "",
            float(t.value),
            100.0,
            float(t.value),
            "roughly 100-250 µm (published models; source in the targets file)",
            sim_interval="min-max",
            note="median √(D/k) over the fields of the scenario",
        )
        if scenario is not None:
            lengths = communication_lengths(scenario)
            vals = np.array(list(lengths.values()))
            c.simulated, c.sim_lo, c.sim_hi, c.n = (
                float(np.median(vals)),
                float(vals.min()),
                float(vals.max()),
                len(vals),
            )
            c.note += ": " + ", ".join(f"{k} {v:.0f}" for k, v in lengths.items())
        rows.append(c)
        handled.add(t.id)
    reasons = {
        "inflammation_modic_rdq_effect": "post-surgical RDQ and Modic status not modelled",
        "macrophage_depletion_delays_pain_resolution": "needs a macrophage-depletion experiment scenario",
        "rat_np_hyperalgesia_duration": "needs a rat NP-on-DRG experiment scenario",
        "serum_cytokines_acute_radiculopathy": "serum (systemic) levels not modelled",
    }
    for t in targets.checks:
        if t.id not in handled:
            rows.append(
                Comparison(
                    t,
                    "",
                    float(t.value) if np.isscalar(t.value) else math.nan,
                    math.nan,
                    math.nan,
                    "",
                    status="not simulated",
                    note=reasons.get(t.id, "no matching statistic"),
                )
            )
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


def to_markdown(table: pd.DataFrame, header: str = "") -> str:
    lines = [header.rstrip() + "\n" if header else ""]
    counts = status_counts(table)
    lines.append("Status counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "\n")
    lines.append(
        "| target | item | target value | target range | basis | simulated | sim. interval | n | status | note |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
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
