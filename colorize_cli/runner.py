"""The batch engine: three stages over bounded queues, so no core idles.

    jobs --> [decode]  --> batches of equal --> [infer]  --> [compose + write] --> one result per file
             N threads     network shape        1-2 calls     N threads            (in job order)

Each stage is a thread pool and the queue of its work in flight, oldest first; the calling thread
moves work between them (:class:`BatchEngine`, one method per step). Pillow, numpy and the
inference engines release the GIL for their heavy work. Memory stays bounded: the queues have
fixed lengths, and a :class:`PixelBudget` limits how many decoded pixels are in flight (a single
photo larger than the budget still runs, alone). Every file ends with one result: ok, skipped or
failed, with a one-line reason; the batch goes on after a failure. Outputs are written atomically.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from colorize_cli import lab, metadata
from colorize_cli._version import __version__
from colorize_cli.backends import Backend, cpu_threads
from colorize_cli.errors import ColorizeError, InputError
from colorize_cli.fsutil import file_sha256, remove_live_temps
from colorize_cli.imagefile import (
    DEFAULT_MAX_PIXELS,
    copy_original,
    decode_image,
    pil_format_for,
    require_regular_file,
    write_image,
)
from colorize_cli.jobs import Job, needs_output
from colorize_cli.metadata import read_source_metadata
from colorize_cli.pipeline import as_l_star, compose, network_input, resize_plane
from colorize_cli.provenance import Provenance
from colorize_cli.triage import output_flags


@dataclass(frozen=True)
class RunOptions:
    """Settings of one batch run (built once from the CLI or API arguments)."""

    size: int | None = None
    batch_size: int | None = None  # None: the engine's own batch_size (see run_jobs)
    overwrite: bool = False
    quality: int = 95
    max_pixels: int = DEFAULT_MAX_PIXELS
    fail_fast: bool = False
    workers: int | None = None
    model_calls: int | None = None  # model calls in flight at once (None: 2 on a CPU, 1 on a GPU)
    pixel_budget: int = 120_000_000  # decoded pixels in flight (about 1 GB of working memory)
    saturation: float = 1.0  # a*b* scale before the join: 0 gray, 1 the model's colours, at most 2
    color_inputs: str = "colorize"  # a colour (or hand-tinted) input: "colorize", "skip" or "copy"
    fixity: bool = False  # SHA-256 of input, output and model in each result (the --report's)
    provenance: bool = True  # the XMP packet of colorize_cli.provenance in every output
    flags: bool = False  # output colourfulness and gamut share in each result (triage.output_flags)
    carry_metadata: bool = True  # the input's XMP and IPTC into the output (with the [metadata] extra)
    c2pa_sign: tuple[str, str] | None = None  # (certificate chain PEM, private key PEM): signed Content Credentials

    def __post_init__(self) -> None:
        if not 0.0 <= self.saturation <= 2.0:
            raise ValueError(f"saturation must be in [0, 2], not {self.saturation}")
        if self.color_inputs not in COLOR_INPUT_POLICIES:
            raise ValueError(f"color_inputs must be one of {', '.join(COLOR_INPUT_POLICIES)}")


COLOR_INPUT_POLICIES = ("colorize", "skip", "copy")


@dataclass
class FileResult:
    """The outcome for one input file (one line of the ``--report``)."""

    job: Job
    status: str  # "ok" | "skipped" | "failed"
    error: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    input_kind: str | None = None  # "gray", "toned" or "color" (colorize_cli.triage), once decoded
    fixity: dict[str, str] = field(default_factory=dict)  # input_sha256, output_sha256, model_sha256
    flags: dict[str, float] = field(default_factory=dict)  # colorfulness, gamut_reduced (triage.output_flags)

    def record(self) -> dict:
        rec = {
            "input": str(self.job.source),
            "output": str(self.job.output),
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 4),
        }
        if self.input_kind is not None:
            rec["input_kind"] = self.input_kind
        rec.update(self.fixity)
        if self.flags:
            rec["flags"] = self.flags
        if self.notes:
            rec["notes"] = self.notes
        return rec

    @classmethod
    def from_record(cls, rec: dict, display: str | None = None) -> FileResult:
        """The result a :meth:`record` was made from (results travel between processes as records)."""
        job = Job(Path(rec["input"]), Path(rec["output"]), display if display is not None else rec["input"])
        fixity = {k: rec[k] for k in ("input_sha256", "output_sha256", "model_sha256") if k in rec}
        return cls(job, rec["status"], error=rec.get("error"), seconds=rec.get("seconds", 0.0),
                   notes=list(rec.get("notes", [])), input_kind=rec.get("input_kind"), fixity=fixity,
                   flags=dict(rec.get("flags", {})))


@dataclass
class Summary:
    """Counts for the end-of-run line."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    stop_reason: str = ""  # why the run stopped before the end, for the end-of-run line
    kinds: dict[str, int] = field(default_factory=dict)  # inputs decoded, by kind (colorize_cli.triage)

    def count(self, result: FileResult) -> None:
        """Add one file's result to the counts."""
        if result.input_kind is not None:
            self.kinds[result.input_kind] = self.kinds.get(result.input_kind, 0) + 1
        if result.status == "ok":
            self.done += 1
        elif result.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


