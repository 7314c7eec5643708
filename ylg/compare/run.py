"""Train the probes of a comparison, one (mask set, seed) at a time, cached so a run resumes."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ifg.errors import InvalidArgument, YLGError, check_positive_int
from ifg.files import atomic_write, dumps_strict
from ylg.compare.items import Probe, item_depth, resolve
from ylg.compare.probe import ProbeNet, gather_rows
from ylg.compare.stats import holm, interval, paired
from ylg.compare.tasks import Task, make_task
from ylg.eta import duration

__all__ = ["Settings", "Comparison", "TIMED_STEPS", "train_probe", "compare"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """How each probe trains: the same for every mask set and seed of a comparison."""

    steps: int = 400
    batch_size: int = 64
    dim: int = 64
    lr: float = 3e-3
    #: a residual path around each attention layer (:class:`ylg.compare.probe.ProbeNet`)
    residual: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "dim"):
            check_positive_int(name, getattr(self, name))
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InvalidArgument(f"lr must be a positive number, got {self.lr}")


#: the steps timed (after a first, warm-up step) for a comparison's estimate
TIMED_STEPS = 3


def train_probe(task: Task, probe: Probe, seed: int, settings: Settings = Settings(), *,
                device: str | torch.device = "cpu",
                timed: Callable[[float], object] | None = None) -> dict[str, Any]:
    """Train one probe and score it on the task's held-out data.

    The seed fixes both the initialisation and the training batches; the batches come from their
    own generator, so that every mask set trained with one seed sees the same data in the same
    order (the comparison is paired). ``timed``, if given, receives the seconds a step takes,
    measured over :data:`TIMED_STEPS` steps after the first (when there are that many).

    Returns
    -------
    dict
        The task's :meth:`~ylg.compare.tasks.Task.evaluate` result plus ``seconds``,
        ``final_loss`` and ``parameters``.

    Examples
    --------
    >>> from ylg.compare.tasks import FlowTask
    >>> task = FlowTask(grid=(2, 2), symbols=2, eval_examples=8)
    >>> r = train_probe(task, resolve("dense", task.grid), 0, Settings(steps=2, dim=8))
    >>> 0.0 <= r["score"] <= 1.0
    True
    """
    start = time.perf_counter()
    torch.manual_seed(seed)
    data = torch.Generator().manual_seed(seed)
    masks = torch.from_numpy(probe.dense())
    probe = replace(probe, residual=settings.residual)  # the graph the score is split by
    net = ProbeNet(task.embed(settings.dim), masks, dim=settings.dim,
                   out_features=task.out_features, grid=task.grid, order=probe.order,
                   residual=settings.residual).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=0.01)
    warm = max(1, settings.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * s / settings.steps)))
    loss = torch.tensor(math.nan)
    clock = 0.0
    for step in range(settings.steps):
        if timed is not None and step in (1, 1 + TIMED_STEPS):
            if step == 1:
                clock = time.perf_counter()
            else:
                timed((time.perf_counter() - clock) / TIMED_STEPS)
        x, y = task.batch(data, settings.batch_size)
        rows = task.rows(y)
        if rows is not None:  # the probe computes only what the loss reads
            y, rows = gather_rows(y, rows), rows.to(device)
        loss = task.loss(net(x.to(device), rows), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    result = task.evaluate(net, probe, device)
    result.update(final_loss=float(loss.detach()),
                  parameters=sum(p.numel() for p in net.parameters()),
                  seconds=time.perf_counter() - start)
    return result


@dataclass
class Comparison:
    """The results of :func:`compare`.

    Attributes
    ----------
    task : str
    unit : str
    higher_is_better : bool
    items : list of str
        The mask sets, the first being the reference of the differences.
    seeds : list of int
    runs : dict
        item -> list of per-seed results (:func:`train_probe`), in seed order.
    settings, task_options : dict
    seconds : float
        Wall time of the call (cached runs cost nothing).
    bounds : tuple (low, high)
        The score's range (the task's :attr:`~ylg.compare.tasks.Task.bounds`).
    about : dict
        item -> ``{"keys_per_query": float, "depth": int or None}``: its budget (keys a query
        attends, over layers and heads) and the layers its own steps take to Full Information
        (:func:`ylg.compare.items.item_depth`); copied into the rows.
    """

    task: str
    unit: str
    higher_is_better: bool
    items: list[str]
    seeds: list[int]
    runs: dict[str, list[dict[str, Any]]]
    settings: dict[str, Any]
    task_options: dict[str, Any]
    seconds: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)
    bounds: tuple[float, float] = (-math.inf, math.inf)
    about: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        first = [r["score"] for r in self.runs[self.items[0]]]
        self.rows = []
        for item in self.items:
            scores = [r["score"] for r in self.runs[item]]
            mean, half = interval(scores)
            row = {"item": item, "score": mean, "interval": half, "scores": scores,
                   "seconds_per_run": sum(r["seconds"] for r in self.runs[item]) / len(scores),
                   **self.about.get(item, {})}
            if item != self.items[0]:
                # resolved means Holm-adjusted p < 0.05; the seeds needed are estimated at the
                # strictest level Holm may apply (0.05 / comparisons), so no estimate is short
                diff = paired(first, scores, alpha=0.05 / max(1, len(self.items) - 1))
                diff["diff_interval"] = diff.pop("interval")
                row.update(diff)
            for key in ("reachable", "unreachable", "reachable_pairs", "unreachable_pairs",
                        "chance"):
                vals = [r[key] for r in self.runs[item] if r.get(key) is not None]
                if vals:
                    row[key] = sum(vals) / len(vals)
            self.rows.append(row)
        compared = [r for r in self.rows if "p" in r]
        for r, adjusted in zip(compared, holm([r["p"] for r in compared])):
            r["p_holm"] = adjusted

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-serialisable (NaN and infinities written as null)."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            return v

        return clean({"task": self.task, "unit": self.unit,
                      "higher_is_better": self.higher_is_better, "items": self.items,
                      "seeds": self.seeds, "settings": self.settings,
                      "task_options": self.task_options, "seconds": self.seconds,
                      "rows": self.rows, "runs": self.runs})


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[-60:]


def _key(task: Task, probe: Probe, settings: Settings,
         device: str | torch.device = "cpu") -> str:
    """What decides a run's result: the task, its options, the settings, the probe's masks (so
    that a changed mask file or pattern is trained again) and the kind of device (a GPU's
    numerics differ from a CPU's; CPU keys carry no device)."""
    chosen = {k: v for k, v in settings.__dict__.items() if k != "residual" or v}
    what = [task.name, task.options(), chosen]  # (the keys from before `residual` hold)
    if torch.device(device).type != "cpu":
        what.append(torch.device(device).type)
    h = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode())
    h.update(np.packbits(probe.dense()).tobytes())
    return h.hexdigest()[:16]


