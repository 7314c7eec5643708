"""Training SAGAN and YLG-SAGAN: hinge loss, Adam (0, 0.999), EMA of G, checkpoints, DDP.

The loop is :func:`train`; one optimisation step is :func:`train_step`. A run directory holds
``config.json``, ``log.jsonl`` (one line per logged step), ``samples/step_*.png`` (fixed noise,
EMA generator), ``checkpoint.pt`` (the last complete one) and, if asked, ``tensorboard/``. With
``eval_every``, ``log.jsonl`` also gets a line ``{"step", "eval": {metric: value}, ...}`` per
evaluation of the EMA generator (:func:`ylg.metrics.evaluate_generator`, or the ``evaluate``
hook given to :func:`train`): metric-against-steps curves. On a CPU the run says after its
first steps how long it will take and its peak memory (:func:`cpu_estimate`).

Randomness: the data order of epoch ``e`` and all noise of step ``t`` on rank ``r`` come from
generators seeded by ``(seed, e)`` and ``(seed, t, r)``. A run is thus a function of its seed and
step, and a resumed run draws exactly what the uninterrupted one would have (checked on CPU).

Several processes: launch with ``torchrun --nproc_per_node=N -m ylg_cli.main train ...``; the global
batch ``batch_size`` is split over the processes, gradients are averaged by DDP (``nccl`` on GPUs,
``gloo`` on CPU), and rank 0 writes logs, samples and checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ifg.errors import InvalidArgument, YLGError
from ylg.data.augment import diff_augment
from ylg.models.build import build_models, model_args
from ylg.run.checkpoint import checkpoint_state, load_checkpoint, restore, save_checkpoint
from ylg.config import RESUMABLE, TrainConfig, resumed_config
from ylg.data import load_data, to_model_range
from ylg.eta import ESTIMATE_AFTER, cpu_estimate, stop_if_long
from ylg.errors import CheckpointError
from ylg.run.interrupts import deferred_stop, stop
from ylg.memory import check_memory, estimate_bytes, forward_bytes, image_bytes, peak_memory
from ylg.metrics import (OTHER_DATA_METRICS, check_domain, evaluate_generator, is_digits,
                         parse_metrics)
from ylg.run.lock import run_lock
from ylg.run.folder import RunFolder, discard_unsaved, draw_curves
from ylg.runtime import distributed, resolve_device, seed_of

if TYPE_CHECKING:

    from ylg.data import ImageData
    from ylg.models.sagan import Discriminator, Generator

__all__ = ["TrainConfig", "RESUMABLE", "TrainResult", "train", "train_step", "hinge_d",
           "hinge_g", "ema_update", "step_generator", "resolve_device", "cpu_estimate"]


_logger = logging.getLogger(__name__)


def _log(message: str) -> None:
    """The default of :func:`train`'s ``log``: each line to the logger, ``warning:`` lines at
    WARNING."""
    for line in message.splitlines():
        (_logger.warning if line.startswith("warning:") else _logger.info)(line)


@dataclass
class TrainResult:
    """What :func:`train` returns: the models (unwrapped), the last step and its losses, and
    this process's rank (0 when not distributed; only rank 0 writes)."""

    G: torch.nn.Module
    D: torch.nn.Module
    ema: torch.nn.Module
    step: int
    last: dict[str, float]
    run_dir: Path
    rank: int = 0


