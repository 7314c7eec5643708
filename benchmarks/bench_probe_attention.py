"""The compare probe's attention: SDPA with the masks as an additive bias against ylg.flex_attention
(the tiled core), forward and backward, for one layer of a 2-D neighbourhood.

Usage:  .venv/bin/python benchmarks/bench_probe_attention.py [--rounds 3]

One thread, process CPU time, the two methods in alternation; prints each round's times and the
median ratio SDPA / flex. Sizes are the probe's: batch 64, 4 heads of 16 channels, the query from
the position alone (one row, broadcast over the batch).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F

    import ifg
    from ylg.attention import flex_attention

    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, process CPU time, {args.rounds} rounds")
    print("| grid | mask | keys / query | SDPA + bias (s) | flex_attention (s) | SDPA / flex |")
    print("|---|---|---:|---:|---:|---:|")
    for side, spec in ((16, "neighborhood:kernel=5"), (32, "neighborhood:kernel=7")):
        step = ifg.pattern(spec, grid=(side, side)).steps[0]
        n, h, b, d = side * side, 4, 64, 16
        heads = ifg.Pattern(tuple([step] * h), grid=(side, side))
        mask = torch.from_numpy(step.toarray())
        bias = torch.zeros(n, n).masked_fill(~mask, float("-inf")).expand(h, n, n)
        q = torch.randn(1, h, n, d, requires_grad=True)
        k = torch.randn(b, h, n, d, requires_grad=True)
        v = torch.randn(b, h, n, d, requires_grad=True)

        def sdpa():
            return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)

        def flex():
            return flex_attention(q.expand(b, -1, -1, -1), k, v, block_mask=heads)

        torch.testing.assert_close(flex(), sdpa(), atol=1e-5, rtol=1e-4)
        times = {"sdpa": [], "flex": []}
        for _ in range(args.rounds):
            for name, fn in (("sdpa", sdpa), ("flex", flex)):
                start = time.process_time()
                fn().sum().backward()
                times[name].append(time.process_time() - start)
        ratio = statistics.median(a / b for a, b in zip(times["sdpa"], times["flex"]))
        print(f"| {side}x{side} | {spec} | {step.nnz / n:.0f} | "
              f"{statistics.median(times['sdpa']):.3f} | {statistics.median(times['flex']):.3f} | "
              f"{ratio:.1f}x |")


if __name__ == "__main__":
    main()
