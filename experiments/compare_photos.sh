#!/usr/bin/env bash
# `ylg compare` where 2-D structure matters (issue #24): the images task on the photographs that
# ship inside scikit-image's wheel (`--data photos`: training crops of 10 photographs, test crops
# of 4 held-out ones), at the paper's grid sizes, with the mask families people use today; and
# the flow task with neighbourhood stacks, checked pair class by pair class against the depth
# `ylg-masks depth` predicts. docs/results.md reports what these runs gave.
#
# Resumable: every (mask set, seed) result is cached under $OUT/cache as it comes, so the same
# command continues a killed run (and skips a finished stage in seconds). Run it in the
# background:
#   nohup experiments/compare_photos.sh > runs/compare-photos.log 2>&1 &
#
# Environment (defaults in brackets): OUT [runs/compare-photos], JOBS [2: runs in parallel, one
# thread each], SEEDS16 [10], SEEDS32 [4], SEEDSFLOW [3], STAGES [photos16 flow16 flow16res
# photos32], PYTHON [.venv/bin/python if present, else python3].
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
OUT=${OUT:-runs/compare-photos}
JOBS=${JOBS:-2}
STAGES=${STAGES:-photos16 flow16 flow16res photos32}
mkdir -p "$OUT"
ylg() { "$PYTHON" -m ylg_cli.main --threads 1 "$@"; }

run() {  # NAME, then ylg compare's arguments: the table, its JSON and its figure under $OUT
  local name=$1; shift
  echo "== $name: ylg compare $* ($(date -u +%H:%M:%S))"
  ylg compare "$@" --cache "$OUT/cache" --jobs "$JOBS" --quiet --json > "$OUT/$name.json"
  ylg compare "$@" --cache "$OUT/cache" --quiet -o "$OUT/$name.png" | tee "$OUT/$name.txt"
}

for stage in $STAGES; do
  case $stage in
    photos16)  # YLG's budget is 12.7 keys a query at 16x16: the families are chosen near it
      run photos16 ylg ylg-no-esa ylg-strided neighborhood:kernel=3 \
        neighborhood:kernel=3+global:tokens=4 swin:window=4 axial sliding-tile:tile=2,window=3 \
        dense local --task images --data photos --grid 16 --seeds "${SEEDS16:-10}" ;;
    flow16)  # one comparison per depth: a probe has as many layers as its deepest item
      for layers in 2 4 8; do
        run "flow16-neighborhood-$layers" "neighborhood:kernel=3,layers=$layers" --task flow \
          --grid 16 --seeds "${SEEDSFLOW:-3}"
      done ;;
    flow16res)  # the same stacks with a residual path around each attention layer
      for layers in 2 4 8; do
        run "flow16-residual-neighborhood-$layers" "neighborhood:kernel=3,layers=$layers" \
          --task flow --grid 16 --seeds "${SEEDSFLOW:-3}" --residual
      done ;;
    photos32)  # the paper's query grid: YLG, its raster ablation, dense and the best family
      run photos32 ylg ylg-no-esa dense neighborhood:kernel=3+global:tokens=4 --task images \
        --data photos --grid 32 --seeds "${SEEDS32:-4}" ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
echo "== done ($(date -u +%H:%M:%S))"
