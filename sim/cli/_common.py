"""Shared CLI plumbing: input errors become a clear message and exit status 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..scenario import ScenarioError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
console = Console(highlight=False, soft_wrap=True)

__all__ = ["console", "err_console", "input_errors_exit_2", "fail", "check_out_dir", "progress_bar"]


def fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


def input_errors_exit_2[F: Callable](fn: F) -> F:
    """Report :class:`ScenarioError` (and missing inputs) as a message naming the problem; exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ScenarioError as exc:
            err_console.print(f"[bold red]error:[/] {exc.source}: {len(exc.problems)} problem(s)")
            for p in exc.problems:
                err_console.print(f"  - {p}")
            raise typer.Exit(2) from None
        except FileNotFoundError as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a directory")


def progress_bar() -> Progress:
    """The progress bar of every long command (count, elapsed, ETA)."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
    )
