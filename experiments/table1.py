"""Table 1 of the paper at small scale: SAGAN, SAGAN with 8 heads, YLG-SAGAN and two ablations.

Five variants (:data:`VARIANTS`), identical settings (:class:`Settings`), several seeds, on the
embedded digits at 32x32; then a report (``docs/results.md``, section "Table 1 at small scale")
with mean and spread of each metric, the step of the best score, the paper's numbers beside, the
paper's training-time claim checked, metric-against-steps plots and sample grids.

Usage::

    python experiments/table1.py run      # all variants x seeds, one after another
    python experiments/table1.py status   # what is done
    python experiments/table1.py report   # docs/results.md and docs/figures/table1_*.png
    python experiments/table1.py run --dry-run && python experiments/table1.py report --dry-run

Runs live in ``runs/table1/<variant>-s<seed>/`` (``ylg.train``'s run folder, plus ``eval.jsonl``
and ``best.pt``). ``run`` skips finished runs and continues an interrupted one from its checkpoint,
so it can be stopped at any time and started again with the same command.

How a run is measured: one ``ylg.train.train`` call trains it to the budget (an interrupted run
resumes from its checkpoint; a resumed run draws exactly what an uninterrupted one draws), and
every ``eval_every`` steps train's evaluation hook scores the EMA generator, after that step's
checkpoint, with ``ylg.metrics.evaluate_generator`` on
``eval_samples`` samples (fixed latents, classes in turn) against the 1,500 training digits:
the domain FID (the digits classifier's 128-d features; lower is better), domain precision and
recall, and the class accuracy of the samples. The domain FID is the CPU-fast stand-in for the
Inception FID and is not comparable with published FIDs. Each line of ``eval.jsonl`` is one
evaluation; ``best.pt`` is the checkpoint of the best domain FID so far (the paper reports the
best score of a run).

The budget (the default ``--steps``): see :data:`BUDGET_NOTE`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from ifg.errors import InvalidArgument, YLGError  # noqa: E402
from ifg.files import atomic_write  # noqa: E402

__all__ = ["Variant", "VARIANTS", "Settings", "DRY_RUN", "BUDGET_NOTE", "run_dir", "read_evals",
           "run_progress", "train_run", "run_experiment", "summarise", "write_report", "main"]


@dataclass(frozen=True)
class Variant:
    """One row of Table 1: the attention of G and D, and the paper's numbers (SPEC section 9)."""

    key: str
    label: str
    attention: str
    paper_fid: str
    paper_is: str


VARIANTS = (
    Variant("sagan", "SAGAN (1 dense head)", "dense", "18.65", "52.52"),
    Variant("sagan8", "SAGAN (8 dense heads)", "dense8", "—", "46.01"),
    Variant("ylg", "YLG-SAGAN (8 sparse heads, ESA)", "ylg", "15.94", "57.22"),
    Variant("ylg-no-esa", "YLG without ESA", "ylg-no-esa", "17.47", "51.09"),
    Variant("ylg-strided", "YLG with the strided extension", "ylg-strided",
            "between YLG and no ESA", "between YLG and no ESA"),
)
_BY_KEY = {v.key: v for v in VARIANTS}

#: the metrics recorded at each evaluation (names of ``ylg.metrics.METRICS``)
EVAL_METRICS = ("domain-fid", "domain-precision", "domain-recall", "accuracy")
SCORE = "domain-fid"  # the score whose best is reported (lower is better)


