"""Memory estimates for the commands that run a model: a size that cannot fit is refused before
anything is allocated, with what it would need.

One estimator serves ``ylg train``, ``sample``, ``interpolate``, ``evaluate``, ``invert`` and
``attention-map`` (:func:`estimate_bytes`): the models' weights and buffers, plus the
activations of the samples that run at once, plus what else is kept (images, latents). The
activations of one sample are what autograd keeps for the backward pass through G and D,
counted by running the models once on PyTorch's ``meta`` device, which allocates nothing
(:func:`activation_bytes`).

Training counts the weights of G, of its EMA and of D, Adam's two moments, and one training
step's tensors (:func:`step_bytes`: the gradients, the activations, the spectral-normalised
weights, the backward's temporaries), followed on the ``meta`` device from each one's creation
to its release; the step's tensors other than the gradients count twice, since the allocator
keeps a step's freed memory and lays the next step's partly beside it. ``ylg train`` adds its
sample grid's draw, counted the same way (:func:`forward_bytes`), on top of the step rather than
overlapping it: a draw of other shapes reuses little of the step's kept memory. What the process
holds before the job (Python and torch, about 0.3 GB; data already in host memory) is not
counted. Measured on a CPU (``benchmarks/bench_memory.py``, docs/security.md), the training
estimate is 1.6 to 2.0 times the peak the run adds (YLG attention, counted as dense), 1.2 to
1.3 times with SAGAN's dense head.

The limit is the machine's memory, or its cgroup's limit when that is smaller, or on a CUDA
device that GPU's memory (:func:`memory_limit`); the ``YLG_MAX_MEMORY`` environment variable
replaces it (bytes, or a number with K, M, G or T: ``64G``).
"""

from __future__ import annotations

import itertools
import math
import os
import resource
import sys
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ifg.errors import InvalidArgument
from ifg.memory import format_bytes

__all__ = ["ENV", "memory_limit", "check_memory", "activation_bytes", "output_bytes",
           "forward_bytes", "step_bytes", "image_bytes", "estimate_bytes", "check_samples", "peak_memory"]

#: the environment variable that replaces :func:`memory_limit`'s measurement
ENV = "YLG_MAX_MEMORY"
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max",  # cgroup v2
                  "/sys/fs/cgroup/memory/memory.limit_in_bytes")  # cgroup v1


def memory_limit(device: torch.device | str | None = None) -> int:
    """The bytes a command may plan to use: ``YLG_MAX_MEMORY`` when it is set, else the
    machine's physical memory, or its cgroup's memory limit when that is smaller; on a CUDA
    ``device``, that GPU's memory.

    Raises
    ------
    InvalidArgument
        For a ``YLG_MAX_MEMORY`` that is not a positive size.

    Examples
    --------
    >>> memory_limit() > 0
    True
    """
    text = os.environ.get(ENV, "").strip()
    if text:
        unit = text[-1].upper() if text[-1].upper() in _UNITS else ""
        try:
            value = float(text[:-1] if unit else text) * _UNITS[unit]
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= 1):
            raise InvalidArgument(f"{ENV} must be a size in bytes (e.g. 64000000000 or 64G), "
                                  f"got {text!r}")
        return int(value)
    if device is not None and torch.device(device).type == "cuda":
        return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)
    try:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on this system: refuse nothing
        limit = 1 << 62
    for path in _CGROUP_LIMITS:
        try:
            with open(path) as f:
                limit = min(limit, int(f.read().strip()))
        except (OSError, ValueError):  # absent, or "max": no limit
            continue
    return limit


def check_memory(what: str, nbytes: float, device: torch.device | str | None = None) -> None:
    """Refuse ``what`` when its estimated peak memory ``nbytes`` exceeds :func:`memory_limit`
    (of ``device``: the machine's, or a CUDA device's).

    Raises
    ------
    InvalidArgument
        One line: what, the estimate, the limit and how to raise it.

    Examples
    --------
    >>> check_memory("a small thing", 1024)
    >>> check_memory("a huge thing", 2.0 ** 70)
    Traceback (most recent call last):
    ...
    ifg.errors.InvalidArgument: a huge thing needs about 1024.0 EiB of memory, ...
    """
    limit = memory_limit(device)
    if nbytes > limit:
        has = (f"{device} has" if device is not None and torch.device(device).type == "cuda"
               else "this machine has")
        where = (f"the limit is {format_bytes(limit)} ({ENV})" if os.environ.get(ENV, "").strip()
                 else f"{has} {format_bytes(limit)} ({ENV} raises the limit)")
        raise InvalidArgument(f"{what} needs about {format_bytes(nbytes)} of memory, {where}")


