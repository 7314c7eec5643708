"""Scaling of the Full Information check of `ltr` with ESA, against networkx and scipy.

Usage:  .venv/bin/python benchmarks/bench_check.py [--sizes 1024,4096,16384,65536,262144]

For each N (a square grid) a fresh subprocess builds the pattern (`ifg.pattern("ltr", N,
enumeration="manhattan")`), checks it (`ifg.check`, best of 5, 1 above 65,536) and reports its
peak memory (max RSS: interpreter, pattern and check together). In the same process, where they
fit, two baselines answer the same question on the same pattern:

- networkx: the path search of `ifg.graph` (descendants of every input node in the
  information-flow graph); in full up to N = 1,024, on 64 sources scaled to N up to 16,384
  (labelled "est."), not run beyond;
- scipy: the boolean sparse product `M2 @ M1` and a count of its non-zeros (the textbook
  check), up to N = 8,192 (its product has N^2 entries: 3 GiB at 16,384).

Prints a markdown table, then the exponent `b` of `time = a * N^b` fitted (least squares on
log-log) to build and check over the sizes from 4,096 up, next to that of the edge count.
"""

import argparse
import json
import math
import resource
import subprocess
import sys
import time


def _timed(f, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def one(n):
    import ifg

    t0 = time.perf_counter()
    p = ifg.pattern("ltr", n, enumeration="manhattan")
    build = time.perf_counter() - t0
    check, report = _timed(lambda: ifg.check(p), 5 if n <= 65536 else 1)
    assert report.full_information
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    row = {"n": n, "edges": sum(p.edges), "build_s": build, "check_s": check, "peak_mib": peak,
           "networkx_s": None, "networkx_full": False, "scipy_s": None}
    if n <= 16384:
        import networkx as nx
        from ifg.graph import information_flow_graph

        g = information_flow_graph(p)
        sources = range(n if n <= 1024 else 64)
        t0 = time.perf_counter()
        for k in sources:
            assert sum(1 for (t, _) in nx.descendants(g, (0, k)) if t == 2) == n
        row["networkx_s"] = (time.perf_counter() - t0) * n / len(sources)
        row["networkx_full"] = len(sources) == n
    if n <= 8192:
        m1, m2 = (s.astype("int32") for s in p.steps)
        row["scipy_s"], nnz = _timed(lambda: (m2 @ m1).nnz, 3)
        assert nnz == n * n
    return row


def fit_exponent(xs, ys):
    """Least-squares slope of log(y) against log(x)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return (sum((a - mx) * (b - my) for a, b in zip(lx, ly))
            / sum((a - mx) ** 2 for a in lx))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1024,4096,16384,65536,262144")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    rows = []
    for n in map(int, args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--one", str(n)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout))
        print(f"done n={n}", file=sys.stderr)
    print("| N | grid | edges | build (s) | check (s) | peak (MiB) | networkx (s) | check vs "
          "networkx | scipy product (s) | check vs scipy |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        side = math.isqrt(r["n"])
        if r["networkx_s"] is None:
            nx_s, nx_x = "not run", "—"
        else:
            nx_s = f"{r['networkx_s']:.2f}" + ("" if r["networkx_full"] else " (est.)")
            nx_x = f"{r['networkx_s'] / r['check_s']:,.0f}x"
        if r["scipy_s"] is None:
            sp_s, sp_x = "not run", "—"
        else:
            sp_s, sp_x = f"{r['scipy_s']:.4f}", f"{r['scipy_s'] / r['check_s']:,.1f}x"
        print(f"| {r['n']:,} | {side}x{side} | {r['edges']:,} | {r['build_s']:.3f} | "
              f"{r['check_s']:.4f} | {r['peak_mib']:,.0f} | {nx_s} | {nx_x} | {sp_s} | {sp_x} |")
    big = [r for r in rows if r["n"] >= 4096]
    if len(big) >= 2:
        ns = [r["n"] for r in big]
        print(f"\nfitted exponent b of time = a * N^b over N = {ns[0]:,}..{ns[-1]:,}: "
              f"build {fit_exponent(ns, [r['build_s'] for r in big]):.2f}, "
              f"check {fit_exponent(ns, [r['check_s'] for r in big]):.2f} "
              f"(edges {fit_exponent(ns, [r['edges'] for r in big]):.2f})")


if __name__ == "__main__":
    main()
