"""Time and memory of the attention core: sparse and dense backends against PyTorch's SDPA.

Usage:  .venv/bin/python benchmarks/bench_attention.py [--device cuda] [--sizes 32,64,128]
            [--contention 2 [--repeats 3]] [--auto-table ylg/attention/backend_table.json]
            [--model-layers [--repeats 9]]
            [--geometries square,sagan] [--heads d32,paper] [--json out.json] [--plot out.png]

For each geometry it builds the YLG masks (``ifg.maskset.preset("ylg", ...)``) and times, on the
same random q, k, v of 8 heads (batch 1, float32):

- ``sparse``: ``Attention2d(backend="sparse").attend`` (tiles of queries, gathered keys);
- ``dense``: ``Attention2d(backend="dense").attend`` (full logits, boolean mask: the reference);
- ``sdpa``: ``torch.nn.functional.scaled_dot_product_attention`` without a mask (dense SAGAN);
- ``sdpa-mask``: the same with the YLG boolean mask;
- ``flex``: ``Attention2d(backend="flex").attend`` (FlexAttention with the exported block mask;
  forward only on CPU, where its fwd+bwd reads nan). Not in the default ``--methods`` on CPU.

All use unscaled logits (``scale=1``) as the layer does. Geometries: ``square`` has query grid =
key grid (no pooling, ``pool=1``) of side 32, 64, 128; ``sagan`` has a query grid of that side and
keys on the grid half its side (``pool=2``, official tiling). Head sizes: ``d32`` is 32 channels
per head for q, k and v; ``paper`` is the paper's layer at C = 256 (C/64 = 4 for q and k, C/16 =
16 for v).

Forward is timed with autograd recording (as in training); forward+backward adds the backward
of the output's sum. Each figure is the median of repeats within ``--budget`` seconds (one call
when a call takes longer). On CPU, timings keep freed memory in the process for reuse
(``--default-allocator``: glibc's defaults, where each fresh block over 32 MB is page-faulted in;
see ``Memory``); ``--clock cpu --threads 1`` times with the process's CPU time instead of the wall
clock, for a shared machine.

``--auto-table PATH`` measures instead what ``Attention2d(backend="auto")`` reads
(:mod:`ylg.attention.auto`): dense against sparse, fwd+bwd, on the YLG-SAGAN layer (``sagan``
geometry, the first of ``--heads``) at every query side of ``--sizes`` (where ``auto`` does not
already take dense at construction) and batch of ``--batches`` whose dense logits (``batch * 8 * Nq * Nk``) stay within ``--auto-max-size``; each
point's faster backend, ordered by that size, becomes ranges (boundaries at the geometric mean
between neighbours that differ), written for the device kind into PATH (other device kinds
already there are kept).

``--model-layers`` times instead the attention layers (projections, pooling, core, output; input
to output and back) of the CPU training benchmark
(``bench_train.py``): the 32 model's (16x16 queries, C = 64, batch 64, in G and D) and the 64
model's (32x32 queries, batch 8; C = 128 in G, 64 in D), YLG's 8 heads (sparse and dense backends) against SAGAN's single
dense head of the same channels (the same projections), fwd+bwd, interleaved rounds, medians and
ratios in one run.

Peak memory is the most the fwd+bwd call adds on top of its inputs: on CPU the process's peak
resident set (``VmHWM``, reset through ``/proc/self/clear_refs``, with glibc told to map blocks of
64 KiB and more from the system during that call), on CUDA ``torch.cuda.max_memory_allocated``.
"masks" is the memory of the compiled mask structure (the sparse plan, the dense boolean mask,
SDPA's mask).

A dense-family method whose memory would exceed ``--max-memory-gb`` is measured on fewer heads
(1, 2 or 4 of the 8) and its time and memory scaled to 8 heads; the table says so. Its memory per
(head, query, key) is learnt from the smaller sizes, which run first.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ifg.maskset import MaskSet, preset  # noqa: E402
from ylg.attention import Attention2d  # noqa: E402

METHODS = ("sparse", "dense", "sdpa", "sdpa-mask", "flex")
HEAD_SIZES = {"d32": (32, 32), "paper": (4, 16)}  # (q/k per head, v per head)
HEADS = 8


# ----------------------------------------------------------------------------------- memory


class Memory:
    """Peak memory a call adds, on CPU (resident set) or CUDA (allocator); on CPU also glibc's
    allocator settings while timing.

    ``keep=True`` (the default): freed memory stays in the process for reuse, as with jemalloc
    or tcmalloc. ``keep=False``: glibc's steady state, where every block of more than 32 MB is
    mapped from the system and page-faulted in on first use, and freed at once; on this virtual
    machine that costs about as much as a float32 matmul writing the same block.
    """

    def __init__(self, device, *, keep=True):
        self.device = device
        self.libc = ctypes.CDLL("libc.so.6") if device.type == "cpu" else None
        self.keep = keep
        self._timing()

    def _mallopt(self, mmap_threshold, trim_threshold):
        if self.libc is not None:
            self.libc.mallopt(-3, mmap_threshold)  # M_MMAP_THRESHOLD: larger blocks are mmapped
            self.libc.mallopt(-1, trim_threshold)  # M_TRIM_THRESHOLD: free heap top beyond this

    def _timing(self):
        if self.keep:
            self._mallopt(1 << 30, 1 << 30)
        else:
            self._mallopt(32 << 20, 64 << 20)

    @staticmethod
    def _status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"{field} not in /proc/self/status")

    def start(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            # while measuring, blocks of 64 KiB and more come from (and return to) the system,
            # and the heap is trimmed first, so that the resident set follows what is live
            self._mallopt(1 << 16, 1 << 16)
            self.libc.malloc_trim(0)
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current resident set
            self.base = self._status("VmRSS:")

    def peak(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() - self.base
        peak = self._status("VmHWM:") - self.base
        self._timing()
        return peak

    def budget(self, gb):
        if gb is not None:
            return gb * 1e9
        if self.device.type == "cuda":
            return 0.7 * torch.cuda.mem_get_info()[0]
        return 6e9  # the development machine has 24 GiB shared with other work


# ---------------------------------------------------------------------------------- methods


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _subset(ms, heads):
    """The first ``heads`` heads of a mask set (for the dense family at large sizes)."""
    if heads == ms.num_heads:
        return ms
    return MaskSet(ms.masks[:heads], ms.query_grid, ms.key_grid, ms.enumeration, ms.tiling,
                   ms.heads[:heads], ())


def build(method, ms, heads, dims, pool, device):
    """``(call, structure_bytes)``: ``call(q, k, v)`` returns the attention output."""
    dq, dv = dims
    if method in ("sparse", "dense", "flex"):
        net = Attention2d(HEADS * dv, _subset(ms, heads), pool=pool, backend=method,
                          qk_head_dim=dq, v_head_dim=dv).to(device)
        structure = sum(b.numel() * b.element_size() for n, b in net.named_buffers()
                        if "parametrizations" not in n)
        return (lambda q, k, v: net.attend(q, k, v)[0]), structure
    if method == "sdpa":
        return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=1.0)), 0
    allowed = torch.from_numpy(_subset(ms, heads).to_dense()).to(device)  # (h, nq, nk)
    return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=allowed,
                                                            scale=1.0)), allowed.numel()


DTYPE = torch.float32  # of q, k and v (--dtype)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def timed(fn, device, budget):
    """Median seconds of ``fn`` over repeats that fit in ``budget`` (one when it is slow)."""
    times = []
    while True:
        _sync(device)
        t0 = clock()
        fn()
        _sync(device)
        times.append(clock() - t0)
        if len(times) == 1 and times[0] > budget / 2:
            return times[0]  # slow: the first call is the measurement
        if len(times) >= 2 and (sum(times[1:]) > budget or len(times) > 10):
            return statistics.median(times[1:])  # the first call warms up


def measure(method, ms, dims, pool, device, memory, budget, max_bytes, per_pair, batch=1):
    """One row of the table (a dict)."""
    nq, nk = ms.nq, ms.nk
    dq, dv = dims
    heads = HEADS
    if method != "sparse":
        # the dense family at large sizes: fewer heads, scaled, when memory would not fit
        while heads > 1 and per_pair.get(method, 20.0) * heads * nq * nk > max_bytes:
            heads //= 2
    call, structure = build(method, ms, heads, dims, pool, device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    q = torch.randn(batch, heads, nq, dq, generator=gen).to(device, DTYPE).requires_grad_(True)
    k = torch.randn(batch, heads, nk, dq, generator=gen).to(device, DTYPE).requires_grad_(True)
    v = torch.randn(batch, heads, nk, dv, generator=gen).to(device, DTYPE).requires_grad_(True)

    def forward():
        call(q, k, v)

    def forward_backward():
        q.grad = k.grad = v.grad = None
        call(q, k, v).sum().backward()

    fwd = timed(forward, device, budget)
    if method == "flex" and device.type == "cpu":  # FlexAttention has no CPU backward
        both, peak = float("nan"), float("nan")
    else:
        both = timed(forward_backward, device, budget)
        q.grad = k.grad = v.grad = None
        memory.start()
        forward_backward()
        peak = memory.peak()
    scale = HEADS / heads
    if method != "sparse":
        per_pair[method] = max(per_pair.get(method, 0.0), peak / (heads * nq * nk))
    return {"method": method, "nq": nq, "nk": nk, "forward_s": fwd * scale,
            "forward_backward_s": both * scale, "peak_bytes": peak * scale,
            "mask_bytes": structure * scale, "heads_measured": heads}


# ------------------------------------------------------------------------------- contention

#: a background job: 2-thread float32 matrix products until killed
_LOAD = "import torch\ntorch.set_num_threads(2)\na = torch.randn(768, 768)\nwhile True: a @ a\n"


def contention(args, device, memory, max_bytes):
    """Sparse against dense fwd+bwd with 0 and then ``args.contention`` background jobs, in
    turns, ``args.repeats`` times; prints each round's ratio and the medians."""
    size, pool = args.contention_size, 1
    ms = preset("ylg", key_grid=(size, size), query_grid=(size, size))
    rounds = []
    for r in range(args.repeats):
        for jobs in (0, args.contention):
            procs = [subprocess.Popen([sys.executable, "-c", _LOAD]) for _ in range(jobs)]
            try:
                time.sleep(1.0 if jobs else 0.0)  # let the jobs start their products
                t = {m: measure(m, ms, HEAD_SIZES["d32"], pool, device, memory, args.budget,
                                max_bytes, {})["forward_backward_s"] for m in ("sparse", "dense")}
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
            rounds.append({"round": r, "jobs": jobs, **t, "ratio": t["dense"] / t["sparse"]})
            print(f"round {r} background jobs {jobs}: sparse {1e3 * t['sparse']:.0f} ms, "
                  f"dense {1e3 * t['dense']:.0f} ms, dense/sparse {t['dense'] / t['sparse']:.1f}x",
                  flush=True)
    print("\n| background jobs | sparse (ms) | dense (ms) | dense / sparse |\n|---:|---:|---:|---:|")
    for jobs in (0, args.contention):
        sel = [x for x in rounds if x["jobs"] == jobs]
        med = {k: statistics.median(x[k] for x in sel) for k in ("sparse", "dense", "ratio")}
        print(f"| {jobs} | {1e3 * med['sparse']:,.0f} | {1e3 * med['dense']:,.0f} | "
              f"{med['ratio']:.1f}x (median of {len(sel)}) |")
    return rounds


