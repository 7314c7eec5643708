#!/usr/bin/env bash
# GPU check (not yet run: no device was lent): bench_train at the paper's width and batch 64,
# then a short CUDA + bf16 training run with TensorBoard and a sample grid. Files go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD OUT=${OUT:-gpu_out}; mkdir -p $OUT
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
timeout 330 python3 benchmarks/bench_train.py --device cuda --width 64 --batch 64 --batch-128 64 \
    --steps 10 --reps 3 --warmup 3 --json $OUT/bench_fp32.json 2>&1 | tee $OUT/bench_fp32.md
timeout 120 python3 -m cli.main train --device cuda --amp --attention ylg --width 64 --steps 400 \
    --diffaugment color,translation,cutout --sample-every 200 --log-every 50 --tensorboard \
    --quiet --out /tmp/run 2>&1 | tail -5
cp /tmp/run/log.jsonl $OUT/train_log.jsonl; cp /tmp/run/samples/step_0000400.png $OUT/ 2>/dev/null
ls /tmp/run /tmp/run/tensorboard | head
timeout 60 python3 -m cli.main sample --checkpoint /tmp/run/checkpoint.pt --classes 0,3,7 --n 30 -o $OUT/sample.png
