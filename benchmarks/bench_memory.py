"""How close ``ylg.memory``'s training estimate comes to the measured peak memory.

Usage:  .venv/bin/python benchmarks/bench_memory.py [--configs 32:16:64,32:32:64,64:64:8]

Each config is RESOLUTION:WIDTH:BATCH (YLG attention, digits). Each runs in a fresh process:
the process's peak resident memory is read after start-up (torch, the data, the models' code
imported) and again after two training steps; the difference is compared with
``ylg.memory.estimate_bytes(G, D, batch, training=True)``, the number the refusal uses. The
estimate is meant as an upper bound: ratio >= 1.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, torch
torch.set_num_threads(1)
from ylg.config import TrainConfig
from ylg.data import load_data
from ylg.memory import estimate_bytes, peak_memory
from ylg.models import Discriminator, Generator
from ylg.train import train
res, width, batch, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
load_data("digits", resolution=res)
kw = dict(resolution=res, width=width, channels=1, num_classes=10, attention="ylg")
estimate = estimate_bytes(Generator(**kw), Discriminator(**kw), batch=batch, training=True)
before = peak_memory()
train(TrainConfig(out=out, steps=2, resolution=res, width=width, batch_size=batch,
                  attention="ylg", device="cpu", log_every=1, sample_every=10**6,
                  checkpoint_every=10**6), progress=False, log=lambda *a: None)
print(json.dumps({"estimate": estimate, "measured": peak_memory() - before}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="32:16:64,32:32:64,64:64:8")
    args = ap.parse_args()
    print("| resolution | width | batch | estimate (MB) | measured peak (MB) | estimate / peak |")
    print("|---:|---:|---:|---:|---:|---:|")
    for config in args.configs.split(","):
        res, width, batch = config.split(":")
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run([sys.executable, "-c", CHILD, res, width, batch, out],
                                  capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            sys.exit(f"{config}: {done.stderr.strip().splitlines()[-1]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {res} | {width} | {batch} | {r['estimate'] / 2**20:,.0f} | "
              f"{r['measured'] / 2**20:,.0f} | {r['estimate'] / max(1, r['measured']):.2f} |")


if __name__ == "__main__":
    main()
