"""Figures of cohort and sweep outputs: pain, resorption and macrophage courses by group, outcomes vs parameters.

Groups are herniation types (cohorts) or design points (sweeps). Trajectories are summarised across
patients/replicates as the median with 50 % and 90 % bands (inter-quantile ranges); a group of fewer than
:data:`MIN_BAND_N` runs shows its median only, and the panel says so. Legends sit outside the axes.
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
import pyarrow.parquet as pq  # noqa: E402

from ..io.store import save_figure  # noqa: E402
from .summary import PAIN_LABEL, PHENOTYPE_COLORS, legend_above, literal  # noqa: E402

__all__ = ["plot_cohort_dir", "plot_sweep_dir", "TYPE_COLORS", "MIN_BAND_N"]

#: groups with fewer runs than this show their median only: quantile bands of 2-4 values say nothing
MIN_BAND_N = 5
DAYS_LABEL = "days since herniation"

TYPE_ORDER = ["bulging", "protrusion", "subligamentous_extrusion", "transligamentous_extrusion", "sequestration"]
#: containment order, light to dark: contained (green) -> free fragment (purple)
TYPE_COLORS = {
    "bulging": "#2ca02c",
    "protrusion": "#17becf",
    "subligamentous_extrusion": "#1f77b4",
    "transligamentous_extrusion": "#ff7f0e",
    "sequestration": "#9467bd",
}
_COURSE = [
    ("pain_vas", PAIN_LABEL),
    ("volume_fraction", "herniation volume (% of onset)"),
    ("n_m1", "M1 macrophages (cells in section)"),
    ("n_m2", "M2 macrophages (cells in section)"),
]
#: (column, panel title, x label without unit, unit): the backgrounds are the patient's levels, not measured
_SAMPLE_FACTORS = [
    ("tnf_sample", "TNF-α", "TNF-α in the sample", "pg/mL"),
    ("il1b_sample", "IL-1β", "IL-1β in the sample", "pg/mL"),
    ("il6_sample", "IL-6", "IL-6 in the sample", "pg/mL"),
    ("il8_sample", "IL-8", "IL-8 in the sample", "pg/mL"),
    ("il10_sample", "IL-10", "IL-10 in the sample", "pg/mL"),
    ("tgfb_sample", "TGF-β", "TGF-β in the sample", "pg/mL"),
    ("ifng_sample", "IFN-γ (background)", "IFN-γ background of the patient", "pg/mL"),
    ("il4_sample", "IL-4 (background)", "IL-4 background of the patient", "pg/mL"),
    ("cd68_per_cm2_sample", "CD68+ density", "CD68+ density in the sample", "cells/cm²"),
]


def _label_type(t: str) -> str:
    return t.replace("_", " ")


def _bands(traj: pd.DataFrame, group: str, col: str) -> pd.DataFrame:
    """Per group and day: q05, q25, q50, q75, q95 of ``col``."""
    g = traj.groupby([group, "day"])[col]
    q = g.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack()
    q.columns = ["q05", "q25", "q50", "q75", "q95"]
    return q.reset_index()


def _scale(col: str, y: pd.Series | np.ndarray):
    return 100 * y if col == "volume_fraction" else y


def _band_panel(
    ax, b: pd.DataFrame, col: str, color: str, label: str | None, full: bool = True, bands: bool = True, **line
) -> None:
    """Median of ``col`` against day; with ``bands`` the 50 % band (and with ``full`` the 90 % band too)."""
    d = b["day"].to_numpy()
    if not bands:
        ax.plot(d, _scale(col, b["q50"]), color=color, lw=line.pop("lw", 2), label=label or "median", **line)
        return
    if full:
        ax.fill_between(
            d,
            _scale(col, b["q05"]),
            _scale(col, b["q95"]),
            color=color,
            alpha=0.15,
            lw=0,
            label="90 % band" if label is None else None,
        )
    ax.fill_between(
        d,
        _scale(col, b["q25"]),
        _scale(col, b["q75"]),
        color=color,
        alpha=0.35 if full else 0.15,
        lw=0,
        label="50 % band" if label is None else None,
    )
    ax.plot(d, _scale(col, b["q50"]), color=color, lw=line.pop("lw", 2), label=label or "median", **line)


def _save(fig, path: Path) -> Path:
    save_figure(fig, path, dpi=130)
    plt.close(fig)
    return path


def _read(directory: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    return pq.read_table(directory / name, columns=columns).to_pandas()


# ---------------------------------------------------------------------------------------------
# cohort
# ---------------------------------------------------------------------------------------------


def plot_cohort_dir(directory: Path, format: str = "png") -> list[Path]:
    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    patients = _read(directory, "patients.parquet")
    ok = patients[patients["status"] == "ok"]
    traj = _read(directory, "trajectories.parquet", ["patient", "day"] + [c for c, _ in _COURSE])
    traj = traj.merge(ok[["patient", "herniation_type"]], on="patient")
    types = [t for t in TYPE_ORDER if t in set(ok["herniation_type"])]
    counts = ok["herniation_type"].value_counts().to_dict()
    title = f"{literal(manifest['name'])}: {len(ok)} virtual patients"
    if manifest.get("n_failed"):
        title += f" ({manifest['n_failed']} failed, not shown)"
    lo, hi = _sample_window(ok)
    return [
        _cohort_pain(traj, types, counts, title, lo, hi, directory / f"cohort_pain.{format}"),
        _cohort_course(traj, types, counts, title, directory / f"cohort_course.{format}"),
        _cohort_sample(ok, types, title, directory / f"cohort_sample.{format}"),
    ]


def _sample_window(ok: pd.DataFrame) -> tuple[float, float]:
    if ok.empty:
        return math.nan, math.nan
    return float(ok["sample_day"].min()), float(ok["sample_day"].max())


def _grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns for ``n`` panels: at most 3 columns, and 2 x 2 rather than 3 + 1 for four."""
    ncol = 2 if n == 4 else min(3, n)
    return math.ceil(n / ncol), ncol


