"""`make demo`: the main job on the embedded data, step by step with visible progress.

Check the paper's patterns with and without ESA; export the YLG masks of the 32x32 model and check
them; train a YLG-SAGAN on the embedded digits for a few minutes; save a sample grid and a latent
walk. Everything lands in ``demo/``. ``YLG_DEMO_STEPS`` sets the training steps (default 300).
Later steps (evaluate, invert) are appended as the toolkit grows.
"""

import os
import shutil
import sys
import time
from pathlib import Path

import ifg

DEMO = Path("demo")

PAPER_PATTERNS = ("fixed", "strided", "ltr", "rtl")


def check_paper_patterns(n=256):
    """Print one line per (pattern, enumeration): edges and the Full Information verdict."""
    print(f"== Full Information of the paper's patterns at N = {n} ({ifg.stride(n)}x"
          f"{ifg.stride(n)} grid)")
    for name in PAPER_PATTERNS:
        for enumeration in ("rowmajor", "manhattan"):
            r = ifg.check(ifg.pattern(name, n, enumeration=enumeration))
            esa = "ESA   " if enumeration == "manhattan" else "no ESA"
            full = "yes" if r.full_information else f"no ({r.missing_pairs:,} pairs lack a path)"
            causal = "yes" if r.causal_full_information else "no"
            print(f"  {name:<8} {esa}  edges {sum(r.edges):>6,}  Full Information: {full:<32} "
                  f"causal: {causal}")


def export_ylg_masks(path=DEMO / "masks.npz"):
    """Write the paper's 8 heads for the 32x32 model (queries 16x16, keys 8x8), read them back and
    check every multi-step group for Full Information."""
    from ifg.io import load, save
    from ifg.maskset import preset

    print("\n== Export the YLG masks of the 32x32 model (queries 16x16, keys 8x8) and check them")
    path.parent.mkdir(parents=True, exist_ok=True)
    save(preset("ylg", key_grid=(8, 8), query_grid=(16, 16)), path)
    ms = load(path)
    for g, heads in enumerate(ms.groups):
        p = ms.group_pattern(g)
        verdict = "yes" if ifg.check(p).full_information else "NO"
        print(f"  heads {heads}: {p.name:<14} Full Information: {verdict}")
    print(f"  wrote {path} ({path.stat().st_size:,} bytes)")
    return path


def train_ylg_on_digits(masks, run_dir=DEMO / "ylg-digits", steps=None):
    """Train YLG-SAGAN on the embedded digits (1,500 training images) on the CPU."""
    from ylg.train import TrainConfig, train

    steps = steps or int(os.environ.get("YLG_DEMO_STEPS", "300"))
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run each time the demo is made
    print(f"\n== Train YLG-SAGAN on digits: {steps} steps, width 16, batch 32, DiffAugment "
          f"(progress below; the run folder is {run_dir})")
    cfg = TrainConfig(out=str(run_dir), attention=str(masks), width=16, batch_size=32,
                      steps=steps, diffaugment="color,translation,cutout", log_every=10,
                      sample_every=100, checkpoint_every=100, device="cpu")
    result = train(cfg, log=print)
    print(f"  step {result.step}: loss_d {result.last['loss_d']:.3f}, "
          f"loss_g {result.last['loss_g']:.3f}; checkpoint {run_dir / 'checkpoint.pt'}")
    return run_dir / "checkpoint.pt"


def sample_grid(checkpoint, out=DEMO / "samples.png", walk=DEMO / "walk.png"):
    """Ten samples of every digit from the EMA generator, and a latent walk of the digit 3."""
    from ylg.sample import latent_walk, load_generator, sample
    from ylg.viz import save_image_grid

    print("\n== Samples from the EMA generator (one digit per row) and a latent walk")
    G, info = load_generator(checkpoint)
    save_image_grid(sample(G, classes=list(range(10)), n=100), out, nrow=10, scale=2)
    save_image_grid(latent_walk(G, label=3, rows=4, steps=8), walk, nrow=8, scale=2)
    print(f"  wrote {out} and {walk} (step {info['step']})")


def main():
    t0 = time.perf_counter()
    check_paper_patterns()
    masks = export_ylg_masks()
    checkpoint = train_ylg_on_digits(masks)
    sample_grid(checkpoint)
    print(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
