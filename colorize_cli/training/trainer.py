"""The training loop: the seed's pix2pix GAN step, warm-up, validation, samples, checkpoints, resume.

One :class:`Trainer` runs on one process; under ``torchrun`` every rank runs one, the nets are
wrapped in DistributedDataParallel, and only rank 0 logs, validates and writes files.
"""

from __future__ import annotations

import importlib
import json
import math
import random
import signal
import sys
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from colorize_cli import lab as lab_np
from colorize_cli.checkpoint import clean_state_dict, make_checkpoint, read_checkpoint, save_checkpoint
from colorize_cli.device import resolve_device
from colorize_cli.errors import UsageError
from colorize_cli.fsutil import atomic_target
from colorize_cli.models import build_generator, count_parameters
from colorize_cli.models.config import GeneratorConfig
from colorize_cli.models.mobilenetv2 import imagenet_last_layer_state
from colorize_cli.training import data as D
from colorize_cli.training.config import TrainConfig
from colorize_cli.training.discriminator import PatchDiscriminator, init_weights
from colorize_cli.training.distributed import DistInfo, any_flag, barrier, init_from_env, mean_scalar
from colorize_cli.training.lab_torch import model_outputs_to_rgb, rgb_to_model_inputs
from colorize_cli.training.losses import GANLoss

LOSS_NAMES = ("loss_D_fake", "loss_D_real", "loss_D", "loss_G_GAN", "loss_G_L1", "loss_G_CE", "loss_G")
WEIGHTS_HINT = (
    "the default preset initializes its encoder from torchvision's ImageNet MobileNetV2 weights "
    "(mobilenet_v2-b0353104.pth), which are not in the torch hub cache and cannot be downloaded. "
    "Place the file offline with: python -m colorize_cli.training.provision_weights [--from FILE] "
    "(or pass --no-pretrained-encoder)"
)


# --- RNG state as checkpoint-safe tensors/lists --------------------------------------------------
def get_rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": [int(py_state[0]), [int(x) for x in py_state[1]], py_state[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _ignore_sigint(_worker_id: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C


def _set_requires_grad(model: nn.Module, flag: bool) -> None:
    for p in model.parameters():
        p.requires_grad = flag


def _load_all_but(G: nn.Module, state: dict, path: Path, *, new: tuple[str, ...]) -> None:
    """Load ``state`` into ``G``; only the weights whose names start with ``new`` may be missing
    (parts the file's model does not have, which keep their fresh values)."""
    missing, unexpected = G.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(new) for k in missing):
        raise UsageError(f"--init-generator {path}: unexpected weights {unexpected or missing}")


