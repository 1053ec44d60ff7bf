"""The training recipe: one frozen dataclass nesting the generator's, and two complete presets.

``PRESETS["pix2pix"]`` is the write-up's recipe exactly (the original notebook that this project
started from; ``seed`` is its old name and still accepted); ``PRESETS["default"]`` is the recipe of
the bundled model, and :class:`TrainConfig`'s own defaults are the same values.

Every field is a command-line option whose default comes from the chosen preset; the resolved
config is written to ``RUN_DIR/config.json`` and stored in every checkpoint, so a run can be
resumed (``--resume RUN_DIR``) and reproduced from its folder alone.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from colorize_cli.models.config import GeneratorConfig

PRESET_NAMES = ("default", "pix2pix")
PRESET_ALIASES = {"seed": "pix2pix"}
SPLITS = ("source", "hash", "random")
SPLIT_ALIASES = {"seed": "random"}
GAN_MODES = ("vanilla", "lsgan")
AUGMENTS = ("resize", "crop")
# The generator's fields a training option may set (``train_size`` follows ``crop_size``).
GENERATOR_FIELDS = ("arch", "num_filters", "n_down", "dropout", "width_mult", "decoder_channels", "ab_head", "anneal_t", "global_context")
DEFAULT_GENERATOR = GeneratorConfig(arch="mobilenet_unet", train_size=128, width_mult=1.0, decoder_channels=(256, 128, 64, 32))


@dataclass(frozen=True)
class TrainConfig:
    """A complete, JSON-serializable description of one training run.

    Recipe fields (the ``pix2pix`` preset reproduces the write-up's notebook exactly):

    * generator: ``generator``, a :class:`GeneratorConfig` (``arch`` and its shape fields; its
      ``train_size`` is always ``crop_size``), ``pretrained_encoder`` (MobileNetV2 ImageNet
      weights from the torch hub cache), ``init_normal`` (the seed's N(0, 0.02) conv init; for a
      pretrained ``mobilenet_unet`` it only touches the decoder), ``init_generator`` (fine-tune:
      start from the generator weights of a model file, e.g. the bundled ``default.pt``; its
      architecture fields must match);
    * data: ``augment`` = ``resize`` (the seed: bicubic resize of the whole photo to
      ``crop_size`` x ``crop_size``) or ``crop`` (random resized crop, area fraction in
      ``crop_scale``, aspect ratio in [3/4, 4/3]); ``hflip``; ``predecode_size`` (photos are decoded
      once into RAM, their short side reduced to this size; 0 keeps full size);
    * optimization: Adam with ``lr`` (generator decoder), ``lr`` * ``encoder_lr_mult`` (pretrained
      encoder), ``lr_d`` (discriminator), ``betas``; ``gan_mode`` vanilla (BCE) or lsgan (MSE);
      ``lambda_l1`` * L1 + ``gan_weight`` * GAN; ``warmup_epochs`` of L1 only before the GAN phase;
    * robustness: ``degrade_p``, the share of training inputs whose L* is "aged" like an old print
      (:mod:`colorize_cli.degrade`: blur, tone curve, faded blacks and whites, grain, scan noise,
      JPEG); the a*b* target is never degraded;
    * ``encoder_lr_mult`` 0 freezes the pretrained encoder (weights and BatchNorm statistics):
      its ImageNet features then stay as general as ImageNet made them;
    * ``l1_rebalance`` < 1 weights each pixel's L1 (or, for a classification ab head, its
      cross-entropy) by the rarity of its true colour (Zhang et al. 2016's class rebalancing,
      their lambda; 0.5 is theirs, 1 is none); with a classification head ``lambda_l1`` weighs
      the cross-entropy;
    * ``feature_weight`` > 0 adds that times the L1 distance between frozen ImageNet MobileNetV2
      features of the predicted and the true colour photo (both composed with the true L*);
    * ``ema_decay`` > 0 keeps an exponential moving average of the generator's weights; it is what
      validation measures and what the checkpoints' ``generator`` holds;
    * split: ``source`` (hold out whole source packages, read from each folder's MANIFEST.csv:
      those whose name's sha256 is ``source_rem`` mod ``source_mod``; the honest one: no
      validation photo shares a source with training), ``hash`` (hold out the files whose sha256
      is 0 mod ``hash_mod``: stable whatever folders are passed, but the same sources on both
      sides) or ``random`` (the write-up's 80/20 draw with ``split_seed``); validation photos are
      centre-cropped to ``val_size`` (0: the crop size).
    """

    preset: str = "default"
    data_dirs: tuple[str, ...] = ()
    # generator: its architecture (train_size follows crop_size), then how it starts
    generator: GeneratorConfig = DEFAULT_GENERATOR
    pretrained_encoder: bool = True
    init_normal: bool = False
    init_generator: str = ""
    # discriminator
    disc_filters: int = 32
    disc_n_down: int = 3
    # data
    crop_size: int = 128
    augment: str = "crop"
    crop_scale: tuple[float, float] = (0.2, 1.0)
    hflip: bool = True
    predecode_size: int = 0
    subset: int = 0
    # split
    split: str = "source"
    val_fraction: float = 0.2
    split_seed: int = 123
    hash_mod: int = 10
    source_mod: int = 4
    source_rem: int = 3
    val_size: int = 256
    # optimization
    batch_size: int = 16
    epochs: int = 28
    lr: float = 2e-4
    lr_d: float = 2e-4
    encoder_lr_mult: float = 0.0
    betas: tuple[float, float] = (0.5, 0.999)
    gan_mode: str = "vanilla"
    lambda_l1: float = 100.0
    gan_weight: float = 0.1
    warmup_epochs: int = 3
    degrade_p: float = 0.5
    ema_decay: float = 0.995
    l1_rebalance: float = 1.0
    feature_weight: float = 0.0
    # run
    seed: int = 0
    val_every: int = 1
    log_every: int = 10
    sample_count: int = 6
    max_minutes: float = 0.0
    max_steps: int = 0
    save_every: int = 1
    keep_every: int = 0
    # devices and speed (do not change the result on CPU)
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    sync_bn: bool = False
    num_workers: int = 2
    threads: int = 0
    tensorboard: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Old run folders say "seed" for the pix2pix preset and the random split.
        object.__setattr__(self, "preset", PRESET_ALIASES.get(self.preset, self.preset))
        object.__setattr__(self, "split", SPLIT_ALIASES.get(self.split, self.split))
        if self.preset not in PRESET_NAMES:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {', '.join(PRESET_NAMES)}")
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; choose from {', '.join(SPLITS)}")
        if self.gan_mode not in GAN_MODES:
            raise ValueError(f"unknown GAN mode {self.gan_mode!r}; choose from {', '.join(GAN_MODES)}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"unknown augment {self.augment!r}; choose from {', '.join(AUGMENTS)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError("val_fraction must be in (0, 1)")
        if self.batch_size < 1 or self.epochs < 0 or self.crop_size < 32:
            raise ValueError("batch_size must be >= 1, epochs >= 0 and crop_size >= 32")
        if not 0.0 <= self.degrade_p <= 1.0:
            raise ValueError("degrade_p must be in [0, 1]")
        if not 0.0 <= self.l1_rebalance <= 1.0:
            raise ValueError("l1_rebalance must be in [0, 1] (1: plain L1)")
        if self.feature_weight < 0:
            raise ValueError("feature_weight must be >= 0 (0: off)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("ema_decay must be in [0, 1)")
        if self.encoder_lr_mult < 0:
            raise ValueError("encoder_lr_mult must be >= 0 (0 freezes the encoder)")
        if self.save_every < 1:
            raise ValueError("save_every must be >= 1")
        object.__setattr__(self, "data_dirs", tuple(str(d) for d in self.data_dirs))
        object.__setattr__(self, "crop_scale", tuple(float(c) for c in self.crop_scale))
        object.__setattr__(self, "betas", tuple(float(c) for c in self.betas))
        generator = self.generator
        if isinstance(generator, dict):
            generator = GeneratorConfig.from_dict(generator)
        generator = dataclasses.replace(generator, train_size=self.crop_size)  # trained at the crop size
        if self.crop_size % generator.stride:
            raise ValueError(f"crop size {self.crop_size} must be a multiple of {generator.stride} for this generator")
        object.__setattr__(self, "generator", generator)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["generator"] = self.generator.to_dict()
        for key, value in d.items():
            if isinstance(value, tuple):
                d[key] = list(value)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config of a ``config.json`` or checkpoint (older flat ones too: generator fields at the top)."""
        return cls().replace(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes``; generator fields (``arch``, ``decoder_channels``, ...) may be given
        flat, as the command-line options give them."""
        flat = {k: changes.pop(k) for k in list(changes) if k in GENERATOR_FIELDS}
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown training config keys: {', '.join(sorted(unknown))}")
        generator = changes.pop("generator", self.generator)
        if isinstance(generator, dict):
            generator = GeneratorConfig.from_dict(generator)
        if flat:
            generator = dataclasses.replace(generator, **flat)
        return dataclasses.replace(self, generator=generator, **changes)


def preset_config(name: str, **overrides: Any) -> TrainConfig:
    """The preset's config with ``overrides`` applied (``None`` values are ignored)."""
    name = PRESET_ALIASES.get(name, name)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].replace(**{k: v for k, v in overrides.items() if v is not None})


# The write-up's pix2pix recipe, exactly (its loader used 10,000 COCO images; here: all given photos).
PIX2PIX = TrainConfig(
    preset="pix2pix",
    generator=GeneratorConfig(arch="unet", num_filters=64, n_down=8, dropout=0.5),
    pretrained_encoder=False,
    init_normal=True,
    disc_filters=64,
    disc_n_down=3,
    crop_size=256,
    augment="resize",
    hflip=True,
    predecode_size=0,
    degrade_p=0.0,
    split="random",
    val_fraction=0.2,
    split_seed=123,
    val_size=0,
    batch_size=16,
    epochs=100,
    lr=2e-4,
    lr_d=2e-4,
    encoder_lr_mult=1.0,
    betas=(0.5, 0.999),
    gan_mode="vanilla",
    lambda_l1=100.0,
    gan_weight=1.0,
    warmup_epochs=0,
    ema_decay=0.0,
)

# The default recipe (phase 1 of the bundled model, MODEL_CARD.md), every value spelled out: a
# MobileNetV2 U-Net whose ImageNet encoder stays frozen (weights and BatchNorm statistics: a few
# hundred photos would cost the generality ImageNet gave it), a four-level decoder (ab at half
# size), 128-px crops at several scales of the full-size photos, half the inputs aged like old
# prints, an EMA of the generator, L1 warm-up, then PatchGAN + 100 x L1 at GAN weight 0.1, and the
# source-disjoint split. Its PatchGAN has 32 filters: at 128 px a 64-filter PatchGAN costs ~2x the
# generator's compute (forward three times, backward twice per step).
DEFAULT = TrainConfig(
    preset="default",
    generator=DEFAULT_GENERATOR,
    pretrained_encoder=True,
    init_normal=False,
    disc_filters=32,
    disc_n_down=3,
    crop_size=128,
    augment="crop",
    crop_scale=(0.2, 1.0),
    hflip=True,
    predecode_size=0,
    degrade_p=0.5,
    split="source",
    source_mod=4,
    source_rem=3,
    val_size=256,
    batch_size=16,
    epochs=28,
    lr=2e-4,
    lr_d=2e-4,
    encoder_lr_mult=0.0,
    betas=(0.5, 0.999),
    gan_mode="vanilla",
    lambda_l1=100.0,
    gan_weight=0.1,
    l1_rebalance=1.0,
    feature_weight=0.0,
    warmup_epochs=3,
    ema_decay=0.995,
)

PRESETS: dict[str, TrainConfig] = {"default": DEFAULT, "pix2pix": PIX2PIX}
