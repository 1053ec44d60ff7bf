"""Training data: listing, the train/validation split, decoding once into RAM, and augmentation.

Photos are decoded once (in parallel threads) into uint8 CHW tensors held in RAM; DataLoader
workers only crop/resize/flip them and return uint8 batches, and the RGB -> Lab conversion runs
on the whole batch on the training device (:mod:`colorize_cli.training.lab_torch`).

Augmentation randomness is drawn from a per-sample generator seeded by (run seed, epoch, index),
so a batch's content depends neither on the number of workers nor on where a run was resumed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, DistributedSampler, Sampler

from colorize_cli.errors import UsageError
from colorize_cli.fsutil import file_sha256
from colorize_cli.jobs import walk_folder


def list_images(dirs: Sequence[str | os.PathLike]) -> list[Path]:
    """All image files under ``dirs`` (recursively, as :func:`colorize_cli.jobs.walk_folder` finds
    them), resolved, sorted, without duplicates."""
    found: set[Path] = set()
    for d in dirs:
        d = Path(d)
        if d.is_file():
            found.add(d.resolve())
            continue
        if not d.is_dir():
            raise UsageError(f"training data folder not found: {d}")
        found.update(p.resolve() for p in walk_folder(d))
    return sorted(found)




def split_random(paths: Sequence[Path], val_fraction: float = 0.2, seed: int = 123, subset: int = 0):
    """The write-up's split: ``np.random.seed(123)``, choose N paths, permute, first 80% train."""
    rng = np.random.RandomState(seed)  # identical draws to np.random.seed(seed) + np.random.*
    n = min(subset, len(paths)) if subset else len(paths)
    chosen = rng.choice(np.array([str(p) for p in paths]), n, replace=False)
    rand_idxs = rng.permutation(n)
    n_train = int(round(n * (1.0 - val_fraction)))
    train = [Path(p) for p in chosen[rand_idxs[:n_train]]]
    val = [Path(p) for p in chosen[rand_idxs[n_train:]]]
    return train, val


def split_hash(paths: Sequence[Path], mod: int = 10, subset: int = 0):
    """Hold out the files whose sha256 (of the bytes) is 0 mod ``mod``: stable across folder sets."""
    train, val = [], []
    for p in paths:
        (val if int(file_sha256(p), 16) % mod == 0 else train).append(Path(p))
    if subset:
        train = train[:subset]
    return train, val


def manifest_sources(paths: Sequence[Path]) -> dict[Path, str]:
    """Each photo's source package, from the ``MANIFEST.csv`` beside it (column ``source_package``;
    a registry prefix such as ``npm:`` is dropped). Photos without a manifest row are their own
    source (their file name), so they are held out or kept one by one."""
    import csv

    by_dir: dict[Path, dict[str, str]] = {}
    out: dict[Path, str] = {}
    for p in paths:
        folder = Path(p).parent
        if folder not in by_dir:
            rows: dict[str, str] = {}
            manifest = folder / "MANIFEST.csv"
            if manifest.is_file():
                with open(manifest, newline="", encoding="utf-8") as fh:
                    for row in csv.DictReader(fh):
                        if row.get("file") and row.get("source_package"):
                            rows[row["file"]] = row["source_package"].split(":")[-1]
            by_dir[folder] = rows
        out[Path(p)] = by_dir[folder].get(Path(p).name, Path(p).name)
    return out


def source_held_out(source: str, mod: int = 4, rem: int = 3) -> bool:
    """The source split's fixed rule: a source package is held out when the sha256 of its name
    is ``rem`` mod ``mod``. On the project's 584 photos (4, 3) holds out 15 packages: 89 photos
    (15%), 28 of the 114 people photos (25%)."""
    return int(hashlib.sha256(source.encode("utf-8")).hexdigest(), 16) % mod == rem


def split_source(paths: Sequence[Path], mod: int = 4, rem: int = 3, subset: int = 0):
    """Hold out whole source packages (:func:`source_held_out`): no validation photo shares a
    source with a training photo, so the figures measure photos from sources never seen."""
    sources = manifest_sources(paths)
    train, val = [], []
    for p in paths:
        (val if source_held_out(sources[Path(p)], mod, rem) else train).append(Path(p))
    if subset:
        train = train[:subset]
    return train, val


