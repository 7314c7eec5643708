"""How much the discriminator's saliency maps depend on the image, per width and training length.

The ``ylg`` inversion loss weights ``D0``'s feature distance by D's saliency maps
(:func:`ylg.invert.saliency.discriminator_saliency`), and the attention-map figure draws them. A
map that barely changes with the image is a picture of the mask: the loss is then the
``discriminator`` loss times a fixed map. This experiment trains a YLG-SAGAN on the embedded
digits at 32x32 for each width and, at each training length, measures on held-out digits:

- ``between_images``: the mean relative difference (:func:`ylg.invert.saliency.map_difference`)
  between the maps of two different images, over all pairs;
- ``vs_zero_image``: each image's map against the map of an all-zero image;
- ``vs_untrained``: each image's map against the untrained D's (the run's initial weights);
- ``vs_mask``: each image's map against the mask's own map (attention uniform over the allowed
  keys, :func:`ylg.invert.saliency.uniform_saliency`);
- ``attention_mean``, ``attention_max``: D's attention weights against uniform over each query's
  allowed keys (:func:`ylg.invert.saliency.attention_uniformity`), all heads.

The maps are those of the heads the ``ylg`` loss uses (:func:`ylg.invert.saliency.default_heads`,
the ``rtl`` heads), D in eval mode. All numbers are fractions (0.0019 is 0.19 %).

Usage::

    python experiments/saliency_dependence.py run       # resumable: start it again to go on
    python experiments/saliency_dependence.py report    # the table; saliency_dependence.png
    nohup python experiments/saliency_dependence.py run > runs/saliency_dependence.log 2>&1 &

Everything goes to ``--out`` (default ``runs/saliency_dependence``, git-ignored): one training run
a width (``w<width>/``, checkpoints every 50 steps, a copy ``step-<n>.pt`` at each measured
length), ``results.json`` (written after each measurement, atomically; a measured point is
never measured again) and ``saliency_dependence.png``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from ifg.errors import YLGError  # noqa: E402
from ifg.files import atomic_write  # noqa: E402

__all__ = ["measure", "run", "table", "report", "main"]

METRICS = ("between_images", "vs_zero_image", "vs_untrained", "vs_mask", "attention_mean",
           "attention_max")


def _model_kwargs(width: int) -> dict[str, Any]:
    """The models' arguments of ``ylg train --attention ylg --width <width>`` on the digits."""
    return dict(resolution=32, width=width, num_classes=10, channels=1, z_dim=128,
                attention="ylg", attention_resolution=None, pool=2, sn_constraint="inequality")


