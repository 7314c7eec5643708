"""Inversion: find ``z`` such that ``G(z, y)`` matches a real image (SPEC section 8).

Three objectives, each minimised over ``z`` with Adam from several truncated-normal starts:

=================  ==========================================================================
``pixel``          the baseline: ``||x - G(z, y)||_2`` on the images
``discriminator``  ``||D0(x) - D0(G(z, y))||_2``, with ``D0`` the discriminator up to (not
                   including) its attention layer
``ylg``            ``sum_h ||(D0(x) - D0(G(z, y))) * s_h||_2``, with ``s_h`` the saliency map of
                   head ``h`` of D's attention on the real image (:func:`saliency_maps`)
=================  ==========================================================================

The saliency of a key is the mean attention it receives over the queries allowed to attend it
(for dense heads: all queries), on the key grid, upsampled (nearest) to ``D0``'s grid. The
published code sums the four ``rtl`` heads of the YLG layer; that is the default here
(:func:`default_heads`), and a dense layer (SAGAN) uses all its heads. A discriminator without an
attention layer has no saliency: ``ylg`` is refused, and ``discriminator`` takes ``D0`` at the grid
where the layer would sit (the model's ``attention_resolution``).

Published settings (the defaults, :data:`PUBLISHED`): Adam with learning rate 0.07, 1,000 steps,
8 starts per image drawn from a normal truncated at +-2, class label given, no noise. When no class
is given, every class is tried and the best (class, start) kept. Two choices of this
implementation: the starts run as one batch, each minimising its own loss (the published code
takes one norm over the batch of starts); and each start keeps the lowest-loss ``z`` it visited
(Adam at 0.07 can overshoot), the kept start being the one with the lowest loss.

The published code builds a Lookahead wrapper (k = 5, alpha = 0.5) around ``z``, but runs its ops
once, before the loop, and never adds them to the update: its counter stops at 1, so the slow
weights are never read back. It runs plain Adam, and so does this module
(``ylg/inverse_image.py`` and ``ylg/optimization.py`` of the published code).

The published ``inject_noise`` option (off by default) adds ``N(0, std^2)`` noise, std 0.2, to the
target once, one draw per start, before D's features and saliency are taken; ``Budget(noise=0.2)``
does the same here (each start its own seeded draw, fixed over the steps). Scores compare the
reconstruction with the clean target.

The generator and discriminator run in eval mode (BatchNorm statistics and spectral-norm vectors
frozen); only ``z`` receives gradients. The jobs over a checkpoint (a folder of results, the
attention-map figure) live in :mod:`ylg.invert.jobs`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch

from ifg.errors import InvalidArgument
from ylg.choices import METHODS
from ylg.eta import duration
from ylg.config import PUBLISHED, Budget
from ylg.memory import check_memory, estimate_bytes
from ylg.invert.saliency import (check_attention, check_heads, default_heads,
                          discriminator_saliency, key_counts, saliency_maps)

if TYPE_CHECKING:
    from ylg.models.sagan import Discriminator, Generator

__all__ = ["METHODS", "Budget", "PUBLISHED", "Inversion", "default_heads", "key_counts",
           "saliency_maps", "discriminator_saliency", "feature_distance", "invert",
           "check_inversion_memory"]

#: an inversion method (:data:`METHODS`)
Method = Literal["pixel", "discriminator", "ylg"]
#: a loss of the latents and classes of a batch of starts, one value per start
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_logger = logging.getLogger("ylg.invert")  # the room's logger, as before the package: users filter by it


@dataclass(frozen=True, eq=False)
class Inversion:
    """The result of :func:`invert` for a batch of ``n`` target images.

    Attributes
    ----------
    method : str
    z : torch.Tensor, (n, z_dim)
        The kept latent of each image.
    labels : torch.Tensor, int64, (n,)
        The class of the kept start (the given class, or the best one found).
    images : torch.Tensor, (n, c, h, w)
        ``G(z, labels)`` in [-1, 1].
    loss : torch.Tensor, (n,)
        The method's own loss at the kept ``z``.
    curves : torch.Tensor, (n, classes, starts, steps + 1)
        Every start's loss before each update and after the last.
    kept : torch.Tensor, int64, (n, 2)
        The (class slot, start) that was kept; ``curves[i, kept[i, 0], kept[i, 1]]`` is its curve.
    heads : tuple of int
        The D heads whose saliency weighted the loss (``ylg``); empty for the other methods.
    seconds : float
        Wall time of the optimisation (all images and starts together).
    notes : tuple of str
        What the run had to decide for the user (e.g. where ``D0`` stops without attention).
    """

    method: str
    z: torch.Tensor
    labels: torch.Tensor
    images: torch.Tensor
    loss: torch.Tensor
    curves: torch.Tensor
    kept: torch.Tensor
    heads: tuple[int, ...] = ()
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())

    def kept_curves(self) -> torch.Tensor:
        """The kept start's loss curve of each image, ``(n, steps + 1)``."""
        i = torch.arange(self.curves.shape[0])
        return self.curves[i, self.kept[:, 0], self.kept[:, 1]]


