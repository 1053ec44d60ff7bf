#!/usr/bin/env bash
# Retrain the bundled default model with one command (CPU: about 90 minutes on 2 cores; any GPU: minutes).
#
#   bash scripts/train_default_model.sh [RUN_DIR] [DATA_DIR...]
#
# The recipe that produced colorize_cli/assets/default.*: the default preset (ImageNet MobileNetV2
# U-Net, 2 L1 warm-up epochs, then PatchGAN + 100 x L1 at 128-px crops), continued with a lower
# GAN weight and learning rate, which removed the magenta patches the full-strength GAN painted on
# faces and raised PSNR, then cut to a four-level decoder and fine-tuned (see MODEL_CARD.md).
# Epoch boundaries match the shipped runs.
set -euo pipefail
run=${1:-runs/default-model}
shift || true
data=("$@")
[ ${#data[@]} -gt 0 ] || data=(../shared/data/photos/train ../shared/data/photos/people)

python -m colorize_cli.training.provision_weights || true   # offline: the weights file into the hub cache
python -m colorize_cli.training "${data[@]}" --out "$run" --preset default --epochs 25
python -m colorize_cli.training --resume "$run" --epochs 36 --gan-weight 0.2 --lr 1e-4 --lr-d 1e-4
python -m colorize_cli.training --resume "$run" --epochs "${FINAL_EPOCH:-62}" --gan-weight 0.1 --lr 5e-5 --lr-d 5e-5
# Phase 4: cut the decoder's full-size level (1.8x faster network) and fine-tune, in a second run
# folder: encoder and four decoder levels from phase 3, a new head and a new discriminator.
half="$run-half"
python -m colorize_cli.training "${data[@]}" --out "$half" --preset default --decoder-channels 256,128,64,32 \
  --init-generator "$run/checkpoints/last.pt" --gan-weight 0.1 --lr 1e-4 --lr-d 1e-4 --warmup-epochs 1 --epochs 30
python -m colorize_cli.training --resume "$half" --epochs 42 --gan-weight 0.2 --lr 5e-5 --lr-d 5e-5
python scripts/bundle_default_model.py "$half/checkpoints/last.pt" --infer-size 192 \
  --verify-images examples --int8-calibration "${CALIBRATION_DIR:-${data[0]}}"