def hinge_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's hinge loss: ``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))``.

    Examples
    --------
    >>> hinge_d(torch.tensor([2.0]), torch.tensor([-2.0])).item()
    0.0
    """
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_g(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's hinge loss: ``-mean(D(G(z)))``.

    Examples
    --------
    >>> hinge_g(torch.tensor([1.0, 3.0])).item()
    -2.0
    """
    return -fake_logits.mean()


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * model`` for parameters; buffers are copied.

    Examples
    --------
    >>> a, b = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    >>> ema_update(a, b, 0.0); bool(torch.equal(a.weight, b.weight))
    True
    """
    e_params: list[torch.Tensor] = list(ema.parameters())
    m_params: list[torch.Tensor] = list(model.parameters())
    torch._foreach_lerp_(e_params, m_params, 1 - decay)
    for e, m in zip(ema.buffers(), model.buffers()):
        e.copy_(m)


def step_generator(seed: int, step: int, rank: int,
                   device: str | torch.device = "cpu") -> torch.Generator:
    """The random generator of one step on one process (noise, labels, augmentations).

    Examples
    --------
    >>> a = torch.rand(2, generator=step_generator(0, 5, 0))
    >>> bool(torch.equal(a, torch.rand(2, generator=step_generator(0, 5, 0))))
    True
    """
    return torch.Generator(device=device).manual_seed(seed_of(seed, "step", step, rank))


#: the sample grid is drawn this many latents at a time (:func:`draw_samples`)
SAMPLE_CHUNK = 16


def draw_samples(G: nn.Module, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``G(z, y)`` drawn :data:`SAMPLE_CHUNK` latents at a time, without gradients: in eval
    mode each sample is drawn on its own, so the chunks change the peak memory (at 64x64, width
    64, 0.3 to 0.37 GB less than the default 64 samples at once, docs/security.md) and nothing
    else but float rounding where a chunk's size changes the convolutions' blocking (about
    1e-7)."""
    with torch.no_grad():
        return torch.cat([G(zc, yc) for zc, yc in zip(z.split(SAMPLE_CHUNK),
                                                       y.split(SAMPLE_CHUNK))])


#: a training set of fewer elements is copied to the training device once
_ON_DEVICE = 2 ** 31


class _Batches:
    """The data stream: epoch ``e`` visits the images in a permutation seeded by ``(seed, e)``;
    draw ``k`` of the run takes positions ``[k*B, (k+1)*B)`` of the stream, and rank ``r`` its
    ``r``-th share. Stateless: a draw is a function of its number, so resuming needs no state."""

    def __init__(self, data: ImageData, *, batch_size: int, rank: int, world: int, seed: int,
                 device: torch.device) -> None:
        on_device = data.images.numel() < _ON_DEVICE  # small sets live on the device once
        self.images = data.images.to(device) if on_device else data.images
        self.labels = data.labels.to(self.images.device)
        self.n, self.batch, self.seed, self.device = len(data), batch_size, seed, device
        self.share = batch_size // world
        self.offset = rank * self.share
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            self._perms = {e: p for e, p in self._perms.items() if e >= epoch - 1}
            g = torch.Generator().manual_seed(seed_of(self.seed, "epoch", epoch))
            self._perms[epoch] = torch.randperm(self.n, generator=g)
        return self._perms[epoch]

    def draw(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        pos = k * self.batch + self.offset + torch.arange(self.share)
        epochs, within = pos // self.n, pos % self.n
        idx = torch.empty_like(pos)
        for e in epochs.unique().tolist():
            sel = epochs == e
            idx[sel] = self._perm(e)[within[sel]]
        idx = idx.to(self.images.device)
        # index_select: one row copy per image, several times faster than x[idx] on a CPU
        x = to_model_range(self.images.index_select(0, idx)).to(self.device, non_blocking=True)
        return x, self.labels.index_select(0, idx).to(self.device, non_blocking=True)


def train_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer,
               opt_d: torch.optim.Optimizer, batches: _Batches, *, step: int, cfg: TrainConfig,
               num_classes: int, generator: torch.Generator,
               autocast: Callable[[], AbstractContextManager[Any]]) -> dict[str, torch.Tensor]:
    """One step: ``cfg.d_steps`` discriminator updates, then one generator update.

    Real and fake images go through D in one batch (one forward, as DDP wants), after the same
    DiffAugment policy. Returns the losses and D's mean outputs as tensors.
    """
    b, gen, policy = batches.share, generator, cfg.diffaugment

    def noise() -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(b, cfg.z_dim, generator=gen, device=batches.device)
        return z, torch.randint(num_classes, (b,), generator=gen, device=batches.device)

    for j in range(cfg.d_steps):
        real, y_real = batches.draw((step - 1) * cfg.d_steps + j)
        z, y_fake = noise()
        with autocast():
            with torch.no_grad():
                fake = G(z, y_fake)
            x = diff_augment(torch.cat([real, fake.to(real.dtype)]), policy, generator=gen)
            logits = D(x, torch.cat([y_real, y_fake])).float()  # (2b,)
            loss_d = hinge_d(logits[:b], logits[b:])
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

    z, y_fake = noise()
    with autocast():
        loss_g = hinge_g(D(diff_augment(G(z, y_fake), policy, generator=gen), y_fake).float())
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
            "d_real": logits[:b].detach().mean(), "d_fake": logits[b:].detach().mean()}


