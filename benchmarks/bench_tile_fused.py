"""PyTorch's fused attention operators against the sparse core's tile attention, on CPU.

Usage:  .venv/bin/python benchmarks/bench_tile_fused.py [--calls 31] [--threads 1]

The 32x32 model's YLG layer (16x16 queries, 8x8 keys, 8 heads, width 16: one query channel and
four value channels a head) runs as tiles of 16 queries against their union of 12 keys, 16
tiles a head. Two fused candidates that could replace parts of the hand-written core
(``ylg.attention.kernels.TileAttention``), timed in one process on tiles of that shape
(random logits, 40% of the pairs blocked, process CPU time, medians of ``--calls`` calls):

1. the whole tile attention, forward and backward: ``TileAttention`` against
   ``torch.nn.functional.scaled_dot_product_attention`` with a boolean and an additive mask
   (scale 1, as the layer's logits are unscaled); the outputs are checked equal first;
2. the softmax alone: the core's exp, mask and normalisation (keys-major logits) against
   ``torch._masked_softmax``.

Prints one markdown table.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ylg.attention.kernels import TileAttention  # noqa: E402


def median_ms(fn, calls):
    for _ in range(3):
        fn()
    times = []
    for _ in range(calls):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return sorted(times)[calls // 2] * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=31)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    b, heads, nt, t, u, d, e = 64, 8, 16, 16, 12, 1, 4  # the 32 model's layer, batch 64
    q = torch.randn(b * heads, nt, t, d, generator=g) * 0.5
    k = torch.randn(b * heads, nt, u, d, generator=g) * 0.5
    v = torch.randn(b * heads, nt, u, e, generator=g)
    allowed = torch.rand(nt, t, u, generator=g) < 0.6
    allowed[..., 0] = True  # every query has a key
    blocked = (~allowed).transpose(-1, -2).contiguous()  # keys first, as the core keeps it
    additive = torch.zeros(nt, t, u).masked_fill(~allowed, float("-inf"))

    def tile():
        qq, kk, vv = (x.clone().requires_grad_() for x in (q, k, v))
        o, _ = TileAttention.apply(qq, kk, vv, blocked, True, False)
        o.backward(torch.ones_like(o))

    def sdpa(mask):
        def run():
            qq, kk, vv = (x.clone().requires_grad_() for x in (q, k, v))
            o = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=mask, scale=1.0)
            o.backward(torch.ones_like(o))
        return run

    ours, _ = TileAttention.apply(q, k, v, blocked, True, True)
    fused = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=1.0)
    diff = (ours.transpose(-1, -2) - fused).abs().max().item()
    assert diff < 1e-5, diff

    logits = torch.randn(b, heads, nt, u, t, generator=g) * 0.5
    keys_major = blocked.expand(b, heads, nt, u, t)

    def softmax():
        a = logits.clone()
        a.exp_().masked_fill_(blocked, 0.0)
        return a.div_(a.sum(dim=-2, keepdim=True))

    def masked_softmax():
        return torch._masked_softmax(logits, keys_major, -2)

    copy = median_ms(lambda: logits.clone(), args.calls)
    rows = [("tile attention fwd+bwd", "ylg TileAttention", median_ms(tile, args.calls)),
            ("tile attention fwd+bwd", "SDPA, boolean mask", median_ms(sdpa(allowed), args.calls)),
            ("tile attention fwd+bwd", "SDPA, additive mask",
             median_ms(sdpa(additive), args.calls)),
            ("softmax of the tile logits", "the core's exp, mask, normalise (with a copy)",
             median_ms(softmax, args.calls)),
            ("softmax of the tile logits", "torch._masked_softmax",
             median_ms(masked_softmax, args.calls)),
            ("softmax of the tile logits", "(a copy of the logits alone)", copy)]
    print(f"torch {torch.__version__}, {args.threads} thread(s), tiles {b * heads}x{nt} of "
          f"{t} queries x {u} keys, d={d}, e={e}; outputs agree to {diff:.1e}\n")
    print("| what | implementation | ms (median, CPU time) |")
    print("|---|---|---:|")
    for what, how, ms in rows:
        print(f"| {what} | {how} | {ms:.2f} |")


if __name__ == "__main__":
    main()
