"""The batch engine: decode, inference and encode overlap so no core idles.

Decoding (and the small network input) runs in one thread pool, composing the full-resolution
result and writing it in another; the calling thread batches network inputs of equal shape and
runs the model. Pillow, numpy and the inference engines release the GIL for their heavy work.
Memory stays bounded: a pixel budget limits how many decoded photos are in flight at once (a
single photo larger than the budget still runs, alone). Every file ends with one result: ok,
skipped or failed, with a one-line reason; the batch goes on after a failure.
"""

from __future__ import annotations

import contextlib
import errno
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from colorize_cli.backends import Backend, cpu_threads
from colorize_cli.errors import ColorizeError, InputError
from colorize_cli.fsutil import remove_live_temps
from colorize_cli.imagefile import (
    DEFAULT_MAX_PIXELS,
    decode_image,
    pil_format_for,
    require_regular_file,
    write_image,
)
from colorize_cli.jobs import Job, needs_output
from colorize_cli.pipeline import compose, network_input, warm_up_compiled_compose


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
    # The compiled compose starts (in the background) when at least this many pixels are still
    # ahead: its fixed start pays back from about 18 MP of photos on 2 cores (12 photos of 1.5 MP
    # ran alike either way, 40 ran 1.3x faster with it; benchmarks/RESULTS.md).
    compiled_compose_min_pixels: int = 24_000_000


@dataclass
class FileResult:
    """The outcome for one input file (one line of the ``--report``)."""

    job: Job
    status: str  # "ok" | "skipped" | "failed"
    error: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict:
        rec = {
            "input": str(self.job.source),
            "output": str(self.job.output),
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 4),
        }
        if self.notes:
            rec["notes"] = self.notes
        return rec


@dataclass
class Summary:
    """Counts for the end-of-run line."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    stop_reason: str = ""  # why the run stopped before the end, for the end-of-run line

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


class _PixelBudget:
    """Blocks decoders while too many decoded pixels are in flight (but never starves one photo).

    Served in job order (``ticket``: 0, 1, 2, ... as the jobs were queued): the runner consumes
    photos in that order, so a later photo taking the budget first could leave the one the runner
    waits for blocked behind it, for good.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.next_ticket = 0
        self.cond = threading.Condition()

    def acquire(self, n: int, stop: threading.Event, ticket: int) -> None:
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
    job: Job
    started: float
    pixels: int
    decoded: object  # DecodedImage
    x: np.ndarray  # (1, h, w) network input


# A full disk (or quota) fails every later write too: stop, rather than decode, colorize and fail
# each of the remaining photos in turn. A rerun resumes once there is space.
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


# How long a stopped run waits for model calls and writes in progress before it gives up on them
# (SIGTERM's grace period in schedulers is often 10-30 s; the whole stop must fit well inside).
_STOP_GRACE_S = 3.0


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, ColorizeError):
        return str(exc)
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        return f"{reason} ({exc.filename})" if exc.filename else reason
    return f"{type(exc).__name__}: {exc}"


