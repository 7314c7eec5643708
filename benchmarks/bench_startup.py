"""Start-up of the commands: the wall time of fresh ``ylg`` and ``ylg-masks`` processes.

Usage:  .venv/bin/python benchmarks/bench_startup.py [--repeat 5] [--only NAME,...] [--json FILE]

Each command runs ``--repeat`` times in a fresh process (the installed entry points next to this
Python, or ``python -m ylg_cli...`` where there are none), in turns, and the best and median wall
times are kept. The baseline ``python -c "import torch"`` is measured in the same run, in the same
turns: the ratio column (best / its best) is what a noisy shared machine changes least. A last,
separate run of each command under ``-X importtime`` says which heavy modules it imported (not
timed). Prints ``/proc/loadavg`` before and after, and a markdown table.

The commands (``--threads 1`` where torch computes, as on a shared machine):

- ``import torch`` (baseline) and ``ylg --help``, ``ylg train --help``, ``ylg-masks --help``;
- ``ylg-masks check --pattern ltr --n 256 --esa`` (one of the demo's checks; it passes);
- ``ylg train``: the smallest run that writes everything a run writes (2 steps of YLG-SAGAN at
  width 16, batch 8, on the embedded digits, one sample grid, curves and checkpoint);
- ``ylg sample`` of 16 images from that run's checkpoint.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: the modules whose import is worth naming (each a package, counted with its submodules)
HEAVY = ("torch", "torch._dynamo", "sympy", "sklearn", "matplotlib", "scipy", "networkx", "PIL",
         "torch.nn.attention.flex_attention")


def _program(name: str) -> list[str]:
    """The installed entry point ``name`` beside this Python, else ``python -m`` its module."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", {"ylg": "ylg_cli.main", "ylg-masks": "ylg_cli.masks"}[name]]


def _commands(tmp: Path) -> list[tuple[str, list[str]]]:
    ylg, masks = _program("ylg"), _program("ylg-masks")
    train = ["--threads", "1", "train", "--attention", "ylg", "--width", "16", "--batch-size",
             "8", "--steps", "2", "--sample-every", "2", "--num-samples", "4", "--quiet"]
    return [
        ("import torch", [sys.executable, "-c", "import torch"]),
        ("ylg --help", ylg + ["--help"]),
        ("ylg train --help", ylg + ["train", "--help"]),
        ("ylg-masks --help", masks + ["--help"]),
        ("ylg-masks check --pattern ltr --n 256 --esa",
         masks + ["check", "--pattern", "ltr", "--n", "256", "--esa"]),
        ("ylg train (2 steps, width 16, batch 8)", ylg + train + ["--out", str(tmp / "run{i}")]),
        ("ylg sample --n 16", ylg + ["--threads", "1", "sample", "--checkpoint",
                                     str(tmp / "run0" / "checkpoint.pt"), "--n", "16",
                                     "-o", str(tmp / "grid.png")]),
    ]


def _run(argv: list[str], i: int, env: dict[str, str]) -> float:
    argv = [a.replace("{i}", str(i)) for a in argv]
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def _heavy_imports(argv: list[str], env: dict[str, str]) -> list[str]:
    """The packages of :data:`HEAVY` that one run of ``argv`` imports (read from -X importtime)."""
    argv = [a.replace("{i}", "x") for a in argv]
    if argv[0] != sys.executable:  # an entry point script: run it with this Python
        argv = [sys.executable] + argv
    out = subprocess.run([argv[0], "-X", "importtime"] + argv[1:], check=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    names = {line.split("|")[-1].strip() for line in out.stderr.splitlines()
             if line.startswith("import time:")}
    return [m for m in HEAVY if m in names]


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return f"{os.getloadavg()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs of each command (best kept)")
    ap.add_argument("--only", default="", help="comma-separated prefixes of the commands to time "
                    "(the baseline always runs; sample needs train)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory() as tmp:
        commands = _commands(Path(tmp))
        if args.only:
            wanted = tuple(args.only.split(","))
            commands = [c for c in commands if c[0] == "import torch" or c[0].startswith(wanted)]
        print(f"loadavg before: {_loadavg()}")
        times: dict[str, list[float]] = {name: [] for name, _ in commands}
        for i in range(args.repeat):  # in turns: a slow minute of the machine hits every command
            for name, argv in commands:
                times[name].append(_run(argv, i, env))
        print(f"loadavg after:  {_loadavg()}")
        heavy = {name: _heavy_imports(argv, env) for name, argv in commands}
    base = min(times["import torch"])
    rows = [{"command": name, "best_s": min(t), "median_s": statistics.median(t),
             "ratio": min(t) / base, "heavy": heavy[name]} for name, t in times.items()]
    print(f"\nbest and median of {args.repeat} fresh processes each; ratio: best / best of "
          f"`python -c \"import torch\"`\n")
    print("| command | best (s) | median (s) | / import torch | heavy modules imported |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        print(f"| `{r['command']}` | {r['best_s']:.2f} | {r['median_s']:.2f} | "
              f"{r['ratio']:.2f} | {', '.join(r['heavy']) or '—'} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
