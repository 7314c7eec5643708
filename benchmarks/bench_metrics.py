"""Time the metrics: Inception images/s, the distances, the digits classifier; Inception sanity.

Usage:  .venv/bin/python benchmarks/bench_metrics.py [--device cpu] [--check-images 64]
                                                    [--skip-inception]

Sections (markdown on stdout):
1. the FID Inception network's throughput (images/s, after two warm-up calls that let
   TorchScript's profiling executor settle), from 32x32 grey digits (resize included);
2. the distances on 2048-d features: Frechet (ours, eigh-based, and scipy's sqrtm), KID (100
   subsets of 1,000), precision/recall and density/coverage;
3. the digits classifier: training time (fresh cache), test accuracy, features images/s;
4. Inception and domain FID on the digits: two disjoint halves of the train split, then one half
   against the other with added noise and blur (``--check-images`` per half for Inception).
"""

import argparse
import tempfile
import time

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F

from ylg import metrics


def best_of(fn, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def blur(x, sigma):
    if sigma == 0:
        return x
    r = int(np.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = (k / k.sum()).to(x.device)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def inception_throughput(device):
    ex = metrics.load_inception(device=device)
    images, _ = metrics.digits._digits("train")
    print("\n## Inception throughput\n")
    print("| batch | images/s | s/batch |")
    print("|---:|---:|---:|")
    for batch in (1, 8, 32) + ((128,) if device != "cpu" else ()):
        x = images[:batch]
        for _ in range(2):  # TorchScript's profiling executor optimises on the first calls
            ex(x, batch_size=batch)
        if device != "cpu":
            torch.cuda.synchronize()
        seconds, _ = best_of(lambda: ex(x, batch_size=batch), repeats=2 if batch > 8 else 3)
        print(f"| {batch} | {batch / seconds:.1f} | {seconds:.2f} |")
    return ex


def distances():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(2048, 2048)) / 45
    real = np.maximum(rng.normal(size=(2000, 2048)) @ mix, 0)
    fake = np.maximum(rng.normal(size=(2000, 2048)) @ mix + 0.05, 0)
    print("\n## Distances on 2,000 x 2,048 features\n")
    print("| computation | seconds |")
    print("|---|---:|")
    mu1, s1 = metrics.feature_statistics(real)
    mu2, s2 = metrics.feature_statistics(fake)
    ours, value = best_of(lambda: metrics.frechet_distance(mu1, s1, mu2, s2), repeats=2)

    def scipy_fid():
        root = scipy.linalg.sqrtm(s1 @ s2)
        return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(root)))

    theirs, ref = best_of(scipy_fid, repeats=1)
    print(f"| Frechet distance, eigh (ours) = {value:.6f} | {ours:.2f} |")
    print(f"| Frechet distance, scipy sqrtm = {ref:.6f} (difference {abs(value - ref):.1e}) "
          f"| {theirs:.2f} |")
    t, _ = best_of(lambda: metrics.kid(real, fake, subsets=100, subset_size=1000), repeats=1)
    print(f"| KID, 100 subsets of 1,000 | {t:.2f} |")
    t, _ = best_of(lambda: metrics.precision_recall(real, fake), repeats=1)
    print(f"| precision and recall (k=3) | {t:.2f} |")
    t, _ = best_of(lambda: metrics.density_coverage(real, fake), repeats=1)
    print(f"| density and coverage (k=5) | {t:.2f} |")


def classifier(device):
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        net = metrics.digit_classifier(cache=folder, log=None)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        metrics.digit_classifier(cache=folder, log=None)
        load_s = time.perf_counter() - t0
    net = net.to(device)
    images, _ = metrics.digits._digits("train")
    ex = net.extractor()
    ex(images[:256])
    seconds, _ = best_of(lambda: ex(images, batch_size=250))
    print("\n## Digits classifier\n")
    print("| training (s, CPU) | cached load (s) | test accuracy | features (images/s) |")
    print("|---:|---:|---:|---:|")
    print(f"| {train_s:.1f} | {load_s:.2f} | {net.test_accuracy:.1%} | "
          f"{len(images) / seconds:,.0f} |")
    return ex


def sanity(extractors, check_images):
    images, _ = metrics.digits._digits("train")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    print("\n## FID on the digits: halves, noise, blur\n")
    print("Half A against half B of the train split, then against B with Gaussian noise (std "
          "in the [-1, 1] range) or Gaussian blur (sigma in pixels at 32x32).\n")
    print("| features | per half | halves | noise 0.25 | noise 0.5 | noise 1.0 | blur 1 | "
          "blur 2 | blur 3 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, ex, n in extractors:
        a, b = order[:n], order[n:2 * n]
        real = ex(images[a], batch_size=32)
        x = images[b].float() / 127.5 - 1
        gen = torch.Generator().manual_seed(1)
        row = [metrics.fid(real, ex(x, batch_size=32))]
        row += [metrics.fid(real, ex((x + s * torch.randn(x.shape, generator=gen)).clamp(-1, 1),
                                     batch_size=32)) for s in (0.25, 0.5, 1.0)]
        row += [metrics.fid(real, ex(blur(x, s), batch_size=32)) for s in (1, 2, 3)]
        print(f"| {label} | {n} | " + " | ".join(f"{v:.2f}" for v in row) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--check-images", type=int, default=64,
                        help="digits per half for the Inception sanity rows")
    parser.add_argument("--skip-inception", action="store_true")
    args = parser.parse_args()
    print(f"device: {args.device}, torch threads: {torch.get_num_threads()}")
    inception = None if args.skip_inception else inception_throughput(args.device)
    distances()
    domain = classifier(args.device)
    rows = [("domain (digits CNN)", domain, 750)]
    if inception is not None:
        rows.append(("Inception", inception, args.check_images))
    sanity(rows, args.check_images)


if __name__ == "__main__":
    main()
