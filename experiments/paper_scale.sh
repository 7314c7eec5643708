#!/usr/bin/env bash
# The paper's Table 1 at full scale: one variant of SAGAN / YLG-SAGAN at 128x128 on an
# ImageNet-style folder (one subfolder per class), on 8 GPUs with torchrun (DDP, NCCL).
#
# Settings of the paper and its published code (SPEC section 7): width 64 (G 1024 -> 64 channels,
# attention at 32x32 with keys pooled to 16x16), hinge loss, one D step per G step, Adam lr 1e-4
# (G) / 4e-4 (D), betas (0, 0.999), up to 1.5M generator steps. Two settings are this script's,
# not the paper's: the global batch of 256 (32 per GPU; the published code's default
# train_batch_size is 32 in all, BATCH=32 gives it), and the EMA of G that `ylg train` always
# keeps and that `ylg evaluate` scores by default (neither the paper nor its code averages
# weights: score with `--weights g` for the published setting).
# Run it once per variant (dense, dense8, ylg, ylg-no-esa, ylg-strided), each into its own
# folder; the same command continues a stopped run from its checkpoint.
#
# Usage:
#   DATA=/data/imagenet/train VARIANT=ylg OUT=runs/paper/ylg experiments/paper_scale.sh
#   experiments/paper_scale.sh --dry-run
#       a CPU check: 2 processes, a fake 128x128 folder, width 32 (the narrowest whose D holds
#       8 heads), 1 step and 1 resumed step (about 2 minutes on a busy 2-core machine)
#
# Environment (defaults in brackets): DATA (required), PREPARED [$DATA.ylg128], VARIANT [ylg],
# OUT [runs/paper/$VARIANT],
# GPUS [8], STEPS [1500000], BATCH [256], WIDTH [64], AMP [0; 1 adds --amp, bfloat16],
# PYTHON [.venv/bin/python if present, else python3].
#
# Then score the checkpoints with the Inception FID on 50,000 samples, as published (e.g.
# `ylg evaluate --checkpoint $OUT/checkpoint.pt --metrics fid --samples 50000 --weights g`).
#
# Data: the folder is first decoded once, by all CPUs, into a prepared folder (`ylg prepare`,
# PREPARED [$DATA.ylg128]; resumable, skipped when finished): ImageNet at 128x128 is a 63 GB
# memory-mapped uint8 array (1.28M x 3 x 128 x 128) on disk. Training reads only its batches, and
# the 8 processes share the pages through the page cache instead of holding 8 copies.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
DEVICE=cuda
EXTRA=()

if [ "${1:-}" = "--dry-run" ]; then
    # the same command line on the CPU, small: checks that the configuration parses, that the
    # processes join (gloo), and that steps, the checkpoint and a resume run
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
    "$PYTHON" - "$TMP/data" <<'EOF'
import sys
from pathlib import Path

import numpy as np
from PIL import Image

rng = np.random.default_rng(0)
for c in ("n01440764", "n01443537"):  # two ImageNet-style class folders, 4 images each
    folder = Path(sys.argv[1]) / c
    folder.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (150, 170, 3), dtype=np.uint8)).save(
            folder / f"{c}_{i}.JPEG")
EOF
    DATA=$TMP/data PREPARED=$TMP/prepared OUT=$TMP/run GPUS=2 STEPS=${STEPS:-1} BATCH=4 WIDTH=32
    DEVICE=cpu
    VARIANT=${VARIANT:-ylg}
fi

: "${DATA:?set DATA to an image folder with one subfolder per class}"
PREPARED=${PREPARED:-${DATA%/}.ylg128}
VARIANT=${VARIANT:-ylg}
OUT=${OUT:-runs/paper/$VARIANT}
GPUS=${GPUS:-8}
STEPS=${STEPS:-1500000}
BATCH=${BATCH:-256}
WIDTH=${WIDTH:-64}
[ "${AMP:-0}" = 1 ] && EXTRA+=(--amp)

train() {
    "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node="$GPUS" -m ylg_cli.main train "$@"
}

"$PYTHON" -m ylg_cli.main prepare "$DATA" --resolution 128 -o "$PREPARED" --quiet

if [ -f "$OUT/checkpoint.pt" ]; then
    echo "continuing $OUT from its checkpoint" >&2
    train --out "$OUT" --resume --steps "$STEPS" --device "$DEVICE" --quiet \
        ${EXTRA[@]+"${EXTRA[@]}"}
else
    train --attention "$VARIANT" --data "$PREPARED" --resolution 128 --width "$WIDTH" \
        --batch-size "$BATCH" --steps "$STEPS" --d-steps 1 --lr-g 1e-4 --lr-d 4e-4 \
        --log-every 100 --sample-every 5000 --checkpoint-every 5000 \
        --seed 0 --device "$DEVICE" --out "$OUT" --quiet ${EXTRA[@]+"${EXTRA[@]}"}
fi

if [ -n "${TMP:-}" ]; then
    # the dry run also checks the resume path: one more step from the checkpoint
    STEPS=$((STEPS + 1))
    train --out "$OUT" --resume --steps "$STEPS" --device "$DEVICE" --quiet
    "$PYTHON" - "$OUT" "$STEPS" <<'EOF'
import json
import sys
from pathlib import Path

out, steps = Path(sys.argv[1]), int(sys.argv[2])
cfg = json.loads((out / "config.json").read_text())
log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
assert cfg["resolution"] == 128 and cfg["attention"] in ("ylg", "dense", "dense8",
                                                         "ylg-no-esa", "ylg-strided"), cfg
assert log[-1]["step"] == steps, log
assert json.loads((Path(cfg["data"]) / "prepared.json").read_text())["count"] == 8, cfg
assert (out / "checkpoint.pt").exists()
print(f"dry run ok: {cfg['attention']} at 128x128, width {cfg['width']}, 2 processes, "
      f"steps 1..{steps} (the last one resumed), losses {log[-1]['loss_d']:.3f} / "
      f"{log[-1]['loss_g']:.3f}")
EOF
fi
