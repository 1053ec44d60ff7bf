"""The batch on Ray Data (issue 16): the same plan, the same bytes, faults survived, resumable.

The in-process tests share one local Ray (2 CPUs, no dashboard); the command-line ones start
their own, as a user's run does, and are slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from colorize_cli.api import colorize_paths
from colorize_cli.errors import UsageError
from colorize_cli.fsutil import TMP_PREFIX
from colorize_cli.ray_batch import EngineSpec, RayOptions
from tests.conftest import make_photo

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _tree(root: Path, n: int = 9, size: tuple[int, int] = (64, 48)) -> Path:
    for i in range(n):
        folder = root / f"f{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        make_photo(*size, seed=i, mode="L").save(folder / f"p{i}.{'png' if i % 2 else 'jpg'}")
    (root / "f0" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return root


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _records(path: Path) -> dict[str, dict]:
    """Report records by input, without the timing (the only field allowed to differ)."""
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(recs) == len({r["input"] for r in recs}), "one record per input"
    return {r["input"]: {k: v for k, v in r.items() if k != "seconds"} for r in recs}


def test_an_address_that_does_not_answer_is_refused_at_once(tmp_path):
    import socket

    assert not ray.is_initialized(), "runs before the module's shared Ray starts"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = _tree(tmp_path / "in", n=1)
    started = time.monotonic()
    with pytest.raises(UsageError, match="cannot reach the Ray cluster"):
        colorize_paths([src], tmp_path / "out", executor="ray", engine=EngineSpec(backend="onnx"),
                       ray_options=RayOptions(address=f"127.0.0.1:{port}"))
    assert time.monotonic() - started < 60  # Ray's own connect retries for minutes


def test_outputs_and_report_identical_to_the_local_engine(local_ray, tiny_models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths, as a user types them
    _tree(Path("in"))
    engine = EngineSpec(backend="onnx", model=str(tiny_models["onnx"]), threads=1)
    local = colorize_paths(["in"], "out_local", engine=engine, report="local.jsonl")
    on_ray = colorize_paths(["in"], "out_ray", engine=engine, report="ray.jsonl", executor="ray")
    assert (on_ray.done, on_ray.failed, on_ray.skipped) == (local.done, local.failed, local.skipped) == (9, 1, 0)
    assert _outputs(Path("out_ray")) == _outputs(Path("out_local"))
    local_recs = _records(Path("local.jsonl"))
    ray_recs = {k: {**v, "output": v["output"].replace("out_ray", "out_local")} for k, v in _records(Path("ray.jsonl")).items()}
    assert ray_recs == local_recs
    assert ray_recs["in/f0/broken.jpg"]["status"] == "failed" and ray_recs["in/f0/broken.jpg"]["error"]
    assert not list(Path("out_ray").rglob(f"{TMP_PREFIX}*")), "no plan or temporary file left"


def test_shard_and_resume_on_ray(local_ray, tiny_models, tmp_path):
    src = _tree(tmp_path / "in")
    engine = EngineSpec(backend="onnx", model=str(tiny_models["onnx"]), threads=1)
    colorize_paths([src], tmp_path / "local", engine=engine, shard=(2, 3))
    colorize_paths([src], tmp_path / "ray", engine=engine, shard=(2, 3), executor="ray")
    assert _outputs(tmp_path / "ray") == _outputs(tmp_path / "local") and _outputs(tmp_path / "ray")

    # Resume: the outputs of shard 2 exist; the whole tree now only colorizes the rest.
    results = []
    summary = colorize_paths([src], tmp_path / "ray", engine=engine, executor="ray", on_result=results.append)
    skipped = {r.job.display for r in results if r.status == "skipped"}
    assert skipped == {str(src / p) for p in _outputs(tmp_path / "local")}
    assert summary.done + summary.failed + summary.skipped == 10 and summary.done == 9 - len(skipped)


def test_an_interrupted_run_removes_what_a_late_writer_left(local_ray, tiny_models, tmp_path, monkeypatch):
    """A writer that outlives the in-run sweep (the cluster stopping it late) leaves no partial file."""
    from colorize_cli import fsutil, ray_batch

    out = tmp_path / "out"
    late = {}

    def interrupted_run(ray, plan, *args):
        writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
        own = fsutil.temp_path_for(out / "f0" / "p0.jpg")
        late["temp"] = own.with_name(own.name.replace(f"-{os.getpid()}-", f"-{writer.pid}-", 1))
        late["temp"].parent.mkdir(parents=True, exist_ok=True)
        late["temp"].write_bytes(b"partial")
        threading.Thread(target=writer.wait, daemon=True).start()  # reaped as it ends, as a worker is
        raise KeyboardInterrupt

    monkeypatch.setattr(ray_batch, "_run_dataset", interrupted_run)
    with pytest.raises(KeyboardInterrupt):
        colorize_paths([_tree(tmp_path / "in", n=2)], out, executor="ray",
                       engine=EngineSpec(backend="onnx", model=str(tiny_models["onnx"])))
    assert not late["temp"].exists()


def test_plan_refusals_are_the_local_ones(local_ray, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_photo(20, 20, mode="L").save(src / "a.jpg")
    make_photo(20, 20, mode="L").save(src / "a.png")
    for executor in ("local", "ray"):
        with pytest.raises(UsageError, match="two inputs would write the same output"):
            colorize_paths([src], tmp_path / executor, fmt="png", executor=executor,
                           engine=EngineSpec(backend="onnx"))
    assert not list((tmp_path / "ray").rglob(f"{TMP_PREFIX}*"))


def test_missing_extra_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(UsageError, match=r"colorize-cli\[ray\]"):
        colorize_paths([tmp_path], tmp_path / "out", executor="ray")
    fake = tmp_path / "no_ray"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n")
    env = {**os.environ, "PYTHONPATH": f"{fake}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "colorize_cli", str(tmp_path), "-o", str(tmp_path / "o"),
                           "--executor", "ray"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert 'pip install "colorize-cli[ray]"' in proc.stderr


def test_ray_workers_option_is_checked(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "colorize_cli", str(tmp_path), "-o", str(tmp_path / "o"),
                           "--executor", "ray", "--ray-workers", "3,1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "MIN <= MAX" in proc.stderr
    with pytest.raises(UsageError):
        RayOptions(workers=(0, 2))


# --- the command line, with its own local Ray (slow: each starts a Ray) -------------------------

def _start_cli(args: list, log: Path) -> subprocess.Popen:
    with open(log, "w") as fh:
        return subprocess.Popen([sys.executable, "-m", "colorize_cli", *map(str, args), "--executor", "ray", "-q"],
                                stdout=fh, stderr=subprocess.STDOUT)


def _wait_for_outputs(out: Path, n: int, proc: subprocess.Popen, timeout: float = 240.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        count = sum(1 for p in out.rglob("*.jpg") if not p.name.startswith("."))
        if count >= n:
            return count
        time.sleep(0.1)
    raise AssertionError(f"the run ended or stalled before {n} outputs")


def _worker_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "MapBatches\\(ColorizeWorker\\)"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.fixture()
def photo_tree(tmp_path) -> Path:
    root = tmp_path / "in"
    for i in range(60):
        folder = root / f"f{i // 20}"
        folder.mkdir(parents=True, exist_ok=True)
        make_photo(320, 240, seed=i, mode="L").save(folder / f"p{i:02d}.jpg", quality=90)
    return root


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_nothing_is_lost(photo_tree, tmp_path, tiny_models):
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    proc = _start_cli([photo_tree, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"], "--report", report,
                       "--ray-workers", "2,2"], tmp_path / "log")
    _wait_for_outputs(out, 5, proc)
    pids = _worker_pids()
    assert pids, "no Ray worker found"
    os.kill(pids[0], signal.SIGKILL)
    assert proc.wait(timeout=300) == 0, (tmp_path / "log").read_text()[-3000:]
    assert len(list(out.rglob("*.jpg"))) == 60
    records = _records(report)
    assert len(records) == 60 and all(r["status"] == "ok" for r in records.values())
    assert not list(out.rglob(f"{TMP_PREFIX}*")), "the killed writer's temporary file was removed"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_driver_then_resume(photo_tree, tmp_path, tiny_models, sig):
    out = tmp_path / "out"
    args = [photo_tree, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"]]
    proc = _start_cli(args, tmp_path / "log1")
    _wait_for_outputs(out, 5, proc)
    proc.send_signal(sig)
    rc = proc.wait(timeout=60)
    # SIGTERM: 143, not Ray's own handler's abort (134), which ray.init installs over the command's.
    want = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}[sig]
    assert rc == want, (tmp_path / "log1").read_text()[-3000:]
    deadline = time.monotonic() + 60  # a killed driver's workers may finish a photo or two as the cluster goes
    while _worker_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _worker_pids(), "the workers outlived the run"
    done_before = {p for p in out.rglob("*.jpg") if not p.name.startswith(".")}
    assert 0 < len(done_before) < 60
    if sig != signal.SIGKILL:
        assert not list(out.rglob(f"{TMP_PREFIX}*")), "workers stopped, no partial output"
    report = tmp_path / "resume.jsonl"
    proc = _start_cli([*args, "--report", report], tmp_path / "log2")
    assert proc.wait(timeout=300) == 0, (tmp_path / "log2").read_text()[-3000:]
    records = _records(report)
    assert len(records) == 60 and len(list(out.rglob("*.jpg"))) == 60
    skipped = {r["output"] for r in records.values() if r["status"] == "skipped"}
    assert skipped == {str(p) for p in done_before}
    assert not list(out.rglob(f"{TMP_PREFIX}*"))
    if sig == signal.SIGKILL:  # Ray's node agents of the killed driver's local Ray outlive it
        subprocess.run(["pkill", "-9", "-f", "ray::DashboardAgent|ray::RuntimeEnvAgent"], check=False)



def test_a_bad_model_is_refused_before_the_cluster(tmp_path):
    from colorize_cli.errors import ModelError

    (tmp_path / "in").mkdir()
    make_photo(20, 20, mode="L").save(tmp_path / "in" / "a.jpg")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        colorize_paths([tmp_path / "in"], tmp_path / "out", executor="ray", engine=EngineSpec(model=str(bad)))
    assert not (tmp_path / "out").exists(), "refused before planning (and before any cluster)"


def test_a_retried_block_reports_what_the_lost_worker_wrote_as_done(tmp_path, tiny_models):
    """Ray retries a dead worker's block on a new one: the outputs the dead one finished are done
    in this run (the driver sent only missing ones), not 'skipped'."""
    from colorize_cli.joblist import encode_job
    from colorize_cli.jobs import Job
    from colorize_cli.ray_batch import ColorizeWorker
    from colorize_cli.runner import RunOptions

    (tmp_path / "out").mkdir()
    for name in ("a", "b"):
        make_photo(40, 30, 1, "L").save(tmp_path / f"{name}.jpg")
    make_photo(40, 30, 1, "RGB").save(tmp_path / "out" / "a.jpg")  # the lost worker's output
    worker = ColorizeWorker(EngineSpec(backend="onnx", model=str(tiny_models["onnx"]), threads=1),
                            RunOptions(fixity=True, workers=1, model_calls=1))
    lines = [encode_job(Job(tmp_path / f"{n}.jpg", tmp_path / "out" / f"{n}.jpg", n)) for n in ("a", "b")]
    import numpy as np

    rows = [json.loads(r) for r in worker({"text": np.array(lines, dtype=object)})["result"]]
    (a, _), (b, _) = rows
    assert a["status"] == b["status"] == "ok" and "earlier attempt" in a["notes"][0]
    assert a["input_kind"] == "gray" and {"input_sha256", "output_sha256", "model_sha256"} <= a.keys()


def test_workers_the_cluster_cannot_hold_are_refused_not_waited_for(local_ray, tmp_path):
    src = _tree(tmp_path / "in", n=2)
    for ray_options, kind in ((RayOptions(gpus_per_worker=0.5), "GPUs"), (RayOptions(cpus_per_worker=4), "CPUs")):
        with pytest.raises(UsageError, match=f"the Ray cluster has [0-9.]+ {kind}"):
            colorize_paths([src], tmp_path / "out", executor="ray", engine=EngineSpec(backend="onnx"),
                           ray_options=ray_options)
    assert not list((tmp_path / "out").rglob(f"{TMP_PREFIX}*"))

