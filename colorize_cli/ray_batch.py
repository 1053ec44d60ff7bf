"""The same batch on a Ray cluster, with Ray Data (``--executor ray``, extra ``[ray]``).

Ray Data's batch-inference pattern, with this tool's engine inside each worker:

    plan file (OUT/.colorize-tmp-...-plan.jsonl, one job per line: paths, not pixels)
      --> read_text --> blocks of a few jobs --> map_batches(ColorizeWorker, autoscaling actor pool)
      --> result records, streamed back to the driver --> report, progress, summary

* **Planning** is the local engine's (:func:`colorize_cli.jobs.iter_jobs`: the same walk, order,
  refusals and ``--shard`` slice), streamed to a file by :mod:`colorize_cli.joblist`, so a plan of
  a million paths holds no million Python objects on the driver. The driver reports outputs that
  already exist as skipped, without sending them to the cluster; the rest become the dataset.
* **Workers**: each actor opens the backend once, then runs a :class:`colorize_cli.runner.BatchEngine`
  over each block of jobs, so decoding, compose, atomic writes, metadata and provenance are the
  local engine's, byte for byte. Records come back; the report and progress stay on the driver.
* **Faults**: Ray restarts a killed actor and retries its block (the default for Ray Data's actor
  pools); the retry skips the outputs the dead worker had finished. A killed writer leaves only a
  ``.colorize-tmp-<host>-<pid>-...`` file; at the end a task on every node removes those whose
  writer on that node is gone (a pid means something only on its own host). A driver killed
  outright leaves finished outputs in place: the same command resumes.
* **Storage**: inputs and the output folder must be at the same paths on every node (a shared
  filesystem); the plan file lives in the output folder for that reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from colorize_cli.errors import UsageError
from colorize_cli.fsutil import (
    TMP_PREFIX,
    clean_orphan_temps,
    file_sha256,
    is_temp_of_live_writer,
    temp_path_for,
    temp_writer,
    this_writer,
)
from colorize_cli.joblist import JobListPlan, decode_job, plan_to_file, read_lines
from colorize_cli.jobs import needs_output
from colorize_cli.runner import FileResult, RunOptions, Summary, model_sha256

RAY_HINT = 'pip install "colorize-cli[ray]"'


@dataclass(frozen=True)
class EngineSpec:
    """How each worker opens its backend (the arguments of :func:`colorize_cli.backends.open_backend`)."""

    backend: str = "auto"
    model: str | None = None
    device: str = "auto"
    threads: int | None = None  # None: the worker's CPUs (RayOptions.cpus_per_worker)
    precision: str = "auto"


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a Ray run goes."""

    address: str | None = None  # None: a running cluster ("auto") if there is one, else a local Ray for the run
    workers: tuple[int, int] | None = None  # actor pool (min, max); None: 1 .. the cluster's CPUs (or GPUs) per worker
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0  # fractional allowed (several workers share a GPU)
    jobs_per_task: int = 8  # jobs per block a worker takes at once (and redoes, skipping finished ones, on a retry)
    local_cpus: int | None = None  # CPUs of a local Ray started for the run (None: all)
    log_level: int = logging.WARNING  # Ray's own logging on the driver (ray.init's logging_level)

    def __post_init__(self) -> None:
        if self.workers is not None and not 1 <= self.workers[0] <= self.workers[1]:
            raise UsageError(f"--ray-workers MIN,MAX needs 1 <= MIN <= MAX, not {self.workers[0]},{self.workers[1]}")
        if self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            raise UsageError("Ray workers need more than 0 CPUs and at least 0 GPUs each")


def require_ray() -> ModuleType:
    """The ``ray`` module with Ray Data, or :class:`UsageError` (exit 2) naming the extra."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data (pyarrow, pandas) comes with ray[data] only
    except ImportError as exc:
        raise UsageError(f"--executor ray needs Ray Data ({exc.name or 'ray'} is missing): {RAY_HINT}") from None
    return ray


def checked_engine(engine: EngineSpec) -> EngineSpec:
    """``engine`` with an absolute model path, once the model has opened here (on the CPU).

    A model that cannot open fails now, as :class:`colorize_cli.errors.ModelError` (exit 2),
    instead of in every worker's start after the cluster has been joined."""
    from colorize_cli.backends import open_backend

    open_backend(engine.backend, engine.model, device="cpu", threads=1, precision=engine.precision)
    model = os.path.abspath(engine.model) if engine.model is not None else None
    return EngineSpec(engine.backend, model, engine.device, engine.threads, engine.precision)


