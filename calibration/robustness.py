"""Sign robustness: how often an independent cohort reproduces each of the review's cytokine-pain signs.

Run from the repository root::

    .venv/bin/python calibration/robustness.py --write          # 20 cohorts of 60 and 20 of 200, 90 days
    .venv/bin/python calibration/robustness.py --cohorts 3 --sizes 20 --workers 1 --out /tmp/robustness-smoke
    .venv/bin/python calibration/robustness.py --posterior calibration/posterior/posterior/draws.parquet --write

For each cohort size n (default 60, the size of a typical primary study in the review, and 200) the script
simulates K independent cohorts (default 20) of ``scenarios/cohort_default.toml``, computes the association
table of each exactly as ``discsim validate`` does (:func:`sim.calibration.stats.association_table`: Spearman ρ
of the readout with leg VAS at the sample day, percentile-bootstrap 95 % CI, and the review sign's rule
``reproduced``), and reports per factor and size the fraction of cohorts that reproduce the sign (Wilson 95 %
interval over cohorts) and the median and 10-90 % range of ρ across cohorts.

Seeds. Cohort j of size n has the root seed drawn from ``SeedSequence(master, spawn_key=(n, j))`` (that is
``SeedSequence(master).spawn(n + 1)[n].spawn(j + 1)[j]``), a 63-bit integer as for a patient's simulation seed;
patient k of that cohort is then ``SeedSequence(root, spawn_key=(k,))`` as in every cohort (sim.cohort.draw).
The master seed (default 31337) is not a seed used in tuning: the shipped root seed 20240601 and the out-of-sample
seed 777 are refused as cohort seeds. The 60- and the 200-patient cohorts are separate simulations: no patient is
shared between any two cohorts (asserted on the simulation seeds).

Runs go to ``--out`` (outside the repository; default /tmp/robustness), one ``discsim cohort`` directory per
cohort under ``seed<master>/n<size>/c<j>``. A rerun reuses finished patients (the cohort runner keeps a part per
patient, keyed by the patient's resolved scenario). That key covers the parameters but not the model code, so each
cohort directory records the hash of the ``sim`` source it was simulated with, and a rerun after a code change is
refused (use a fresh ``--out``, or ``--allow-stale`` to reuse anyway). 90 days cover every sample day (6-12 weeks).

Writes ``robustness.md``, ``robustness.csv`` (per factor and size) and ``robustness_cohorts.csv`` (per cohort and
factor) into ``--out``/seed<master>/, and with ``--write`` also into ``calibration/validation/``.

With ``--posterior DRAWS`` this is the posterior predictive check of the signs: each cohort is simulated under
one posterior draw, all its patients alike (the model the calibration fitted: one parameter vector per cohort;
its emulators were trained on such cohorts). Cohort j of size n takes draw ``permutation[j]`` of a permutation of
the draws from ``SeedSequence(master, spawn_key=(n, DRAW_STREAM))``, so the cohorts of one size use distinct
draws and cohort j's draw does not depend on how many cohorts are run. The fraction of cohorts reproducing a
sign is then its posterior predictive probability (over parameter uncertainty and patient sampling together),
which is what a cohort-level statistic needs: pooling patients from different draws into one cohort, as
``discsim cohort --posterior`` does for patient-level outcomes, mixes parameter uncertainty into the
between-patient spread and dilutes a correlation (a statistic of the whole cohort). Runs go to
``seed<master>-posterior-<sha256 of the draws file, 12 hex>/``; the tables are named ``robustness_posterior*``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: one numba thread (imported, e.g. by the tests, it changes nothing)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim._numba_cache import source_hash  # noqa: E402
from sim.calibration.stats import StatsConfig, association_table, load_cohort, wilson_interval  # noqa: E402
from sim.calibration.targets import load_targets  # noqa: E402
from sim.cohort import run_cohort  # noqa: E402
from sim.cohort.draw import simulation_seed  # noqa: E402
from sim.cohort.posterior import PosteriorDraws, load_posterior  # noqa: E402
from sim.io.provenance import git_revision  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402

SCENARIO = ROOT / "scenarios" / "cohort_default.toml"
MASTER_SEED = 31337
#: root seeds used in tuning and validating the shipped model (cohort_default.toml, the seed-777 check): never a
#: robustness cohort's seed
TUNING_SEEDS = frozenset({20240601, 777})
VALIDATION = ROOT / "calibration" / "validation"
MD, CSV, COHORTS_CSV = "robustness.md", "robustness.csv", "robustness_cohorts.csv"
SOURCE_RECORD = "robustness_source.json"
#: acceptance (issue 13): each sign reproduced in at least this fraction of the largest cohorts
ACCEPTANCE = 0.8
QUANTILES = (0.1, 0.9)
#: spawn-key entry of the stream that assigns posterior draws to cohorts (beside the cohorts' own (n, j) keys)
DRAW_STREAM = 0xD1A5


# ---------------------------------------------------------------------------------------------
# seeds
# ---------------------------------------------------------------------------------------------


def cohort_root_seed(master: int, size: int, j: int) -> int:
    """Root seed of cohort ``j`` of size ``size``: ``SeedSequence(master, spawn_key=(size, j))`` as 63 bits."""
    return simulation_seed(np.random.SeedSequence(int(master), spawn_key=(int(size), int(j))))


def cohort_plan(master: int, sizes: Sequence[int], cohorts: int) -> list[dict[str, Any]]:
    """One entry per cohort (sizes in the order given, then cohort number): size, cohort, root_seed, key."""
    plan = [
        {"size": int(n), "cohort": j, "root_seed": cohort_root_seed(master, n, j), "key": f"n{int(n):03d}/c{j:02d}"}
        for n in sizes
        for j in range(cohorts)
    ]
    roots = [c["root_seed"] for c in plan]
    if len(set(roots)) != len(roots):
        raise ValueError("two cohorts share a root seed (repeated size?)")
    if used := TUNING_SEEDS.intersection(roots):
        raise ValueError(f"a cohort would reuse a tuning seed {sorted(used)}: choose another master seed")
    return plan


def cohort_draws(master: int, size: int, cohorts: int, n_draws: int) -> list[int]:
    """The posterior draw of each cohort 0..cohorts-1 of one size: the first entries of a permutation of the draws
    (distinct while ``cohorts ≤ n_draws``), from ``SeedSequence(master, spawn_key=(size, DRAW_STREAM))``."""
    if cohorts > n_draws:
        raise ValueError(f"{cohorts} cohorts need at least as many posterior draws, the file has {n_draws}")
    rng = np.random.default_rng(np.random.SeedSequence(int(master), spawn_key=(int(size), DRAW_STREAM)))
    return [int(d) for d in rng.permutation(n_draws)[:cohorts]]


def tables(posterior: bool) -> tuple[str, str, str]:
    """File names of the report, the summary and the per-cohort table (``robustness_posterior*`` with draws)."""
    names = (MD, CSV, COHORTS_CSV)
    return tuple(n.replace("robustness", "robustness_posterior") for n in names) if posterior else names


def check_disjoint(seeds: dict[str, Sequence[int]]) -> int:
    """Raise when two cohorts (or one cohort twice) hold the same patient simulation seed; return the count."""
    owner: dict[int, str] = {}
    for key, values in seeds.items():
        if len(set(values)) != len(values):
            raise ValueError(f"{key}: two patients share a seed")
        for s in values:
            if (other := owner.setdefault(int(s), key)) != key:
                raise ValueError(f"patient seed {s} in both {other} and {key}: cohorts not disjoint")
    return len(owner)


# ---------------------------------------------------------------------------------------------
# statistics (the association table is sim.calibration.stats's, unchanged)
# ---------------------------------------------------------------------------------------------


def cohort_associations(patients: pd.DataFrame, signs: dict[str, int], config: StatsConfig) -> pd.DataFrame:
    """The association table of one cohort (patients in patient order, as ``discsim validate`` reads them)."""
    return association_table(patients.sort_values("patient").reset_index(drop=True), signs, config)


def summarize(per_cohort: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per size and factor: the fraction of cohorts reproducing the sign (Wilson interval) and ρ across cohorts.

    ``per_cohort`` has one row per cohort and factor with columns size, cohort, factor, review_sign, rho and
    reproduced (True, False or None). An undetermined cohort (None: ρ or its CI not computable) counts as not
    reproducing the sign; their number is reported.
    """
    rows = []
    factors = list(dict.fromkeys(per_cohort["factor"]))
    for size in sorted(per_cohort["size"].unique()):
        for factor in factors:
            g = per_cohort[(per_cohort["size"] == size) & (per_cohort["factor"] == factor)]
            k_total = int(g["cohort"].nunique())
            if k_total != len(g):
                raise ValueError(f"size {size}, {factor}: a cohort appears twice")
            flags = g["reproduced"]
            k = int((flags == True).sum())  # noqa: E712 - None (undetermined) is not True
            undetermined = int(flags.isna().sum())
            lo, hi = wilson_interval(k, k_total, confidence)
            rho = g["rho"].to_numpy(dtype=float)
            rho = rho[np.isfinite(rho)]
            q = np.quantile(rho, QUANTILES) if rho.size else (np.nan, np.nan)
            sign = g["review_sign"].iloc[0]
            rows.append(
                {
                    "size": int(size),
                    "factor": factor,
                    "review_sign": None if pd.isna(sign) else int(sign),
                    "cohorts": k_total,
                    "reproduced": k,
                    "undetermined": undetermined,
                    "fraction": k / k_total if k_total else np.nan,
                    "wilson_lo": lo,
                    "wilson_hi": hi,
                    "rho_median": float(np.median(rho)) if rho.size else np.nan,
                    "rho_q10": float(q[0]),
                    "rho_q90": float(q[1]),
                    "meets_acceptance": bool(k_total and k / k_total >= ACCEPTANCE),
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------


def _check_source(cohort_dir: Path, current: str, allow_stale: bool) -> None:
    """Refuse to reuse patients simulated with other model code (the parts' key does not cover the code)."""
    record = cohort_dir / SOURCE_RECORD
    parts = cohort_dir / "parts"
    if record.is_file():
        recorded = json.loads(record.read_text(encoding="utf-8")).get("source_hash")
        if recorded == current or allow_stale:
            return
        why = f"its patients were simulated with sim source {recorded}, this is {current}"
    elif parts.is_dir() and any(parts.glob("patient-*.parquet")):
        if allow_stale:
            return
        why = "it holds patients of unknown origin (no source record)"
    else:
        cohort_dir.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"source_hash": current, "git_revision": git_revision()}) + "\n")
        return
    raise SystemExit(f"{cohort_dir}: {why}; use a fresh --out, or --allow-stale to reuse them")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Simulate (or reuse) every cohort and compute its association table."""
    scenario = load_scenario(SCENARIO)
    post: PosteriorDraws | None = None
    out = Path(args.out) / f"seed{args.master_seed}"
    signs = {k: int(v) for k, v in load_targets()["review_association_signs"].by_label().items()}
    config = StatsConfig(n_boot=args.bootstrap)
    plan = cohort_plan(args.master_seed, args.sizes, args.cohorts)
    if args.posterior is not None:
        try:
            post = load_posterior(args.posterior, scenario)
            for n in args.sizes:
                draws = cohort_draws(args.master_seed, n, args.cohorts, post.n_draws)
                for c in (c for c in plan if c["size"] == n):
                    c["draw"] = draws[c["cohort"]]
        except (ValueError, OSError) as exc:  # PosteriorError is a ValueError (ScenarioError); exit 2 as argparse
            print(f"robustness.py: error: --posterior: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        out = Path(args.out) / f"seed{args.master_seed}-posterior-{post.sha256[:12]}"
    current = source_hash()
    per, seeds, cohorts = [], {}, []
    t0 = time.perf_counter()
    for c in plan:
        d = out / c["key"]
        _check_source(d, current, args.allow_stale)
        base = scenario if post is None else post.scenario_for(scenario, c["draw"])
        res = run_cohort(base, d, patients=c["size"], days=args.days, root_seed=c["root_seed"], workers=args.workers)
        cohort = load_cohort(d)
        seeds[c["key"]] = list(res.manifest["seeds"])
        t = cohort_associations(cohort.patients, signs, config)
        per.append(t.assign(size=c["size"], cohort=c["cohort"], root_seed=c["root_seed"], draw=c.get("draw")))
        sd = cohort.patients["sample_day"]
        cohorts.append(
            {
                **c,
                "n_ok": res.n_ok,
                "n_failed": res.n_failed,
                "n_computed": int(res.manifest["n_computed"]),
                "n_reused": int(res.manifest["n_reused"]),
                "wall_time_s": res.wall_time_s,
                "signs_reproduced": int((t["reproduced"] == True).sum()),  # noqa: E712
                "signs": int(t["review_sign"].notna().sum()),
                "sample_day_min": int(sd.min()),
                "sample_day_max": int(sd.max()),
            }
        )
        print(
            f"{c['key']} (root seed {c['root_seed']}"
            + (f", draw {c['draw']}" if post else "")
            + f"): {res.n_ok}/{c['size']} ok, {cohorts[-1]['n_computed']} "
            f"simulated in {res.wall_time_s:.1f} s, {cohorts[-1]['signs_reproduced']}/{cohorts[-1]['signs']} signs",
            flush=True,
        )
    n_distinct = check_disjoint(seeds)
    per_cohort = pd.concat(per, ignore_index=True)
    cols = ["size", "cohort", "root_seed", *(["draw"] if post else []), "factor", "column", "review_sign", "n", "rho"]
    cols += ["ci_lo", "ci_hi"]
    per_cohort = per_cohort[cols + ["reproduced"]]
    return {
        "out": out,
        "plan": plan,
        "cohorts": pd.DataFrame(cohorts),
        "per_cohort": per_cohort,
        "summary": summarize(per_cohort, config.confidence),
        "signs": signs,
        "config": config,
        "n_distinct_patients": n_distinct,
        "wall_time_s": time.perf_counter() - t0,
        "source_hash": current,
        "git_revision": git_revision(),
        "latest_sample_day": float(scenario.cohort.sample_day_max()),
        "posterior": post,
    }


def update_budget(out: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Append this invocation to ``out/budget.json``; return the totals over every invocation into ``out``."""
    path = out / "budget.json"
    runs = json.loads(path.read_text(encoding="utf-8"))["invocations"] if path.is_file() else []
    runs.append(entry)
    path.write_text(json.dumps({"invocations": runs}, indent=2) + "\n", encoding="utf-8")
    return {
        "invocations": len(runs),
        "patients_simulated": sum(r["patients_simulated"] for r in runs),
        "simulation_wall_time_s": sum(r["simulation_wall_time_s"] for r in runs if r["patients_simulated"]),
        "workers": sorted({r["workers"] for r in runs if r["patients_simulated"]}),
    }


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def _sign(s: Any) -> str:
    return "·" if s is None or pd.isna(s) else f"{int(s):+d}"