@dataclass(frozen=True)
class Settings:
    """What every run of the experiment shares. Only ``steps`` may change for an existing one.

    Examples
    --------
    >>> Settings().steps, Settings(steps=120).chunks()
    (800, [50, 100, 120])
    """

    steps: int = 800
    width: int = 16
    batch_size: int = 32
    eval_every: int = 50
    eval_samples: int = 500
    eval_seed: int = 0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or \
                    value < (0 if f.name == "eval_seed" else 1):
                raise InvalidArgument(f"{f.name} must be a positive integer, got {value!r}")

    def chunks(self, steps=None) -> list:
        """The evaluation steps: every ``eval_every`` steps, and the last one."""
        steps = self.steps if steps is None else steps
        out = list(range(self.eval_every, steps, self.eval_every))
        return out + [steps] if steps not in out else out

    def fixed(self) -> dict:
        """The settings a run folder is tied to (all but ``steps``)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "steps"}


#: ``--dry-run``: a few steps of every run, to check the pipeline end to end (not a result)
DRY_RUN = dict(steps=4, eval_every=2, eval_samples=60, batch_size=8)

BUDGET_NOTE = """\
The step budget is set by time: about 2 hours for all 15 runs (5 variants x 3 seeds) on this
machine's 2 CPU cores, as two one-thread shards (`--shard 0/2`, `--shard 1/2`). Measured here:
one training step (one D and one G update) of the 32x32 models at width 16 (64 channels) and
batch 32 costs 1.14 s of CPU time for SAGAN, 1.28 s for SAGAN with 8 heads and 1.10 s for YLG
(`benchmarks/bench_train.py --device cpu --width 16 --batch 32 --sizes 32 --skip-128
--threads 1 --clock cpu`). One thread per process, because two threads on a shared core wait
on each other: with other work running, a SAGAN step took 2.25 s of wall time on one thread and
14.9 s on two. Width 16 is the narrowest that holds 8 heads (the layer needs a multiple of
8 x heads = 64 channels). 15 runs x 800 steps x 1.2 s / 2 shards = 2.0 hours, plus 16
evaluations of 500 samples per run (a few seconds each). Batch 32 (not the paper's 256) keeps
the number of updates up at this cost. The first budget was 400 steps (one hour on two
shards), where the samples were still blobs and class accuracy at chance; the runs were
continued to 800 (a run continues from its checkpoint when --steps grows)."""


def _seeds(text) -> tuple:
    try:
        seeds = tuple(int(s) for s in str(text).split(",") if s.strip())
    except ValueError:
        raise InvalidArgument(f"seeds must be integers separated by commas, got {text!r}") \
            from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise InvalidArgument(f"seeds must be distinct non-negative integers, got {text!r}")
    return seeds


def _variants(text) -> tuple:
    keys = [k.strip() for k in str(text).split(",") if k.strip()]
    bad = [k for k in keys if k not in _BY_KEY]
    if bad or not keys:
        raise InvalidArgument(f"unknown variant {bad[0] if bad else text!r}; known: "
                              f"{', '.join(_BY_KEY)}")
    return tuple(_BY_KEY[k] for k in dict.fromkeys(keys))


def _shard(text) -> tuple:
    try:
        index, count = (int(p) for p in str(text).split("/"))
    except ValueError:
        raise InvalidArgument(f"shard must read I/N, got {text!r}") from None
    if not 0 <= index < count:
        raise InvalidArgument(f"shard must have 0 <= I < N, got {text!r}")
    return index, count


def run_dir(root, variant, seed) -> Path:
    """``<root>/<variant>-s<seed>``.

    Examples
    --------
    >>> run_dir("runs/table1", VARIANTS[2], 1).as_posix()
    'runs/table1/ylg-s1'
    """
    key = variant.key if isinstance(variant, Variant) else str(variant)
    return Path(root) / f"{key}-s{seed}"


def read_evals(folder) -> list:
    """The evaluations of a run (``eval.jsonl``), in step order; a line cut by a kill is dropped.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "eval.jsonl").write_text('{"step": 2}\\n{"st')
    >>> read_evals(d)
    [{'step': 2}]
    """
    path = Path(folder) / "eval.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return sorted(out, key=lambda e: e["step"])


def _write_evals(folder, evals):
    atomic_write(Path(folder) / "eval.jsonl", "".join(json.dumps(e) + "\n" for e in evals))


def _checkpoint_step(folder) -> int:
    """The step of ``checkpoint.pt`` (0 when there is none)."""
    path = Path(folder) / "checkpoint.pt"
    if not path.exists():
        return 0
    from ylg.run.checkpoint import load_checkpoint

    return int(load_checkpoint(path)["step"])


def run_progress(folder, steps) -> dict:
    """``{"step", "evaluated", "finished"}`` of one run folder, read from its ``eval.jsonl``.

    A run is finished when it has been evaluated at ``steps`` (or beyond).

    Examples
    --------
    >>> import tempfile
    >>> run_progress(tempfile.mkdtemp(), 10)
    {'step': 0, 'evaluated': 0, 'finished': False}
    """
    evals = read_evals(folder)
    step = evals[-1]["step"] if evals else 0
    return {"step": step, "evaluated": len(evals), "finished": step >= steps}


def _copy_atomic(src, dst):
    with open(src, "rb") as f:
        atomic_write(dst, lambda out: shutil.copyfileobj(f, out))


class _Evaluator:
    """Scores an EMA generator on the digits (the real features and the classifier load once)."""

    def __init__(self, settings, classifier=None, log=None):
        from ylg.data import digits
        from ylg.metrics import digit_classifier

        self.settings = settings
        self.real = digits(resolution=32, split="train", channels=1)
        self.classifier = classifier if classifier is not None else digit_classifier(log=log)

    def __call__(self, G, seed=None) -> dict:
        """The scores of ``G`` on the settings' samples (latents of ``eval_seed``, or ``seed``)."""
        from ylg.metrics import evaluate_generator

        t = time.perf_counter()
        seed = self.settings.eval_seed if seed is None else seed
        found = evaluate_generator(G, real_images=self.real.images, num_classes=10,
                                   dataset=self.real.source, samples=self.settings.eval_samples,
                                   seed=seed, metrics=EVAL_METRICS,
                                   classifier=self.classifier, log=None)
        out = {k: found[k] for k in EVAL_METRICS}
        out["eval_seconds"] = round(time.perf_counter() - t, 3)
        return out


