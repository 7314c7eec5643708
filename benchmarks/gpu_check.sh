#!/usr/bin/env bash
# The GPU checks, as one short script (run on a lent GPU machine; nothing depends on one):
# sparse == dense on CUDA, the attention benchmark, the training benchmark, a short bf16 run.
# Files go to $OUT (default gpu_out/).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
timeout 90 python3 benchmarks/gpu_attention_check.py --device cuda 2>&1 | tee "$OUT/attention_check.txt"
timeout 200 python3 benchmarks/bench_attention.py --device cuda --budget 0.5 \
    --json "$OUT/attention_cuda.json" --plot "$OUT/attention_cuda.png" 2>&1 | tee "$OUT/attention_cuda.md"
timeout 150 python3 benchmarks/bench_train.py --device cuda --width 64 --batch 64 --batch-128 64 \
    --steps 10 --reps 3 --warmup 3 --json "$OUT/train_cuda.json" 2>&1 | tee "$OUT/train_cuda.md"
timeout 60 python3 -m ylg_cli.main train --device cuda --amp --attention ylg --width 64 --steps 200 \
    --diffaugment color,translation,cutout --sample-every 200 --log-every 50 --quiet \
    --out /tmp/gpu_run 2>&1 | tail -3
cp /tmp/gpu_run/log.jsonl "$OUT/train_log.jsonl" 2>/dev/null || true
timeout 30 python3 -m ylg_cli.main sample --checkpoint /tmp/gpu_run/checkpoint.pt --classes 0,3,7 \
    --n 30 -o "$OUT/sample.png" 2>&1 | tail -2
