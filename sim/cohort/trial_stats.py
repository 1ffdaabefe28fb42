"""Trial statistics: paired effects of each arm against the reference, overall and by subgroup.

Every arm has the same patients (common random numbers), so differences are *paired*: the effect on a mean is the
mean of the per-patient differences, with a t interval over patients (:func:`paired_difference`). Time to
recovery uses lifelines: Kaplan-Meier per arm (median with its interval, fraction recovered at one year) and a
Cox model of the arm (hazard ratio of recovery, > 1 = faster) with a robust (sandwich) variance clustered on the
patient, which accounts for each patient appearing in both arms. Fractions (responders, surgery) get Wilson
intervals per arm and a paired difference.

``effects.parquet`` has one row per measure, label, subgroup level and arm:

============== =================================================================================================
column         meaning
============== =================================================================================================
measure        ``vas`` (leg VAS at a visit), ``vas_window`` (mean daily leg VAS over a window),
               ``median_recovery_days``, ``recovered_fraction_1y``, ``hazard_ratio_recovery``, ``responder``,
               ``surgery``, ``volume_fraction_mri``, ``herniation_volume_mm3_mri``
label          visit (``day 56``) or window (``short``) or ''
visit_day      visit day after entry (NaN for other measures)
subgroup       ``all`` or the subgroup variable; ``level``: ``all`` or the subgroup's level
arm            the compared arm; ``reference``: the reference arm; ``n``: patients with both runs
arm_value ...  the arm's estimate and 95 % interval; ``ref_value`` … the reference's
effect ...     arm − reference (paired mean difference, or difference of fractions), or the hazard ratio;
               ``effect_kind`` says which; ``p_value`` (paired t, or Cox Wald)
============== =================================================================================================
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .trial_spec import Subgroup, TrialFile, variable_column

__all__ = [
    "paired_difference",
    "mean_ci",
    "wilson_ci",
    "kaplan_meier",
    "cox_hazard_ratio",
    "subgroup_levels",
    "trial_effects",
    "published_beside_simulated",
    "EFFECT_COLUMNS",
]

EFFECT_COLUMNS = [
    "measure",
    "label",
    "visit_day",
    "subgroup",
    "level",
    "arm",
    "reference",
    "n",
    "arm_value",
    "arm_ci_low",
    "arm_ci_high",
    "ref_value",
    "ref_ci_low",
    "ref_ci_high",
    "effect",
    "effect_ci_low",
    "effect_ci_high",
    "effect_kind",
    "p_value",
    "unit",
]
_NAN3 = (math.nan, math.nan, math.nan)
#: fewer patients than this in a group (a small subgroup level): no hazard ratio
MIN_COX_PER_GROUP = 5


def mean_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and its t interval (NaN interval for fewer than 2 values)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return _NAN3
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    se = float(x.std(ddof=1)) / math.sqrt(x.size)
    if se == 0:
        return m, m, m
    h = float(stats.t.ppf(0.5 + level / 2, x.size - 1)) * se
    return m, m - h, m + h


def paired_difference(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Mean of ``a − b`` over pairs where both are finite, its t interval and the paired t-test p-value."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    m, lo, hi = mean_ci(d, level)
    p = math.nan
    if d.size >= 2:
        if np.ptp(d) == 0:  # no spread: the t statistic is 0/0 or ±∞
            p = 1.0 if d[0] == 0 else 0.0
        else:
            p = float(stats.ttest_1samp(d, 0.0).pvalue)
    return {"n": int(d.size), "effect": m, "effect_ci_low": lo, "effect_ci_high": hi, "p_value": p}


def wilson_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Fraction of true values and its Wilson interval."""
    x = np.asarray(x, dtype=bool)
    if x.size == 0:
        return _NAN3
    ci = stats.binomtest(int(x.sum()), int(x.size)).proportion_ci(confidence_level=level, method="wilson")
    return float(x.mean()), float(ci.low), float(ci.high)


