"""Figures of cohort and sweep outputs: pain, resorption and macrophage courses by group, outcomes vs parameters.

Groups are herniation types (cohorts) or design points (sweeps). Trajectories are summarised across
patients/replicates as the median with 50 % and 90 % bands (inter-quantile ranges).
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
from .summary import PHENOTYPE_COLORS, literal  # noqa: E402

__all__ = ["plot_cohort_dir", "plot_sweep_dir", "TYPE_COLORS"]

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
    ("pain_vas", "leg pain, VAS (0-100)"),
    ("volume_fraction", "herniation volume (% of onset)"),
    ("n_m1", "M1 macrophages (cells in section)"),
    ("n_m2", "M2 macrophages (cells in section)"),
]
_SAMPLE_FACTORS = [
    ("tnf_sample", "TNF-α"),
    ("il1b_sample", "IL-1β"),
    ("il6_sample", "IL-6"),
    ("il8_sample", "IL-8"),
    ("il10_sample", "IL-10"),
    ("tgfb_sample", "TGF-β"),
    ("ifng_sample", "IFN-γ (background)"),
    ("il4_sample", "IL-4 (background)"),
    ("cd68_per_cm2_sample", "CD68+ density"),
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


def _band_panel(ax, b: pd.DataFrame, col: str, color: str, label: str | None, full: bool = True) -> None:
    d = b["day"].to_numpy()
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
    ax.plot(d, _scale(col, b["q50"]), color=color, lw=2, label="median" if label is None else label)


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


def _cohort_pain(traj, types, counts, title, lo, hi, path: Path) -> Path:
    groups = [("all", "all patients", "k")] + [(t, _label_type(t), TYPE_COLORS[t]) for t in types]
    ncol = 3
    nrow = math.ceil(len(groups) / ncol)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), layout="constrained", sharex=True, sharey=True, squeeze=False
    )
    all_b = _bands(traj.assign(_all="all"), "_all", "pain_vas")
    for ax, (key, label, color) in zip(axes.flat, groups):
        b = all_b if key == "all" else _bands(traj[traj["herniation_type"] == key], "herniation_type", "pain_vas")
        _band_panel(ax, b, "pain_vas", color, None)
        n = sum(counts.values()) if key == "all" else counts.get(key, 0)
        ax.set_title(f"{label} (n = {n})")
        if np.isfinite(lo):
            ax.axvspan(lo, hi, color="#fdf3c4", zorder=0, label="tissue sampling days")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(groups) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("leg pain, VAS (0-100)")
    for ax in axes[-1, :]:
        ax.set_xlabel("days since herniation")
    axes.flat[0].legend(fontsize=8, loc="upper right")
    fig.suptitle(f"{title}: leg pain by herniation type (median, 50 % and 90 % of patients)")
    return _save(fig, path)


def _cohort_course(traj, types, counts, title, path: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained", sharex=True)
    for ax, (col, ylabel) in zip(axes, _COURSE[1:]):
        bands = _bands(traj, "herniation_type", col)
        for t in types:
            _band_panel(
                ax,
                bands[bands["herniation_type"] == t],
                col,
                TYPE_COLORS[t],
                f"{_label_type(t)} (n = {counts.get(t, 0)})",
                full=False,
            )
        ax.set_ylabel(ylabel)
        ax.set_xlabel("days since herniation")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].set_title("Resorption")
    axes[1].set_title("Pro-inflammatory M1", color=PHENOTYPE_COLORS["M1"])
    axes[2].set_title("Anti-inflammatory M2", color=PHENOTYPE_COLORS["M2"])
    axes[0].set_ylim(0, 105)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"{title}: median and 50 % band by herniation type")
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
    for ax, (col, label) in zip(axes.flat, _SAMPLE_FACTORS):
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
        unit = "cells/cm²" if col.startswith("cd68") else "pg/mL"
        ax.set_xlabel(f"{label} in the sample ({unit})")
        ax.set_title(f"{label}: Spearman ρ = {rho:+.2f}" if np.isfinite(rho) else label)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("leg pain at sampling, VAS")
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
        f"{title}: tissue sample (mean in fragment) vs pain at the sampling day "
        f"(day {int(ok['sample_day'].min()) if len(ok) else 0}-{int(ok['sample_day'].max()) if len(ok) else 0})"
    )
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------------------------


def _short(name: str) -> str:
    return name.split(".")[-1]


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return _label_type(str(v))


def _point_labels(points: pd.DataFrame, params: list[str]) -> dict[int, str]:
    return {int(r["point"]): ", ".join(f"{_short(p)} = {_fmt(r[p])}" for p in params) for _, r in points.iterrows()}


def _pain_outcome(outcomes: pd.DataFrame) -> tuple[str, str]:
    for d in (365, 182, 84, 56, 28, 14):
        col = f"pain_vas_d{d}"
        if col in outcomes and outcomes[col].notna().any():
            return col, f"leg pain at day {d}, VAS"
    return "pain_vas_end", "leg pain at the last day, VAS"


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
        _sweep_courses(traj, points, params, labels, title, directory / f"sweep_courses.{format}"),
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


def _sweep_courses(traj, points, params, labels, title, path: Path) -> Path:
    colors, scale = _point_colors(points, params)
    many = scale is not None or len(points) > 10
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), layout="constrained", sharex=True)
    for ax, (col, ylabel) in zip(axes.flat, _COURSE):
        bands = _bands(traj, "point", col)
        for p in points["point"]:
            b = bands[bands["point"] == p]
            if many:
                ax.plot(b["day"], _scale(col, b["q50"]), color=colors[int(p)], lw=1.2)
            else:
                _band_panel(ax, b, col, colors[int(p)], labels[int(p)], full=False)
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylim(0, 100)
    axes[0, 1].set_ylim(0, 105)
    for ax in axes[1]:
        ax.set_xlabel("days since herniation")
    axes[0, 0].set_title("Pain")
    axes[0, 1].set_title("Resorption")
    axes[1, 0].set_title("Pro-inflammatory M1", color=PHENOTYPE_COLORS["M1"])
    axes[1, 1].set_title("Anti-inflammatory M2", color=PHENOTYPE_COLORS["M2"])
    if scale is not None:
        key, norm, cmap = scale
        sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=axes, label=key, shrink=0.6)
        what = "median per point, coloured by " + _short(key)
    else:
        fig.legend(
            *axes[0, 0].get_legend_handles_labels(),
            loc="outside right center",
            fontsize=8,
            title="point (median, 50 % band)",
        )
        what = "median and 50 % band per point"
    fig.suptitle(f"{title}: {what}")
    return _save(fig, path)


def _sweep_outcomes(runs, points, params, manifest, title, path: Path) -> Path:
    pain_col, pain_label = _pain_outcome(runs)
    last = int(runs["last_day"].max()) if len(runs) else 0
    outs = [(pain_col, pain_label, (0, 100)), ("volume_fraction_end", f"herniation volume at day {last} (%)", (0, 105))]
    factorial = manifest.get("method") == "factorial"
    fig, axes = plt.subplots(
        len(outs), len(params), figsize=(5 * len(params) + 1, 3.8 * len(outs)), layout="constrained", squeeze=False
    )
    for j, p in enumerate(params):
        other = [q for q in params if q != p]
        for i, (col, label, ylim) in enumerate(outs):
            ax = axes[i, j]
            scale = 100 if col.startswith("volume") else 1
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
                    ax.legend(fontsize=8)
            else:
                x = runs[p].map(xpos).to_numpy(dtype=float)
                c = runs[other[0]] if len(other) == 1 and pd.api.types.is_numeric_dtype(runs[other[0]]) else None
                sc = ax.scatter(x, scale * runs[col], c=c, s=16, alpha=0.8, cmap="viridis")
                if c is not None and i == 0:
                    fig.colorbar(sc, ax=ax, label=_short(other[0]))
            if cat:
                ax.set_xticks(range(len(levels)), [_fmt(v) for v in levels])
            elif _log_range(manifest, p):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel(p)
            ax.set_ylabel(label)
            ax.set_ylim(*ylim)
            ax.grid(alpha=0.3)
    how = "mean ± SD over " + manifest.get("run_unit", "replicate") + "s" if factorial else "one dot per run"
    fig.suptitle(f"{title}: outcomes vs swept parameters ({how})")
    return _save(fig, path)


def _log_range(manifest, p: str) -> bool:
    spec = manifest.get("sweep", {}).get("design", {}).get("parameters", {}).get(p)
    return isinstance(spec, dict) and spec.get("scale") == "log"


def _sweep_map(runs, points, params, manifest, title, path: Path) -> Path:
    pain_col, pain_label = _pain_outcome(runs)
    outs = [
        (pain_col, pain_label, 1, "magma_r", (0, 100)),
        (
            "volume_fraction_end",
            f"volume at day {int(runs['last_day'].max()) if len(runs) else 0} (%)",
            100,
            "viridis",
            (0, 100),
        ),
    ]
    px, py = params
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    grid = manifest.get("method") == "factorial"
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
                        color="white" if (v - vmin) / (vmax - vmin) > 0.55 else "black",
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
            if _log_range(manifest, px):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            if _log_range(manifest, py):
                ax.set_yscale("log")
                ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        fig.colorbar(im, ax=ax, label=f"mean {label}")
        ax.set_xlabel(px)
        ax.set_ylabel(py)
        ax.set_title(f"mean {label}")
    fig.suptitle(f"{title}: outcome over the two swept parameters")
    return _save(fig, path)
