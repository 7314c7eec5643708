"""Size and speed of the mask file for the paper's 8-head layer at several grids.

Usage:  .venv/bin/python benchmarks/bench_io.py [--grids 32x32/16x16,64x64/32x32,128x128/64x64]

Each grid pair is QUERYxQUERY/KEYxKEY. Builds the ``ylg`` preset (ESA, official tiling), saves it
with ``ifg.io.save``, loads it back with every check of ``ifg.io.load``; best of 3. Prints a
markdown table.
"""

import argparse
import os
import tempfile
import time


def one(query_grid, key_grid, folder):
    from ifg.io import load, save
    from ifg.maskset import preset

    ms = preset("ylg", key_grid=key_grid, query_grid=query_grid)
    path = os.path.join(folder, "masks.npz")
    save_s = load_s = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        save(ms, path)
        save_s = min(save_s, time.perf_counter() - t0)
        t0 = time.perf_counter()
        back = load(path)
        load_s = min(load_s, time.perf_counter() - t0)
    assert all((a != b).nnz == 0 for a, b in zip(ms.masks, back.masks))
    return sum(m.nnz for m in ms.masks), os.path.getsize(path), save_s, load_s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grids", default="32x32/16x16,64x64/32x32,128x128/64x64")
    args = ap.parse_args()
    print("| query grid | key grid | allowed pairs | file (MB) | save (s) | load + validate (s) |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for item in args.grids.split(","):
            q, k = (tuple(int(v) for v in g.split("x")) for g in item.split("/"))
            pairs, size, save_s, load_s = one(q, k, folder)
            print(f"| {q[0]}x{q[1]} | {k[0]}x{k[1]} | {pairs:,} | {size / 1e6:.2f} | "
                  f"{save_s:.3f} | {load_s:.3f} |")


if __name__ == "__main__":
    main()
