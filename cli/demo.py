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


def render_paper_figures(out=DEMO / "paper_masks.png"):
    """The paper's mask figures: fixed, ltr and rtl at N = 9 with their graphs, 8x8 enumerations."""
    from ifg.render import paper_figure, save_figure

    print("\n== Render the paper's mask figures")
    save_figure(paper_figure(), out)
    print(f"  wrote {out}")
    return out


def evaluate_samples(checkpoint, samples=500):
    """Domain FID and class accuracy of the EMA generator, on the digits classifier's features."""
    from ylg.metrics import evaluate_checkpoint

    print(f"\n== Evaluate {samples} samples: domain FID and class accuracy (the project's digits "
          "classifier; not comparable with published Inception FIDs)")
    result = evaluate_checkpoint(checkpoint, metrics="domain-fid,accuracy", samples=samples,
                                 progress=True, log=print)
    numbers = {k: v for k, v in result.items() if isinstance(v, (int, float))}
    for key, value in numbers.items():
        print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    return numbers


def invert_test_digits(checkpoint, indices=(0, 1), steps=None, starts=2):
    """Invert held-out digits with each method (pixel, discriminator, ylg), same budget each."""
    from ylg.invert import Budget, invert_to_folder

    steps = steps or int(os.environ.get("YLG_DEMO_INVERT_STEPS", "100"))
    print(f"\n== Invert held-out test digits {list(indices)} with each method ({steps} Adam steps, "
          f"{starts} starts each; the paper uses 1000 and 8)")
    reports = {}
    for i in indices:
        out = DEMO / f"invert-{i}"
        report = invert_to_folder(checkpoint, out, test_index=i,
                                  budget=Budget(steps=steps, starts=starts), progress=True)
        reports[i] = report
        for method, r in report.get("methods", {}).items():
            print(f"  digit {i} {method:<14} PSNR {r['psnr']:.2f} dB  SSIM {r['ssim']:.3f}")
    return reports


def attention_map(checkpoint, query=(16, 16), steps=None):
    """Where one pixel of a held-out digit attends in each head of G, over the real image."""
    from ylg.invert import Budget, draw_attention_map

    steps = steps or int(os.environ.get("YLG_DEMO_INVERT_STEPS", "100"))
    out = DEMO / "attention_map.png"
    print(f"\n== Attention map of pixel {query} of test digit 0 in each head of G")
    draw_attention_map(checkpoint, out, query=query, test_index=0,
                       budget=Budget(steps=steps, starts=2))
    print(f"  wrote {out}")
    return out


def write_report(sections, out=DEMO / "report.html"):
    """One page with every figure and number, and the command that made each."""
    import html

    parts = ["<!doctype html><meta charset='utf-8'><title>YLG toolkit demo</title>",
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
             "img{max-width:100%;border:1px solid #ccc}pre{background:#f4f4f4;padding:.5em;"
             "overflow-x:auto}</style>",
             "<h1>YLG toolkit: demo report</h1>",
             f"<p>Made by <code>make demo</code> on {time.strftime('%Y-%m-%d %H:%M')}.</p>"]
    for title, command, text, images in sections:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(f"<p>Command: <code>{html.escape(command)}</code></p>")
        if text:
            parts.append(f"<pre>{html.escape(text)}</pre>")
        for image in images:
            rel = Path(image).relative_to(DEMO)
            parts.append(f"<p><img src='{html.escape(str(rel))}' alt='{html.escape(str(rel))}'></p>")
    out.write_text("\n".join(parts) + "\n")
    print(f"\n== Wrote {out}")
    return out


def _captured(fn, *args, **kw):
    """Run ``fn`` printing as usual, and return its result and what it printed."""
    import contextlib
    import io

    buffer = io.StringIO()

    class Tee(io.TextIOBase):
        def write(self, text):
            sys.__stdout__.write(text)
            buffer.write(text)
            return len(text)

    with contextlib.redirect_stdout(Tee()):
        result = fn(*args, **kw)
    return result, buffer.getvalue()


def main():
    t0 = time.perf_counter()
    DEMO.mkdir(exist_ok=True)
    sections = []
    _, text = _captured(check_paper_patterns)
    sections.append(("Full Information of the paper's patterns",
                     "ylg-masks check --pattern NAME --n 256 [--esa]", text, []))
    masks, text = _captured(export_ylg_masks)
    sections.append(("The YLG masks of the 32x32 model",
                     "ylg-masks export --preset ylg --query-grid 16x16 --key-grid 8x8 -o "
                     "demo/masks.npz && ylg-masks check --masks demo/masks.npz", text, []))
    figure, text = _captured(render_paper_figures)
    sections.append(("The paper's mask figures", "ylg-masks render --esa -o demo/paper_masks.png",
                     "", [figure]))
    checkpoint, text = _captured(train_ylg_on_digits, masks)
    tail = "\n".join(text.strip().splitlines()[-6:])
    sections.append(("Training YLG-SAGAN on digits",
                     "ylg train --masks demo/masks.npz --width 16 --batch-size 32 --steps 300 "
                     "--diffaugment color,translation,cutout --out demo/ylg-digits", tail,
                     [checkpoint.parent / "curves.png"]))  # drawn by train at its checkpoints
    _, text = _captured(sample_grid, checkpoint)
    sections.append(("Samples (one digit per row) and a latent walk",
                     "ylg sample --checkpoint demo/ylg-digits/checkpoint.pt -o demo/samples.png; "
                     "ylg interpolate --checkpoint demo/ylg-digits/checkpoint.pt --class 3 -o "
                     "demo/walk.png", "", [DEMO / "samples.png", DEMO / "walk.png"]))
    _, text = _captured(evaluate_samples, checkpoint)
    sections.append(("Evaluation", "ylg evaluate --checkpoint demo/ylg-digits/checkpoint.pt "
                     "--metrics domain-fid,accuracy --samples 500", text, []))
    reports, text = _captured(invert_test_digits, checkpoint)
    images = [DEMO / f"invert-{i}" / name for i in reports
              for name in ("comparison.png", "loss_curves.png")]
    sections.append(("Inversion of held-out digits",
                     "ylg invert --checkpoint demo/ylg-digits/checkpoint.pt --test-index I "
                     "--method all --steps 100 --starts 2 -o demo/invert-I", text,
                     [p for p in images if p.exists()]))
    figure, text = _captured(attention_map, checkpoint)
    sections.append(("Attention map of one pixel, per head of G",
                     "ylg attention-map --checkpoint demo/ylg-digits/checkpoint.pt --test-index 0 "
                     "--query 16,16 --all-heads -o demo/attention_map.png", "", [figure]))
    write_report(sections)
    print(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