def train_run(root, variant, seed, settings, *, evaluator, log=print, progress=False) -> dict:
    """Train (or continue, or skip) one run; returns its :func:`run_progress` at the end.

    One call of :func:`ylg.train.train` trains to ``settings.steps``; its evaluation hook scores
    the EMA every ``eval_every`` steps. The order of writes makes a kill at any point harmless: a chunk ends with its checkpoint;
    the checkpoint is scored; a new best is copied to ``best.pt``; then the score is appended to
    ``eval.jsonl``. A restart re-scores a checkpoint whose score is missing (the score is a
    function of the weights and the fixed evaluation seed, so it comes out the same).
    """
    from ylg.run.checkpoint import load_checkpoint
    from ylg.models.build import models_from_checkpoint
    from ylg.train import TrainConfig, train

    folder = run_dir(root, variant, seed)
    name = folder.name
    evals = read_evals(folder)
    step = _checkpoint_step(folder)
    if evals and evals[-1]["step"] > step:  # cannot happen by the order above; stay safe
        evals = [e for e in evals if e["step"] <= step]
        _write_evals(folder, evals)
    if evals and evals[-1]["step"] >= settings.steps:
        return run_progress(folder, settings.steps)

    def record(G, at, seconds_per_step):
        found = evaluator(G)
        best = min((e[SCORE] for e in evals), default=math.inf)
        if found[SCORE] < best:
            _copy_atomic(folder / "checkpoint.pt", folder / "best.pt")
        evals.append({"step": at, **found, "seconds_per_step": seconds_per_step})
        _write_evals(folder, evals)
        top = min(evals, key=lambda e: e[SCORE])
        speed = f"{seconds_per_step:.2f} s/step" if seconds_per_step else "resumed"
        log(f"{name:<16} step {at:>6}/{settings.steps}  {SCORE} {found[SCORE]:8.2f}  accuracy "
            f"{found['accuracy']:.3f}  best {top[SCORE]:.2f} @ {top['step']}  {speed}  "
            f"eval {found['eval_seconds']:.1f} s")

    if step and (not evals or evals[-1]["step"] < step):  # killed between checkpoint and score
        log(f"{name}: scoring the checkpoint at step {step} (its score was not written)")
        _, _, ema = models_from_checkpoint(load_checkpoint(folder / "checkpoint.pt"))
        record(ema.eval(), step, None)
    quiet = lambda m: None  # noqa: E731 - train's own messages repeat ours
    if step >= settings.steps:
        return run_progress(folder, settings.steps)
    clock = {"step": step, "t": time.perf_counter()}

    def evaluate(at, ema):  # train's evaluation hook: after the checkpoint of step `at`
        seconds_per_step = round((time.perf_counter() - clock["t"]) / (at - clock["step"]), 4)
        record(ema, at, seconds_per_step)  # the first interval includes loading and set-up
        clock.update(step=at, t=time.perf_counter())
        return evals[-1]

    # one call trains to the budget; the hook scores every eval_every steps (and the last)
    if step == 0:
        every = settings.eval_every
        cfg = TrainConfig(out=str(folder), data="digits", resolution=32,
                          attention=variant.attention, width=settings.width,
                          batch_size=settings.batch_size, steps=settings.steps, seed=seed,
                          device="cpu", log_every=min(10, every), sample_every=every,
                          checkpoint_every=every, eval_every=every)
        train(cfg, progress=progress, log=quiet, evaluate=evaluate)
    else:
        train(TrainConfig(out=str(folder)), resume=True,
              overrides={"steps": settings.steps, "eval_every": settings.eval_every,
                         "checkpoint_every": settings.eval_every,
                         "sample_every": settings.eval_every},
              progress=progress, log=quiet, evaluate=evaluate)
    return run_progress(folder, settings.steps)


def _check_settings(root, settings):
    """Tie ``root`` to the settings of its first run: a later run may change only ``steps``."""
    path = Path(root) / "experiment.json"
    if path.exists():
        saved = json.loads(path.read_text())
        changed = {k: (saved.get(k), v) for k, v in settings.fixed().items() if saved.get(k) != v}
        if changed:
            what = "; ".join(f"{k}: {a!r} there, {b!r} asked" for k, (a, b) in changed.items())
            raise InvalidArgument(f"{str(root)!r} holds runs made with other settings ({what}); "
                                  f"use another --root or the same settings")
    # shards write it at once: atomically
    atomic_write(path, json.dumps({**settings.fixed(), "steps": settings.steps}, indent=2) + "\n")


def run_experiment(root, settings, *, variants=VARIANTS, seeds=(0, 1, 2), shard=(0, 1),
                   classifier=None, log=print, progress=False) -> list:
    """Run every ``variant x seed`` in turn (seed-major: every variant gets seed 0 first, so an
    interrupted experiment has comparable runs); finished runs are skipped.

    ``shard=(i, n)`` takes every n-th run from the i-th: n processes with shards 0..n-1 share
    the plan without ever training the same run.

    Returns
    -------
    list of dict
        ``{"run", **run_progress}`` per run.
    """
    import torch

    _check_settings(root, settings)
    from ylg.metrics import digit_classifier

    evaluator = _Evaluator(settings, classifier if classifier is not None
                           else digit_classifier(log=log))
    index, count = shard
    plan = [(v, s) for s in seeds for v in variants][index::count]
    log(f"table1: {len(plan)} runs in {root} ({settings.steps} steps, width {settings.width}, "
        f"batch {settings.batch_size}, evaluation every {settings.eval_every} steps on "
        f"{settings.eval_samples} samples; torch threads {torch.get_num_threads()})")
    out, t0 = [], time.perf_counter()
    for i, (variant, seed) in enumerate(plan, 1):
        folder = run_dir(root, variant, seed)
        before = run_progress(folder, settings.steps)
        if before["finished"]:
            log(f"[{i}/{len(plan)}] {folder.name}: finished, skipped")
        else:
            what = f"continues from step {before['step']}" if before["step"] else "starts"
            log(f"[{i}/{len(plan)}] {folder.name} ({variant.label}, seed {seed}) {what}; "
                f"{time.perf_counter() - t0:.0f} s into this session")
        out.append({"run": folder.name, **train_run(root, variant, seed, settings,
                                                    evaluator=evaluator, log=log,
                                                    progress=progress)})
    log(f"table1: {sum(r['finished'] for r in out)}/{len(out)} runs finished")
    return out


# ---------------------------------------------------------------------------------------------
# the report


def _stats(values):
    """``(mean, std (n - 1; nan for one value), min, max, n)`` of a list of numbers."""
    import numpy as np

    a = np.asarray(values, dtype=float)
    if len(a) == 0:
        return (math.nan,) * 4 + (0,)
    std = float(a.std(ddof=1)) if len(a) > 1 else math.nan
    return float(a.mean()), std, float(a.min()), float(a.max()), len(a)


