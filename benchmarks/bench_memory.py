"""How close ``ylg.memory``'s training estimate comes to the measured peak memory.

Usage:  .venv/bin/python benchmarks/bench_memory.py [--configs 32:16:64,32:32:64,64:64:8,64:64:2]
                                                    [--steps 2] [--json PATH]

Each config is RESOLUTION:WIDTH:BATCH (YLG attention, digits, the default sample grid of 64
images drawn at the last step, and the checkpoint written then). Each runs in a fresh process:
the process's peak resident memory is read after start-up (torch and ylg imported, the data
loaded once) and again after ``--steps`` training steps; the difference is compared with the
estimate ``ylg train`` checks before it starts (caught from its call of
``ylg.memory.check_memory``: dense attention as the upper bound of the others, the EMA's sample
grid, the PNG). The estimate is meant as an upper bound: ratio >= 1. ``start-up`` is the
resident memory the estimate leaves out (Python, torch, ylg, the data).
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
import ylg.train
from ylg.config import TrainConfig
from ylg.data import load_data
from ylg.memory import check_memory, peak_memory
res, width, batch, steps = (int(a) for a in sys.argv[1:5])
out = sys.argv[5]
data = load_data("digits", resolution=res)
ylg.train.load_data = lambda *a, **k: data  # loaded once, before the check, as in a run
checked = []

def caught(what, nbytes, device=None):
    checked.append(nbytes)
    check_memory(what, nbytes, device)

ylg.train.check_memory = caught
before = peak_memory()
ylg.train.train(TrainConfig(out=out, steps=steps, resolution=res, width=width, batch_size=batch,
                            attention="ylg", device="cpu", log_every=1, sample_every=10**6,
                            checkpoint_every=10**6), progress=False, log=lambda *a: None)
print(json.dumps({"estimate": checked[0], "measured": peak_memory() - before,
                  "startup": before}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="32:16:64,32:32:64,64:64:8,64:64:2")
    ap.add_argument("--steps", type=int, default=2, help="training steps (default 2)")
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    args = ap.parse_args()
    print("| resolution | width | batch | start-up (MiB) | estimate (MiB) | measured peak (MiB) "
          "| estimate / peak |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for config in args.configs.split(","):
        res, width, batch = config.split(":")
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run([sys.executable, "-c", CHILD, res, width, batch,
                                   str(args.steps), out], capture_output=True, text=True,
                                  cwd=ROOT)
        if done.returncode:
            sys.exit(f"{config}: {done.stderr.strip().splitlines()[-1]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        ratio = r["estimate"] / max(1, r["measured"])
        rows.append({"resolution": int(res), "width": int(width), "batch": int(batch), **r,
                     "ratio": ratio})
        print(f"| {res} | {width} | {batch} | {r['startup'] / 2**20:,.0f} | "
              f"{r['estimate'] / 2**20:,.0f} | {r['measured'] / 2**20:,.0f} | {ratio:.2f} |",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