def _estimate_line(todo: int, cached: int, steps: int, per_step: float) -> str:
    """What ``ylg compare`` says before its runs train.

    Examples
    --------
    >>> _estimate_line(25, 0, 400, 0.05)
    'compare: 25 runs to train of 400 steps at about 0.050 s a step: about 8 min (evaluations apart)'
    """
    kept = f" ({cached} cached)" if cached else ""
    return (f"compare: {todo} runs to train{kept} of {steps} steps at about {per_step:.3f} s a "
            f"step: about {duration(todo * steps * per_step)} (evaluations apart)")


#: the largest cached result read (one is a few kilobytes)
MAX_CACHED_BYTES = 2**20

#: the numbers of a result that the comparison uses, and whether each must be there
_NUMBERS = {"score": True, "seconds": True, "reachable": False, "unreachable": False,
            "reachable_pairs": False, "unreachable_pairs": False, "chance": False}


def _cached(path: Path) -> dict[str, Any] | None:
    """The cached result at ``path`` if it is one this module wrote: a regular file of at most
    :data:`MAX_CACHED_BYTES`, a JSON object whose ``score`` and ``seconds`` are finite numbers
    (the others a number or null); None (with a warning) for anything else: it is trained
    again."""
    import logging

    from ylg.run.files import read_regular

    why: str | None
    try:
        value = json.loads(read_regular(path, MAX_CACHED_BYTES, "the cached result"))
    except (OSError, YLGError, ValueError, RecursionError) as err:
        why = f"{type(err).__name__}: {err}"[:160]
    else:
        why = _bad_result(value)
        if why is None:
            return value
    logging.getLogger("ylg").warning("warning: the cached result %s is not usable (%s); "
                                     "training it again", path, why)
    return None


