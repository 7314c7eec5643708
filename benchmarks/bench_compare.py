"""The cost of one ``ylg compare`` comparison: seconds per probe run, per mask set and task.

Usage:  .venv/bin/python benchmarks/bench_compare.py [--steps 100] [--threads 1]
        .venv/bin/python benchmarks/bench_compare.py --from-json runs/full/flow.json ...

Without ``--from-json``: trains one seed of each of the paper's five variants (``ylg ylg-no-esa
ylg-strided dense local``) on ``flow`` and ``images`` for ``--steps`` steps (default settings
otherwise, no cache), and prints per run the seconds, the milliseconds per training step and the
projected cost of the default comparison (400 steps, 5 seeds), as a ratio to ``dense`` in the same
run. With ``--from-json``: the same table from the per-run ``seconds`` that a finished
``ylg compare --json`` recorded (the full runs measure themselves).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ITEMS = ["ylg", "ylg-no-esa", "ylg-strided", "dense", "local"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--from-json", nargs="+", default=None)
    ap.add_argument("--only-seeds", default=None,
                    help="with --from-json: the seeds to read, e.g. 2,3,4 (those run on a quiet "
                         "machine)")
    args = ap.parse_args()
    if args.from_json:
        for path in args.from_json:
            d = json.loads(Path(path).read_text())
            keep = (set(d["seeds"]) if args.only_seeds is None
                    else {int(x) for x in args.only_seeds.split(",")})
            rows = [(d["task"], item, r["seconds"])
                    for item in d["items"] for seed, r in zip(d["seeds"], d["runs"][item])
                    if seed in keep]
            print(f"\n{path}: {len(rows)} runs, {d['settings']}, wall {d['seconds']:.0f} s")
            print("| mask set | s / run (mean) | min | max | ratio to dense |")
            print("|---|---:|---:|---:|---:|")
            dense = (statistics.mean(s for _, i, s in rows if i == "dense")
                     if "dense" in d["items"] else float("nan"))
            for item in d["items"]:
                secs = [s for _, i, s in rows if i == item]
                print(f"| {item} | {statistics.mean(secs):.1f} | {min(secs):.1f} | "
                      f"{max(secs):.1f} | {statistics.mean(secs) / dense:.2f} |")
            per_seed = sum(s for *_, s in rows) / len(keep & set(d["seeds"]))
            print(f"| **per seed (all mask sets)** | {per_seed:.1f} | | | |")
        return
    import torch

    from ylg.compare import Settings, make_task, resolve, train_probe

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.steps} steps per run")
    print("| task | mask set | s / run | ms / step | projected default run (s) | ratio to dense |")
    print("|---|---|---:|---:|---:|---:|")
    for task_name in ("flow", "images"):
        task = make_task(task_name)
        results = {}
        for item in ITEMS:
            probe = resolve(item, task.grid, depth=2)
            start = time.perf_counter()
            train_probe(task, probe, 0, Settings(steps=args.steps))
            results[item] = time.perf_counter() - start
        for item, secs in results.items():
            projected = secs * Settings().steps / args.steps
            print(f"| {task_name} | {item} | {secs:.1f} | {1000 * secs / args.steps:.0f} | "
                  f"{projected:.0f} | {secs / results['dense']:.2f} |")
        seed = sum(results.values()) * Settings().steps / args.steps
        print(f"| {task_name} | one seed of 5 mask sets | | | {seed:.0f} | |")
        print(f"| {task_name} | default comparison (5 seeds) | | | {5 * seed:.0f} | |")


if __name__ == "__main__":
    main()
