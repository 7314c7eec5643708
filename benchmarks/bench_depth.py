"""Depth of a 7 x 7 neighbourhood stack (`ylg-masks depth`), against scipy and networkx.

Usage:  .venv/bin/python benchmarks/bench_depth.py [--sides 32,64,128,256] [--bitsets 64]
                                                   [--mask-mod-side 256]

For each grid side S (N = S * S), in fresh subprocesses:

- cli: `ylg-masks depth --pattern neighborhood:kernel=7 --grid SxS --json`, end to end (start-up,
  build, depth), wall time and peak memory (max RSS of the child);
- library: `ifg.depth` alone (the Kronecker method, which the CLI takes for this pattern), best
  of 3; and the bitsets method (any mask) up to `--bitsets` side;
- scipy: the textbook answer, boolean sparse products `R = M @ R` from the identity until all
  N * N pairs are True, up to S = 64 (its reach holds up to N^2 entries: 3 GiB at S = 128);
- networkx: the step's graph has self-loops, so the depth is its diameter (the longest shortest
  path); single-source BFS from 32 sources scaled to N (labelled est.), up to S = 64.

With `--mask-mod-side S`, also `ylg-masks depth --mask-mod FILE:natten_7x7 --grid SxS`: the
mask_mod (written as NATTEN's window in torch) evaluated in chunks of queries, then the depth;
and, in the same run, reading the mask alone: `ylg.attention.flexmasks.from_mask_mod` against
torch's own `create_mask` (the dense (N, N) boolean mask, then its nonzero pairs) at the side
given by `--mask-mod-baseline-side` (default 128: at 256 torch's dense mask is 4.3 GB).

Prints a markdown table and the exponent `b` of `time = a * N^b` (least squares on log-log) of
the CLI and of the library over the sides from 64 up.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(os.path.dirname(sys.executable), "ylg-masks")
SPEC = "neighborhood:kernel=7"

MOD = textwrap.dedent("""
    def natten_7x7(b, h, q_idx, kv_idx):
        side = {side}
        qr, qc, kr, kc = q_idx // side, q_idx % side, kv_idx // side, kv_idx % side
        rows, cols = (qr - 3).clamp(0, side - 7), (qc - 3).clamp(0, side - 7)
        return (kr >= rows) & (kr < rows + 7) & (kc >= cols) & (kc < cols + 7)
""")


def _child(args):
    """Run a command; its wall time, peak RSS (MiB, of that child alone) and stdout."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        if code not in (0, 1):
            err.seek(0)
            raise SystemExit(f"{' '.join(args)} failed:\n{err.read()}")
    return wall, usage.ru_maxrss / 1024, out


def library(side, bitsets):
    import ifg

    p = ifg.pattern(SPEC, grid=(side, side))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        report = ifg.depth(p)
        best = min(best, time.perf_counter() - t0)
    row = {"layers": report.layers, "library_s": best, "bitsets_s": None, "scipy_s": None,
           "networkx_s": None}
    if side <= bitsets:
        t0 = time.perf_counter()
        assert ifg.depth(p, method="bitsets").layers == report.layers
        row["bitsets_s"] = time.perf_counter() - t0
    if side <= 64:
        row["scipy_s"] = _scipy(p, report.layers)
        row["networkx_s"] = _networkx(p, report.layers)
    print(json.dumps(row))


def _scipy(p, layers):
    import numpy as np
    import scipy.sparse as sp

    n = p.n
    step = sp.csr_matrix(p.steps[0], dtype=np.int8)
    t0 = time.perf_counter()
    reach = sp.identity(n, dtype=np.int8, format="csr")
    t = 0
    while reach.nnz < n * n:
        reach = step @ reach
        reach.data[:] = 1  # boolean: keep the entries 0/1
        t += 1
    assert t == layers
    return time.perf_counter() - t0


def _networkx(p, layers):
    import networkx as nx
    import numpy as np

    g = nx.DiGraph()
    q, k = p.steps[0].nonzero()
    g.add_edges_from(zip(k.tolist(), q.tolist()))  # key -> query
    sources = np.linspace(0, p.n - 1, 32).astype(int)
    t0 = time.perf_counter()
    eccentricity = max(max(nx.single_source_shortest_path_length(g, int(s)).values())
                       for s in sources)
    assert eccentricity <= layers
    return (time.perf_counter() - t0) * p.n / len(sources)


