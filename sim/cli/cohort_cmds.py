"""``discsim cohort | sweep``: many runs in parallel (local processes or a Dask cluster), resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..scenario import load_scenario
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
from ._common import (
    OverwriteOpt,
    claim_out,
    console,
    default_out,
    err_console,
    input_errors_exit_2,
    note,
    progress_bar,
    styled,
)

WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", "-j", help="Local worker processes [default: usable cores]; 0 = in this process.", min=0),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address (tcp://host:8786): run on that cluster instead."),
]
RetriesOpt = Annotated[int, typer.Option("--retries", help="Extra attempts for a failing run.", min=0)]
PlotOpt = Annotated[bool, typer.Option("--plot/--no-plot", help="Draw the figures when done.")]
OverwriteFlag = Annotated[bool, OverwriteOpt]


class _Bar:
    """A rich progress bar fed by the executor's progress callback."""

    def __init__(self, description: str, total: int):
        self.bar = progress_bar()
        self.task = self.bar.add_task(description, total=total)
        self.failed = 0

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def __call__(self, outcome, n_finished: int, n_total: int) -> None:
        if outcome.status == "failed":
            self.failed += 1
            self.bar.console.print(
                styled("failed", "red", f" {outcome.key} after {outcome.attempts} attempt(s): {outcome.error}")
            )
        self.bar.update(self.task, completed=n_finished)


def _plot(out: Path) -> None:
    from ..plots import plot_output_dir

    for path in plot_output_dir(out):
        console.print(f"wrote {path}")


def _note_changed_posterior(out: Path, post, kind: str = "cohort") -> None:
    """Say so when ``out`` holds a finished ``kind`` run (cohort, trial) with another posterior file (or with one /
    without one).

    Nothing is refused: as for a changed scenario, every patient whose resolved scenario changed is recomputed
    (its part's fingerprint no longer matches), the others are reused, and the tables describe this run.
    """
    import json

    try:
        before = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(before, dict) or before.get("kind") != kind:
        return
    old = before.get("posterior") if isinstance(before.get("posterior"), dict) else None
    old_sha = old.get("sha256") if old else None
    new_sha = post.sha256 if post is not None else None
    if old_sha == new_sha:
        return
    if old is None:
        what = f"without --posterior; now with {post.path}"
    elif post is None:
        what = f"with --posterior {old.get('file')}; now without one"
    else:
        what = f"with --posterior {old.get('file')} (sha256 {str(old_sha)[:12]}…); now {post.path} ({new_sha[:12]}…)"
    redo = "patients whose scenario changed are recomputed" + (", screening included" if kind == "trial" else "")
    note(f"{out} holds a {kind} run {what}: {redo}")


@input_errors_exit_2
def cohort(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file with a [cohort] section.", show_default=False)],
    patients: Annotated[
        int | None, typer.Option("--patients", "-n", help="Number of patients [default: cohort.patients].", min=1)
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output directory [default: runs/<scenario name>-cohort].")
    ] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    cluster: ClusterOpt = None,
    cluster_queue: ClusterQueueOpt = None,
    cluster_account: ClusterAccountOpt = None,
    cluster_cores: ClusterCoresOpt = None,
    cluster_memory: ClusterMemoryOpt = None,
    cluster_walltime: ClusterWalltimeOpt = None,
    cluster_jobs: ClusterJobsOpt = None,
    days: Annotated[
        float | None, typer.Option(help="Simulated days per patient, a whole number 1-3650 (overrides cohort.days).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Root seed (overrides cohort.seed).", min=0)] = None,
    posterior: Annotated[
        Path | None,
        typer.Option(
            "--posterior",
            help="Parquet file of posterior draws (a 'draw' column and one column per dotted parameters.* or "
            "cohort.* path): each patient is simulated under one draw, chosen from its own seed (docs/cohorts.md).",
            show_default=False,
        ),
    ] = None,
    retries: RetriesOpt = 2,
    plot: PlotOpt = True,
    overwrite: OverwriteFlag = False,
) -> None:
    """Simulate a virtual cohort: patients.parquet, trajectories.parquet, manifest.json (+ figures).

    Rerunning the same command into the same directory computes only the patients that are missing.
    """
    from ..cohort import run_cohort
    from ..cohort.draw import cohort_days, cohort_root_seed
    from ..limits import check_count, check_run_budget
    from .run_cmds import _check_cohort_draws, resolve_days

    only_one(workers=workers, scheduler=scheduler, cluster=cluster)
    spec = cluster_settings(
        cluster, cluster_queue, cluster_account, cluster_cores, cluster_memory, cluster_walltime, cluster_jobs
    )
    scen = load_scenario(scenario)
    d = resolve_days(scen, days).simulation.days if days is not None else cohort_days(scen)
    n = patients if patients is not None else (scen.cohort.patients if scen.cohort is not None else 100)
    check_count("DISCSIM_MAX_RUNS", n, "patients", "simulate fewer patients (--patients)")
    check_run_budget(resolve_days(scen, d), what="each patient's run")
    post = None
    if posterior is not None:
        from ..cohort.posterior import load_posterior

        post = load_posterior(posterior, scen)  # PosteriorError (exit 2) before anything is written
    if scen.cohort is not None or post is not None:
        _check_cohort_draws(scen, str(scenario), post, seed)
    out = claim_out(out if out is not None else default_out(scen.name, "-cohort"), "cohort", overwrite)
    if post is not None:
        note(
            f"{posterior}: {post.n_draws} posterior draws of {len(post.columns)} value(s); each patient uses one, "
            f"chosen from root seed {seed if seed is not None else cohort_root_seed(scen)} and its number"
        )
    _note_changed_posterior(out, post)
    if scen.cohort is None:
        note(f"{scenario} has no [cohort] section: the {n} patients differ only by their random seed")
    if scen.cohort is not None and scen.cohort.sample_day.support()[1] > d:
        note(f"sample days beyond the simulated {d:g} days are taken on the last day")
    with dask_client(None, spec) as client, _Bar(f"{scen.name}: patients", n) as bar:
        result = run_cohort(
            scen,
            out,
            patients=n,
            days=days,
            root_seed=seed,
            workers=workers,
            scheduler=scheduler,
            client=client,
            retries=retries,
            progress=bar,
            source=str(scenario),
            posterior=post,
        )
    m = result.manifest
    console.print(
        styled(
            "done",
            "green",
            f" in {result.wall_time_s:.1f} s: {result.n_ok}/{n} patients ok "
            f"({m['n_computed']} computed, {m['n_reused']} reused; {m['backend']}, {m['workers']} workers)",
        )
    )
    console.print(f"wrote {out}/: patients.parquet, trajectories.parquet, manifest.json")
    if plot and result.n_ok:
        _plot(out)
    if result.n_failed:
        err_console.print(
            styled(
                f"{result.n_failed} patient(s) failed",
                "red",
                " (status/error columns of patients.parquet); rerun the same command to retry them",
            )
        )
        raise typer.Exit(1)


