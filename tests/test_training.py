"""Training: Lab op, nets, one step, run folder, resume equivalence (tiny configs, CPU, seconds)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

torch = pytest.importorskip("torch", reason="training needs torch (the [train] extra)")

from colorize_cli import lab  # noqa: E402
from colorize_cli.checkpoint import load_generator, read_checkpoint  # noqa: E402
from colorize_cli.models import build_generator, count_parameters  # noqa: E402
from colorize_cli.training.config import TrainConfig, preset_config  # noqa: E402
from colorize_cli.training.discriminator import PatchDiscriminator  # noqa: E402
from colorize_cli.training.lab_torch import rgb_to_lab, rgb_to_model_inputs  # noqa: E402

TINY_UNET = dict(arch="unet", num_filters=4, n_down=5, crop_size=32, pretrained_encoder=False, predecode_size=0)
TINY_MOBILE = dict(
    arch="mobilenet_unet", width_mult=0.25, decoder_channels=(16, 16, 8, 8, 8), crop_size=64,
    pretrained_encoder=False, predecode_size=0,
)


def make_photos(folder, n=8, size=(72, 56), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    for i in range(n):
        base = rng.integers(0, 256, 3)
        img = np.stack([(base[c] + (xx * (c + 1) + yy * (3 - c)) * (i + 1)) % 256 for c in range(3)], -1)
        img = (img + rng.integers(0, 20, img.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"p{i:02d}.png")
    return folder


def tiny_config(data, **kw):
    base = dict(
        data_dirs=(str(data),), split="random", val_fraction=0.25, batch_size=2, epochs=1, num_workers=0,
        log_every=1, sample_count=2, device="cpu", threads=1, warmup_epochs=0, val_size=0, degrade_p=0.0,
        ema_decay=0.0, encoder_lr_mult=0.5,
    )
    base.update(kw)
    preset = base.pop("preset", "default")
    return preset_config(preset, **base)


def test_lab_torch_matches_numpy():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (2, 3, 17, 13)).astype(np.uint8)
    got = rgb_to_lab(torch.from_numpy(rgb)).numpy()
    want = lab.rgb_to_lab(rgb.transpose(0, 2, 3, 1).astype(np.float32) / 255.0).transpose(0, 3, 1, 2)
    assert np.abs(got - want).max() < 1e-3
    f = rng.random((1, 3, 8, 8), dtype=np.float32)
    got = rgb_to_lab(torch.from_numpy(f)).numpy()
    want = lab.rgb_to_lab(f.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    assert np.abs(got - want).max() < 1e-3
    L, ab = rgb_to_model_inputs(torch.from_numpy(rgb))
    assert L.shape == (2, 1, 17, 13) and ab.shape == (2, 2, 17, 13)
    assert L.min() >= -1.0001 and L.max() <= 1.0001


def test_lab_torch_round_trip_and_its_gradient():
    from colorize_cli.training.lab_torch import model_outputs_to_rgb

    rgb = torch.randint(0, 256, (2, 3, 9, 7), dtype=torch.uint8)
    L, ab = rgb_to_model_inputs(rgb)
    back = model_outputs_to_rgb(L, ab)
    assert (back * 255 - rgb.float()).abs().max() < 0.01
    ab = ab.clone().requires_grad_(True)
    model_outputs_to_rgb(L, ab).sum().backward()
    assert torch.isfinite(ab.grad).all() and ab.grad.abs().sum() > 0


def test_feature_loss_compares_colours_through_a_frozen_network():
    from colorize_cli.models.mobilenetv2 import mobilenet_v2_features
    from colorize_cli.training.losses import FeatureLoss

    torch.manual_seed(0)
    loss = FeatureLoss(mobilenet_v2_features())
    loss.train()  # the network stays in eval mode (its BatchNorm statistics are not updated)
    assert not loss.features.training and not any(p.requires_grad for p in loss.parameters())
    target = torch.rand(2, 3, 64, 64)
    gray = target.mean(1, keepdim=True).expand(-1, 3, -1, -1).clone().requires_grad_(True)
    assert loss(target, target).item() == 0.0
    value = loss(gray, target)
    value.backward()
    assert value.item() > 0 and gray.grad.abs().sum() > 0


def test_pix2pix_preset_keeps_its_old_name_seed():
    new, old = preset_config("pix2pix", data_dirs=("x",)), preset_config("seed", data_dirs=("x",))
    assert new == old and old.preset == "pix2pix" and old.split == "random"
    assert TrainConfig.from_dict(dict(new.to_dict(), preset="seed", split="seed")) == new  # old run folders


def test_pix2pix_preset_parameter_counts():
    cfg = preset_config("pix2pix", data_dirs=("x",))
    assert cfg.generator.train_size == 256 and cfg.lambda_l1 == 100 and cfg.betas == (0.5, 0.999)
    G = build_generator(cfg.generator)
    D = PatchDiscriminator(3, cfg.disc_filters, cfg.disc_n_down)
    assert count_parameters(G) == 54_409_858
    assert count_parameters(D) == 2_765_633


def test_default_preset_values():
    cfg = preset_config("default", data_dirs=("x",))
    assert cfg.generator.arch == "mobilenet_unet" and cfg.crop_size == 128 and cfg.split == "source"
    assert cfg.encoder_lr_mult == 0.0 and cfg.generator.decoder_channels == (256, 128, 64, 32) and cfg.degrade_p == 0.5
    assert cfg.generator.train_size == 128
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert TrainConfig(data_dirs=("x",)) == cfg  # the dataclass's own defaults are the default preset


def test_presets_nest_the_generator_config_and_read_old_flat_run_folders():
    from colorize_cli.models.config import GeneratorConfig

    cfg = preset_config("default", data_dirs=("x",), arch="unet", num_filters=8, n_down=3, crop_size=32)
    assert isinstance(cfg.generator, GeneratorConfig)
    assert (cfg.generator.arch, cfg.generator.num_filters, cfg.generator.train_size) == ("unet", 8, 32)
    flat = {k: v for k, v in cfg.to_dict().items() if k != "generator"}  # a config.json before nesting
    flat.update(arch="unet", num_filters=8, n_down=3, dropout=0.5, width_mult=1.0, decoder_channels=[256, 128, 64, 32])
    assert TrainConfig.from_dict(flat) == cfg
    with pytest.raises(ValueError, match="unknown training config keys"):
        TrainConfig.from_dict({"archh": "unet"})


@pytest.mark.parametrize("arch_cfg", [TINY_UNET, TINY_MOBILE], ids=["unet", "mobilenet_unet"])
def test_one_step_gradients(tmp_path, arch_cfg):
    from colorize_cli.training.trainer import Trainer

    data = make_photos(tmp_path / "photos", n=6)
    cfg = tiny_config(data, **arch_cfg)
    tr = Trainer(cfg, tmp_path / "run", progress=False, log=lambda m: None)
    rgb = next(iter(tr.loader))
    assert rgb.dtype == torch.uint8 and rgb.shape[-1] == cfg.crop_size
    losses = tr.train_step(rgb, gan=True)
    assert set(losses) == {"loss_D_fake", "loss_D_real", "loss_D", "loss_G_GAN", "loss_G_L1", "loss_G"}
    assert all(np.isfinite(v) for v in losses.values())
    for name, p in tr.G_raw.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert torch.isfinite(p).all(), name
    for name, p in tr.D_raw.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    warm = tr.train_step(rgb, gan=False)
    assert set(warm) == {"loss_G_L1", "loss_G"}


def test_run_folder_via_cli(tmp_path):
    from colorize_cli.commands.train import train_command

    data = make_photos(tmp_path / "photos", n=8)
    out = tmp_path / "run"
    args = [str(data), "--out", str(out), "--arch", "unet", "--num-filters", "4", "--n-down", "5",
            "--crop-size", "32", "--no-pretrained-encoder", "--predecode-size", "0", "--split", "random",
            "--val-fraction", "0.25", "--batch-size", "2", "--epochs", "2", "--warmup-epochs", "1",
            "--num-workers", "0", "--device", "cpu", "--threads", "1", "--log-every", "1", "--val-size", "0"]
    res = CliRunner().invoke(train_command, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["crop_size"] == 32 and cfg["epochs"] == 2 and cfg["generator"]["arch"] == "unet"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    types = {r["type"] for r in records}
    assert {"step", "epoch", "gray_baseline"} <= types
    epochs = [r for r in records if r["type"] == "epoch"]
    assert len(epochs) == 2 and all("val" in r for r in epochs)
    assert {"psnr", "ssim", "colorfulness", "delta_cf", "ab_l1", "auc"} <= set(epochs[0]["val"])
    assert "loss_G_GAN" not in epochs[0] and "loss_G_GAN" in epochs[1]  # warm-up, then GAN
    assert (out / "samples" / "epoch_0001.png").is_file() and (out / "samples" / "epoch_0002.png").is_file()
    grid = Image.open(out / "samples" / "epoch_0002.png")
    assert grid.size == (2 * 32, 3 * 32)
    assert len((out / "val_files.txt").read_text().split()) == 2
    for name in ("last.pt", "best.pt"):
        model, gcfg = load_generator(out / "checkpoints" / name)
        assert gcfg.train_size == 32 and gcfg.arch == "unet"
    ck = read_checkpoint(out / "checkpoints" / "last.pt")
    assert ck["epoch"] == 2 and "val" in ck["meta"] and ck["train_config"]["generator"]["arch"] == "unet"
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in ck["generator"])
    # a second run into the same folder is refused; resuming a finished run is a no-op
    res = CliRunner().invoke(train_command, args)
    assert res.exit_code == 2 and "--resume" in res.output


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_equivalence(tmp_path):
    from colorize_cli.training.trainer import Trainer

    data = make_photos(tmp_path / "photos", n=8)
    quiet = dict(progress=False, log=lambda m: None)
    kw = dict(TINY_UNET, warmup_epochs=1, batch_size=2)

    straight = Trainer(tiny_config(data, epochs=2, **kw), tmp_path / "a", **quiet)
    straight.run()
    first = Trainer(tiny_config(data, epochs=1, **kw), tmp_path / "b", **quiet)
    first.run()
    resumed = Trainer(tiny_config(data, epochs=2, **kw), tmp_path / "b", resume=True, **quiet)
    assert resumed.epoch == 1
    resumed.run()
    a, b = _params(straight.G_raw), _params(resumed.G_raw)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    da, db = _params(straight.D_raw), _params(resumed.D_raw)
    assert all(torch.equal(da[k], db[k]) for k in da)


def test_resume_mid_epoch_equivalence(tmp_path):
    """A run stopped mid-epoch (--max-steps, as Ctrl-C or --max-minutes would) resumes exactly."""
    from colorize_cli.training.trainer import Trainer

    data = make_photos(tmp_path / "photos", n=8)
    quiet = dict(progress=False, log=lambda m: None)
    kw = dict(TINY_MOBILE, warmup_epochs=0, batch_size=2, epochs=1)
    straight = Trainer(tiny_config(data, **kw), tmp_path / "a", **quiet)
    straight.run()
    part = Trainer(tiny_config(data, max_steps=2, **kw), tmp_path / "b", **quiet)
    part.run()
    assert part.step == 2 and part.batch_in_epoch == 2 and part.epoch == 0
    resumed = Trainer(tiny_config(data, **kw), tmp_path / "b", resume=True, **quiet)
    resumed.run()
    assert resumed.step == straight.step
    a, b = _params(straight.G_raw), _params(resumed.G_raw)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_hash_split_is_stable(tmp_path):
    from colorize_cli.training.data import list_images, split_hash

    a = make_photos(tmp_path / "a", n=12, seed=1)
    b = make_photos(tmp_path / "b", n=12, seed=2)
    _, val_a = split_hash(list_images([a]), mod=3)
    _, val_ab = split_hash(list_images([a, b]), mod=3)
    assert set(val_a) == {p for p in val_ab if p.parent == a.resolve()}


def test_seed_split_matches_seed_notebook():
    from pathlib import Path

    from colorize_cli.training.data import split_random

    paths = [Path(f"/x/{i:03d}.jpg") for i in range(50)]
    train, val = split_random(paths, 0.2, 123)
    np.random.seed(123)
    chosen = np.random.choice(np.array([str(p) for p in paths]), 50, replace=False)
    idx = np.random.permutation(50)
    assert [str(p) for p in train] == list(chosen[idx[:40]])
    assert [str(p) for p in val] == list(chosen[idx[40:]])


def test_checkpoint_rng_state_is_weights_only_safe(tmp_path):
    from colorize_cli.training.trainer import get_rng_state, set_rng_state

    state = get_rng_state()
    torch.save(state, tmp_path / "s.pt")
    loaded = torch.load(tmp_path / "s.pt", weights_only=True)
    a = torch.rand(3)
    set_rng_state(loaded)
    assert torch.equal(torch.rand(3), a)


def test_ctrl_c_saves_last_checkpoint(tmp_path):
    """The first SIGINT finishes the current step, validates and writes checkpoints/last.pt."""
    import os
    import signal

    from colorize_cli.training.trainer import Trainer

    data = make_photos(tmp_path / "photos", n=8)
    tr = Trainer(tiny_config(data, epochs=3, **TINY_UNET), tmp_path / "run", progress=False, log=lambda m: None)
    real_step = tr.train_step

    def step_then_interrupt(rgb, gan=True):
        out = real_step(rgb, gan=gan)
        if tr.step == 1:  # tr.step counts completed steps: this is the second one
            os.kill(os.getpid(), signal.SIGINT)
        return out

    tr.train_step = step_then_interrupt
    summary = tr.run()
    assert summary["interrupted"] and tr.step == 2 and tr.epoch == 0
    ck = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ck["step"] == 2 and ck["batch_in_epoch"] == 2 and "optimizer_g" in ck and "rng" in ck
    assert signal.getsignal(signal.SIGINT) is not None  # the previous handler is back
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["type"] == "partial_epoch" and "val" in records[-1]


def test_init_generator_fine_tunes_from_a_model_file(tmp_path):
    from colorize_cli.checkpoint import make_checkpoint, save_checkpoint
    from colorize_cli.errors import UsageError
    from colorize_cli.training.trainer import Trainer

    data = make_photos(tmp_path / "photos")
    cfg = tiny_config(data, **TINY_MOBILE)
    torch.manual_seed(5)
    src = build_generator(cfg.generator)
    model_file = tmp_path / "model.pt"
    # A bundled model file records another train/infer size: that does not block fine-tuning.
    file_cfg = dataclasses.replace(cfg.generator, train_size=128, infer_size=192)
    save_checkpoint(model_file, make_checkpoint(src, file_cfg))
    tr = Trainer(cfg.replace(init_generator=str(model_file)), tmp_path / "run", progress=False, log=lambda m: None)
    got, want = _params(tr.G_raw), _params(src)
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)
    # A file whose network has another shape is refused with the differing field named.
    other = cfg.replace(decoder_channels=(16, 16, 8, 8, 4))
    with pytest.raises(UsageError, match="decoder_channels"):
        Trainer(other.replace(init_generator=str(model_file)), tmp_path / "run2", progress=False, log=lambda m: None)
    # A decoder that is the file's with its full-size level cut off takes everything but the head.
    shallow = cfg.replace(decoder_channels=(16, 16, 8, 8), init_generator=str(model_file))
    tr = Trainer(shallow, tmp_path / "run3", progress=False, log=lambda m: None)
    got = _params(tr.G_raw)
    assert tr.G_raw.up0 is None and not any(k.startswith("up0.") for k in got)
    assert all(torch.equal(got[k], want[k]) for k in got if not k.startswith("head."))
    assert not torch.equal(got["head.weight"], want["head.weight"])  # a fresh head: it reads other features


def test_global_context_fine_tunes_from_a_model_without_it_and_starts_at_its_colours(tmp_path):
    from colorize_cli.checkpoint import make_checkpoint, save_checkpoint
    from colorize_cli.training.trainer import Trainer

    data = make_photos(tmp_path / "photos")
    cfg = tiny_config(data, **TINY_MOBILE, encoder_lr_mult=0.0)
    torch.manual_seed(5)
    src = build_generator(cfg.generator)
    model_file = tmp_path / "model.pt"
    save_checkpoint(model_file, make_checkpoint(src, cfg.generator))
    tr = Trainer(cfg.replace(global_context=True, init_generator=str(model_file)), tmp_path / "run",
                 progress=False, log=lambda m: None)
    G = tr.G_raw
    # Batch statistics (train mode): an untrained tiny encoder's features vanish with its unit ones.
    G.train(), src.train()
    x = torch.rand(2, 1, 64, 96) * 2 - 1
    with torch.no_grad():
        assert torch.equal(G(x), src(x))  # the fusion starts at zero: the file's colours exactly
        # ... and it is live: a fusion weight moves the output, differently for different photos.
        G.global_fuse.bias.zero_()
        G.global_fuse.weight.normal_(0, 0.5)
        moved = G(x) - src(x)
    assert moved.abs().amax(dim=(1, 2, 3)).min() > 1e-3
    # The ImageNet layer it reads is frozen with the encoder; the fusion trains.
    trainable = {n for n, p in G.named_parameters() if p.requires_grad}
    assert any(n.startswith("global_fuse.") for n in trainable)
    assert not any(n.startswith(("global_conv.", "stages.")) for n in trainable)
    optimized = {id(p) for g in tr.opt_G.param_groups for p in g["params"]}
    assert all(id(p) in optimized for p in G.global_fuse.parameters())


def test_save_every_writes_checkpoints_at_its_cadence(tmp_path, monkeypatch):
    from colorize_cli.training.trainer import Trainer

    data = make_photos(tmp_path / "photos")
    cfg = tiny_config(data, **TINY_UNET, epochs=5, save_every=2, val_every=100)
    tr = Trainer(cfg, tmp_path / "run", progress=False, log=lambda m: None)
    saved = []
    real_save = tr.save
    monkeypatch.setattr(tr, "save", lambda best=False: (saved.append(tr.epoch), real_save(best=best)))
    tr.run()
    assert saved == [2, 4, 5]  # every 2nd epoch, and the last (validated, so also a best.pt)
    assert read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"] == 5


def test_resume_of_a_fine_tune_needs_no_init_generator_file(tmp_path):
    from colorize_cli.checkpoint import make_checkpoint, save_checkpoint
    from colorize_cli.training.trainer import Trainer

    data = make_photos(tmp_path / "photos")
    cfg = tiny_config(data, **TINY_UNET)
    model_file = tmp_path / "model.pt"
    save_checkpoint(model_file, make_checkpoint(build_generator(cfg.generator), cfg.generator))
    quiet = dict(progress=False, log=lambda m: None)
    Trainer(cfg.replace(init_generator=str(model_file)), tmp_path / "run", **quiet).run()
    model_file.unlink()  # the starting weights are in last.pt now
    resumed = Trainer(cfg.replace(init_generator=str(model_file), epochs=2), tmp_path / "run", resume=True, **quiet)
    assert resumed.epoch == 1
    resumed.run()


def test_soft_class_targets_average_to_the_true_colour_and_the_loss_rewards_it():
    from colorize_cli.models import ab_classes
    from colorize_cli.training.losses import SoftClassLoss

    centres = torch.from_numpy(ab_classes.bin_centres()) / ab_classes.AB_RANGE
    loss = SoftClassLoss(centres)
    true = torch.tensor([[12.0, 31.0], [-40.0, 7.0], [0.0, 0.0]]) / ab_classes.AB_RANGE
    t = loss.soft_targets(true.view(3, 2, 1, 1))
    assert torch.allclose(t.sum(1), torch.ones(3, 1, 1))
    assert (t > 0).sum(1).eq(5).all()  # the 5 nearest classes
    mean = torch.einsum("nqhw,qc->nc", t, centres)
    assert (mean - true).abs().max() * ab_classes.AB_RANGE < 2.0
    # Logits that favour each pixel's true class cost less than ones that favour gray.
    near = torch.cdist(true * 110, centres * 110).argmin(1)
    right = torch.zeros(3, len(centres), 1, 1)
    right[torch.arange(3), near] = 5.0
    wrong = torch.zeros(3, len(centres), 1, 1)
    wrong[:, int(torch.cdist(torch.zeros(1, 2), centres).argmin())] = 5.0
    assert loss(right, true.view(3, 2, 1, 1)) < loss(wrong, true.view(3, 2, 1, 1))


def test_a_classification_run_trains_its_head_and_starts_from_a_regression_model(tmp_path):
    from colorize_cli.checkpoint import make_checkpoint, save_checkpoint
    from colorize_cli.training.trainer import Trainer

    data = make_photos(tmp_path / "photos", n=6)
    cfg = tiny_config(data, **{**TINY_MOBILE, "decoder_channels": (16, 16, 8, 8)}, ema_decay=0.9, l1_rebalance=0.5)
    torch.manual_seed(3)
    src = build_generator(cfg.generator)
    save_checkpoint(tmp_path / "reg.pt", make_checkpoint(src, cfg.generator))
    cls = cfg.replace(ab_head="classification", init_generator=str(tmp_path / "reg.pt"), lambda_l1=1.0)
    tr = Trainer(cls, tmp_path / "run", progress=False, log=lambda m: None)
    got, want = _params(tr.G_raw), _params(src)
    # Every weight of the regression model, so the classification model starts at its colours.
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert got["class_head.weight"].shape[0] == len(tr.G_raw.ab_centres)
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        start = build_generator(cls.generator.__class__(**{**cls.generator.to_dict(), "anneal_t": 1.0}))
        start.load_state_dict(tr.G_raw.state_dict())
        assert (start.eval()(x) - src.eval()(x)).abs().max() * 110 < 0.5  # a*b* units
    rgb = next(iter(tr.loader))
    first = tr.train_step(rgb, gan=False)
    assert set(first) == {"loss_G_CE", "loss_G"}
    for _ in range(15):
        last = tr.train_step(rgb, gan=False)
    assert last["loss_G_CE"] < first["loss_G_CE"]
    gan = tr.train_step(rgb, gan=True)  # the discriminator judges the annealed mean's colours
    assert {"loss_D", "loss_G_GAN", "loss_G_CE"} <= set(gan)
    summary = tr.run()
    assert "psnr" in summary["val"]
    model, config = load_generator(tmp_path / "run" / "checkpoints" / "last.pt")
    assert config.ab_head == "classification" and model(torch.zeros(1, 1, 64, 64)).shape == (1, 2, 64, 64)


def test_soft_class_loss_weighs_each_pixel_by_its_colours_rarity():
    from colorize_cli.models import ab_classes
    from colorize_cli.training.losses import SoftClassLoss

    centres = torch.from_numpy(ab_classes.bin_centres()) / ab_classes.AB_RANGE
    true = torch.tensor([[30.0, -40.0], [2.0, 3.0]]) / ab_classes.AB_RANGE  # a rare blue, a near-gray
    weights = torch.ones(ab_classes.GRID, ab_classes.GRID)
    a, b = np.floor((np.array([30.0, -40.0]) + ab_classes.AB_RANGE) / ab_classes.AB_BIN).astype(int)
    weights[a, b] = 3.0
    logits = torch.zeros(2, len(centres), 1, 1)
    plain, weighted = SoftClassLoss(centres), SoftClassLoss(centres, weights)
    for k in range(2):
        one = true[k].view(1, 2, 1, 1)
        ratio = weighted(logits[k : k + 1], one) / plain(logits[k : k + 1], one)
        assert ratio == pytest.approx(3.0 if k == 0 else 1.0)


def test_soft_class_targets_are_gaussian_weights_and_the_loss_is_a_cross_entropy():
    from colorize_cli.models import ab_classes
    from colorize_cli.training.losses import SoftClassLoss

    centres = torch.from_numpy(ab_classes.bin_centres()) / ab_classes.AB_RANGE
    loss = SoftClassLoss(centres)  # sigma 5
    true = torch.tensor([[13.0, 27.0]])  # Lab units; nearest centres at distances from the grid
    t = loss.soft_targets((true / ab_classes.AB_RANGE).view(1, 2, 1, 1))[0, :, 0, 0]
    d = torch.cdist(true, centres * ab_classes.AB_RANGE)[0]
    picked = t > 0
    want = torch.softmax(-(d[picked] ** 2) / (2 * 5.0**2), 0)
    assert torch.allclose(t[picked], want, atol=1e-5)
    # Zero logits: the cross-entropy of any soft target is log Q, and a batch's loss is its pixels' mean.
    q = len(centres)
    two = (torch.tensor([[30.0, -40.0], [2.0, 3.0]]) / ab_classes.AB_RANGE).t().reshape(1, 2, 1, 2)
    zero = torch.zeros(1, q, 1, 2)
    assert loss(zero, two) == pytest.approx(float(np.log(q)), rel=1e-5)
    weights = torch.ones(ab_classes.GRID, ab_classes.GRID)
    weights[14, 7] = 3.0  # the cell of (30, -40)
    weighted = SoftClassLoss(centres, weights)
    pixels = two.permute(3, 1, 2, 0)  # (2, 2, 1, 1): the rare blue, then the near-gray, as a batch
    logits = torch.zeros(2, q, 1, 1)
    logits[1, int(torch.cdist(pixels[1, :, 0, 0].view(1, 2), centres).argmin())] = 4.0
    each = [float(loss(logits[k : k + 1], pixels[k : k + 1])) for k in range(2)]
    assert weighted(logits, pixels) == pytest.approx((3.0 * each[0] + each[1]) / 2, rel=1e-5)
