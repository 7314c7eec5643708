"""Training speed of SAGAN (1 head), SAGAN (8 heads) and YLG-SAGAN, same settings, one run.

Usage:  .venv/bin/python benchmarks/bench_train.py [--device cpu] [--width 16] [--batch 64]
            [--batch-128 4] [--sizes 32,64] [--steps 2] [--reps 2] [--json results.json]

``--width`` and ``--batch`` take one value, or one per size of ``--sizes`` (``--sizes 32,64
--width 16,64 --batch 64,8``: the 8-head variants need ``width >= 16`` at 32 and 64 at 64).

Three measurements, each a full training step (one D and one G update, hinge loss, Adam) from
``ylg.train.train_step`` on random images:

1. steps per second at each size in ``--sizes`` with batch ``--batch``, the paper's placement
   (attention at 16x16 in the 32 model, at 32x32 in the 64 model);
2. the time of one step of the 128x128 model (batch ``--batch-128``) at the paper's placement
   (32x32), with the attention layer's share of the step;
3. the same at ``--attention-resolution`` (default 64, as BigGAN-style models place it), where the
   sparse heads should pay off: YLG against both dense variants.

The attention's share is ``(t - t_none) / t``, with ``t_none`` the step of the same model without
an attention layer. Variants are timed in turns (``--reps`` rounds of ``--steps`` steps each, after
``--warmup`` steps) and the best round is kept, to damp the noise of a shared machine; on a busy
CPU, ``--threads 1 --clock cpu`` times the process's own CPU seconds instead of the wall clock.
Prints markdown tables (and writes the numbers as JSON with ``--json``).

``--paired R`` measures instead the one ratio the issue asks about, YLG-SAGAN against SAGAN (1
head) at each size, with its uncertainty, and its ceiling: ``R`` rounds, each timing ``--steps``
steps of SAGAN, YLG-SAGAN and the model without attention, then again in reverse order (a linear
drift of the machine's speed within a round cancels); per round, the ratio of SAGAN's total to
YLG's, and of SAGAN's to the attention-free model's (no attention layer, however fast, can make
YLG-SAGAN faster than that). It reports the geometric mean of the rounds' ratios with a 95%
confidence interval (Student's t on the logs) and the median. Rounds are paired, so the load
moving between rounds cancels in each ratio; what is left is the spread the interval shows.
"""

import argparse
import contextlib
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ylg.models import Discriminator, Generator  # noqa: E402
from ylg.train import TrainConfig, resolve_device, train_step  # noqa: E402

VARIANTS = ("dense", "dense8", "ylg")
LABELS = {"none": "no attention", "dense": "SAGAN (1 head)", "dense8": "SAGAN (8 heads)",
          "ylg": "YLG-SAGAN"}