def _fit(points):
    pts = [(math.log(n), math.log(t)) for n, t in points if t]
    if len(pts) < 2:
        return float("nan")
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    return (sum((x - mx) * (y - my) for x, y in pts)
            / sum((x - mx) ** 2 for x, _ in pts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sides", default="32,64,128,256")
    ap.add_argument("--bitsets", type=int, default=64,
                    help="run the bitsets method up to this side")
    ap.add_argument("--mask-mod-side", type=int, default=128)
    ap.add_argument("--mask-mod-baseline-side", type=int, default=128)
    ap.add_argument("--library", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--read", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.library is not None:
        return library(args.library, args.bitsets)
    if args.read is not None:
        return read_mask_mod(*args.read.split(":"))
    rows = []
    for side in (int(s) for s in args.sides.split(",")):
        wall, peak, out = _child([CLI, "depth", "--pattern", SPEC, "--grid", f"{side}x{side}",
                                  "--json"])
        cli = json.loads(out)
        _, _, lib = _child([sys.executable, __file__, "--library", str(side), "--bitsets",
                            str(args.bitsets)])
        row = {"side": side, "n": side * side, "cli_s": wall, "cli_peak_mib": peak,
               **json.loads(lib)}
        assert row["layers"] == cli["layers"]
        rows.append(row)
    fmt = lambda v, est=False: "-" if v is None else f"{v:.3g}" + (" est." if est else "")  # noqa: E731
    print("| grid | N | layers | CLI s | CLI peak MiB | ifg.depth s | bitsets s | scipy s | "
          "networkx s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['side']}x{r['side']} | {r['n']:,} | {r['layers']} | {fmt(r['cli_s'])} | "
              f"{fmt(r['cli_peak_mib'])} | {fmt(r['library_s'])} | {fmt(r['bitsets_s'])} | "
              f"{fmt(r['scipy_s'])} | {fmt(r['networkx_s'], True)} |")
    big = [r for r in rows if r["side"] >= 64]
    print(f"\nexponent b of time = a * N^b (sides >= 64): CLI "
          f"{_fit([(r['n'], r['cli_s']) for r in big]):.2f}, ifg.depth "
          f"{_fit([(r['n'], r['library_s']) for r in big]):.2f}; scipy (sides <= 64) "
          f"{_fit([(r['n'], r['scipy_s']) for r in rows if r['scipy_s']]):.2f}")
    if args.mask_mod_side:
        side = args.mask_mod_side
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "natten_mod.py")
            with open(path, "w") as f:
                f.write(MOD.format(side=side))
            wall, peak, out = _child([CLI, "depth", "--mask-mod", f"{path}:natten_7x7",
                                      "--grid", f"{side}x{side}", "--json"])
        report = json.loads(out)
        print(f"\nmask_mod at {side}x{side}: `ylg-masks depth --mask-mod FILE:natten_7x7` "
              f"{wall:.1f} s end to end, peak {fmt(peak)} MiB, depth {report['layers']} "
              f"({report['method']})")
        side = args.mask_mod_baseline_side
        if side:
            print(f"\nreading the mask_mod at {side}x{side} (each in a fresh process):")
            times, pairs = {}, {}
            for who in ("ylg", "torch"):
                _, peak, out = _child([sys.executable, __file__, "--read", f"{who}:{side}"])
                times[who], pairs[who] = json.loads(out)["seconds"], json.loads(out)["pairs"]
                print(f"- {who}: {times[who]:.2f} s, peak {peak:.0f} MiB")
            assert pairs["ylg"] == pairs["torch"], pairs
            print(f"- torch create_mask / ylg from_mask_mod: {times['torch'] / times['ylg']:.1f}x")


def read_mask_mod(who, side):
    """One way of reading the mask_mod into its allowed pairs; prints the seconds as JSON."""
    import torch

    side = int(side)
    scope = {}
    exec(MOD.format(side=side), scope)  # the benchmark's own mask_mod, not a user's file
    fn, n = scope["natten_7x7"], side * side
    t0 = time.perf_counter()
    if who == "ylg":
        from ylg.attention.flexmasks import from_mask_mod

        pairs = from_mask_mod(fn, (side, side)).edges[0]
    else:
        from torch.nn.attention.flex_attention import create_mask

        pairs = int(create_mask(fn, 1, 1, n, n, device="cpu").nonzero().shape[0])
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "pairs": pairs, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