@torch.no_grad()
def feature_distance(D: Discriminator, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||D0(x) - D0(y)||_2`` per image pair, ``(b,)`` (the ``discriminator`` loss).

    Examples
    --------
    >>> from ylg.models import Discriminator
    >>> D = Discriminator(resolution=32, width=4, channels=1, attention="dense").eval()
    >>> x = torch.zeros(2, 1, 32, 32)
    >>> feature_distance(D, x, x).tolist()
    [0.0, 0.0]
    """
    return (D.features_before_attention(x) - D.features_before_attention(y)).flatten(1).norm(dim=1)


def _objective(method: str, G: Generator, D: Discriminator | None, x: torch.Tensor,
               heads: Sequence[int]) -> Loss:
    """``loss(z, y) -> (B,)`` for targets ``x`` ``(B, c, h, w)`` (one per start)."""
    if method == "pixel":
        return lambda z, y: (x - G(z, y)).flatten(1).norm(dim=1)
    assert D is not None  # _check_inversion: the other methods need it
    with torch.no_grad():
        fx = D.features_before_attention(x)  # (B, c, a, a), fixed
    if method == "discriminator":
        return lambda z, y: (fx - D.features_before_attention(G(z, y))).flatten(1).norm(dim=1)
    s = discriminator_saliency(D, x, heads=heads)  # (B, H, a, a), of the real image, fixed

    def ylg_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        diff = fx - D.features_before_attention(G(z, y))  # (B, c, a, a)
        # one weighted norm per head, summed: (B, H, c, a, a) -> (B, H) -> (B,)
        return (diff[:, None] * s[:, :, None]).flatten(2).norm(dim=2).sum(1)

    return ylg_loss


def invert(G: Generator, D: Discriminator | None, x: torch.Tensor, *,
           label: int | Sequence[int] | torch.Tensor | None = None, method: Method = "ylg",
           budget: Budget = PUBLISHED, heads: Sequence[int] | None = None, seed: int = 0,
           progress: bool = False) -> Inversion:
    """Invert images: the best ``z`` (and class) found for each by one method.

    Parameters
    ----------
    G : ylg.models.Generator
        Use the EMA generator of a checkpoint (:func:`ylg.invert.jobs.load_models`).
    D : ylg.models.Discriminator
        Needed by ``discriminator`` and ``ylg`` (may be None for ``pixel``).
    x : torch.Tensor, (n, c, res, res)
        Target images in [-1, 1], at G's resolution and channels.
    label : int, sequence of int, torch.Tensor (n,), or None
        The class of each image; None tries every class and keeps the best.
    method : {"pixel", "discriminator", "ylg"}
    budget : Budget
        Steps, learning rate, starts and target noise (default :data:`PUBLISHED`).
    heads : sequence of int, optional
        D heads whose saliency weights the ``ylg`` loss (default: :func:`default_heads`).
    seed : int
        Seeds the starts (and the noise): the same seed gives every method (and every class
        tried) the same starts.
    progress : bool
        A progress bar on stderr, and on a CPU an estimate of the time after the first steps
        when the inversion will take long.

    Returns
    -------
    Inversion

    Raises
    ------
    InvalidArgument
        For an unknown method, a budget that is not a :class:`Budget`, images that do not fit G,
        a class out of range, heads out of range, or ``ylg`` with a discriminator that has no
        attention layer.

    Examples
    --------
    >>> from ylg.models import Discriminator, Generator
    >>> G = Generator(resolution=32, width=4, channels=1, attention="dense").eval()
    >>> D = Discriminator(resolution=32, width=4, channels=1, attention="dense").eval()
    >>> inv = invert(G, D, torch.zeros(1, 1, 32, 32), label=3, method="ylg",
    ...              budget=Budget(steps=2, starts=2))
    >>> inv.images.shape, inv.labels.tolist(), inv.curves.shape
    (torch.Size([1, 1, 32, 32]), [3], torch.Size([1, 1, 2, 3]))
    """
    x, heads, notes = _check_inversion(G, D, x, method, budget, heads)
    steps, starts = budget.steps, budget.starts
    device = next(G.parameters()).device
    x = x.to(device).float()
    n, k = x.shape[0], 1 if label is not None else G.num_classes
    classes = classes_to_try(label, n, G.num_classes).to(device)  # (n, k)
    b = n * k * starts
    check_inversion_memory(G, D, x, label=label, method=method, budget=budget)
    # layout of the batch: image-major, then class, then start
    y = classes.repeat_interleave(starts, dim=1).reshape(b)
    targets = x.repeat_interleave(k * starts, dim=0)  # (b, c, res, res)
    gen = torch.Generator().manual_seed(seed)
    z0 = torch.nn.init.trunc_normal_(torch.empty(n, 1, starts, G.z_dim), a=-2.0, b=2.0,
                                     generator=gen)
    z0 = z0.expand(n, k, starts, G.z_dim).reshape(b, G.z_dim)  # every class tries the same starts
    if budget.noise:  # drawn after the starts, so that noise leaves the starts unchanged
        shape = x.shape[1:]
        eps = torch.randn(n, 1, starts, *shape, generator=gen) * budget.noise
        targets = targets + eps.expand(n, k, starts, *shape).reshape(b, *shape).to(device)
    nets = [m for m in (G, D) if m is not None]
    modes = [m.training for m in nets]
    for m in nets:
        m.eval()
    try:
        t0 = time.perf_counter()
        loss_of = _objective(method, G, D, targets, heads)
        best_z, best_loss, curves = _adam(loss_of, z0.to(device), y, steps=steps, lr=budget.lr,
                                          progress=progress, desc=method)
        seconds = time.perf_counter() - t0
        # the kept start of each image: the lowest loss over its classes and starts
        pick = best_loss.view(n, k * starts).argmin(dim=1)  # (n,)
        rows = torch.arange(n, device=device) * k * starts + pick
        z, labels = best_z[rows], y[rows]
        with torch.no_grad():
            images = G(z, labels)
    finally:
        for m, mode in zip(nets, modes):
            m.train(mode)
    return Inversion(method=method, z=z.cpu(), labels=labels.cpu(), images=images.cpu(),
                     loss=best_loss[rows].cpu(),
                     curves=curves.T.reshape(n, k, starts, steps + 1).cpu(),
                     kept=torch.stack([pick // starts, pick % starts], dim=1).cpu(),
                     heads=tuple(heads), seconds=seconds, notes=tuple(notes))


def check_inversion_memory(G: Generator, D: Discriminator | None, x: torch.Tensor, *,
                           label: int | Sequence[int] | torch.Tensor | None = None,
                           method: str = "ylg",
                           budget: Budget = PUBLISHED) -> None:
    """Refuse an inversion whose starts (images x classes x starts, run at once) and loss
    curves cannot fit in memory: :func:`invert`'s check, for callers that write first."""
    if not isinstance(budget, Budget):
        raise InvalidArgument(f"budget must be a Budget, got {type(budget).__name__}")
    n, k, s = len(x), 1 if label is not None else G.num_classes, budget.starts
    check_memory(f"inverting {n:,} image(s) x {k:,} class(es) x {s:,} starts at once for "
                 f"{budget.steps:,} steps", estimate_bytes(
                     G, None if method == "pixel" else D, batch=n * k * s,
                     outputs=n * k * s * 12 * (budget.steps + 1 + x[0].numel())),  # curves, x
                 next(G.parameters()).device)


def _check_inversion(G: Generator, D: Discriminator | None, x: torch.Tensor, method: str,
                     budget: Budget, heads: Sequence[int] | None
                     ) -> tuple[torch.Tensor, tuple[int, ...], list[str]]:
    """The targets as a tensor, the D heads of the ``ylg`` loss, and notes; or InvalidArgument."""
    if method not in METHODS:
        raise InvalidArgument(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not isinstance(budget, Budget):
        raise InvalidArgument(f"budget must be a Budget, got {type(budget).__name__}")
    x = torch.as_tensor(x)
    res = resolution_of(G)
    if x.ndim != 4 or x.shape[1] != G.channels or x.shape[-2:] != (res, res):
        raise InvalidArgument(f"images must have shape (n, {G.channels}, {res}, {res}) for this "
                              f"generator, got {tuple(x.shape)}")
    if method != "pixel" and D is None:
        raise InvalidArgument(f"the {method} method needs the discriminator")
    if method == "pixel":
        return x, (), []
    assert D is not None  # checked above
    if method == "ylg":
        layer = check_attention(D)
        return x, default_heads(D) if heads is None else check_heads(heads, layer.heads), []
    if method == "discriminator" and D.attention is None:
        a = D.attention_resolution
        return x, (), [f"the discriminator has no attention layer: D0 is D up to the {a}x{a} "
                       f"grid, where the layer would sit"]
    return x, (), []


def resolution_of(G: Generator) -> int:
    return G.resolution


def classes_to_try(label: int | Sequence[int] | torch.Tensor | None, n: int,
            num_classes: int) -> torch.Tensor:
    """The classes to try per image, ``(n, k)``: the given class (k = 1), or all (k = classes)."""
    if label is None:
        return torch.arange(num_classes).expand(n, num_classes)
    t = torch.as_tensor(label)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise InvalidArgument(f"label must be an integer class, got {label!r}")
    t = t.long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise InvalidArgument(f"label must be one class or one per image ({n}), got {t.numel()}")
    bad = t[(t < 0) | (t >= num_classes)]
    if bad.numel():
        raise InvalidArgument(f"class {int(bad[0])} is outside 0..{num_classes - 1}")
    return t.reshape(n, 1)


#: on a CPU, an inversion projected to take longer than this (seconds) prints an estimate
SLOW_SECONDS = 30.0
_TIMED_STEPS = 3  # steps timed before the estimate, after a first one that pays set-up costs


def _adam(loss_of: Loss, z0: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float,
          progress: bool, desc: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam on ``z`` for the summed per-start losses; each start keeps its lowest-loss ``z``.

    Returns ``best_z (B, z_dim)``, ``best_loss (B,)`` and the curves ``(steps + 1, B)``.
    """
    from tqdm import tqdm

    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    best_z, best_loss = z0.clone(), torch.full((len(z0),), float("inf"), device=z0.device)
    curves = torch.empty(steps + 1, len(z0), device=z0.device)
    bar = tqdm(range(steps + 1), disable=not progress, desc=desc, unit="step",
               dynamic_ncols=True, file=sys.stderr, leave=False)
    t0 = 0.0
    for t in bar:
        loss = loss_of(z, y)  # (B,), the loss at the current z
        with torch.no_grad():
            curves[t] = loss
            better = loss < best_loss
            best_loss = torch.where(better, loss, best_loss)
            best_z[better] = z[better]
        if t == steps:
            break
        # gradients for z only: the networks' weights need none
        (grad,) = torch.autograd.grad(loss.sum(), z)
        z.grad = grad
        opt.step()
        if t == 0:
            t0 = time.perf_counter()
        if progress and t == _TIMED_STEPS and z0.device.type == "cpu":
            note = cpu_estimate(time.perf_counter() - t0, _TIMED_STEPS, steps, len(z0))
            if note:
                _logger.warning("note: %s", note)
    return best_z.detach(), best_loss, curves


def cpu_estimate(seconds: float, done: int, steps: int, batch: int) -> str | None:
    """The advice printed when an inversion on a CPU will take long, or None when it will not.

    Parameters
    ----------
    seconds : float
        Time of the first ``done`` steps.
    done, steps : int
        Steps timed, and steps in all.
    batch : int
        Starts optimised together (images x classes x starts).

    Examples
    --------
    >>> print(cpu_estimate(1.5, 3, 1000, 8))  # 0.5 s a step
    about 8 min for 1000 steps x 8 starts on the CPU; a quick look: --steps 200 --starts 2
    (about 25 s), or a GPU (--device cuda)
    >>> cpu_estimate(0.01, 3, 100, 2) is None
    True
    """
    per_step = seconds / done
    total = per_step * (steps + 1)
    if total <= SLOW_SECONDS:
        return None
    quick = per_step * 201 * min(1.0, 2 / batch)
    return (f"about {duration(total)} for {steps} steps x {batch} starts on the CPU; a quick "
            f"look: --steps 200 --starts 2 (about {duration(quick)}), or a GPU (--device cuda)")
