"""The ``discsim`` command line. Thin: it parses, calls the library, reports; it holds no science.

The commands live in four modules (one function each) and are registered here, in the order ``--help`` lists
them: nothing registers itself on import.
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

from . import calibrate_cmds, cohort_cmds, run_cmds, trial_cmds, view_cmds  # noqa: E402

#: Every command, in the order of ``discsim --help``.
COMMANDS = (
    run_cmds.run,
    run_cmds.check,
    run_cmds.plot,
    run_cmds.schema,
    cohort_cmds.cohort,
    cohort_cmds.sweep,
    trial_cmds.trial,
    calibrate_cmds.validate,
    calibrate_cmds.sensitivity,
    calibrate_cmds.calibrate,
    calibrate_cmds.posterior,
    view_cmds.view,
    view_cmds.animate,
)
for _command in COMMANDS:
    app.command()(_command)


def main() -> None:  # console-script entry point
    app()
