"""Time the Full Information check of `ltr` with ESA, against the networkx reference.

Usage:  .venv/bin/python benchmarks/bench_check.py [--sizes 1024,4096,16384,65536]

Each size runs in a fresh subprocess, so that its peak memory (max RSS, which includes the
interpreter and the pattern itself) is its own. The networkx reference runs in the same process:
in full at N <= 4,096; at 16,384 it is timed on 64 sources and scaled to N (labelled so).
Prints a markdown table.
"""

import argparse
import json
import resource
import subprocess
import sys
import time


def one(n, reference_sources):
    import ifg
    from ifg.graph import information_flow_graph
    import networkx as nx

    t0 = time.perf_counter()
    p = ifg.pattern("ltr", n, enumeration="manhattan")
    build = time.perf_counter() - t0
    best = float("inf")
    for _ in range(3 if n <= 16384 else 1):
        t0 = time.perf_counter()
        report = ifg.check(p)
        best = min(best, time.perf_counter() - t0)
    assert report.full_information
    ref = None
    if reference_sources:
        g = information_flow_graph(p)
        sources = range(min(n, reference_sources))
        t0 = time.perf_counter()
        for k in sources:
            reached = sum(1 for (t, _) in nx.descendants(g, (0, k)) if t == 2)
            assert reached == n
        ref = (time.perf_counter() - t0) * n / len(sources)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {"n": n, "build_s": build, "check_s": best, "reference_s": ref,
            "reference_full": reference_sources is not None and reference_sources >= n,
            "peak_gib": peak, "edges": sum(p.edges)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1024,4096,16384,65536")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ref", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.ref or None)))
        return
    rows = []
    for n in map(int, args.sizes.split(",")):
        ref = n if n <= 4096 else (64 if n <= 16384 else 0)
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--ref", str(ref)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout))
        print(f"done n={n}", file=sys.stderr)
    print("| N | grid | edges | check (s) | networkx reference (s) | speed-up | peak RSS (GiB) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        side = int(r["n"] ** 0.5)
        if r["reference_s"] is None:
            ref, speed = "not run", "—"
        else:
            note = "" if r["reference_full"] else " (est.: 64 sources, scaled to N)"
            ref = f"{r['reference_s']:.2f}{note}"
            speed = f"{r['reference_s'] / r['check_s']:,.0f}x"
        print(f"| {r['n']:,} | {side}x{side} | {r['edges']:,} | {r['check_s']:.4f} | {ref} | "
              f"{speed} | {r['peak_gib']:.2f} |")


if __name__ == "__main__":
    main()
