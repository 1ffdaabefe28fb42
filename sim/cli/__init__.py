"""The ``discsim`` command line. Thin: it parses, calls the library, reports; it holds no science.

Each sub-module registers its commands on :data:`app`.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="discsim",
    help="Agent-based simulator of macrophage-driven inflammation, resorption and pain in herniated discs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[cohort]" and "[default: ...]" must print as written
)

from . import run_cmds  # noqa: E402,F401  (registers run, check, plot, schema)
from . import cohort_cmds  # noqa: E402,F401  (registers cohort, sweep)
from . import calibrate_cmds  # noqa: E402,F401  (registers validate, sensitivity, calibrate)


def main() -> None:  # console-script entry point
    app()
