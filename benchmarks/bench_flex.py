"""``ylg.flex_attention`` on CPU against SDPA with a boolean mask and torch's FlexAttention.

Usage:  .venv/bin/python benchmarks/bench_flex.py [--side 64] [--dims 32,64] [--threads 1,2]
            [--rounds 5] [--no-compile] [--memory-side 128] [--json out.json]

A NATTEN-style 7 x 7 neighbourhood (the window moved inside the grid at the borders) as a
``mask_mod`` over ``side x side`` tokens, batch 1, 4 heads, float32. For each head size and
thread count, in interleaved rounds (every method once a round, so that a busy machine slows
all of them alike), it times:

- ``ylg``: ``ylg.flex_attention(q, k, v, block_mask=mask_mod)``, plan cached;
- ``sdpa-mask``: ``F.scaled_dot_product_attention`` with the dense boolean ``(L, L)`` mask;
- ``torch-flex``: ``torch.compile(torch.nn.attention.flex_attention.flex_attention)`` with the
  ``create_block_mask`` BlockMask (forward only: torch has no CPU backward). Compiling takes a
  minute a head size; ``--no-compile`` leaves it out;

each forward (autograd recording, as in training) and forward+backward (the backward of the
output's sum), and the ratios within each round, whose medians it prints. It also times
preparing the mask once a round: ``ylg``'s plan from the mask_mod (cache cleared), from the
BlockMask, and torch's ``create_block_mask(..., device="cpu")``.

``--memory-side`` (default 128): time and peak memory of one forward+backward of ``ylg`` and
``sdpa-mask`` at that side (d 32, the first thread count), each in a fresh process, peak
resident set over the process's resident set before the call (``VmHWM`` after
``/proc/self/clear_refs``), the boolean mask and the inputs made before. SDPA with the mask
needs several GiB a head there (docs/benchmarks.md, "Attention layer"), so it runs on
``--memory-sdpa-heads`` heads (default 1) and its time and memory are scaled to 4 (the heads
are independent: both grow linearly).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ylg.attention.flexcpu as flexcpu  # noqa: E402
from ylg.attention.flexcpu import flex_attention  # noqa: E402

HEADS, RADIUS = 4, 3


def neighbourhood(side: int, radius: int = RADIUS):
    """NATTEN's (2r+1)^2 neighbourhood on a side x side grid, row-major tokens."""

    def mask_mod(b, h, q, kv):
        qy, qx, ky, kx = q // side, q % side, kv // side, kv % side
        cy, cx = qy.clamp(radius, side - 1 - radius), qx.clamp(radius, side - 1 - radius)
        return ((ky - cy).abs() <= radius) & ((kx - cx).abs() <= radius)

    return mask_mod