def _drop_empty_panels(axes: np.ndarray, n_drawn: int, xlabel: str = DAYS_LABEL) -> None:
    """Remove the panels after the first ``n_drawn`` and give the lowest drawn panel of every column its x tick
    labels and x label (shared x axes label only the bottom row, which may be one of the removed panels)."""
    for ax in axes.flat[n_drawn:]:
        ax.remove()
    nrow, ncol = axes.shape
    for j in range(ncol):
        drawn = [axes[i, j] for i in range(nrow) if i * ncol + j < n_drawn]
        if drawn:
            drawn[-1].xaxis.set_tick_params(which="both", labelbottom=True)
            drawn[-1].set_xlabel(xlabel)


def _band_note(n: int) -> str:
    """Panel note for a group too small for bands."""
    if n >= MIN_BAND_N:
        return ""
    what = "one patient" if n == 1 else "median only"
    return f"{what} (bands need n ≥ {MIN_BAND_N})"


def _cohort_pain(traj, types, counts, title, lo, hi, path: Path) -> Path:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    groups = [("all", "all patients", "k")] + [(t, _label_type(t), TYPE_COLORS[t]) for t in types]
    nrow, ncol = _grid_shape(len(groups))
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), layout="constrained", sharex=True, sharey=True, squeeze=False
    )
    all_b = _bands(traj.assign(_all="all"), "_all", "pain_vas")
    any_bands = False
    for ax, (key, label, color) in zip(axes.flat, groups):
        b = all_b if key == "all" else _bands(traj[traj["herniation_type"] == key], "herniation_type", "pain_vas")
        n = sum(counts.values()) if key == "all" else counts.get(key, 0)
        bands = n >= MIN_BAND_N
        any_bands |= bands
        _band_panel(ax, b, "pain_vas", color, None, bands=bands)
        note = _band_note(n)
        ax.set_title(f"{label} (n = {n})" + (f"\n{note}" if note else ""), fontsize=11)
        if np.isfinite(lo):
            ax.axvspan(lo, hi, color="#fdf3c4", zorder=0)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    _drop_empty_panels(axes, len(groups))
    for ax in axes[:, 0]:
        ax.set_ylabel(PAIN_LABEL)
    handles = [Line2D([], [], color="k", lw=2, label="median")]
    if any_bands:
        handles += [
            Patch(color="k", alpha=0.35, lw=0, label="50 % of patients"),
            Patch(color="k", alpha=0.15, lw=0, label="90 % of patients"),
        ]
    if np.isfinite(lo):
        handles.append(Patch(color="#fdf3c4", label="tissue sampling days"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9, frameon=False)
    what = "median, 50 % and 90 % of patients" if any_bands else "median"
    fig.suptitle(f"{title}: leg pain by herniation type ({what})")
    return _save(fig, path)


def _cohort_course(traj, types, counts, title, path: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), layout="constrained", sharex=True)
    for ax, (col, ylabel) in zip(axes, _COURSE[1:]):
        bands = _bands(traj, "herniation_type", col)
        for t in types:
            n = counts.get(t, 0)
            note = "" if n >= MIN_BAND_N else ", median only"
            _band_panel(
                ax,
                bands[bands["herniation_type"] == t],
                col,
                TYPE_COLORS[t],
                f"{_label_type(t)} (n = {n}{note})",
                full=False,
                bands=n >= MIN_BAND_N,
            )
        ax.set_ylabel(ylabel)
        ax.set_xlabel(DAYS_LABEL)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].set_title("Resorption")
    axes[1].set_title("Pro-inflammatory M1", color=PHENOTYPE_COLORS["M1"])
    axes[2].set_title("Anti-inflammatory M2", color=PHENOTYPE_COLORS["M2"])
    axes[0].set_ylim(0, 105)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=min(len(types), 5), fontsize=9)
    fig.suptitle(
        f"{title}: median and 50 % band by herniation type (median only for types with fewer than {MIN_BAND_N})"
    )
    return _save(fig, path)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    m = np.isfinite(x) & np.isfinite(y)
    if m.sum() < 3 or np.ptp(x[m]) == 0 or np.ptp(y[m]) == 0:
        return math.nan
    from scipy.stats import spearmanr

    return float(spearmanr(x[m], y[m]).statistic)


