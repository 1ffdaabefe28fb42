"""Figures of a trial output, read at a glance: pain by arm, time to recovery, effects by window and subgroup.

- ``pain.png``: mean leg VAS per arm at each visit with its 95 % interval (band), published means as open marks;
- ``recovery.png``: Kaplan-Meier curves of the fraction recovered per arm (lifelines), numbers at risk below,
  published medians marked;
- ``forest-<arm>.png``: leg VAS difference against the reference over the short / medium / long windows and the
  hazard ratio of recovery, overall and in each subgroup level, with 95 % intervals.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..io.store import save_figure  # noqa: E402
from .summary import literal  # noqa: E402

__all__ = ["plot_trial_dir", "plot_pain", "plot_recovery", "plot_forest", "ARM_COLORS"]

ARM_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]
_HR_TICKS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.7, 1.0, 1.5, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0]
_WINDOW_TITLES = {"short": "short term", "medium": "medium term", "long": "long term"}


def _draws_note(manifest: dict) -> str:
    """Title suffix saying that the patients carry posterior draws (``discsim trial --posterior``), so a plot of a run
    with parameter uncertainty is not mistaken for one at the point."""
    post = manifest.get("posterior")
    return f", each patient under one of {post['n_draws']} posterior draws" if post else ""


def _colors(arms: list[str]) -> dict[str, str]:
    return {a: ARM_COLORS[i % len(ARM_COLORS)] for i, a in enumerate(arms)}


def plot_pain(arms_df: pd.DataFrame, manifest: dict, path: Path) -> Path:
    from ..cohort.trial_stats import mean_ci

    arms = manifest["arms"]
    colors = _colors(arms)
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    for arm in arms:
        g = arms_df[arms_df["arm"] == arm].groupby("visit_day")["pain_vas"]
        days = np.array(sorted(g.groups))
        ci = np.array([mean_ci(g.get_group(d).to_numpy()) for d in days])
        weeks = days / 7.0
        n = int(g.size().iloc[0]) if len(days) else 0
        ax.fill_between(weeks, ci[:, 1], ci[:, 2], color=colors[arm], alpha=0.2, lw=0)
        ax.plot(weeks, ci[:, 0], "-o", color=colors[arm], ms=4, lw=2, label=f"{literal(arm)} (n = {n})")
    for pub in manifest.get("published_vs_simulated", []):
        if pub["measure"] == "vas_mean" and pub.get("visit_day") is not None and pub["arm"] in colors:
            ax.plot(pub["visit_day"] / 7.0, pub["value"], "s", mfc="none", mec=colors[pub["arm"]], mew=1.5, ms=7)
    if any(p["measure"] == "vas_mean" for p in manifest.get("published_vs_simulated", [])):
        ax.plot([], [], "s", mfc="none", mec="k", label="published mean (same colour: arm)")
    ax.set_xlabel("weeks after entry (randomization)")
    ax.set_ylabel("leg pain, VAS 0-100 (mean, 95 % CI)")
    ax.set_ylim(0, 100)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    ax.set_title(literal(f"{manifest['name']}: leg pain by arm (intention to treat{_draws_note(manifest)})"))
    save_figure(fig, path, dpi=130)
    plt.close(fig)
    return path


def plot_recovery(outcomes: pd.DataFrame, manifest: dict, path: Path) -> Path:
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    arms = manifest["arms"]
    colors = _colors(arms)
    ok = outcomes[outcomes["status"] == "ok"]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    fitters = []
    for arm in arms:
        g = ok[ok["arm"] == arm]
        kmf = KaplanMeierFitter(label=literal(arm))
        kmf.fit(g["recovery_days"].to_numpy(float) / 7.0, g["recovered"].to_numpy(bool))
        kmf.plot_cumulative_density(ax=ax, color=colors[arm], ci_show=True, lw=2)
        med = kmf.median_survival_time_
        if math.isfinite(med):
            ax.plot([med, med], [0, 0.5], ":", color=colors[arm], lw=1)
        fitters.append(kmf)
    for pub in manifest.get("published_vs_simulated", []):
        if pub["measure"] == "median_recovery_weeks" and pub["arm"] in colors:
            ax.plot(pub["value"], 0.5, "v", mfc="none", mec=colors[pub["arm"]], mew=1.5, ms=10)
        if pub["measure"] == "recovered_fraction_1y" and pub["arm"] in colors:
            ax.plot(manifest["mri_day_after_entry"] / 7.0, pub["value"], "s", mfc="none", mec=colors[pub["arm"]], ms=8)
    if any(
        p["measure"] in ("median_recovery_weeks", "recovered_fraction_1y")
        for p in manifest.get("published_vs_simulated", [])
    ):
        ax.plot([], [], "v", mfc="none", mec="k", label="published median / 1-year fraction")
    ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
    ax.set_ylim(0, 1)
    ax.set_xlim(left=0)
    ax.set_xlabel("weeks after entry")
    ax.set_ylabel(literal(f"fraction recovered ({manifest['recovery_definition']})"))
    ax.set_title(literal(f"{manifest['name']}: time to recovery (Kaplan-Meier, 95 % CI{_draws_note(manifest)})"))
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, loc="lower right")
    add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"])
    save_figure(fig, path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_forest(effects: pd.DataFrame, manifest: dict, arm: str, path: Path) -> Path:
    eff = effects[effects["arm"] == arm]
    ref = manifest["reference"]
    groups = list(dict.fromkeys(zip(eff["subgroup"], eff["level"])))
    panels = [("vas_window", w) for w in ("short", "medium", "long")] + [("hazard_ratio_recovery", "")]
    windows = manifest["trial"]["windows"]
    n_rows = len(groups)
    fig, axes = plt.subplots(1, 4, figsize=(15, 1.2 + 0.38 * n_rows), layout="constrained", sharey=True)
    y = np.arange(n_rows)[::-1]
    labels = []
    for sg, level in groups:
        n = eff[(eff["subgroup"] == sg) & (eff["level"] == level)]["n"].max()
        labels.append(literal("all patients" if sg == "all" else f"{_variable_label(sg)}: {level}") + f"  (n={n})")
    for ax, (measure, label) in zip(axes, panels):
        sel = eff[(eff["measure"] == measure) & (eff["label"] == label)]
        vals = {(r.subgroup, r.level): r for r in sel.itertuples()}
        if not np.isfinite(sel["effect"].to_numpy(float)).any():
            ax.text(
                0.5,
                0.5,
                "no estimate\n(too few recoveries in an arm)",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="0.4",
            )
        log = measure == "hazard_ratio_recovery"
        xmin, xmax = _axis_range(sel, log)
        for yi, key in zip(y, groups):
            r = vals.get(key)
            if r is None or not math.isfinite(r.effect):
                continue
            color = "k" if key[0] == "all" else "#1f77b4"
            lo, hi = r.effect_ci_low, r.effect_ci_high
            if math.isfinite(lo) and math.isfinite(hi):
                # intervals of small levels can be very wide: clipped at the axis, with an arrow
                ax.plot([max(lo, xmin), min(hi, xmax)], [yi, yi], color=color, lw=1.6)
                if lo < xmin:
                    ax.plot(xmin, yi, "<", color=color, ms=6)
                if hi > xmax:
                    ax.plot(xmax, yi, ">", color=color, ms=6)
            if xmin <= r.effect <= xmax:
                ax.plot(r.effect, yi, "D" if key[0] == "all" else "s", color=color, ms=6)
            else:  # a small level's estimate beyond the axis
                ax.plot(xmax if r.effect > xmax else xmin, yi, ">" if r.effect > xmax else "<", color=color, ms=6)
        ax.set_xlim(xmin, xmax)
        if measure == "hazard_ratio_recovery":
            ax.axvline(1.0, color="0.5", lw=1)
            ax.set_xscale("log")
            ticks = _spaced_ticks([t for t in _HR_TICKS if xmin <= t <= xmax], xmin, xmax)
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.set_title("time to recovery")
            ax.set_xlabel("hazard ratio (> 1: faster)")
        else:
            a, b = windows[label]
            ax.axvline(0.0, color="0.5", lw=1)
            ax.set_title(f"{_WINDOW_TITLES[label]} (days {a}-{b})")
            ax.set_xlabel("leg VAS difference (points)")
        ax.grid(axis="x", alpha=0.3)
        for i in range(1, n_rows):
            if groups[i][0] != groups[i - 1][0]:
                ax.axhline(y[i] + 0.5, color="0.85", lw=0.8)
    axes[0].set_yticks(y, labels)
    axes[0].set_ylim(-0.7, n_rows - 0.3)
    fig.suptitle(
        literal(f"{manifest['name']}: {arm} − {ref}, mean paired difference in leg VAS over each window")
        + f" (< 0: less pain with {literal(arm)}) and hazard ratio of recovery, 95 % CI"
        + literal(_draws_note(manifest)).replace(", ", "\n", 1)  # on its own line: the title is long already
    )
    save_figure(fig, path, dpi=130)
    plt.close(fig)
    return path


def _spaced_ticks(ticks: list[float], xmin: float, xmax: float) -> list[float]:
    """The log-axis ticks at least 1/12 of the axis apart (1 always kept), so labels such as 1.5 and 2 do not overlap
    on a wide hazard-ratio axis."""
    gap = (math.log10(xmax) - math.log10(xmin)) / 12
    kept: list[float] = []
    for t in sorted(ticks, key=lambda t: (t != 1.0, t)):  # 1 (the null) first, then the others in order
        if all(abs(math.log10(t) - math.log10(k)) >= gap for k in kept):
            kept.append(t)
    return sorted(kept)


def _axis_range(sel: pd.DataFrame, log: bool) -> tuple[float, float]:
    """x range from the estimates and the intervals of levels with at least 10 patients, and the null value."""
    big = sel[sel["n"] >= min(10, sel["n"].max())] if len(sel) else sel
    vals = np.r_[big["effect"], big["effect_ci_low"], big["effect_ci_high"]].astype(float)
    vals = vals[np.isfinite(vals) & ((vals > 0) if log else True)]
    null = 1.0 if log else 0.0
    if vals.size == 0:
        return (0.1, 10.0) if log else (-1.0, 1.0)
    lo, hi = min(vals.min(), null), max(vals.max(), null)
    if log:
        pad = (np.log10(hi) - np.log10(lo)) * 0.08 + 0.05
        return 10 ** (np.log10(lo) - pad), 10 ** (np.log10(hi) + pad)
    pad = (hi - lo) * 0.08 or 1.0
    return lo - pad, hi + pad


def _variable_label(variable: str) -> str:
    scope, _, name = variable.partition(".")
    return f"{name} at entry" if scope == "entry" else name


def plot_trial_dir(directory: str | Path, format: str = "png") -> list[Path]:
    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    arms_df = pd.read_parquet(directory / "arms.parquet")
    outcomes = pd.read_parquet(directory / "outcomes.parquet")
    effects = pd.read_parquet(directory / "effects.parquet")
    paths = [
        plot_pain(arms_df, manifest, directory / f"pain.{format}"),
        plot_recovery(outcomes, manifest, directory / f"recovery.{format}"),
    ]
    for arm in manifest["arms"]:
        if arm != manifest["reference"] and (effects["arm"] == arm).any():
            paths.append(plot_forest(effects, manifest, arm, directory / f"forest-{arm}.{format}"))
    return paths