def run_jobs(
    jobs: Iterable[Job],
    backend: Backend,
    options: RunOptions = RunOptions(),
    *,
    on_result: Callable[[FileResult], None] | None = None,
    on_start: Callable[[Job], None] | None = None,
) -> Summary:
    """Colorize ``jobs`` with ``backend``; call ``on_result`` once per job (in completion order).

    Existing outputs are skipped unless ``options.overwrite``. On KeyboardInterrupt (or any
    exception) the pools are drained, temporary files removed, and the exception re-raised.
    """
    size = options.size or backend.config.default_size
    stride = backend.config.stride
    chroma_gain = getattr(backend.config, "chroma_gain", 1.0)  # duck-typed configs may lack it
    workers = options.workers or max(1, cpu_threads())
    # The engine says which batch suits it: a GPU wants batches; on a CPU ONNX Runtime is as fast
    # at batch 1 (a batch only holds more photos in memory), eager torch faster at 4. Batches
    # never wait for photos (see the loop below), so a bigger one costs no latency.
    accelerated = getattr(backend, "accelerated", False)
    batch_size = options.batch_size or getattr(backend, "batch_size", None) or (8 if accelerated else 1)
    stop = threading.Event()
    budget = _PixelBudget(options.pixel_budget)
    # Photos this run will colorize (outputs that exist are skipped): the basis, with the pixels
    # seen so far, for starting the compiled compose. Unknown for a job generator.
    total_jobs = sum(needs_output(job, options.overwrite) for job in jobs) if isinstance(jobs, Sized) else 0
    probed = [0, 0]  # photos and pixels seen by load(): the basis for the compiled-compose decision
    summary = Summary()
    t0 = time.perf_counter()
    lock = threading.Lock()

    def report(result: FileResult) -> None:
        with lock:
            if result.status == "ok":
                summary.done += 1
            elif result.status == "skipped":
                summary.skipped += 1
            else:
                summary.failed += 1
                if options.fail_fast:
                    stop.set()
            if on_result is not None:
                on_result(result)

    def load(job: Job, ticket: int) -> _Loaded:
        started = time.perf_counter()
        try:
            if on_start is not None:
                on_start(job)
            pil_format_for(job.output)  # an unwritable output type fails now, before any decoding
            require_regular_file(job.source)  # a FIFO or device would block the header probe below
        except BaseException:
            budget.acquire(0, stop, ticket)  # give up this photo's turn, so the next ones get theirs
            raise
        pixels = 0
        with contextlib.suppress(Exception):
            with Image.open(job.source) as probe:  # header only: reserve memory before decoding
                pixels = probe.size[0] * probe.size[1]
        if pixels > options.max_pixels:
            pixels = 0  # decode_image refuses it without decoding
        with lock:
            probed[0] += 1
            probed[1] += pixels
            # Pixels still to come, guessed from the average so far: start the compiled compose
            # when they pay back its start-up (it loads while this photo decodes).
            ahead = pixels + probed[1] / probed[0] * max(0, total_jobs - probed[0])
        if ahead >= options.compiled_compose_min_pixels:
            with contextlib.suppress(Exception):  # an optimization: never a reason to fail a photo
                warm_up_compiled_compose()
        budget.acquire(pixels, stop, ticket)
        try:
            if stop.is_set():
                raise InputError("not started: the run was stopped")
            decoded = decode_image(job.source, max_pixels=options.max_pixels)
            x = network_input(decoded.lightness, size, stride)
        except BaseException:
            budget.release(pixels)
            raise
        return _Loaded(job, started, pixels, decoded, x)

    def finish(item: _Loaded, ab_small: np.ndarray) -> FileResult:
        try:
            if stop.is_set() and not options.fail_fast:
                raise InputError("not written: the run was stopped")
            d = item.decoded
            pixels = compose(d.lightness, ab_small, alpha=d.alpha, bit_depth=d.bit_depth, chroma_gain=chroma_gain)
            item.job.output.parent.mkdir(parents=True, exist_ok=True)
            notes = list(d.notes)
            notes += write_image(item.job.output, pixels, exif=d.exif, quality=options.quality)
            return FileResult(item.job, "ok", seconds=time.perf_counter() - item.started, notes=notes)
        except OSError as exc:
            if exc.errno in _DISK_FULL:  # stop here, in the writer, before more writes start
                with lock:
                    if not summary.stop_reason:
                        summary.stop_reason = (
                            f"stopped: the output disk is full ({exc.strerror}); free some space and run "
                            "the same command again to resume"
                        )
                stop.set()
            raise
        finally:
            budget.release(item.pixels)

    def failed(job: Job, exc: BaseException, started: float | None = None) -> FileResult:
        secs = time.perf_counter() - started if started else 0.0
        return FileResult(job, "failed", error=_describe_error(exc), seconds=secs)

    decode_pool = ThreadPoolExecutor(workers, thread_name_prefix="colorize-decode")
    write_pool = ThreadPoolExecutor(workers, thread_name_prefix="colorize-write")
    # Model calls in flight at once. On a CPU, two single-threaded calls side by side keep both
    # cores busy without the engine's own thread synchronization (the network is ~half of the
    # work per photo, so one call at a time left the pipeline waiting on it); a GPU takes one
    # batch at a time.
    model_calls = options.model_calls or (1 if accelerated else min(2, workers))
    infer_pool = ThreadPoolExecutor(model_calls, thread_name_prefix="colorize-infer")
    inferring: deque[tuple[list[_Loaded], Future]] = deque()
    pending: deque[tuple[Job, Future]] = deque()
    writes: deque[tuple[Job, Future]] = deque()
    prefetch = max(2 * batch_size, workers + 1)
    job_iter = iter(jobs)
    exhausted = False
    tickets = 0  # budget turns, in queue order

    def refill() -> None:
        nonlocal exhausted, tickets
        while not exhausted and not stop.is_set() and len(pending) < prefetch:
            job = next(job_iter, None)
            if job is None:
                exhausted = True
                return
            if not needs_output(job, options.overwrite):
                report(FileResult(job, "skipped", notes=["output exists"]))
                continue
            pending.append((job, decode_pool.submit(load, job, tickets)))
            tickets += 1

    def drain_writes(block_until: int) -> None:
        while writes and (len(writes) > block_until or writes[0][1].done()):
            job, fut = writes.popleft()
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - one file's failure is reported, not raised
                result = failed(job, exc)
            # Outside the try: Ctrl-C or SIGTERM (Terminated) arriving here, even inside
            # on_result, must stop the run -- never become one more "failed" file.
            report(result)

    def collect_inference(block_until: int) -> None:
        """Hand finished model calls (oldest first) to the writers; wait while > block_until run."""
        while inferring and (len(inferring) > block_until or inferring[0][1].done()):
            batch, fut = inferring.popleft()
            try:
                ab = fut.result()
            except Exception as exc:  # noqa: BLE001 - a model failure fails these files, not the run
                for item in batch:
                    budget.release(item.pixels)
                    report(failed(item.job, exc, item.started))
                continue
            for i, item in enumerate(batch):
                writes.append((item.job, write_pool.submit(finish, item, ab[i])))

    try:
        refill()
        while pending and not stop.is_set():
            batch: list[_Loaded] = []
            # Greedy batching: wait for the first ready input, then take whichever of the next
            # ones are already decoded and have the same network shape (no waiting = no stall).
            while pending and len(batch) < batch_size:
                job, fut = pending[0]
                if batch and (not fut.done()):
                    break
                # While this photo decodes, hand finished model calls to the writers (their
                # writes give back the budget the photo may be waiting for) and report finished
                # writes: a slow or stuck read must not hold back the photos already done.
                while not fut.done() and (inferring or writes):
                    heads = [q[0][1] for q in (inferring, writes) if q]
                    wait([fut, *heads], return_when=FIRST_COMPLETED)
                    collect_inference(block_until=len(inferring))
                    drain_writes(block_until=len(writes))
                try:
                    item = fut.result()
                except Exception as exc:  # noqa: BLE001
                    pending.popleft()
                    report(failed(job, exc))
                    refill()
                    continue
                if batch and item.x.shape != batch[0].x.shape:
                    break
                pending.popleft()
                batch.append(item)
                refill()
            if batch:
                x = np.stack([item.x for item in batch])
                inferring.append((batch, infer_pool.submit(backend.predict, x)))
                collect_inference(block_until=model_calls - 1)
            drain_writes(block_until=2 * workers + batch_size)
            refill()
        collect_inference(block_until=0)
        drain_writes(block_until=0)
    except BaseException:
        stop.set()
        for _, fut in pending:
            fut.cancel()
        # A decoder may be stuck in a read that never returns (a hung network mount): never wait
        # for decoders. Model calls and writes end within a photo's time; wait for them, but only
        # so long, then report every photo that was written and remove the partial files.
        for pool in (decode_pool, infer_pool, write_pool):
            pool.shutdown(wait=False, cancel_futures=True)
        wait([f for _, f in inferring] + [f for _, f in writes], timeout=_STOP_GRACE_S)
        for batch, _ in inferring:
            for item in batch:
                budget.release(item.pixels)
        for _, fut in writes:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                with contextlib.suppress(Exception):
                    report(fut.result())
        remove_live_temps()
        summary.seconds = time.perf_counter() - t0
        raise
    infer_pool.shutdown(wait=True)
    decode_pool.shutdown(wait=True)
    write_pool.shutdown(wait=True)
    summary.seconds = time.perf_counter() - t0
    summary.stopped_early = stop.is_set()
    return summary
