"""Make the bundled default model from a training checkpoint (maintainers' tool).

    python scripts/bundle_default_model.py runs/default/checkpoints/last.pt --infer-size 256 \
        [--int8-calibration DIR] [--verify-images examples/]

Writes into colorize_cli/assets/:
  default.pt    generator only (no optimizer/discriminator state), fp32 CPU weights, with the chosen
                default inference size and a short training summary in ``meta``;
  default.onnx  the same generator exported and verified by ``colorize-cli export``;
  default_int8.onnx (with --int8-calibration) statically quantized, verified likewise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from colorize_cli.checkpoint import generator_only, read_checkpoint, save_checkpoint
from colorize_cli.models import GeneratorConfig, build_generator

ASSETS = Path(__file__).resolve().parents[1] / "colorize_cli" / "assets"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--infer-size", type=int, required=True)
    ap.add_argument("--chroma-gain", type=float, default=None, help="a*b* scale applied before the join")
    ap.add_argument("--anneal-t", type=float, default=None, help="classification head: the annealed mean's temperature")
    ap.add_argument("--verify-images", type=Path, default=None)
    ap.add_argument("--int8-calibration", type=Path, default=None)
    args = ap.parse_args()

    ckpt = generator_only(
        read_checkpoint(args.checkpoint), source=args.checkpoint.name, infer_size=args.infer_size,
        chroma_gain=args.chroma_gain, anneal_t=args.anneal_t,
    )
    build_generator(GeneratorConfig.from_dict(ckpt["generator_config"])).load_state_dict(ckpt["generator"])  # they fit
    ASSETS.mkdir(parents=True, exist_ok=True)
    pt = ASSETS / "default.pt"
    save_checkpoint(pt, ckpt)
    print(f"wrote {pt} ({pt.stat().st_size / 1e6:.1f} MB)")

    from click.testing import CliRunner

    from colorize_cli.cli import main as cli

    extra = ["--verify-images", str(args.verify_images)] if args.verify_images else []
    for name, flags in [("default.onnx", [])] + (
        [("default_int8.onnx", ["--quantize", "int8", "--calibration", str(args.int8_calibration)])]
        if args.int8_calibration
        else []
    ):
        result = CliRunner().invoke(cli, ["export", str(pt), "-o", str(ASSETS / name), *flags, *extra])
        print(result.output)
        if result.exit_code != 0:
            raise SystemExit(f"export of {name} failed ({result.exit_code})")


if __name__ == "__main__":
    main()
