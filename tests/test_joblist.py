"""The plan kept on disk (colorize_cli.joblist): the local plan, the local refusals, no leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from colorize_cli.errors import UsageError
from tests.conftest import make_photo


def _tree(root: Path, n: int) -> Path:
    for i in range(n):
        folder = root / f"f{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        make_photo(16, 12, seed=i, mode="L").save(folder / f"p{i}.{'png' if i % 2 else 'jpg'}")
    return root


def _planned(inputs, out, **kw):
    from colorize_cli.joblist import plan_to_file, read_job_list

    plan = plan_to_file(inputs, out, out.parent / "plan.jsonl", **kw)
    jobs = list(read_job_list(plan.path))
    assert plan.count == len(jobs) and plan.out_dir == Path(out)
    return jobs, plan.warnings


@pytest.mark.parametrize("shard", [None, (1, 2), (2, 3), (3, 4)])
def test_plan_file_is_the_local_plan(tmp_path, shard, monkeypatch):
    from colorize_cli.jobs import plan_jobs, shard_jobs

    monkeypatch.chdir(tmp_path)
    src = _tree(Path("in"), n=11)
    (Path("in") / "empty").mkdir()
    # in/f1/p1.png named twice (one job), with more jobs after the repeat
    listed = [src / "f1" / "p1.png", Path("in/f1/p1.png"), Path("in/f2")]
    local, warnings = plan_jobs([src, Path("in/empty")], Path("out"), listed=listed)
    if shard:
        local = shard_jobs(local, *shard)
    on_disk, disk_warnings = _planned([src, Path("in/empty")], Path("out").absolute(), listed=listed, shard=shard)
    assert on_disk == [
        type(j)(j.source, Path("out").absolute() / j.output.relative_to("out"), j.display) for j in local
    ]
    assert disk_warnings == warnings and warnings


def test_plan_file_refuses_what_the_local_plan_refuses(tmp_path):
    from colorize_cli.jobs import plan_jobs

    src = tmp_path / "in"
    src.mkdir()
    make_photo(20, 20, mode="L").save(src / "a.jpg")
    make_photo(20, 20, mode="L").save(src / "a.png")
    for kw, match in (({"fmt": "png"}, "two inputs would write the same output"),):
        with pytest.raises(UsageError, match=match) as local:
            plan_jobs([src], tmp_path / "out", **kw)
        with pytest.raises(UsageError, match=match) as on_disk:
            _planned([src], tmp_path / "out", **kw)
        assert str(on_disk.value) == str(local.value)
    # An output that would replace an input: -o inside the tree, with the tree named as a folder.
    (src / "a.png").unlink()
    with pytest.raises(UsageError, match="refusing to overwrite an input") as refused:
        _planned([src / "a.jpg"], src, listed=[])
    assert str(src / "a.jpg") in str(refused.value)
    assert not list(tmp_path.glob("plan.jsonl*")), "no plan file left after a refusal"


def test_job_lines_keep_any_file_name_and_resolve_against_the_planning_folder(tmp_path, monkeypatch):
    import os

    from colorize_cli.joblist import decode_job, encode_job
    from colorize_cli.jobs import Job

    monkeypatch.chdir(tmp_path)
    odd = os.fsdecode(b"caf\xc3\xa9 \xff\xfe.jpg")  # UTF-8 and undecodable bytes (surrogate escapes)
    job = Job(Path("in") / odd, Path("out") / odd, f"in/{odd}")
    line = encode_job(job)
    assert line.isascii() and "\n" not in line
    assert decode_job(line) == job
    assert decode_job(line, absolute=True) == Job(tmp_path / "in" / odd, tmp_path / "out" / odd, f"in/{odd}")
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    monkeypatch.chdir(moved)  # a worker runs in another folder: the line still names the same files
    assert decode_job(line, absolute=True).source == tmp_path / "in" / odd


def test_plan_file_walks_sub_folders_only_when_recursive(tmp_path):
    from colorize_cli.jobs import plan_jobs

    src = _tree(tmp_path / "in", n=3)
    make_photo(16, 12, mode="L").save(src / "top.jpg")
    for recursive in (True, False):
        local, _ = plan_jobs([src], tmp_path / "out", recursive=recursive)
        on_disk, _ = _planned([src], tmp_path / "out", recursive=recursive)
        assert on_disk == local
    assert [j.source.name for j in on_disk] == ["top.jpg"]
