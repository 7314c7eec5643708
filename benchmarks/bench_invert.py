"""Inversion of held-out digits: pixel, discriminator and YLG, with the same budget.

Usage:  .venv/bin/python benchmarks/bench_invert.py --checkpoint runs/ylg32/checkpoint.pt
            [--n 20] [--steps 1000] [--starts 8] [--lr 0.07] [--batch 10] [--seed 0]
            [--device cpu] [--targets digits,self] [--timing-steps 10] [--figures docs/figures]
            [--json results.json]

The targets are the first ``n / 10`` digits of each class in the digits *test* split (never seen
in training), at the model's resolution; each is inverted with its own class given (the published
setting), by each method, from the same truncated-normal starts (same seed), with the same number
of Adam steps and starts. Reported per method: mean and standard deviation over the images of
PSNR and SSIM (on [0, 1]) and of the D-feature distance ``||D0(x) - D0(G(z))||``; how often the
method gave the image's best PSNR / SSIM; and the wall time per image (all starts, batched
``--batch`` images at a time). With ``--targets self`` (or ``digits,self``), ``n`` of G's own
samples (random z, the same classes) are inverted as well: an exact ``z`` exists for them, so they
test the optimiser rather than the model's reach.

The per-image times of a long run follow the machine's load; ``--timing-steps K`` also times
``K`` steps of each method on the first ``--batch`` digits, the methods interleaved, best of 3
rounds, and prints milliseconds per (image, start, step).

With ``--figures DIR`` it writes ``inversion-digits.png`` (real digits and each method's
reconstruction), ``inversion-loss-curves.png`` (the first digit's curves) and
``attention-map-digit.png`` (G's attention for a query pixel of the first digit after YLG
inversion, and D's saliency maps). Prints markdown tables.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ifg.render import save_figure  # noqa: E402
from ylg.data import digits, to_model_range  # noqa: E402
from ylg.invert import METHODS, PUBLISHED, Budget, invert  # noqa: E402
from ylg.invert.jobs import attention_map_figure, load_models, score  # noqa: E402
from ylg.runtime import resolve_device  # noqa: E402
from ylg.viz import inversion_figure, loss_curves_figure  # noqa: E402


def held_out_digits(n, resolution, channels):
    """The first ``ceil(n / 10)`` test digits of each class, class-interleaved, cut to ``n``."""
    test = digits(resolution=resolution, split="test", channels=channels)
    per_class = -(-n // 10)
    picks = [np.flatnonzero(test.labels.numpy() == c)[:per_class] for c in range(10)]
    order = np.stack(picks, axis=1).reshape(-1)[:n]  # 0, 1, ..., 9, 0, 1, ...
    return to_model_range(test.images[order]), test.labels[order], order


def run_method(G, D, x, labels, method, args, z=None):
    """Invert ``x`` in batches; the per-image scores, images, latents, curves and seconds."""
    scores, images, zs, curves, kept, seconds = [], [], [], [], [], 0.0
    for i in range(0, len(x), args.batch):
        inv = invert(G, D, x[i:i + args.batch], label=labels[i:i + args.batch], method=method,
                     budget=Budget(steps=args.steps, lr=args.lr, starts=args.starts),
                     seed=args.seed + i)
        scores.append(score(inv, x[i:i + args.batch], D,
                            z=None if z is None else z[i:i + args.batch]))
        images.append(inv.images)
        zs.append(inv.z)
        curves.append(inv.curves[:, 0])  # (b, starts, steps + 1), class given
        kept.append(inv.kept[:, 1])
        seconds += inv.seconds
    merged = {k: sum((s[k] for s in scores), []) for k in scores[0]}
    # how far the kept latents lie from the prior: ||z|| / sqrt(z_dim) is about 1 for N(0, I)
    merged["z_rms"] = (torch.cat(zs).norm(dim=1) / zs[0].shape[1] ** 0.5).tolist()
    return {"scores": merged, "images": torch.cat(images), "z": torch.cat(zs),
            "curves": torch.cat(curves), "kept": torch.cat(kept), "seconds": seconds}


def summarise(results, n):
    """Rows of the markdown table: mean +- sd of each score, wins, seconds per image."""
    psnr = np.array([results[m]["scores"]["psnr"] for m in results])  # (methods, n)
    ssim = np.array([results[m]["scores"]["ssim"] for m in results])
    best_psnr, best_ssim = psnr.argmax(0), ssim.argmax(0)
    rows = []
    for j, m in enumerate(results):
        s = results[m]["scores"]
        rows.append({
            "method": m,
            **{f"{k}_mean": float(np.mean(s[k])) for k in s},
            **{f"{k}_sd": float(np.std(s[k], ddof=1)) if n > 1 else 0.0 for k in s},
            "best_psnr": int((best_psnr == j).sum()), "best_ssim": int((best_ssim == j).sum()),
            "seconds_per_image": results[m]["seconds"] / n,
        })
    return rows


def table(rows, n):
    lines = ["| method | PSNR (dB) | SSIM | D-feature distance | best PSNR | best SSIM | "
             "‖z‖/√d | s / image |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['psnr_mean']:.2f} ± {r['psnr_sd']:.2f} | "
            f"{r['ssim_mean']:.3f} ± {r['ssim_sd']:.3f} | "
            f"{r['feature_distance_mean']:.2f} ± {r['feature_distance_sd']:.2f} | "
            f"{r['best_psnr']}/{n} | {r['best_ssim']}/{n} | {r['z_rms_mean']:.2f} | "
            f"{r['seconds_per_image']:.1f} |")
    if "latent_cosine_mean" in rows[0]:  # G's own samples: how close the kept z is to the true one
        lines += ["", "| method | ‖z - z*‖ | cosine(z, z*) |", "|---|---:|---:|"]
        lines += [f"| {r['method']} | {r['latent_distance_mean']:.2f} ± "
                  f"{r['latent_distance_sd']:.2f} | {r['latent_cosine_mean']:.3f} ± "
                  f"{r['latent_cosine_sd']:.3f} |" for r in rows]
    return "\n".join(lines)


def figures(out, G, D, x, labels, results, args):
    out.mkdir(parents=True, exist_ok=True)
    k = min(10, len(x))
    save_figure(inversion_figure(x[:k], {m: r["images"][:k] for m, r in results.items()}),
                out / "inversion-digits.png", dpi=120)
    save_figure(loss_curves_figure({m: r["curves"][0] for m, r in results.items()},
                                   kept={m: int(r["kept"][0]) for m, r in results.items()}),
                out / "inversion-loss-curves.png", dpi=120)
    if "ylg" in results and G.attention is not None:
        query = (x.shape[-1] // 2 - 4, x.shape[-1] // 2)  # above the centre: on most strokes
        fig = attention_map_figure(G, D, x[:1], results["ylg"]["z"][:1], labels[:1], query=query,
                                   reconstruction=results["ylg"]["images"][:1])
        save_figure(fig, out / "attention-map-digit.png", dpi=110)


def timing(G, D, x, labels, methods, args, rounds=3):
    """Best-of-``rounds`` milliseconds per (image, start, step) of each method, interleaved."""
    x, labels = x[:args.batch], labels[:args.batch]
    best = {}
    for _ in range(rounds):
        for m in methods:
            inv = invert(G, D, x, label=labels, method=m,
                         budget=Budget(steps=args.timing_steps, lr=args.lr, starts=args.starts),
                         seed=args.seed)
            per = 1000 * inv.seconds / (len(x) * args.starts * args.timing_steps)
            best[m] = min(best.get(m, float("inf")), per)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--steps", type=int, default=PUBLISHED.steps)
    p.add_argument("--starts", type=int, default=PUBLISHED.starts)
    p.add_argument("--lr", type=float, default=PUBLISHED.lr)
    p.add_argument("--batch", type=int, default=10, help="images inverted together")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--targets", default="digits",
                   help="digits (held-out test digits), self (G's own samples), or both")
    p.add_argument("--timing-steps", type=int, default=0,
                   help="also time this many steps per method (interleaved, best of 3)")
    p.add_argument("--figures", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    G, D, info = load_models(args.checkpoint, device=device)
    res = 4 * 2 ** len(G.blocks)
    x, labels, order = held_out_digits(args.n, res, G.channels)
    methods = args.methods.split(",")
    print(f"checkpoint {args.checkpoint} (step {info['step']}, {info['config'].get('attention')} "
          f"attention, width {info['config'].get('width')}, {res}x{res}); {args.n} images of "
          f"{args.targets}; {args.steps} Adam steps at lr {args.lr}, {args.starts} starts, class "
          f"given; "
          f"{device}, torch threads {torch.get_num_threads()}, {platform.processor() or 'cpu'}",
          flush=True)
    invert(G, D, x[:1], label=labels[:1], method="ylg" if D.attention is not None else "pixel",
           budget=Budget(steps=1, starts=1))  # warm-up: first calls pay one-off set-up costs
    out = {"checkpoint": str(args.checkpoint), "step": info["step"], "n": args.n,
           "test_indices": order.tolist(), "steps": args.steps, "starts": args.starts,
           "lr": args.lr, "targets": {}}
    kinds = args.targets.split(",")
    if not set(kinds) <= {"digits", "self"}:
        p.error(f"--targets must name digits and/or self, got {args.targets!r}")
    targets = [("held-out digits", x, labels, None)] if "digits" in kinds else []
    if "self" in kinds:
        gen = torch.Generator().manual_seed(args.seed + 1)
        zs = torch.randn(args.n, G.z_dim, generator=gen)
        with torch.no_grad():
            samples = G(zs.to(device), labels.to(device)).cpu()
        targets.append(("G's own samples", samples, labels, zs))  # the latent is known: scored
    for name, xt, lt, zt in targets:
        results = {}
        for m in methods:
            t0 = time.perf_counter()
            results[m] = run_method(G, D, xt, lt, m, args, z=zt)
            print(f"  {name}: {m} done in {time.perf_counter() - t0:.0f} s", flush=True)
        rows = summarise(results, args.n)
        print(f"\n### {name}\n\n{table(rows, args.n)}\n", flush=True)
        out["targets"][name] = {"rows": rows, "per_image": {m: r["scores"]
                                                             for m, r in results.items()}}
        if args.figures and name == "held-out digits":
            figures(args.figures, G, D, xt, lt, results, args)
    if args.timing_steps:
        ms = timing(G, D, x, labels, methods, args)
        print(f"time per (image, start, step), {args.timing_steps} steps on "
              f"{min(args.batch, args.n)} digits x {args.starts} starts, best of 3: " +
              ", ".join(f"{m} {v:.2f} ms ({v / ms[methods[0]]:.2f}x)" for m, v in ms.items()))
        out["ms_per_image_start_step"] = ms
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