def measure(D: Any, untrained: Any, images: Any) -> dict[str, float]:
    """The figures of the module docstring for discriminator ``D`` on ``images`` (b, 1, 32, 32)."""
    import torch

    from ylg.invert.saliency import (attention_uniformity, default_heads,
                                     discriminator_saliency, map_difference, uniform_saliency)

    heads = list(default_heads(D))
    maps = discriminator_saliency(D, images, heads=heads)  # (b, heads, a, a)
    zero = discriminator_saliency(D, torch.zeros_like(images[:1]), heads=heads)
    before = discriminator_saliency(untrained, images, heads=heads)
    layer = D.attention
    a = maps.shape[-2:]
    mask = uniform_saliency(layer, key_grid=(a[0] // layer.pool, a[1] // layer.pool),
                            size=(a[0], a[1]))[heads]
    pairs = list(itertools.combinations(range(len(images)), 2))
    with torch.no_grad():
        _, attention = layer(D.features_before_attention(images), return_attention=True)
    uniform = attention_uniformity(layer, attention)
    return {
        "between_images": sum(map_difference(maps[i], maps[j]) for i, j in pairs) / len(pairs),
        "vs_zero_image": map_difference(maps, zero),
        "vs_untrained": map_difference(maps, before),
        "vs_mask": map_difference(maps, mask),
        "attention_mean": uniform["mean"],
        "attention_max": uniform["max"],
    }


def _write(path: Path, results: dict[str, Any]) -> None:
    """Write ``results``, keeping the points another process (another width) wrote meanwhile."""
    if path.is_file():
        for key, point in json.loads(path.read_text())["points"].items():
            results["points"].setdefault(key, point)
    atomic_write(path, json.dumps(results, indent=1, sort_keys=True).encode())


def run(out: Path, *, widths: list[int], steps: list[int], batch_size: int, images: int,
        seed: int, log: Any = print) -> dict[str, Any]:
    """Train and measure every (width, steps) point not yet in ``out/results.json``."""
    from ylg.data import load_data, to_model_range
    from ylg.models.build import build_models, models_from_checkpoint
    from ylg.run.checkpoint import load_checkpoint
    from ylg.train import TrainConfig, train

    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    results.setdefault("settings", {"batch_size": batch_size, "images": images, "seed": seed,
                                    "data": "digits 32x32", "attention": "ylg"})
    points = results.setdefault("points", {})
    test = load_data("digits", resolution=32, split="test")
    x = to_model_range(test.images[:images])
    for width in widths:
        kwargs = _model_kwargs(width)
        _, untrained, _ = build_models(kwargs, seed=seed)
        untrained.eval()
        folder = out / f"w{width}"
        for n in sorted(steps):
            key = f"w{width}-s{n}"
            if key in points:
                continue
            start = time.monotonic()
            if n == 0:
                D = untrained
            else:
                copy = folder / f"step-{n}.pt"
                if not copy.is_file():
                    ckpt = folder / "checkpoint.pt"
                    have = int(load_checkpoint(ckpt)["step"]) if ckpt.is_file() else 0
                    if have > n:
                        raise YLGError(f"{ckpt} is past step {n} without its copy; remove "
                                       f"{folder} to train it again")
                    if have < n:
                        cfg = TrainConfig(out=str(folder), width=width, batch_size=batch_size,
                                          steps=n, attention="ylg", device="cpu", seed=seed,
                                          sample_every=10**6, checkpoint_every=50,
                                          log_every=50)
                        if ckpt.is_file():
                            train(resume=True, config=cfg, overrides={"steps": n},
                                  progress=False, log=lambda m: None)
                        else:
                            train(cfg, progress=False, log=lambda m: None)
                    shutil.copyfile(ckpt, copy)
                _, D, _ = models_from_checkpoint(load_checkpoint(copy))
                D.eval()
            points[key] = {"width": width, "steps": n, **measure(D, untrained, x),
                           "seconds": round(time.monotonic() - start, 1)}
            _write(path, results)
            log(f"{key}: " + ", ".join(f"{m} {points[key][m]:.4%}" for m in METRICS)
                + f" ({points[key]['seconds']} s)")
    return results


def table(points: list[dict[str, Any]]) -> str:
    """The points as a markdown table (percentages), by width then steps."""
    lines = ["| width (`qk_head_dim`) | steps | two digits | vs all-zero image | vs untrained D "
             "| vs mask's map | attention vs uniform, mean / max |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for p in sorted(points, key=lambda p: (p["width"], p["steps"])):
        lines.append(f"| {p['width']} ({p['width'] // 16}) | {p['steps']:,} "
                     f"| {p['between_images']:.2%} | {p['vs_zero_image']:.2%} "
                     f"| {p['vs_untrained']:.2%} | {p['vs_mask']:.2%} "
                     f"| {p['attention_mean']:.2%} / {p['attention_max']:.1%} |")
    return "\n".join(lines).replace("%", " %")


def report(out: Path) -> Path:
    """``out/saliency_dependence.png``: each figure against training length, one panel a width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ifg.render import save_figure

    points = json.loads((out / "results.json").read_text())["points"].values()
    widths = sorted({p["width"] for p in points})
    fig, axes = plt.subplots(1, len(widths), figsize=(4 * len(widths), 3.4), squeeze=False,
                             sharey=True)
    labels = {"between_images": "two images", "vs_zero_image": "vs all-zero image",
              "vs_untrained": "vs untrained D", "vs_mask": "vs mask's uniform map",
              "attention_max": "attention vs uniform (max)"}
    for ax, width in zip(axes[0], widths):
        mine = sorted((p for p in points if p["width"] == width), key=lambda p: p["steps"])
        for (metric, label), style in zip(labels.items(), ("o-", "s--", "^-", "o:", "d-")):
            # a log axis has no 0 (the untrained D against itself): left out
            ax.plot([p["steps"] for p in mine],
                    [100 * p[metric] if p[metric] > 0 else float("nan") for p in mine], style,
                    label=label, ms=3)
        ax.set_title(f"width {width}")
        ax.set_xlabel("training steps")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("relative difference (%)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("D's saliency maps: how much they depend on the image", fontsize=10)
    fig.tight_layout()
    target = out / "saliency_dependence.png"
    save_figure(fig, target, dpi=110)
    plt.close(fig)
    return target


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    """``run`` or ``report``; returns the exit code (2: bad input)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("phase", choices=("run", "report"))
    parser.add_argument("--out", default="runs/saliency_dependence")
    parser.add_argument("--widths", default="16,32,64")
    parser.add_argument("--steps", default="0,300,1000")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--images", type=int, default=8, help="held-out digits measured")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        if args.phase == "run":
            from ylg.runtime import set_threads

            set_threads(args.threads)
            run(out, widths=_ints(args.widths), steps=_ints(args.steps),
                batch_size=args.batch_size, images=args.images, seed=args.seed,
                log=lambda m: print(m, flush=True))
        print(table(list(json.loads((out / "results.json").read_text())["points"].values())))
        print(report(out))
    except YLGError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
