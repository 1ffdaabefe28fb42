"""Ablation table: the review's associations with each pathway switched off, and the effect of shifting the
M1/M2 balance, on the same virtual patients (common random numbers).

Run from the repository root::

    .venv/bin/python calibration/ablation.py                      # 200 patients × 180 days × 14 arms, ~15-25 min
    .venv/bin/python calibration/ablation.py --patients 40        # quicker, wider intervals
    .venv/bin/python calibration/ablation.py --arms depletion --days 365 --out /tmp/depletion   # a diagnostic
    .venv/bin/python calibration/ablation.py --arms depletion --set \
        parameters.recruitment.monocyte_influx_per_site_per_day=1.5 --out /tmp/depletion-influx1.5

Every arm is the shipped cohort (``scenarios/cohort_default.toml``, root seed 20240601) with one change: a
process switched off through ``[model] disable`` (the model core's processes, docs/model.md), a pain gain set
to 0 where the pathway is a parameter rather than a process, or the polarization rates shifted. The overrides
leave every patient's draws and seed unchanged (asserted), so arms differ only by the change. 180 days cover
every sample day (6-12 weeks after onset) and the time to VAS < 20 of most patients.

For each arm: Spearman ρ of each readout with leg VAS at the sample (bootstrap 95 % CI, as ``discsim
validate``) and whether the review's sign is reproduced; and the paired difference of mean VAS against the
baseline over weeks 6-12 and at week 12 (percentile bootstrap over patients). Writes ``calibration/validation/ablation.md``
and ``ablation.csv``; runs go to ``--out`` (default /tmp/ablation, outside the repository; a rerun reuses
finished patients).

Diagnostics. ``--arms`` runs only the named arms (and the baseline they are compared with); ``--set KEY=VALUE``
(repeatable, a TOML value) changes a parameter in every arm, the baseline included, to test what an ablation
result depends on; ``--natural-history`` removes the cohort's usual-care surgery (``[cohort.surgery]``) from every
arm, as in an experiment without surgery. Any of them makes it a diagnostic: the report goes to ``--out``/ablation.md, never over the
shipped table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from pathlib import Path

if __name__ == "__main__":  # run as a script: one numba thread (imported, e.g. by the tests, it changes nothing)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.calibration.stats import StatsConfig, association_table, load_cohort  # noqa: E402
from sim.calibration.targets import load_targets  # noqa: E402
from sim.cohort import run_cohort  # noqa: E402
from sim.cohort.draw import draw_patient  # noqa: E402
from sim.io.store import atomic_file  # noqa: E402
from sim.scenario import ScenarioError, load_scenario, with_overrides  # noqa: E402

SCENARIO = ROOT / "scenarios" / "cohort_default.toml"
ROOT_SEED = 20240601
OUT_MD = ROOT / "calibration" / "validation" / "ablation.md"
N_BOOT = 2000
VAS_RESOLVED = 20.0  # time to VAS < 20 (from day 7: the onset rises through it)
SHIFT = 3.0  # polarization shift: rates toward one phenotype × 3, the reverse ones ÷ 3


def arms(base) -> dict[str, tuple[str, dict]]:
    """name -> (what it removes or changes, overrides)."""
    pol = base.parameters.polarization
    rates = {
        "m0_to_m1_per_day": pol.m0_to_m1_per_day,
        "m0_to_m2_per_day": pol.m0_to_m2_per_day,
        "m1_to_m2_per_day": pol.m1_to_m2_per_day,
        "m2_to_m1_per_day": pol.m2_to_m1_per_day,
    }
    to_m2 = {k: v * (SHIFT if k.endswith("m2_per_day") else 1 / SHIFT) for k, v in rates.items()}
    to_m1 = {k: v * (SHIFT if k.endswith("m1_per_day") else 1 / SHIFT) for k, v in rates.items()}
    p = "parameters.polarization."
    return {
        "baseline": ("the shipped model", {}),
        "no_macrophage_secretion": ("process `macrophage_secretion` off", {"model.disable": ["macrophage_secretion"]}),
        "no_np_secretion": ("process `disc_cell_secretion` off", {"model.disable": ["disc_cell_secretion"]}),
        "depletion": ("process `recruitment` off (no monocytes)", {"model.disable": ["recruitment"]}),
        "no_resorption": (
            "processes `phagocytosis` and `matrix_digestion` off (no resorption, no decompression but dehydration)",
            {"model.disable": ["phagocytosis", "matrix_digestion"]},
        ),
        "no_np_killing": ("process `np_cell_death` off (NP cells live on)", {"model.disable": ["np_cell_death"]}),
        "no_np_activation": (
            "`disc_cells.activation_gain` = 0 (NP cells do not amplify the TNF-α/IL-1β they see)",
            {"parameters.disc_cells.activation_gain": 0.0},
        ),
        "no_il10_resolution": ("`pain.il10_resolution_gain` = 0", {"parameters.pain.il10_resolution_gain": 0.0}),
        "no_ifng_priming": ("`secretion.ifng_priming_gain` = 0", {"parameters.secretion.ifng_priming_gain": 0.0}),
        "no_il4_suppression": ("`secretion.il4_max_inhibition` = 0", {"parameters.secretion.il4_max_inhibition": 0.0}),
        "no_il1b_mmp3": (
            "IL-1β no longer induces MMP-3 (`disc_cells.mmp3_il1b_half_max_pg_ml` = 10⁵)",
            {"parameters.disc_cells.mmp3_il1b_half_max_pg_ml": 1e5},
        ),
        "no_il1b_pain": ("`pain.il1b_weight` = 0", {"parameters.pain.il1b_weight": 0.0}),
        "shift_to_m2": (f"rates toward M2 × {SHIFT:g}, toward M1 ÷ {SHIFT:g}", {p + k: v for k, v in to_m2.items()}),
        "shift_to_m1": (f"rates toward M1 × {SHIFT:g}, toward M2 ÷ {SHIFT:g}", {p + k: v for k, v in to_m1.items()}),
    }


def parse_set(items: list[str]) -> dict[str, object]:
    """``["a.b=1.5", "c=true"]`` -> ``{"a.b": 1.5, "c": True}``: each value parsed as TOML."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            raise ValueError(
                f"--set {item!r}: {value.strip()!r} is not a TOML value (a number, true/false, or a quoted string)"
            ) from None
    return out


