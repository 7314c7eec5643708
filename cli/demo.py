"""`make demo`: the main job on the embedded data, step by step with visible progress.

For now: check the paper's patterns with and without ESA. Later steps (export, train, sample,
evaluate, invert) are appended as the toolkit grows.
"""

import sys
import time

import ifg

PAPER_PATTERNS = ("fixed", "strided", "ltr", "rtl")


def check_paper_patterns(n=256):
    """Print one line per (pattern, enumeration): edges and the Full Information verdict."""
    print(f"== Full Information of the paper's patterns at N = {n} ({ifg.stride(n)}x"
          f"{ifg.stride(n)} grid)")
    for name in PAPER_PATTERNS:
        for enumeration in ("rowmajor", "manhattan"):
            r = ifg.check(ifg.pattern(name, n, enumeration=enumeration))
            esa = "ESA   " if enumeration == "manhattan" else "no ESA"
            full = "yes" if r.full_information else f"no ({r.missing_pairs:,} pairs lack a path)"
            causal = "yes" if r.causal_full_information else "no"
            print(f"  {name:<8} {esa}  edges {sum(r.edges):>6,}  Full Information: {full:<32} "
                  f"causal: {causal}")


def main():
    t0 = time.perf_counter()
    check_paper_patterns()
    print(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
