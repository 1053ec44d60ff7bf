"""Generator architectures, their config, and self-describing checkpoints."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from colorize_cli.checkpoint import load_generator, make_checkpoint, read_checkpoint, save_checkpoint  # noqa: E402
from colorize_cli.errors import ModelError  # noqa: E402
from colorize_cli.models import GeneratorConfig, build_generator, count_parameters  # noqa: E402
from tests.conftest import TINY_MOBILENET  # noqa: E402


def test_unet_has_the_seeds_parameter_count():
    assert count_parameters(build_generator(GeneratorConfig(arch="unet"))) == 54_409_858


def test_default_mobilenet_unet_size():
    n = count_parameters(build_generator(GeneratorConfig()))
    assert 3_000_000 < n < 6_000_000  # small enough to ship inside the package


@pytest.mark.parametrize(
    "config",
    [
        GeneratorConfig(**TINY_MOBILENET),
        GeneratorConfig(**{**TINY_MOBILENET, "decoder_channels": (16, 16, 8, 8)}),
        GeneratorConfig(arch="unet", num_filters=4, n_down=5, train_size=64),
    ],
    ids=["mobilenet_unet", "mobilenet_unet_half_res_decoder", "unet"],
)
def test_shapes_range_and_gradients(config):
    model = build_generator(config)
    x = torch.randn(2, 1, 64, 96)
    y = model(x)
    assert y.shape == (2, 2, 64, 96)
    assert y.abs().max() <= 1.0  # Tanh
    y.mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    "config",
    [GeneratorConfig(**TINY_MOBILENET), GeneratorConfig(arch="unet", num_filters=4, n_down=5, train_size=64)],
    ids=["mobilenet_unet", "unet"],
)
def test_the_torch_backend_folds_every_batchnorm_into_its_convolution(config):
    """Folding is an eval-mode identity, transposed convolutions (the seed U-Net) included."""
    from colorize_cli.backends.torch_backend import optimize_for_inference

    torch.manual_seed(0)
    model = build_generator(config)
    for m in model.modules():  # running statistics far from the identity, so a wrong fold shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    x = torch.randn(2, 1, 64, 96)
    with torch.no_grad():
        want = model(x)
        folded = optimize_for_inference(model)
        got = folded(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_the_fold_leaves_what_it_cannot_fold_exactly_alone():
    """A Sequential with its own forward, a grouped transposed convolution: left as they are."""
    from colorize_cli.backends.torch_backend import optimize_for_inference

    class Reversed(torch.nn.Sequential):
        def forward(self, x):
            for module in reversed(self):
                x = module(x)
            return x

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        Reversed(torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.BatchNorm2d(4)),  # runs BN, then conv
        torch.nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=2),
        torch.nn.BatchNorm2d(4),
    )
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        want = model(x)
        got = optimize_for_inference(model)(x)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 2
    torch.testing.assert_close(got, want)


def test_bfloat16_parts_leave_out_the_blocks_that_read_L():
    for decoder in ((16, 16, 8, 8, 8), (16, 16, 8, 8)):
        model = build_generator(GeneratorConfig(**{**TINY_MOBILENET, "decoder_channels": decoder}))
        parts = model.bfloat16_parts()
        inside = {id(p) for part in parts for p in part.parameters()}
        reads_L = [model.stages[0]] + ([model.up0] if model.up0 is not None else [])
        assert not any(id(p) in inside for block in reads_L for p in block.parameters())
        left_out = {id(p) for p in model.parameters()} - inside
        assert left_out == {id(p) for block in reads_L for p in block.parameters()}


def test_a_four_level_decoder_predicts_ab_at_half_size_and_upsamples_it():
    """4 decoder widths: no full-size level; the 2-channel result is upsampled x2 (bilinear) inside."""
    full = build_generator(GeneratorConfig(**TINY_MOBILENET)).eval()
    half = build_generator(GeneratorConfig(**{**TINY_MOBILENET, "decoder_channels": (16, 16, 8, 8)})).eval()
    assert half.up0 is None and full.up0 is not None
    assert count_parameters(half) < count_parameters(full)
    heads = []
    half.head.register_forward_hook(lambda module, inputs, output: heads.append(output))
    with torch.no_grad():
        y = half(torch.randn(1, 1, 64, 96))
    small = torch.tanh(heads[0])
    assert small.shape == (1, 2, 32, 48)
    torch.testing.assert_close(y, torch.nn.functional.interpolate(small, size=(64, 96), mode="bilinear"))
    with pytest.raises(ValueError, match="4"):
        GeneratorConfig(decoder_channels=(8, 8, 8))


def test_config_round_trips_through_json():
    cfg = GeneratorConfig(**TINY_MOBILENET, infer_size=96)
    assert GeneratorConfig.from_json(cfg.to_json()) == cfg
    assert cfg.default_size == 96 and cfg.stride == 32
    assert GeneratorConfig(arch="unet").stride == 256
    with pytest.raises(ValueError):
        GeneratorConfig(arch="resnet")
    with pytest.raises(ValueError):
        GeneratorConfig.from_dict({"arch": "unet", "bogus": 1})


def test_checkpoint_rebuilds_the_model_from_the_file_alone(tmp_path):
    cfg = GeneratorConfig(**TINY_MOBILENET)
    model = build_generator(cfg).eval()
    save_checkpoint(tmp_path / "g.pt", make_checkpoint(model, cfg, meta={"note": "x"}))
    loaded, loaded_cfg = load_generator(tmp_path / "g.pt")
    assert loaded_cfg == cfg
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    ckpt = read_checkpoint(tmp_path / "g.pt")
    assert ckpt["format_version"] == 1 and all(t.device.type == "cpu" for t in ckpt["generator"].values())


def test_wrapped_model_prefixes_are_stripped(tmp_path):
    cfg = GeneratorConfig(**TINY_MOBILENET)
    wrapper = torch.nn.Module()
    wrapper.module = build_generator(cfg)
    ckpt = make_checkpoint(wrapper, cfg)
    assert not any(k.startswith("module.") for k in ckpt["generator"])


def test_foreign_newer_and_pickled_checkpoints_are_refused(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(ModelError, match="not a colorize-cli checkpoint"):
        read_checkpoint(tmp_path / "foreign.pt")
    cfg = GeneratorConfig(**TINY_MOBILENET)
    ckpt = make_checkpoint(build_generator(cfg), cfg)
    ckpt["format_version"] = 99
    torch.save(ckpt, tmp_path / "newer.pt")
    with pytest.raises(ModelError, match="newer"):
        read_checkpoint(tmp_path / "newer.pt")
    torch.save({"format": "colorize-cli-checkpoint", "evil": ModelError("x")}, tmp_path / "pickled.pt")
    with pytest.raises(ModelError, match="refused"):
        read_checkpoint(tmp_path / "pickled.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable"):
        read_checkpoint(tmp_path / "garbage.pt")


@pytest.mark.parametrize("width_mult", [1.0, 0.25])
def test_mobilenetv2_features_match_torchvision(width_mult):
    """Our MobileNetV2 is torchvision's layer for layer: same keys and shapes, same outputs."""
    from torchvision.models import mobilenet_v2

    from colorize_cli.models.mobilenetv2 import mobilenet_v2_features

    theirs = mobilenet_v2(width_mult=width_mult).features.eval()
    ours = mobilenet_v2_features(width_mult).eval()
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b) and all(a[k].shape == b[k].shape for k in a)
    ours.load_state_dict(a)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        assert torch.allclose(theirs(x), ours(x), atol=1e-5)