def kaplan_meier(durations: np.ndarray, events: np.ndarray, label: str = "", at: float | None = None):
    """A fitted :class:`lifelines.KaplanMeierFitter` of time to recovery and its summaries.

    Returns ``(fitter, summary)`` with ``median`` and ``median_ci`` (time, lifelines' interval of the median; inf
    when the curve never reaches one half) and, when ``at`` is given, ``recovered_at`` = 1 − S(at) with its
    interval.
    """
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    kmf = KaplanMeierFitter(label=label or "arm")
    kmf.fit(np.asarray(durations, dtype=float), np.asarray(events, dtype=bool))
    med = float(kmf.median_survival_time_)
    ci = median_survival_times(kmf.confidence_interval_)
    summary: dict[str, Any] = {"median": med, "median_ci": (float(ci.iloc[0, 0]), float(ci.iloc[0, 1]))}
    if at is not None:
        cd = kmf.cumulative_density_at_times([at]).iloc[0]
        band = kmf.confidence_interval_cumulative_density_
        row = band[band.index <= at].iloc[-1]
        summary["recovered_at"] = (float(cd), float(row.iloc[0]), float(row.iloc[1]))
    return kmf, summary


def cox_hazard_ratio(
    durations: np.ndarray, events: np.ndarray, treated: np.ndarray, cluster: np.ndarray | None = None
) -> dict[str, float]:
    """Hazard ratio of ``treated`` (1) vs not (0) from :class:`lifelines.CoxPHFitter` (Efron ties).

    ``cluster`` (e.g. the patient of matched arms) gives the robust sandwich variance. NaN when the model
    cannot be fitted (no events in a group, fewer than :data:`MIN_COX_PER_GROUP` patients in a group, or
    complete separation).
    """
    from lifelines import CoxPHFitter

    df = pd.DataFrame(
        {"T": np.asarray(durations, float), "E": np.asarray(events, bool).astype(int), "treated": treated}
    )
    if cluster is not None:
        df["cluster"] = np.asarray(cluster)
    out = {"effect": math.nan, "effect_ci_low": math.nan, "effect_ci_high": math.nan, "p_value": math.nan}
    by = df.groupby("treated")["E"].sum()
    if len(by) < 2 or (by == 0).any() or df.groupby("treated").size().min() < MIN_COX_PER_GROUP:
        return out
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph = CoxPHFitter().fit(
                df, duration_col="T", event_col="E", cluster_col="cluster" if cluster is not None else None
            )
    except Exception:  # lifelines' ConvergenceError and numerical failures: no estimate
        return out
    s = cph.summary.loc["treated"]
    if not all(math.isfinite(float(s[c])) for c in ("exp(coef)", "exp(coef) lower 95%", "exp(coef) upper 95%")):
        return out  # separation (every recovery in one arm first): no finite estimate
    return {
        "effect": float(s["exp(coef)"]),
        "effect_ci_low": float(s["exp(coef) lower 95%"]),
        "effect_ci_high": float(s["exp(coef) upper 95%"]),
        "p_value": float(s["p"]),
    }


