#!/usr/bin/env bash
# One short session on a lent CUDA GPU (about 8 minutes), everything the project needs a GPU for:
#   1. training throughput on CUDA, both presets, ours vs the seed's loop (benchmarks/bench_training.py);
#   2. the CUDA paths of inference (colorize-cli --backend torch --device cuda) on examples/;
#   3. a time-boxed fine-tune of the bundled model (--init-generator) on the training photos, in two
#      phases (GAN weight 0.3, then 0.1 at a lower rate), each phase's generator saved to OUT_DIR.
#
#   bash scripts/gpu_session.sh DATA_DIR OUT_DIR [PHASE1_MINUTES] [PHASE2_MINUTES]
#
# DATA_DIR: training photos only (the held-out validation photos of docs/val_files.txt removed:
# copies are re-encoded, so the sha256 split would no longer find them). Runs from the repo root with
# the machine's own python3 (PYTHONPATH=., no install). Everything it writes lands in OUT_DIR.
set -uo pipefail
data=${1:?DATA_DIR}
out=${2:?OUT_DIR}
m1=${3:-3}
m2=${4:-1.5}
py=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$out"
log=$out/session.log
run=${RUN_DIR:-/tmp/gpu-ft}
workers=$(( $(nproc) > 4 ? $(nproc) - 4 : 1 ))
dev=${DEVICE:-cuda}                      # DEVICE=cpu BENCH="--steps 1 --warmup 1 --rounds 1 --batch 2": a dry run
bench=${BENCH:---steps 20 --warmup 5 --rounds 3 --loader-batches 30}
batch=${BATCH:-32}

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv
  $py -c "import torch, torchvision, skimage, PIL, click, rich; print('torch', torch.__version__, '| torchvision', torchvision.__version__, '| cuda', torch.version.cuda, torch.cuda.is_available(), '| bf16', torch.cuda.is_bf16_supported())"
  echo "photos: $(ls "$data" | wc -l) in $data; $(nproc) CPUs; DataLoader workers $workers"

  echo "== 1. training throughput (bench_training.py, CUDA) =="
  timeout 240 $py benchmarks/bench_training.py --data "$data" --device "$dev" --presets seed,default \
    --batch "$batch" $bench --num-workers "$workers" --threads 4
  timeout 120 $py benchmarks/bench_training.py --data "$data" --device "$dev" --presets default --crop 192 \
    --batch "$((2 * batch))" $bench --num-workers "$workers" --threads 4

  echo "== 2. inference on CUDA =="
  for backend in torch; do
    rm -rf /tmp/gpu-colored
    /usr/bin/time -f "colorize-cli --backend $backend --device $dev: %e s wall, %M KB peak RSS" \
      timeout 120 $py -m colorize_cli examples -o /tmp/gpu-colored --backend "$backend" --device "$dev"
    ls /tmp/gpu-colored | wc -l
  done

  echo "== 3. fine-tune phase 1: GAN weight 0.3, lr 1e-4, ${m1} min =="
  rm -rf "$run"
  $py -m colorize_cli.training "$data" --out "$run" --device "$dev" --init-generator colorize_cli/assets/default.pt \
    --crop-size 192 --predecode-size 320 --batch-size "$batch" --epochs 100000 --warmup-epochs 0 \
    --gan-weight 0.3 --lr 1e-4 --lr-d 1e-4 --hash-mod "${HASH_MOD:-50}" --val-every 25 --save-every 25 --log-every 50 \
    --max-minutes "$m1" --num-workers "$workers" --threads 4
  $py scripts/strip_checkpoint.py "$run/checkpoints/last.pt" "$out/ft1.pt"
  cp "$(ls -t "$run"/samples/*.png | head -1)" "$out/samples_ft1.png"

  echo "== 4. fine-tune phase 2: GAN weight 0.1, lr 3e-5, ${m2} min =="
  $py -m colorize_cli.training --resume "$run" --gan-weight 0.1 --lr 3e-5 --lr-d 3e-5 --max-minutes "$m2"
  $py scripts/strip_checkpoint.py "$run/checkpoints/last.pt" "$out/ft2.pt"
  cp "$(ls -t "$run"/samples/*.png | head -1)" "$out/samples_ft2.png"
  cp "$run/metrics.jsonl" "$run/config.json" "$out/"
  date -u
} 2>&1 | tee "$log"
