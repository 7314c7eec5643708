"""Torch's CPU threads on an idle and on a busy machine: the measurement behind ``ylg --threads``.

Usage:  .venv/bin/python benchmarks/bench_threads.py [--jobs 0,1,2] [--rounds 3] [--train-steps 3]
            [--invert-steps 5] [--json results.json]

Two workloads, each the unit of a long command:

- ``train``: one training step (a D and a G update, hinge loss, Adam) of the demo's YLG-SAGAN
  (32x32, width 16, batch 32, the paper's 8 YLG heads), from ``ylg.train.train_step``;
- ``invert``: one Adam step of the YLG inversion of 2 images from 8 starts each (the published
  starts), from ``ylg.invert.invert``.

Each is timed with 1 thread and with torch's default (``torch.get_num_threads()`` at start, one
per core), on the machine as it is (0 jobs: "idle" only if ``uptime`` says so) and beside each number of
background processes in ``--jobs`` that run 2-thread float32 matrix products; the script starts
and stops them. The settings
are timed in turns, ``--rounds`` times, and the median of each is kept. Prints ``uptime`` before
and after (an "idle" figure is only idle if the load average says so), a markdown table, and the
ratio default / 1 thread of each (above 1: one thread is faster).
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ylg.invert import Budget, invert  # noqa: E402
from ylg.models import Discriminator, Generator  # noqa: E402
from ylg.train import TrainConfig, train_step  # noqa: E402

#: a background job: 2-thread float32 matrix products until killed
_LOAD = "import torch\ntorch.set_num_threads(2)\na = torch.randn(768, 768)\nwhile True: a @ a\n"


class _RandomBatches:
    """What ``train_step`` draws real images from: one fixed random batch."""

    def __init__(self, batch, resolution):
        self.share, self.device = batch, torch.device("cpu")
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(batch, 1, resolution, resolution, generator=g) * 2 - 1
        self.y = torch.randint(10, (batch,), generator=g)

    def draw(self, k):
        return self.x, self.y


def _models(cfg):
    kw = dict(resolution=cfg.resolution, width=cfg.width, num_classes=10, channels=1,
              attention=cfg.attention)
    torch.manual_seed(0)
    return Generator(**kw), Discriminator(**kw)


def train_workload(steps):
    """A callable that runs ``steps`` training steps of the demo's model."""
    cfg = TrainConfig(width=16, batch_size=32, attention="ylg", device="cpu")
    G, D = _models(cfg)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    batches, gen, step = _RandomBatches(cfg.batch_size, cfg.resolution), torch.Generator(), [0]

    def run():
        for _ in range(steps):
            step[0] += 1
            train_step(G, D, opt_g, opt_d, batches, step=step[0], cfg=cfg, num_classes=10,
                       generator=gen, autocast=contextlib.nullcontext)

    return run


def invert_workload(steps):
    """A callable that runs a YLG inversion of 2 images, 8 starts, ``steps`` Adam steps."""
    G, D = _models(TrainConfig(width=16, attention="ylg", device="cpu"))
    G.eval(), D.eval()
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    budget = Budget(steps=steps, starts=8)
    return lambda: invert(G, D, x, label=[3, 7], method="ylg", budget=budget)


def seconds(fn, threads):
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", default="0,1,2",
                    help="numbers of background 2-thread jobs, comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--invert-steps", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    default, loads = torch.get_num_threads(), [int(j) for j in args.jobs.split(",")]
    print(f"uptime before: {uptime()}")
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, default threads {default}, "
          f"background jobs of 2 threads: {args.jobs}", flush=True)
    work = {"train": (train_workload(args.train_steps), args.train_steps),
            "invert": (invert_workload(args.invert_steps), args.invert_steps)}
    for fn, _ in work.values():  # warm-up: allocator, first-call costs
        seconds(fn, 1)
    times: dict = {}
    for r in range(args.rounds):
        for jobs in loads:
            procs = [subprocess.Popen([sys.executable, "-c", _LOAD]) for _ in range(jobs)]
            try:
                time.sleep(1.5 if jobs else 0.0)  # let the jobs start their products
                for name, (fn, steps) in work.items():
                    for threads in (1, default):
                        t = seconds(fn, threads) / steps
                        times.setdefault((name, jobs, threads), []).append(t)
                        print(f"round {r} jobs {jobs} {name:<6} {threads} thread(s): "
                              f"{1e3 * t:,.0f} ms/step", flush=True)
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
    torch.set_num_threads(default)
    print(f"uptime after: {uptime()}")
    print(f"\n| workload | background jobs | 1 thread (ms/step) | {default} threads (ms/step) | "
          f"{default} threads / 1 thread |\n|---|---|---:|---:|---:|")
    rows = []
    for name in work:
        for jobs in loads:
            one = statistics.median(times[(name, jobs, 1)])
            many = statistics.median(times[(name, jobs, default)])
            rows.append({"workload": name, "jobs": jobs, "one": one, "default": many,
                         "threads": default, "ratio": many / one})
            print(f"| {name} | {jobs} | {1e3 * one:,.0f} | {1e3 * many:,.0f} | "
                  f"{many / one:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