def _cohort_sample(ok: pd.DataFrame, types, title, path: Path) -> Path:
    fig, axes = plt.subplots(3, 3, figsize=(12, 10), layout="constrained", sharey=True)
    y = ok["pain_vas_sample"].to_numpy(dtype=float)
    for ax, (col, label, xlabel, unit) in zip(axes.flat, _SAMPLE_FACTORS):
        x = ok[col].to_numpy(dtype=float)
        pos = x[np.isfinite(x) & (x > 0)]
        log = pos.size > 2 and np.quantile(pos, 0.95) / max(np.quantile(pos, 0.05), 1e-300) > 10  # spans a decade
        if log:  # a few patients with ~0 (e.g. no macrophages): pin them to the left edge, marked
            floor = np.quantile(pos, 0.05) / 10
            low = ~(x >= floor)
            ax.scatter(
                np.full(int(low.sum()), floor),
                y[low],
                s=18,
                marker="<",
                color="0.4",
                label="below the axis (left edge)" if low.any() else None,
            )
            x = np.where(low, np.nan, x)
            ax.set_xscale("log")
            ax.set_xlim(floor / 1.5, np.nanmax(x) * 1.5)
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        for t in types:
            m = (ok["herniation_type"] == t).to_numpy()
            ax.scatter(x[m], y[m], s=14, alpha=0.75, color=TYPE_COLORS[t], label=_label_type(t), lw=0)
        rho = _spearman(ok[col].to_numpy(dtype=float), y)
        ax.set_xlabel(f"{xlabel} ({unit}, log scale)" if log else f"{xlabel} ({unit})")
        ax.set_title(f"{label}: Spearman ρ = {rho:+.2f}" if np.isfinite(rho) else label)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("leg pain at sampling (VAS 0-100)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes.flat[1:]:  # "below" markers may appear only in some panels
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels and lab.startswith("below"):
                handles.append(h)
                labels.append("below the axis (left edge)")
    fig.legend(
        handles,
        [lab if not lab.startswith("below") else "below the axis (left edge)" for lab in labels],
        loc="outside lower center",
        ncol=len(labels),
        fontsize=9,
    )
    fig.suptitle(
        f"{title}: tissue sample (mean in fragment) and the patient's IFN-γ / IL-4 backgrounds\n"
        f"vs pain on the sampling day (day {int(ok['sample_day'].min()) if len(ok) else 0}-"
        f"{int(ok['sample_day'].max()) if len(ok) else 0})"
    )
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------------------------


def _short(name: str) -> str:
    return name.split(".")[-1]


def _parameter_label(path: str, log: bool = False, short: bool = False) -> str:
    """A swept parameter's name with its unit from the schema (``x-unit``) and, for a log axis, "log scale"."""
    from pydantic import BaseModel

    from ..scenario import Scenario

    cls, unit = Scenario, ""
    *parents, name = path.split(".")
    try:
        for part in parents:
            cls = cls.model_fields[part].annotation
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            unit = str(dict(cls.model_fields[name].json_schema_extra or {}).get("x-unit", ""))
    except (KeyError, AttributeError, TypeError):  # not a plain nested field: the name alone
        unit = ""
    notes = ", ".join(x for x in (unit, "log scale" if log else "") if x)
    return (_short(path) if short else path) + (f" ({notes})" if notes else "")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return _label_type(str(v))


def _point_labels(points: pd.DataFrame, params: list[str]) -> dict[int, str]:
    return {int(r["point"]): ", ".join(f"{_short(p)} = {_fmt(r[p])}" for p in params) for _, r in points.iterrows()}


def _end_outcomes(runs: pd.DataFrame) -> tuple[list[tuple[str, str, float, tuple[float, float]]], str]:
    """Pain and remaining volume on the same day, the last simulated one: ``[(column, label, scale, ylim)]`` and
    that day as text ("day 60", or "days 40-60" when the runs' lengths differ)."""
    last = runs["last_day"].dropna() if "last_day" in runs else pd.Series(dtype=float)
    if last.empty:
        day = "the last day"
    elif last.min() == last.max():
        day = f"day {last.max():.0f}"
    else:
        day = f"days {last.min():.0f}-{last.max():.0f}"
    outs = [
        ("pain_vas_end", f"leg pain at {day} (VAS 0-100)", 1.0, (0, 100)),
        ("volume_fraction_end", f"herniation volume at {day} (% of onset)", 100.0, (0, 105)),
    ]
    return outs, day


def plot_sweep_dir(directory: Path, format: str = "png") -> list[Path]:
    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    params: list[str] = manifest["parameters"]
    points = _read(directory, "points.parquet")
    outcomes = _read(directory, "outcomes.parquet")
    ok_runs = outcomes[outcomes["status"] == "ok"]
    unit = manifest.get("run_unit", "replicate")
    traj = _read(directory, "runs.parquet", ["point", unit, "day"] + [c for c, _ in _COURSE])
    labels = _point_labels(points, params)
    title = f"{literal(manifest['name'])}: {manifest['n_points']} points × {manifest['runs_per_point']} {unit}s"
    paths = [
        _sweep_courses(traj, points, params, labels, manifest, title, directory / f"sweep_courses.{format}"),
        _sweep_outcomes(ok_runs, points, params, manifest, title, directory / f"sweep_outcomes.{format}"),
    ]
    if len(params) == 2:
        paths.append(_sweep_map(ok_runs, points, params, manifest, title, directory / f"sweep_map.{format}"))
    return paths


def _point_colors(points: pd.DataFrame, params: list[str]):
    """Few points: distinct colours and a legend; many: a colour map over the first numeric parameter."""
    n = len(points)
    if n <= 10:
        cmap = plt.get_cmap("tab10")
        return {int(p): cmap(i % 10) for i, p in enumerate(points["point"])}, None
    num = [p for p in params if pd.api.types.is_numeric_dtype(points[p])]
    key = num[0] if num else None
    if key is None:
        cmap = plt.get_cmap("viridis")
        return {int(p): cmap(i / max(n - 1, 1)) for i, p in enumerate(points["point"])}, None
    v = points[key].to_numpy(dtype=float)
    norm = matplotlib.colors.Normalize(v.min(), v.max())
    cmap = plt.get_cmap("viridis")
    return {int(p): cmap(norm(x)) for p, x in zip(points["point"], v)}, (key, norm, cmap)


_LINESTYLES = ("-", "--", ":", "-.")


def _factor_styles(points: pd.DataFrame, params: list[str], manifest) -> dict | None:
    """A two-parameter factorial design: colour for one parameter, line style for the other (the one with fewer
    levels, at most 4), so every point has its own (colour, line style). Later colours are drawn thinner on top,
    so curves that coincide stay visible as nested lines. None for any other design."""
    if manifest.get("method") != "factorial" or len(params) != 2:
        return None
    levels = {p: list(dict.fromkeys(points[p])) for p in params}
    style_p, colour_p = sorted(params, key=lambda p: len(levels[p]))
    n_col = len(levels[colour_p])
    if len(levels[style_p]) > len(_LINESTYLES) or n_col > 10:
        return None
    if pd.api.types.is_numeric_dtype(points[colour_p]):  # ordered levels: a sequential map shows the order
        cmap = plt.get_cmap("viridis")
        colours = [cmap(0.85 * i / max(n_col - 1, 1)) for i in range(n_col)]
    else:
        colours = [plt.get_cmap("tab10")(i) for i in range(n_col)]
    styles = {}
    for _, r in points.iterrows():
        i = levels[colour_p].index(r[colour_p])
        k = levels[style_p].index(r[style_p])
        lw = 2.8 - 1.6 * i / max(n_col - 1, 1)
        styles[int(r["point"])] = {"color": colours[i], "ls": _LINESTYLES[k], "lw": lw, "zorder": 2 + i}
    return {"colour": colour_p, "style": style_p, "levels": levels, "colours": colours, "styles": styles}


def _coinciding(bands: pd.DataFrame, points: pd.DataFrame, factor: str, other: str) -> bool:
    """True when, at every level of ``other``, the median curves of all levels of ``factor`` are identical."""
    for _, sub in points.groupby(other, sort=False):
        curves = [bands.loc[bands["point"] == p, "q50"].to_numpy(dtype=float) for p in sub["point"]]
        if len(curves) < 2:
            continue
        if any(c.shape != curves[0].shape or not np.allclose(c, curves[0], rtol=1e-9, equal_nan=True) for c in curves):
            return False
    return True


def _factor_legend(fig, fs: dict) -> None:
    """One legend, outside on the right: the colour parameter's levels, then the line style parameter's."""
    from matplotlib.lines import Line2D

    handles, labels, headers = [], [], []
    for kind in ("colour", "style"):
        p = fs[kind]
        headers.append(len(handles))
        handles.append(Line2D([], [], ls="none"))
        labels.append(f"{_short(p)} ({'colour' if kind == 'colour' else 'line style'})")
        for k, v in enumerate(fs["levels"][p]):
            if kind == "colour":
                handles.append(Line2D([], [], color=fs["colours"][k], lw=2.2))
            else:
                handles.append(Line2D([], [], color="0.3", lw=1.6, ls=_LINESTYLES[k]))
            labels.append(f"  {_fmt(v)}")
    leg = fig.legend(handles, labels, loc="outside right center", fontsize=9, handlelength=2.6, frameon=False)
    for i in headers:
        leg.get_texts()[i].set_fontweight("bold")


def _sweep_courses(traj, points, params, labels, manifest, title, path: Path) -> Path:
    colors, scale = _point_colors(points, params)
    fs = _factor_styles(points, params, manifest)
    many = fs is None and (scale is not None or len(points) > 10)
    runs_per_point = int(manifest.get("runs_per_point", 0) or 0)
    bands = fs is None and not many and runs_per_point >= MIN_BAND_N
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), layout="constrained", sharex=True)
    titles = ["Pain", "Resorption", "Pro-inflammatory M1", "Anti-inflammatory M2"]
    title_colors = [None, None, PHENOTYPE_COLORS["M1"], PHENOTYPE_COLORS["M2"]]
    for ax, (col, ylabel), ptitle, tcolor in zip(axes.flat, _COURSE, titles, title_colors):
        q = _bands(traj, "point", col)
        for p in points["point"]:
            b = q[q["point"] == p]
            if fs is not None:
                ax.plot(b["day"], _scale(col, b["q50"]), **fs["styles"][int(p)])
            elif many:
                ax.plot(b["day"], _scale(col, b["q50"]), color=colors[int(p)], lw=1.2)
            else:
                _band_panel(ax, b, col, colors[int(p)], labels[int(p)], full=False, bands=bands)
        if fs is not None:
            same = [
                _short(f)
                for f, o in ((fs["colour"], fs["style"]), (fs["style"], fs["colour"]))
                if _coinciding(q, points, f, o)
            ]
            if same:
                ptitle += f"\n(all {' and all '.join(same)} levels coincide)"
        ax.set_title(ptitle, **({"color": tcolor} if tcolor else {}))
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylim(0, 100)
    axes[0, 1].set_ylim(0, 105)
    for ax in axes[1]:
        ax.set_xlabel(DAYS_LABEL)
    if fs is not None:
        _factor_legend(fig, fs)
        what = "median per point"
    elif scale is not None:
        key, norm, cmap = scale
        sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=axes, label=_parameter_label(key), shrink=0.6)
        what = "median per point, coloured by " + _short(key)
    else:
        fig.legend(
            *axes[0, 0].get_legend_handles_labels(),
            loc="outside right center",
            fontsize=8,
            title="point (median, 50 % band)" if bands else "point (median)",
        )
        what = "median and 50 % band per point" if bands else "median per point"
    if not bands and not many and runs_per_point < MIN_BAND_N:
        what += f" (no bands: fewer than {MIN_BAND_N} runs per point)"
    fig.suptitle(f"{title}: {what}")
    return _save(fig, path)