def summarise(root, settings, *, variants=VARIANTS, seeds=None) -> dict:
    """Everything the report shows, from the run folders under ``root``.

    Only finished runs (evaluated at ``settings.steps``) enter the statistics; unfinished ones
    are listed with their progress.

    Returns
    -------
    dict
        ``runs``: per run folder its variant, seed, progress, best score and step, final scores,
        seconds per step; ``variants``: per variant the statistics over its finished runs;
        ``threshold``: SAGAN's mean best score; ``reach``: per variant the steps its runs take
        to reach it.
    """
    root = Path(root)
    runs = []
    for v in variants:
        found = sorted((int(p.name.rsplit("-s", 1)[1]), p) for p in root.glob(f"{v.key}-s*")
                       if p.is_dir() and p.name.rsplit("-s", 1)[1].isdigit()
                       and p.name.rsplit("-s", 1)[0] == v.key)
        for seed, folder in found:
            if seeds is not None and seed not in seeds:
                continue
            evals = [e for e in read_evals(folder) if e["step"] <= settings.steps]
            prog = run_progress(folder, settings.steps)
            r = {"variant": v.key, "seed": seed, "folder": folder, "evals": evals, **prog}
            if evals:
                best = min(evals, key=lambda e: (e[SCORE], e["step"]))
                speeds = [e["seconds_per_step"] for e in evals if e.get("seconds_per_step")]
                r |= {"best": best, "final": evals[-1],
                      "seconds_per_step": sum(speeds) / len(speeds) if speeds else math.nan}
            inception = folder / "inception.json"
            if inception.exists():
                r["inception"] = json.loads(inception.read_text())
            runs.append(r)
    per_variant = {}
    for v in variants:
        done = [r for r in runs if r["variant"] == v.key and r["finished"]]
        per_variant[v.key] = {
            "runs": done,
            "best": _stats([r["best"][SCORE] for r in done]),
            "best_step": _stats([r["best"]["step"] for r in done]),
            "accuracy_at_best": _stats([r["best"]["accuracy"] for r in done]),
            "precision_at_best": _stats([r["best"]["domain-precision"] for r in done]),
            "recall_at_best": _stats([r["best"]["domain-recall"] for r in done]),
            "final": _stats([r["final"][SCORE] for r in done]),
            "seconds_per_step": _stats([r["seconds_per_step"] for r in done
                                        if not math.isnan(r["seconds_per_step"])]),
            "inception": _stats([r["inception"]["fid"] for r in done if "inception" in r]),
        }
    threshold = per_variant.get("sagan", {}).get("best", (math.nan,))[0]
    reach = {}
    for key, pv in per_variant.items():
        steps = []
        for r in pv["runs"]:
            hit = next((e["step"] for e in r["evals"] if e[SCORE] <= threshold), None)
            steps.append(hit)
        reach[key] = steps
    return {"runs": runs, "variants": per_variant, "threshold": threshold, "reach": reach}


def _fmt(stats, digits=2, spread=True):
    mean, std, lo, hi, n = stats
    if n == 0:
        return "—"
    text = f"{mean:.{digits}f}"
    if spread and n > 1:
        text += f" ± {std:.{digits}f}"
    return text


