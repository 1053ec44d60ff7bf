"""A whole batch, as ``colorize-cli INPUTS -o OUT`` runs it: plan, open the engine, run.

The command and :func:`colorize_cli.api.colorize_paths` both go through these three steps, so
they make the same plan, open the engine the same way and leave the output folder in the same
state; the command only adds its display around them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from colorize_cli import backends
from colorize_cli.backends import Backend
from colorize_cli.errors import UsageError
from colorize_cli.fsutil import clean_orphan_temps
from colorize_cli.jobs import Job, needs_output, plan_jobs, shard_jobs
from colorize_cli.runner import FileResult, RunOptions, Summary, run_jobs


@dataclass(frozen=True)
class BatchPlan:
    """What a run will do: its jobs in order, the planner's warnings, and what follows from them."""

    jobs: list[Job]
    warnings: list[str]
    out_dir: Path
    todo: int  # photos to colorize (the others' outputs exist and are skipped)


def plan_batch(
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    recursive: bool = True,
    fmt: str | None = None,
    shard: tuple[int, int] | None = None,
    listed: Iterable[str | os.PathLike] = (),
    options: RunOptions = RunOptions(),
) -> BatchPlan:
    """Plan the jobs for ``inputs`` (``listed``: ``--files-from`` entries) into ``out_dir``.

    Raises :class:`UsageError` for a plan that would lose data (two inputs with one output, an
    output replacing an input).
    """
    jobs, warnings = plan_jobs(inputs, out_dir, recursive=recursive, fmt=fmt, listed=listed)
    if shard is not None:
        jobs = shard_jobs(jobs, *shard)
    todo = sum(1 for job in jobs if needs_output(job, options.overwrite))
    return BatchPlan(jobs, list(warnings), Path(out_dir), todo)


def open_engine(
    plan: BatchPlan,
    backend: str = "auto",
    model: str | os.PathLike | None = None,
    *,
    device: str = "auto",
    threads: int | None = None,
    precision: str = "auto",
) -> Backend:
    """:func:`colorize_cli.backends.open_backend` with the thread count that suits ``plan``."""
    if threads is None:
        threads = backends.engine_threads_for(plan.todo)
    return backends.open_backend(backend, model, device=device, threads=threads, precision=precision)


def run_batch(
    plan: BatchPlan,
    engine: Backend,
    options: RunOptions = RunOptions(),
    *,
    on_result: Callable[[FileResult], None] | None = None,
    on_start: Callable[[Job], None] | None = None,
) -> Summary:
    """Create the output folder, remove temporary files that dead runs left there, and run."""
    try:
        plan.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {plan.out_dir}: {exc.strerror or exc}") from None
    clean_orphan_temps(plan.out_dir)
    return run_jobs(plan.jobs, engine, options, on_result=on_result, on_start=on_start)


class ReportWriter:
    """A result callback writing the ``--report`` file: one JSON line per input, flushed as it comes.

    Use as a context manager; :class:`UsageError` when the file cannot be created.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # backslashreplace: a file name that is not valid UTF-8 (surrogate escapes) becomes a
            # JSON \udcXX escape instead of an encoding error that would stop the run.
            self._fh = open(path, "w", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot write the report {path}: {exc.strerror or exc}") from None

    def __call__(self, result: FileResult) -> None:
        self._fh.write(json.dumps(result.record(), ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
