"""Global sensitivity analysis (SALib): Morris screening, then Sobol indices, over the calibrated ranges.

Outputs (means over ``K`` virtual patients per design point):

* ``pain_vas_week12`` — leg VAS at day 84 (12 weeks after onset);
* ``volume_fraction_1y`` — herniation volume fraction at day 365.

When ``days`` is shorter, the value at the last simulated day is used instead and the manifest says so.
Parameters are sampled uniformly in their sampling scale (log10 for ranges spanning ≥ 2 decades, see
:class:`sim.calibration.targets.ParameterPrior`); the same ``K`` patients (same seeds and random effects) are
used at every design point (common random numbers), so differences between points are parameter effects,
not patient sampling noise. Model evaluations go through :mod:`sim.calibration.cohort_adapter` (the cohort
executor: parallel, resumable parts in ``OUT/parts``).
"""

from __future__ import annotations

import json
import math
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io.store import save_figure
from ..scenario import Scenario
from .cohort_adapter import draw_patients, run_patients
from .settings import DEFAULT_PARAMETERS, SensitivitySettings
from .targets import ParameterPrior, parameter_prior

__all__ = [
    "DEFAULT_PARAMETERS",
    "OUTPUTS",
    "SensitivityResult",
    "make_problem",
    "make_design",
    "run_sensitivity",
    "plot_morris",
    "plot_sobol",
    "short_name",
]


#: output name -> (timeseries column, nominal day)
OUTPUTS: dict[str, tuple[str, float]] = {
    "pain_vas_week12": ("pain_vas", 84.0),
    "volume_fraction_1y": ("volume_fraction", 365.0),
}

METHODS = ("morris", "sobol")


def short_name(path: str) -> str:
    """``parameters.pain.tnf_weight`` -> ``pain.tnf_weight`` (labels in tables and plots)."""
    parts = path.split(".")
    return ".".join(parts[-2:]) if parts[0] == "parameters" else path


def make_problem(priors: Sequence[ParameterPrior]) -> dict[str, Any]:
    """The SALib problem: names are the dotted paths, bounds in each parameter's sampling scale."""
    return {"num_vars": len(priors), "names": [p.path for p in priors], "bounds": [list(p.bounds) for p in priors]}


def make_design(problem: dict[str, Any], method: str, n: int, seed: int, num_levels: int = 4) -> np.ndarray:
    """Morris trajectories (n·(D+1) rows) or Saltelli/Sobol points (n·(D+2) rows, n a power of 2)."""
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(problem, n, num_levels=num_levels, seed=seed)
    if method == "sobol":
        from SALib.sample import sobol

        if n < 2 or n & (n - 1):
            raise ValueError(f"Sobol needs n a power of 2 (got {n})")
        return sobol.sample(problem, n, calc_second_order=False, seed=seed)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


@dataclass
class SensitivityResult:
    method: str
    problem: dict[str, Any]
    design: pd.DataFrame  # sampling-scale coordinates and parameter values per point
    outputs: pd.DataFrame  # point, output columns, n_ok
    indices: pd.DataFrame  # one row per (output, parameter)
    output_days: dict[str, float]
    notes: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0


class _Reduce:
    """Picklable reducer: a timeseries -> the SA outputs at their days."""

    def __init__(self, output_days: dict[str, float]):
        self.output_days = dict(output_days)

    def __call__(self, ts: pd.DataFrame) -> dict[str, float]:
        days = ts["day"].to_numpy(float)
        out = {}
        for name, (col, _) in OUTPUTS.items():
            hit = np.flatnonzero(np.isclose(days, self.output_days[name]))
            out[name] = float(ts[col].iloc[hit[0]]) if hit.size else math.nan
        return out


