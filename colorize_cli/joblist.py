"""A batch plan kept on disk: the job list of a run too large to hold in memory.

A run over millions of files (the Ray executor's) must not keep one Python object per file on its
driver. So the plan is streamed into a file, one JSON line per job, and checked with what fits in
a few arrays: an 8-byte hash per job of its output, its real source and its real output. Hash
matches are rare (a real collision, a file named twice) and are confirmed on the paths themselves
before anything is refused. The plan is the one :func:`colorize_cli.jobs.plan_jobs` makes: the same
walk, order, duplicates dropped, the same refusals and messages, and ``--shard`` applied after.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colorize_cli.jobs import Job, collision_error, iter_jobs, output_key, replaces_input_error


def encode_job(job: Job, cwd: str | None = None) -> str:
    """One line of a job list: the paths as planned, and the folder they are relative to (a
    cluster's workers run in other folders; the report keeps the paths as the user gave them).

    ``ensure_ascii`` keeps undecodable file-name bytes (surrogate escapes) as JSON escapes."""
    return json.dumps([os.fspath(job.source), os.fspath(job.output), job.display, cwd or os.getcwd()],
                      ensure_ascii=True)


def decode_job(line: str, *, absolute: bool = False) -> Job:
    """The job of a line; with ``absolute``, its paths joined to the planning folder."""
    source, output, display, cwd = json.loads(line)
    if absolute:
        source, output = os.path.join(cwd, source), os.path.join(cwd, output)
    return Job(Path(source), Path(output), display)


def read_lines(path: str | os.PathLike) -> Iterator[str]:
    """The lines of a job-list file, in order (each ends with a newline)."""
    with open(path, encoding="ascii") as fh:
        yield from (line for line in fh if line.strip())


def read_job_list(path: str | os.PathLike) -> Iterator[Job]:
    """The jobs of a job-list file, in order (paths as planned)."""
    return map(decode_job, read_lines(path))


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(os.fsencode(text), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class JobListPlan:
    """A plan written to ``path``: ``count`` jobs, in order."""

    path: Path
    count: int
    warnings: list[str]
    out_dir: Path


class _RawList:
    """Pass one: every job as planned, with its line offset and its three hashes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offsets, self.out_keys, self.sources, self.outputs = (array("Q") for _ in range(4))

    def write(self, jobs: Iterable[Job]) -> None:
        with open(self.path, "w", encoding="ascii") as fh:
            offset = 0
            for job in jobs:
                line = encode_job(job) + "\n"
                self.offsets.append(offset)
                offset += fh.write(line)
                self.out_keys.append(_hash(output_key(job.output)))
                self.sources.append(_hash(os.path.realpath(job.source)))
                self.outputs.append(_hash(os.path.realpath(job.output)))

    def job(self, index: int) -> Job:
        with open(self.path, encoding="ascii") as fh:
            fh.seek(self.offsets[index])
            return decode_job(fh.readline())

    def duplicates(self) -> set[int]:
        """Indices of jobs naming a file already planned (dropped); raises on a real collision."""
        keys = np.frombuffer(self.out_keys, dtype=np.uint64)
        order = np.argsort(keys, kind="stable")
        same = np.flatnonzero(keys[order][1:] == keys[order][:-1])
        drop: set[int] = set()
        for pos in same:  # a pair of jobs with the same output hash: confirm on the paths
            first, second = sorted((int(order[pos]), int(order[pos + 1])))
            a, b = self.job(first), self.job(second)
            if output_key(a.output) != output_key(b.output):
                continue  # a hash collision, not the same output
            if os.path.realpath(a.source) != os.path.realpath(b.source):
                raise collision_error(b.output, a.source, b.source)
            drop.add(second)
        return drop

    def check_no_input_replaced(self) -> None:
        sources = np.frombuffer(self.sources, dtype=np.uint64)
        outputs = np.frombuffer(self.outputs, dtype=np.uint64)
        for index in np.flatnonzero(np.isin(outputs, sources)):
            job = self.job(int(index))
            real_out = os.path.realpath(job.output)
            if any(os.path.realpath(self.job(int(i)).source) == real_out for i in np.flatnonzero(sources == outputs[index])):
                raise replaces_input_error(job.output)


def plan_to_file(
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    path: str | os.PathLike,
    *,
    recursive: bool = True,
    fmt: str | None = None,
    listed: Iterable[str | os.PathLike] = (),
    shard: tuple[int, int] | None = None,
) -> JobListPlan:
    """Plan the jobs into the job-list file ``path`` (see the module docstring).

    Raises :class:`colorize_cli.errors.UsageError` as :func:`colorize_cli.jobs.plan_jobs` does,
    leaving no file behind."""
    path = Path(path)
    raw = _RawList(path.with_name(path.name + ".all"))
    warnings: list[str] = []
    try:
        raw.write(iter_jobs(inputs, out_dir, recursive=recursive, fmt=fmt, listed=listed, warnings=warnings))
        drop = raw.duplicates()
        raw.check_no_input_replaced()
        count = _write_kept(raw.path, path, drop, shard)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    finally:
        with contextlib.suppress(OSError):
            raw.path.unlink()
    return JobListPlan(path, count, warnings, Path(out_dir))


def _write_kept(raw: Path, path: Path, drop: set[int], shard: tuple[int, int] | None) -> int:
    """Pass two: the plan without dropped duplicates, and only the shard's slice (every N-th job)."""
    k, n = shard or (1, 1)
    count = kept = 0
    with open(raw, encoding="ascii") as src, open(path, "w", encoding="ascii") as dst:
        for index, line in enumerate(src):
            if index in drop:
                continue
            if kept % n == k - 1:
                dst.write(line)
                count += 1
            kept += 1
    return count
