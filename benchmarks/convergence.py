"""Grid and time-step convergence of the cohort statistics.

The same virtual patients (common random numbers: same cohort root seed; overriding ``geometry.dx_um`` or
``simulation.dt_hours`` leaves every random effect, sample day and simulation seed unchanged, asserted below)
are simulated at several resolutions, and every statistic is reported as a **paired difference** against the
reference resolution (dx 250 µm, dt 1 h) with a 95 % percentile-bootstrap CI over patients (the same resampled
patients for both arms). A CI that excludes 0 means the statistic moves beyond Monte Carlo noise.

    .venv/bin/python benchmarks/convergence.py                 # full design (~16 min of runs on one core + a few min of bootstrap)
    .venv/bin/python benchmarks/convergence.py --quick         # smoke test (3 patients, 20 days, ~1 min)
    .venv/bin/python benchmarks/convergence.py --analyse-only  # re-tabulate existing runs

Runs go to ``--out`` (default /tmp/conv/runs, never the repository); a rerun reuses finished patients (the
cohort runner resumes). Writes ``benchmarks/results/convergence.md`` unless ``--no-write`` (or ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np
import pandas as pd
from scipy import stats as sps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.calibration.stats import StatsConfig, load_cohort  # noqa: E402
from sim.cohort import run_cohort  # noqa: E402
from sim.cohort.draw import draw_patient  # noqa: E402
from sim.scenario import load_scenario, with_overrides  # noqa: E402

# ----------------------------------------------------------------------------- parameters
SCENARIO = ROOT / "scenarios" / "cohort_default.toml"
ROOT_SEED = 20240601  # cohort_default's [cohort] seed
WORKERS = 1  # one worker: leave the second core to the others
N = 40  # patients at dx 250 / 125 and dt 1 h / 15 min
DAYS = 180  # simulated days (VAS landmarks at days 14/28/56/84; sample days 42-84)
N_FINE = 40  # patients at dx 62.5 (the first N_FINE of the same cohort)
DAYS_FINE = 180
#: name -> (dx_um, dt_hours, patients, days); the first entry is the reference
CONFIGS: dict[str, tuple[float, float, int, int]] = {
    "dx250_dt1h": (250.0, 1.0, N, DAYS),
    "dx250_dt15min": (250.0, 0.25, N, DAYS),
    "dx125_dt1h": (125.0, 1.0, N, DAYS),
    "dx62.5_dt1h": (62.5, 1.0, N_FINE, DAYS_FINE),
}
EXTRA_OVERRIDES: dict[str, dict] = {}
REFERENCE = "dx250_dt1h"
N_BOOT = 4000
BOOT_SEED = 20261201
VAS_DAYS = (14, 28, 56, 84)  # weeks 2, 4, 8, 12 after onset
RHO_FACTORS = {"TNF-a": "tnf_sample", "IL-10": "il10_sample", "CD68": "cd68_per_cm2_sample"}
TYPES = ("bulging", "protrusion", "subligamentous_extrusion", "transligamentous_extrusion", "sequestration")
MIN_TYPE_N = 6  # regression by type only where at least this many patients have the type
CFG = StatsConfig()
RESULTS = ROOT / "benchmarks" / "results" / "convergence.md"


def scenario_for(base, dx: float, dt: float, extra=None):
    return with_overrides(base, {"geometry.dx_um": dx, "simulation.dt_hours": dt, **(extra or {})}, "convergence")


def check_common_random_numbers(base, scen, n: int, days: float) -> None:
    for k in range(n):
        a, b = draw_patient(base, k, root=ROOT_SEED, days=days), draw_patient(scen, k, root=ROOT_SEED, days=days)
        if a.seed != b.seed or a.effects != b.effects:
            raise SystemExit(f"patient {k}: the override changed the draws (not common random numbers)")


def run_all(configs, out: Path) -> dict[str, float]:
    base = load_scenario(SCENARIO)
    walls = {}
    for name, (dx, dt, n, days) in configs.items():
        scen = scenario_for(base, dx, dt, EXTRA_OVERRIDES.get(name))
        check_common_random_numbers(base, scen, n, days)
        t0 = time.perf_counter()
        res = run_cohort(scen, out / name, patients=n, days=days, root_seed=ROOT_SEED, workers=WORKERS)
        if res.n_cached == 0:  # a wall time only for a run computed from scratch
            walls[name] = time.perf_counter() - t0
        print(f"{name}: {res.n_ok}/{n} ok, {res.n_cached} reused, {time.perf_counter() - t0:.1f} s", flush=True)
    return walls


# ----------------------------------------------------------------------------- per-patient outcomes
def outcomes(directory: Path) -> pd.DataFrame:
    cohort = load_cohort(directory)
    p = cohort.patients.set_index("patient").sort_index()
    o = pd.DataFrame(index=p.index)
    o["herniation_type"] = p["herniation_type"]
    for d in VAS_DAYS:
        o[f"vas_d{d}"] = p[f"pain_vas_d{d}"]
    o["vas_sample"] = p["pain_vas_sample"]
    o["volume_fraction_end"] = p["volume_fraction_end"]
    o["regressed"] = ((1.0 - p["volume_fraction_end"]) >= CFG.regression_threshold).astype(float)
    lo, hi = CFG.cd68_edges
    cd = p["cd68_per_cm2_sample"]
    o["cd68_mild"] = (cd < lo).astype(float)
    o["cd68_moderate"] = ((cd >= lo) & (cd <= hi)).astype(float)
    o["cd68_considerable"] = (cd > hi).astype(float)
    o["m1_fraction_sample"] = p["m1_fraction_sample"]
    for col in RHO_FACTORS.values():
        o[col] = p[col]
    o["last_day"] = p["last_day"]
    return o


# ----------------------------------------------------------------------------- statistics
def _mean(frame: pd.DataFrame, col: str, mask=None) -> float:
    x = frame[col].to_numpy(float)
    if mask is not None:
        x = x[mask]
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def _rho(frame: pd.DataFrame, col: str) -> float:
    x, y = frame[col].to_numpy(float), frame["vas_sample"].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 4 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return math.nan
    return float(sps.spearmanr(x[ok], y[ok]).statistic)


def statistic_defs(ref: pd.DataFrame):
    """(label, function(frame) -> value, n-counting column or None)."""
    defs = [(f"mean VAS day {d} (week {d // 7})", (lambda f, c=f"vas_d{d}": _mean(f, c))) for d in VAS_DAYS]
    defs.append(("mean volume fraction, last day", lambda f: _mean(f, "volume_fraction_end")))
    defs.append(("regression ≥30 %, all", lambda f: _mean(f, "regressed")))
    for t in TYPES:
        if (ref["herniation_type"] == t).sum() >= MIN_TYPE_N:
            defs.append(
                (
                    f"regression ≥30 %, {t}",
                    (lambda f, t=t: _mean(f, "regressed", (f["herniation_type"] == t).to_numpy())),
                )
            )
    for label, col in RHO_FACTORS.items():
        defs.append((f"Spearman ρ({label}, VAS) at sample", (lambda f, c=col: _rho(f, c))))
    for cat in ("mild", "moderate", "considerable"):
        defs.append((f"CD68 {cat} fraction", (lambda f, c=f"cd68_{cat}": _mean(f, c))))
    defs.append(("mean M1 fraction in specimen", lambda f: _mean(f, "m1_fraction_sample")))
    return defs


def paired_table(ref: pd.DataFrame, alt: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    common = ref.index.intersection(alt.index)
    ref, alt = ref.loc[common], alt.loc[common]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(common), size=(n_boot, len(common)))
    rows = []
    for label, fn in statistic_defs(ref):
        r, a = fn(ref), fn(alt)
        diffs = np.array([fn(alt.iloc[i]) - fn(ref.iloc[i]) for i in idx])
        diffs = diffs[np.isfinite(diffs)]
        lo, hi = np.percentile(diffs, [2.5, 97.5]) if diffs.size > 0.9 * n_boot else (math.nan, math.nan)
        rows.append(
            {
                "statistic": label,
                "n": len(common)
                if "regression ≥30 %, " not in label or "all" in label
                else int((ref["herniation_type"] == label.split(", ")[-1]).sum()),
                "reference": r,
                "value": a,
                "diff": a - r,
                "lo": lo,
                "hi": hi,
                "beyond_mc": bool(np.isfinite(lo) and (lo > 0 or hi < 0)),
            }
        )
    return pd.DataFrame(rows)


def fmt(x: float, digits: int = 3) -> str:
    return "—" if not np.isfinite(x) else f"{x:.{digits}f}"


def markdown(tables: dict[str, pd.DataFrame], walls: dict[str, float], configs) -> str:
    lines = []
    for name, t in tables.items():
        dx, dt, n, days = configs[name]
        lines.append(f"\n### {name} − {REFERENCE} (N = {int(t['n'].iloc[0])} matched patients, {days} days)\n")
        lines.append("| statistic | n | reference | this | paired diff | 95 % CI | beyond MC noise |")
        lines.append("|---|---|---|---|---|---|---|")
        for _, r in t.iterrows():
            d = 1 if "VAS day" in r["statistic"] else 3
            lines.append(
                f"| {r['statistic']} | {r['n']} | {fmt(r['reference'], d)} | {fmt(r['value'], d)} | "
                f"{r['diff']:+.{d}f} | [{r['lo']:+.{d}f}, {r['hi']:+.{d}f}] | "
                f"{'**yes**' if r['beyond_mc'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 patients, 20 days, 200 resamples; nothing written")
    ap.add_argument("--out", default="/tmp/conv/runs", help="run directory (outside the repository)")
    ap.add_argument("--analyse-only", action="store_true", help="only tabulate the runs already in --out")
    ap.add_argument("--only", nargs="*", help="run only these configurations (names of CONFIGS)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    configs = dict(CONFIGS)
    n_boot = N_BOOT
    out = Path(args.out)
    if args.quick:
        configs = {k: (dx, dt, 3, 20) for k, (dx, dt, _, _) in configs.items()}
        n_boot, out = 200, out.with_name(out.name + "_quick")
    if ROOT in out.resolve().parents:
        raise SystemExit("--out must be outside the repository")
    walls_file = out / "walls.json"
    walls = json.loads(walls_file.read_text()) if walls_file.exists() else {}
    if not args.analyse_only:
        todo = {k: v for k, v in configs.items() if not args.only or k in args.only or k == REFERENCE}
        out.mkdir(parents=True, exist_ok=True)
        walls.update(run_all(todo, out))
        walls_file.write_text(json.dumps(walls, indent=1))
    frames = {k: outcomes(out / k) for k in configs if (out / k / "patients.parquet").exists()}
    ref = frames[REFERENCE]
    tables = {k: paired_table(ref, f, n_boot, BOOT_SEED) for k, f in frames.items() if k != REFERENCE}
    md = markdown(tables, walls, configs)
    print(md)
    for k, (dx, dt, n, days) in configs.items():
        if k in walls:
            print(
                f"{k}: dx {dx} µm, dt {dt} h, {n} patients × {days} d: {walls[k]:.0f} s "
                f"({walls[k] / (n * days / 365):.2f} s per patient-year)"
            )
    if not (args.quick or args.no_write):
        (out / "tables.md").write_text(md)
        for k, t in tables.items():
            t.to_csv(out / f"{k}.csv", index=False)


if __name__ == "__main__":
    main()