def _sweep_outcomes(runs, points, params, manifest, title, path: Path) -> Path:
    outs, day = _end_outcomes(runs)
    factorial = manifest.get("method") == "factorial"
    fig, axes = plt.subplots(
        len(outs), len(params), figsize=(5 * len(params) + 1, 3.8 * len(outs)), layout="constrained", squeeze=False
    )
    for j, p in enumerate(params):
        other = [q for q in params if q != p]
        for i, (col, label, scale, ylim) in enumerate(outs):
            ax = axes[i, j]
            cat = not pd.api.types.is_numeric_dtype(points[p])
            levels = list(dict.fromkeys(points[p])) if cat else None
            xpos = (lambda v: levels.index(v)) if cat else (lambda v: v)
            if factorial:
                groups = [(None, points)] if len(other) != 1 else list(points.groupby(other[0], sort=False))
                cmap = plt.get_cmap("tab10")
                for k, (lev, sub) in enumerate(groups):
                    sub = sub.sort_values(p, key=(lambda s: s.map(levels.index)) if cat else None)
                    x = np.array([xpos(v) for v in sub[p]], dtype=float)
                    x = x + (0.06 * (k - (len(groups) - 1) / 2) if cat else 0)
                    ax.errorbar(
                        x,
                        scale * sub[f"{col}_mean"],
                        yerr=scale * sub[f"{col}_sd"].fillna(0),
                        marker="o",
                        capsize=3,
                        color=cmap(k % 10),
                        label=None if lev is None else f"{_short(other[0])} = {_fmt(lev)}",
                    )
                if len(groups) > 1 and i == 0:
                    legend_above(ax, ncol=2)
            else:
                x = runs[p].map(xpos).to_numpy(dtype=float)
                c = runs[other[0]] if len(other) == 1 and pd.api.types.is_numeric_dtype(runs[other[0]]) else None
                sc = ax.scatter(x, scale * runs[col], c=c, s=16, alpha=0.8, cmap="viridis")
                if c is not None and i == 0:
                    fig.colorbar(sc, ax=ax, label=_parameter_label(other[0], short=True))
            if cat:
                ax.set_xticks(range(len(levels)), [_fmt(v) for v in levels])
            elif _log_range(manifest, p):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel(_parameter_label(p, log=not cat and _log_range(manifest, p)))
            ax.set_ylabel(label)
            ax.set_ylim(*ylim)
            ax.grid(alpha=0.3)
    how = "mean ± SD over " + manifest.get("run_unit", "replicate") + "s" if factorial else "one dot per run"
    fig.suptitle(
        f"{title}: outcomes vs swept parameters ({how}),\npain and volume both at {day}, the last simulated day"
    )
    return _save(fig, path)


