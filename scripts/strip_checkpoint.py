"""Write a model file (generator weights + config + training summary) from a training checkpoint.

    python scripts/strip_checkpoint.py RUN/checkpoints/last.pt model.pt [--infer-size 192]

A resumable ``last.pt`` also holds the discriminator, both optimizers' state and RNG state (about
3.5x the generator's size); ``colorize-cli --model``, ``export`` and ``evaluate`` need none of it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from colorize_cli.checkpoint import generator_only, load_generator, read_checkpoint, save_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--infer-size", type=int, default=None, help="default inference size stored in the file")
    args = ap.parse_args()
    ckpt = read_checkpoint(args.checkpoint)
    save_checkpoint(args.out, generator_only(ckpt, source=args.checkpoint.name, infer_size=args.infer_size))
    load_generator(args.out)  # the file rebuilds its model on its own
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) from {args.checkpoint}")


if __name__ == "__main__":
    main()