def render(result: dict[str, Any], args: argparse.Namespace, command: str, budget: dict[str, Any]) -> str:
    s, cohorts, config = result["summary"], result["cohorts"], result["config"]
    sizes = sorted(s["size"].unique())
    factors = list(dict.fromkeys(s["factor"]))
    k = args.cohorts
    simulated = int(cohorts["n_computed"].sum())
    reused = int(cohorts["n_reused"].sum())
    sim_wall = float(cohorts["wall_time_s"].sum())
    workers = f"{args.workers} worker(s)" if args.workers else "in one process (--workers 0)"
    total_pp = budget["simulation_wall_time_s"] / max(budget["patients_simulated"], 1)
    failed = int(cohorts["n_failed"].sum())
    lo_day, hi_day = int(cohorts["sample_day_min"].min()), int(cohorts["sample_day_max"].max())
    post = result.get("posterior")
    title = "# Sign robustness: the review's cytokine-pain signs across independent cohorts"
    if post is not None:
        title = "# Posterior predictive of the review's cytokine-pain signs: one posterior draw per cohort"
    lines = [
        title,
        "",
        f"`{command}` on {time.strftime('%Y-%m-%d')} (git {result['git_revision']}, sim source "
        f"{result['source_hash']}).",
        "",
        *(
            [
                f"* Posterior draws `{post.path}` (sha256 {post.sha256[:12]}…, {post.n_draws} draws of "
                f"{len(post.columns)} values): **each cohort is simulated under one draw**, every patient alike, "
                f"over the scenario below; cohort j of size n takes entry j of a permutation of the draws from "
                f"`SeedSequence({args.master_seed}, spawn_key=(n, {DRAW_STREAM}))` (distinct draws within a size; "
                "listed below). So a fraction below is the posterior predictive probability of the sign, over "
                "parameter uncertainty and patient sampling together."
            ]
            if post is not None
            else []
        ),
        f"* Scenario `scenarios/cohort_default.toml`; {k} independent cohorts of each size "
        + ", ".join(str(n) for n in sizes)
        + f" patients, {args.days:g} days (sample days {lo_day}-{hi_day}"
        + (
            f"; **clipped to the horizon: the scenario samples up to day {result['latest_sample_day']:g}**)."
            if args.days < result["latest_sample_day"]
            else ")."
        ),
        f"* Master seed {args.master_seed}: cohort j of size n has root seed `SeedSequence({args.master_seed}, "
        "spawn_key=(n, j))` as a 63-bit integer (listed below); not the tuning seeds "
        f"{', '.join(str(x) for x in sorted(TUNING_SEEDS))}. The cohorts of different sizes are separate simulations: "
        f"{result['n_distinct_patients']} distinct patients, none shared between two cohorts (asserted).",
        f"* Statistics as `discsim validate`: Spearman ρ of the readout with leg VAS at the sample day, percentile "
        f"bootstrap 95 % CI ({config.n_boot} resamples, seed {config.seed}); the sign is reproduced when the CI "
        f"excludes 0 on the review's side, or for a null sign when |ρ| < {config.null_rho:g} or the CI contains 0. "
        "A cohort whose ρ or CI cannot be computed counts as not reproducing it.",
        f"* Budget: this invocation simulated {simulated} patients and reused {reused} from `{args.out}`, "
        f"{workers}: simulation wall time {sim_wall:.0f} s, {result['wall_time_s']:.0f} s with the statistics. "
        f"All {budget['invocations']} invocation(s) into this folder: {budget['patients_simulated']} patients "
        f"simulated in {budget['simulation_wall_time_s']:.0f} s wall time ({total_pp:.2f} s per patient; workers "
        f"{', '.join(str(w) for w in budget['workers'])})."
        + (f" {failed} patient(s) failed and are excluded." if failed else ""),
        "",
        "Fraction of cohorts reproducing the review's sign [Wilson 95 % interval over cohorts]; median ρ "
        "[10 %, 90 % across cohorts].",
        "",
        "| factor | review sign | " + " | ".join(f"reproduced, n = {n} | median ρ, n = {n}" for n in sizes) + " |",
        "|---|---|" + "---|---|" * len(sizes),
    ]
    by = s.set_index(["size", "factor"])
    for f in factors:
        cells = []
        for n in sizes:
            r = by.loc[(n, f)]
            und = f", {r['undetermined']} undetermined" if r["undetermined"] else ""
            cells.append(
                f"{r['reproduced']}/{r['cohorts']} = {r['fraction']:.2f} [{r['wilson_lo']:.2f}, {r['wilson_hi']:.2f}]"
                + und
            )
            cells.append(f"{r['rho_median']:+.2f} [{r['rho_q10']:+.2f}, {r['rho_q90']:+.2f}]")
        lines.append(f"| {f} | {_sign(by.loc[(sizes[0], f)]['review_sign'])} | " + " | ".join(cells) + " |")
    big = max(sizes)
    g = s[(s["size"] == big) & s["review_sign"].notna()]
    fails = list(g.loc[~g["meets_acceptance"], "factor"])
    lines += [
        "",
        f"Acceptance (each sign reproduced in at least {ACCEPTANCE * 100:.0f} % of {big}-patient cohorts): "
        + (
            "met by every sign."
            if not fails
            else f"not met by {', '.join(fails)} ({len(g) - len(fails)}/{len(g)} signs meet it)."
        ),
        "",
        "## Cohorts",
        "",
        "| size | cohort | root seed |"
        + (" posterior draw |" if post is not None else "")
        + " patients ok | signs reproduced | simulated now | wall time (s) |",
        "|---|---|---|" + ("---|" if post is not None else "") + "---|---|---|---|",
    ]
    for r in cohorts.itertuples():
        lines.append(
            f"| {r.size} | {r.cohort} | {r.root_seed} |"
            + (f" {r.draw} |" if post is not None else "")
            + f" {r.n_ok}/{r.size} | {r.signs_reproduced}/{r.signs} | {r.n_computed} | {r.wall_time_s:.1f} |"
        )
    lines += ["", f"Per cohort and factor (ρ, CI, reproduced): `{tables(post is not None)[2]}`."]
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], text: str, folder: Path) -> None:
    md, csv, cohorts_csv = tables(result.get("posterior") is not None)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / md).write_text(text, encoding="utf-8")
    result["summary"].to_csv(folder / csv, index=False)
    result["per_cohort"].to_csv(folder / cohorts_csv, index=False)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohorts", type=int, default=20, help="independent cohorts per size (default 20)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[60, 200], help="patients per cohort (default 60 200)")
    ap.add_argument("--days", type=float, default=90.0, help="simulated days (default 90: every sample day)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (0: in this process)")
    ap.add_argument("--out", default="/tmp/robustness", help="run folder, outside the repository (resumable)")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples per Spearman CI")
    ap.add_argument("--master-seed", type=int, default=MASTER_SEED, help=f"(default {MASTER_SEED})")
    ap.add_argument("--write", action="store_true", help="also write the tables into calibration/validation/")
    ap.add_argument(
        "--posterior",
        type=Path,
        default=None,
        help="Parquet file of posterior draws: each cohort under one draw (the posterior predictive of the signs)",
    )
    ap.add_argument("--allow-stale", action="store_true", help="reuse patients simulated with other sim code")
    args = ap.parse_args(argv)
    if args.cohorts < 1 or min(args.sizes) < 3 or len(set(args.sizes)) != len(args.sizes):
        ap.error("need --cohorts ≥ 1 and distinct --sizes ≥ 3")
    if args.days <= 0 or args.bootstrap < 100 or args.workers < 0:
        ap.error("need --days > 0, --bootstrap ≥ 100, --workers ≥ 0")
    out = Path(args.out).resolve()
    if out == ROOT or ROOT in out.parents:
        ap.error("--out must be outside the repository")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = shlex.join(["calibration/robustness.py", *argv])
    result = run(args)
    cohorts = result["cohorts"]
    budget = update_budget(
        result["out"],
        {
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": command,
            "source_hash": result["source_hash"],
            "patients_simulated": int(cohorts["n_computed"].sum()),
            "patients_reused": int(cohorts["n_reused"].sum()),
            "simulation_wall_time_s": round(float(cohorts["wall_time_s"].sum()), 3),
            "wall_time_s": round(result["wall_time_s"], 3),
            "workers": args.workers,
        },
    )
    text = render(result, args, command, budget)
    print(text)
    write(result, text, result["out"])
    print(f"written to {result['out']}")
    if args.write:
        write(result, text, VALIDATION)
        print(f"written to {VALIDATION.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    main()
