"""``colorize-cli train`` / ``python -m colorize_cli.training`` (the same click command)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from colorize_cli.device import DEVICE_CHOICES
from colorize_cli.errors import ColorizeError, UsageError
from colorize_cli.models.config import AB_HEADS
from colorize_cli.training.config import (
    AUGMENTS,
    GAN_MODES,
    PRESET_ALIASES,
    PRESET_NAMES,
    SPLIT_ALIASES,
    SPLITS,
    TrainConfig,
    preset_config,
)

# (option, config field, click type, help); every default is None = "the preset's value".
_VALUE_OPTIONS = [
    ("--arch", "arch", click.Choice(["mobilenet_unet", "unet"]), "Generator architecture."),
    ("--num-filters", "num_filters", int, "unet: base filters (seed 64)."),
    ("--n-down", "n_down", int, "unet: downsamplings (seed 8)."),
    ("--dropout", "dropout", float, "unet: dropout of the inner decoder blocks (seed 0.5)."),
    ("--width-mult", "width_mult", float, "mobilenet_unet: encoder width (pretrained needs 1.0)."),
    ("--decoder-channels", "decoder_channels", str, "mobilenet_unet: 5 comma-separated decoder widths (1/16 .. 1/1), or 4 to stop at 1/2."),
    ("--ab-head", "ab_head", click.Choice(AB_HEADS), "mobilenet_unet: regression (Tanh ab) or classification (quantized ab, annealed mean)."),
    ("--anneal-t", "anneal_t", float, "classification head: the annealed mean's temperature (1: mean; lower: more vivid)."),
    ("--disc-filters", "disc_filters", int, "PatchGAN base filters (seed 64)."),
    ("--disc-n-down", "disc_n_down", int, "PatchGAN downsamplings (seed 3)."),
    ("--crop-size", "crop_size", int, "Training crop size = the model's train_size (default 128, seed 256)."),
    ("--augment", "augment", click.Choice(AUGMENTS), "resize (seed: whole photo to a square) or crop (random resized crop)."),
    ("--crop-scale", "crop_scale", str, "crop: area fraction range, e.g. 0.2,1.0."),
    ("--predecode-size", "predecode_size", int, "Short side of the photos kept in RAM (0: full size)."),
    ("--subset", "subset", int, "Use only this many photos (0: all)."),
    ("--split", "split", click.Choice(SPLITS + tuple(SPLIT_ALIASES)), "Validation split: source (whole source packages held out, from MANIFEST.csv), hash (sha256 mod --hash-mod == 0) or random (the write-up's 80/20 draw, seed 123; 'seed' is its old name)."),
    ("--source-mod", "source_mod", int, "source split: hold out packages whose name's sha256 is --source-rem mod this (4)."),
    ("--source-rem", "source_rem", int, "source split: see --source-mod (3)."),
    ("--val-size", "val_size", int, "Validation photos' centre-crop size (0: the crop size)."),
    ("--degrade-p", "degrade_p", float, "Share of training inputs aged like old prints (blur, tone, fading, grain, noise, JPEG); the colour target stays clean."),
    ("--l1-rebalance", "l1_rebalance", float, "Weight each pixel's L1 (classification head: its cross-entropy) by the rarity of its true colour (Zhang et al.'s lambda: 0.5 theirs, 1 none)."),
    ("--feature-weight", "feature_weight", float, "Weight of a feature (perceptual) loss through frozen ImageNet MobileNetV2 features (0: off)."),
    ("--ema-decay", "ema_decay", float, "Exponential moving average of the generator's weights (0: off, e.g. 0.999)."),
    ("--val-fraction", "val_fraction", float, "random split: validation fraction (0.2)."),
    ("--split-seed", "split_seed", int, "random split: numpy seed (123)."),
    ("--hash-mod", "hash_mod", int, "hash split: hold out files whose sha256 is 0 mod this (10 = ~10%)."),
    ("--batch-size", "batch_size", int, "Batch size per process."),
    ("--epochs", "epochs", int, "Total epochs (a resumed run continues up to this)."),
    ("--lr", "lr", float, "Generator learning rate (decoder; the whole net for unet)."),
    ("--lr-d", "lr_d", float, "Discriminator learning rate."),
    ("--encoder-lr-mult", "encoder_lr_mult", float, "mobilenet_unet: encoder lr = lr * this (0 freezes the encoder and its BatchNorm statistics)."),
    ("--betas", "betas", str, "Adam betas, e.g. 0.5,0.999."),
    ("--gan-mode", "gan_mode", click.Choice(GAN_MODES), "vanilla (BCE with logits) or lsgan (MSE)."),
    ("--lambda-l1", "lambda_l1", float, "Weight of the L1 loss (seed 100)."),
    ("--gan-weight", "gan_weight", float, "Weight of the generator's GAN loss (1)."),
    ("--warmup-epochs", "warmup_epochs", int, "Epochs of L1-only training before the GAN phase."),
    ("--seed", "seed", int, "Random seed (init, sampling, augmentation)."),
    ("--val-every", "val_every", int, "Validate (and write samples, best.pt) every N epochs."),
    ("--log-every", "log_every", int, "Write averaged losses to metrics.jsonl every N steps."),
    ("--sample-count", "sample_count", int, "Validation photos in each sample grid."),
    ("--max-minutes", "max_minutes", float, "Wall-clock budget: stop cleanly (validation + checkpoint) after this."),
    ("--max-steps", "max_steps", int, "Stop after this many optimizer steps in total (0: no limit)."),
    ("--save-every", "save_every", int, "Write checkpoints/last.pt every N epochs (and always when stopping)."),
    ("--keep-every", "keep_every", int, "Also keep the generator of every N-th epoch as checkpoints/epoch_XXXX.pt (0: no), to choose a model by other figures than ab L1."),
    ("--init-generator", "init_generator", str, "Fine-tune: start the generator from this model file (e.g. the bundled default.pt)."),
    ("--device", "device", click.Choice(DEVICE_CHOICES), "auto: cuda, then mps, then cpu."),
    ("--num-workers", "num_workers", int, "DataLoader worker processes (augmentation)."),
    ("--threads", "threads", int, "torch.set_num_threads (0: torch's default)."),
]
_FLAG_OPTIONS = [
    ("pretrained-encoder", "pretrained_encoder", "mobilenet_unet: ImageNet MobileNetV2 encoder weights."),
    ("init-normal", "init_normal", "The seed's N(0, 0.02) init (decoder only when pretrained)."),
    ("global-context", "global_context", "mobilenet_unet: add the photo's global ImageNet features (MobileNetV2's last layer, averaged) to the bottleneck (Iizuka et al. 2016)."),
    ("hflip", "hflip", "Random horizontal flips."),
    ("amp", "amp", "CUDA mixed precision (bf16, or fp16 with a grad scaler)."),
    ("channels-last", "channels_last", "CUDA channels_last memory format."),
    ("compile", "compile", "torch.compile the generator."),
    ("sync-bn", "sync_bn", "SyncBatchNorm across processes (torchrun)."),
    ("tensorboard", "tensorboard", "Log to RUN_DIR/tensorboard (needs the tensorboard package)."),
]


def _floats(text: str, n: int | None, name: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"{name}: expected comma-separated numbers, got {text!r}") from None
    if n is not None and len(vals) != n:
        raise UsageError(f"{name}: expected {n} numbers, got {text!r}")
    return vals


def _overrides(params: dict) -> dict:
    out = {}
    for _, field, _, _ in _VALUE_OPTIONS:
        out[field] = params.get(field)
    for _, field, _ in _FLAG_OPTIONS:
        out[field] = params.get(field)
    if out["decoder_channels"] is not None:
        widths = _floats(out["decoder_channels"], None, "--decoder-channels")
        if len(widths) not in (4, 5):
            raise UsageError(f"--decoder-channels: expected 4 or 5 widths, got {out['decoder_channels']!r}")
        out["decoder_channels"] = tuple(int(x) for x in widths)
    if out["crop_scale"] is not None:
        out["crop_scale"] = _floats(out["crop_scale"], 2, "--crop-scale")
    if out["betas"] is not None:
        out["betas"] = _floats(out["betas"], 2, "--betas")
    return {k: v for k, v in out.items() if v is not None}


def resolve_config(preset: str | None, data_dirs, overrides: dict, resume: Path | None) -> TrainConfig:
    if resume is not None:
        path = resume / "config.json"
        if not path.is_file():
            raise UsageError(f"--resume: {path} not found")
        saved = json.loads(path.read_text(encoding="utf-8"))
        preset = PRESET_ALIASES.get(preset, preset)
        if preset is not None and preset != PRESET_ALIASES.get(saved.get("preset"), saved.get("preset")):
            raise UsageError(f"--resume: the run used --preset {saved.get('preset')}, not {preset}")
        if data_dirs:
            saved["data_dirs"] = list(data_dirs)
        saved.update(overrides)
        return TrainConfig.from_dict(saved)
    if not data_dirs:
        raise UsageError("give at least one DATA_DIR (or --resume RUN_DIR)")
    return preset_config(preset or "default", data_dirs=tuple(str(d) for d in data_dirs), **overrides)


def _decorate(f):
    for opt, field, typ, hlp in reversed(_VALUE_OPTIONS):
        f = click.option(opt, field, type=typ, default=None, help=hlp)(f)
    for name, field, hlp in reversed(_FLAG_OPTIONS):
        f = click.option(f"--{name}/--no-{name}", field, default=None, help=hlp)(f)
    return f


@click.command(
    "train",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="""\b
