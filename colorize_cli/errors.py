"""Exceptions that the CLI turns into one-line messages and exit codes (never tracebacks)."""

from __future__ import annotations


class ColorizeError(Exception):
    """Base class: a problem the user can understand and act on."""

    exit_code = 1


class UsageError(ColorizeError):
    """Bad options or a run that must not start (exit 2)."""

    exit_code = 2


class ModelError(UsageError):
    """The model file is missing, foreign, corrupt, too new, or unsafe to load (exit 2)."""


class BackendUnavailable(UsageError):
    """The requested backend's package is not installed (exit 2)."""

    def __init__(self, backend: str, package: str, extra: str | None) -> None:
        hint = f'pip install "colorize-cli[{extra}]"' if extra else f"pip install {package}"
        super().__init__(f"the {backend} backend needs the '{package}' package: {hint}")
        self.backend = backend


class InputError(ColorizeError):
    """One input file cannot be colorized (unreadable, corrupt, unsupported, too large)."""
