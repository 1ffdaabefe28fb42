"""``discsim view | animate``."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..scenario import load_scenario
from ._common import console, fail, input_errors_exit_2, note
from .run_cmds import ScenarioArg, resolve_days


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@input_errors_exit_2
def view(
    scenario: ScenarioArg,
    host: Annotated[
        str, typer.Option(help="Address to listen on; another than 127.0.0.1 opens the page to others.")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).", min=0, max=65535)] = 5006,
    seed: Annotated[int | None, typer.Option(help="Random seed (overrides simulation.seed).", min=0)] = None,
    days: Annotated[
        float | None, typer.Option(help="Simulated days before the run ends (overrides simulation.days).")
    ] = None,
) -> None:
    """Watch one patient live in the browser: section, macrophages, a cytokine field, pain and volume traces.

    Starts a local web server (Ctrl-C stops it). Play, pause and step; choose the speed, the field, the seed and
    the main patient parameters. The same seed and settings give the same run as `discsim run`.
    """
    try:
        from ..view.app import serve
    except ImportError as exc:  # bokeh is the optional [view] extra
        fail(f"discsim view needs the optional 'view' extra ({exc.name or exc}): pip install -e '.[view]'")
    scen = resolve_days(load_scenario(scenario), days)
    if not _is_loopback(host):
        note(f"listening on {host}: anyone who can reach this address can see and drive the simulation")

    def ready(url: str) -> None:
        console.print(f"discsim view of {scen.name}: open {url} (Ctrl-C to stop)")
        sys.stdout.flush()

    try:
        serve(scen, host=host, port=port, seed=seed, ready=ready)
    except KeyboardInterrupt:
        console.print("stopped")
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


@input_errors_exit_2
def animate(
    run_dir: Annotated[Path, typer.Argument(help="Output directory of `discsim run` (with fields.zarr).")],
    field: Annotated[str, typer.Option(help="Cytokine field to show: tnf, il1b, il6, il8, il10, tgfb, chemo, mmp.")] = (
        "tnf"
    ),
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="File to write (.gif, or .mp4 if ffmpeg is available) [default: RUN_DIR/animation_<field>.gif].",
        ),
    ] = None,
    fps: Annotated[int, typer.Option(help="Frames (snapshots) per second.", min=1, max=60)] = 4,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
) -> None:
    """Animate a run's field snapshots: section, macrophages and one cytokine field, one frame per snapshot."""
    from ..view.animate import AnimationError, write_animation

    try:
        path = write_animation(run_dir, field=field, out=out, fps=fps, overwrite=overwrite)
    except AnimationError as exc:
        fail(str(exc))
    console.print(f"wrote {path}")
