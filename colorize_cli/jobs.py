"""Turning INPUTS into an ordered list of (input file, output path) jobs.

Folders are walked in sorted order (recursively unless told not to), never following symlinked
folders (so a symlink loop cannot trap the walk) and never entering the output folder (so a rerun
does not colorize its own outputs). The output mirrors each file's path relative to the folder
given. Problems that would lose data -- two inputs with the same output, an output replacing an
input -- are refused before any work starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from colorize_cli.errors import UsageError
from colorize_cli.fsutil import TMP_PREFIX
from colorize_cli.imagefile import FORMAT_SUFFIX, is_image_path, pil_format_for_suffix


@dataclass(frozen=True)
class Job:
    """One photo to colorize: where it is, where its result goes, and how to name it in logs."""

    source: Path
    output: Path
    display: str


def _real(path: Path) -> str:
    return os.path.realpath(path)


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def walk_folder(folder: str | os.PathLike, *, recursive: bool = True, exclude: Iterable[str] = ()) -> Iterator[Path]:
    """Image files under ``folder`` in sorted order: the one folder walk of colorizing, evaluating
    and training.

    Symlinked files are included, symlinked folders are not entered (a link loop cannot trap the
    walk). Hidden entries (names starting with ``.``) are skipped: ``.thumbnails`` folders, macOS
    ``._photo.jpg`` resource forks and this tool's own ``.colorize-tmp-*`` files are not photos.
    ``exclude`` holds real paths of folders not to enter (the output folder).
    """
    excluded = [e for e in exclude]
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and not any(_is_within(_real(Path(dirpath, d)), e) for e in excluded)
        )
        if not recursive:
            dirnames.clear()
        for name in sorted(filenames):
            if name.startswith((".", TMP_PREFIX)) or not is_image_path(name):
                continue
            yield Path(dirpath, name)


def read_file_list(stream, *, null: bool) -> list[Path]:
    """Paths from a ``--files-from`` stream (text), one per line or NUL-separated (``find -print0``)."""
    data = stream.read()
    items = data.split("\0") if null else data.splitlines()
    return [Path(item) for item in items if item.strip("\n") != ""]


def output_path_for(rel: Path, out_dir: Path, fmt: str | None) -> Path:
    """The output for a file at relative path ``rel``: same path under ``out_dir``, suffix per ``fmt``."""
    out = out_dir / rel
    if fmt and pil_format_for_suffix(out.suffix) != pil_format_for_suffix(FORMAT_SUFFIX[fmt]):
        out = out.with_suffix(FORMAT_SUFFIX[fmt])  # .jpeg stays .jpeg under --format jpg
    return out


def _listed_rel(path: Path) -> Path:
    """Relative path to mirror for a file named in ``--files-from`` (or given explicitly)."""
    if not path.is_absolute() and ".." not in path.parts:
        return Path(*[p for p in path.parts if p not in (".", "")]) if path.parts else Path(path.name)
    try:
        rel = Path(os.path.abspath(path)).relative_to(Path.cwd())
        if ".." not in rel.parts:
            return rel
    except ValueError:
        pass
    return Path(path.name)


def iter_jobs(
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    recursive: bool = True,
    fmt: str | None = None,
    listed: Iterable[str | os.PathLike] = (),
    warnings: list[str] | None = None,
) -> Iterator[Job]:
    """The jobs for ``inputs`` and ``listed``, one at a time and in plan order, before the conflict
    checks (:func:`plan_jobs` and :mod:`colorize_cli.joblist` run those).

    ``inputs`` are the command-line INPUTS (a file's output is ``OUT/<name>``; a folder's files
    mirror their path relative to it); ``listed`` are ``--files-from`` entries (mirrored by their
    relative path as listed). Warnings (an input folder without images) are appended to
    ``warnings``; an input that does not exist raises :class:`UsageError`.
    """
    out_dir = Path(out_dir)
    out_real = _real(out_dir)

    def job(src: Path, rel: Path) -> Job:
        return Job(source=src, output=output_path_for(rel, out_dir, fmt), display=str(src))

    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            if _real(p) == out_real:
                raise UsageError(f"the output folder {out_dir} is the input folder {p}: choose another -o")
            count = 0
            for f in walk_folder(p, recursive=recursive, exclude=[out_real]):
                yield job(f, f.relative_to(p))
                count += 1
            if count == 0 and warnings is not None:
                warnings.append(f"{p}: no images found (jpg, jpeg, png, tif, tiff, bmp, webp)")
        elif p.exists() or p.is_symlink():
            yield job(p, Path(p.name))  # an explicit non-image is kept: it becomes a per-file error
        else:
            raise UsageError(f"input not found: {p}")
    for raw in listed:
        p = Path(raw)
        if p.is_dir():
            for f in walk_folder(p, recursive=recursive, exclude=[out_real]):
                yield job(f, _listed_rel(p) / f.relative_to(p))
        else:
            yield job(p, _listed_rel(p))


def plan_jobs(
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    recursive: bool = True,
    fmt: str | None = None,
    listed: Iterable[str | os.PathLike] = (),
) -> tuple[list[Job], list[str]]:
    """Build the job list (see :func:`iter_jobs`). Returns ``(jobs, warnings)``; raises
    :class:`UsageError` on conflicts."""
    warnings: list[str] = []
    jobs = list(iter_jobs(inputs, out_dir, recursive=recursive, fmt=fmt, listed=listed, warnings=warnings))
    _check_conflicts(jobs)
    return jobs, warnings


def output_key(path: Path) -> str:
    """The name under which two outputs are the same file (for the collision check)."""
    return os.path.normcase(os.path.abspath(path))


def collision_error(output: Path, first: Path, second: Path) -> UsageError:
    return UsageError(
        f"two inputs would write the same output {output}: {first} and {second} "
        "(use --format, or colorize them into different -o folders)"
    )


def replaces_input_error(output: Path) -> UsageError:
    return UsageError(f"refusing to overwrite an input: {output} is also an input file")


def _check_conflicts(jobs: list[Job]) -> None:
    inputs = {_real(j.source) for j in jobs}
    seen: dict[str, Job] = {}
    for job in jobs:
        key = output_key(job.output)
        other = seen.get(key)
        if other is not None and _real(other.source) != _real(job.source):
            raise collision_error(job.output, other.source, job.source)
        seen[key] = job
        if _real(job.output) in inputs:
            raise replaces_input_error(job.output)
    # The same file named twice is one job.
    if len(seen) != len(jobs):
        unique: dict[str, Job] = {}
        for job in jobs:
            unique.setdefault(output_key(job.output), job)
        jobs[:] = list(unique.values())


def needs_output(job: Job, overwrite: bool) -> bool:
    """Whether a run colorizes ``job``: its output does not exist yet (or ``overwrite``)."""
    return overwrite or not os.path.lexists(job.output)


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``1 <= K <= N``."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise UsageError(f"--shard must look like K/N (e.g. 2/8), not {text!r}") from None
    if n < 1 or not 1 <= k <= n:
        raise UsageError(f"--shard {text}: need 1 <= K <= N")
    return k, n


def shard_jobs(jobs: list[Job], k: int, n: int) -> list[Job]:
    """The K-th of N deterministic, disjoint slices of the (sorted) job list: every N-th job."""
    return jobs[k - 1 :: n]