Examples:
  colorize-cli train photos/ --out runs/mine                     (default recipe, 128-px crops)
  colorize-cli train photos/ --out runs/p2p --preset pix2pix     (the write-up's recipe, exactly)
  colorize-cli train --resume runs/mine --epochs 80              (continue where it stopped)
  torchrun --nproc_per_node=4 -m colorize_cli.training photos/ --out runs/ddp
""",
)
@click.argument("data_dirs", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "-o", "out", type=click.Path(path_type=Path), help="Run folder (config, metrics, samples, checkpoints).")
@click.option("--preset", type=click.Choice(PRESET_NAMES + tuple(PRESET_ALIASES)), default=None,
              help="Recipe whose values are the defaults: default (the bundled model's) or pix2pix (the write-up's "
                   "exactly; 'seed' is its old name) [default: default].")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue the run in this folder from checkpoints/last.pt.")
@_decorate
def train_command(data_dirs, out, preset, resume, **params):
    """Train the colorization GAN on the photos in DATA_DIR... (color photos; any size)."""
    try:
        cfg = resolve_config(preset, data_dirs, _overrides(params), resume)
        if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
            raise UsageError("--resume continues in its own folder; drop --out or give the same folder")
        run_dir = resume if resume is not None else out
        if run_dir is None:
            raise UsageError("--out RUN_DIR is required")
        if resume is None and (Path(run_dir) / "checkpoints" / "last.pt").exists():
            raise UsageError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
        from colorize_cli.training.trainer import Trainer

        trainer = Trainer(cfg, run_dir, resume=resume is not None)
        trainer.run()
    except ColorizeError as exc:
        click.echo(f"colorize-cli train: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except ValueError as exc:
        click.echo(f"colorize-cli train: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("colorize-cli train: aborted", err=True)
        sys.exit(130)
    finally:
        if "torch.distributed" in sys.modules:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
