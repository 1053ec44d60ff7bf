"""DistributedDataParallel smoke test: 2 CPU processes (gloo), both ranks end with identical weights."""

from __future__ import annotations

import socket

import pytest

torch = pytest.importorskip("torch", reason="DDP training needs torch (the [train] extra)")
import torch.multiprocessing as mp  # noqa: E402

try:
    from tests.test_training import TINY_UNET, make_photos, tiny_config
except ImportError:  # tests/ is not a package: it is on sys.path itself
    from test_training import TINY_UNET, make_photos, tiny_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, data, out, result_dir):
    import os

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    from colorize_cli.training.distributed import cleanup, init_from_env
    from colorize_cli.training.trainer import Trainer

    info = init_from_env("cpu")
    cfg = tiny_config(data, max_steps=2, epochs=1, **TINY_UNET)
    tr = Trainer(cfg, out, dist_info=info, progress=False, log=lambda m: None)
    tr.run()
    params = {k: v.detach().clone() for k, v in tr.G_raw.named_parameters()}
    params.update({"D." + k: v.detach().clone() for k, v in tr.D_raw.named_parameters()})
    torch.save({"params": params, "step": tr.step}, f"{result_dir}/rank{rank}.pt")
    cleanup(info)


def test_ddp_two_processes_identical_weights(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed unavailable")
    data = make_photos(tmp_path / "photos", n=12)
    mp.spawn(_worker, args=(2, _free_port(), data, tmp_path / "run", tmp_path), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["step"] == r1["step"] == 2
    for k in r0["params"]:
        assert torch.equal(r0["params"][k], r1["params"][k]), k
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