def _welch(a, b):
    """Welch's t-test p-value of two samples (nan when either has fewer than two values)."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    from scipy.stats import ttest_ind

    return float(ttest_ind(a, b, equal_var=False).pvalue)


def _paired(a, b):
    """Paired t-test over the seeds both dicts ``{seed: score}`` have: ``(p, seeds, a lower)``.

    Runs of one seed share the data order and the noise draws of every step, so a seed-by-seed
    difference removes that part of the spread. nan with fewer than two shared seeds.
    """
    shared = sorted(set(a) & set(b))
    lower = sum(a[k] < b[k] for k in shared)
    if len(shared) < 2:
        return math.nan, len(shared), lower
    import warnings

    from scipy.stats import ttest_rel

    with warnings.catch_warnings():  # identical differences: p is 0, scipy warns of precision
        warnings.simplefilter("ignore", RuntimeWarning)
        p = ttest_rel([a[k] for k in shared], [b[k] for k in shared]).pvalue
    return float(p), len(shared), lower


def _p(value) -> str:
    """``p = 0.12``, ``p = 0.012`` or ``p < 0.001``."""
    if value < 0.001:
        return "p < 0.001"
    return f"p = {value:.3f}" if value < 0.05 else f"p = {value:.2f}"


def _plot_curves(summary, variants, path, settings):
    """Mean over seeds (line) and min-max band of each variant's domain FID and accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for v in variants:
        runs = summary["variants"][v.key]["runs"]
        if not runs:
            continue
        steps = [e["step"] for e in runs[0]["evals"]]
        for ax, metric in zip(axes, (SCORE, "accuracy")):
            curves = np.array([[e[metric] for e in r["evals"]] for r in runs
                               if [e["step"] for e in r["evals"]] == steps])
            line, = ax.plot(steps, curves.mean(0), label=f"{v.label} (n={len(curves)})")
            ax.fill_between(steps, curves.min(0), curves.max(0), color=line.get_color(),
                            alpha=0.15, linewidth=0)
    threshold = summary["threshold"]
    if not math.isnan(threshold):
        axes[0].axhline(threshold, color="grey", linestyle=":", linewidth=1,
                        label="SAGAN's mean best")
    axes[0].set(xlabel="generator step", ylabel="domain FID (lower is better)", yscale="log",
                title=f"domain FID, {settings.eval_samples} samples vs 1,500 digits")
    axes[1].axhline(0.1, color="grey", linestyle=":", linewidth=1, label="chance (10 classes)")
    axes[1].set(xlabel="generator step", ylabel="class accuracy of samples",
                title="digits classifier accuracy on conditional samples", ylim=(0, 1))
    axes[0].legend(fontsize=7)
    axes[1].legend(handles=axes[1].get_lines()[-1:], fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _sample_grid(folder, path):
    """80 samples (8 per digit, one digit per row) of a run's best checkpoint."""
    from ylg.sample import load_generator, sample
    from ylg.viz import save_image_grid

    G, info = load_generator(folder / "best.pt")
    save_image_grid(sample(G, classes=list(range(10)), n=80, seed=0), path, nrow=8)
    return info["step"]


def _real_grid(path):
    import torch

    from ylg.data import digits, to_model_range
    from ylg.viz import save_image_grid

    d = digits(resolution=32, split="train", channels=1)
    idx = torch.cat([torch.nonzero(d.labels == c).flatten()[:8] for c in range(10)])
    return save_image_grid(to_model_range(d.images[idx]), path, nrow=8)


def _inception(run, samples):
    """Inception FID of a run's best checkpoint on ``samples`` samples (cached in the run)."""
    from ylg.data import digits
    from ylg.metrics import evaluate_generator
    from ylg.sample import load_generator

    path = run["folder"] / "inception.json"
    if path.exists() and json.loads(path.read_text()).get("samples") == samples:
        return json.loads(path.read_text())
    G, info = load_generator(run["folder"] / "best.pt")
    real = digits(resolution=32, split="train", channels=1)
    found = evaluate_generator(G, real_images=real.images, num_classes=10, dataset=real.source,
                               samples=samples, seed=0, metrics="fid")
    out = {"fid": found["fid"], "samples": samples, "step": info["step"]}
    path.write_text(json.dumps(out) + "\n")
    return out


def _evaluation_noise(run, settings, repeats, evaluator):
    """The domain FID of a run's best checkpoint on ``repeats`` other sets of samples.

    The evaluation during training scores one fixed set of ``eval_samples`` samples; scoring the
    same generator on sets drawn with seeds ``eval_seed + 1 ...`` shows how much of a difference
    is the sample set's. Cached in the run folder (``noise.json``) for that checkpoint step.
    """
    from ylg.sample import load_generator

    path = run["folder"] / "noise.json"
    G, info = load_generator(run["folder"] / "best.pt")
    key = {"repeats": repeats, "samples": settings.eval_samples, "step": info["step"]}
    if path.exists():
        cached = json.loads(path.read_text())
        if all(cached.get(k) == v for k, v in key.items()):
            return cached
    scores = [evaluator(G, seed=settings.eval_seed + 1 + k)[SCORE] for k in range(repeats)]
    out = {**key, SCORE: scores}
    path.write_text(json.dumps(out) + "\n")
    return out


BEGIN = "<!-- BEGIN table1: generated by `python experiments/table1.py report`; edits are lost -->"
END = "<!-- END table1 -->"
TITLE = "## Table 1 at small scale"


def _insert_section(path, section):
    """Put ``section`` between the markers of ``path``, leaving the rest of the file alone."""
    block = f"{BEGIN}\n{section.rstrip()}\n{END}\n"
    if path.exists():
        text = path.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            tail = rest.split(END, 1)[1].lstrip("\n")
            text = head + block + ("\n" + tail if tail else "")
        else:
            text = text.rstrip() + "\n\n" + block
    else:
        text = ("# Results\n\nMeasured on the project's development machine (2 CPU cores shared "
                "with other work, no GPU) unless a section names another machine.\n\n" + block)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _relative(path, start):
    return Path(os.path.relpath(path, start)).as_posix()


def write_report(root, settings, *, out, figures, variants=VARIANTS, seeds=None, inception=0,
                 noise=0, evaluator=None, command=None, log=print) -> dict:
    """Write the "Table 1 at small scale" section of ``out`` and the figures under ``figures``.

    Parameters
    ----------
    root : path
        The runs (``run_experiment``'s ``root``).
    settings : Settings
    out : path
        The results file; only the section between its table1 markers is replaced.
    figures : path
        Folder of ``table1_curves.png`` and ``table1_samples_<variant>.png``.
    inception : int
        If positive, the Inception FID of each finished run's best checkpoint on this many
        samples (slow on a CPU: a few images per second).
    noise : int
        If positive, the best checkpoint of the first finished seed of each variant is scored
        on this many other sample sets (:func:`_evaluation_noise`), and the report gives the
        spread that comes from the sample set alone.
    evaluator : callable, optional
        For ``noise``: ``evaluator(G, seed=...)`` -> scores (default :class:`_Evaluator`).
    command : str, optional
        The command that runs (or resumes) the experiment, quoted in the report.

    Returns
    -------
    dict
        :func:`summarise`'s result.
    """
    out, figures = Path(out), Path(figures)
    s = summarise(root, settings, variants=variants, seeds=seeds)
    if inception:
        for r in s["runs"]:
            if r["finished"]:
                log(f"Inception FID of {r['folder'].name} ({inception} samples)")
                r["inception"] = _inception(r, inception)
        s = summarise(root, settings, variants=variants, seeds=seeds)
    finished = [r for r in s["runs"] if r["finished"]]
    planned = len(variants) * (len(seeds) if seeds is not None else 3)
    lines = [TITLE, ""]
    lines += [
        "The paper's Table 1 (SPEC section 9) compares SAGAN with YLG-SAGAN and its ablations on "
        "ImageNet at 128x128. Here the same five models are trained with identical settings on "
        "the embedded digits (1,500 training images, 10 classes) at 32x32 on the CPU: the "
        "*comparison* at small scale, not the paper's numbers.", ""]
    if not finished:
        lines += ["**Status: no run has finished yet; there are no results below, only the "
                  "progress of the runs.**", ""]
    elif len(finished) < planned or any(not r["finished"] for r in s["runs"]):
        lines += [f"**Status: incomplete: {len(finished)} of {planned} planned runs have "
                  f"finished. The statistics use the finished runs only (their count is in "
                  f"column n).**", ""]
    lines += ["**Settings.** "
              f"Width {settings.width} (64 channels at the attention layer, which sits at "
              f"16x16 in G and D with keys pooled to 8x8), batch {settings.batch_size}, "
              f"{settings.steps} generator steps, the paper's optimiser (hinge loss, one D step "
              f"per G step, Adam lr 1e-4 / 4e-4, betas (0, 0.999)), EMA of G, no augmentation. "
              f"Every {settings.eval_every} steps the EMA generator is scored on "
              f"{settings.eval_samples:,} samples (fixed latents, the classes in turn) against "
              f"the 1,500 training digits.", ""]
    lines += ["**Metrics.** The *domain FID* is the Frechet distance on the 128-d features of the "
              "project's digits classifier (`ylg.metrics`, see docs/metrics.md): the CPU-fast "
              "stand-in for the Inception FID, not comparable with published FIDs (two halves "
              "of the training digits are at about 5). Domain precision and recall (k = 3) on "
              "the same features; *accuracy*: the share of samples the classifier assigns to "
              "the class they were drawn for. There is no Inception score (the available "
              "Inception network has no classifier head).", ""]
    lines += ["**Budget.** " + " ".join(BUDGET_NOTE.split()), ""]
    if command:
        lines += ["**Command** (it skips finished runs and continues an interrupted one from "
                  "its checkpoint):", "", "```", command, "```", ""]

    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines += ["### Runs", "", f"As of {stamp}.", "",
              "| run | steps done | finished | best domain FID (step) | s / step |",
              "|---|---:|---|---|---:|"]
    found = {r["folder"].name: r for r in s["runs"]}
    names = [run_dir(root, v, seed).name for seed in (seeds or (0, 1, 2)) for v in variants]
    names += sorted(set(found) - set(names))
    for name in names:
        r = found.get(name)
        if r is None:
            lines.append(f"| {name} | 0 / {settings.steps} | no (not started) | — | — |")
            continue
        best = (f"{r['best'][SCORE]:.2f} ({r['best']['step']})" if r["finished"]
                else "— (not finished)")
        speed = r.get("seconds_per_step", math.nan)
        lines.append(f"| {name} | {r['step']} / {settings.steps} | "
                     f"{'yes' if r['finished'] else 'no'} | {best} | "
                     f"{'—' if math.isnan(speed) else f'{speed:.2f}'} |")
    lines.append("")

    if finished:
        lines += _table_lines(s, variants, settings, inception)
        lines += _reach_lines(s, variants)
        if noise:
            evaluator = evaluator or _Evaluator(settings, log=log)
            for v in variants:
                runs = [r for r in s["variants"][v.key]["runs"]
                        if (r["folder"] / "best.pt").exists()]
                if runs:
                    log(f"evaluation noise of {runs[0]['folder'].name} ({noise} sample sets)")
                    runs[0]["noise"] = _evaluation_noise(runs[0], settings, noise, evaluator)
        lines += _reading_lines(s, variants, settings)
        curves = _plot_curves(s, variants, figures / "table1_curves.png", settings)
        lines += ["### Curves", "",
                  f"![domain FID and accuracy against steps]({_relative(curves, out.parent)})",
                  "", "Lines: mean over the finished seeds; bands: their minimum and maximum.",
                  ""]
        lines += ["### Samples", "",
                  "Best checkpoint (EMA generator) of the first finished seed of each variant, "
                  "8 samples of each digit (one digit per row, latents seed 0); the real digits "
                  "first.", ""]
        real = _real_grid(figures / "table1_samples_real.png")
        cells = [("training digits", real)]
        for v in variants:
            runs = [r for r in s["variants"][v.key]["runs"] if (r["folder"] / "best.pt").exists()]
            if runs:
                path = figures / f"table1_samples_{v.key}.png"
                step = _sample_grid(runs[0]["folder"], path)
                cells.append((f"{v.label}, seed {runs[0]['seed']}, step {step}", path))
        lines += ["| " + " | ".join(c for c, _ in cells) + " |",
                  "|" + "---|" * len(cells),
                  "| " + " | ".join(f"![{c}]({_relative(p, out.parent)})" for c, p in cells)
                  + " |", ""]
    _insert_section(out, "\n".join(lines))
    log(f"wrote {out} ({len(finished)} finished runs)")
    return s


def _table_lines(s, variants, settings, inception):
    pv = s["variants"]
    head = ["model", "n", "best domain FID", "range", "step of best", "accuracy at best",
            "precision / recall at best", f"domain FID at {settings.steps}", "s / step"]
    if inception:
        head.append(f"Inception FID, best ckpt ({inception} samples)")
    head += ["paper FID", "paper IS"]
    lines = ["### Table", "", "Mean ± standard deviation over the finished seeds (n); lower FID "
             "is better. The paper's columns are ImageNet 128x128 numbers, for reference only.",
             "", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for v in variants:
        p = pv[v.key]
        n = p["best"][4]
        rng = "—" if not n else f"{p['best'][2]:.2f} – {p['best'][3]:.2f}"
        steps = ", ".join(str(r["best"]["step"]) for r in p["runs"])
        row = [v.label, str(n), _fmt(p["best"]), rng,
               f"{_fmt(p['best_step'], 0, False)} ({steps})" if n else "—",
               _fmt(p["accuracy_at_best"], 3),
               f"{_fmt(p['precision_at_best'], 3, False)} / {_fmt(p['recall_at_best'], 3, False)}"
               if n else "—",
               _fmt(p["final"]), _fmt(p["seconds_per_step"], 2, False)]
        if inception:
            row.append(_fmt(p["inception"]))
        row += [v.paper_fid, v.paper_is]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "*s / step*: the training loop's wall time per step, measured during the runs "
              "(on a machine shared with other work, so an upper bound of the idle cost).", ""]
    return lines


def _reach_lines(s, variants):
    t = s["threshold"]
    lines = ["### Training time: steps to reach SAGAN's best score", ""]
    if math.isnan(t):
        return lines + ["SAGAN has no finished run yet.", ""]
    sagan_best_step = s["variants"]["sagan"]["best_step"][0]
    lines += [f"The paper: SAGAN reached its best FID after more than 1.3M steps, YLG-SAGAN "
              f"after 865k (about 40% less training). Here the target is SAGAN's mean best "
              f"domain FID, {t:.2f}; for each run, the first evaluated step at or below it "
              f"(SAGAN's own runs reach their best at {sagan_best_step:.0f} steps on average).",
              "", "| model | runs reaching it | first step (per seed) | mean step of those "
              "| vs SAGAN's mean step of best |", "|---|---:|---|---:|---:|"]
    for v in variants:
        hits = s["reach"][v.key]
        if not hits:
            continue
        got = [h for h in hits if h is not None]
        mean = sum(got) / len(got) if got else math.nan
        ratio = f"{mean / sagan_best_step:.2f}x" if got else "—"
        per = ", ".join("never" if h is None else str(h) for h in hits)
        lines.append(f"| {v.label} | {len(got)} / {len(hits)} | {per} | "
                     f"{'—' if not got else f'{mean:.0f}'} | {ratio} |")
    return lines + [""]


def _reading_lines(s, variants, settings):
    """What the numbers say, comparison by comparison, against the paper's claims."""
    pv = s["variants"]
    scores = {k: [r["best"][SCORE] for r in p["runs"]] for k, p in pv.items()}
    lines = ["### Reading", ""]

    def compare(a, b, paper):
        if not scores.get(a) or not scores.get(b):
            return None
        ma, mb = pv[a]["best"][0], pv[b]["best"][0]
        p = _welch(scores[a], scores[b])
        order = "lower (better)" if ma < mb else "higher (worse)"
        same = (ma < mb) == paper["a_better"]
        if math.isnan(p):
            verdict = (f"one seed, so no test; the direction is {'the' if same else 'not the'} "
                       f"paper's ({paper['text']})")
        elif p < 0.05:
            verdict = (f"Welch p = {p:.3f}, n = {len(scores[a])} and {len(scores[b])}: a "
                       f"resolved difference, which {'agrees with' if same else 'contradicts'} "
                       f"the paper ({paper['text']})")
        else:
            verdict = (f"Welch p = {p:.2f}, n = {len(scores[a])} and {len(scores[b])}: not "
                       f"resolved at this many seeds; the direction is "
                       f"{'the' if same else 'opposite to the'} paper's ({paper['text']}), which "
                       f"this does not confirm")
        by_seed = [{r["seed"]: r["best"][SCORE] for r in pv[k]["runs"]} for k in (a, b)]
        pp, n, lower = _paired(*by_seed)
        paired = "" if math.isnan(pp) else (
            f" Paired by seed (the same data order and noise draws), {_p(pp)} over {n} "
            f"seeds ({lower} of {n} lower).")
        return (f"- {_BY_KEY[a].label} against {_BY_KEY[b].label}: best domain FID {ma:.2f} "
                f"vs {mb:.2f}, {order} by {abs(ma - mb):.2f}; {verdict}.{paired}")

    claims = [("ylg", "sagan", {"a_better": True, "text": "FID 15.94 vs 18.65"}),
              ("ylg", "ylg-no-esa", {"a_better": True, "text": "FID 15.94 vs 17.47: ESA helps"}),
              ("ylg-no-esa", "sagan", {"a_better": True, "text": "FID 17.47 vs 18.65"}),
              ("ylg-strided", "ylg-no-esa", {"a_better": True,
                                             "text": "strided between YLG and no ESA"}),
              ("ylg", "ylg-strided", {"a_better": True, "text": "strided between YLG and no ESA"}),
              ("sagan8", "sagan", {"a_better": False,
                                   "text": "IS 46.01 vs 52.52: 8 dense heads are worse"})]
    for a, b, paper in claims:
        line = compare(a, b, paper)
        if line:
            lines.append(line)
    noisy = [(v, r) for v in variants for r in pv[v.key]["runs"][:1] if "noise" in r]
    if noisy:
        repeats = len(noisy[0][1]["noise"][SCORE])
        parts = []
        for v, r in noisy:
            values = r["noise"][SCORE]
            mean, std = _stats(values)[:2]
            parts.append(f"{v.label} (seed {r['seed']}, step {r['noise']['step']}): "
                         f"{mean:.2f} ± {std:.2f}")
        spreads = [pv[v.key]["best"][1] for v in variants if pv[v.key]["best"][4] > 1]
        lines += ["", f"How much is the sample set's: the best checkpoint of one seed of each "
                      f"variant, scored on {repeats} other sets of {settings.eval_samples:,} "
                      f"samples (domain FID, mean ± sd over the sets): " + "; ".join(parts)
                  + "." + (f" The seed-to-seed sd of the best scores in the table is "
                           f"{min(spreads):.2f} to {max(spreads):.2f}." if spreads else "")
                  + " The best-of-run score is the minimum over the evaluations of one run, "
                    "so it also gains from a lucky sample set."]
    c = 4 * settings.width
    lines += ["", "What limits the comparison at this scale (facts of the set-up, whatever the "
              "numbers say):", "",
              "- The attention layer works on a 16x16 grid with keys pooled to 8x8: 64 keys. "
              "The paper's layer, where the gains of the sparse heads and of ESA were "
              "measured, has 32x32 queries and 16x16 = 256 keys.",
              f"- At width {settings.width} the layer has {c} channels (in G and D), so each "
              f"of 8 heads has {c // 64} query/key channel(s) and {c // 16} value channels "
              f"(the layer splits C/8 query/key and C/2 value channels over its heads), against "
              f"{c // 8} and {c // 2} for the single dense head"
              + (": the 8-head logits are rank one per head" if c // 64 == 1 else "")
              + ". In the paper's 128x128 model (256 channels at G's layer, 128 at D's) an "
              "8-head layer has 4 and 2 query/key channels per head.",
              f"- {settings.steps} steps of batch {settings.batch_size} are about "
              f"{settings.steps * settings.batch_size / 1500:.1f} passes over 1,500 images: "
              f"early training, far from convergence (the paper's runs reach their best FID "
              f"after 865k to 1.3M steps of batch 256).",
              "- The digits are 8x8 scans upsampled to 32x32: little long-range structure for "
              "attention to model; the paper's gains are on ImageNet's object geometry.",
              f"- The domain FID is measured on one set of {settings.eval_samples:,} samples "
              f"per evaluation; "
              "the best-of-run score picks the minimum of noisy evaluations, which favours "
              "runs with noisier curves.", ""]
    return lines


# ---------------------------------------------------------------------------------------------
# the program


def _settings_from(args, root) -> Settings:
    """Defaults < ``--dry-run`` < the root's ``experiment.json`` (status, report) < flags."""
    base = dict(DRY_RUN) if args.dry_run else {}
    saved = Path(root) / "experiment.json"
    if args.phase != "run" and saved.exists():
        base |= {k: v for k, v in json.loads(saved.read_text()).items()
                 if k in {f.name for f in dataclasses.fields(Settings)}}
    for key in ("steps", "width", "batch_size", "eval_every", "eval_samples"):
        value = getattr(args, key, None)
        if value is not None:
            base[key] = value
    return Settings(**base)


def _root(args) -> Path:
    return Path(args.root or ("runs/table1-dry" if args.dry_run else "runs/table1"))


def _command(args) -> str:
    parts = ["python experiments/table1.py run"]
    if args.dry_run:
        parts.append("--dry-run")
    defaults = {"seeds": "0,1,2", "variants": ",".join(_BY_KEY), "threads": 1, "shard": "0/1"}
    for key in ("steps", "seeds", "variants", "width", "batch_size", "eval_every",
                "eval_samples", "root", "threads", "shard"):
        value = getattr(args, key, None)
        if value is not None and value != defaults.get(key):
            parts.append(f"--{key.replace('_', '-')} {value}")
    return " ".join(parts)


def _parser():
    ap = argparse.ArgumentParser(
        prog="experiments/table1.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python experiments/table1.py run\n"
               "  python experiments/table1.py status\n"
               "  python experiments/table1.py report\n"
               "  python experiments/table1.py run --dry-run --seeds 0 && "
               "python experiments/table1.py report --dry-run --seeds 0")
    sub = ap.add_subparsers(dest="phase", required=True)
    for name, text in (("run", "train and score every variant x seed (skips finished runs, "
                                "continues interrupted ones)"),
                       ("status", "how far each run is"),
                       ("report", "write the results section, curves and sample grids")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--root", default=None,
                       help="run folders (default runs/table1; runs/table1-dry with --dry-run)")
        p.add_argument("--dry-run", action="store_true",
                       help=f"a few steps per run ({DRY_RUN}) to check the pipeline; its own "
                            f"--root and report paths; not a result")
        p.add_argument("--seeds", default="0,1,2", help="seeds, e.g. 0,1,2 (default %(default)s)")
        p.add_argument("--variants", default=",".join(_BY_KEY),
                       help="variants (default: all: %(default)s)")
        p.add_argument("--steps", type=int, default=None,
                       help=f"generator steps per run (default {Settings.steps})")
        p.add_argument("--width", type=int, default=None,
                       help=f"channel multiplier (default {Settings.width})")
        p.add_argument("--batch-size", type=int, default=None,
                       help=f"batch size (default {Settings.batch_size})")
        p.add_argument("--eval-every", type=int, default=None,
                       help=f"steps between evaluations (default {Settings.eval_every})")
        p.add_argument("--eval-samples", type=int, default=None,
                       help=f"samples per evaluation (default {Settings.eval_samples})")
        if name == "run":
            p.add_argument("--threads", type=int, default=1,
                           help="torch CPU threads (default 1: see the budget note)")
            p.add_argument("--shard", default="0/1", metavar="I/N",
                           help="run every N-th run from the I-th (N processes share the plan)")
            p.add_argument("--progress", action="store_true", help="a progress bar per chunk")
        if name == "report":
            p.add_argument("--out", default=None,
                           help="results file (default docs/results.md; with --dry-run "
                                "<root>/results.md)")
            p.add_argument("--figures", default=None,
                           help="figure folder (default docs/figures; with --dry-run "
                                "<root>/figures)")
            p.add_argument("--inception", type=int, default=0,
                           help="also the Inception FID of each best checkpoint on this many "
                                "samples (slow on a CPU; default 0: off)")
            p.add_argument("--noise", type=int, default=5,
                           help="score one best checkpoint per variant on this many other "
                                "sample sets, to show the evaluation's own spread (0: off)")
    return ap


def main(argv=None) -> int:
    """The program: ``run``, ``status`` or ``report``; returns the exit code (2: bad input)."""
    args = _parser().parse_args(argv)
    say = lambda m: print(m, flush=True)  # noqa: E731
    try:
        seeds, variants, root = _seeds(args.seeds), _variants(args.variants), _root(args)
        settings = _settings_from(args, root)
        if args.phase == "run":
            from ylg.runtime import set_threads

            set_threads(args.threads)
            run_experiment(root, settings, variants=variants, seeds=seeds,
                           shard=_shard(args.shard), log=say, progress=args.progress)
        elif args.phase == "status":
            for v in variants:
                for seed in seeds:
                    p = run_progress(run_dir(root, v, seed), settings.steps)
                    state = "finished" if p["finished"] else f"{p['step']}/{settings.steps}"
                    say(f"{run_dir(root, v, seed).name:<16} {state}")
        else:
            out = Path(args.out or (root / "results.md" if args.dry_run else "docs/results.md"))
            figures = Path(args.figures or (root / "figures" if args.dry_run else "docs/figures"))
            command = _command(argparse.Namespace(**{**vars(args), "root": args.root}))
            write_report(root, settings, out=out, figures=figures, variants=variants,
                         seeds=seeds, inception=args.inception, noise=args.noise,
                         command=command, log=say)
    except YLGError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