def subgroup_levels(values: pd.Series, sg: Subgroup) -> pd.Series:
    """The level of each patient in subgroup ``sg`` (strings; 'missing' for undefined values)."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    split = sg.split if sg.split is not None else ("median" if numeric else "category")
    if not numeric or (sg.cuts is None and split == "category"):
        return values.map(lambda v: "missing" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    x = values.astype(float)
    if sg.cuts is not None:
        cuts = list(sg.cuts)
    else:
        qs = [0.5] if split == "median" else [1 / 3, 2 / 3]
        cuts = sorted(set(float(np.nanquantile(x, q)) for q in qs)) if x.notna().any() else []
    edges = [-math.inf, *cuts, math.inf]
    names = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if lo == -math.inf:
            names.append(f"≤ {hi:.3g}")
        elif hi == math.inf:
            names.append(f"> {lo:.3g}")
        else:
            names.append(f"{lo:.3g}-{hi:.3g}")
    idx = np.searchsorted(np.asarray(cuts), x.to_numpy(), side="left")
    return pd.Series([names[i] if math.isfinite(v) else "missing" for i, v in zip(idx, x)], index=values.index)


def _row(measure: str, label: str, visit: float, subgroup: str, level: str, arm: str, ref: str, unit: str, **kw):
    row = dict.fromkeys(EFFECT_COLUMNS, math.nan)
    row.update(
        measure=measure, label=label, visit_day=visit, subgroup=subgroup, level=level, arm=arm, reference=ref, unit=unit
    )
    row["effect_kind"] = ""
    row.update(kw)
    return row


def _arm_ref(row: dict[str, Any], a: tuple, r: tuple) -> None:
    row["arm_value"], row["arm_ci_low"], row["arm_ci_high"] = a
    row["ref_value"], row["ref_ci_low"], row["ref_ci_high"] = r


def _effects_for(
    spec: TrialFile,
    ok: pd.DataFrame,
    visits: pd.DataFrame,
    arm: str,
    ref: str,
    subgroup: str,
    level: str,
    patients: np.ndarray,
) -> list[dict[str, Any]]:
    rows = []
    a = ok[ok["arm"] == arm].set_index("patient").reindex(patients)
    r = ok[ok["arm"] == ref].set_index("patient").reindex(patients)
    common = dict(subgroup=subgroup, level=level, arm=arm, ref=ref)

    def diff(measure, label, visit, unit, av, rv):
        row = _row(measure, label, visit, unit=unit, **common)
        _arm_ref(row, mean_ci(av), mean_ci(rv))
        row.update(paired_difference(av, rv))
        row["effect_kind"] = "difference"
        rows.append(row)

    # leg VAS at each visit (entry included) and over the windows
    if len(visits):
        v = visits[visits["patient"].isin(patients)]
        table = v.pivot_table(index=["patient", "visit_day"], columns="arm", values="pain_vas", aggfunc="first")
        for day in [0, *spec.visits_days]:
            sel = table.xs(day, level="visit_day") if day in table.index.get_level_values(1) else None
            if sel is None or arm not in sel or ref not in sel:
                continue
            sel = sel.reindex(patients)
            diff("vas", f"day {day}", float(day), "VAS 0-100", sel[arm].to_numpy(float), sel[ref].to_numpy(float))
    for name, window in spec.windows.items():
        diff(
            "vas_window",
            name,
            math.nan,
            f"mean VAS 0-100, days {window[0]}-{window[1]} after entry",
            a[f"vas_{name}"].to_numpy(float),
            r[f"vas_{name}"].to_numpy(float),
        )

    # time to recovery
    mri = min(365, spec.follow_up_days)
    ka, sa = kaplan_meier(a["recovery_days"], a["recovered"], arm, at=mri)
    kr, sr = kaplan_meier(r["recovery_days"], r["recovered"], ref, at=mri)
    row = _row("median_recovery_days", "", math.nan, unit="days after entry", **common)
    _arm_ref(row, (sa["median"], *sa["median_ci"]), (sr["median"], *sr["median_ci"]))
    row["n"] = len(patients)
    row["effect"] = sa["median"] - sr["median"] if math.isfinite(sa["median"] - sr["median"]) else math.nan
    row["effect_kind"] = "difference (no interval)"
    rows.append(row)
    row = _row("recovered_fraction_1y", f"day {mri}", float(mri), unit="fraction (Kaplan-Meier)", **common)
    _arm_ref(row, sa["recovered_at"], sr["recovered_at"])
    row["n"] = len(patients)
    row["effect"] = sa["recovered_at"][0] - sr["recovered_at"][0]
    row["effect_kind"] = "difference (no interval)"
    rows.append(row)
    dur = np.concatenate([a["recovery_days"].to_numpy(float), r["recovery_days"].to_numpy(float)])
    ev = np.concatenate([a["recovered"].to_numpy(bool), r["recovered"].to_numpy(bool)])
    tr = np.r_[np.ones(len(patients), int), np.zeros(len(patients), int)]
    hr = cox_hazard_ratio(dur, ev, tr, cluster=np.r_[patients, patients])
    row = _row("hazard_ratio_recovery", "", math.nan, unit="hazard ratio (> 1: faster recovery)", **common)
    _arm_ref(row, (sa["median"], *sa["median_ci"]), (sr["median"], *sr["median_ci"]))
    row.update(hr, n=len(patients), effect_kind="hazard ratio")
    rows.append(row)

    # fractions and MRI
    for measure, label, unit in (
        ("responder", f"day {spec.responder.visit_day}", "fraction"),
        ("surgery", "", "fraction operated during follow-up"),
    ):
        av, rv = a[measure].to_numpy(bool), r[measure].to_numpy(bool)
        row = _row(
            measure, label, spec.responder.visit_day if measure == "responder" else math.nan, unit=unit, **common
        )
        _arm_ref(row, wilson_ci(av), wilson_ci(rv))
        row.update(paired_difference(av.astype(float), rv.astype(float)))
        row["effect_kind"] = "difference"
        rows.append(row)
    diff(
        "volume_fraction_mri",
        f"day {mri}",
        float(mri),
        "fraction of onset volume",
        a["volume_fraction_mri"].to_numpy(float),
        r["volume_fraction_mri"].to_numpy(float),
    )
    diff(
        "herniation_volume_mm3_mri",
        f"day {mri}",
        float(mri),
        "mm³",
        a["herniation_volume_mm3_mri"].to_numpy(float),
        r["herniation_volume_mm3_mri"].to_numpy(float),
    )
    return rows


def trial_effects(outcomes: pd.DataFrame, visits: pd.DataFrame, spec: TrialFile, reference: str) -> pd.DataFrame:
    """Effects of every arm against ``reference``: overall, then by each subgroup level (module docstring)."""
    ok = outcomes[outcomes["status"] == "ok"]
    arms = [a.name for a in spec.arm if a.name != reference]
    # patients with a run in every arm (pairs are complete)
    counts = ok.groupby("patient")["arm"].nunique()
    patients = np.sort(counts[counts == len(spec.arm)].index.to_numpy())
    baseline = ok[ok["arm"] == reference].set_index("patient").reindex(patients)
    rows: list[dict[str, Any]] = []
    if patients.size == 0:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    groups: list[tuple[str, str, np.ndarray]] = [("all", "all", patients)]
    for sg in spec.subgroup:
        levels = subgroup_levels(baseline[variable_column(sg.variable)], sg)
        for level in sorted(levels.unique(), key=_level_order):
            groups.append((sg.variable, level, patients[(levels == level).to_numpy()]))
    for arm in arms:
        for subgroup, level, members in groups:
            if members.size == 0:
                continue
            rows += _effects_for(spec, ok, visits, arm, reference, subgroup, level, members)
    df = pd.DataFrame.from_records(rows, columns=EFFECT_COLUMNS)
    df["n"] = df["n"].astype("int64")
    return df


def _level_order(level: str) -> tuple[int, float, str]:
    # numeric levels in order of their bounds, 'missing' last
    if level == "missing":
        return (2, 0.0, level)
    for prefix in ("≤ ", "> "):
        if level.startswith(prefix):
            try:
                return (0, float(level[2:]) + (0.5e-12 if prefix == "> " else 0), level)
            except ValueError:
                break
    head = level.split("-")[0]
    try:
        return (0, float(head), level)
    except ValueError:
        return (1, 0.0, level)


def published_beside_simulated(spec: TrialFile, effects: pd.DataFrame, reference: str) -> list[dict[str, Any]]:
    """Each ``[[published]]`` result with the simulated value of the same measure (overall), for the manifest."""
    out = []
    allrows = effects[effects["subgroup"] == "all"] if len(effects) else effects
    for pub in spec.published:
        sim = {"value": math.nan, "ci_low": math.nan, "ci_high": math.nan}
        if len(allrows):
            sim = _simulated(pub, allrows, reference)
        out.append({**pub.model_dump(), "simulated": sim})
    return out


def _simulated(pub, rows: pd.DataFrame, reference: str) -> dict[str, float]:
    def pick(measure, arm, label=None):
        sel = rows[rows["measure"] == measure]
        if label is not None:
            sel = sel[sel["label"] == label]
        if arm == reference:
            sel = sel.head(1)
            if not len(sel):
                return None, "ref"
            return sel.iloc[0], "ref"
        sel = sel[sel["arm"] == arm]
        return (sel.iloc[0], "arm") if len(sel) else (None, "arm")

    scale = 1.0
    if pub.measure == "median_recovery_weeks":
        row, side = pick("median_recovery_days", pub.arm)
        scale = 1 / 7
    elif pub.measure == "recovered_fraction_1y":
        row, side = pick("recovered_fraction_1y", pub.arm)
    elif pub.measure == "surgery_fraction":
        row, side = pick("surgery", pub.arm)
    elif pub.measure == "vas_mean":
        row, side = pick("vas", pub.arm, f"day {pub.visit_day}")
    elif pub.measure == "hazard_ratio_recovery":
        row, side = pick("hazard_ratio_recovery", pub.arm)
        side = "effect"
    elif pub.measure == "vas_window_difference":
        row, side = pick("vas_window", pub.arm, pub.window)
        side = "effect"
    else:  # vas_difference
        row, side = pick("vas", pub.arm, f"day {pub.visit_day}")
        side = "effect"
    if row is None:
        return {"value": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    cols = {"arm": ("arm_value", "arm_ci_low", "arm_ci_high"), "ref": ("ref_value", "ref_ci_low", "ref_ci_high")}.get(
        side, ("effect", "effect_ci_low", "effect_ci_high")
    )
    return {k: float(row[c]) * scale for k, c in zip(("value", "ci_low", "ci_high"), cols)}
