"""``discsim trial``: a virtual randomized trial (screening, matched arms, effects, figures), resumable."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Annotated

import typer

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
from ._common import claim_out, console, default_out, err_console, input_errors_exit_2, note, styled
from .cohort_cmds import OverwriteFlag, PlotOpt, RetriesOpt, SchedulerOpt, WorkersOpt, _Bar, _note_changed_posterior


class _Screening(_Bar):
    """Screening runs come in batches (until enough patients are eligible): count them across batches."""

    def __init__(self, description: str, total: int):
        super().__init__(description, total)
        self.done = 0

    def __call__(self, outcome, n_finished: int, n_total: int) -> None:
        self.done += 1
        super().__call__(outcome, self.done, n_total)


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, deepest first."""
    out = []
    p = path.absolute()
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def _fmt(x: float, digits: int = 1) -> str:
    return "—" if not math.isfinite(x) else (f"{x:.{digits}f}" if abs(x) < 1e5 else "∞")


@input_errors_exit_2
def trial(
    trial_file: Annotated[Path, typer.Argument(help="Trial TOML file (docs/trials.md).", show_default=False)],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output directory [default: runs/<trial name>-trial].")
    ] = None,
    patients: Annotated[
        int | None,
        typer.Option("--patients", "-n", help="Patients screened at most [default: population.patients].", min=1),
    ] = None,
    enrol: Annotated[
        int | None, typer.Option("--enrol", help="Enrol the first N eligible [default: population.enrol].", min=1)
    ] = None,
    posterior: Annotated[
        Path | None,
        typer.Option(
            "--posterior",
            help="Parquet file of posterior draws (as for discsim cohort): each patient is screened and simulated "
            "in every arm under one draw, chosen from its own seed; the intervals then include parameter "
            "uncertainty (docs/trials.md).",
            show_default=False,
        ),
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
    """Run a virtual randomized trial: screening.parquet, arms.parquet, outcomes.parquet, effects.parquet,
    manifest.json (+ figures).

    Every arm gets the same virtual patients (same draws and seeds). Rerunning the same command into the same
    directory computes only the runs that are missing.
    """
    from ..cohort.trial import enrolment, run_trial, screen
    from ..cohort.trial_spec import load_trial
    from ..io.outdir import MARKER, owner_kind
    from ..limits import check_run_budget
    from ..scenario import ScenarioError, with_overrides

    only_one(workers=workers, scheduler=scheduler, cluster=cluster)
    spec = cluster_settings(
        cluster, cluster_queue, cluster_account, cluster_cores, cluster_memory, cluster_walltime, cluster_jobs
    )
    tr = load_trial(trial_file)
    if patients is not None or enrol is not None:
        tr = _with_population(tr, patients, enrol)
    if posterior is not None:
        from ..cohort.posterior import load_posterior
        from .run_cmds import _check_cohort_draws

        # PosteriorError (exit 2, one line) before anything is written
        tr = tr.with_posterior(load_posterior(posterior))
        if tr.posterior.ignored:
            note(
                f"{posterior}: ignoring {', '.join(tr.posterior.ignored)}: the trial's arms replace the "
                "population's usual-care surgery"
            )
        _check_cohort_draws(tr.population, str(tr.population_path), tr.posterior, tr.root_seed)
    longest = tr.window[1] + tr.spec.follow_up_days
    check_run_budget(
        with_overrides(tr.population, {"simulation.days": float(longest), "cohort": None}, str(trial_file)),
        what="each patient's run",
    )
    out = out if out is not None else default_out(tr.spec.name, "-trial")
    reuse = out if out.is_dir() and owner_kind(out) == "trial" else None
    pop = tr.spec.population
    assert pop is not None
    arms = ", ".join(tr.arm_names)
    console.print(
        f"{tr.spec.name}: arms {arms} (reference {tr.reference}); entry days {tr.window[0]}-{tr.window[1]} after "
        f"onset, follow-up {tr.spec.follow_up_days} days; screening up to {pop.patients} patients"
        + (f" to enrol {pop.enrol}" if pop.enrol else "")
    )
    # claim the folder first (a bad --out is refused before any simulation), and give it back untouched if
    # nobody turns out to be eligible
    created = _missing_ancestors(out)
    had_marker = (out / MARKER).exists()
    out = claim_out(out, "trial", overwrite)
    if tr.posterior is not None:
        note(
            f"{posterior}: {tr.posterior.n_draws} posterior draws of {len(tr.posterior.columns)} value(s); each "
            f"patient uses one (chosen from root seed {tr.root_seed} and its number) in screening and every arm"
        )
    _note_changed_posterior(out, tr.posterior, kind="trial")
    with dask_client(scheduler, spec) as client:  # one client (or none) for the screening and the arms
        try:
            with _Screening("screening (untreated course to entry)", pop.patients) as bar:
                screening = screen(tr, out=reuse, workers=workers, client=client, retries=retries, progress=bar)
                bar.bar.update(bar.task, completed=pop.patients)
            enrolled = enrolment(tr, screening)  # nobody eligible: exit 2, nothing written
        except ScenarioError:
            if not had_marker:
                (out / MARKER).unlink(missing_ok=True)
            for d in created:  # deepest first; only the empty folders this command made
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise
        console.print(
            f"screened {len(screening)}, eligible {int(screening['eligible'].sum())}, enrolled {len(enrolled)}"
            + (f" (fewer than enrol = {pop.enrol})" if pop.enrol and len(enrolled) < pop.enrol else "")
        )
        with _Bar(f"{tr.spec.name}: patients × arms", len(enrolled) * len(tr.arm_names)) as bar:
            result = run_trial(tr, out, screening, workers=workers, client=client, retries=retries, progress=bar)
    m = result.manifest
    console.print(
        styled(
            "done",
            "green",
            f" in {result.wall_time_s:.1f} s: {result.n_runs - result.n_failed}/{result.n_runs} runs ok "
            f"({m['n_computed']} computed, {m['n_reused']} reused; {m['backend']}, {m['workers']} workers)",
        )
    )
    _summary(out)
    console.print(f"wrote {out}/: screening.parquet, arms.parquet, outcomes.parquet, effects.parquet, manifest.json")
    if plot and result.n_runs > result.n_failed:
        from ..plots import plot_output_dir

        for path in plot_output_dir(out):
            console.print(f"wrote {path}")
    if result.n_failed:
        err_console.print(
            styled(
                f"{result.n_failed} run(s) failed",
                "red",
                " (status/error columns of outcomes.parquet); rerun the same command to retry them",
            )
        )
        raise typer.Exit(1)


def _with_population(tr, patients: int | None, enrol: int | None):
    """The trial with --patients / --enrol in place of the file's values (validated like the file)."""
    from dataclasses import replace

    from pydantic import ValidationError

    from ..cohort.trial_spec import Population
    from ..scenario import Problem, ScenarioError

    data = tr.spec.population.model_dump()
    if patients is not None:
        data["patients"] = patients
        if enrol is None and data["enrol"] is not None and data["enrol"] > patients:
            data["enrol"] = patients
    if enrol is not None:
        data["enrol"] = enrol
    try:
        pop = Population.model_validate(data)
    except ValidationError as err:
        msg = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        raise ScenarioError("command line", [Problem("--patients/--enrol", msg)]) from None
    return replace(tr, spec=tr.spec.model_copy(update={"population": pop}))


def _summary(out: Path) -> None:
    import json

    import pandas as pd

    eff = pd.read_parquet(out / "effects.parquet")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    ref = manifest["reference"]
    overall = eff[eff["subgroup"] == "all"]
    for arm in manifest["arms"]:
        if arm == ref:
            continue
        rows = overall[overall["arm"] == arm].set_index(["measure", "label"])
        med = rows.loc[("median_recovery_days", "")]
        hr = rows.loc[("hazard_ratio_recovery", "")]
        console.print(
            f"{arm} vs {ref} ({int(med['n'])} patients): median time to recovery {_fmt(med['arm_value'] / 7)} vs "
            f"{_fmt(med['ref_value'] / 7)} weeks; hazard ratio of recovery {_fmt(hr['effect'], 2)} "
            f"({_fmt(hr['effect_ci_low'], 2)}-{_fmt(hr['effect_ci_high'], 2)})"
        )
        for name in ("short", "medium", "long"):
            w = rows.loc[("vas_window", name)]
            console.print(
                f"  leg VAS {name}: {_fmt(w['arm_value'])} vs {_fmt(w['ref_value'])}, difference {_fmt(w['effect'])} "
                f"({_fmt(w['effect_ci_low'])} to {_fmt(w['effect_ci_high'])})"
            )
    if manifest.get("intervals"):
        console.print(f"95 % intervals: {manifest['intervals']}")
    surg = manifest["surgery_fraction"]
    console.print("surgery during follow-up: " + ", ".join(f"{a} {100 * v:.0f} %" for a, v in surg.items()))
    for p in manifest.get("published_vs_simulated", []):
        s = p["simulated"]
        where = f" day {p['visit_day']}" if p.get("visit_day") is not None else ""
        console.print(
            f"  published {p['measure']} ({p['arm']}{where}): {p['value']:g} — simulated {_fmt(s['value'], 2)} "
            f"({_fmt(s['ci_low'], 2)} to {_fmt(s['ci_high'], 2)})"
        )