def _decode(path: Path, short_side: int, square: int) -> torch.Tensor:
    with Image.open(path) as im:
        if square:
            im.draft("RGB", (square, square))
        elif short_side:
            im.draft("RGB", (short_side, short_side))
        im = im.convert("RGB")
        if square:  # the seed: bicubic resize of the whole photo to square x square
            im = im.resize((square, square), Image.BICUBIC)
        elif short_side and min(im.size) > short_side:
            w, h = im.size
            s = short_side / min(w, h)
            im = im.resize((max(short_side, round(w * s)), max(short_side, round(h * s))), Image.BICUBIC)
        arr = np.asarray(im, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def decode_all(
    paths: Sequence[Path], short_side: int = 0, square: int = 0, threads: int | None = None
) -> list[torch.Tensor]:
    """Decode ``paths`` into uint8 ``(3, H, W)`` tensors (short side reduced to ``short_side``, or
    resized to ``square`` x ``square``), in a thread pool (PIL releases the GIL while decoding)."""
    threads = threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda p: _decode(Path(p), short_side, square), paths))


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of one sample in one epoch (independent of workers, ranks and resumes)."""
    return (((seed & 0xFFFFF) << 42) | ((epoch & 0xFFFFF) << 21) | (index & 0x1FFFFF)) + 1


class PhotoDataset(Dataset):
    """Items are ``(index, seed)`` keys from :class:`SeededSampler`.

    Returns a uint8 ``(3, S, S)`` crop, and with ``degrade_p`` > 0 also the network's input L*
    ``(1, S, S)`` float32 in [0, 100]: the crop's own L*, "aged" by
    :func:`colorize_cli.degrade.degrade_l` with probability ``degrade_p``. The colour target is
    always the clean crop.
    """

    def __init__(
        self,
        images: list[torch.Tensor],
        size: int,
        augment: str = "crop",
        scale: tuple[float, float] = (0.2, 1.0),
        hflip: bool = True,
        degrade_p: float = 0.0,
    ) -> None:
        self.images = images
        self.degrade_p = degrade_p
        self.size = size
        self.augment = augment
        self.scale = scale
        self.hflip = hflip

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF

        index, seed = key if isinstance(key, tuple) else (key, key)
        g = torch.Generator()
        g.manual_seed(int(seed))
        img = self.images[index]
        s = self.size
        if self.augment == "resize":
            if img.shape[-2:] != (s, s):
                img = TF.resize(img, [s, s], interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
        else:
            top, left, h, w = random_resized_crop_box(img.shape[-2], img.shape[-1], self.scale, g)
            img = TF.resized_crop(
                img, top, left, h, w, [s, s], interpolation=TF.InterpolationMode.BILINEAR, antialias=True
            )
        if self.hflip and torch.rand((), generator=g).item() < 0.5:
            img = img.flip(-1)
        img = img.contiguous()
        if self.degrade_p <= 0:
            return img
        return img, self._input_l(img, int(torch.randint(0, 2**31 - 1, (1,), generator=g)))

    def _input_l(self, img: torch.Tensor, seed: int) -> torch.Tensor:
        from colorize_cli import lab
        from colorize_cli.degrade import degrade_l

        rng = np.random.default_rng(seed)
        L = lab.rgb_to_lab(img.permute(1, 2, 0).numpy() / np.float32(255.0))[..., 0].astype(np.float32)
        if rng.uniform() < self.degrade_p:
            L = degrade_l(L, rng)
        return torch.from_numpy(np.ascontiguousarray(L))[None]


def random_resized_crop_box(height: int, width: int, scale, g: torch.Generator, ratio=(3 / 4, 4 / 3)):
    """torchvision's RandomResizedCrop box, drawn from generator ``g``."""
    import math

    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * float(torch.empty(1).uniform_(scale[0], scale[1], generator=g))
        ar = math.exp(float(torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=g)))
        w = int(round(math.sqrt(target * ar)))
        h = int(round(math.sqrt(target / ar)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=g))
            left = int(torch.randint(0, width - w + 1, (1,), generator=g))
            return top, left, h, w
    side = min(height, width)  # fallback: the central square
    return (height - side) // 2, (width - side) // 2, side, side


class SeededSampler(Sampler):
    """A :class:`DistributedSampler` (per-epoch shuffle via ``set_epoch``; one rank's share) whose
    items are ``(index, per-sample seed)``; ``skip`` drops this rank's first items (exact resume)."""

    def __init__(self, n: int, seed: int, num_replicas: int = 1, rank: int = 0, shuffle: bool = True) -> None:
        self.base = DistributedSampler(
            range(n), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
        )
        self.seed = seed
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch = epoch
        self.skip = skip
        self.base.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for k, i in enumerate(self.base):
            if k < self.skip:
                continue
            yield int(i), sample_seed(self.seed, self.epoch, int(i))

    def __len__(self) -> int:
        return max(0, len(self.base) - self.skip)


def center_crop_square(img: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the short side to ``size`` and take the central ``size`` x ``size`` square (validation)."""
    from torchvision.transforms.v2 import functional as TF

    h, w = img.shape[-2:]
    if min(h, w) != size:
        s = size / min(h, w)
        img = TF.resize(
            img, [max(size, round(h * s)), max(size, round(w * s))],
            interpolation=TF.InterpolationMode.BICUBIC, antialias=True,
        )
    return TF.center_crop(img, [size, size]).contiguous()
