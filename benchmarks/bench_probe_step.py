"""Where a `ylg compare` run's time goes: one probe's training step, part by part.

Usage:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_probe_step.py [--grid 16]
            [--layers 2] [--steps 22] [--profile] [--no-eval] [ITEM ...]

For each item (default `neighborhood:kernel=3 dense ylg`), a probe of `--layers` layers on the
photographs at `--grid` (the `ylg compare --task images --data photos` settings: width 64, batch
64, one thread) trains `--steps` steps; the milliseconds a step spends drawing the batch, in the
forward, in the backward and in the optimiser are averaged over the steps after the first two,
then the evaluation (the task's held-out patches) is timed once. Each item runs twice in the same
process: computing every position (as before #24's last change) and only the positions the loss
reads (the hidden patch, and what it depends on: `ProbeNet(..., rows)`, as `ylg compare` trains);
the last column is the ratio of their step times. With `--profile`, torch's
profiler lists the operations of one layer's attention module, forward and backward (10 rounds).
Run two copies at once to see what a second job costs each (`ylg compare --jobs 2`).
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("items", nargs="*", default=["neighborhood:kernel=3", "dense", "ylg"])
    ap.add_argument("--grid", type=int, default=16)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=22)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--no-eval", action="store_true", help="skip the evaluation (long at 32x32)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from ylg.compare import make_task, resolve
    from ylg.compare.probe import ProbeNet, gather_rows

    class _Everywhere(torch.nn.Module):  # the probe computing every position, then the rows
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
            out = self.net(x)
            return out if rows is None else gather_rows(out, rows)
    from ylg.compare.tasks import task_options

    task = make_task("images", **task_options("images", grid=args.grid, data="photos"))
    print(f"photos at {args.grid}x{args.grid}, {args.layers} layers, batch 64, width 64, one "
          f"thread; ms a step (mean of {args.steps - 2})\n")
    print("| mask set | positions | batch | forward | backward | optimiser | step | evaluation (s) "
          "| step / every position's |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for item, wanted in ((item, wanted) for item in args.items for wanted in (False, True)):
        probe = resolve(item, task.grid, depth=args.layers)
        torch.manual_seed(0)
        data = torch.Generator().manual_seed(0)
        net = ProbeNet(task.embed(64), torch.from_numpy(probe.dense()), dim=64,
                       out_features=task.out_features, grid=task.grid, order=probe.order)
        opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=0.01)
        parts = dict.fromkeys(("batch", "forward", "backward", "optimiser"), 0.0)
        for step in range(args.steps):
            t0 = time.perf_counter()
            x, y = task.batch(data, 64)
            rows = task.rows(y)
            t1 = time.perf_counter()
            out = net(x, rows) if wanted else gather_rows(net(x), rows)
            loss = task.loss(out, gather_rows(y, rows))
            t2 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t3 = time.perf_counter()
            opt.step()
            t4 = time.perf_counter()
            if step >= 2:
                for name, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    parts[name] += dt
        ms = {name: 1000 * v / (args.steps - 2) for name, v in parts.items()}
        t0 = time.perf_counter()
        if not args.no_eval:
            task.evaluate(net if wanted else _Everywhere(net), probe, "cpu")
        evaluation = time.perf_counter() - t0 if not args.no_eval else float("nan")
        step_ms = sum(ms.values())
        if not wanted:
            every = step_ms
        print(f"| {item} | {'wanted' if wanted else 'every'} | {ms['batch']:.1f} | "
              f"{ms['forward']:.1f} | {ms['backward']:.1f} | {ms['optimiser']:.1f} | "
              f"{step_ms:.1f} | {evaluation:.1f} | {step_ms / every:.2f} |")
        if args.profile and not wanted:
            from torch.profiler import ProfilerActivity, profile

            attention = net.attn[0]
            h = torch.randn(64, task.grid[0] * task.grid[1], 64, requires_grad=True)
            p = torch.randn(task.grid[0] * task.grid[1], 64)
            for _ in range(2):
                attention(h, p).sum().backward()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(10):
                    attention(h, p).sum().backward()
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
