"""Atomic file writes and the cleanup of temporary files that a killed run left behind.

Every output goes to a temporary file in its destination folder (same filesystem, so the final
``os.replace`` is atomic) and is renamed into place only when complete: a reader never sees a
half-written image or checkpoint. Temporary names are recognizable (``.colorize-tmp-<pid>-...``)
so a later run can remove the ones whose writer is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".colorize-tmp-"
_HOST = socket.gethostname().replace("-", "_")[:32] or "host"
_live_temps: set[Path] = set()
_live_lock = threading.Lock()


def temp_path_for(path: Path) -> Path:
    """A unique temporary sibling of ``path``, named ``.colorize-tmp-<host>-<pid>-<token>-<name>``."""
    token = secrets.token_hex(4)
    return path.with_name(f"{TMP_PREFIX}{_HOST}-{os.getpid()}-{token}-{path.name}")


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on any error it is removed."""
    path = Path(path)
    tmp = temp_path_for(path)
    with _live_lock:
        _live_temps.add(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        with _live_lock:
            _live_temps.discard(tmp)


def remove_live_temps() -> None:
    """Remove the temporary files this process is writing right now (on Ctrl-C/SIGTERM)."""
    with _live_lock:
        temps = list(_live_temps)
    for tmp in temps:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_writer(path: Path) -> tuple[str, int] | None:
    """The (host, pid) in a temporary file's name; None for any other name."""
    name = path.name
    if not name.startswith(TMP_PREFIX):
        return None
    parts = name[len(TMP_PREFIX) :].split("-", 3)
    if len(parts) < 4 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def this_writer() -> tuple[str, int]:
    """The (host, pid) that this process's temporary names carry."""
    return _HOST, os.getpid()


def is_orphan_temp(path: Path) -> bool:
    """Whether ``path`` is a temporary file whose writer (on this host) no longer runs."""
    writer = temp_writer(path)
    if writer is None:
        return False
    host, pid = writer
    if host != _HOST:
        return False  # another machine's writer (shared folder): not ours to judge
    return pid != os.getpid() and not _pid_alive(pid)


def is_temp_of_live_writer(path: Path) -> bool:
    """Whether ``path`` is a temporary file of another process on this host that still runs."""
    writer = temp_writer(path)
    return writer is not None and writer[0] == _HOST and writer[1] != os.getpid() and _pid_alive(writer[1])


def clean_orphan_temps(root: Path) -> list[Path]:
    """Delete orphaned temporary files under ``root`` (recursively); return what was removed."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.startswith(TMP_PREFIX):
                p = Path(dirpath) / name
                if is_orphan_temp(p):
                    with contextlib.suppress(OSError):
                        p.unlink()
                        removed.append(p)
    return removed


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