@input_errors_exit_2
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="Sweep TOML file.", show_default=False)],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output directory [default: runs/<sweep name>].")
    ] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    cluster: ClusterOpt = None,
    cluster_queue: ClusterQueueOpt = None,
    cluster_account: ClusterAccountOpt = None,
    cluster_cores: ClusterCoresOpt = None,
    cluster_memory: ClusterMemoryOpt = None,
    cluster_walltime: ClusterWalltimeOpt = None,
    cluster_jobs: ClusterJobsOpt = None,
    retries: RetriesOpt = 2,
    plot: PlotOpt = True,
    overwrite: OverwriteFlag = False,
) -> None:
    """Run a parameter sweep: runs.parquet, outcomes.parquet, points.parquet, manifest.json (+ figures).

    Rerunning the same command into the same directory computes only the runs that are missing.
    """
    from ..cohort.sweep import load_sweep, run_sweep
    from ..limits import check_run_budget
    from ..scenario import with_overrides

    only_one(workers=workers, scheduler=scheduler, cluster=cluster)
    spec = cluster_settings(
        cluster, cluster_queue, cluster_account, cluster_cores, cluster_memory, cluster_walltime, cluster_jobs
    )
    sw = load_sweep(sweep_file)
    for point in sw.points:  # the point with the finest grid or step sets the budget
        check_run_budget(with_overrides(sw.base, point, str(sweep_file)), what="a run of this sweep")
    out = claim_out(out if out is not None else default_out(sw.spec.name), "sweep", overwrite)
    n_runs = len(sw.points) * sw.runs_per_point
    console.print(
        f"{sw.spec.name}: {len(sw.points)} points × {sw.runs_per_point} "
        f"{'patients' if sw.spec.cohort else 'replicates'} = {n_runs} runs "
        f"({sw.spec.design.method}: {', '.join(sw.parameter_names)})"
    )
    with dask_client(None, spec) as client, _Bar(f"{sw.spec.name}: runs", n_runs) as bar:
        result = run_sweep(sw, out, workers=workers, scheduler=scheduler, client=client, retries=retries, progress=bar)
    m = result.manifest
    console.print(
        styled(
            "done",
            "green",
            f" in {result.wall_time_s:.1f} s: {result.n_ok}/{n_runs} runs ok "
            f"({m['n_computed']} computed, {m['n_reused']} reused; {m['backend']}, {m['workers']} workers)",
        )
    )
    console.print(f"wrote {out}/: runs.parquet, outcomes.parquet, points.parquet, manifest.json")
    if plot and result.n_ok:
        _plot(out)
    if result.n_failed:
        err_console.print(
            styled(
                f"{result.n_failed} run(s) failed",
                "red",
                " (status/error columns of outcomes.parquet); rerun the same command to retry them",
            )
        )
        raise typer.Exit(1)
