"""Memory estimates for the commands that run a model: a size that cannot fit is refused before
anything is allocated, with what it would need.

One estimator serves ``ylg train``, ``sample``, ``interpolate``, ``evaluate``, ``invert`` and
``attention-map`` (:func:`estimate_bytes`): the models' parameters (five copies of G's and four
of D's when training: weights, gradients, Adam's two moments, and the EMA of G), plus the
activations of the samples that run at once, plus the images kept. The activations of one
sample are what autograd keeps for the backward pass through G and D, counted by running the
models once on PyTorch's ``meta`` device, which allocates nothing (:func:`activation_bytes`).
Training counts them twice (D also sees the real half of its batch). An upper bound, measured
on a CPU: for two training steps at widths 16-32, batches 32-128, 32x32 and 64x64, the estimate
was 1.35 to 2.0 times the peak resident memory the steps added.

The limit is the machine's memory, or its cgroup's limit when that is smaller, or on a CUDA
device that GPU's memory (:func:`memory_limit`); the ``YLG_MAX_MEMORY`` environment variable replaces it (bytes, or a
number with K, M, G or T: ``64G``).
"""

from __future__ import annotations

import itertools
import math
import os
import resource
import sys
import weakref
from typing import cast

import torch
from torch import nn

from ifg.errors import InvalidArgument
from ifg.memory import format_bytes

__all__ = ["ENV", "memory_limit", "check_memory", "activation_bytes", "output_bytes",
           "image_bytes", "estimate_bytes", "check_samples", "peak_memory"]

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


def _meta_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's parameters and buffers as meta tensors of the same shapes (no memory)."""
    named = itertools.chain(model.named_parameters(), model.named_buffers())
    return {name: torch.empty_like(t, device="meta") for name, t in named}


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


#: per G, per id of D (0: none): the bytes per sample of activations and of G's output
_PER_SAMPLE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _per_sample(G: nn.Module, D: nn.Module | None) -> tuple[int, int]:
    known = _PER_SAMPLE.setdefault(G, {})
    key = 0 if D is None else id(D)
    if key not in known:
        try:
            (one, _), (two, out) = _trace(G, D, 1), _trace(G, D, 2)
            known[key] = max(0, two - one), 4 * out // 2  # the weights cancel; float32 images
        except Exception:  # noqa: BLE001 - an estimate: a model the meta device cannot run
            known[key] = 0, 0
    return known[key]


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
    plus ``outputs`` further bytes kept (images, latents, loss curves).

    Parameters
    ----------
    G, D : torch.nn.Module
        The models, built on any device (the ``meta`` device too: nothing is allocated here).
    batch : int
        The samples that run at once.
    training : bool
        Count the gradients, Adam's two moments, the EMA of G, and D's real half of a batch.
    outputs : int
        Bytes kept besides the models' (e.g. :func:`image_bytes`).

    Returns
    -------
    int

    Examples
    --------
    >>> from ylg.models import Generator
    >>> G = Generator(resolution=32, width=4, channels=1, attention="none")
    >>> estimate_bytes(G, batch=64, training=True) > estimate_bytes(G, batch=64)
    True
    """
    g_params = sum(p.numel() * p.element_size() for p in G.parameters())
    d_params = 0 if D is None else sum(p.numel() * p.element_size() for p in D.parameters())
    params = 5 * g_params + 4 * d_params if training else g_params + d_params
    activations = batch * activation_bytes(G, D) * (2 if training else 1)
    return params + activations + outputs


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
