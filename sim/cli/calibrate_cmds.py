"""``discsim validate | sensitivity | calibrate``: the calibration targets, global sensitivity, ABC-SMC."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated

import typer

from ..calibration.settings import POINTS, AbcSettings, SensitivitySettings, StatsConfig
from ._cluster import (
    ClusterAccountOpt,
    ClusterCoresOpt,
    ClusterJobsOpt,
    ClusterMemoryOpt,
    ClusterOpt,
    ClusterQueueOpt,
    ClusterWalltimeOpt,
    cluster_settings,
    dask_client,
    only_one,
)
from ._common import OverwriteOpt, claim_out, console, fail, input_errors_exit_2, note, styled

#: the library's defaults, which the options below show and use (one source of truth)
_STATS = StatsConfig()
_SENSITIVITY = SensitivitySettings()
_ABC = AbcSettings()

_STATUS_STYLE = {
    "inside": "green",
    "reproduced": "green",
    "consistent": "yellow",
    "outside": "red",
    "not reproduced": "red",
    "undetermined": "yellow",
    "not simulated": "dim",
}


def _greedy(tokens: list[str], width: int) -> list[str]:
    lines, line = [], ""
    for token in tokens:
        if line and len((line + token).rstrip()) > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
    return lines + [line.rstrip()]


def _wrap_cell(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters: broken at spaces, then (for what is still too long)
    after underscores and range dashes, and only then cut."""
    out = []
    for line in _greedy(re.findall(r"\S+\s*|\s+", text) or [""], width):
        if len(line) > width:
            for part in _greedy(re.findall(r"[^_–]+[_–]?|[_–]", line), width):
                out += [part[i : i + width] for i in range(0, max(len(part), 1), width)]
        else:
            out.append(line)
    return out


def _fit_widths(natural: list[int], minimum: list[int], available: int) -> list[int]:
    """Column widths: the natural ones, narrowed one character at a time (the column with most room to spare
    first) until they fit in ``available`` or every column is at its minimum."""
    widths = list(natural)
    while sum(widths) > available:
        slack = [w - m for w, m in zip(widths, minimum, strict=True)]
        i = max(range(len(widths)), key=slack.__getitem__)
        if slack[i] <= 0:
            break
        widths[i] -= 1
    return widths


def validation_console_table(table, title: str, width: int) -> list:
    """The target table as lines that fit ``width`` columns: one heading line per target id, then its items
    (item, target value [range], simulated value [interval], n, status), cells wrapped where they are long."""
    from rich.text import Text

    from ..calibration.validate import format_range

    indent, gap = 2, 2
    header = ["item", "target [range]", "simulated [interval]", "n", "status"]
    groups: dict[str, list[tuple[list[str], str]]] = {}
    for r in table.itertuples(index=False):
        tv = f"{r.target:.3g}" if r.target == r.target else ""
        rng = format_range(r.target_lo, r.target_hi)
        sv = f"{r.simulated:.3g}" if r.simulated == r.simulated else ""
        si = format_range(r.sim_lo, r.sim_hi)
        cells = [
            str(r.item or ""),
            f"{tv} [{rng}]" if rng else tv,
            f"{sv} [{si}]" if si else sv,
            str(r.n) if r.n else "",
            str(r.status),
        ]
        groups.setdefault(str(r.target_id), []).append((cells, str(r.status)))
    rows = [c for g in groups.values() for c, _ in g]
    natural = [max([len(h)] + [len(c[j]) for c in rows]) for j, h in enumerate(header)]
    minimum = [10, 12, 12, natural[3], max([6] + [len(c[4]) for c in rows])]
    widths = _fit_widths(natural, minimum, width - indent - gap * (len(header) - 1))

    def render(cells: list[str], style: str = "", status_style: str = "") -> list[Text]:
        wrapped = [_wrap_cell(c, w) for c, w in zip(cells, widths, strict=True)]
        out = []
        for k in range(max(len(w) for w in wrapped)):
            line = Text(" " * indent, style=style)
            for j, (w, lines) in enumerate(zip(widths, wrapped, strict=True)):
                cell = lines[k] if k < len(lines) else ""
                cell = cell.rjust(w) if j == 3 else cell.ljust(w)
                line.append(cell, style=status_style if j == 4 else style)
                if j < len(widths) - 1:
                    line.append(" " * gap)
            line.rstrip()
            out.append(line)
        return out

    lines = [Text(title, style="bold"), *render(header, style="bold")]
    lines.append(Text(" " * indent + "─" * (sum(widths) + gap * (len(widths) - 1))))
    for target_id, items in groups.items():
        lines.append(Text(target_id, style="bold"))
        for cells, status in items:
            lines += render(cells, status_style=_STATUS_STYLE.get(status, ""))
    return lines


