"""`make demo`: the toolkit's main job on the embedded data, as the commands a user would type.

Checks the paper's patterns with and without ESA; exports the YLG masks of the 32x32 model and
checks them; renders the paper's mask figures; trains a YLG-SAGAN on the embedded digits for a few
minutes; draws samples and a latent walk; evaluates; inverts held-out digits; draws an attention
map; and writes ``demo/report.html``. Every step is a ``ylg`` or ``ylg-masks`` command, built once
as an argument list, run in this process through the program's own entry point, printed as
``$ command`` before its output, and listed in the report exactly as it ran.

``YLG_DEMO_STEPS`` sets the training steps (default 300), ``YLG_DEMO_INVERT_STEPS`` the Adam
steps of each inversion (default 100). Everything lands in ``demo/``.

Usage::

    python experiments/demo.py        # or: make demo
"""

from __future__ import annotations

import contextlib
import html
import io
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DEMO = Path("demo")
PAPER_PATTERNS = ("fixed", "strided", "ltr", "rtl")


@dataclass
class Section:
    """One part of the report: a title, the commands that ran (argument lists), what they
    printed, and the figures they wrote."""

    title: str
    commands: list = field(default_factory=list)
    text: str = ""
    images: list = field(default_factory=list)


def _programs():
    from ylg_cli.main import main as ylg
    from ylg_cli.masks import main as ylg_masks

    return {"ylg": ylg, "ylg-masks": ylg_masks}


def run(section: Section, argv: list, *, ok=(0,)) -> int:
    """Run one command (``argv[0]`` is ``ylg`` or ``ylg-masks``) through its program's entry
    point, as the shell would; print ``$ command`` and its output, record both in ``section``.

    Raises
    ------
    SystemExit
        When the command exits with a code outside ``ok`` (its error line is printed above).
    """
    argv = [str(a) for a in argv]
    line = "$ " + shlex.join(argv)
    print(line, flush=True)
    buffer = io.StringIO()

    class Tee(io.TextIOBase):
        def write(self, text):
            sys.__stdout__.write(text)
            buffer.write(text)
            return len(text)

    with contextlib.redirect_stdout(Tee()):
        try:
            code = _programs()[argv[0]].main(argv[1:], prog_name=argv[0],
                                             standalone_mode=False)
        except SystemExit as exit_:  # `ylg-masks check` ends with its verdict's exit code
            code = exit_.code
    code = 0 if code is None else code
    section.commands.append(argv)
    section.text += f"{line}\n{buffer.getvalue()}"
    if code not in ok:
        raise SystemExit(f"demo: `{shlex.join(argv)}` exited with {code}")
    return code


def steps_from_environment() -> tuple:
    """The training steps and the inversion steps (``YLG_DEMO_STEPS``, ``YLG_DEMO_INVERT_STEPS``)."""
    return (int(os.environ.get("YLG_DEMO_STEPS", "300")),
            int(os.environ.get("YLG_DEMO_INVERT_STEPS", "100")))


def demo(out: Path = DEMO, *, steps: int = 300, invert_steps: int = 100) -> list:
    """Run every step of the demo into ``out``; the report's sections."""
    out.mkdir(parents=True, exist_ok=True)
    masks, run_dir = out / "masks.npz", out / "ylg-digits"
    checkpoint = run_dir / "checkpoint.pt"
    sections = []

    s = Section("Full Information of the paper's patterns (N = 256, a 16x16 grid)")
    for name in PAPER_PATTERNS:
        for esa in ([], ["--esa"]):
            # exit 1 is the answer "no Full Information", not a failure
            run(s, ["ylg-masks", "check", "--pattern", name, "--n", "256", *esa], ok=(0, 1))
    sections.append(s)

    s = Section("The YLG masks of the 32x32 model (queries 16x16, keys 8x8)")
    run(s, ["ylg-masks", "export", "--preset", "ylg", "--query-grid", "16x16", "--key-grid",
            "8x8", "-o", masks])
    run(s, ["ylg-masks", "check", "--masks", masks])
    sections.append(s)

    s = Section("The paper's mask figures", images=[out / "paper_masks.png"])
    run(s, ["ylg-masks", "render", "--esa", "-o", out / "paper_masks.png"])
    sections.append(s)

    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run each time the demo is made
    s = Section("Training YLG-SAGAN on digits", images=[run_dir / "curves.png"])
    run(s, ["ylg", "train", "--masks", masks, "--width", "16", "--batch-size", "32", "--steps",
            steps, "--diffaugment", "color,translation,cutout", "--sample-every", "100",
            "--checkpoint-every", "100", "--device", "cpu", "--out", run_dir])
    sections.append(s)

    s = Section("Samples (one digit per row) and a latent walk",
                images=[out / "samples.png", out / "walk.png"])
    run(s, ["ylg", "sample", "--checkpoint", checkpoint, "--classes", "0,1,2,3,4,5,6,7,8,9",
            "--n", "100", "-o", out / "samples.png"])
    run(s, ["ylg", "interpolate", "--checkpoint", checkpoint, "--class", "3", "-o",
            out / "walk.png"])
    sections.append(s)

    s = Section("Evaluation: domain FID and class accuracy (the project's digits classifier; "
                "not comparable with published Inception FIDs)")
    run(s, ["ylg", "evaluate", "--checkpoint", checkpoint, "--metrics", "domain-fid,accuracy",
            "--samples", "500"])
    sections.append(s)

    s = Section(f"Inversion of held-out digits ({invert_steps} Adam steps and 2 starts per "
                "method; the paper uses 1000 and 8)")
    for i in (0, 1):
        run(s, ["ylg", "invert", "--checkpoint", checkpoint, "--test-index", i, "--method",
                "all", "--steps", invert_steps, "--starts", "2", "-o", out / f"invert-{i}"])
        s.images += [out / f"invert-{i}" / "comparison.png", out / f"invert-{i}" / "loss_curves.png"]
    sections.append(s)

    s = Section("Attention map of one pixel, per head of G", images=[out / "attention_map.png"])
    run(s, ["ylg", "attention-map", "--checkpoint", checkpoint, "--test-index", "0", "--query",
            "16,16", "--all-heads", "--steps", invert_steps, "--starts", "2", "-o",
            out / "attention_map.png"])
    sections.append(s)
    return sections


def write_report(sections: list, out: Path) -> Path:
    """One page with every section: the commands exactly as they ran, their output, figures."""
    parts = ["<!doctype html><meta charset='utf-8'><title>YLG toolkit demo</title>",
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
             "img{max-width:100%;border:1px solid #ccc}pre{background:#f4f4f4;padding:.5em;"
             "overflow-x:auto}</style>",
             "<h1>YLG toolkit: demo report</h1>",
             f"<p>Made by <code>make demo</code> on {time.strftime('%Y-%m-%d %H:%M')}; each "
             "section lists the commands that made it, as they ran.</p>"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [f"<p><code class='command'>{html.escape(shlex.join(map(str, argv)))}</code></p>"
                  for argv in section.commands]
        if section.text:
            parts.append(f"<pre>{html.escape(section.text)}</pre>")
        for image in section.images:
            if Path(image).exists():
                rel = html.escape(str(Path(image).relative_to(out.parent)))
                parts.append(f"<p><img src='{rel}' alt='{rel}'></p>")
    out.write_text("\n".join(parts) + "\n")
    print(f"\n== Wrote {out}")
    return out


def main() -> int:
    t0 = time.perf_counter()
    steps, invert_steps = steps_from_environment()
    sections = demo(DEMO, steps=steps, invert_steps=invert_steps)
    write_report(sections, DEMO / "report.html")
    print(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
