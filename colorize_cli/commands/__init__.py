"""The Click subcommands (imported on demand by :mod:`colorize_cli.cli`)."""

from __future__ import annotations

_state = {"finished": False}


def mark_finished() -> None:
    """Say that the command's work is complete and durable (outputs renamed into place, files
    closed): the console script may then end the process without the interpreter's teardown."""
    _state["finished"] = True


def finished_cleanly() -> bool:
    return _state["finished"]
