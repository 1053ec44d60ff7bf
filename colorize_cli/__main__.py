"""``python -m colorize_cli`` is the ``colorize-cli`` command."""

from colorize_cli.cli import entry

entry()