def _log_range(manifest, p: str) -> bool:
    spec = manifest.get("sweep", {}).get("design", {}).get("parameters", {}).get(p)
    return isinstance(spec, dict) and spec.get("scale") == "log"


def _grid_design(manifest) -> bool:
    return manifest.get("method") == "factorial"


def _luminance(rgba) -> float:
    r, g, b = rgba[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _sweep_map(runs, points, params, manifest, title, path: Path) -> Path:
    (pain_col, pain_label, _, _), (vol_col, vol_label, _, _) = _end_outcomes(runs)[0]
    outs = [(pain_col, pain_label, 1, "magma_r", (0, 100)), (vol_col, vol_label, 100, "viridis", (0, 100))]
    log = {q: not _grid_design(manifest) and _log_range(manifest, q) for q in params}
    px, py = params
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    grid = _grid_design(manifest)
    for ax, (col, label, scale, cmap, (vmin, vmax)) in zip(axes, outs):
        if grid:
            table = points.pivot_table(index=py, columns=px, values=f"{col}_mean", sort=False)
            im = ax.imshow(
                scale * table.to_numpy(dtype=float), origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax
            )
            ax.set_xticks(range(table.shape[1]), [_fmt(v) for v in table.columns])
            ax.set_yticks(range(table.shape[0]), [_fmt(v) for v in table.index])
            for (r, c), v in np.ndenumerate(scale * table.to_numpy(dtype=float)):
                if np.isfinite(v):
                    ax.text(
                        c,
                        r,
                        f"{v:.0f}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if _luminance(plt.get_cmap(cmap)((v - vmin) / (vmax - vmin))) < 0.5 else "black",
                    )
        else:
            im = ax.scatter(
                points[px],
                points[py],
                c=scale * points[f"{col}_mean"],
                cmap=cmap,
                vmin=vmin,
                vmax=vmax,
                s=60,
                edgecolor="k",
                lw=0.4,
            )
            if log[px]:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            if log[py]:
                ax.set_yscale("log")
                ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        fig.colorbar(im, ax=ax, label=f"mean {label}")
        ax.set_xlabel(_parameter_label(px, log=log[px]))
        ax.set_ylabel(_parameter_label(py, log=log[py]))
        ax.set_title(f"mean {label}")
    fig.suptitle(f"{title}: outcomes at the last simulated day over the two swept parameters")
    return _save(fig, path)