class PixelBudget:
    """Blocks decoders while too many decoded pixels are in flight (but never starves one photo).

    Served in job order (``ticket``: 0, 1, 2, ... as the jobs were queued): the engine consumes
    photos in that order, so a later photo taking the budget first could leave the one the engine
    waits for blocked behind it, for good.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.next_ticket = 0
        self.cond = threading.Condition()

    def acquire(self, n: int, stop: threading.Event, ticket: int) -> None:
        """Take ``n`` pixels at turn ``ticket`` (returns early, taking them anyway, once ``stop`` is set)."""
        with self.cond:
            while not stop.is_set() and (
                ticket != self.next_ticket or (self.used > 0 and self.used + n > self.limit)
            ):
                self.cond.wait(0.1)
            self.used += n
            if ticket == self.next_ticket:
                self.next_ticket += 1
                self.cond.notify_all()

    def release(self, n: int) -> None:
        with self.cond:
            self.used -= n
            self.cond.notify_all()


@dataclass
class _Loaded:
    """A decoded photo on its way through the stages."""

    job: Job
    started: float
    pixels: int  # its share of the pixel budget
    decoded: object  # DecodedImage
    x: np.ndarray  # (1, h, w) network input
    input_sha256: str | None = None  # with options.fixity
    carry: object = None  # colorize_cli.metadata.SourceMetadata, with options.carry_metadata


class _Stage:
    """A thread pool and the queue of its work in flight, oldest first (results leave in order)."""

    def __init__(self, name: str, threads: int) -> None:
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix=f"colorize-{name}")
        self.queue: deque[tuple[Any, Future]] = deque()

    def __len__(self) -> int:
        return len(self.queue)

    def submit(self, key: Any, fn: Callable, *args: Any) -> None:
        self.queue.append((key, self.pool.submit(fn, *args)))

    def head(self) -> Future:
        return self.queue[0][1]

    def has_ready(self, keep: int) -> bool:
        """True while the oldest item is done, or more than ``keep`` are in flight (wait for it)."""
        return bool(self.queue) and (len(self.queue) > keep or self.queue[0][1].done())

    def pop(self) -> tuple[Any, Future]:
        return self.queue.popleft()

    def close(self, *, wait: bool) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=not wait)


# A full disk (or quota) fails every later write too: stop, rather than decode, colorize and fail
# each of the remaining photos in turn. A rerun resumes once there is space.
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


# How long a stopped run waits for model calls and writes in progress before it gives up on them
# (SIGTERM's grace period in schedulers is often 10-30 s; the whole stop must fit well inside).
_STOP_GRACE_S = 3.0


def model_sha256(path: Path) -> str:
    """The model file's SHA-256, hashed once per process while the file is unchanged (a Ray
    worker runs an engine per block of jobs)."""
    return _cached_sha256(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _cached_sha256(path: Path, mtime_ns: int) -> str:  # noqa: ARG001 - mtime_ns: a changed file hashes again
    return file_sha256(path)


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, ColorizeError):
        return str(exc)
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        return f"{reason} ({exc.filename})" if exc.filename else reason
    return f"{type(exc).__name__}: {exc}"


class BatchEngine:
    """Colorizes a list of jobs with one backend: decode -> infer -> compose + write.

    One engine per run: build it, call :meth:`run` once. ``on_result`` gets each file's
    :class:`FileResult` once, in job order for the photos that reach the writers; ``on_start``
    is called as each photo starts decoding.
    """

    def __init__(
        self,
        backend: Backend,
        options: RunOptions = RunOptions(),
        *,
        on_result: Callable[[FileResult], None] | None = None,
        on_start: Callable[[Job], None] | None = None,
    ) -> None:
        self.backend, self.options = backend, options
        self.on_result, self.on_start = on_result, on_start
        self.size = options.size or backend.config.default_size
        # The model's own chroma gain (duck-typed configs may lack it) times the run's saturation.
        self.chroma_gain = getattr(backend.config, "chroma_gain", 1.0) * options.saturation
        self.workers = options.workers or max(1, cpu_threads())
        # The engine says which batch suits it: a GPU wants batches; on a CPU ONNX Runtime is as
        # fast at batch 1 (a batch only holds more photos in memory), eager torch faster at 4.
        # Batches never wait for photos (see _next_batch), so a bigger one costs no latency.
        accelerated = getattr(backend, "accelerated", False)
        self.batch_size = options.batch_size or getattr(backend, "batch_size", None) or (8 if accelerated else 1)
        # On a CPU, two single-threaded model calls side by side keep both cores busy without the
        # engine's own thread synchronization (the network is about half of the work per photo);
        # a GPU takes one batch at a time.
        self.model_calls = options.model_calls or (1 if accelerated else min(2, self.workers))
        self.prefetch = max(2 * self.batch_size, self.workers + 1)  # photos decoding or decoded
        self.write_backlog = 2 * self.workers + self.batch_size  # photos composing or written
        self.budget = PixelBudget(options.pixel_budget)
        self.stop = threading.Event()
        self.summary = Summary()
        self._lock = threading.Lock()
        self._ran = False
        model_path = Path(getattr(backend, "model_path", ""))
        self.model_sha256 = None
        if (options.fixity or options.provenance or options.c2pa_sign) and model_path.is_file():
            self.model_sha256 = model_sha256(model_path)
        self.carry_metadata = options.carry_metadata and metadata.available()
        provenance = Provenance(
            tool=f"colorize-cli {__version__}", model=model_path.name, model_sha256=self.model_sha256 or "unknown",
            inference_size=self.size, saturation=options.saturation,
        )
        self.xmp = provenance.xmp() if options.provenance else None
        self.credentials = None
        if options.c2pa_sign is not None:
            from colorize_cli.content_credentials import ContentCredentials

            self.credentials = ContentCredentials(*options.c2pa_sign, provenance)

    # --- the run, top to bottom ------------------------------------------------------------------
    def run(self, jobs: Iterable[Job]) -> Summary:
        """Colorize ``jobs``; existing outputs are skipped unless ``options.overwrite``.

        On KeyboardInterrupt (or any exception) the stages are stopped, partial files removed,
        every photo already written reported, and the exception re-raised.
        """
        if self._ran:
            raise RuntimeError("a BatchEngine runs once; build a new one for the next run")
        self._ran = True
        t0 = time.perf_counter()
        self.decoding = _Stage("decode", self.workers)
        self.inferring = _Stage("infer", self.model_calls)
        self.writing = _Stage("write", self.workers)
        self._jobs: Iterator[Job] = iter(jobs)
        self._exhausted, self._tickets = False, 0
        try:
            self._refill()
            while self.decoding and not self.stop.is_set():
                batch = self._next_batch()
                if batch:
                    self._submit_inference(batch)
                self._drain_writes(keep=self.write_backlog)
                self._refill()
            self._collect_inference(keep=0)
            self._drain_writes(keep=0)
        except BaseException:
            self._abort()
            self.summary.seconds = time.perf_counter() - t0
            raise
        for stage in (self.inferring, self.decoding, self.writing):
            stage.close(wait=True)
        self.summary.seconds = time.perf_counter() - t0
        self.summary.stopped_early = self.stop.is_set()
        return self.summary

    # --- the calling thread: moving work between the stages ---------------------------------------
    def _refill(self) -> None:
        """Queue decodes until ``prefetch`` photos are decoding or decoded; report skipped outputs."""
        while not self._exhausted and not self.stop.is_set() and len(self.decoding) < self.prefetch:
            job = next(self._jobs, None)
            if job is None:
                self._exhausted = True
                return
            if not needs_output(job, self.options.overwrite):
                self._report(FileResult(job, "skipped", notes=["output exists"]))
                continue
            self.decoding.submit(job, self._decode, job, self._tickets)
            self._tickets += 1

    def _next_batch(self) -> list[_Loaded]:
        """Greedy batching: wait for the oldest decode, then take whichever of the next ones are
        already decoded and have the same network shape (never waiting for more photos)."""
        batch: list[_Loaded] = []
        while self.decoding and len(batch) < self.batch_size:
            job, fut = self.decoding.queue[0]
            if batch and not fut.done():
                break
            self._wait_for_decode(fut)
            try:
                item = fut.result()
            except Exception as exc:  # noqa: BLE001 - one file's failure is reported, not raised
                self.decoding.pop()
                self._report(self._failed(job, exc))
                self._refill()
                continue
            if isinstance(item, FileResult):  # a colour input, skipped or copied (--color-inputs)
                self.decoding.pop()
                self._report(item)
                self._refill()
                continue
            if batch and item.x.shape != batch[0].x.shape:
                break
            self.decoding.pop()
            batch.append(item)
            self._refill()
        return batch

    def _wait_for_decode(self, fut: Future) -> None:
        """While a photo decodes, pass finished model calls to the writers (their writes give back
        the budget the photo may be waiting for) and report finished writes: a slow or stuck read
        must not hold back the photos already done."""
        while not fut.done() and (self.inferring or self.writing):
            heads = [stage.head() for stage in (self.inferring, self.writing) if stage]
            wait([fut, *heads], return_when=FIRST_COMPLETED)
            self._collect_inference(keep=len(self.inferring))
            self._drain_writes(keep=len(self.writing))

    def _submit_inference(self, batch: list[_Loaded]) -> None:
        x = np.stack([item.x for item in batch])
        self.inferring.submit(batch, self.backend.predict, x)
        self._collect_inference(keep=self.model_calls - 1)

    def _collect_inference(self, keep: int) -> None:
        """Pass finished model calls (oldest first) to the writers; wait while more than ``keep`` run."""
        while self.inferring.has_ready(keep):
            batch, fut = self.inferring.pop()
            try:
                ab = fut.result()
            except Exception as exc:  # noqa: BLE001 - a model failure fails these files, not the run
                for item in batch:
                    self.budget.release(item.pixels)
                    self._report(self._failed(item.job, exc, item.started))
                continue
            for i, item in enumerate(batch):
                self.writing.submit(item.job, self._compose_and_write, item, ab[i])

    def _drain_writes(self, keep: int) -> None:
        """Report finished writes (oldest first); wait while more than ``keep`` are in flight."""
        while self.writing.has_ready(keep):
            job, fut = self.writing.pop()
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - one file's failure is reported, not raised
                result = self._failed(job, exc)
            # Outside the try: Ctrl-C or SIGTERM (Terminated) arriving here, even inside
            # on_result, must stop the run -- never become one more "failed" file.
            self._report(result)

    def _abort(self) -> None:
        """Stop every stage: never wait for decoders (a read may be stuck for good, on a hung mount);
        give model calls and writes a short grace, report what was written, remove partial files."""
        self.stop.set()
        for stage in (self.decoding, self.inferring, self.writing):
            stage.close(wait=False)
        wait([f for _, f in self.inferring.queue] + [f for _, f in self.writing.queue], timeout=_STOP_GRACE_S)
        for batch, _ in self.inferring.queue:
            for item in batch:
                self.budget.release(item.pixels)
        for _, fut in self.writing.queue:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                with contextlib.suppress(Exception):
                    self._report(fut.result())
        remove_live_temps()

    def _report(self, result: FileResult) -> None:
        with self._lock:
            self.summary.count(result)
            if result.status == "failed" and self.options.fail_fast:
                self.stop.set()
            if self.on_result is not None:
                self.on_result(result)

    @staticmethod
    def _failed(job: Job, exc: BaseException, started: float | None = None) -> FileResult:
        secs = time.perf_counter() - started if started else 0.0
        return FileResult(job, "failed", error=_describe_error(exc), seconds=secs)

    # --- the worker threads ----------------------------------------------------------------------
    def _decode(self, job: Job, ticket: int) -> _Loaded | FileResult:
        """Decode stage: check, reserve the photo's pixels (in job order), decode, make the network
        input; a colour input under ``--color-inputs skip|copy`` ends here, with its result."""
        started = time.perf_counter()
        try:
            if self.on_start is not None:
                self.on_start(job)
            pil_format_for(job.output)  # an unwritable output type fails now, before any decoding
            require_regular_file(job.source)  # a FIFO or device would block the header probe below
        except BaseException:
            self.budget.acquire(0, self.stop, ticket)  # give up this photo's turn, so the next get theirs
            raise
        pixels = self._header_pixels(job)
        self.budget.acquire(pixels, self.stop, ticket)
        try:
            if self.stop.is_set():
                raise InputError("not started: the run was stopped")
            decoded = decode_image(job.source, max_pixels=self.options.max_pixels)
            digest = file_sha256(job.source) if self.options.fixity else None
            if decoded.kind == "color" and self.options.color_inputs != "colorize":
                self.budget.release(pixels)
                return self._not_colorized(job, started, digest)
            x = network_input(decoded.lightness, self.size, self.backend.config.stride)
            carry = read_source_metadata(job.source) if self.carry_metadata else None
        except BaseException:
            self.budget.release(pixels)
            raise
        return _Loaded(job, started, pixels, decoded, x, digest, carry)

    def _not_colorized(self, job: Job, started: float, digest: str | None) -> FileResult:
        """A colour input's result under ``--color-inputs skip`` or ``copy`` (the original, as it is)."""
        fixity = {"input_sha256": digest} if digest else {}
        if self.options.color_inputs == "skip":
            return FileResult(job, "skipped", notes=["a colour input: not colorized (--color-inputs skip)"],
                              input_kind="color", fixity=fixity)
        note = copy_original(job.source, job.output, quality=self.options.quality)
        if digest:
            fixity["output_sha256"] = file_sha256(job.output)
        return FileResult(job, "ok", seconds=time.perf_counter() - started, notes=[note], input_kind="color",
                          fixity=fixity)

    def _header_pixels(self, job: Job) -> int:
        """The photo's pixel count from its header, to reserve before decoding (0 if unknown or refused)."""
        pixels = 0
        with contextlib.suppress(Exception):
            with Image.open(job.source) as probe:
                pixels = probe.size[0] * probe.size[1]
        return 0 if pixels > self.options.max_pixels else pixels  # decode_image refuses it undecoded

    def _compose_and_write(self, item: _Loaded, ab_small: np.ndarray) -> FileResult:
        """Compose + write stage: full-resolution join, then an atomic write of the output."""
        try:
            if self.stop.is_set() and not self.options.fail_fast:
                raise InputError("not written: the run was stopped")
            d = item.decoded
            pixels = compose(
                d.lightness, ab_small, alpha=d.alpha, bit_depth=d.bit_depth, chroma_gain=self.chroma_gain
            )
            item.job.output.parent.mkdir(parents=True, exist_ok=True)
            notes = list(d.notes)
            notes += write_image(
                item.job.output, pixels, exif=d.exif, quality=self.options.quality, xmp=self.xmp, carry=item.carry,
                finalize=self._signing(item) if self.credentials else None,
            )
            flags = self._flags(d, pixels, ab_small) if self.options.flags else {}
            fixity = {}
            if self.options.fixity:
                fixity = {"input_sha256": item.input_sha256, "output_sha256": file_sha256(item.job.output)}
                if self.model_sha256:
                    fixity["model_sha256"] = self.model_sha256
            return FileResult(item.job, "ok", seconds=time.perf_counter() - item.started, notes=notes,
                              input_kind=d.kind, fixity=fixity, flags=flags)
        except OSError as exc:
            if exc.errno in _DISK_FULL:  # stop here, in the writer, before more writes start
                self._stop_for_full_disk(exc)
            raise
        finally:
            self.budget.release(item.pixels)

    def _signing(self, item: _Loaded) -> Callable[[Path], list[str]]:
        """Signs the finished output file (C2PA) with the original as its ingredient."""
        job = item.job

        def sign(tmp: Path) -> list[str]:
            digest = item.input_sha256 or file_sha256(job.source)
            return self.credentials.sign(tmp, title=job.output.name, source=job.source, source_sha256=digest)

        return sign

    def _flags(self, decoded, pixels: np.ndarray, ab_small: np.ndarray) -> dict[str, float]:
        """:func:`colorize_cli.triage.output_flags` on a sample of about 65,000 output pixels."""
        h, w = pixels.shape[:2]
        step = max(1, int(np.sqrt(h * w / 65_536)))
        rgb = pixels[::step, ::step]
        L = as_l_star(decoded.lightness[::step, ::step])
        ab = lab.denormalize_ab(ab_small) * np.float32(self.chroma_gain)
        ab = np.stack([resize_plane(ab[c], L.shape) for c in (0, 1)], axis=-1)
        return output_flags(rgb, L, ab)

    def _stop_for_full_disk(self, exc: OSError) -> None:
        with self._lock:
            if not self.summary.stop_reason:
                self.summary.stop_reason = (
                    f"stopped: the output disk is full ({exc.strerror}); free some space and run "
                    "the same command again to resume"
                )
        self.stop.set()


def run_jobs(
    jobs: Iterable[Job],
    backend: Backend,
    options: RunOptions = RunOptions(),
    *,
    on_result: Callable[[FileResult], None] | None = None,
    on_start: Callable[[Job], None] | None = None,
) -> Summary:
    """Colorize ``jobs`` with ``backend``: one :class:`BatchEngine` run (see there)."""
    return BatchEngine(backend, options, on_result=on_result, on_start=on_start).run(jobs)