def _note_no_cohort(scen, source: Path | None, n: int) -> None:
    if scen.cohort is None:
        note(f"{source} has no [cohort] section: the {n} patients per simulation differ only by their random seed")


def _workers(value: int | None) -> int:
    if value is None:
        return 0
    if value < 0:
        fail(f"--workers must be ≥ 0, got {value}")
    return value


def _params(value: str | None, *, ranges: bool = False) -> tuple[list[str] | None, dict[str, list[float]]]:
    """``--params``: comma-separated dotted paths, each with the schema's prior; with ``ranges``, also
    ``PATH=LO:HI`` (needed for a cohort spread, ``cohort.*``, which has no schema prior)."""
    if value is None:
        return None, {}
    from ..calibration.targets import parameter_prior

    names, bounds, problems = [], {}, []
    for item in (p.strip() for p in value.split(",")):
        if not item:
            continue
        path, sep, rng = (x.strip() for x in item.partition("="))
        if sep:
            lo, colon, hi = rng.partition(":")
            try:
                pair = [float(lo), float(hi)] if colon else None
            except ValueError:
                pair = None
            if not ranges:
                problems.append(f"{item!r}: a range is not accepted here (the schema's priors are used)")
            elif pair is None or not (math.isfinite(pair[0]) and math.isfinite(pair[1]) and pair[1] > pair[0]):
                problems.append(f"{item!r}: expected PATH=LO:HI with numbers LO < HI")
            else:
                bounds[path] = pair
        elif path.startswith("cohort."):
            problems.append(
                f"{path!r} is a cohort spread: give its prior range as {path}=LO:HI"
                if ranges
                else f"{path!r}: cohort spreads are calibrated by `discsim calibrate` (PATH=LO:HI) or `discsim posterior`"
            )
        else:
            try:
                parameter_prior(path)
            except KeyError as exc:
                problems.append(str(exc.args[0]))
        if path in names:
            problems.append(f"{path!r} is listed twice")
        names.append(path)
    if problems or not names:
        fail(
            "--params: "
            + ("; ".join(problems) if problems else "empty list")
            + " (calibrated parameters: `discsim schema` shows x-status/x-prior)"
        )
    return names, bounds