def clock(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed_methods(side: int, d: int, compiled, block_mask, mask_mod):
    """name -> a callable that runs it once (forward, or forward and backward)."""
    n = side * side
    q, k, v = (torch.randn(1, HEADS, n, d, requires_grad=True) for _ in range(3))
    i = torch.arange(n)
    dense = mask_mod(0, 0, i.view(-1, 1), i.view(1, -1))  # (L, L) bool

    def ylg_fwd():
        return flex_attention(q, k, v, block_mask=mask_mod)

    def sdpa_fwd():
        return F.scaled_dot_product_attention(q, k, v, attn_mask=dense)

    def backward(fwd):
        return lambda: fwd().sum().backward()

    methods = {"ylg fwd": ylg_fwd, "sdpa-mask fwd": sdpa_fwd,
               "ylg fwd+bwd": backward(ylg_fwd), "sdpa-mask fwd+bwd": backward(sdpa_fwd)}
    if compiled is not None:
        qd, kd, vd = q.detach(), k.detach(), v.detach()
        methods["torch-flex fwd"] = lambda: compiled(qd, kd, vd, block_mask=block_mask)
    return methods


def speed(args) -> list[dict]:
    from torch.nn.attention.flex_attention import create_block_mask
    from torch.nn.attention.flex_attention import flex_attention as torch_flex

    side, n = args.side, args.side ** 2
    mask_mod = neighbourhood(side)
    block_mask = create_block_mask(mask_mod, None, None, n, n, device="cpu")
    compiled = None if args.no_compile else torch.compile(torch_flex)
    rows = []
    for d in args.dims:
        for threads in args.threads:
            torch.set_num_threads(threads)
            methods = timed_methods(side, d, compiled, block_mask, mask_mod)
            start = time.perf_counter()
            for fn in methods.values():  # warm-up: the plan, torch's compilation
                fn()
            print(f"d {d} threads {threads}: warm-up {time.perf_counter() - start:.1f} s",
                  flush=True)
            times: dict[str, list[float]] = {m: [] for m in methods}
            for _ in range(args.rounds):
                for name, fn in methods.items():
                    times[name].append(clock(fn))

            def prepare_ylg(source):
                flexcpu._PLANS.clear()
                flexcpu._cached_plan(source, 1, HEADS, n, n, 2 * d)

            prep = {"ylg plan from mask_mod": lambda: prepare_ylg(mask_mod),
                    "ylg plan from BlockMask": lambda: prepare_ylg(block_mask),
                    "torch create_block_mask": lambda: create_block_mask(
                        mask_mod, None, None, n, n, device="cpu")}
            for _ in range(max(1, args.rounds // 2)):
                for name, fn in prep.items():
                    times.setdefault(name, []).append(clock(fn))
            flexcpu._PLANS.clear()
            row = {"d": d, "threads": threads,
                   "median_s": {m: statistics.median(x) for m, x in times.items()},
                   "min_s": {m: min(x) for m, x in times.items()}, "rounds": times}
            pairs = [("sdpa-mask fwd+bwd", "ylg fwd+bwd"), ("sdpa-mask fwd", "ylg fwd"),
                     ("torch-flex fwd", "ylg fwd"),
                     ("torch create_block_mask", "ylg plan from mask_mod"),
                     ("torch create_block_mask", "ylg plan from BlockMask")]
            row["ratios"] = {f"{a} / {b}": statistics.median(
                x / y for x, y in zip(times[a], times[b])) for a, b in pairs if a in times}
            rows.append(row)
            for m in times:
                print(f"  {m:28s} median {1e3 * row['median_s'][m]:9.1f} ms   "
                      f"min {1e3 * row['min_s'][m]:9.1f} ms", flush=True)
            for name, r in row["ratios"].items():
                print(f"  {name:52s} {r:6.1f}x (median of paired rounds)", flush=True)
    return rows


_MEMORY_CHILD = """
import sys, time, torch, torch.nn.functional as F
sys.path.insert(0, {root!r})
from benchmarks.bench_flex import neighbourhood, HEADS
from ylg.attention.flexcpu import flex_attention
torch.set_num_threads({threads})
side, d, method, heads = {side}, {d}, {method!r}, {heads}
n = side * side
mask_mod = neighbourhood(side)
q, k, v = (torch.randn(1, heads, n, d, requires_grad=True) for _ in range(3))
if method == "sdpa-mask":
    i = torch.arange(n)
    dense = mask_mod(0, 0, i.view(-1, 1), i.view(1, -1))
    run = lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=dense).sum().backward()
else:
    plan = time.perf_counter()
    import ylg.attention.flexcpu as flexcpu
    flexcpu._cached_plan(mask_mod, 1, heads, n, n, 2 * d)  # the plan, without a call
    plan = time.perf_counter() - plan
    run = lambda: flex_attention(q, k, v, block_mask=mask_mod).sum().backward()
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
before = status("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")
start = time.perf_counter()
run()
seconds = time.perf_counter() - start
print(seconds, status("VmHWM:") - before, plan if method == "ylg" else 0.0)
"""


def memory(args) -> list[dict]:
    rows = []
    root = str(Path(__file__).resolve().parents[1])
    for method in ("ylg", "sdpa-mask"):
        heads = HEADS if method == "ylg" else args.memory_sdpa_heads
        code = _MEMORY_CHILD.format(root=root, threads=args.threads[0], side=args.memory_side,
                                    d=32, method=method, heads=heads)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()
        scale = HEADS / heads
        seconds, peak, plan = float(out[0]) * scale, int(out[1]) * scale, float(out[2])
        note = "" if heads == HEADS else f"{heads} of {HEADS} heads, x{scale:g}"
        rows.append({"method": method, "side": args.memory_side, "fwd_bwd_s": seconds,
                     "peak_bytes": peak, "plan_s": plan, "note": note})
        print(f"{args.memory_side}x{args.memory_side} {method:10s} fwd+bwd {seconds:7.2f} s  "
              f"peak +{peak / 2 ** 20:8.0f} MiB" + (f"  (plan {plan:.2f} s)" if plan else "")
              + (f"  ({note})" if note else ""), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", type=int, default=64)
    ap.add_argument("--dims", type=lambda s: [int(x) for x in s.split(",")], default=[32, 64])
    ap.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true",
                    help="leave out torch's compiled flex_attention (a minute to compile)")
    ap.add_argument("--memory-side", type=int, default=128, help="0: no memory run")
    ap.add_argument("--memory-sdpa-heads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # torch's flex warnings (prototype, compile hints)
    result = {"speed": speed(args), "memory": memory(args) if args.memory_side else []}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
