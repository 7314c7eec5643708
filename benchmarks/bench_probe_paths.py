"""The probe's two attention paths for each mask set at 16x16: why a run of one set costs more.

Usage:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_probe_paths.py [--grid 16]
            [--reps 3] [ITEM ...]

For each `ylg compare` item (default: the sets of `experiments/compare_photos.sh`), every layer's
`ylg.compare.probe.MaskedAttention` (width 64, batch 64, one thread) is timed forward and
backward, on the path the probe takes for it (`sparse`: `ylg.flex_attention`'s tiled core, for
masks under a quarter dense) and on SDPA with the masks as a bias, and a full mask (`dense`) also
on SDPA without a mask (the probe's path for it), in the same process: seconds per training
step's attention, summed over the layers (median of `--reps` after a warm-up), and the sparse
plan's query-key slots per (batch, head), summed over the layers.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from ylg.compare.items import resolve
from ylg.compare.probe import MaskedAttention

ITEMS = ["ylg", "ylg-no-esa", "ylg-strided", "neighborhood:kernel=3",
         "neighborhood:kernel=3+global:tokens=4", "swin:window=4", "axial",
         "sliding-tile:tile=2,window=3", "dense", "local"]


def step_seconds(masks: torch.Tensor, grid: int, path: str, reps: int,
                 order: np.ndarray | None = None) -> float:
    """Forward and backward of one layer's attention, batch 64, median of ``reps``."""
    attention = MaskedAttention(64, masks, grid=(grid, grid), order=order)
    if path == "sdpa":  # SDPA with the masks as a bias
        attention.pattern, attention.full = None, False
    elif path == "full":  # SDPA without a mask: only for a full mask
        if not attention.full:
            return float("nan")
    elif attention.pattern is None:
        return float("nan")  # dense enough that the probe takes SDPA
    x, queries = torch.randn(64, grid * grid, 64, requires_grad=True), torch.randn(grid * grid, 64)
    attention(x, queries).sum().backward()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        attention(x, queries).sum().backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def planned_slots(masks: torch.Tensor, grid: int, order: np.ndarray | None) -> int:
    """The query-key slots a (batch, head) computes on the sparse path (0 on SDPA)."""
    from ylg.attention.flexcpu import _compile

    attention = MaskedAttention(64, masks, grid=(grid, grid), order=order)
    if attention.pattern is None:
        return 0
    n = grid * grid
    return _compile(attention.pattern, 64, masks.shape[0], n, n, 2 * attention.head_dim).slots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("items", nargs="*", default=ITEMS)
    ap.add_argument("--grid", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"grid {args.grid}x{args.grid}, width 64, batch 64, one thread; seconds per step's "
          f"attention (forward + backward, all layers)\n")
    print("| mask set | heads | density | planned slots | sparse path (s) | SDPA + bias (s) | "
          "SDPA / sparse | SDPA, no mask (s) | bias / no mask |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for item in args.items:
        probe = resolve(item, (args.grid, args.grid))
        dense = torch.from_numpy(probe.dense())
        sparse = sum(step_seconds(m, args.grid, "sparse", args.reps, probe.order) for m in dense)
        sdpa = sum(step_seconds(m, args.grid, "sdpa", args.reps) for m in dense)
        full = sum(step_seconds(m, args.grid, "full", args.reps) for m in dense)
        shown = "-" if sparse != sparse else f"{sparse:.3f}"  # NaN: the probe takes SDPA
        ratio = "-" if sparse != sparse else f"{sdpa / sparse:.2f}"
        unmasked = "- | -" if full != full else f"{full:.3f} | {sdpa / full:.2f}"
        slots = sum(planned_slots(m, args.grid, probe.order) for m in dense)
        print(f"| {item} | {dense.shape[1]} | {float(dense.float().mean()):.3f} | {slots:,} | "
              f"{shown} | "
              f"{sdpa:.3f} | {ratio} | {unmasked} |")


if __name__ == "__main__":
    main()