@input_errors_exit_2
def validate(
    cohort_dir: Annotated[Path, typer.Argument(help="Output directory of `discsim cohort`.", show_default=False)],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to write validation.csv/.md [default: COHORT_DIR].")
    ] = None,
    regression_threshold: Annotated[
        float, typer.Option(help="Volume reduction counted as regression.", min=0, max=1)
    ] = _STATS.regression_threshold,
    resolution_threshold: Annotated[
        float, typer.Option(help="Volume reduction counted as complete resolution.", min=0, max=1)
    ] = _STATS.resolution_threshold,
    infiltrate_threshold: Annotated[
        float, typer.Option(help="CD68+ cells/cm² at the sample counted as an infiltrate.", min=0)
    ] = _STATS.infiltrate_threshold_per_cm2,
    entry_day: Annotated[
        float | None,
        typer.Option(help="Fixed trial-entry day after onset [default: each patient's sample_day].", min=0),
    ] = None,
    rodent_time_scale: Annotated[
        float | None,
        typer.Option(
            help="Model days per rodent day for the kinetics targets [default: allometric by species, "
            "(M_human/M)^(1/4): mouse 7.3, rat 3.9].",
            min=0,
        ),
    ] = _STATS.rodent_time_scale,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the Spearman CIs.", min=100)] = _STATS.n_boot,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.", min=0)] = _STATS.seed,
    declaration: Annotated[
        Path | None,
        typer.Option(
            help="A calibration's declaration (calibration/posterior.toml): label each row fit, check or not "
            "declared, and count them apart.",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[bool, OverwriteOpt] = False,
) -> None:
    """Compare a cohort with every calibration target: validation.csv and validation.md."""
    from ..calibration.history import HistoryError, load_config
    from ..calibration.stats import CohortError, compute_statistics, load_cohort
    from ..calibration.targets import TargetsError, load_targets
    from ..calibration.validate import role_counts, status_counts, validation_table, with_roles, write_validation
    from ..scenario import Scenario

    try:
        cohort = load_cohort(cohort_dir)
        targets = load_targets()
        declared = load_config(declaration, targets) if declaration is not None else None
    except (CohortError, TargetsError, HistoryError) as exc:
        fail(str(exc))
    out = out if out is not None else cohort_dir
    if out.absolute() != cohort_dir.absolute():
        claim_out(out, "validation", overwrite)
    config = StatsConfig(
        regression_threshold=regression_threshold,
        resolution_threshold=resolution_threshold,
        infiltrate_threshold_per_cm2=infiltrate_threshold,
        entry=_STATS.entry if entry_day is None else float(entry_day),
        rodent_time_scale=rodent_time_scale,
        n_boot=bootstrap,
        seed=seed,
    )
    stats = compute_statistics(cohort, config)
    scen = cohort.manifest.get("scenario")
    scenario = None
    if isinstance(scen, dict):
        try:
            scenario = Scenario.model_validate(scen)
        except Exception:  # noqa: BLE001 - manifest from another version: the length check is skipped
            scenario = None
    table = validation_table(stats, targets, scenario=scenario)
    if declared is not None:
        table = with_roles(table, declared.fit, declared.check)
    header = (
        f"# Validation of {cohort_dir}\n\n{stats.n_patients} patients"
        f"{f' ({cohort.n_excluded} failed, excluded)' if cohort.n_excluded else ''}, simulated to day "
        f"{stats.horizon_day:.0f}. Targets: {targets.path}. Definitions: docs/calibration.md; thresholds: "
        f"regression ≥ {regression_threshold:.0%}, resolution ≥ {resolution_threshold:.0%} reduction at day "
        f"{config.outcome_day:.0f}, infiltrate ≥ {infiltrate_threshold:g} CD68+/cm².\n"
    )
    csv, md = write_validation(table, out, header)

    title = f"Targets vs {cohort_dir} ({stats.n_patients} patients, day ≤ {stats.horizon_day:.0f})"
    for line in validation_console_table(table, title, console.width):
        console.print(line, soft_wrap=False)
    if declared is not None:
        for role, n, counts in role_counts(table):
            text = ", ".join(f"{k}: {v}" for k, v in counts.items())
            console.print(f"{role} targets ({n} rows): {text}", soft_wrap=False)
    else:
        console.print(", ".join(f"{k}: {v}" for k, v in status_counts(table).items()), soft_wrap=False)
    console.print(f"wrote {csv}")
    console.print(f"wrote {md}")


@input_errors_exit_2
def sensitivity(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario TOML file (its [cohort] section draws the patients).", show_default=False)
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.", show_default=False)],
    method: Annotated[
        str, typer.Option(help="morris (screening) or sobol (variance-based; n a power of 2).")
    ] = _SENSITIVITY.method,
    params: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated dotted paths of calibrated parameters [default: the 14-parameter subset sim.calibration.sensitivity.DEFAULT_PARAMETERS]."
        ),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Morris trajectories / Sobol base samples.", min=2)] = _SENSITIVITY.n,
    patients_per_point: Annotated[
        int, typer.Option(help="Virtual patients per design point (same patients at every point).", min=1)
    ] = _SENSITIVITY.patients_per_point,
    days: Annotated[
        float, typer.Option(help="Simulated days per patient (outputs at day 84 and 365, or the last day).", min=1)
    ] = _SENSITIVITY.days,
    workers: Annotated[int | None, typer.Option(help="Local worker processes [default: 0 = in this process].")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address (tcp://host:8786).")] = None,
    cluster: ClusterOpt = None,
    cluster_queue: ClusterQueueOpt = None,
    cluster_account: ClusterAccountOpt = None,
    cluster_cores: ClusterCoresOpt = None,
    cluster_memory: ClusterMemoryOpt = None,
    cluster_walltime: ClusterWalltimeOpt = None,
    cluster_jobs: ClusterJobsOpt = None,
    seed: Annotated[int, typer.Option(help="Design and patient seed.", min=0)] = _SENSITIVITY.seed,
    overwrite: Annotated[bool, OverwriteOpt] = False,
) -> None:
    """Global sensitivity (SALib) of leg VAS at 12 weeks and volume fraction at 1 year; resumable."""
    from ..calibration.sensitivity import METHODS, run_sensitivity
    from ..scenario import load_scenario

    if method not in METHODS:
        fail(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "sobol" and n & (n - 1):
        fail(f"--n must be a power of 2 for Sobol, got {n}")
    names, _ = _params(params)
    only_one(scheduler=scheduler, cluster=cluster)
    spec = cluster_settings(
        cluster, cluster_queue, cluster_account, cluster_cores, cluster_memory, cluster_walltime, cluster_jobs
    )
    scen = load_scenario(scenario)
    claim_out(out, "sensitivity", overwrite)
    _note_no_cohort(scen, scenario, patients_per_point)
    from ._common import progress_bar

    with dask_client(scheduler, spec) as client, progress_bar() as bar:
        task = bar.add_task(f"{method} runs", total=None)

        def progress(outcome, done, total):
            bar.update(task, completed=done, total=total)

        result = run_sensitivity(
            scen,
            out,
            method=method,
            params=names,
            n=n,
            patients_per_point=patients_per_point,
            days=days,
            seed=seed,
            workers=_workers(workers),
            client=client,
            progress=progress,
        )
    for message in result.notes:
        note(message)
    key = "mu_star" if method == "morris" else "ST"
    for name, df in result.indices.groupby("output", sort=False):
        top = df.sort_values(key, ascending=False).head(5)
        console.print(
            styled(
                str(name),
                "bold",
                f" top {key}: " + ", ".join(f"{p} {v:.3g}" for p, v in zip(top["parameter"], top[key])),
            )
        )
    console.print(
        f"wrote {out}/: indices.parquet, indices.csv, design.parquet, manifest.json, {method}.png "
        f"({len(result.design)} points × {patients_per_point} patients, {result.wall_time_s:.0f} s)"
    )


@input_errors_exit_2
def calibrate(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario TOML (not needed with --resume).", show_default=False)
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (abc.db, posterior, report).")] = Path(
        "runs/calibration"
    ),
    params: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated dotted paths to calibrate, each with its schema prior, or PATH=LO:HI with an explicit "
            "range; a cohort spread (e.g. cohort.patient.nerve_sensitivity.gsd=1:2) needs one "
            "[default: the 14-parameter subset sim.calibration.sensitivity.DEFAULT_PARAMETERS]."
        ),
    ] = None,
    populations: Annotated[
        int, typer.Option(help="ABC-SMC populations in total (resume: continue up to this).", min=1)
    ] = _ABC.populations,
    particles: Annotated[int, typer.Option(help="Particles per population.", min=2)] = _ABC.population_size,
    patients: Annotated[int, typer.Option(help="Virtual patients per model simulation.", min=2)] = _ABC.patients,
    days: Annotated[float, typer.Option(help="Simulated days per patient.", min=1)] = _ABC.days,
    workers: Annotated[
        int | None, typer.Option(help="Local processes for the patients of one simulation [default: 0].")
    ] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address: particles run on its workers.")] = None,
    cluster: ClusterOpt = None,
    cluster_queue: ClusterQueueOpt = None,
    cluster_account: ClusterAccountOpt = None,
    cluster_cores: ClusterCoresOpt = None,
    cluster_memory: ClusterMemoryOpt = None,
    cluster_walltime: ClusterWalltimeOpt = None,
    cluster_jobs: ClusterJobsOpt = None,
    common_patients: Annotated[
        bool, typer.Option(help="Same patients for every particle (default: fresh patients per particle).")
    ] = _ABC.common_patients,
    min_epsilon: Annotated[
        float, typer.Option(help="Stop when the distance threshold falls below this.", min=0)
    ] = _ABC.min_epsilon,
    resume: Annotated[bool, typer.Option(help="Continue the run stored in --out (abc.db).")] = False,
    calibrated: Annotated[
        Path | None,
        typer.Option(
            help="Write the calibrated overrides here [default: OUT/calibrated.toml]; "
            "the shipped scenarios read calibration/calibrated.toml."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Root seed of the patients.", min=0)] = _ABC.seed,
    weight: Annotated[
        list[str] | None,
        typer.Option(
            help="TARGET_ID=W: weight of a target in the distance (default 1 each); repeat for several targets."
        ),
    ] = None,
    point: Annotated[
        str,
        typer.Option(
            help="Point estimate written to the calibrated file: mean (posterior weighted "
            "mean) or best (the last population's particle with the smallest "
            "distance)."
        ),
    ] = POINTS[0],
    overwrite: Annotated[bool, OverwriteOpt] = False,
) -> None:
    """ABC-SMC calibration (pyabc) of chosen parameters against the targets."""
    from ..calibration.abc import CalibrationError, check_settings, require_pyabc, run_abc
    from ..scenario import load_scenario

    try:
        require_pyabc()
    except CalibrationError as exc:
        fail(str(exc))
    settings = AbcSettings(
        patients=patients,
        days=days,
        seed=seed,
        population_size=particles,
        populations=populations,
        min_epsilon=min_epsilon,
        workers=_workers(workers),
        common_patients=common_patients,
    )
    names, ranges = _params(params, ranges=True)
    if names is not None:
        settings.params, settings.ranges = names, ranges
    if point not in POINTS:
        fail(f"--point {point!r}: expected one of {', '.join(POINTS)}")
    for item in weight or []:
        tid, sep, value = (part.strip() for part in item.partition("="))
        try:
            w = float(value)
        except ValueError:
            w = None
        if not (sep and tid) or w is None:
            fail(f"--weight {item!r}: expected TARGET_ID=NUMBER, e.g. sciatica_trial_leg_vas_itt=3")
        settings.weights[tid] = w
    if resume and weight:
        fail("--weight cannot change on --resume (the stored run keeps its distance)")
    only_one(scheduler=scheduler, cluster=cluster)
    spec = cluster_settings(
        cluster, cluster_queue, cluster_account, cluster_cores, cluster_memory, cluster_walltime, cluster_jobs
    )
    if resume:
        scen = None
    else:
        if scenario is None:
            fail("give a SCENARIO (or --resume to continue the run in --out)")
        scen = load_scenario(scenario)
        try:  # every problem of the settings before the output folder is claimed
            check_settings(scen, settings)
        except CalibrationError as exc:
            fail(str(exc))
    claim_out(out, "calibration", overwrite)
    if scen is not None:
        _note_no_cohort(scen, scenario, patients)
    with dask_client(scheduler, spec) as client:
        try:
            result = run_abc(
                scen,
                out,
                settings,
                resume=resume,
                client=client,
                calibrated_path=calibrated,
                log=lambda m: console.print(m),
                point=point,
            )
        except CalibrationError as exc:
            fail(str(exc))
    b = result.budget
    console.print(
        styled(
            "done",
            "green",
            f": {b['populations']} populations × {b['population_size']} particles, "
            f"{b['simulated_patients']} simulated patients, {b['wall_time_s']:.0f} s",
        )
    )
    for k, v in result.calibrated.items():
        console.print(f"  {k} = {v:.4g}")
    console.print(
        f"wrote {out}/: posterior.parquet, populations.parquet, report.md, figures; "
        f"{calibrated or out / 'calibrated.toml'}"
    )


@input_errors_exit_2
def posterior(
    config: Annotated[Path, typer.Argument(help="Calibration declaration (calibration/posterior.toml).")],
    wave: Annotated[
        int | None, typer.Option(help="Wave to simulate [default: the first unfinished one].", min=1)
    ] = None,
    points: Annotated[
        int, typer.Option(help="Design points to simulate now (0: none; the rest resumes later).", min=0)
    ] = 0,
    parts: Annotated[
        Path, typer.Option(help="Scratch folder of the per-patient parts (resumes an interrupted batch).")
    ] = Path("runs/posterior-parts"),
    workers: Annotated[int | None, typer.Option(help="Local worker processes [default: 0, in process].")] = None,
    fit: Annotated[bool, typer.Option("--fit", help="Emulate the finished points and report the emulators.")] = False,
    run_posterior: Annotated[
        bool, typer.Option("--posterior", help="With --fit: the emulator posterior and its report.")
    ] = False,
    sampler: Annotated[
        str,
        typer.Option(
            help="Sampler of the emulator posterior: mcmc (emcee on the emulator likelihood) or abc (pyabc "
            "ABC-SMC on the emulators, the declared [posterior] settings).",
        ),
    ] = "mcmc",
    sensitivity: Annotated[
        bool,
        typer.Option(
            "--sensitivity",
            help="Sobol indices on the emulators, over the posterior's 95 % box (the prior before a posterior).",
        ),
    ] = False,
    allow_stale: Annotated[
        bool, typer.Option(help="Keep points simulated with another model source (not for a shipped calibration).")
    ] = False,
) -> None:
    """Bayesian calibration: history-matching waves of virtual cohorts, GP emulators, the emulator posterior."""
    from ..calibration import history as hm

    try:
        cfg = hm.load_config(config)
        if run_posterior and not fit:
            fail("--posterior needs --fit")
        if sampler not in hm.SAMPLERS:
            fail(f"--sampler {sampler!r}: must be one of {', '.join(hm.SAMPLERS)}")
        if points:
            w = wave or next(
                (k for k in range(1, len(cfg.wave_points) + 1) if len(hm.read_points(cfg, k)) < cfg.wave_points[k - 1]),
                None,
            )
            if w is None:
                fail(f"{cfg.out}: every declared wave is finished")
            hm.run_wave(
                cfg,
                w,
                parts=parts,
                workers=_workers(workers),
                max_points=points,
                allow_stale=allow_stale,
                log=lambda m: console.print(m),
            )
        if fit:
            result = hm.fit(cfg, posterior=run_posterior, sampler=sampler, log=lambda m: console.print(m))
            for f in result["files"]:
                note(f"wrote {f}")
        if sensitivity:
            result = hm.sensitivity(cfg, log=lambda m: console.print(m))
            r = result["report"]
            console.print(
                f"Sobol over {r['box']}: N = {r['N']}, {r['converged']}/{r['outputs']} outputs converged "
                f"({r['emulator_evaluations']} emulator evaluations, {r['wall_time_s']} s)"
            )
            for f in result["files"]:
                note(f"wrote {f}")
    except hm.HistoryError as exc:
        fail(str(exc))