def _meta_state(model: nn.Module, grad: bool = False) -> dict[str, torch.Tensor]:
    """The model's parameters and buffers as meta tensors of the same shapes (no memory); with
    ``grad``, the parameters are leaves that gather gradients."""
    state = {name: torch.empty_like(t, device="meta")
             for name, t in itertools.chain(model.named_parameters(), model.named_buffers())}
    for name, _ in model.named_parameters() if grad else ():
        state[name].requires_grad_(True)
    return state


def _trace(G: nn.Module, D: nn.Module | None, batch: int) -> tuple[int, int]:
    """Bytes autograd saves for backward when ``batch`` samples run through G, then D, and the
    elements of G's output."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    z = torch.zeros(batch, cast(int, G.z_dim), device="meta", requires_grad=True)
    y = torch.zeros(batch, dtype=torch.long, device="meta")
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        x = torch.func.functional_call(G, _meta_state(G), (z, y))
        if D is not None:
            torch.func.functional_call(D, _meta_state(D), (x, y))
    return total, x.numel()


#: per G: what the meta-device traces found, by (what, its arguments)
_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

_T = TypeVar("_T")


def _traced(G: nn.Module, key: tuple[object, ...], trace: Callable[[], _T],
            fallback: Callable[[], _T]) -> _T:
    """``trace()``'s answer for ``G`` and ``key``, computed once while ``G`` lives; an
    estimate, so ``fallback()`` for a model the ``meta`` device cannot run."""
    known = _TRACED.setdefault(G, {})
    if key not in known:
        try:
            known[key] = trace()
        except Exception:  # noqa: BLE001 - an estimate: a model the meta device cannot run
            known[key] = fallback()
    return cast(_T, known[key])


def _per_sample(G: nn.Module, D: nn.Module | None) -> tuple[int, int]:
    """The bytes per sample of activations (G, and D on G's images) and of G's output."""

    def trace() -> tuple[int, int]:
        (one, _), (two, out) = _trace(G, D, 1), _trace(G, D, 2)
        return max(0, two - one), 4 * out // 2  # the weights cancel; float32 images

    return _traced(G, ("per sample", 0 if D is None else id(D)), trace, lambda: (0, 0))


def activation_bytes(G: nn.Module, D: nn.Module | None = None) -> int:
    """The bytes of activations one sample keeps for a backward pass through G (and D on G's
    images), counted on the ``meta`` device: nothing is allocated, whatever the model's size.

    An upper bound for generation without gradients (which frees each layer's input as it
    goes). A model that cannot run on the ``meta`` device counts 0.

    Parameters
    ----------
    G : torch.nn.Module
        Called as ``G(z, y)``, with a ``z_dim`` attribute.
    D : torch.nn.Module, optional
        Called as ``D(x, y)`` on G's images.

    Examples
    --------
    >>> from ylg.models import Generator
    >>> small, wide = (Generator(resolution=32, width=w, channels=1, attention="none")
    ...                for w in (4, 8))
    >>> 0 < activation_bytes(small) < activation_bytes(wide)
    True
    """
    return _per_sample(G, D)[0]


def output_bytes(G: nn.Module) -> int:
    """The bytes of one image from ``G`` as float32, found on the ``meta`` device (0 for a
    model the ``meta`` device cannot run).

    Examples
    --------
    >>> from ylg.models import Generator
    >>> output_bytes(Generator(resolution=32, width=4, channels=3, attention="none"))
    12288
    """
    return _per_sample(G, None)[1]


class _LiveBytes(TorchDispatchMode):
    """Follows the storages the operations create (not ``known`` ones: weights, inputs) until
    the last tensor on each is released: ``peak`` is the most bytes alive at once."""

    def __init__(self, known: set[int]) -> None:
        super().__init__()
        self.known, self.live, self.peak = known, 0, 0
        self.refs: dict[int, list[int]] = {}  # storage -> [tensors alive on it, bytes]

    def _release(self, key: int) -> None:
        entry = self.refs[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.live -= entry[1]
            del self.refs[key]

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key = int(storage._cdata)
            if key in self.known:  # a view of a weight, or an in-place result
                continue
            if key not in self.refs:
                self.refs[key] = [0, storage.nbytes()]
                self.live += storage.nbytes()
                self.peak = max(self.peak, self.live)
            self.refs[key][0] += 1
            weakref.finalize(t, self._release, key)
        return out


def _draw_peak(G: nn.Module, n: int) -> int:
    """The peak bytes of ``G(z, y)`` for ``n`` samples without gradients, on the meta device."""
    state = _meta_state(G)
    known = {int(t.untyped_storage()._cdata) for t in state.values()}
    z = torch.zeros(n, cast(int, G.z_dim), device="meta")
    y = torch.zeros(n, dtype=torch.long, device="meta")
    known |= {int(t.untyped_storage()._cdata) for t in (z, y)}
    with torch.no_grad(), _LiveBytes(known) as mode:
        torch.func.functional_call(G, state, (z, y))
    return mode.peak


def _step_peak(G: nn.Module, D: nn.Module, batch: int) -> int:
    """The peak bytes of a training step of ``batch`` samples on the meta device, as
    :func:`ylg.train.train_step` runs it, starting with the last step's gradients."""
    g_state, d_state = _meta_state(G, grad=True), _meta_state(D, grad=True)
    z = torch.zeros(batch, cast(int, G.z_dim), device="meta")
    y = torch.zeros(batch, dtype=torch.long, device="meta")
    known = {int(t.untyped_storage()._cdata)
             for t in itertools.chain(g_state.values(), d_state.values(), (z, y))}

    def zero_grad(state: dict[str, torch.Tensor]) -> None:  # set_to_none, as the optimisers
        for t in state.values():
            t.grad = None

    with torch.enable_grad(), _LiveBytes(known) as mode:
        for t in itertools.chain(g_state.values(), d_state.values()):
            t.grad = torch.zeros_like(t) if t.requires_grad else None
        with torch.no_grad():  # D's update: real and generated images in one batch
            fake = torch.func.functional_call(G, g_state, (z, y))
        logits = torch.func.functional_call(
            D, d_state, (torch.cat([torch.zeros_like(fake), fake]), torch.cat([y, y])))
        loss = (1 - logits[:batch]).relu().mean() + (1 + logits[batch:]).relu().mean()
        zero_grad(d_state)
        loss.backward()
        del fake, logits, loss
        x = torch.func.functional_call(G, g_state, (z, y))  # G's update, through D
        loss = -torch.func.functional_call(D, d_state, (x, y)).mean()
        zero_grad(g_state)
        loss.backward()
    return mode.peak


def step_bytes(G: nn.Module, D: nn.Module, batch: int) -> int:
    """The peak bytes of one training step of ``batch`` samples: D's update on ``batch`` real
    and ``batch`` generated images, then G's through D (:func:`ylg.train.train_step`), the
    gradients of both models included, their weights and the optimiser's moments not.

    The tensors alive at once, followed on the ``meta`` device from the operation that makes
    each to its release (:func:`forward_bytes`): the activations autograd keeps, the
    spectral-normalised weights each forward makes, the backward's temporaries, the gradients.
    A pair of models the ``meta`` device cannot run counts their gradients only.

    Measured against a CPU's resident memory (YLG-SAGAN at 64x64, width 64, dense attention,
    with the allocator returning freed memory): 387 MB counted at batch 2 and 558 MB at batch
    8, against 385 MB and 556 MB measured.

    Examples
    --------
    >>> from ylg.models import Discriminator, Generator
    >>> kw = dict(resolution=32, width=4, channels=1, attention="none")
    >>> G, D = Generator(**kw), Discriminator(**kw)
    >>> grads = sum(p.numel() * 4 for m in (G, D) for p in m.parameters())
    >>> grads < step_bytes(G, D, 1) < step_bytes(G, D, 8)
    True
    """
    return _traced(G, ("step", id(D), batch), lambda: _step_peak(G, D, batch),
                   lambda: _sizes(G)[0] + _sizes(D)[0])


def forward_bytes(G: nn.Module, n: int) -> int:
    """The peak bytes of ``n`` samples drawn at once by ``G`` without gradients: the most that
    the tensors alive together take (the output included, the weights not), counted on the
    ``meta`` device by following each tensor from the operation that makes it to its release.
    Nothing is allocated, whatever the model's size; a model the ``meta`` device cannot run
    counts 0.

    Measured against a CPU's resident memory (YLG-SAGAN at 64x64, width 64, dense attention):
    135 MB counted for 8 samples and 1,081 MB for 64, against 135 MB and 1,077 MB measured.

    Examples
    --------
    >>> from ylg.models import Generator
    >>> G = Generator(resolution=32, width=4, channels=1, attention="none")
    >>> 0 < forward_bytes(G, 8) < forward_bytes(G, 64) < 64 * activation_bytes(G)
    True
    """
    if n <= 0:
        return 0
    return _traced(G, ("draw", n), lambda: _draw_peak(G, n), lambda: 0)


def image_bytes(n: int, channels: int, resolution: int, *, grid_scale: int | None = None
                ) -> int:
    """The bytes of ``n`` float32 images, and with ``grid_scale`` of the PNG grid drawn from
    them (:func:`ylg.viz.save_image_grid`: uint8 copies, the grid, and its enlarged copy).

    Examples
    --------
    >>> image_bytes(10, 3, 32)
    122880
    >>> image_bytes(10, 3, 32, grid_scale=2) > 2 * image_bytes(10, 3, 32)
    True
    """
    pixels = n * channels * resolution * resolution
    if grid_scale is None:
        return 4 * pixels
    padded = n * channels * (resolution + 2) ** 2  # the grid leaves a 2-pixel gap per image
    return 4 * pixels + 8 * pixels + padded * (2 + 2 * grid_scale ** 2)


def estimate_bytes(G: nn.Module, D: nn.Module | None = None, *, batch: int,
                   training: bool = False, outputs: int = 0) -> int:
    """The peak memory of running ``batch`` samples at once through G (and D on its images),
    plus ``outputs`` further bytes (images kept, latents, loss curves, a draw besides the batch:
    :func:`forward_bytes`).

    Without ``training``: the weights and buffers, and ``batch`` times :func:`activation_bytes`.
    With it: the weights and buffers of G, of its EMA and of D, Adam's two moments of every
    weight, the gradients, and the training step's other tensors (:func:`step_bytes`: the
    activations, the spectral-normalised weights, the backward's temporaries) counted twice,
    since the allocator keeps a step's freed memory and the next step's tensors are laid
    partly beside it (measured on a CPU over 2 to 12 steps: 0.4 to 0.85 of a step's other
    tensors beyond the step's own peak).

    Parameters
    ----------
    G, D : torch.nn.Module
        The models, built on any device (the ``meta`` device too: nothing is allocated here).
    batch : int
        The samples that run at once.
    training : bool
        Count a training step (D is then needed).
    outputs : int
        Bytes kept besides the models' (e.g. :func:`image_bytes`).

    Returns
    -------
    int

    Examples
    --------
    >>> from ylg.models import Discriminator, Generator
    >>> kw = dict(resolution=32, width=4, channels=1, attention="none")
    >>> G, D = Generator(**kw), Discriminator(**kw)
    >>> weights = sum(p.numel() * 4 for m in (G, D) for p in m.parameters())
    >>> small, large = (estimate_bytes(G, D, batch=b, training=True) for b in (8, 64))
    >>> 4 * weights < small < large
    True
    """
    g_params, g_buffers = _sizes(G)
    d_params, d_buffers = (0, 0) if D is None else _sizes(D)
    if not training:
        return g_params + g_buffers + d_params + d_buffers + batch * activation_bytes(G, D) + \
            outputs
    if D is None:
        raise InvalidArgument("a training estimate needs D")
    # G, its EMA and D, and Adam's two moments of every weight
    kept = 2 * (g_params + g_buffers) + d_params + d_buffers + 2 * (g_params + d_params)
    grads = g_params + d_params
    others = max(0, step_bytes(G, D, batch) - grads)
    return kept + grads + 2 * others + outputs


def _sizes(model: nn.Module) -> tuple[int, int]:
    """The bytes of ``model``'s parameters and of its buffers."""
    return (sum(p.numel() * p.element_size() for p in model.parameters()),
            sum(b.numel() * b.element_size() for b in model.buffers()))


def check_samples(G: nn.Module, n: int, *, batch: int, what: str,
                  images: int | None = None) -> None:
    """Refuse drawing ``n`` images from ``G``, ``batch`` at a time, when they cannot fit.

    Counts G, its activations for a batch (:func:`estimate_bytes`), and what is kept: the ``n``
    images (``images`` bytes, or ``n`` float32 outputs of G), latents and labels. ``what`` names
    the job in the message (:func:`check_memory`).

    Examples
    --------
    >>> from ylg.models import Generator
    >>> G = Generator(resolution=32, width=4, channels=1, attention="none")
    >>> check_samples(G, 64, batch=64, what="drawing 64 samples")
    """
    z_dim = cast(int, G.z_dim)
    kept = (n * output_bytes(G) if images is None else images) + n * (4 * z_dim + 8)
    param = next(G.parameters(), None)
    check_memory(what, estimate_bytes(G, batch=min(n, batch), outputs=kept),
                 None if param is None else param.device)


def peak_memory() -> int:
    """This process's peak resident memory so far, in bytes (0 where unknown).

    Examples
    --------
    >>> peak_memory() > 0
    True
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux counts kilobytes
