"""The Click subcommands (imported on demand by :mod:`colorize_cli.cli`)."""

from __future__ import annotations


class RunComplete(SystemExit):
    """The colorize command's exit once its work is complete and durable (outputs renamed into
    place, files closed): the console script may then end the process without the interpreter's
    teardown (:func:`colorize_cli.cli.exit_process`)."""
