"""The numbers of docs/design.md: extension, locality, and search against ltr with ESA.

Usage:  .venv/bin/python benchmarks/bench_design.py [--seconds 30] [--seed 0] [--skip-1024]

Prints markdown tables. The search runs for --seconds at N = 81 and 256, without a budget and at
ltr's budget (10 and 17 keys per query per step); it stops early when its families run out.
"""

import argparse
import time

import ifg
from ifg.extend import extend, strided_extension
from ifg.locality import locality
from ifg.search import search


def extension_table(skip_1024):
    print("| pattern | N | budget | added (step 1 + step 2) | lower bound | method | optimal | "
          "tried | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    cases = [("fixed", 81, 10), ("fixed", 81, None), ("strided", 81, 10), ("fixed", 256, 17),
             ("fixed", 256, None), ("strided", 256, 17), ("strided", 256, None)]
    if not skip_1024:
        cases += [("fixed", 1024, 33), ("strided", 1024, 33)]
    for name, n, budget in cases:
        t0 = time.perf_counter()
        e = extend(ifg.pattern(name, n), max_keys_per_query=budget)
        dt = time.perf_counter() - t0
        assert ifg.check(e.pattern).full_information
        per = " + ".join(str(c) for c in e.added_per_step)
        tried = ", ".join(f"{m} {c}" for m, c in e.tried.items())
        print(f"| {name} | {n} | {budget or 'none'} | {len(e.added)} ({per}) | {e.lower_bound} | "
              f"{e.method} | {'yes' if e.optimal else 'no'} | {tried} | {dt:.2f} |")
    for n in (256, 4096):
        t0 = time.perf_counter()
        p = strided_extension(n)
        dt = time.perf_counter() - t0
        print(f"\nstrided_extension({n}) with ESA: edges {p.edges}, built in {dt * 1000:.0f} ms, "
              f"Full Information {ifg.check(p).full_information}")


def locality_table():
    print("| pattern (16x16) | enumeration | step 1: distance | step 1: 4-neighbours | "
          "step 2: distance | step 2: 4-neighbours |")
    print("|---|---|---|---|---|---|")
    rows = [(name, e, ifg.pattern(name, 256, enumeration=e))
            for name in ("ltr", "rtl") for e in ("rowmajor", "manhattan", "snake", "hilbert")]
    rows += [("strided-ext", e, strided_extension(256, enumeration=e))
             for e in ("rowmajor", "manhattan")]
    for name, e, p in rows:
        s1, s2 = locality(p)
        print(f"| {name} | {e} | {s1.mean_distance:.2f} | {100 * s1.neighbour_share:.0f}% | "
              f"{s2.mean_distance:.2f} | {100 * s2.neighbour_share:.0f}% |")


def search_tables(seconds, seed):
    for n, ltr_budget in ((81, 10), (256, 17)):
        for budget in (None, ltr_budget):
            s = search(n, seconds=seconds, seed=seed, max_keys_per_query=budget, top=5)
            b = s.baseline
            label = "no budget" if budget is None else f"at most {budget} keys per query per step"
            print(f"\n### N = {n}, {label}: {s.evaluated} candidates in {s.seconds:.1f} s "
                  f"(seed {seed})\n")
            print("| pattern | edges | vs ltr+ESA | distance | vs ltr+ESA | 4-neighbours (step 1) "
                  "| max keys | score |")
            print("|---|---|---|---|---|---|---|---|")
            shown = [b] + s.results + [r for r in s.pareto if r not in s.results]
            for r in shown:
                tag = " (baseline)" if r is b else (" (Pareto)" if r in s.pareto else "")
                print(f"| {r.description}{tag} | {r.edges:,} | {r.edges / b.edges - 1:+.0%} | "
                      f"{r.distance:.2f} | {r.distance / b.distance - 1:+.0%} | "
                      f"{100 * r.neighbour_share:.0f}% | {r.max_keys_per_query} | "
                      f"{r.score:.3f} |")
            assert all(ifg.check(r.pattern).full_information for r in shown)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-1024", action="store_true")
    args = parser.parse_args()
    print("## Extension\n")
    extension_table(args.skip_1024)
    print("\n## Locality\n")
    locality_table()
    print("\n## Search")
    search_tables(args.seconds, args.seed)


if __name__ == "__main__":
    main()
