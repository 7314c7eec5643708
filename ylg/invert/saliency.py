"""Saliency of the discriminator's attention heads: which keys its queries attend, per head.

The ``ylg`` inversion loss (:mod:`ylg.invert`) weights the distance between ``D0`` features by
these maps, and the attention-map figures (:mod:`ylg.invert.jobs`) draw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ifg.errors import InvalidArgument

if TYPE_CHECKING:
    from ylg.attention import Attention2d
    from ylg.models.sagan import Discriminator

__all__ = ["default_heads", "key_counts", "saliency_maps", "discriminator_saliency",
           "uniform_saliency", "map_difference", "attention_uniformity", "mask_deviation",
           "mask_note", "MASK_LIKE"]

#: a saliency map within this relative difference of the mask's own map (attention uniform
#: over the allowed keys) is a picture of the mask rather than of the image
MASK_LIKE = 0.05


def default_heads(D: Discriminator) -> tuple[int, ...]:
    """The published head selection for the ``ylg`` loss: the ``rtl`` heads of a YLG layer.

    A dense layer (SAGAN, one or eight heads) and a mask set without ``rtl`` heads use all their
    heads; a discriminator without attention has none.

    Examples
    --------
    >>> from ylg.models import Discriminator
    >>> default_heads(Discriminator(resolution=32, width=16, channels=1, attention="ylg"))
    (0, 1, 2, 3)
    >>> default_heads(Discriminator(resolution=32, width=4, channels=1, attention="dense"))
    (0,)
    """
    layer = D.attention
    if layer is None:
        return ()
    if layer.masks is not None:
        rtl = tuple(h for h, head in enumerate(layer.masks.heads) if head.pattern == "rtl")
        if rtl:
            return rtl
    return tuple(range(layer.heads))


def key_counts(layer: Attention2d) -> torch.Tensor:
    """How many queries may attend each key, per head: ``(heads, Nk)``, float.

    Dense heads: every query (``Nq``). Masked heads: the column sums of each head's mask.

    Examples
    --------
    >>> from ylg.attention import Attention2d
    >>> from ifg.maskset import preset
    >>> layer = Attention2d(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)))
    >>> c = key_counts(layer)
    >>> tuple(c.shape), int(c.sum(1)[0]) == int(layer.masks.masks[0].nnz)
    ((8, 16), True)
    """
    if layer.masks is None:
        raise InvalidArgument("a dense layer needs the grid sizes: every query attends every key "
                              "(pass counts=None to saliency_maps)")
    counts = np.stack([np.asarray(m.sum(axis=0), dtype=np.float64).ravel()
                       for m in layer.masks.masks])
    return torch.from_numpy(counts).float()


def saliency_maps(attention: torch.Tensor, *, key_grid: tuple[int, int],
                  counts: torch.Tensor | None = None,
                  size: tuple[int, int] | None = None) -> torch.Tensor:
    """Per-head saliency: each key's mean attention over the queries allowed to attend it.

    Parameters
    ----------
    attention : torch.Tensor, (b, heads, Nq, Nk)
        Attention maps (rows sum to 1; masked entries 0), keys row-major on ``key_grid``.
    key_grid : tuple (kh, kw)
    counts : torch.Tensor, (heads, Nk), optional
        Queries allowed to attend each key (:func:`key_counts`); None: dense, all ``Nq``.
        A key no query may attend gets saliency 0.
    size : tuple (h, w), optional
        Upsample (nearest) to this grid, e.g. ``D0``'s.

    Returns
    -------
    torch.Tensor, (b, heads, kh, kw) or (b, heads, h, w)

    Examples
    --------
    >>> uniform = torch.full((1, 1, 16, 4), 0.25)  # 16 queries, 4 keys on a 2x2 grid
    >>> saliency_maps(uniform, key_grid=(2, 2), size=(4, 4))[0, 0]
    tensor([[0.2500, 0.2500, 0.2500, 0.2500],
            [0.2500, 0.2500, 0.2500, 0.2500],
            [0.2500, 0.2500, 0.2500, 0.2500],
            [0.2500, 0.2500, 0.2500, 0.2500]])
    """
    b, heads, nq, nk = attention.shape
    kh, kw = key_grid
    if kh * kw != nk:
        raise InvalidArgument(f"key_grid {kh}x{kw} does not hold the attention's {nk} keys")
    received = attention.sum(dim=2)  # (b, heads, nk)
    if counts is None:
        s = received / nq
    else:
        counts = torch.as_tensor(counts, dtype=received.dtype, device=received.device)
        if counts.shape != (heads, nk):
            raise InvalidArgument(f"counts must have shape ({heads}, {nk}), got "
                                  f"{tuple(counts.shape)}")
        s = torch.where(counts > 0, received / counts.clamp(min=1), torch.zeros_like(received))
    s = s.reshape(b, heads, kh, kw)
    if size is not None and tuple(size) != (kh, kw):
        s = F.interpolate(s, size=tuple(size), mode="nearest")
    return s


def _features_and_attention(D: Discriminator, x: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """``D0(x)`` ``(b, c, a, a)`` and D's attention on it ``(b, heads, Nq, Nk)``."""
    f = D.features_before_attention(x)
    _, attn = check_attention(D)(f, return_attention=True)
    return f, attn


