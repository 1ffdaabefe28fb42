"""``discsim run | check | plot | schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..scenario import Scenario, ScenarioError, load_scenario
from ..scenario.dump import to_toml
from ._common import OverwriteOpt, claim_out, console, default_out, fail, input_errors_exit_2, progress_bar, styled

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario TOML file.", show_default=False)]

#: How many patients ``discsim check`` draws from a [cohort] section to catch what only a draw reveals.
CHECK_DRAWS = 32


def resolve_days(scen: Scenario, days: float | None, source: str = "--days") -> Scenario:
    """``scen`` with ``simulation.days`` replaced by ``days``, validated by the schema (bounds, whole days)."""
    if days is None:
        return scen
    from pydantic import ValidationError

    from ..scenario import Problem
    from ..scenario.loader import _problems
    from ..scenario.schema import Simulation

    try:
        sim = Simulation.model_validate(scen.simulation.model_dump() | {"days": days})
    except ValidationError as err:
        problems = [Problem(source, p.message) for p in _problems(err, {})]
        raise ScenarioError("command line", problems) from None
    return scen.model_copy(update={"simulation": sim})


@input_errors_exit_2
def run(
    scenario: ScenarioArg,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output directory [default: runs/<scenario name>].")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (overrides simulation.seed).", min=0)] = None,
    days: Annotated[
        float | None, typer.Option(help="Simulated days, a whole number 1-3650 (overrides simulation.days).")
    ] = None,
    snapshots: Annotated[bool, typer.Option(help="Write field snapshots (fields.zarr).")] = True,
    overwrite: Annotated[bool, OverwriteOpt] = False,
) -> None:
    """Simulate one patient: timeseries.parquet, manifest.json, fields.zarr and summary.png."""
    from ..io.rundir import write_run
    from ..limits import check_run_budget
    from ..plots import plot_output_dir
    from ..run import run_one

    scen = resolve_days(load_scenario(scenario), days)
    no_shots = scen.model_copy(update={"simulation": scen.simulation.model_copy(update={"snapshot_every_days": 0.0})})
    check_run_budget(scen if snapshots else no_shots, what="this run")
    out = claim_out(out if out is not None else default_out(scen.name), "run", overwrite)
    total = int(scen.simulation.days)
    with progress_bar() as bar:
        task = bar.add_task(f"{scen.name} (simulated days)", total=total)
        result = run_one(scen, seed, snapshots=snapshots, progress=lambda d: bar.update(task, completed=int(d)))
    write_run(result, out, overwrite=overwrite)
    plot_output_dir(out)  # summary.png, from the files just written
    last = result.timeseries.iloc[-1]
    console.print(
        styled(
            "done",
            "green",
            f" in {result.wall_time_s:.1f} s: day {last['day']:.0f}, leg VAS {last['pain_vas']:.1f}, "
            f"volume {100 * last['volume_fraction']:.0f}% of onset, "
            f"M0/M1/M2 {int(last['n_m0'])}/{int(last['n_m1'])}/{int(last['n_m2'])}",
        )
    )
    console.print(
        f"wrote {out}/: timeseries.parquet, manifest.json, {'fields.zarr, ' if result.snapshots else ''}summary.png"
    )


def _is_sweep_file(path: Path) -> bool:
    """A sweep file names a ``base`` scenario and a ``[design]``; anything else is read as a scenario."""
    from ..scenario.loader import parse_toml, read_input_text

    data = parse_toml(read_input_text(path), str(path))
    return "design" in data or "base" in data


def _is_trial_file(path: Path) -> bool:
    """A trial file has ``[[arm]]`` entries."""
    from ..scenario.loader import parse_toml, read_input_text

    return "arm" in parse_toml(read_input_text(path), str(path))


def _check_cohort_draws(scen: Scenario, source: str, posterior=None, root: int | None = None) -> None:
    """Draw the first patients of a [cohort] section, so that `check` finds what `cohort` would hit.

    With ``posterior`` (a checked :class:`sim.cohort.posterior.PosteriorDraws`) each under its own draw.
    """
    from ..cohort.draw import draw_patient
    from ..cohort.posterior import PosteriorError, draw_posterior_patient
    from ..scenario import Problem

    for k in range(CHECK_DRAWS):
        try:
            if posterior is None:
                draw_patient(scen, k, root=root)
            else:
                draw_posterior_patient(scen, posterior, k, root=root)
        except PosteriorError:
            raise
        except ScenarioError as exc:
            raise ScenarioError(
                source, [Problem(f"cohort (patient {k}): {p.path}", p.message, p.line) for p in exc.problems]
            ) from None
        except (ValueError, ArithmeticError) as exc:
            raise ScenarioError(source, [Problem("cohort", f"drawing patient {k} fails: {exc}")]) from None


@input_errors_exit_2
def check(
    file: Annotated[Path, typer.Argument(help="Scenario, sweep or trial TOML file.", show_default=False)],
) -> None:
    """Validate a scenario (or a sweep file) and print it fully resolved (every default filled in) as TOML.

    A scenario with a [cohort] section also has its first patients drawn, so that every problem `discsim cohort`
    would meet is reported here. The printed TOML loads from any folder: a parameter set is merged into it.
    """
    from ..limits import check_run_budget

    if _is_sweep_file(file):
        from ..cohort.sweep import load_sweep

        sw = load_sweep(file)
        for point in sw.points[:1]:
            from ..scenario import with_overrides

            check_run_budget(with_overrides(sw.base, point, str(file)), what="a run of this sweep")
        typer.echo(to_toml(sw.spec.model_dump(mode="json")), nl=False)
        typer.echo(
            f"# {file}: valid sweep: {len(sw.points)} points × {sw.runs_per_point} "
            f"{'patients' if sw.spec.cohort else 'replicates'} over {', '.join(sw.parameter_names)}; "
            f"base {sw.base_path}"
        )
        return
    if _is_trial_file(file):
        from ..cohort.trial_spec import load_trial

        tr = load_trial(file)
        lo, _ = tr.window
        for arm in tr.spec.arm:  # what each arm gives a patient entering on the first day of the window
            typer.echo(
                f"# arm {arm.name}: {json.dumps(tr.arm_treatments(arm, lo), ensure_ascii=False)} (entry day {lo})"
            )
        typer.echo(
            f"# {file}: valid trial: arms {', '.join(tr.arm_names)} (reference {tr.reference}); population "
            f"{tr.population_path}; eligibility is evaluated by `discsim trial` on screening runs"
        )
        return
    scen = load_scenario(file)
    check_run_budget(scen, what="a run of this scenario")
    if scen.cohort is not None:
        _check_cohort_draws(scen, str(file))
    data = scen.model_dump(mode="json")
    pset = data.pop("parameter_set", None)
    text = to_toml(data)
    if pset:  # its values are in [parameters] below, so the dump loads from any folder without it
        where = Path(pset) if Path(pset).is_absolute() else file.parent.absolute() / pset
        text = (
            f"# parameter_set {json.dumps(str(where), ensure_ascii=False)} is merged into [parameters] below\n" + text
        )
    typer.echo(text, nl=False)
    typer.echo(f"# {file}: valid (rim exposure {scen.rim_exposure():.2f})")


@input_errors_exit_2
def plot(
    directory: Annotated[Path, typer.Argument(help="An output directory of run, cohort, sweep or sensitivity.")],
    format: Annotated[str, typer.Option("--format", help="png, svg or pdf.")] = "png",
) -> None:
    """Redraw the figures of a saved output directory."""
    from ..io.outdir import owner_kind
    from ..plots import PLOTTERS, plot_output_dir

    if format not in ("png", "svg", "pdf"):
        fail(f"--format must be png, svg or pdf, got {format!r}")
    if not (directory / "manifest.json").is_file():
        fail(
            f"{directory}: no manifest.json here; expected the output directory of `discsim run`, "
            "`discsim cohort`, `discsim sweep` or `discsim sensitivity`"
        )
    kind = owner_kind(directory)
    if kind not in PLOTTERS:
        fail(
            f"{directory}: {'a discsim ' + kind + ' output' if kind else 'not a discsim output'}; "
            f"`discsim plot` draws the outputs of {', '.join(sorted(PLOTTERS))}"
        )
    try:
        paths = plot_output_dir(directory, format=format)
    except (KeyError, ValueError) as exc:  # a damaged or foreign manifest/table
        fail(f"{directory}: cannot draw this output ({exc})")
    for path in paths:
        console.print(f"wrote {path}")


@input_errors_exit_2
def schema(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of printing.")] = None,
) -> None:
    """Print (or write) the JSON schema of scenario files."""
    from ..io.store import atomic_file

    text = json.dumps(Scenario.model_json_schema(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    if out.is_dir():
        fail(f"--out {out}: is a directory; give a file name, e.g. {out / 'scenario.schema.json'}")
    if not out.parent.is_dir():
        fail(f"--out {out}: the folder {out.parent} does not exist")
    with atomic_file(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}")
