#!/usr/bin/env bash
# The GPU checks, as one short script (under 8 minutes on an H200; nothing depends on a GPU):
# sparse == dense on the device, then sparse, flex, dense and SDPA fwd+bwd at 16x16 to 128x128
# tokens in fp32 and bf16 (benchmarks/bench_attention.py), then training steps/s of YLG-SAGAN
# against SAGAN at 32, 64 and 128 (benchmarks/bench_train.py), the device's rows of the table
# backend="auto" reads (bench_attention.py --auto-table), and torch's FlexAttention for a 7 x 7
# neighbourhood at 64x64 and 128x128 tokens in row-major and in the order `ylg-masks order`
# ranks first, the blocks ifg predicts against the BlockMask's, next to SDPA with a mask
# (benchmarks/bench_flex_gpu.py). Writes JSON files and markdown tables to $OUT (gpu_out/).
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine
#   bash benchmarks/gpu_check.sh --smoke    # tiny sizes on CPU: checks that the script runs
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD OUT=${OUT:-gpu_out}
PY=${PYTHON:-$(test -x .venv/bin/python && echo .venv/bin/python || echo python3)}
mkdir -p "$OUT"
if [ "${1:-}" = "--smoke" ]; then
    DEV=cpu SIZES=16 METHODS=sparse,dense,sdpa DTYPES=float32 BUDGET=0.05
    TRAIN="--width 16 --batch 2 --batch-128 1 --sizes 32 --skip-128 --steps 1 --reps 1 --warmup 0"
    CHECK=(true) FLEX=(--smoke)
else
    DEV=cuda SIZES=16,32,64,128 METHODS=sparse,flex,dense,sdpa,sdpa-mask DTYPES="float32 bfloat16"
    BUDGET=0.3 TRAIN="--width 64 --batch 64 --batch-128 32 --sizes 32,64 --steps 5 --reps 3 --warmup 3"
    CHECK=("$PY" benchmarks/gpu_attention_check.py --device cuda) FLEX=(--device cuda)
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
fi
timeout 90 "${CHECK[@]}" 2>&1 | tee "$OUT/attention_check.txt"
for dt in $DTYPES; do
    timeout 150 "$PY" benchmarks/bench_attention.py --device $DEV --sizes $SIZES --heads d32 \
        --methods $METHODS --dtype $dt --budget $BUDGET --json "$OUT/attention_$dt.json" \
        2>&1 | tee "$OUT/attention_$dt.md"
done
# the rows backend="auto" reads on this device kind, next to the committed CPU rows; copy
# $OUT/backend_table.json over ylg/attention/backend_table.json to adopt them
cp ylg/attention/backend_table.json "$OUT/backend_table.json"
timeout 90 "$PY" benchmarks/bench_attention.py --device $DEV --auto-table "$OUT/backend_table.json" \
    --sizes $SIZES --batches 1,4,16,64 --heads paper --budget $BUDGET 2>&1 | tee "$OUT/auto_table.md"
timeout 150 "$PY" benchmarks/bench_train.py --device $DEV $TRAIN --json "$OUT/train.json" \
    2>&1 | tee "$OUT/train.md"
timeout 120 "$PY" benchmarks/bench_flex_gpu.py "${FLEX[@]}" --json "$OUT/flex_blocks.json" \
    2>&1 | tee "$OUT/flex_blocks.md"
timeout 90 "$PY" benchmarks/bench_flex_gpu.py "${FLEX[@]}" --spec axial --sides 64 \
    --dtypes bfloat16 --json "$OUT/flex_blocks_axial.json" 2>&1 | tee "$OUT/flex_blocks_axial.md"
echo "files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