def plan_for_ray(
    inputs, out_dir: str | os.PathLike, *, recursive: bool = True, fmt: str | None = None,
    shard: tuple[int, int] | None = None, listed=(),
) -> JobListPlan:
    """Plan into a job-list file in the output folder (created): :func:`colorize_cli.joblist.plan_to_file`.

    The file's name is a temporary one of this process, so a later run removes it if this one is
    killed. Remove it with :func:`discard_plan` (``run_on_ray`` does)."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    path = temp_path_for(out.absolute() / "plan.jsonl")  # absolute: read by workers in other folders
    return plan_to_file(inputs, out, path, recursive=recursive, fmt=fmt, listed=listed, shard=shard)


def discard_plan(plan: JobListPlan) -> None:
    for path in (plan.path, _todo_path(plan)):
        with contextlib.suppress(OSError):
            path.unlink()


def _todo_path(plan: JobListPlan) -> Path:
    return plan.path.with_name(plan.path.name.replace("plan.jsonl", "todo.jsonl"))


class ColorizeWorker:
    """One actor of the pool: opens the backend once, then colorizes block after block of jobs.

    ``__call__`` takes a Ray Data batch ``{"text": [job line, ...]}`` (see
    :func:`colorize_cli.joblist.encode_job`) and returns ``{"result": [JSON [record, display], ...],
    "stop_reason": [...]}``, one row per job.
    """

    def __init__(self, engine: EngineSpec, options: RunOptions) -> None:
        from PIL import Image

        from colorize_cli.backends import open_backend

        # The actor's process is this tool's own, as the CLI's is: --max-pixels is the bomb guard
        # (checked from the header before decoding), and Pillow's own would refuse 100 MP scans.
        Image.MAX_IMAGE_PIXELS = None
        self.backend = open_backend(engine.backend, engine.model, device=engine.device, threads=engine.threads,
                                    precision=engine.precision)
        self.options = options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from colorize_cli.runner import BatchEngine

        lines = [str(line) for line in batch["text"]]
        jobs = [decode_job(line, absolute=True) for line in lines]
        planned = {job.output: decode_job(line) for job, line in zip(jobs, lines, strict=True)}  # paths as the user gave them
        results: list[FileResult] = []
        summary = BatchEngine(self.backend, self.options, on_result=results.append).run(jobs)
        rows = []
        for result in map(self._retried, results):
            record, given = result.record(), planned[result.job.output]
            record["input"], record["output"] = str(given.source), str(given.output)
            rows.append(json.dumps([record, result.job.display], ensure_ascii=True))
        return {"result": np.array(rows, dtype=object), "stop_reason": np.array([summary.stop_reason] * len(rows), dtype=object)}


    def _retried(self, result: FileResult) -> FileResult:
        """The driver sends only jobs whose output was missing: one that exists now was written by
        an attempt of this run that Ray retried after losing its worker, so it is done, not skipped
        (its kind and fixity are taken again; its flags are not)."""
        if result.status != "skipped" or result.notes != ["output exists"]:
            return result
        from colorize_cli.imagefile import decode_image

        kind = None
        with contextlib.suppress(Exception):
            kind = decode_image(result.job.source, max_pixels=self.options.max_pixels).kind
        fixity = {}
        if self.options.fixity:
            fixity = {"input_sha256": file_sha256(result.job.source), "output_sha256": file_sha256(result.job.output)}
            model = Path(getattr(self.backend, "model_path", ""))
            if model.is_file():
                fixity["model_sha256"] = model_sha256(model)
        return FileResult(result.job, "ok", notes=["written by an earlier attempt (Ray retried it on a new worker)"],
                          input_kind=kind, fixity=fixity)


def _sweep_node(out_dir: str, patience_s: float, driver: tuple[str, int]) -> int:
    """On one node: remove temporary files under ``out_dir`` whose writer on this node is gone,
    waiting up to ``patience_s`` for writers being stopped (not the ``driver``'s plan) to end."""
    deadline = time.monotonic() + patience_s
    removed = len(clean_orphan_temps(Path(out_dir)))
    while time.monotonic() < deadline and _has_live_temps(Path(out_dir), driver):
        time.sleep(0.2)
        removed += len(clean_orphan_temps(Path(out_dir)))
    return removed


def _has_live_temps(root: Path, driver: tuple[str, int]) -> bool:
    """Whether temporary files of another live process on this host remain (a worker being stopped)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            if name.startswith(TMP_PREFIX) and temp_writer(path) != driver and is_temp_of_live_writer(path):
                return True
    return False


@contextlib.contextmanager
def _connected(ray: ModuleType, opts: RayOptions) -> Iterator[None]:
    """Connected to the cluster for the run: the one given, a running one, or a local one started
    (and shut down) for the run. A process that already joined Ray keeps its connection."""
    if ray.is_initialized():
        yield
        return
    # Workers' output stays in Ray's log files: per-file errors come back in the results.
    quiet = {"log_to_driver": False, "logging_level": opts.log_level}
    with _sigterm_kept():
        _init(ray, opts, quiet)
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _sigterm_kept() -> Iterator[None]:
    """Keep the process's SIGTERM handling across ``ray.init``: Ray's core installs a handler that
    prints a stack trace and aborts (exit 134, no cleanup), replacing the command's (exit 143 after
    stopping the workers and removing partial files) or whatever the host had."""
    import signal
    import threading

    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _init(ray: ModuleType, opts: RayOptions, quiet: dict) -> None:
    """``ray.init``: the address given, else a running cluster, else a local Ray for the run."""
    if opts.address:
        _check_reachable(opts.address)
        try:
            ray.init(address=opts.address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(f"cannot join the Ray cluster at {opts.address}: {exc}") from None
    else:
        try:
            ray.init(address="auto", **quiet)
        except ConnectionError:  # no cluster running here: a local one, for this run
            ray.init(num_cpus=opts.local_cpus, include_dashboard=False, **quiet)


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A ``HOST:PORT`` that does not answer is refused at once: Ray itself retries for minutes."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto", "ray://...": Ray's to resolve
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def _pool_size(ray: ModuleType, opts: RayOptions) -> tuple[int, int]:
    """(min, max) workers: as given, else 1 to as many as the cluster's resources hold now.

    A cluster without room for even one worker is refused here: its actors would wait for ever.
    (An autoscaling cluster that adds nodes on demand: give ``--ray-workers`` and it is not checked.)"""
    if opts.workers is not None:
        return opts.workers
    resources = ray.cluster_resources()
    kind, per_worker = ("GPU", opts.gpus_per_worker) if opts.gpus_per_worker > 0 else ("CPU", opts.cpus_per_worker)
    most = int(resources.get(kind, 0) / per_worker)
    if most < 1:
        raise UsageError(
            f"the Ray cluster has {resources.get(kind, 0):g} {kind}s, and each worker asks for {per_worker:g}: "
            "lower --ray-cpus-per-worker / --ray-gpus-per-worker, or give --ray-workers MIN,MAX for a "
            "cluster that adds nodes on demand"
        )
    return 1, most


def _split_done(
    plan: JobListPlan, options: RunOptions, report: Callable[[FileResult], None], block: int
) -> tuple[int, array, array]:
    """Report existing outputs as skipped and write the rest to the to-do file.

    Returns (jobs to do, the byte offset and line count of each block of ``block`` jobs in the file)."""
    todo, starts, sizes = 0, array("Q"), array("Q")
    with open(_todo_path(plan), "w", encoding="ascii") as fh:
        offset = 0
        for line in read_lines(plan.path):
            job = decode_job(line)
            if not needs_output(job, options.overwrite):
                report(FileResult(job, "skipped", notes=["output exists"]))
                continue
            if todo % block == 0:
                starts.append(offset)
                sizes.append(0)
            sizes[-1] += 1
            offset += fh.write(line)
            todo += 1
    return todo, starts, sizes


def run_on_ray(
    plan: JobListPlan,
    engine: EngineSpec = EngineSpec(),
    options: RunOptions = RunOptions(),
    ray_options: RayOptions = RayOptions(),
    *,
    on_result: Callable[[FileResult], None] | None = None,
) -> Summary:
    """Colorize the jobs of ``plan`` on Ray; returns the run's :class:`Summary`.

    ``on_result`` gets every file's result once, as results arrive (skipped outputs first). On
    KeyboardInterrupt (or any exception) the workers are stopped, their partial files removed, and
    the exception re-raised; results already received have been reported.
    """
    ray = require_ray()
    summary = Summary()
    started = time.perf_counter()

    def report(result: FileResult) -> None:
        summary.count(result)
        if on_result is not None:
            on_result(result)

    try:
        clean_orphan_temps(plan.out_dir)
        todo, starts, sizes = _split_done(plan, options, report, ray_options.jobs_per_task)
        if todo:
            with _connected(ray, ray_options):
                blocks = (starts, sizes)
                _run_dataset(ray, plan, blocks, engine, options, ray_options, report, summary)
    except BaseException:
        # A worker still writing when the in-run sweep gave up ends with the local Ray (shut down
        # by now, or stopping): wait for this host's writers once more and remove what they left.
        _sweep_node(str(plan.out_dir), 5.0, this_writer())
        raise
    finally:
        discard_plan(plan)
        summary.seconds = time.perf_counter() - started
    return summary


def _run_dataset(ray, plan, blocks, engine, options, ray_options, report, summary) -> None:
    """Run the to-do jobs on the cluster, stream their results into ``report``, sweep the nodes."""
    context = ray.data.DataContext.get_current()
    shown = context.enable_progress_bars
    context.enable_progress_bars = False  # the driver's own display shows progress
    try:
        rows = _dataset(ray, plan, blocks, engine, options, ray_options).iter_rows()
        interrupted = True
        try:
            _consume(rows, options, report, summary)
            interrupted = False
        finally:
            with contextlib.suppress(Exception):
                rows.close()  # stops the pipeline and its actors
            _sweep_nodes(ray, plan.out_dir, patience_s=5.0 if interrupted else 0.0)
    finally:
        context.enable_progress_bars = shown


def _dataset(ray, plan, blocks, engine, options, ray_options):
    """jobs (blocks of the to-do file) -> map_batches(ColorizeWorker) on an autoscaling actor pool."""
    from colorize_cli.ray_source import JobListSource

    low, high = _pool_size(ray, ray_options)
    if engine.threads is None:
        engine = EngineSpec(engine.backend, engine.model, engine.device, max(1, int(ray_options.cpus_per_worker)),
                            engine.precision)
    worker_options = options if options.workers else _with_workers(options, ray_options)
    jobs = ray.data.read_datasource(JobListSource(str(_todo_path(plan)), *blocks), num_cpus=0)
    return jobs.map_batches(
        ColorizeWorker,
        fn_constructor_args=(engine, worker_options),
        batch_size=ray_options.jobs_per_task,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=low, max_size=high),
        num_cpus=ray_options.cpus_per_worker,
        num_gpus=ray_options.gpus_per_worker or None,
    )


def _consume(rows, options: RunOptions, report: Callable[[FileResult], None], summary: Summary) -> None:
    """Report each result row as it arrives; stop at a failure under ``fail_fast`` or when a
    worker stopped for a reason that holds for all (a full disk)."""
    for row in rows:
        record, display = json.loads(row["result"])
        result = FileResult.from_record(record, display)
        report(result)
        if row["stop_reason"] and not summary.stop_reason:
            summary.stop_reason = row["stop_reason"]
        if (result.status == "failed" and options.fail_fast) or summary.stop_reason:
            summary.stopped_early = True
            return


def _with_workers(options: RunOptions, ray_options: RayOptions) -> RunOptions:
    """Each actor's engine: as many decode/compose threads as its CPUs, one model call at a time."""
    import dataclasses

    threads = max(1, int(ray_options.cpus_per_worker))
    return dataclasses.replace(options, workers=threads, model_calls=1)


def _sweep_nodes(ray: ModuleType, out_dir: Path, *, patience_s: float) -> None:
    """Run :func:`_sweep_node` on every live node (each judges its own writers), and here."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    sweep = ray.remote(num_cpus=0, max_retries=0)(_sweep_node)
    pending = [
        sweep.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(
            str(out_dir.resolve()), patience_s, this_writer()
        )
        for node in ray.nodes()
        if node.get("Alive")
    ]
    with contextlib.suppress(Exception):
        ray.wait(pending, num_returns=len(pending), timeout=patience_s + 30.0)
    _sweep_node(str(out_dir), patience_s, this_writer())