def _broadcast_buffers(*models: nn.Module) -> None:
    """Rank 0's buffers (BatchNorm statistics, spectral-norm vectors) to every rank.

    DDP broadcasts them at the start of each forward; doing it at the end of the step too keeps
    the ranks identical between steps (for the EMA, checkpoints and a rank's own evaluation)."""
    import torch.distributed as dist

    for model in models:
        for b in model.buffers():
            dist.broadcast(b, src=0)


#: what a training run adds to a started process whatever its models' size, measured with a
#: tiny model on a CPU (141 to 166 MiB in all): the modules building the models imports on
#: first use (torch._dynamo and sympy, ~65 MiB), torch's code the first step runs (~40 MiB of
#: the library's pages), the sample PNG (Pillow, ~30 MiB) and curves.png (matplotlib, ~20 MiB)
_CPU_RUN_BYTES = 160 * 2**20


def _check_fits(cfg: TrainConfig, kwargs: dict[str, Any], world: int,
                device: torch.device, data: ImageData) -> None:
    """Refuse a run whose models and batch cannot fit, before anything is built: the models are
    built on the meta device (no memory) for :func:`ylg.memory.estimate_bytes`.

    Counted besides the training step: the sample grid's draw by the EMA (:func:`draw_samples`,
    every rank counting it so that all refuse together) and its PNG, on a GPU the
    training images :class:`_Batches` copies there (on the CPU they are already in memory),
    and on the CPU the run's fixed cost (:data:`_CPU_RUN_BYTES`)."""
    with torch.device("meta"):  # dense attention: the others' upper bound, and no tile planning
        g, d, ema = build_models(kwargs, backend="dense", device="meta")
    r, batch = cfg.resolution, cfg.batch_size // world
    grids = image_bytes(cfg.num_samples, kwargs["channels"], r, grid_scale=max(1, 64 // r))
    images = data.images.numel() * data.images.element_size() + 8 * len(data)  # and labels
    copied = images if device.type != "cpu" and data.images.numel() < _ON_DEVICE else 0
    fixed = _CPU_RUN_BYTES if device.type == "cpu" else 0
    # the allocator keeps the training step's freed memory: the grid's draw comes on top, one
    # chunk at a time, the chunks' images kept until they are joined
    draw = forward_bytes(ema, min(cfg.num_samples, SAMPLE_CHUNK)) + \
        image_bytes(cfg.num_samples, kwargs["channels"], r)  # at the last step if not before
    check_memory(f"training at batch {batch:,}, {r}x{r}, width {cfg.width}",
                 estimate_bytes(g, d, batch=batch, training=True,
                                outputs=grids + draw + copied + fixed), device)


def _models(cfg: TrainConfig, kwargs: dict[str, Any], state: dict[str, Any] | None,
            device: torch.device
            ) -> tuple[Generator, Discriminator, Generator, torch.optim.Adam, torch.optim.Adam]:
    """G, D, the EMA of G and both optimisers, restored from ``state`` when resuming."""
    g, d, ema = build_models(kwargs, backend=cfg.backend, seed=cfg.seed, device=device)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    if state is not None:
        restore(state, g, d, ema, opt_g, opt_d)
    return g, d, ema, opt_g, opt_d


def _start(config: TrainConfig | None, resume: bool, overrides: Mapping[str, Any] | None
           ) -> tuple[TrainConfig, dict[str, Any] | None]:
    """The run's config and, when resuming, its checkpoint."""
    cfg = config or TrainConfig()
    run_dir, state = Path(cfg.out), None
    if resume:
        if not (run_dir / "checkpoint.pt").exists() and (run_dir / "config.json").is_file():
            raise CheckpointError(f"{str(run_dir)!r} holds no checkpoint: its run stopped before "
                                  "writing one; start it again (without --resume)")
        state = load_checkpoint(run_dir / "checkpoint.pt")
        # the folder is the run, whatever its spelling (relative, absolute, moved, copied)
        kept = {k: v for k, v in (overrides or {}).items() if k != "out"}
        cfg = resumed_config(state["config"], kept)
        cfg = TrainConfig.from_dict({**cfg.to_dict(), "out": str(run_dir)})
    else:
        cfg = TrainConfig.from_dict({**cfg.to_dict(), **(overrides or {})})
        if (run_dir / "checkpoint.pt").exists():
            raise InvalidArgument(f"{str(run_dir)!r} already holds a checkpoint: resume it "
                                  "(--resume), or train into another folder")
    return cfg, state


def _announce(cfg: TrainConfig, data: ImageData, say: Callable[[str], None] | None) -> None:
    """Say what the training data are (``say`` None: silent, on ranks other than 0)."""
    if say is not None and data.skipped:
        say(f"warning: skipped {len(data.skipped)} unreadable file(s), e.g. "
            f"{data.skipped[0][0]}: {data.skipped[0][1]}")  # shown under --quiet too
    if say is not None:
        say(f"data: {data.source}, {len(data)} images, {data.num_classes} classes, "
            f"{data.channels} channel(s) at {cfg.resolution}x{cfg.resolution}")


def _metrics(cfg: TrainConfig, data: ImageData, device: torch.device, say: Callable[[str], None]
             ) -> Callable[[int, nn.Module], dict[str, Any]]:
    """The default evaluation: :func:`ylg.metrics.evaluate_generator` on ``cfg.eval_metrics``
    (``auto``: ``domain-fid,accuracy`` for the digits, ``fid,kid`` for other data); the domain
    metrics are refused for other data before the first step."""
    metrics = cfg.eval_metrics
    if metrics == "auto":
        metrics = "domain-fid,accuracy" if is_digits(data.source) else \
            ",".join(OTHER_DATA_METRICS)
    if cfg.eval_every:
        check_domain(metrics, data.source)
    if cfg.eval_every and "accuracy" in parse_metrics(metrics) and \
            data.num_classes != 10:
        raise InvalidArgument(f"eval metric accuracy needs the 10 digit classes, the data have "
                              f"{data.num_classes}")

    def evaluate(step: int, ema: nn.Module) -> dict[str, Any]:
        return evaluate_generator(ema, real_images=data.images, num_classes=data.num_classes,
                                  dataset=data.source, samples=cfg.eval_samples, seed=cfg.seed,
                                  metrics=metrics, device=device, log=say)

    return evaluate


def train(config: TrainConfig | None = None, *, resume: bool = False,
          overrides: dict[str, Any] | None = None, progress: bool = True,
          log: Callable[[str], None] | None = None,
          evaluate: Callable[[int, nn.Module], dict[str, Any]] | None = None) -> TrainResult:
    """Train a SAGAN / YLG-SAGAN; see the module docstring for the run directory.

    Parameters
    ----------
    config : TrainConfig
        The run (ignored for ``resume``, except ``out``).
    resume : bool
        Continue from ``<out>/checkpoint.pt`` with its saved config, changed by ``overrides``
        (only the :data:`RESUMABLE` keys may differ).
    overrides : dict, optional
    progress : bool
        Show a progress bar (rank 0).
    log : callable, optional
        Receives the run's messages; default: the ``ylg.train`` logger (INFO; a warning line
        of the CPU estimate at WARNING).
    evaluate : callable, optional
        The evaluation hook: ``evaluate(step, ema) -> dict`` is called on rank 0 every
        ``config.eval_every`` steps and at the last step, after that step's checkpoint is
        written (so that it may keep a copy); its dict is logged as the step's ``eval`` line.
        Default: :func:`ylg.metrics.evaluate_generator` with ``config.eval_metrics``.

    Returns
    -------
    TrainResult

    Raises
    ------
    InvalidArgument, DataError, CheckpointError
        For a bad config, unreadable data, or a missing, corrupt or mismatched checkpoint.
    KeyboardInterrupt
        After a Ctrl-C (SIGINT) in one process, once the step under way has ended and its
        checkpoint is written (a second Ctrl-C interrupts at once). A SIGTERM is taken the same
        way, then ends the process as SIGTERM does (status 143 from a shell).

    Examples
    --------
    >>> import tempfile
    >>> cfg = TrainConfig(out=tempfile.mkdtemp(), width=16, batch_size=4, steps=1,
    ...                   attention="none", resolution=32, device="cpu")
    >>> r = train(cfg, progress=False, log=lambda m: None)
    >>> r.step, sorted(r.last)
    (1, ['d_fake', 'd_real', 'loss_d', 'loss_g'])
    """
    say = log or _log
    out = Path((config or TrainConfig()).out)
    # the run folder belongs to this job: rank 0 holds its lock (other ranks run beside it)
    held = run_lock(out) if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext()
    with held:
        try:
            return _run(config, resume, overrides, progress, say, evaluate)
        except BaseException:
            if not resume and int(os.environ.get("RANK", "0")) == 0:
                discard_unsaved(out)  # then the lock leaves a folder it made as it was
            raise


class TrainingDiverged(YLGError):
    """The losses or weights became NaN or infinite; the last good checkpoint is kept."""


def _finite(values: Mapping[str, float], step: int, run_dir: Path) -> None:
    """Stop the run if a logged number is NaN or infinite (nothing non-finite is saved)."""
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        shown = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise TrainingDiverged(f"training diverged at step {step} ({shown}); the last good "
                               f"checkpoint in {str(run_dir)!r} is kept: lower the learning "
                               "rates (--lr-g, --lr-d) and resume or start again")


def _run(config: TrainConfig | None, resume: bool, overrides: Mapping[str, Any] | None,
         progress: bool, say: Callable[[str], None],
         evaluate: Callable[[int, nn.Module], dict[str, Any]] | None) -> TrainResult:
    """:func:`train`'s body, inside the run folder's lock."""
    cfg, state = _start(config, resume, overrides)
    run_dir = Path(cfg.out)
    device = resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0")))
    rank, world, _ = distributed(device)
    main = rank == 0
    if cfg.batch_size % world:
        raise InvalidArgument(f"batch_size {cfg.batch_size} must divide among {world} processes")
    if cfg.amp and device.type != "cuda":
        raise InvalidArgument("amp (mixed precision) needs a CUDA device")
    data = load_data(cfg.data, resolution=cfg.resolution, channels=cfg.channels)
    kwargs, record = model_args(cfg, data, state)
    # before the models, and before the folder is written
    _check_fits(cfg, kwargs, world, device, data)
    _announce(cfg, data, say if main else None)
    g, d, ema, opt_g, opt_d = _models(cfg, kwargs, state, device)
    evaluate = evaluate or _metrics(cfg, data, device, say)
    start = 0 if state is None else int(state["step"])
    if main and state is not None:
        say(f"resumed from {run_dir / 'checkpoint.pt'} at step {start}")
    G: nn.Module  # g and d, or their DDP wrappers
    D: nn.Module
    G, D = g, d
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        G, D = DDP(g, device_ids=ids), DDP(d, device_ids=ids)
    batches = _Batches(data, batch_size=cfg.batch_size, rank=rank, world=world, seed=cfg.seed,
                       device=device)
    autocast = ((lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cfg.amp
                else contextlib.nullcontext)
    fixed = torch.Generator().manual_seed(seed_of(cfg.seed, "samples"))
    fixed_z = torch.randn(cfg.num_samples, cfg.z_dim, generator=fixed).to(device)
    fixed_y = (torch.arange(cfg.num_samples) % data.num_classes).to(device)
    folder = RunFolder(run_dir, cfg, start=start, resume=resume,
                        class_names=data.class_names) if main else None

    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=start, disable=not (progress and main), unit="step",
               dynamic_ncols=True, file=sys.stderr)
    last, t0 = {}, time.perf_counter()
    g.train(), d.train()

    def save(step: int) -> None:
        save_checkpoint(run_dir / "checkpoint.pt", checkpoint_state(
            step=step, config=cfg.to_dict(), **record, class_names=data.class_names,
            world_size=world, G=g, D=d, EMA=ema, opt_G=opt_g, opt_D=opt_d))

    with deferred_stop(main and world == 1) as request:
        for step in range(start + 1, cfg.steps + 1):
            out = train_step(G, D, opt_g, opt_d, batches, step=step, cfg=cfg,
                             num_classes=data.num_classes,
                             generator=step_generator(cfg.seed, step, rank, device),
                             autocast=autocast)
            if world > 1:
                _broadcast_buffers(g, d)
            ema_update(ema, g, min(cfg.ema_decay, (1 + step) / (10 + step)))  # warm-up, as BigGAN
            bar.update(1)
            if main and device.type == "cpu" and step in (start + 1, start + ESTIMATE_AFTER) \
                    and cfg.steps > start + ESTIMATE_AFTER:
                if step == start + 1:
                    t_warm = time.perf_counter()  # the first step (a warm-up) is not counted
                else:
                    per_step = (time.perf_counter() - t_warm) / (ESTIMATE_AFTER - 1)
                    say(cpu_estimate(per_step, cfg.steps - step, peak_memory(), cfg))
                    if world == 1:  # every rank would have to stop together
                        # a new run first removes what it wrote, so that the folder takes
                        # the smaller settings the estimate's warning gives
                        stop_if_long(per_step * (cfg.steps - step), step, cfg.long_ok,
                                     folder.discard if folder and state is None else None)

            def due(every: int) -> int | bool:
                return every and (step % every == 0 or step == cfg.steps)

            # Ctrl-C or SIGTERM during this step: the step is kept (checked, saved), then the
            # run stops
            stopping = bool(request.signum) and step < cfg.steps
            if due(cfg.log_every) or due(cfg.checkpoint_every) or stopping:
                last = _mean_over_ranks(out, world)
                _finite(last, step, run_dir)  # before this step's checkpoint can keep bad weights
            if due(cfg.log_every):
                if folder is not None:  # the main rank
                    elapsed = time.perf_counter() - t0
                    folder.log({"step": step, **last, "seconds": round(elapsed, 3),
                                "steps_per_s": round((step - start) / max(elapsed, 1e-9), 4)}, last)
                    bar.set_postfix(loss_d=f"{last['loss_d']:.3f}", loss_g=f"{last['loss_g']:.3f}")
            if folder is None:  # not the main rank
                continue
            if due(cfg.sample_every):
                folder.samples(step, draw_samples(ema, fixed_z, fixed_y))
            if due(cfg.checkpoint_every) or stopping:
                save(step)
            if due(cfg.eval_every):
                t = time.perf_counter()
                found = evaluate(step, ema)
                folder.log({"step": step, "eval": found,
                            "eval_seconds": round(time.perf_counter() - t, 3)}, found, "eval/")
            if due(cfg.checkpoint_every) or stopping:
                draw_curves(run_dir, say)  # curves.png: the losses and metrics so far
            if stopping:
                bar.close()
                folder.close()
                say(f"warning: interrupted ({signal.Signals(request.signum).name}): the checkpoint "
                    f"of step {step} is in {str(run_dir / 'checkpoint.pt')!r}; resume from it "
                    "(--resume)")
                stop(request.signum)
    bar.close()
    if folder is not None:
        folder.close()
    if main and start >= cfg.steps:
        say(f"the checkpoint is already at step {start} >= steps {cfg.steps}; nothing to do")
    return TrainResult(g, d, ema, max(start, cfg.steps), last, run_dir, rank)
def _mean_over_ranks(values: Mapping[str, torch.Tensor], world: int) -> dict[str, float]:
    """The logged numbers as floats, averaged over the processes."""
    stacked = torch.stack(list(values.values())).float()
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(stacked)
        stacked /= world
    return dict(zip(values, stacked.tolist()))
