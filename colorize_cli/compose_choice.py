"""Which 8-bit compose a run uses: the numpy path, or the compiled one when it pays back.

The compiled compose (:mod:`colorize_cli.lab_kernel`, numba) joins L* and a*b* several times
faster than the numpy path, with the same pixels, but loading it has a fixed cost: numba's import
and its on-disk cache (well under a second when the cache is warm; seconds of compiling on the
first run after an install). So a run chooses once, before it starts, from how many pixels it
will compose, and the kernel loads in a background thread while the first photos decode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType

from PIL import Image

# Pixels a run must compose for the compiled compose to pay back its start on a CPU
# (benchmarks/RESULTS.md: "when the compiled compose starts").
DEFAULT_MIN_PIXELS = 24_000_000
# How long compose() waits for a load in progress before it takes the numpy path meanwhile: long
# enough for a warm cache, short enough that a first run's compile does not hold photos back.
DEFAULT_WAIT_S = 1.0
# How many photos' headers are read to guess the pixels of a whole run.
_SAMPLED_HEADERS = 3


def jit_disabled() -> bool:
    """True when the environment asks for the numpy path (``COLORIZE_CLI_NO_JIT=1``)."""
    return os.environ.get("COLORIZE_CLI_NO_JIT", "") not in ("", "0")


ALL_PLANES = ("codes_readonly", "lstar", "codes")  # colorize_cli.lab_kernel.PLANES, without importing numba


def _load_lab_kernel(planes: tuple[str, ...] = ALL_PLANES) -> ModuleType:
    from colorize_cli import lab_kernel

    lab_kernel.warm_up(planes)  # a first call loads (or compiles) the machine code
    return lab_kernel


class CompiledKernel:
    """Loads the compiled compose once, in a background thread.

    :meth:`get` returns the kernel module once it is loaded. While the load is in progress it
    waits, but only until ``wait_s`` after :meth:`start`; it returns None when the load failed (no
    numba, a broken one), never started, or is still running past that deadline.
    """

    def __init__(
        self, wait_s: float = DEFAULT_WAIT_S, loader: Callable[[tuple[str, ...]], ModuleType] = _load_lab_kernel
    ) -> None:
        self.wait_s = wait_s
        self._loader = loader
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._deadline = 0.0
        self._kernel: ModuleType | None = None

    def start(self, planes: tuple[str, ...] = ALL_PLANES) -> bool:
        """Start loading (once), for these kinds of lightness plane first (see
        :func:`colorize_cli.lab_kernel.warm_up`). False when no thread could be started."""
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._load, args=(planes,), name="colorize-jit-warmup", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # no thread to be had (a process limit)
                    return False
                self._deadline = time.perf_counter() + self.wait_s
                self._thread = thread
        return True

    def _load(self, planes: tuple[str, ...]) -> None:
        # No warnings.catch_warnings() here: it edits the process-wide filter list and is not
        # thread-safe. The CLI filters numba's warnings once, on its main thread.
        try:
            self._kernel = self._loader(planes)
        except Exception:  # noqa: BLE001 - a missing or broken numba must never stop colorizing
            self._kernel = None

    def wait(self, timeout: float | None = None) -> ModuleType | None:
        """Block until the load has finished, or ``timeout`` seconds; the kernel or None."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._kernel

    def get(self) -> ModuleType | None:
        thread = self._thread
        if self._kernel is None and thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, self._deadline - time.perf_counter()))
        return self._kernel


# One per process: machine code loads once, however many runs the process makes.
PROCESS_KERNEL = CompiledKernel()


@dataclass(frozen=True)
class ComposeChoice:
    """The compose a run uses, decided once: ``compiled`` or not, and why (for ``--verbose``)."""

    compiled: bool
    reason: str = ""
    source: CompiledKernel = field(default=PROCESS_KERNEL, compare=False, repr=False)
    planes: tuple[str, ...] = ALL_PLANES  # the kinds of lightness plane to load the kernel for first

    @classmethod
    def numpy(cls, reason: str = "") -> ComposeChoice:
        return cls(False, reason)

    @classmethod
    def for_pixels(
        cls, pixels: float, *, min_pixels: int = DEFAULT_MIN_PIXELS, source: CompiledKernel = PROCESS_KERNEL
    ) -> ComposeChoice:
        """Compiled when the run will compose at least ``min_pixels`` (and the JIT is allowed)."""
        if jit_disabled():
            return cls(False, "COLORIZE_CLI_NO_JIT is set", source)
        if pixels < min_pixels:
            return cls(False, f"{pixels / 1e6:.1f} MP to compose: the compiled compose would not pay back", source)
        return cls(True, f"{pixels / 1e6:.1f} MP to compose", source)

    @classmethod
    def for_sources(
        cls, sources: Sequence[os.PathLike | str], *, min_pixels: int = DEFAULT_MIN_PIXELS,
        source: CompiledKernel = PROCESS_KERNEL,
    ) -> ComposeChoice:
        """Decide for the photos ``sources`` (the run's inputs still to do), from the header sizes
        of a few of them (first, middle, last) times their count."""
        if not sources:
            return cls(False, "nothing to compose", source)
        picks = {0, len(sources) // 2, len(sources) - 1}
        sample = [sources[i] for i in sorted(picks)[:_SAMPLED_HEADERS]]
        return cls.for_sample(sample, len(sources), min_pixels=min_pixels, source=source)

    @classmethod
    def for_sample(
        cls, sample: Sequence[os.PathLike | str], count: float, *, min_pixels: int = DEFAULT_MIN_PIXELS,
        source: CompiledKernel = PROCESS_KERNEL,
    ) -> ComposeChoice:
        """Decide for ``count`` photos like the few in ``sample`` (their headers are read)."""
        if count <= 0:
            return cls(False, "nothing to compose", source)
        headers = [h for h in (_header(path) for path in sample) if h[0]]
        if not headers:
            return cls(False, "no readable photo headers", source)
        pixels = sum(n for n, _ in headers) / len(headers) * count
        choice = cls.for_pixels(pixels, min_pixels=min_pixels, source=source)
        planes = tuple(p for p in dict.fromkeys(_PLANE_FOR_MODE.get(mode, "lstar") for _, mode in headers) if p)
        if not planes:  # the compiled compose writes 8 bits; 16-bit photos take the numpy path anyway
            return cls(False, "16-bit photos: composed without the compiled kernel", source)
        return dataclasses.replace(choice, planes=planes)

    def start(self) -> None:
        """Start loading the compiled kernel (in the background) if this run uses it."""
        if self.compiled:
            self.source.start(self.planes)

    def kernel(self) -> ModuleType | None:
        """The compiled kernel for :func:`colorize_cli.pipeline.compose`, or None (numpy path)."""
        return self.source.get() if self.compiled else None


# The lightness plane decode_image makes for each Pillow mode (16-bit ones compose without the kernel).
_PLANE_FOR_MODE = {"L": "codes_readonly", "LA": "codes", "1": "codes", "I;16": "", "I;16B": "", "I;16L": "",
                   "I": "", "F": ""}


def _header(path: os.PathLike | str) -> tuple[int, str]:
    """The pixel count and mode in ``path``'s header; ``(0, "")`` when it cannot be read (the photo
    fails later)."""
    from colorize_cli.imagefile import require_regular_file

    with contextlib.suppress(Exception):
        require_regular_file(path)  # a FIFO would block the read
        with Image.open(path) as im:
            return im.size[0] * im.size[1], im.mode
    return 0, ""
