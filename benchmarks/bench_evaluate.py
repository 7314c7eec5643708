"""Time `ylg evaluate`'s default (the domain metrics) on a checkpoint at the default width.

Usage:  .venv/bin/python benchmarks/bench_evaluate.py [--width 64] [--samples 1000] [--threads 1]

Trains a one-step checkpoint at the given width (32x32 digits; the quality does not matter, only
the size of G), then times ``ylg.metrics.evaluate_checkpoint`` with the default metrics twice:
with a fresh cache (the digits classifier is trained first) and with the cache warm. Prints
markdown on stdout.
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

from ylg.metrics import DEFAULT_METRICS, evaluate_checkpoint
from ylg.train import TrainConfig, train


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        train(TrainConfig(out=str(run), steps=1, width=args.width, batch_size=4, device="cpu",
                          attention="dense"),  # the model measured in docs/metrics.md
              progress=False, log=lambda m: None)
        print(f"## ylg evaluate, default metrics ({','.join(DEFAULT_METRICS)}), width "
              f"{args.width}, {args.samples} samples, torch threads {args.threads}\n")
        print("| cache | seconds |\n|---|---:|")
        for label in ("fresh (classifier trained)", "warm"):
            t0 = time.perf_counter()
            evaluate_checkpoint(run / "checkpoint.pt", samples=args.samples,
                                cache=Path(folder) / "cache", log=None)
            print(f"| {label} | {time.perf_counter() - t0:.1f} |")


if __name__ == "__main__":
    main()