# ------------------------------------------------------------------------------- auto table


def auto_table(args, device, memory, max_bytes):
    """Dense against sparse fwd+bwd over sizes and batches; the ranges ``auto`` reads, merged
    into ``args.auto_table`` for this device kind. Returns the measured points."""
    dims = HEAD_SIZES[args.heads.split(",")[0]]
    points = []
    for side in sorted(map(int, args.sizes.split(","))):
        ms = preset("ylg", key_grid=(side // 2, side // 2), query_grid=(side, side))
        probe = Attention2d(HEADS * dims[1], ms, pool=2, qk_head_dim=dims[0], v_head_dim=dims[1])
        if probe.backend == "dense":  # decided at construction: auto never reads the table
            print(f"query grid {side}x{side}: the masks' unions are too large for sparse to "
                  f"pay; auto takes dense without the table (not measured)", flush=True)
            continue
        for batch in sorted(map(int, args.batches.split(","))):
            size = batch * HEADS * ms.nq * ms.nk
            if size > args.auto_max_size:
                continue
            t = {m: measure(m, ms, dims, 2, device, memory, args.budget, max_bytes, {},
                            batch=batch)["forward_backward_s"] for m in ("dense", "sparse")}
            best = min(t, key=t.get)
            points.append({"side": side, "batch": batch, "size": size, "dense_s": t["dense"],
                           "sparse_s": t["sparse"], "backend": best})
            print(f"query grid {side}x{side} batch {batch:3} size {size:>12,}: dense "
                  f"{1e3 * t['dense']:9.2f} ms, sparse {1e3 * t['sparse']:9.2f} ms, "
                  f"dense/sparse {t['dense'] / t['sparse']:6.2f}x -> {best}", flush=True)
    points.sort(key=lambda p: p["size"])
    rows = []
    for prev, p in zip([None] + points[:-1], points):
        if rows and rows[-1]["backend"] == p["backend"]:
            continue
        edge = 0 if prev is None else round(math.sqrt(prev["size"] * p["size"]))
        if rows:
            rows[-1]["to"] = edge
        rows.append({"from": edge, "to": None, "backend": p["backend"]})
    path = args.auto_table
    old = json.loads(path.read_text()) if path.exists() else {}
    doc = {"about": "Attention2d(backend='auto'): per device kind, ranges [from, to) of "
                    "batch * heads * Nq * Nk and the faster backend there (fwd+bwd, measured; "
                    "see ylg/attention/auto.py)",
           "rows": {**old.get("rows", {}), device.type: rows},
           "measured": {**old.get("measured", {}), device.type: {
               "command": " ".join(["benchmarks/bench_attention.py", *sys.argv[1:]]),
               "date": time.strftime("%Y-%m-%d"), "machine": machine(device),
               "head_sizes": list(dims), "points": points}}}
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"\n{device.type}: " + ", ".join(f"{r['from']:,}..{r['to'] or 'inf'} {r['backend']}"
                                         for r in rows) + f"  -> {path}")
    return points


# ---------------------------------------------------------------------------- model layers

#: (layer, query grid side, channels, batch) of the attention in bench_train.py's 32 model
#: (width 16, batch 64: G and D alike) and 64 model (width 64, batch 8)
MODEL_LAYERS = (("32 model, G and D", 16, 64, 64), ("64 model, G", 32, 128, 8),
                ("64 model, D", 32, 64, 8))


def model_layers(args, device):
    """The training models' attention layers: YLG sparse and dense against SAGAN's one head."""
    print("\n| layer | queries | C, batch | SAGAN 1 head (ms) | YLG sparse (ms) | YLG dense (ms) "
          "| SAGAN / YLG sparse |\n|---|---|---|---:|---:|---:|---:|")
    out = []
    for layer, side, channels, batch in MODEL_LAYERS:
        ms = preset("ylg", key_grid=(side // 2, side // 2), query_grid=(side, side))
        nets = {"sagan": Attention2d(channels, None, heads=1),
                "sparse": Attention2d(channels, ms, backend="sparse"),
                "dense": Attention2d(channels, ms, backend="dense")}
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(batch, channels, side, side, generator=gen).to(device)
        weight = torch.randn(batch, channels, side, side, generator=gen).to(device)
        calls = {}
        for name, net in nets.items():
            net.to(device)
            with torch.no_grad():
                net.gamma.fill_(0.5)  # so that every projection has a gradient
            xi = x.clone().requires_grad_(True)
            calls[name] = (lambda net=net, xi=xi: (net(xi) * weight).sum().backward())
        times = {name: [] for name in nets}
        for _ in range(args.repeats + 1):  # the first round warms up
            for name, call in calls.items():
                _sync(device)
                t0 = clock()
                call()
                _sync(device)
                times[name].append(clock() - t0)
        med = {name: statistics.median(t[1:]) for name, t in times.items()}
        out.append({"layer": layer, "side": side, "channels": channels, "batch": batch, **med})
        print(f"| {layer} | {side}x{side} | {channels}, {batch} | {1e3 * med['sagan']:.2f} "
              f"| {1e3 * med['sparse']:.2f} | {1e3 * med['dense']:.2f} "
              f"| {med['sagan'] / med['sparse']:.2f}x |", flush=True)
    return out


# ------------------------------------------------------------------------------------- main


def machine(device):
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ""
    try:
        with open("/proc/loadavg") as f:
            load = f", load average {f.read().split()[0]} at start"
    except OSError:
        pass
    return (f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
            f"Python {platform.python_version()}{load}")


def table(rows):
    out = ["| geometry | heads | Nq | Nk | method | fwd (ms) | fwd+bwd (ms) | vs sparse "
           "| peak (MiB) | masks (MiB) | note |",
           "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        base = next(s for s in rows if s["geometry"] == r["geometry"] and s["size"] == r["size"]
                    and s["head_sizes"] == r["head_sizes"] and s["method"] == "sparse")
        h = r["heads_measured"]
        note = "" if h == HEADS else f"{h} of {HEADS} heads measured, scaled x{HEADS // h}"
        out.append(f"| {r['geometry']} {r['size']}x{r['size']} | {r['head_sizes']} "
                   f"| {r['nq']:,} | {r['nk']:,} | {r['method']} "
                   f"| {1e3 * r['forward_s']:,.1f} | {1e3 * r['forward_backward_s']:,.1f} "
                   f"| {r['forward_backward_s'] / base['forward_backward_s']:,.1f}x "
                   f"| {r['peak_bytes'] / 2**20:,.0f} | {r['mask_bytes'] / 2**20:,.1f} "
                   f"| {note} |")
    return "\n".join(out)


def summary(rows):
    """The issue's targets, from the square d32 rows."""
    pick = {(r["size"], r["method"]): r for r in rows
            if r["geometry"] == "square" and r["head_sizes"] == "d32"}
    lines = []
    for size in (64, 128):
        s = pick.get((size, "sparse"))
        if not s:
            continue
        for other in ("sdpa", "dense", "sdpa-mask"):
            if (size, other) in pick:
                o = pick[(size, other)]
                lines.append(f"N = {size * size:,}: sparse fwd+bwd is "
                             f"{o['forward_backward_s'] / s['forward_backward_s']:.1f}x faster "
                             f"than {other}")
        d = pick.get((size, "dense"))
        if d:
            total = s["peak_bytes"] + s["mask_bytes"]
            lines.append(f"N = {size * size:,}: sparse peak + masks is "
                         f"1/{(d['peak_bytes'] + d['mask_bytes']) / total:.0f} of dense")
    if (64, "sparse") in pick and (128, "sparse") in pick:
        for key in ("forward_s", "forward_backward_s"):
            e = math.log(pick[(128, "sparse")][key] / pick[(64, "sparse")][key]) / math.log(4)
            lines.append(f"sparse {key[:-2].replace('_', '+')} time ~ N^{e:.2f} "
                         "between N = 4,096 and 16,384")
    return "\n".join(lines)


def plot(rows, path):
    """Forward+backward time against N on log axes, one line per method and geometry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heads = "d32" if any(r["head_sizes"] == "d32" for r in rows) else rows[0]["head_sizes"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=100)
    colours = dict(zip(METHODS, ("C3", "C0", "C2", "C1", "C4")))
    for method in METHODS:
        for geometry, style in (("square", "-o"), ("sagan", "--s")):
            pts = sorted((r["nq"], r["forward_backward_s"]) for r in rows
                         if r["method"] == method and r["geometry"] == geometry
                         and r["head_sizes"] == heads)
            if pts:
                ax.plot(*zip(*pts), style, color=colours[method], ms=4,
                        label=f"{method} ({geometry})")
    sparse = sorted((r["nq"], r["forward_backward_s"]) for r in rows
                    if r["method"] == "sparse" and r["geometry"] == "square"
                    and r["head_sizes"] == heads)
    if len(sparse) > 1:  # slopes for the eye, through the first sparse point
        (n0, t0), n1 = sparse[0], sparse[-1][0]
        for power, label in ((1.5, "N^1.5"), (2.0, "N^2")):
            ax.plot([n0, n1], [t0, t0 * (n1 / n0) ** power], ":", color="grey", lw=1)
            ax.annotate(label, (n1, t0 * (n1 / n0) ** power), fontsize=7, color="grey")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("queries N")
    ax.set_ylabel("forward+backward (s)")
    dims = HEAD_SIZES[heads]
    ax.set_title(f"Attention core, 8 heads (q/k {dims[0]}, v {dims[1]}), batch 1", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default="32,64,128", help="query grid sides")
    ap.add_argument("--geometries", default="square,sagan")
    ap.add_argument("--heads", default="d32,paper", help=f"head sizes: {', '.join(HEAD_SIZES)}")
    ap.add_argument("--methods", default=None, help=f"of {', '.join(METHODS)} (default: all; "
                                                    f"all but flex on CPU)")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds of repeats per figure")
    ap.add_argument("--max-memory-gb", type=float, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--clock", choices=CLOCKS, default="wall",
                    help="cpu: the process's CPU time (with --threads 1, robust to other work "
                         "on a shared machine)")
    ap.add_argument("--default-allocator", action="store_true",
                    help="time with glibc's default handling of large blocks (see Memory)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--contention", type=int, default=0, metavar="JOBS",
                    help="instead of the table: sparse vs dense fwd+bwd (square, d32) alone and "
                         "beside JOBS background 2-thread matrix-product processes")
    ap.add_argument("--contention-size", type=int, default=64, help="grid side for --contention")
    ap.add_argument("--repeats", type=int, default=3,
                    help="rounds for --contention and --model-layers")
    ap.add_argument("--auto-table", type=Path, default=None, metavar="PATH",
                    help="instead of the table: measure dense vs sparse for backend='auto' and "
                         "write its ranges into PATH (ylg/attention/backend_table.json)")
    ap.add_argument("--batches", default="1,4,16,64", help="batches for --auto-table")
    ap.add_argument("--auto-max-size", type=float, default=2 ** 27,
                    help="largest batch * 8 * Nq * Nk measured for --auto-table")
    ap.add_argument("--model-layers", action="store_true",
                    help="instead of the table: the training models' attention cores, YLG "
                         "against SAGAN (1 head)")
    ap.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    args = ap.parse_args()
    global DTYPE
    DTYPE = getattr(torch, args.dtype)

    if args.methods is None:
        args.methods = ",".join(m for m in METHODS if m != "flex" or args.device != "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.clock == "cpu" and (args.device != "cpu" or torch.get_num_threads() != 1):
        ap.error("--clock cpu needs --device cpu and --threads 1")
    global clock
    clock = CLOCKS[args.clock]
    device = torch.device(args.device)
    memory = Memory(device, keep=not args.default_allocator)
    max_bytes = memory.budget(args.max_memory_gb)
    allocator = ("" if device.type != "cpu" else
                 "; glibc default for large blocks" if args.default_allocator else
                 "; freed memory kept for reuse")
    print(f"# {machine(device)}; memory budget {max_bytes / 1e9:.1f} GB{allocator}; "
          f"{args.clock} clock", flush=True)
    # warm up: the first call on a device (CUDA context, kernel loading, thread pools) would
    # otherwise fall into the first case timed
    small = preset("ylg", key_grid=(8, 8), query_grid=(8, 8))
    for method in args.methods.split(","):
        measure(method, small, HEAD_SIZES["d32"], 1, device, memory, 0.0, max_bytes, {})
    modes = (("model_layers", "rows", lambda: model_layers(args, device)),
             ("auto_table", "points", lambda: auto_table(args, device, memory, max_bytes)),
             ("contention", "rounds", lambda: contention(args, device, memory, max_bytes)))
    for flag, key, run in modes:  # a special mode: run it, write its JSON, done
        if getattr(args, flag):
            result = run()
            if args.json:
                args.json.write_text(json.dumps({"machine": machine(device), key: result},
                                                indent=1))
            return
    rows, per_pair = [], {}
    for head_sizes in args.heads.split(","):
        for geometry in args.geometries.split(","):
            for size in sorted(map(int, args.sizes.split(","))):
                pool = 1 if geometry == "square" else 2
                ms = preset("ylg", key_grid=(size // pool, size // pool),
                            query_grid=(size, size))
                for method in args.methods.split(","):
                    row = measure(method, ms, HEAD_SIZES[head_sizes], pool, device, memory,
                                  args.budget, max_bytes, per_pair)
                    row.update(geometry=geometry, size=size, head_sizes=head_sizes,
                               dtype=args.dtype)
                    rows.append(row)
                    print(f"{geometry:6} {size:4} {head_sizes:5} {method:9} "
                          f"fwd {1e3 * row['forward_s']:10.1f} ms  "
                          f"fwd+bwd {1e3 * row['forward_backward_s']:10.1f} ms  "
                          f"peak {row['peak_bytes'] / 2**20:8.0f} MiB "
                          f"(heads {row['heads_measured']})", flush=True)
    print()
    print(table(rows))
    print()
    print(summary(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(device), "rows": rows}, indent=1))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
