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

__all__ = ["default_heads", "key_counts", "saliency_maps", "discriminator_saliency"]


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
