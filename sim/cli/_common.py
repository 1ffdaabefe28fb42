"""Shared CLI plumbing: input errors become a clear message and exit status 2; output folders are claimed first.

Everything the CLI prints goes through consoles with rich markup *off*: a value from a user's file (a scenario
name such as ``"[bold]x"``, a path holding ``[/]``) is printed as written. Styles are applied with
:func:`styled`, never by embedding markup in a string.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from ..io.outdir import OutDirError, claim_out_dir, safe_slug
from ..limits import LimitError
from ..scenario import ScenarioError

err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
console = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)

__all__ = [
    "console",
    "err_console",
    "styled",
    "note",
    "input_errors_exit_2",
    "fail",
    "claim_out",
    "default_out",
    "progress_bar",
    "OverwriteOpt",
]

OverwriteOpt = typer.Option(
    "--overwrite",
    help="Write into a non-empty --out that is not a discsim output (its files are left as they are; only "
    "this command's own files are written).",
)


def styled(label: str, style: str, rest: str = "") -> Text:
    """``label`` in ``style`` followed by plain ``rest`` (never parsed as markup)."""
    return Text.assemble((label, style), rest)


def note(message: str) -> None:
    err_console.print(styled("note:", "yellow", f" {message}"))


def fail(message: str) -> None:
    err_console.print(styled("error:", "bold red", f" {message}"))
    raise typer.Exit(2)


def input_errors_exit_2[F: Callable](fn: F) -> F:
    """Report bad input (scenario problems, missing files, refused limits, unusable output folders) as a
    message naming the problem and its place; exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ScenarioError as exc:
            if getattr(exc, "one_line", False):  # e.g. a posterior-draws file: file, column, draw, problem
                fail(str(exc))
            err_console.print(styled("error:", "bold red", f" {exc.source}: {len(exc.problems)} problem(s)"))
            for p in exc.problems:
                err_console.print(f"  - {p}")
            raise typer.Exit(2) from None
        except (OutDirError, LimitError) as exc:
            fail(str(exc))
        except FileNotFoundError as exc:
            fail(f"{exc.filename or ''}: {exc.strerror or exc}" if exc.filename else str(exc))
        except OSError as exc:  # a path the user gave cannot be read or written
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or exc}")
        except KeyboardInterrupt:
            err_console.print(styled("interrupted", "yellow"))
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def default_out(name: str, suffix: str = "") -> Path:
    """``runs/<safe slug of name><suffix>``: a scenario's name never becomes a path of its own."""
    return Path("runs") / f"{safe_slug(name)}{suffix}"


def claim_out(out: Path, kind: str, overwrite: bool = False) -> Path:
    """Claim ``out`` for a ``kind`` output before any work is done (see :func:`sim.io.outdir.claim_out_dir`)."""
    try:
        return claim_out_dir(out, kind, overwrite=overwrite)
    except OutDirError as exc:
        fail(str(exc))
    raise AssertionError  # unreachable: fail() raises


def progress_bar() -> Progress:
    """The progress bar of every long command (count, elapsed, ETA)."""
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