class _RandomBatches:
    """What ``train_step`` draws real images from: one fixed random batch."""

    def __init__(self, batch, resolution, device):
        self.share, self.device = batch, device
        g = torch.Generator().manual_seed(0)
        self.x = (torch.rand(batch, 3, resolution, resolution, generator=g) * 2 - 1).to(device)
        self.y = torch.randint(10, (batch,), generator=g).to(device)

    def draw(self, k):
        return self.x, self.y


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _setup(variant, *, resolution, width, batch, attention_resolution, device, amp, backend):
    cfg = TrainConfig(resolution=resolution, width=width, batch_size=batch, attention=variant,
                      attention_resolution=attention_resolution)
    kw = dict(resolution=resolution, width=width, num_classes=10, channels=3, attention=variant,
              attention_resolution=attention_resolution, backend=backend)
    torch.manual_seed(0)
    G, D = Generator(**kw).to(device), Discriminator(**kw).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    batches = _RandomBatches(batch, resolution, device)
    autocast = ((lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if amp
                else contextlib.nullcontext)
    gen = torch.Generator(device=device).manual_seed(0)
    step = [0]

    def one_step():
        step[0] += 1
        train_step(G, D, opt_g, opt_d, batches, step=step[0], cfg=cfg, num_classes=10,
                   generator=gen, autocast=autocast)

    return one_step, G


def _backend(G):
    a = G.attention
    if a is None:
        return "-"
    return getattr(a, "backend", "?")


def time_variants(variants, *, steps, reps, warmup, device, clock=time.perf_counter, **kw):
    """Seconds per step of each variant: the best of ``reps`` rounds, variants in turns."""
    runs = {v: _setup(v, device=device, **kw) for v in variants}
    for fn, _ in runs.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    best = {v: float("inf") for v in variants}
    for _ in range(reps):
        for v, (fn, _) in runs.items():
            _sync(device)
            t0 = clock()
            for _ in range(steps):
                fn()
            _sync(device)
            best[v] = min(best[v], (clock() - t0) / steps)
    backends = {v: _backend(G) for v, (_, G) in runs.items()}
    del runs
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return best, backends


def paired_ratio(*, rounds, steps, warmup, device, clock=time.perf_counter, **kw):
    """Per round (order SAGAN, YLG, none, none, YLG, SAGAN): SAGAN (1 head) time / YLG-SAGAN
    time, and SAGAN time / the time without attention (what a free attention layer would give);
    and the YLG layer's backend."""
    order = ("dense", "ylg", "none")
    runs = {v: _setup(v, device=device, **kw) for v in order}
    for fn, _ in runs.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    ratios, ceilings = [], []
    for _ in range(rounds):
        spent = dict.fromkeys(order, 0.0)
        for v in order + order[::-1]:
            fn = runs[v][0]
            _sync(device)
            t0 = clock()
            for _ in range(steps):
                fn()
            _sync(device)
            spent[v] += clock() - t0
        ratios.append(spent["dense"] / spent["ylg"])
        ceilings.append(spent["dense"] / spent["none"])
    backend = _backend(runs["ylg"][1])
    del runs
    return ratios, ceilings, backend


def summarise(ratios):
    """Geometric mean of ``ratios``, its 95% confidence interval (t on the logs) and median."""
    import numpy as np
    from scipy import stats

    logs = np.log(np.asarray(ratios, dtype=float))
    mean = float(logs.mean())
    half = (float(stats.t.ppf(0.975, len(logs) - 1) * logs.std(ddof=1) / np.sqrt(len(logs)))
            if len(logs) > 1 else float("nan"))
    return {"mean": float(np.exp(mean)), "low": float(np.exp(mean - half)),
            "high": float(np.exp(mean + half)), "median": float(np.median(ratios)),
            "rounds": len(ratios), "ratios": [float(r) for r in ratios]}


def _paired(args, sizes, per_size, timing):
    print(f"## YLG-SAGAN against SAGAN (1 head): {args.paired} paired rounds of 2 x {args.steps} "
          f"steps of each model\n")
    print("| size | width, batch | attention at | YLG backend | SAGAN time / YLG time, "
          "geometric mean | 95% CI | median | rounds above 1 | SAGAN time / no attention "
          "(the ceiling) |")
    print("|---|---|---|---|---:|---|---:|---:|---:|")
    results = {}
    for res in sizes:
        a = {32: 16, 64: 32, 128: 32}[res]
        width, batch = per_size[res]
        ratios, ceilings, backend = paired_ratio(rounds=args.paired, resolution=res,
                                                 batch=batch, width=width,
                                                 attention_resolution=a, **timing)
        r = results[res] = summarise(ratios)
        c = r["ceiling"] = summarise(ceilings)
        above = sum(x > 1 for x in ratios)
        print(f"| {res}x{res} | {width}, {batch} | {a}x{a} | {backend} | "
              f"{r['mean']:.3f}x | [{r['low']:.3f}, {r['high']:.3f}] | {r['median']:.3f}x | "
              f"{above} of {len(ratios)} | {c['mean']:.3f}x [{c['low']:.3f}, {c['high']:.3f}] |")
        sys.stdout.flush()
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--width", default="16", help="channel multiplier (paper: 64); one, or "
                                                  "one per size")
    ap.add_argument("--batch", default="64", help="one, or one per size")
    ap.add_argument("--batch-128", type=int, default=4)
    ap.add_argument("--sizes", default="32,64")
    ap.add_argument("--attention-resolution", type=int, default=64)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA)")
    ap.add_argument("--backend", default="auto", choices=("auto", "dense", "sparse", "flex"),
                    help="the YLG layer's backend (the dense variants have one)")
    ap.add_argument("--skip-128", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: the process's CPU time (with --threads 1, what a shared machine's "
                         "other work does not inflate)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--paired", type=int, default=0, metavar="R",
                    help="measure only YLG-SAGAN / SAGAN (1 head) at --sizes, R paired ABBA "
                         "rounds, with a 95%% confidence interval")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    widths, batches = ([int(w) for w in value.split(",")] for value in (args.width, args.batch))
    if len(widths) not in (1, len(sizes)) or len(batches) not in (1, len(sizes)):
        ap.error("--width and --batch take one value or one per size")
    per_size = {res: (widths[i % len(widths)], batches[i % len(batches)])
                for i, res in enumerate(sizes)}
    args.width = widths[-1]  # the 128x128 model's
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if device.type == "cpu":
        name = (f"CPU ({platform.processor() or platform.machine()}, "
                f"{torch.get_num_threads()} threads)")
    else:
        name = torch.cuda.get_device_name(device)
    print(f"device: {name}; torch {torch.__version__}; (width, batch) by size {per_size}; YLG backend "
          f"{args.backend}; {args.clock} clock; "
          f"{'bf16 autocast' if args.amp else 'fp32'}; "
          + (f"{args.paired} paired rounds" if args.paired else f"best of {args.reps} rounds")
          + f" of {args.steps} step(s) after {args.warmup} warm-up step(s)\n")
    timing = dict(steps=args.steps, reps=args.reps, warmup=args.warmup, device=device,
                  amp=args.amp, backend=args.backend, clock=clock)
    results = {"device": name, "args": vars(args), "sizes": {}, "128": {}}
    if args.paired:
        timing.pop("reps")
        results["paired"] = _paired(args, sizes, per_size, timing)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
        return results

    print("## Steps per second, attention at the paper's place\n")
    print("| size | width, batch | attention at | variant | backend | steps/s | vs SAGAN (1 head) |")
    print("|---|---|---|---|---|---:|---:|")
    for res in sizes:
        a = {32: 16, 64: 32, 128: 32}[res]
        width, batch = per_size[res]
        sec, backends = time_variants(VARIANTS, resolution=res, batch=batch, width=width,
                                      attention_resolution=a, **timing)
        results["sizes"][res] = {v: 1 / s for v, s in sec.items()}
        for v in VARIANTS:
            print(f"| {res}x{res} | {width}, {batch} | {a}x{a} | {LABELS[v]} | {backends[v]} "
                  f"| {1 / sec[v]:.3f} | {sec['dense'] / sec[v]:.2f}x |")
        sys.stdout.flush()
    if args.skip_128:
        return results
    for a in (32, args.attention_resolution):
        print(f"\n## One step of the 128x128 model, batch {args.batch_128}, attention at "
              f"{a}x{a}\n")
        print("| variant | backend | step (s) | attention's share | YLG speed-up |")
        print("|---|---|---:|---:|---:|")
        sec, backends = time_variants(("none", *VARIANTS), resolution=128, batch=args.batch_128,
                                      width=args.width, attention_resolution=a, **timing)
        results["128"][a] = sec
        for v in ("none", *VARIANTS):
            share = "-" if v == "none" else f"{(sec[v] - sec['none']) / sec[v]:.0%}"
            speed = "-" if v in ("none", "ylg") else f"{sec[v] / sec['ylg']:.2f}x"
            print(f"| {LABELS[v]} | {backends[v]} | {sec[v]:.3f} | {share} | {speed} |")
        sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


if __name__ == "__main__":
    main()
