#!/usr/bin/env bash
# Table 1 on a many-core machine: one process per run (15 shards of `table1.py run`, one torch
# thread each, so every run computes what it would compute here), then `table1.py report`.
# LIMIT (seconds) bounds the training; a run cut by it resumes with `table1.py run` later.
# Files go to $OUT (default table1_out/).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD OUT=${OUT:-table1_out} YLG_CACHE=${YLG_CACHE:-/tmp/ylg-cache}
LIMIT=${LIMIT:-450}
N=15
mkdir -p "$OUT" /tmp/table1-logs
nproc; python3 -c "import torch; print('torch', torch.__version__)"
# the digits classifier once, before the shards (each would otherwise train its own)
python3 -c "from ylg.metrics import digit_classifier; digit_classifier()" 2>&1 | tail -1
for i in $(seq 0 $((N - 1))); do
    timeout "$LIMIT" python3 experiments/table1.py run --shard "$i/$N" \
        > "/tmp/table1-logs/shard_$i.log" 2>&1 &
done
wait
python3 experiments/table1.py status 2>&1 | tee "$OUT/status.txt" | tail -20
python3 experiments/table1.py report 2>&1 | tail -5
cp docs/results.md "$OUT/"
cp docs/figures/table1_*.png "$OUT/" 2>/dev/null
tail -2 /tmp/table1-logs/shard_0.log
