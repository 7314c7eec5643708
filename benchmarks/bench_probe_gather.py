"""How far back the probe should compute only the wanted positions: its cost rule against
gathering the last layer alone.

Usage:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_probe_gather.py [--grid 16]
            [--steps 4] [--rounds 2] [ITEM ...]

For each item (default `ylg sliding-tile:tile=2,window=3 swin:window=4 axial`), a 2-layer probe on
the photographs at `--grid` (width 64, batch 64, one thread, `ylg compare --task images --data
photos`) trains `--steps` steps with `ProbeNet.worth_gathering` as it is ("cost") and forced to
gather the last layer only ("last"), alternately for `--rounds` rounds, all in one process. It
prints the positions each layer computes (`ProbeNet.needed` for one batch) and the ms a step.
`_GATHERED_OVERHEAD` in ylg/compare/probe.py was set from these figures.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("items", nargs="*",
                    default=["ylg", "sliding-tile:tile=2,window=3", "swin:window=4", "axial"])
    ap.add_argument("--grid", type=int, default=16)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)

    from ylg.compare import make_task, resolve
    from ylg.compare.probe import ProbeNet, gather_rows
    from ylg.compare.tasks import task_options

    task = make_task("images", **task_options("images", grid=args.grid, data="photos"))
    print(f"photos at {args.grid}x{args.grid}, 2 layers, batch 64, width 64, one thread; ms a "
          f"step (mean of {args.steps}, after one)\n")
    print("| mask set | rule | positions computed per layer, last first | ms a step (rounds) |")
    print("|---|---|---|---|")
    for item in args.items:
        probe = resolve(item, task.grid, depth=2)
        torch.manual_seed(0)
        net = ProbeNet(task.embed(64), torch.from_numpy(probe.dense()), dim=64,
                       out_features=task.out_features, grid=task.grid, order=probe.order)
        opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=0.01)
        data = torch.Generator().manual_seed(0)
        rules = {"cost": lambda layer, q, k, net=net: ProbeNet.worth_gathering(net, layer, q, k),
                 "last": lambda layer, q, k, net=net: layer == len(net.attn) - 1}
        times: dict[str, list[float]] = {rule: [] for rule in rules}
        sizes = {}
        for _ in range(args.rounds):
            for rule, fn in rules.items():
                net.worth_gathering = fn  # type: ignore[method-assign]
                x, y = task.batch(torch.Generator().manual_seed(1), 64)
                sizes[rule] = [index.shape[1] for index, _ in net.needed(task.rows(y))]
                for step in range(args.steps + 1):
                    if step == 1:
                        t0 = time.perf_counter()
                    x, y = task.batch(data, 64)
                    rows = task.rows(y)
                    loss = task.loss(net(x, rows), gather_rows(y, rows))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                times[rule].append(1000 * (time.perf_counter() - t0) / args.steps)
        for rule in rules:
            print(f"| {item} | {rule} | {sizes[rule]} | "
                  f"{', '.join(f'{t:.0f}' for t in times[rule])} |")


if __name__ == "__main__":
    main()