def check_common_random_numbers(base, scen, n: int, days: float, root: int) -> None:
    for k in range(n):
        a, b = draw_patient(base, k, root=root, days=days), draw_patient(scen, k, root=root, days=days)
        if a.seed != b.seed or a.effects != b.effects:
            raise SystemExit(f"patient {k}: the override changed the draws (not common random numbers)")


def paired_diff(a: np.ndarray, b: np.ndarray, seed: int) -> tuple[float, float, float]:
    """Mean of b − a over patients, 95 % percentile bootstrap CI."""
    d = b - a
    d = d[np.isfinite(d)]
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, d.size, size=(N_BOOT, d.size))].mean(axis=1)
    return float(d.mean()), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def m1_share(rows: pd.DataFrame) -> float:
    """M1 cells as a fraction of all macrophages (M0 + M1 + M2), pooled over the given trajectory rows (patients and
    days); NaN when there are no macrophages (depletion)."""
    total = float(rows[["n_m0", "n_m1", "n_m2"]].to_numpy(float).sum())
    return float(rows["n_m1"].sum()) / total if total > 0 else float("nan")


def wall_line(walls: dict[str, float], reused: dict[str, int], patients: int, workers: int) -> str:
    """The report's timing line. A patient reused from an earlier run into the same ``--out`` costs a read, not a
    simulation, so an arm's time is only a cost measurement when none of its patients were reused."""

    def arm(name: str) -> str:
        n = reused[name]
        tail = "" if n == 0 else (" (all reused)" if n >= patients else f" ({n} reused)")
        return f"{name} {walls[name]:.0f} s{tail}"

    note = ""
    if any(reused.values()):
        note = (
            " Patients marked reused were read from an earlier run into the same --out "
            "(same scenario fingerprint), so those times are not simulation costs."
        )
    return f"Wall time per arm ({workers} worker(s)): " + ", ".join(arm(k) for k in walls) + "." + note


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--days", type=float, default=180.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default="/tmp/ablation")
    ap.add_argument("--root-seed", type=int, default=ROOT_SEED, help="cohort root seed (default: the shipped one)")
    ap.add_argument("--arms", nargs="+", metavar="ARM", help="only these arms besides the baseline (a diagnostic)")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override in every arm (a diagnostic)"
    )
    ap.add_argument(
        "--natural-history",
        action="store_true",
        help="no usual-care surgery in any arm ([cohort.surgery] removed; a diagnostic)",
    )
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    if ROOT in out.resolve().parents:
        ap.error("--out must be outside the repository")  # exit 2, like every bad input
    if out.exists() and not out.is_dir():
        ap.error(f"--out {out}: exists and is not a directory")
    if args.patients < 1:
        ap.error(f"--patients: at least 1, got {args.patients}")
    if not 1 <= args.days <= 3650:
        ap.error(f"--days: 1-3650, got {args.days:g}")
    if args.workers < 0:
        ap.error(f"--workers: at least 0, got {args.workers}")
    base = load_scenario(SCENARIO)
    try:
        set_over = parse_set(args.set)
        overrides = {**set_over, **({"cohort.surgery": None} if args.natural_history else {})}
        if overrides:
            base = with_overrides(base, overrides, "--set")
    except (ValueError, ScenarioError) as err:
        ap.error(str(err))
    all_arms = arms(base)
    if args.arms:
        unknown = sorted(set(args.arms) - set(all_arms))
        if unknown:
            ap.error(f"--arms: unknown arm(s) {', '.join(unknown)}; known: {', '.join(all_arms)}")
        all_arms = {k: v for k, v in all_arms.items() if k == "baseline" or k in args.arms}
    diagnostic = bool(args.arms or overrides)
    report = out / "ablation.md" if diagnostic else OUT_MD
    signs = {k: int(v) for k, v in load_targets()["review_association_signs"].by_label().items()}
    cfg = StatsConfig()
    tables, vas, walls, reused, mix = {}, {}, {}, {}, {}
    for name, (what, over) in all_arms.items():
        scen = with_overrides(base, over, f"ablation {name}") if over else base
        check_common_random_numbers(base, scen, min(args.patients, 50), args.days, args.root_seed)
        t0 = time.perf_counter()
        res = run_cohort(
            scen, out / name, patients=args.patients, days=args.days, root_seed=args.root_seed, workers=args.workers
        )
        walls[name] = time.perf_counter() - t0
        reused[name] = res.n_cached
        cohort = load_cohort(out / name)
        p = cohort.patients.sort_values("patient")
        tables[name] = association_table(p, signs, cfg)
        t = cohort.trajectories
        weeks_6_12 = t[(t["day"] >= 42) & (t["day"] <= 84)]
        w = weeks_6_12.groupby("patient")
        mix[name] = m1_share(t[t["day"] <= 13]), m1_share(weeks_6_12)
        below = t[(t["day"] >= 7) & (t["pain_vas"] < VAS_RESOLVED)].groupby("patient")["day"].min()
        vas[name] = pd.DataFrame(
            {
                "weeks_6_12": w["pain_vas"].mean(),
                "week_12": t[t["day"] == 84].set_index("patient")["pain_vas"],
                "tnf_root": w["tnf_root_pg_ml"].mean(),
                "days_to_vas20": below.reindex(w["pain_vas"].mean().index),
                "operated": t.groupby("patient")["surgery"].max() > 0,
            }
        )
        print(f"{name}: {walls[name]:.0f} s, {reused[name]} of {args.patients} patients reused", flush=True)

    factors = list(tables["baseline"]["factor"])
    lines = [
        "# Ablation table: the review's associations by pathway, and the M1/M2 balance",
        "",
        f"`calibration/ablation.py --patients {args.patients} --days {args.days:g}"
        + "".join(f" --set {k}={v}" for k, v in set_over.items())
        + (" --natural-history" if args.natural_history else "")
        + (f" --arms {' '.join(args.arms)}" if args.arms else "")
        + "` on "
        f"{time.strftime('%Y-%m-%d')}: `scenarios/cohort_default.toml`, root seed {args.root_seed}, the same "
        f"{args.patients} virtual patients in every arm (common random numbers, asserted). ρ = Spearman correlation of "
        "the readout with leg VAS at each patient's sample day (6-12 weeks), bootstrap 95 % CI; ✓ = the review's "
        "sign reproduced (the CI excludes 0 on the review's side, or for a null |ρ| < 0.1 or a CI containing 0), "
        "✗ = not. The IFN-γ and IL-4 readouts are the tissue's background levels (lymphocyte and mast-cell products, "
        "uniform in the tissue), which act on the macrophages only.",
        "",
        "| arm | what changes | " + " | ".join(factors) + " | signs reproduced |",
        "|---|---|" + "---|" * len(factors) + "---|",
    ]
    rows_csv = []
    for name, (what, _) in all_arms.items():
        t = tables[name].set_index("factor")
        cells = []
        for f in factors:
            r = t.loc[f]
            mark = {True: "✓", False: "✗"}.get(r["reproduced"], "·")
            cells.append(f"{r['rho']:+.2f} [{r['ci_lo']:+.2f}, {r['ci_hi']:+.2f}] {mark}")
            rows_csv.append(
                dict(
                    arm=name,
                    factor=f,
                    rho=r["rho"],
                    lo=r["ci_lo"],
                    hi=r["ci_hi"],
                    review_sign=r["review_sign"],
                    reproduced=r["reproduced"],
                )
            )
        n_ok = int((t["reproduced"] == True).sum())  # noqa: E712
        lines.append(f"| {name} | {what} | " + " | ".join(cells) + f" | {n_ok}/{len(factors)} |")
    lines += [
        "",
        "Review signs: " + ", ".join(f"{f} {signs[f]:+d}" for f in factors) + ".",
        "",
        "## Pain: paired difference from the baseline (same patients)",
        "",
        "| arm | mean VAS weeks 6-12 | Δ weeks 6-12 [95 % CI] | mean VAS week 12 | Δ week 12 [95 % CI] |",
        "|---|---|---|---|---|",
    ]
    b = vas["baseline"]
    for i, name in enumerate(arms(base)):  # i over every arm: a subset's bootstrap seeds are the full run's
        if name not in all_arms:
            continue
        v = vas[name].reindex(b.index)
        cells = []
        for col in ("weeks_6_12", "week_12"):
            m, lo, hi = paired_diff(b[col].to_numpy(float), v[col].to_numpy(float), 20261202 + i)
            cells += [f"{np.nanmean(v[col]):.1f}", f"{m:+.1f} [{lo:+.1f}, {hi:+.1f}]"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    # time to VAS < 20 (censored at the horizon: a patient who never gets there counts at the horizon, so the
    # median is a lower bound when more than half are censored) and the macrophage-made share of root TNF-α
    lines += [
        "",
        "## Time to VAS < 20, root TNF-α and the M1 share",
        "",
        f"Median days from onset to the first day (≥ 7) with VAS < {VAS_RESOLVED:g}; patients who never get there "
        f"count at the horizon (day {args.days:g}; '≥' marks a median that is censored). Root TNF-α: mean over "
        "weeks 6-12 of the concentration on the root's outer layer. Operated: the fraction of patients with a "
        "discectomy by the horizon (the cohort's usual-care surgery for persistent severe pain, "
        "`[cohort.surgery]`), which removes the fragment and so shortens the time to VAS < 20. M1 share: M1 cells "
        "as a fraction of all macrophages (M0 + M1 + M2), pooled over patients and days ('–': no macrophages).",
        "",
        "| arm | median days to VAS < 20 | reached by the horizon | operated | mean root TNF-α weeks 6-12 (pg/mL) "
        "| M1 share days 0-13 | M1 share weeks 6-12 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in all_arms:
        v = vas[name]
        reached = v["days_to_vas20"].notna()
        days_ = v["days_to_vas20"].fillna(args.days)
        med = float(np.median(days_))
        mark = "≥ " if (~reached).mean() >= 0.5 else ""
        lines.append(
            f"| {name} | {mark}{med:.0f} | {reached.mean():.0%} | {v['operated'].mean():.0%} | "
            f"{v['tnf_root'].mean():.3f} | " + " | ".join("–" if np.isnan(x) else f"{x:.3f}" for x in mix[name]) + " |"
        )
    if "no_macrophage_secretion" in vas:
        share = 1.0 - vas["no_macrophage_secretion"]["tnf_root"].mean() / vas["baseline"]["tnf_root"].mean()
        lines += [
            "",
            f"Macrophage-derived share of root TNF-α (weeks 6-12): 1 − TNF(no macrophage secretion)/TNF(baseline) = "
            f"{share:.0%}. It counts what macrophages make and what NP cells make because macrophage TNF-α/IL-1β "
            "activates them (`disc_cells.activation_gain`).",
        ]
    lines += [
        "",
        wall_line(walls, reused, args.patients, args.workers),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        with atomic_file(report) as tmp:
            tmp.write_text(text)
        with atomic_file(report.with_suffix(".csv")) as tmp:
            pd.DataFrame(rows_csv).to_csv(tmp, index=False)
        print(f"written to {report}")


if __name__ == "__main__":
    main()
