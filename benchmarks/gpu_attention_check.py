"""On a GPU: the sparse and dense backends give the same outputs, maps and gradients.

Usage:  python benchmarks/gpu_attention_check.py [--device cuda]

The CPU test suite checks this within 1e-5 in float32 (tests/ylg/test_attention.py); this script
repeats the check on CUDA for the YLG preset (SAGAN geometry and a square layer), the no-ESA
ablation and random masks, and prints the largest differences. Exit code 1 when any exceeds the
tolerance.
"""

import argparse
import sys

import numpy as np
import scipy.sparse as sp
import torch

from ifg.maskset import Head, MaskSet, preset
from ylg.attention import Attention2d


def random_maskset(key_grid, query_grid, heads=3, density=0.2, seed=0):
    rng = np.random.default_rng(seed)
    nq, nk = query_grid[0] * query_grid[1], key_grid[0] * key_grid[1]
    masks = []
    for _ in range(heads):
        dense = rng.random((nq, nk)) < density
        dense[np.arange(nq), rng.integers(0, nk, nq)] = True
        masks.append(sp.csr_matrix(dense))
    return MaskSet(tuple(masks), query_grid, key_grid, "rowmajor", "official",
                   tuple(Head("random", 1) for _ in range(heads)), ())


def compare(name, channels, masks, pool, batch, device, tol):
    torch.manual_seed(0)
    dense = Attention2d(channels, masks, pool=pool, backend="dense").to(device)
    sparse = Attention2d(channels, masks, pool=pool, backend="sparse").to(device)
    sparse.load_state_dict(dense.state_dict())
    for m in (dense, sparse):
        with torch.no_grad():
            m.gamma.fill_(0.7)
    h, w = masks.query_grid
    x = torch.randn(batch, channels, h, w, device=device)
    results = []
    for layer in (dense, sparse):
        xi = x.clone().requires_grad_(True)
        y, attn = layer(xi, return_attention=True)
        (y.square().sum() + attn.sum() * 0.5).backward()
        grads = [p.grad for p in layer.parameters()]
        results.append((y.detach(), attn.detach(), xi.grad, grads))
    (y0, a0, g0, p0), (y1, a1, g1, p1) = results
    diff = max((y0 - y1).abs().max().item(), (a0 - a1).abs().max().item(),
               (g0 - g1).abs().max().item() / max(1.0, g0.abs().max().item()),
               max((p - q).abs().max().item() / max(1.0, p.abs().max().item())
                   for p, q in zip(p0, p1)))
    ok = diff <= tol
    print(f"{name:<36} max difference {diff:.2e}  {'ok' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # compare in true float32
    torch.backends.cudnn.allow_tf32 = False
    if args.device.startswith("cuda"):
        print(torch.cuda.get_device_name(), torch.__version__)
    cases = [
        ("ylg, queries 32x32, keys 16x16", 256, preset("ylg", key_grid=(16, 16),
                                                       query_grid=(32, 32)), 2, 4),
        ("ylg, square 64x64", 512, preset("ylg", key_grid=(64, 64), query_grid=(64, 64)), 1, 2),
        ("ylg-no-esa, queries 16x16, keys 8x8", 64, preset("ylg-no-esa", key_grid=(8, 8),
                                                           query_grid=(16, 16)), 2, 3),
        ("random masks, 12x12 / 6x6", 96, random_maskset((6, 6), (12, 12)), 2, 2),
    ]
    ok = all([compare(n, c, m, p, b, args.device, args.tol) for n, c, m, p, b in cases])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