class Trainer:
    """Build everything from a :class:`TrainConfig`; :meth:`run` trains and returns a summary."""

    def __init__(
        self,
        cfg: TrainConfig,
        out_dir: str | Path,
        *,
        resume: bool = False,
        dist_info: DistInfo | None = None,
        progress: bool | None = None,
        log=None,
    ) -> None:
        self.t0 = time.monotonic()
        self.cfg = cfg
        self.out = Path(out_dir)
        self.dist = dist_info or init_from_env(cfg.device)
        self.main = self.dist.is_main
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.stop_requested = False
        if cfg.tensorboard and self.main:  # fail before the data and nets are loaded
            try:
                importlib.import_module("torch.utils.tensorboard")
            except ImportError:
                raise UsageError("--tensorboard needs the 'tensorboard' package: pip install tensorboard") from None
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.device = self._pick_device()
        seed_everything(cfg.seed + self.dist.rank * 0)  # same init on all ranks (DDP also broadcasts)
        self.gcfg = cfg.generator
        self.resuming = resume
        self._setup_data()
        self._setup_models()
        self.epoch = 0
        self.batch_in_epoch = 0
        self.step = 0
        self.best_val = math.inf
        self.baseline: dict[str, float] | None = None
        self.last_val: dict[str, float] = {}
        self.tb = None
        if resume:
            self._load_resume(self.out / "checkpoints" / "last.pt")
        if self.main:
            self._prepare_run_dir()

    # --- setup -----------------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        if self.main:
            self._log(msg)

    def _pick_device(self) -> torch.device:
        if self.dist.enabled and torch.cuda.is_available() and self.cfg.device in ("auto", "cuda"):
            return torch.device("cuda", self.dist.local_rank)
        return resolve_device(self.cfg.device)

    def _setup_data(self) -> None:
        cfg = self.cfg
        paths = D.list_images(cfg.data_dirs)
        if len(paths) < 2:
            raise UsageError(f"need at least 2 training images, found {len(paths)} in {', '.join(cfg.data_dirs)}")
        if cfg.split == "random":
            train, val = D.split_random(paths, cfg.val_fraction, cfg.split_seed, cfg.subset)
        elif cfg.split == "source":
            train, val = D.split_source(paths, cfg.source_mod, cfg.source_rem, cfg.subset)
        else:
            train, val = D.split_hash(paths, cfg.hash_mod, cfg.subset)
        if not train or not val:
            raise UsageError(f"the {cfg.split!r} split left {len(train)} training and {len(val)} validation images")
        self.train_paths, self.val_paths = train, val
        square = cfg.crop_size if cfg.augment == "resize" else 0
        t = time.monotonic()
        train_imgs = D.decode_all(train, short_side=cfg.predecode_size, square=square)
        val_imgs = D.decode_all(val, short_side=cfg.predecode_size, square=square)
        val_size = cfg.val_size or cfg.crop_size
        if val_size % self.gcfg.stride:
            raise UsageError(f"val size {val_size} must be a multiple of {self.gcfg.stride} for this generator")
        self.val_rgb = torch.stack([D.center_crop_square(im, val_size) for im in val_imgs])
        self.val_faces = self._find_val_faces()
        self.log(
            f"data: {len(train)} training + {len(val)} validation photos ({cfg.split} split), "
            f"decoded into RAM in {time.monotonic() - t:.1f}s"
        )
        self.dataset = D.PhotoDataset(
            train_imgs, cfg.crop_size, cfg.augment, cfg.crop_scale, cfg.hflip, degrade_p=cfg.degrade_p
        )
        self.batch_size = min(cfg.batch_size, max(1, len(train) // self.dist.world_size))
        self.sampler = D.SeededSampler(
            len(train), cfg.seed, num_replicas=self.dist.world_size, rank=self.dist.rank, shuffle=True
        )
        workers = cfg.num_workers
        loader_gen = torch.Generator()
        loader_gen.manual_seed(cfg.seed)
        self.loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=self.sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            drop_last=True,
            worker_init_fn=_ignore_sigint if workers > 0 else None,
            generator=loader_gen,
            prefetch_factor=4 if workers > 0 else None,
        )

    def _setup_models(self) -> None:
        cfg = self.cfg
        # Fine-tuning starts from a model file's weights: the ImageNet encoder is not needed then.
        # A resumed run takes every weight from its last.pt (the --init-generator file may be gone).
        fresh = not cfg.init_generator and not self.resuming
        pretrained = cfg.pretrained_encoder and cfg.generator.arch == "mobilenet_unet" and fresh
        try:
            G = build_generator(self.gcfg, pretrained_encoder=pretrained)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError
            if pretrained:
                raise UsageError(f"{WEIGHTS_HINT} ({type(exc).__name__}: {exc})") from None
            raise
        if cfg.init_normal:
            if cfg.generator.arch == "unet":
                init_weights(G)
            else:  # keep the pretrained encoder; the seed's init for the decoder
                for name, child in G.named_children():
                    if name != "stages" or not pretrained:
                        init_weights(child)
        if cfg.init_generator and not self.resuming:
            self._init_generator_from(G, Path(cfg.init_generator))
        Dnet = init_weights(PatchDiscriminator(3, cfg.disc_filters, cfg.disc_n_down))
        if cfg.sync_bn and self.dist.enabled:
            G = nn.SyncBatchNorm.convert_sync_batchnorm(G)
            Dnet = nn.SyncBatchNorm.convert_sync_batchnorm(Dnet)
        G.to(self.device)
        Dnet.to(self.device)
        self.cuda = self.device.type == "cuda"
        if self.cuda and cfg.channels_last:
            G.to(memory_format=torch.channels_last)
            Dnet.to(memory_format=torch.channels_last)
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        self.G_raw, self.D_raw = G, Dnet
        self.frozen_encoder = cfg.generator.arch == "mobilenet_unet" and cfg.encoder_lr_mult == 0.0
        if self.frozen_encoder:
            for part in G.encoder_modules():
                _set_requires_grad(part, False)
        # The EMA copy is what validation measures and what checkpoints ship (torch's own averager).
        self.G_ema = None
        if cfg.ema_decay > 0:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.G_ema = AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        # optimizers (on the raw modules' parameters; DDP shares them)
        if self.frozen_encoder:
            groups = [{"params": [p for p in G.parameters() if p.requires_grad], "lr": cfg.lr}]
        elif cfg.generator.arch == "mobilenet_unet" and cfg.encoder_lr_mult != 1.0:
            enc = list(G.encoder_parameters())
            enc_ids = {id(p) for p in enc}
            rest = [p for p in G.parameters() if id(p) not in enc_ids]
            groups = [{"params": rest, "lr": cfg.lr}, {"params": enc, "lr": cfg.lr * cfg.encoder_lr_mult}]
        else:
            groups = [{"params": list(G.parameters()), "lr": cfg.lr}]
        self.opt_G = torch.optim.Adam(groups, lr=cfg.lr, betas=tuple(cfg.betas))
        self.opt_D = torch.optim.Adam(Dnet.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas))
        # mixed precision on CUDA: bf16 where supported (no scaler needed), else fp16 + GradScaler
        self.amp_dtype = None
        if self.cuda and cfg.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.cuda else None
            self.G = DDP(G, device_ids=ids)
            self.D = DDP(Dnet, device_ids=ids)
        else:
            self.G, self.D = G, Dnet
        if cfg.compile:
            self.G = torch.compile(self.G)
        self.gan_loss = GANLoss(cfg.gan_mode).to(self.device)
        self.l1 = nn.L1Loss()
        self.class_loss = None
        if cfg.l1_rebalance < 1.0 or self.gcfg.ab_head == "classification":
            from colorize_cli.training.losses import ColourRebalancedL1, SoftClassLoss, rebalance_weights

            table = rebalance_weights(self._ab_samples(), cfg.l1_rebalance) if cfg.l1_rebalance < 1.0 else None
            if self.gcfg.ab_head == "classification":
                self.class_loss = SoftClassLoss(G.ab_centres.cpu(), table).to(self.device)
            else:
                self.l1 = ColourRebalancedL1(table).to(self.device)
        self.feature_loss = None
        if cfg.feature_weight > 0:
            from colorize_cli.training.losses import imagenet_feature_loss

            try:
                self.feature_loss = imagenet_feature_loss().to(self.device)
            except (OSError, RuntimeError) as exc:
                raise UsageError(f"{WEIGHTS_HINT} ({type(exc).__name__}: {exc})") from None
        self.log(
            f"models: {cfg.generator.arch} generator {count_parameters(G):,} params"
            f"{' (ImageNet encoder)' if pretrained else ''}, PatchGAN {count_parameters(Dnet):,} params; "
            f"device {self.device}{', ' + str(self.amp_dtype).replace('torch.', '') if self.amp_dtype else ''}"
            f"{f', {self.dist.world_size} processes' if self.dist.enabled else ''}"
        )

    def _ab_samples(self, per_photo: int = 4096) -> torch.Tensor:
        """True ab (Lab units) of pixels drawn from every training photo: the colour histogram
        the rebalanced L1 is built from (same draw on every rank and resume)."""
        g = torch.Generator().manual_seed(self.cfg.seed)
        out = []
        for img in self.dataset.images:
            flat = img.reshape(3, -1)
            pick = torch.randint(0, flat.shape[1], (per_photo,), generator=g)
            _, ab = rgb_to_model_inputs(flat[:, pick].reshape(1, 3, per_photo, 1))
            out.append(ab[0].reshape(2, -1).t() * lab_np.AB_SCALE)
        return torch.cat(out)

    def _init_generator_from(self, G: nn.Module, path: Path) -> None:
        """Load a model file's generator weights into ``G`` (fine-tuning).

        The architectures must match, with one exception: a ``mobilenet_unet`` whose decoder is the
        file's with its last level(s) cut off (e.g. widths 256,128,64,32 from 256,128,64,32,32)
        takes the encoder and the shared decoder levels, and starts its head afresh (the head
        then reads other features).
        """
        ckpt = read_checkpoint(path)
        theirs = GeneratorConfig.from_dict(dict(ckpt["generator_config"])).to_dict()
        ours = self.gcfg.network_shape()
        diff = [k for k in ours if ours[k] != theirs.get(k)]
        if not diff:
            G.load_state_dict(ckpt["generator"])
            self.log(f"generator initialized from {path}")
            return
        mine, file_dc = ours.get("decoder_channels"), theirs.get("decoder_channels")
        if diff == ["decoder_channels"] and list(file_dc[: len(mine)]) == list(mine):
            state = {k: v for k, v in ckpt["generator"].items() if not k.startswith(("head.", "up0."))}
            _load_all_but(G, state, path, new=("head.",))
            self.log(
                f"generator initialized from {path}: encoder and {len(mine)} decoder levels "
                f"(the file has {len(file_dc)}); new head"
            )
            return
        if diff == ["ab_head"] and ours["ab_head"] == "classification":
            # A regression model: every weight, and a classification head that starts at zero on
            # top of its regression estimate (the model's colours are the file's to begin with).
            _load_all_but(G, ckpt["generator"], path, new=("class_head.", "ab_centres"))
            self.log(f"generator initialized from {path}: all its weights; a classification head anchored on its ab")
            return
        if diff == ["global_context"] and ours["global_context"]:
            # A model without global context: every weight; ImageNet's last layer; a fusion at zero.
            self._load_adding_global_context(G, ckpt["generator"], path)
            return
        detail = ", ".join(f"{k}: file {theirs.get(k)!r}, run {ours.get(k)!r}" for k in diff)
        raise UsageError(f"--init-generator {path}: its generator differs from this run's ({detail})")

    def _load_adding_global_context(self, G: nn.Module, state: dict, path: Path) -> None:
        _load_all_but(G, state, path, new=("global_conv.", "global_fuse."))
        if self.cfg.pretrained_encoder:
            try:
                G.global_conv.load_state_dict(imagenet_last_layer_state())
            except (OSError, RuntimeError) as exc:
                raise UsageError(f"{WEIGHTS_HINT} ({type(exc).__name__}: {exc})") from None
        self.log(f"generator initialized from {path}: all its weights; global context added (at zero)")

    def _prepare_run_dir(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "samples").mkdir(exist_ok=True)
        (self.out / "checkpoints").mkdir(exist_ok=True)
        self._write_text(self.out / "config.json", self.cfg.to_json() + "\n")
        self._write_text(self.out / "val_files.txt", "".join(f"{p}\n" for p in self.val_paths))
        if self.cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise UsageError("--tensorboard needs the 'tensorboard' package: pip install tensorboard") from None
            self.tb = SummaryWriter(str(self.out / "tensorboard"))

    @staticmethod
    def _write_text(path: Path, text: str) -> None:
        with atomic_target(path) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")

    def _append_metrics(self, record: dict[str, Any]) -> None:
        if not self.main:
            return
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")

    # --- checkpoints -----------------------------------------------------------------------------
    def _checkpoint(self, *, full: bool) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "discriminator": clean_state_dict(self.D_raw.state_dict()),
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "step": self.step,
            "best_val_l1": self.best_val if math.isfinite(self.best_val) else None,
            "train_config": self.cfg.to_dict(),
            "meta": {"val": dict(self.last_val), "gray_baseline": dict(self.baseline or {}), "epoch": self.epoch},
        }
        shipped = self.G_raw
        if self.G_ema is not None:
            shipped = self.G_ema.module
            extra["ema_updates"] = int(self.G_ema.n_averaged)
            if full:
                extra["generator_train"] = clean_state_dict(self.G_raw.state_dict())
        if full:
            extra.update(
                optimizer_g=self.opt_G.state_dict(),
                optimizer_d=self.opt_D.state_dict(),
                scaler=self.scaler.state_dict(),
                rng=get_rng_state(),
            )
        return make_checkpoint(shipped, self.gcfg, **extra)

    def save(self, best: bool = False) -> None:
        if not self.main:
            return
        save_checkpoint(self.out / "checkpoints" / "last.pt", self._checkpoint(full=True))
        if best:  # best.pt: weights + meta (no optimizer state: it is for inference/export)
            save_checkpoint(self.out / "checkpoints" / "best.pt", self._checkpoint(full=False))

    def _load_resume(self, path: Path) -> None:
        ckpt = read_checkpoint(path)
        if "optimizer_g" not in ckpt:
            raise UsageError(f"{path}: not a resumable training checkpoint")
        self.G_raw.load_state_dict(ckpt["generator"])  # the EMA run's training weights: below
        self.D_raw.load_state_dict(ckpt["discriminator"])
        self.opt_G.load_state_dict(ckpt["optimizer_g"])
        self.opt_D.load_state_dict(ckpt["optimizer_d"])
        # The optimizer state carries the learning rates it was saved with; the resolved config
        # wins, so '--resume RUN --lr 5e-5' really continues at the new rate.
        if self.G_ema is not None:
            self.G_ema.module.load_state_dict(ckpt["generator"])
            self.G_ema.n_averaged.fill_(int(ckpt.get("ema_updates", 1)))
            self.G_raw.load_state_dict(ckpt["generator_train"])
        g_rates = [self.cfg.lr] + [self.cfg.lr * self.cfg.encoder_lr_mult] * (len(self.opt_G.param_groups) - 1)
        for group, lr in zip(self.opt_G.param_groups, g_rates, strict=True):
            group["lr"] = lr
        for group in self.opt_D.param_groups:
            group["lr"] = self.cfg.lr_d
        self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch = int(ckpt["epoch"])
        self.batch_in_epoch = int(ckpt["batch_in_epoch"])
        self.step = int(ckpt["step"])
        best = ckpt.get("best_val_l1")
        self.best_val = float(best) if best is not None else math.inf
        meta = ckpt.get("meta") or {}
        self.baseline = dict(meta.get("gray_baseline") or {}) or None
        self.last_val = dict(meta.get("val") or {})
        set_rng_state(ckpt["rng"])
        self.log(f"resumed from {path}: epoch {self.epoch + 1}, batch {self.batch_in_epoch}, step {self.step}")

    # --- one step ----------------------------------------------------------------------------------
    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def train_step(self, batch, gan: bool = True) -> dict[str, float]:
        """The seed's ``optimize``: D on (fake detached, real), then G on GAN (D frozen) + lambda * L1.

        ``batch`` is uint8 RGB ``(N, 3, S, S)``, or ``(rgb, L_input)`` with the (possibly aged) input
        L* ``(N, 1, S, S)`` in [0, 100] that replaces the crop's own L* as the network's input and
        in the pairs the discriminator judges.
        """
        rgb, L_input = batch if isinstance(batch, (tuple, list)) else (batch, None)
        rgb = rgb.to(self.device, non_blocking=True)
        L, ab = rgb_to_model_inputs(rgb)  # vectorized on the device, float32
        L_clean = L
        if L_input is not None:
            L = L_input.to(self.device, non_blocking=True) / lab_np.L_SCALE - lab_np.L_SHIFT
        return self.train_step_lab(L, ab, gan=gan, L_clean=L_clean)

    def train_step_lab(
        self, L: torch.Tensor, ab: torch.Tensor, gan: bool = True, L_clean: torch.Tensor | None = None
    ) -> dict[str, float]:
        """:meth:`train_step` on normalized ``L`` ``(N, 1, H, W)`` and ``ab`` ``(N, 2, H, W)``;
        ``L_clean`` is the target's own L* where ``L`` was aged (the feature loss composes with it,
        so it judges the colour alone)."""
        cfg = self.cfg
        L = L.to(self.device, non_blocking=True)
        ab = ab.to(self.device, non_blocking=True)
        L_clean = L if L_clean is None else L_clean.to(self.device, non_blocking=True)
        if self.cuda and cfg.channels_last:
            L = L.contiguous(memory_format=torch.channels_last)
            ab = ab.contiguous(memory_format=torch.channels_last)
        self.G.train()
        if self.frozen_encoder:
            for part in self.G_raw.encoder_modules():
                part.eval()  # frozen: ImageNet's BatchNorm statistics, not this batch's
        with self._autocast():
            if self.class_loss is not None:
                fake, logits = self.G(L, return_logits=True)
            else:
                fake = self.G(L)
        out: dict[str, float] = {}
        if gan:
            self.D.train()
            _set_requires_grad(self.D_raw, True)
            self.opt_D.zero_grad(set_to_none=True)
            with self._autocast():
                fake_image = torch.cat([L, fake], 1)
                fake_preds = self.D_raw(fake_image.detach())
                loss_D_fake = self.gan_loss(fake_preds, False)
                real_preds = self.D(torch.cat([L, ab], 1))  # the DDP wrapper: one synced forward
                loss_D_real = self.gan_loss(real_preds, True)
                loss_D = (loss_D_fake + loss_D_real) * 0.5
            self.scaler.scale(loss_D).backward()
            self.scaler.step(self.opt_D)
            _set_requires_grad(self.D_raw, False)
            out.update(loss_D_fake=loss_D_fake.item(), loss_D_real=loss_D_real.item(), loss_D=loss_D.item())
        self.opt_G.zero_grad(set_to_none=True)
        with self._autocast():
            if self.class_loss is not None:
                # lambda_l1 weighs the cross-entropy here (about 100x smaller than L1 on normalized ab)
                loss_G_L1 = self.class_loss(logits, ab) * cfg.lambda_l1
            else:
                loss_G_L1 = self.l1(fake.float(), ab) * cfg.lambda_l1
            loss_G = loss_G_L1
            if gan:
                loss_G_GAN = self.gan_loss(self.D_raw(fake_image), True)  # D frozen, no DDP sync needed
                loss_G = loss_G + loss_G_GAN * cfg.gan_weight
            if self.feature_loss is not None:
                pred_rgb = model_outputs_to_rgb(L_clean, fake.float())
                loss_G_feat = self.feature_loss(pred_rgb, model_outputs_to_rgb(L_clean, ab)) * cfg.feature_weight
                loss_G = loss_G + loss_G_feat
        self.scaler.scale(loss_G).backward()
        self.scaler.step(self.opt_G)
        self.scaler.update()
        if self.G_ema is not None:
            self.G_ema.update_parameters(self.G_raw)
        if gan:
            _set_requires_grad(self.D_raw, True)
            out["loss_G_GAN"] = loss_G_GAN.item()
        if self.feature_loss is not None:
            out["loss_G_feat"] = loss_G_feat.item()
        out.update({"loss_G_CE" if self.class_loss is not None else "loss_G_L1": loss_G_L1.item(), "loss_G": loss_G.item()})
        return out

    # --- validation --------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_ab(self, rgb: torch.Tensor, batch: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(L*, ab true, ab predicted) in Lab units, NHWC numpy, for uint8 RGB ``(N, 3, S, S)``."""
        G = self.G_ema.module if self.G_ema is not None else self.G_raw
        was_training = G.training
        G.eval()
        Ls, abs_true, abs_pred = [], [], []
        for i in range(0, len(rgb), batch):
            L, ab = rgb_to_model_inputs(rgb[i : i + batch].to(self.device))
            x = L.contiguous(memory_format=torch.channels_last) if self.cuda and self.cfg.channels_last else L
            with self._autocast():
                pred = G(x).float()
            Ls.append(((L[:, 0] + lab_np.L_SHIFT) * lab_np.L_SCALE).cpu().numpy())
            abs_true.append((ab * lab_np.AB_SCALE).permute(0, 2, 3, 1).cpu().numpy())
            abs_pred.append((pred * lab_np.AB_SCALE).permute(0, 2, 3, 1).cpu().numpy())
        G.train(was_training)
        return np.concatenate(Ls), np.concatenate(abs_true), np.concatenate(abs_pred)

    @staticmethod
    def _to_rgb255(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
        return np.clip(lab_np.lab_to_rgb_preserving_l(L, ab) * 255.0 + 0.5, 0, 255).astype(np.uint8)

    # The training log's names for evaluate's per-image figures (colorize_cli.evaluation.score_pair,
    # the one scorer): both measure the written sRGB pixels the same way.
    _VAL_KEYS = {"psnr": "psnr", "ssim": "ssim", "cf_pred": "colorfulness", "cf_orig": "colorfulness_orig",
                 "delta_cf": "delta_cf", "ab_l1": "ab_l1", "auc": "auc"}

    def _image_metrics(self, L, ab_true, ab_pred, originals) -> dict[str, float]:
        from colorize_cli.evaluation import score_pair

        sums: dict[str, float] = defaultdict(float)
        for k in range(len(L)):
            values = score_pair(self._to_rgb255(L[k], ab_pred[k]), None, originals[k])
            for theirs, ours in self._VAL_KEYS.items():
                sums[ours] += values[theirs]
        n = max(len(L), 1)
        res = {k: v / n for k, v in sums.items()}
        res["colorfulness_ratio"] = res["colorfulness"] / max(res["colorfulness_orig"], 1e-9)
        if self.val_faces is not None:
            from colorize_cli import faces

            count = faces.FaceCount(0, 0)
            for k, boxes in self.val_faces.items():
                lab_pred = np.concatenate([L[k][..., None], ab_pred[k]], axis=-1)
                count = count + faces.count_patched(lab_pred, boxes)
            res["faces"], res["faces_patched"] = float(count.faces), float(count.patched)
        return res

    def _find_val_faces(self) -> dict[int, list] | None:
        """The validation photos' skin-toned frontal faces (None without OpenCV): found once."""
        from colorize_cli import faces

        if not faces.available():
            self.log("face-patch metric off: OpenCV is not installed (pip install opencv-python-headless)")
            return None
        found = {}
        for k, img in enumerate(self.val_rgb.permute(0, 2, 3, 1).numpy()):
            boxes = faces.eligible_faces(lab_np.rgb_to_lab(img / np.float32(255.0)))
            if boxes:
                found[k] = boxes
        return found

    def validate(self) -> dict[str, float]:
        t = time.monotonic()
        originals = self.val_rgb.permute(0, 2, 3, 1).numpy()
        L, ab_true, ab_pred = self.predict_ab(self.val_rgb)
        if self.baseline is None:
            self.baseline = self._image_metrics(L, ab_true, np.zeros_like(ab_true), originals)
            self._append_metrics({"type": "gray_baseline", **self.baseline})
            self.log(
                f"gray baseline (ab=0): PSNR {self.baseline['psnr']:.2f} dB, SSIM {self.baseline['ssim']:.4f}, "
                f"ab L1 {self.baseline['ab_l1']:.2f}, originals' colorfulness {self.baseline['colorfulness_orig']:.1f}"
            )
        res = self._image_metrics(L, ab_true, ab_pred, originals)
        res["l1_norm"] = res["ab_l1"] / lab_np.AB_SCALE
        res["psnr_gain_vs_gray"] = res["psnr"] - self.baseline["psnr"]
        res["time_s"] = time.monotonic() - t
        self._write_samples(L, ab_pred, originals)
        return res

    def _write_samples(self, L, ab_pred, originals) -> None:
        from PIL import Image

        n = min(self.cfg.sample_count, len(L))
        if n == 0:
            return
        gray = [np.repeat(self._to_rgb255(L[k], np.zeros_like(ab_pred[k]))[..., :1], 3, -1) for k in range(n)]
        pred = [self._to_rgb255(L[k], ab_pred[k]) for k in range(n)]
        rows = [np.concatenate(r, axis=1) for r in (gray, pred, [originals[k] for k in range(n)])]
        grid = np.concatenate(rows, axis=0)  # rows: gray input / prediction / ground truth
        path = self.out / "samples" / f"{getattr(self, '_sample_tag', f'epoch_{self.epoch:04d}')}.png"
        with atomic_target(path) as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")
        if self.tb is not None:
            self.tb.add_image("samples", grid, self.step, dataformats="HWC")

    # --- the loop ----------------------------------------------------------------------------------
    def _install_sigint(self):
        def handler(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            self._log("interrupt: finishing this step and saving checkpoints/last.pt (Ctrl-C again to abort)")

        try:
            return signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread
            return None

    def _out_of_time(self) -> bool:
        cfg = self.cfg
        if cfg.max_steps and self.step >= cfg.max_steps:
            return True
        if cfg.max_minutes > 0:
            reserve = self.last_val.get("time_s", 0.0) + getattr(self, "_ckpt_time", 0.0) + 5.0
            return time.monotonic() - self.t0 + reserve >= cfg.max_minutes * 60.0
        return False

    def _finish_epoch_or_stop(self, epoch_done: bool, meters, n_imgs, t_epoch, stopped: bool = False) -> None:
        cfg = self.cfg
        avg = {k: s / c for k, (s, c) in meters.items()}
        avg = mean_scalar(self.dist, avg, self.device)
        record: dict[str, Any] = {
            "type": "epoch" if epoch_done else "partial_epoch",
            "epoch": self.epoch + (1 if epoch_done else 0),
            "step": self.step,
            "phase": "warmup" if self.epoch < cfg.warmup_epochs else "gan",
            "img_per_s": n_imgs * self.dist.world_size / max(time.monotonic() - t_epoch, 1e-9),
            "elapsed_s": time.monotonic() - self.t0,
            **avg,
        }
        last_epoch = epoch_done and self.epoch + 1 >= cfg.epochs
        do_val = (not epoch_done) or last_epoch or ((self.epoch + 1) % max(cfg.val_every, 1) == 0)
        if epoch_done:
            self.epoch += 1
            self.batch_in_epoch = 0
        self._sample_tag = f"epoch_{self.epoch:04d}" if epoch_done else f"epoch_{self.epoch + 1:04d}_partial"
        best = False
        if self.main and do_val:
            val = self.validate()
            self.last_val = val
            record["val"] = val
            if val["ab_l1"] < self.best_val:
                self.best_val = val["ab_l1"]
                best = True
            if self.tb is not None:
                for k, v in val.items():
                    self.tb.add_scalar(f"val/{k}", v, self.step)
        if self.tb is not None:
            for k in LOSS_NAMES:
                if k in avg:
                    self.tb.add_scalar(f"epoch/{k}", avg[k], self.step)
        self._append_metrics(record)
        # On a small photo set and a fast GPU an epoch lasts about a second: writing the full resume
        # state every epoch would cost more than the epoch, hence --save-every (stops always save).
        if best or stopped or last_epoch or self.epoch % cfg.save_every == 0:
            t = time.monotonic()
            self.save(best=best)
            self._ckpt_time = time.monotonic() - t
        if self.main and epoch_done and cfg.keep_every and self.epoch % cfg.keep_every == 0:
            path = self.out / "checkpoints" / f"epoch_{self.epoch:04d}.pt"
            save_checkpoint(path, self._checkpoint(full=False))
        barrier(self.dist)
        if self.main:
            losses = " ".join(f"{k[5:]} {avg[k]:.4f}" for k in LOSS_NAMES if k in avg)
            label = f"{record['epoch']}" if epoch_done else f"{self.epoch + 1} (stopped at batch {self.batch_in_epoch})"
            msg = f"epoch {label}/{cfg.epochs} [{record['phase']}] {losses} | {record['img_per_s']:.1f} img/s"
            if "val" in record:
                v = record["val"]
                msg += (
                    f" | val ab L1 {v['ab_l1']:.2f} PSNR {v['psnr']:.2f} (+{v['psnr_gain_vs_gray']:.2f} vs gray) "
                    f"SSIM {v['ssim']:.4f} CF {v['colorfulness']:.1f}/{v['colorfulness_orig']:.1f} "
                    f"({100 * v['colorfulness_ratio']:.0f}%) AuC {v['auc']:.3f}"
                )
                if "faces" in v:
                    msg += f" faces patched {int(v['faces_patched'])}/{int(v['faces'])}"
                msg += " *best" if best else ""
            self.log(msg)

    def run(self) -> dict[str, Any]:
        old_handler = self._install_sigint()
        try:
            return self._run()
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
            if self.tb is not None:
                self.tb.close()

    def _progress_bar(self, total: int):
        if not (self.progress and self.main):
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        return Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[rate]:.1f} img/s {task.fields[losses]}"),
            console=Console(stderr=True),
            transient=True,
        )

    def _run(self) -> dict[str, Any]:
        cfg = self.cfg
        stopped = False
        while self.epoch < cfg.epochs and not stopped:
            gan = self.epoch >= cfg.warmup_epochs
            skip = self.batch_in_epoch
            self.sampler.set_epoch(self.epoch, skip=skip * self.batch_size)
            meters: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
            window: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
            n_imgs, t_epoch, t_win, n_win = 0, time.monotonic(), time.monotonic(), 0
            total = len(self.sampler) // self.batch_size
            bar = self._progress_bar(total)
            task = None
            if bar is not None:
                bar.start()
                task = bar.add_task("", total=total, epoch=f"{self.epoch + 1}/{cfg.epochs}", rate=0.0, losses="")
            try:
                for batch in self.loader:
                    losses = self.train_step(batch, gan=gan)
                    rgb = batch[0] if isinstance(batch, (tuple, list)) else batch
                    self.step += 1
                    self.batch_in_epoch += 1
                    n_imgs += len(rgb)
                    n_win += len(rgb)
                    for k, v in losses.items():
                        for acc in (meters[k], window[k]):
                            acc[0] += v * len(rgb)
                            acc[1] += len(rgb)
                    if not all(math.isfinite(v) for v in losses.values()):
                        raise RuntimeError(f"training diverged at step {self.step}: {losses}")
                    rate = n_imgs * self.dist.world_size / max(time.monotonic() - t_epoch, 1e-9)
                    if bar is not None:
                        short = " ".join(f"{k[5:]} {s / c:.3f}" for k, (s, c) in meters.items())
                        bar.update(task, advance=1, rate=rate, losses=short)
                    if cfg.log_every and self.step % cfg.log_every == 0:
                        rec = {k: s / c for k, (s, c) in window.items()}
                        rec.update(
                            type="step", epoch=self.epoch + 1, step=self.step,
                            img_per_s=n_win * self.dist.world_size / max(time.monotonic() - t_win, 1e-9),
                        )
                        self._append_metrics(rec)
                        if self.tb is not None:
                            for k in LOSS_NAMES:
                                if k in rec:
                                    self.tb.add_scalar(f"train/{k}", rec[k], self.step)
                        window.clear()
                        t_win, n_win = time.monotonic(), 0
                    if any_flag(self.dist, self.stop_requested or self._out_of_time(), self.device):
                        stopped = True
                        break
            finally:
                if bar is not None:
                    bar.stop()
            epoch_done = not stopped or self.batch_in_epoch >= total + skip
            self._finish_epoch_or_stop(epoch_done, meters, n_imgs, t_epoch, stopped)
        if self.main:
            why = "interrupted" if self.stop_requested else "budget reached" if stopped else "done"
            self.log(
                f"{why}: {self.epoch} epochs, {self.step} steps in {(time.monotonic() - self.t0) / 60:.1f} min; "
                f"best val ab L1 {self.best_val:.3f}; checkpoints in {self.out / 'checkpoints'}"
            )
        return {"epoch": self.epoch, "step": self.step, "best_val_l1": self.best_val, "val": self.last_val,
                "gray_baseline": self.baseline, "stopped": stopped, "interrupted": self.stop_requested}