def evaluate_design(
    scenario: Scenario,
    priors: Sequence[ParameterPrior],
    X: np.ndarray,
    *,
    patients_per_point: int,
    days: float,
    seed: int,
    workers: int = 0,
    out_dir: Path | None = None,
    client: Any = None,
    progress: Any = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Mean outputs over the same ``patients_per_point`` patients at every design point."""
    from ..scenario import with_overrides

    output_days = {name: min(day, float(math.floor(days))) for name, (_, day) in OUTPUTS.items()}
    patients = draw_patients(scenario, patients_per_point, seed=seed, days=days)
    jobs = []
    for i, x in enumerate(X):
        overrides = {p.path: p.to_value(v) for p, v in zip(priors, x, strict=True)}
        for r in patients:
            jobs.append(
                (
                    f"point-{i:05d}-{r.key}",
                    with_overrides(r.scenario, overrides),
                    {"point": i, "patient": r.info["patient"]},
                )
            )
    results = run_patients(
        jobs, workers=workers, client=client, out_dir=out_dir, progress=progress, reduce=_Reduce(output_days)
    )
    rows = []
    for i in range(len(X)):
        vals = [results[f"point-{i:05d}-{r.key}"] for r in patients]
        ok = [v for v in vals if v is not None]
        row: dict[str, Any] = {"point": i, "n_ok": len(ok)}
        for name in OUTPUTS:
            row[name] = float(np.nanmean([v[name] for v in ok])) if ok else math.nan
        rows.append(row)
    return pd.DataFrame(rows), output_days


def analyze(
    problem: dict[str, Any], method: str, X: np.ndarray, outputs: pd.DataFrame, seed: int, num_levels: int = 4
) -> tuple[pd.DataFrame, list[str]]:
    """Indices per output: Morris μ*, μ, σ, μ*-CI; Sobol S1, ST with CIs."""
    notes = []
    frames = []
    for name in OUTPUTS:
        y = outputs[name].to_numpy(float)
        if not np.isfinite(y).all():
            bad = int((~np.isfinite(y)).sum())
            notes.append(f"{name}: {bad} design point(s) without a value (failed runs) replaced by the mean")
            y = np.where(np.isfinite(y), y, np.nanmean(y) if np.isfinite(y).any() else 0.0)
        if method == "morris":
            from SALib.analyze import morris

            res = morris.analyze(problem, X, y, conf_level=0.95, num_levels=num_levels, seed=seed)
            df = pd.DataFrame(
                {
                    "parameter": problem["names"],
                    "mu_star": res["mu_star"],
                    "mu": res["mu"],
                    "sigma": res["sigma"],
                    "mu_star_conf": res["mu_star_conf"],
                }
            )
        else:
            from SALib.analyze import sobol

            res = sobol.analyze(problem, y, calc_second_order=False, conf_level=0.95, seed=seed)
            df = pd.DataFrame(
                {
                    "parameter": problem["names"],
                    "S1": res["S1"],
                    "S1_conf": res["S1_conf"],
                    "ST": res["ST"],
                    "ST_conf": res["ST_conf"],
                }
            )
        df.insert(0, "output", name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True), notes


def run_sensitivity(
    scenario: Scenario,
    out_dir: str | Path,
    *,
    method: str = SensitivitySettings.method,
    params: Sequence[str] | None = None,
    n: int = SensitivitySettings.n,
    patients_per_point: int = SensitivitySettings.patients_per_point,
    days: float = SensitivitySettings.days,
    seed: int = SensitivitySettings.seed,
    workers: int = 0,
    client: Any = None,
    progress: Any = None,
) -> SensitivityResult:
    """Design, evaluate (resumable parts in ``OUT/parts``), analyse, and write indices, design and plots."""
    from ..io.provenance import provenance
    from ..io.store import atomic_file, write_json, write_parquet

    t0 = time.perf_counter()
    out = Path(out_dir)
    priors = [parameter_prior(p) for p in (params or DEFAULT_PARAMETERS)]
    problem = make_problem(priors)
    X = make_design(problem, method, n, seed)
    design = pd.DataFrame(X, columns=[f"x:{p.path}" for p in priors])
    for p, col in zip(priors, X.T, strict=True):
        design[p.path] = [p.to_value(v) for v in col]
    design.insert(0, "point", np.arange(len(X)))
    outputs, output_days = evaluate_design(
        scenario,
        priors,
        X,
        patients_per_point=patients_per_point,
        days=days,
        seed=seed,
        workers=workers,
        out_dir=out / "parts",
        client=client,
        progress=progress,
    )
    indices, notes = analyze(problem, method, X, outputs, seed)
    for name, (_, nominal) in OUTPUTS.items():
        if output_days[name] < nominal:
            notes.append(f"{name}: evaluated at day {output_days[name]:g} (--days {days:g} < {nominal:g})")
    result = SensitivityResult(method, problem, design, outputs, indices, output_days, notes, time.perf_counter() - t0)
    meta = {
        "kind": "sensitivity",
        "method": method,
        "scenario": scenario.name,
        "n": n,
        "patients_per_point": patients_per_point,
        "days": days,
        "seed": seed,
        "parameters": [{"path": p.path, "lo": p.lo, "hi": p.hi, "scale": p.scale, "unit": p.unit} for p in priors],
        "output_days": output_days,
        "n_points": len(X),
        "n_runs": len(X) * patients_per_point,
        "notes": notes,
        "wall_time_s": round(result.wall_time_s, 2),
        **provenance(),
    }
    write_parquet(indices, out / "indices.parquet", metadata=meta)
    with atomic_file(out / "indices.csv") as tmp:
        indices.to_csv(tmp, index=False)
    write_parquet(design.merge(outputs, on="point"), out / "design.parquet", metadata=meta)
    write_json(meta, out / "manifest.json")
    (plot_morris if method == "morris" else plot_sobol)(indices, out / f"{method}.png", output_days)
    return result


#: Morris plot: parameters whose μ* is below this fraction of the panel's largest are listed, not labelled
LABEL_FRACTION = 0.05


def _labels(df: pd.DataFrame) -> list[str]:
    return [short_name(p) for p in df["parameter"]]


def _output_title(name: str, output_days: dict[str, float] | None) -> str:
    col, nominal = OUTPUTS.get(name, (name, math.nan))
    day = (output_days or {}).get(name, nominal)
    note = "" if name not in OUTPUTS or day == nominal else f" (day {day:g}: run shorter than day {nominal:g})"
    return {"pain_vas_week12": "leg VAS at 12 weeks", "volume_fraction_1y": "volume fraction at 1 year"}.get(
        name, name
    ) + note


def _place_labels(xs, ys, labels, lim: float) -> list[tuple[tuple[float, float], tuple[float, float], str]]:
    """Label positions: beside each point, moved up while the box would overlap an already placed label or
    cover another point (a label sitting on a point reads as that point's label)."""
    char_w, line_h, dot = 0.012 * lim, 0.045 * lim, 0.015 * lim
    pts = [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]
    # boxes (x_left, x_right, y_bottom, height) a label must not overlap: every other point, every placed label
    dots = [(x - dot, x + dot, y - line_h / 2, line_h) for x, y in pts]
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for i in sorted(range(len(pts)), key=lambda j: (pts[j][1], pts[j][0])):
        (x, y), lab = pts[i], labels[i]
        width = char_w * len(lab)
        right = x > 0.55 * lim
        x0, x1 = (x - width, x) if right else (x, x + width)
        ty = y + 0.01 * lim
        obstacles = [d for j, d in enumerate(dots) if j != i]
        while any(a < x1 and x0 < b and yy < ty + line_h * 0.8 and ty < yy + h for a, b, yy, h in obstacles + placed):
            ty += line_h
        placed.append((x0, x1, ty, line_h * 0.8))
        out.append(((x, y), (x - 0.01 * lim if right else x + 0.01 * lim, ty), lab))
    return out


def plot_morris(indices: pd.DataFrame, path: str | Path, output_days: dict[str, float] | None = None) -> Path:
    """μ*–σ scatter per output with the μ* confidence interval as a horizontal bar; points with μ* ≥
    ``LABEL_FRACTION`` of the panel's largest are labelled, the others listed in the corner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(indices["output"]))
    fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 5.5), layout="constrained", squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        df = indices[indices["output"] == name]
        mu, conf = df["mu_star"].to_numpy(float), np.nan_to_num(df["mu_star_conf"].to_numpy(float))
        # μ* ≥ 0 by definition, so its interval stops at 0; the limits take in every interval's right end
        ax.errorbar(mu, df["sigma"], xerr=[np.minimum(conf, mu), conf], fmt="o", color="C0", ecolor="0.7", capsize=2)
        lim = max(float(np.nanmax(mu + conf)), float(df["sigma"].max()), 1e-12) * 1.1
        # label the influential parameters; the rest crowd the origin and are listed in a corner instead
        big = df["mu_star"] >= LABEL_FRACTION * float(df["mu_star"].max())
        if (~big).any():
            rest = textwrap.fill(", ".join(_labels(df[~big])), 60)
            ax.text(
                0.98,
                0.02,
                f"μ* < {LABEL_FRACTION:.0%} of the largest (not labelled):\n{rest}",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=7,
                color="0.3",
            )
        for (x, y), (tx, ty), lab in _place_labels(df["mu_star"][big], df["sigma"][big], _labels(df[big]), lim):
            right = x > 0.55 * lim
            ax.annotate(
                lab,
                (x, y),
                xytext=(tx, ty),
                textcoords="data",
                fontsize=8,
                ha="right" if right else "left",
                va="bottom",
                arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6} if ty - y > 0.03 * lim else None,
            )
        ax.plot([0, lim], [0, lim], ls=":", color="0.5", lw=1, label="σ = μ*")
        ax.set_xlim(0, lim)
        ax.set_ylim(0, lim)
        ax.set_xlabel("μ* (mean |elementary effect| per step of 2/3 of the range)")
        ax.set_ylabel("σ (non-linearity / interactions)")
        ax.set_title(f"Morris: {_output_title(name, output_days)}")
        ax.legend(loc="upper left", fontsize=8)
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_sobol(indices: pd.DataFrame, path: str | Path, output_days: dict[str, float] | None = None) -> Path:
    """Horizontal S1 and ST bars with 95 % CIs per output, parameters ordered by ST."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(indices["output"]))
    n_par = indices["parameter"].nunique()
    fig, axes = plt.subplots(
        1, len(names), figsize=(6.5 * len(names), 1.8 + 0.45 * n_par), layout="constrained", squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=True):
        df = indices[indices["output"] == name].sort_values("ST")
        y = np.arange(len(df))
        ax.barh(
            y - 0.2,
            df["S1"],
            height=0.4,
            xerr=df["S1_conf"],
            label="S1 (first order)",
            color="C0",
            error_kw={"ecolor": "0.3", "capsize": 2},
        )
        ax.barh(
            y + 0.2,
            df["ST"],
            height=0.4,
            xerr=df["ST_conf"],
            label="ST (total)",
            color="C1",
            error_kw={"ecolor": "0.3", "capsize": 2},
        )
        ax.set_yticks(y, _labels(df), fontsize=8)
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set_xlabel("Sobol index (95% CI)")
        ax.set_title(f"Sobol: {_output_title(name, output_days)}", pad=24)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, fontsize=8, frameon=False)
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return Path(path)


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / "manifest.json").read_text(encoding="utf-8"))