def test_running_a_model_does_not_import_torchvision():
    """Inference builds the generator without torchvision (its import costs ~1 s: torch._dynamo)."""
    import subprocess
    import sys

    code = (
        "import sys; from colorize_cli.models import GeneratorConfig, build_generator; "
        "build_generator(GeneratorConfig(arch='mobilenet_unet', width_mult=0.25, decoder_channels=(8,8,8,8,8))); "
        "build_generator(GeneratorConfig(arch='unet', num_filters=4, n_down=5)); "
        "print('torchvision' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


CLASSIFYING = GeneratorConfig(**{**TINY_MOBILENET, "decoder_channels": (16, 16, 8, 8), "ab_head": "classification"})


def test_ab_classes_are_the_grid_cells_srgb_reaches():
    import numpy as np

    from colorize_cli import lab
    from colorize_cli.models import ab_classes

    centres = ab_classes.bin_centres()
    assert centres.shape == (ab_classes.num_bins(), 2) and 200 < len(centres) < 330  # Zhang et al.: 313 at grid 10
    # Every centre lies in a cell of its own, and every sRGB colour falls in one of those cells.
    assert sorted(ab_classes.cell_index(centres).tolist()) == list(ab_classes.in_gamut_cells())
    rng = np.random.default_rng(0)
    ab = lab.rgb_to_lab(rng.random((4096, 1, 3), dtype=np.float32)).reshape(-1, 3)[:, 1:]
    assert set(ab_classes.cell_index(ab).tolist()) <= set(ab_classes.in_gamut_cells())
    assert np.all(np.mod(centres, ab_classes.AB_BIN) == ab_classes.AB_BIN / 2)  # each cell's middle
    # Out-of-range ab falls in the edge cells, as integer indices.
    edge = ab_classes.cell_index(np.array([[-130.0, -130.0], [130.0, 130.0]], np.float32))
    assert edge.dtype.kind == "i" and edge.tolist() == [0, ab_classes.GRID * ab_classes.GRID - 1]
    gray = ab_classes.cell_index(np.zeros((1, 2), np.float32))[0]
    assert gray in ab_classes.in_gamut_cells()


def test_the_classification_head_decodes_its_annealed_mean():
    model = build_generator(CLASSIFYING).eval()
    x = torch.randn(2, 1, 64, 96)
    ab, logits = model(x, return_logits=True)
    assert ab.shape == (2, 2, 64, 96) and logits.shape == (2, len(model.ab_centres), 32, 48)
    assert torch.allclose(model(x), ab)
    # A fresh classification head adds nothing to its anchor: the regression estimate, sharpened.
    regression = build_generator(GeneratorConfig(**{**CLASSIFYING.to_dict(), "ab_head": "regression"})).eval()
    regression.load_state_dict(model.state_dict(), strict=False)
    anchored = build_generator(GeneratorConfig(**{**CLASSIFYING.to_dict(), "anneal_t": 1.0})).eval()
    anchored.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert (anchored(x) - regression(x)).abs().max() * 110 < 0.5
    # A distribution peaked on one class decodes to that class's colour, at any temperature.
    peaked = torch.full((1, len(model.ab_centres), 1, 1), -30.0)
    peaked[0, 17] = 30.0
    assert torch.allclose(model.annealed_mean(peaked)[0, :, 0, 0], model.ab_centres[17], atol=1e-5)
    # Two tied colours decode to their midpoint; a lower temperature moves towards the likelier one.
    two = torch.full((1, len(model.ab_centres), 1, 1), -30.0)
    two[0, 3], two[0, 200] = 1.0, 1.2
    warm = build_generator(CLASSIFYING.__class__(**{**CLASSIFYING.to_dict(), "anneal_t": 1.0})).annealed_mean(two)
    cold = build_generator(CLASSIFYING.__class__(**{**CLASSIFYING.to_dict(), "anneal_t": 0.2})).annealed_mean(two)
    c3, c200 = model.ab_centres[3], model.ab_centres[200]
    assert (cold[0, :, 0, 0] - c200).norm() < (warm[0, :, 0, 0] - c200).norm() < (c3 - c200).norm()
    p200 = 1 / (1 + torch.exp(torch.tensor(-0.2 / 0.2)))  # softmax of (1.0, 1.2) / T at T = 0.2
    assert torch.allclose(cold[0, :, 0, 0], c3 + p200 * (c200 - c3), atol=1e-4)
    ab.mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_a_regression_model_has_no_logits_to_return():
    with pytest.raises(ValueError, match="classification"):
        build_generator(GeneratorConfig(**TINY_MOBILENET))(torch.randn(1, 1, 64, 64), return_logits=True)


def test_a_classification_checkpoint_carries_its_classes_and_temperature(tmp_path):
    config = GeneratorConfig(**{**CLASSIFYING.to_dict(), "anneal_t": 0.5})
    model = build_generator(config).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(path, make_checkpoint(model, config))
    loaded, loaded_config = load_generator(path)
    assert loaded_config == config and loaded_config.anneal_t == 0.5
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    with pytest.raises(ValueError, match="ab head"):
        GeneratorConfig(ab_head="softmax")
    with pytest.raises(ValueError, match="mobilenet_unet only"):
        GeneratorConfig(arch="unet", ab_head="classification")
