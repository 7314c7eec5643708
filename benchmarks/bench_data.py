"""Image folder in memory against a prepared (memory-mapped) folder: decode time, memory, batches.

Usage:  .venv/bin/python benchmarks/bench_data.py [--images 3000] [--resolution 128] [--batch 256]

Writes ``--images`` synthetic JPEGs (200x240, 10 class folders) to a temporary folder, then, each
in a fresh process so that memory figures are its own:

- ``folder``: ``ylg.data.load_data(FOLDER)``, the decode at every start (one process);
- ``prepare 1`` / ``prepare N``: ``ylg.data.prepared.prepare`` with 1 and with every usable CPU;
- ``prepared``: ``load_data(PREPARED)``, the memory map.

For each: wall-clock seconds; the process's resident memory at the end above its start (MiB,
from ``/proc/self/status``), split into private memory (``RssAnon``: what each DDP process holds
for itself) and file-backed pages (``RssFile``: the page cache, shared by every process that maps
the file); and the time to draw one training batch (``--batch`` random images, uint8 -> float in [-1, 1], as
``ylg.train`` does; mean of 50 after 5 warm-up draws, page cache warm). Prints a markdown table;
speeds as ratios against ``folder`` in the same run.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import torch


def status():
    # private (anonymous) and file-backed resident memory of this process, in MiB
    f = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(f[k].split()[0]) / 1024 for k in ("RssAnon", "RssFile")}


torch.set_num_threads(1)
from ylg.data import load_data, to_model_range
from ylg.data.prepared import prepare
mode, src, prep, res, batch, workers = sys.argv[1:7]
res, batch = int(res), int(batch)
rss0 = status()
t0 = time.perf_counter()
if mode == "prepare":
    prepare(src, prep, resolution=res, workers=int(workers))
    out = {"seconds": time.perf_counter() - t0}
else:
    data = load_data(src if mode == "folder" else prep, resolution=res)
    out = {"seconds": time.perf_counter() - t0}
    g = torch.Generator().manual_seed(0)
    for i in range(55):
        if i == 5:
            t1 = time.perf_counter()
        idx = torch.randint(len(data), (batch,), generator=g)
        x = to_model_range(data.images.index_select(0, idx))
    out["batch_ms"] = (time.perf_counter() - t1) / 50 * 1e3
rss1 = status()
out.update({k: rss1[k] - rss0[k] for k in rss1})
print(json.dumps(out))
"""


def write_images(folder, n):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (200, 240, 3), dtype=np.uint8)
    for i in range(n):
        d = folder / f"class{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        im = np.roll(base, (i * 7) % 200, axis=0)  # distinct images, same decode cost
        Image.fromarray(im).save(d / f"{i:06d}.jpg", quality=90)


def child(mode, src, prep, res, batch, workers=1):
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(src), str(prep), str(res),
                          str(batch), str(workers)], cwd=ROOT, check=True, capture_output=True,
                         text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    cpus = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        t0 = time.perf_counter()
        write_images(src, args.images)
        print(f"{args.images} JPEGs 200x240 written in {time.perf_counter() - t0:.1f} s; "
              f"{cpus} CPU(s); images at {args.resolution}x{args.resolution}, batch "
              f"{args.batch}", file=sys.stderr)
        rows = [("folder (decode at every start)", child("folder", src, "-", args.resolution,
                                                         args.batch))]
        rows.append(("prepare, 1 worker", child("prepare", src, Path(tmp) / "p1",
                                                args.resolution, args.batch, 1)))
        rows.append((f"prepare, {cpus} workers", child("prepare", src, Path(tmp) / "pn",
                                                      args.resolution, args.batch, cpus)))
        rows.append(("prepared (memory map)", child("prepared", src, Path(tmp) / "pn",
                                                    args.resolution, args.batch)))
    size = args.images * 3 * args.resolution ** 2 / 2 ** 20
    base = rows[0][1]
    print(f"\n{args.images:,} images = {size:.0f} MiB as uint8\n")
    print("| what | seconds | x folder | private MiB | shared MiB | batch draw (ms) | "
          "x folder |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        draw = (f"{r['batch_ms']:.2f} | {base['batch_ms'] / r['batch_ms']:.2f}"
                if "batch_ms" in r else "— | —")
        print(f"| {name} | {r['seconds']:.1f} | {base['seconds'] / r['seconds']:.2f} | "
              f"{r['RssAnon']:.0f} | {r['RssFile']:.0f} | {draw} |")


if __name__ == "__main__":
    main()