@torch.no_grad()
def discriminator_saliency(D: Discriminator, x: torch.Tensor, *,
                           heads: Sequence[int] | None = None) -> torch.Tensor:
    """Saliency maps of D's attention layer on images ``x``, at ``D0``'s grid.

    Parameters
    ----------
    D : ylg.models.Discriminator
        With an attention layer.
    x : torch.Tensor, (b, c, res, res) in [-1, 1]
    heads : sequence of int, optional
        Which heads (default: all).

    Returns
    -------
    torch.Tensor, (b, len(heads), a, a)

    Examples
    --------
    >>> from ylg.models import Discriminator
    >>> D = Discriminator(resolution=32, width=16, channels=1, attention="ylg").eval()
    >>> discriminator_saliency(D, torch.zeros(2, 1, 32, 32), heads=(0, 1)).shape
    torch.Size([2, 2, 16, 16])
    """
    layer = check_attention(D)
    heads = check_heads(heads, layer.heads)
    f, attn = _features_and_attention(D, x)
    counts = None if layer.masks is None else key_counts(layer).to(attn.device)
    a = f.shape[-2:]
    key_grid = (a[0] // layer.pool, a[1] // layer.pool)
    s = saliency_maps(attn, key_grid=key_grid, counts=counts, size=(a[0], a[1]))

    return s[:, list(heads)]


def _row_counts(layer: Attention2d, nq: int, nk: int) -> torch.Tensor:
    """How many keys each query may attend, per head: ``(heads, Nq)``, float."""
    if layer.masks is None:
        return torch.full((layer.heads, nq), float(nk))
    return torch.from_numpy(np.stack([np.diff(m.indptr) for m in layer.masks.masks])).float()


def uniform_saliency(layer: Attention2d, *, key_grid: tuple[int, int],
                     size: tuple[int, int] | None = None) -> torch.Tensor:
    """The saliency maps of attention uniform over each query's allowed keys: a picture of the
    mask, what :func:`saliency_maps` gives when the logits carry nothing of the image.

    Returns
    -------
    torch.Tensor, (heads, kh, kw) or (heads, h, w)

    Examples
    --------
    >>> from ylg.attention import Attention2d
    >>> from ifg.maskset import preset
    >>> layer = Attention2d(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)))
    >>> tuple(uniform_saliency(layer, key_grid=(4, 4), size=(8, 8)).shape)
    (8, 8, 8)
    """
    nk = key_grid[0] * key_grid[1]
    nq = nk * layer.pool ** 2
    if layer.masks is None:
        attention = torch.full((1, layer.heads, nq, nk), 1.0 / nk)
        return saliency_maps(attention, key_grid=key_grid, size=size)[0]
    rows = _row_counts(layer, nq, nk).double()
    received = np.stack([np.asarray(m.multiply(1.0 / rows[h].numpy()[:, None]).sum(axis=0))
                         .ravel() for h, m in enumerate(layer.masks.masks)])
    counts = key_counts(layer).double()
    s = torch.where(counts > 0, torch.from_numpy(received) / counts.clamp(min=1), 0.0)
    s = s.float().reshape(1, layer.heads, *key_grid)
    if size is not None and tuple(size) != tuple(key_grid):
        s = F.interpolate(s, size=tuple(size), mode="nearest")
    return s[0]


def map_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """The relative difference of maps ``a`` from ``b``: ``mean |a - b| / mean |b|`` (0: equal).

    Examples
    --------
    >>> map_difference(torch.tensor([1.0, 1.1]), torch.tensor([1.0, 1.0]))
    0.05000...
    """
    b = b.expand_as(a)
    return float((a - b).abs().mean() / b.abs().mean().clamp(min=1e-30))


def mask_deviation(layer: Attention2d, maps: torch.Tensor) -> list[float]:
    """Each head's relative difference (:func:`map_difference`) between saliency maps and the
    mask's own map (:func:`uniform_saliency`): near 0, the map pictures the mask, not the image.

    Parameters
    ----------
    layer : Attention2d
    maps : torch.Tensor, (b, heads, a, a)
        :func:`discriminator_saliency` of every head of ``layer``, at ``D0``'s grid ``a``.

    Returns
    -------
    list of float, one per head
    """
    a = maps.shape[-2:]
    mask = uniform_saliency(layer, key_grid=(a[0] // layer.pool, a[1] // layer.pool),
                            size=(a[0], a[1])).to(maps.device)
    return [map_difference(maps[:, h], mask[h]) for h in range(maps.shape[1])]


def mask_note(deviations: Sequence[float]) -> str:
    """How to read saliency maps whose heads are ``deviations`` (:func:`mask_deviation`) off
    the mask's own map: one line for a figure.

    Examples
    --------
    >>> mask_note([0.002, 0.004])
    "D's saliency is within 0.40% of its mask's own map (attention uniform over the allowed keys): a picture of the mask, not of the image"
    """
    top = max(deviations)
    if top < MASK_LIKE:
        return (f"D's saliency is within {top:.2%} of its mask's own map (attention uniform "
                f"over the allowed keys): a picture of the mask, not of the image")
    return (f"D's saliency differs from its mask's own map (attention uniform over the allowed "
            f"keys) by {min(deviations):.2%} to {top:.2%}")


def attention_uniformity(layer: Attention2d, attention: torch.Tensor) -> dict[str, float]:
    """How far attention maps are from uniform over each query's allowed keys.

    Each allowed weight ``a`` of a query with ``n`` allowed keys gives ``n a - 1`` (0: exactly
    uniform); returned are the mean of its size and its largest size.

    Parameters
    ----------
    layer : Attention2d
    attention : torch.Tensor, (b, heads, Nq, Nk)

    Returns
    -------
    dict
        ``mean`` and ``max``, fractions (0.037 is 3.7 %).
    """
    b, heads, nq, nk = attention.shape
    rows = _row_counts(layer, nq, nk).to(attention.device)  # (heads, nq)
    if layer.masks is None:
        allowed = torch.ones(heads, nq, nk, dtype=torch.bool, device=attention.device)
    else:
        allowed = torch.from_numpy(layer.masks.to_dense()).to(attention.device)
    deviation = (attention * rows[None, :, :, None] - 1).abs()[allowed.expand_as(attention)]
    return {"mean": float(deviation.mean()), "max": float(deviation.max())}


def check_attention(D: Discriminator) -> Attention2d:
    if D.attention is None:
        raise InvalidArgument("the discriminator has no attention layer, so it has no saliency "
                              "maps: the ylg method needs them (use discriminator or pixel)")
    return D.attention


def check_heads(heads: Sequence[int] | None, n: int) -> tuple[int, ...]:
    if heads is None:
        return tuple(range(n))
    heads = tuple(heads)
    if not heads or any(isinstance(h, bool) or not isinstance(h, int) or not 0 <= h < n
                        for h in heads):
        raise InvalidArgument(f"heads must be indices in 0..{n - 1}, got {list(heads)!r}")
    return heads
