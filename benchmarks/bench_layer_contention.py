"""Why the layer's dense/sparse ratio under load differs from ``bench_attention.py --contention``.

Usage:  .venv/bin/python benchmarks/bench_layer_contention.py [--rounds 3] [--jobs 2]
            [--json out.json]

``bench_attention.py --contention 2`` times the attention *core* (``Attention2d.attend``, square
64x64 tokens, no pooling, 8 heads of 32 channels, batch 1, medians of rounds) and reported
dense/sparse 21-25x beside two 2-thread matrix-product jobs. A user's loop calls the whole
*layer*: ``Attention2d(256, preset("ylg", key_grid=(32, 32), query_grid=(64, 64)))`` (pool 2,
the paper's heads: 4 channels for queries and keys, 16 for values), batch 2, forward and
backward, with ``torch.set_num_threads(2)``; timed best of 3 it gave 10.0x and 11.6x. This
script measures, in each round beside ``--jobs`` background processes (2-thread 512 x 512
products), for each backend and for 2 and 1 threads: a fresh layer's first call, then 3 more
calls (the best and the median of them), and the core alone (``layer.attend`` on the layer's
own q, k, v shapes), so that the layer's time splits into core and the rest (projections,
pooling, spectral norm, output convolution).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ifg.maskset import preset  # noqa: E402
from ylg.attention import Attention2d  # noqa: E402

_LOAD = "import torch\ntorch.set_num_threads(2)\na = torch.randn(512, 512)\nwhile True: a @ a\n"


def clock(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(backend: str, threads: int, masks, x: torch.Tensor) -> dict:
    """A fresh layer's first fwd+bwd, three more, and three of its core alone."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layer = Attention2d(256, masks, backend=backend)
    with torch.no_grad():
        layer.gamma.fill_(0.7)

    def step():
        layer.zero_grad()
        layer(x).sum().backward()

    first = clock(step)
    calls = [clock(step) for _ in range(3)]
    b, nq, nk = x.shape[0], masks.nq, masks.nk
    q = torch.randn(b, 8, nq, layer.qk_head_dim, requires_grad=True)
    k = torch.randn(b, 8, nk, layer.qk_head_dim, requires_grad=True)
    v = torch.randn(b, 8, nk, layer.v_head_dim, requires_grad=True)
    core = [clock(lambda: layer.attend(q, k, v)[0].sum().backward()) for _ in range(3)]
    return {"first": first, "calls": calls, "core": core}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    masks = preset("ylg", key_grid=(32, 32), query_grid=(64, 64))
    x = torch.randn(2, 256, 64, 64)
    rounds = []
    for r in range(args.rounds):
        procs = [subprocess.Popen([sys.executable, "-c", _LOAD]) for _ in range(args.jobs)]
        try:
            time.sleep(1.0)
            for threads in (2, 1):
                row = {"round": r, "threads": threads}
                for backend in ("sparse", "dense"):
                    row[backend] = measure(backend, threads, masks, x)
                rounds.append(row)
                s, d = row["sparse"], row["dense"]
                print(f"round {r} threads {threads}: "
                      f"first call sparse {1e3 * s['first']:.0f} dense {1e3 * d['first']:.0f} ms; "
                      f"best sparse {1e3 * min(s['calls']):.0f} dense {1e3 * min(d['calls']):.0f}"
                      f" ms ({min(d['calls']) / min(s['calls']):.1f}x); median sparse "
                      f"{1e3 * statistics.median(s['calls']):.0f} dense "
                      f"{1e3 * statistics.median(d['calls']):.0f} ms "
                      f"({statistics.median(d['calls']) / statistics.median(s['calls']):.1f}x); "
                      f"core best sparse {1e3 * min(s['core']):.0f} dense "
                      f"{1e3 * min(d['core']):.0f} ms ({min(d['core']) / min(s['core']):.1f}x)",
                      flush=True)
        finally:
            for p in procs:
                p.kill()
                p.wait()
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=1))


if __name__ == "__main__":
    main()