def _bad_result(value: Any) -> str | None:
    """Why ``value`` is not a result :func:`train_probe` wrote (None when it is one)."""
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__}, not an object"
    for key, required in _NUMBERS.items():
        v = value.get(key)
        if v is None and not required:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return f"{key} is {str(v)[:40]!r}, expected a finite number"
    rows = value.get("by_distance", [])  # the flow task's accuracy by distance (the figure's)
    if not isinstance(rows, list) or not all(
            isinstance(r, dict) and all(r.get(k) is None or type(r.get(k)) in (int, float)
                                        for k in ("distance", "reachable", "unreachable"))
            and r.get("distance") is not None for r in rows):
        return "by_distance is not a list of rows of numbers"
    return None


def _grid_of(task: str, options: dict[str, Any]) -> tuple[int, int] | None:
    """The token grid of a built-in task from its options, without building it (None when
    unknown: another task, or options the task itself will refuse)."""
    try:
        if task == "images":
            side = int(options.get("resolution", 8))
            return (side, side) if side > 0 else None
        if task == "flow":
            h, w = (int(v) for v in options.get("grid", (8, 8)))
            return (h, w) if h > 0 and w > 0 else None
    except (TypeError, ValueError):
        pass
    return None


def _check_probes(probes: Sequence[Probe], grid: tuple[int, int], settings: Settings) -> None:
    """Refuse a comparison whose probes cannot fit in memory, before anything is built: each
    probe's dense masks (layers x heads x N x N bools, twice while stacked) and a training
    step's attention (batch x heads x N x N floats per layer: scores, weights and their
    gradients)."""
    from ylg.memory import check_memory

    n = grid[0] * grid[1]
    depth = max((len(p.layers) for p in probes), default=1)  # no probe yet: one head at least
    heads = max((len(layer) for p in probes for layer in p.layers), default=1)
    need = depth * heads * n * n * (2 + settings.batch_size * 4 * 4)
    shape = f"{depth} layers of {heads} heads" if probes else "one head at least"
    check_memory(f"comparing on a {grid[0]}x{grid[1]} grid ({n:,} tokens, {shape}, batch "
                 f"{settings.batch_size})", need)


