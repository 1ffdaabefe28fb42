"""``discsim run | check | plot | schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..scenario import Scenario, load_scenario
from ..scenario.dump import to_toml
from . import app
from ._common import check_out_dir, console, fail, input_errors_exit_2, progress_bar

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario TOML file.", show_default=False)]


@app.command()
@input_errors_exit_2
def run(
    scenario: ScenarioArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory [default: runs/<scenario name>].")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (overrides simulation.seed).", min=0)] = None,
    days: Annotated[float | None, typer.Option(help="Simulated days (overrides simulation.days).", min=0.0)] = None,
    snapshots: Annotated[bool, typer.Option(help="Write field snapshots (fields.zarr).")] = True,
) -> None:
    """Simulate one patient: timeseries.parquet, manifest.json, fields.zarr and summary.png."""
    from ..io.rundir import write_run
    from ..run import run_one

    scen = load_scenario(scenario)
    if days is not None and days <= 0:
        fail(f"--days must be > 0, got {days}")
    out = out if out is not None else Path("runs") / scen.name
    check_out_dir(out)
    total = int(days if days is not None else scen.simulation.days)
    with progress_bar() as bar:
        task = bar.add_task(f"{scen.name} (simulated days)", total=total)
        result = run_one(scen, seed, days=days, snapshots=snapshots,
                         progress=lambda d: bar.update(task, completed=int(d)))
    write_run(result, out)
    last = result.timeseries.iloc[-1]
    console.print(
        f"[green]done[/] in {result.wall_time_s:.1f} s: day {last['day']:.0f}, leg VAS {last['pain_vas']:.1f}, "
        f"volume {100 * last['volume_fraction']:.0f}% of onset, "
        f"M0/M1/M2 {int(last['n_m0'])}/{int(last['n_m1'])}/{int(last['n_m2'])}"
    )
    console.print(f"wrote {out}/: timeseries.parquet, manifest.json, "
                  f"{'fields.zarr, ' if result.snapshots else ''}summary.png")


@app.command()
@input_errors_exit_2
def check(scenario: ScenarioArg) -> None:
    """Validate a scenario and print it fully resolved (every default filled in) as TOML."""
    scen = load_scenario(scenario)
    typer.echo(to_toml(scen.model_dump(mode="json")), nl=False)
    typer.echo(f"# {scenario}: valid (rim exposure {scen.rim_exposure():.2f})")


@app.command()
@input_errors_exit_2
def plot(
    directory: Annotated[Path, typer.Argument(help="An output directory of run, cohort or sweep.")],
    format: Annotated[str, typer.Option("--format", help="png, svg or pdf.")] = "png",
) -> None:
    """Redraw the figures of a saved output directory."""
    from ..plots import plot_output_dir

    if format not in ("png", "svg", "pdf"):
        fail(f"--format must be png, svg or pdf, got {format!r}")
    if not (directory / "manifest.json").is_file():
        fail(f"{directory}: no manifest.json here; expected the output directory of `discsim run`, "
             "`discsim cohort` or `discsim sweep`")
    for path in plot_output_dir(directory, format=format):
        console.print(f"wrote {path}")


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of printing.")] = None,
) -> None:
    """Print (or write) the JSON schema of scenario files."""
    text = json.dumps(Scenario.model_json_schema(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