def compare(items: Sequence[str], *, task: str = "flow", seeds: int | Sequence[int] = 5,
            settings: Settings | None = None, task_options: dict[str, Any] | None = None,
            cache: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
            progress: bool = False, jobs: int = 1) -> Comparison:
    """Train a probe per mask set and seed on one task and compare the mask sets, paired.

    Parameters
    ----------
    items : sequence of str
        MASKS items (see :func:`ylg.compare.items.resolve`); the first is the reference.
    task : str
        A name in :data:`ylg.compare.tasks.TASKS`.
    seeds : int or sequence of int
        ``n`` means seeds ``0 .. n-1``.
    settings : Settings, optional
    task_options : dict, optional
        Keyword options of the task (``grid``, ``resolution``, ``data``, ...).
    cache : path, optional
        A folder keeping each (mask set, seed) result as JSON; a later call with the same task,
        options and settings reuses them, so a killed run continues where it stopped.
    device : str
    progress : bool
        A progress bar on stderr.
    jobs : int
        Runs trained at once, each in its own process on one thread (2 on a 2-core machine:
        about twice the runs an hour); the same runs, to rounding.

    Returns
    -------
    Comparison

    Raises
    ------
    InvalidArgument
        For a bad item (before anything trains), an unknown task or bad settings.

    Examples
    --------
    >>> c = compare(["dense", "local"], task="flow", seeds=2, settings=Settings(steps=2, dim=8),
    ...             task_options={"grid": (2, 2), "eval_examples": 8})
    >>> [r["item"] for r in c.rows], len(c.runs["local"])
    (['dense', 'local'], 2)
    """
    from tqdm import tqdm

    items = [str(i) for i in items]
    if not items:
        raise InvalidArgument("give at least one mask set to compare")
    if len(set(items)) != len(items):
        raise InvalidArgument("a mask set is named twice")
    seeds = list(range(check_positive_int("seeds", seeds))) if isinstance(seeds, int) \
        else [int(s) for s in seeds]
    settings = settings or Settings()
    # the built-in tasks' grid is known from their options: the memory of one head's probe,
    # then the items and their probes' memory, are checked before the task loads its data
    grid = _grid_of(task, task_options or {})
    if grid is not None:
        _check_probes([], grid, settings)  # before the items' masks are built (N x N)
        _check_probes([resolve(i, grid) for i in items], grid, settings)
    t = make_task(task, **(task_options or {}))
    probes = [resolve(i, t.grid) for i in items]  # every item checked before any training
    depth = max(len(p.layers) for p in probes)
    probes = [resolve(i, t.grid, depth=depth) for i in items]
    _check_probes(probes, t.grid, settings)
    folder = None
    if cache is not None:
        folder = Path(cache)
        folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    bar = tqdm(total=len(items) * len(seeds), desc=f"compare {task}", unit="run",
               disable=not progress, leave=False)
    paths = {item: None if folder is None else
             folder / f"{_slug(item)}-{_key(t, probe, settings, device)}" for item, probe in
             zip(items, probes)}
    todo = sum(1 for seed in seeds for item in items
               if paths[item] is None or not Path(f"{paths[item]}-seed{seed}.json").is_file())
    estimate: Callable[[float], object] | None = None
    if todo:
        def estimate(per_step: float) -> None:
            _logger.info(_estimate_line(todo, len(items) * len(seeds) - todo, settings.steps,
                                        per_step))
    results: dict[tuple[str, int], dict[str, Any]] = {}
    pending = []
    for seed in seeds:  # seed-major: a partial run already has paired results
        for item, probe in zip(items, probes):
            stem = paths[item]
            path = None if stem is None else Path(f"{stem}-seed{seed}.json")
            cached = _cached(path) if path is not None and os.path.lexists(path) else None
            if cached is None:
                pending.append((item, probe, seed, path))
            else:
                results[item, seed] = cached
                bar.update(1)

    def keep(item: str, seed: int, path: Path | None, result: dict[str, Any]) -> None:
        if path is not None:  # written whole or not at all (no temporary file left)
            atomic_write(path, dumps_strict(result))
        results[item, seed] = result
        bar.update(1)

    jobs = check_positive_int("jobs", jobs)
    if jobs == 1 or len(pending) < 2:
        for item, probe, seed, path in pending:
            # the first run trained says, after a few steps, how long all will take
            keep(item, seed, path,
                 train_probe(t, probe, seed, settings, device=device, timed=estimate))
            estimate = None
    else:
        _in_parallel(pending, t, settings, device, min(jobs, len(pending)), keep)
    runs = {item: [results[item, seed] for seed in seeds] for item in items}
    bar.close()
    about = {item: {"keys_per_query": probe.keys_per_query,
                    "depth": item_depth(item, t.grid, residual=settings.residual)}
             for item, probe in zip(items, probes)}
    return Comparison(task, t.unit, t.higher_is_better, items, seeds, runs,
                      dict(settings.__dict__, depth=depth), t.options(),
                      time.perf_counter() - start, bounds=t.bounds, about=about)


def _train_in_worker(task: Task, probe: Probe, seed: int, settings: Settings,
                     device: str | torch.device) -> dict[str, Any]:
    """One run in a worker process, on one thread (the runs themselves are the parallelism)."""
    torch.set_num_threads(1)
    return train_probe(task, probe, seed, settings, device=device)


def _in_parallel(pending: Sequence[tuple[str, Probe, int, Path | None]], task: Task,
                 settings: Settings, device: str | torch.device, jobs: int,
                 keep: Callable[[str, int, Path | None, dict[str, Any]], None]) -> None:
    """Train the ``pending`` runs in ``jobs`` worker processes of one thread each; each result
    is kept (cached) as it comes, so a killed comparison loses only the runs under way."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from ylg.eta import duration

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    started = time.perf_counter()
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(method)) as pool:
        futures = {pool.submit(_train_in_worker, task, probe, seed, settings, device):
                   (item, seed, path) for item, probe, seed, path in pending}
        done_count, left = 0, set(futures)
        while left:
            done, left = wait(left, return_when=FIRST_COMPLETED)
            for future in done:
                item, seed, path = futures[future]
                keep(item, seed, path, future.result())
                done_count += 1
                if done_count == 1 and left:  # the first result says how long the rest take
                    per_run = time.perf_counter() - started
                    _logger.info(f"compare: {len(left)} runs left on {jobs} processes at about "
                                 f"{duration(per_run)} a run: about "
                                 f"{duration(per_run * len(left) / jobs)}")

