"""The flex backend of :class:`ylg.attention.Attention2d`: a mask set as a FlexAttention
``BlockMask`` (:func:`flex_mask`) and the forward with it (:func:`flex_attend`).

FlexAttention is the route for GPUs; on CPU torch 2.13 runs its forward only, so a call that
needs its gradient there is refused with :class:`FlexUnsupported` (one line, before any work).

A block-sparse kernel computes every ``128 x 128`` block that holds an allowed pair, so the token
order matters: :func:`token_order` takes the order ``ylg-masks order`` ranks first
(:func:`ifg.blocks.order`), :func:`ordered_flex_mask` exports the block mask in it, and the
layer's flex backend runs in it (queries and keys renumbered, the output put back).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import scipy.sparse as sp
import torch

from ifg.errors import InvalidArgument

if TYPE_CHECKING:
    from ifg.maskset import MaskSet

__all__ = ["FlexUnsupported", "flex_mask", "flex_attend", "token_order", "TokenOrder",
           "ordered_flex_mask", "OrderedFlexMask"]

#: FlexAttention's default block side
FLEX_BLOCK = 128


class FlexUnsupported(InvalidArgument):
    """The flex backend asked for something FlexAttention cannot do here (CPU backward)."""


def row_table(masks: list[sp.csr_matrix]) -> tuple[np.ndarray, np.ndarray]:
    """The masks' distinct rows and where each (head, query) finds its row.

    Returns ``table`` (R, Nk) bool and ``index`` (heads, Nq) int64 with
    ``masks[h][q] == table[index[h, q]]``. The tilings copy each key-grid row to several queries,
    so R is at most ``heads * Nk`` for them: the table stays small where a dense
    ``(heads, Nq, Nk)`` mask would not.
    """
    rows: dict[bytes, int] = {}
    index = np.empty((len(masks), masks[0].shape[0]), dtype=np.int64)
    for h, m in enumerate(masks):
        m = m.tocsr()
        m.sort_indices()
        for q in range(m.shape[0]):
            keys = m.indices[m.indptr[q]:m.indptr[q + 1]].tobytes()
            index[h, q] = rows.setdefault(keys, len(rows))
    table = np.zeros((len(rows), masks[0].shape[1]), dtype=np.bool_)
    for keys, r in rows.items():
        table[r, np.frombuffer(keys, dtype=masks[0].indices.dtype)] = True
    return table, index


def _flex_mask(table: torch.Tensor, index: torch.Tensor
               ) -> tuple[Any, Callable[..., torch.Tensor]]:
    """A FlexAttention ``(block_mask, mask_mod)`` for a row table (see :func:`row_table`)."""
    from torch.nn.attention.flex_attention import create_block_mask

    def mask_mod(b: torch.Tensor, h: torch.Tensor, q: torch.Tensor, kv: torch.Tensor
                 ) -> torch.Tensor:
        return table[index[h, q], kv]

    heads, nq = index.shape
    block_mask = create_block_mask(mask_mod, B=None, H=heads, Q_LEN=nq, KV_LEN=table.shape[1],
                                   device=table.device)
    return block_mask, mask_mod


def flex_mask(masks: MaskSet, device: str | torch.device = "cpu"
              ) -> tuple[Any, Callable[..., torch.Tensor]]:
    """A mask set as a FlexAttention ``BlockMask`` and its ``mask_mod``.

    Every head keeps its own mask; any tiling and key pooling works, since the mask set already
    holds the ``(Nq, Nk)`` masks (queries on the query grid, keys on the pooled key grid).

    Parameters
    ----------
    masks : MaskSet
        A validated mask set (:mod:`ifg.maskset`).
    device : str or torch.device
        Where the block mask and the tensors ``mask_mod`` reads live.

    Returns
    -------
    block_mask : torch.nn.attention.flex_attention.BlockMask
        Of shape ``(1, heads, Nq, Nk)`` (one for the whole batch).
    mask_mod : callable
        ``mask_mod(b, h, q, kv)``: True where query ``q`` of head ``h`` may attend key ``kv``.

    Examples
    --------
    >>> from ifg.maskset import preset
    >>> ms = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    >>> block_mask, mask_mod = flex_mask(ms)
    >>> block_mask.shape
    (1, 8, 64, 16)
    >>> bool(mask_mod(0, 0, torch.tensor(5), torch.tensor(3))) == bool(ms.masks[0][5, 3])
    True
    """
    table, index = row_table([sp.csr_matrix(m, dtype=bool) for m in masks.masks])
    return _flex_mask(torch.from_numpy(table).to(device), torch.from_numpy(index).to(device))


@dataclass
class TokenOrder:
    """Queries and keys renumbered in an enumeration: ``query_rank[p]`` (``key_rank[p]``) is
    the token index of grid position ``p`` on the query (key) grid."""

    enumeration: str
    query_rank: np.ndarray
    key_rank: np.ndarray

    def row_table(self, masks: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """:func:`row_table` of the ``(Nq, Nk)`` masks (a mask set's ``masks``) with their
        queries and keys in this order."""
        q_tokens, k_tokens = np.argsort(self.query_rank), np.argsort(self.key_rank)
        return row_table([sp.csr_matrix(m, dtype=bool)[q_tokens][:, k_tokens] for m in masks])

    def tensors(self, device: str | torch.device = "cpu") -> tuple[torch.Tensor, ...]:
        """``(query_tokens, key_tokens, query_rank, key_rank)`` as int64 tensors, the
        ``tokens`` of :func:`flex_attend` (``query_tokens[i]``: the grid position of token i)."""
        arrays = (np.argsort(self.query_rank), np.argsort(self.key_rank), self.query_rank,
                  self.key_rank)
        return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays)


def token_order(masks: MaskSet, order: str = "auto", block: int = FLEX_BLOCK) -> TokenOrder:
    """The token order for a mask set's block mask.

    ``order="auto"`` takes the order with the fewest computed ``block x block`` blocks summed
    over the heads (:func:`ifg.blocks.order`; row-major on a tie); any other name is that
    enumeration on the query grid and on the key grid.

    >>> from ifg.maskset import preset
    >>> t = token_order(preset("ylg", key_grid=(4, 4), query_grid=(8, 8)))
    >>> t.enumeration, t.query_rank.shape, t.key_rank.shape
    ('rowmajor', (64,), (16,))
    """
    from ifg.blocks import ORDERS
    from ifg.blocks import order as rank_orders
    from ifg.enumerations import enumeration

    if order == "auto":  # row-major first: it wins a tie (the sort is stable)
        order = rank_orders(masks, block, enumerations=ORDERS).best["enumeration"]
    return TokenOrder(order, enumeration(order, tuple(masks.query_grid)),
                      enumeration(order, tuple(masks.key_grid)))


def _to_tokens(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               tokens: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """q, k, v (dimension -2) renumbered into the order of ``tokens``
    (:meth:`TokenOrder.tensors`)."""
    return q.index_select(-2, tokens[0]), k.index_select(-2, tokens[1]), v.index_select(
        -2, tokens[1])


@dataclass
class OrderedFlexMask:
    """A mask set as a FlexAttention ``BlockMask`` over its tokens in a chosen order.

    ``tokens`` is :meth:`TokenOrder.tensors`; :meth:`attend` renumbers ``q, k, v`` (their
    dimension -2) into the order, calls ``flex_attention`` with the block mask, and puts the
    output back in grid positions."""

    enumeration: str
    block_mask: Any
    mask_mod: Callable[..., torch.Tensor]
    tokens: tuple[torch.Tensor, ...]

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
               kernel: Callable[..., torch.Tensor] | None = None, **kwargs: Any) -> torch.Tensor:
        """``kernel(q, k, v, block_mask=..., **kwargs)`` with the tokens renumbered; the kernel
        is torch's ``flex_attention`` unless given (a compiled one, say)."""
        from torch.nn.attention.flex_attention import flex_attention

        call: Callable[..., torch.Tensor] = kernel or flex_attention
        out = call(*_to_tokens(q, k, v, self.tokens), block_mask=self.block_mask, **kwargs)
        return out.index_select(-2, self.tokens[2])


def ordered_flex_mask(masks: MaskSet, order: str = "auto", *, block: int = FLEX_BLOCK,
                      device: str | torch.device = "cpu") -> OrderedFlexMask:
    """A mask set as a FlexAttention ``BlockMask`` in the token order with the fewest computed
    blocks (``order="auto"``, what ``ylg-masks order`` ranks first) or a named one.

    >>> from ifg.maskset import preset
    >>> ms = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    >>> fm = ordered_flex_mask(ms, "manhattan")
    >>> q, (k, v) = torch.randn(1, 8, 64, 4), torch.randn(2, 1, 8, 16, 4)
    >>> import warnings; warnings.simplefilter("ignore")
    >>> block_mask, _ = flex_mask(ms)
    >>> from torch.nn.attention.flex_attention import flex_attention
    >>> bool(torch.allclose(fm.attend(q, k, v), flex_attention(q, k, v, block_mask=block_mask),
    ...                     atol=1e-5))
    True
    """
    tokens = token_order(masks, order, block)
    table, index = tokens.row_table(masks.masks)
    block_mask, mask_mod = _flex_mask(torch.from_numpy(table).to(device),
                                      torch.from_numpy(index).to(device))
    return OrderedFlexMask(tokens.enumeration, block_mask, mask_mod, tokens.tensors(device))


def flex_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, table: torch.Tensor,
                index: torch.Tensor, cache: dict[str, tuple[Any, Callable[..., torch.Tensor]]],
                return_attention: bool = False,
                tokens: tuple[torch.Tensor, ...] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """FlexAttention with unscaled logits over the masks of a row table (:func:`row_table`).

    Parameters
    ----------
    q, k, v : torch.Tensor
        ``(b, heads, Nq, d)``, ``(b, heads, Nk, d)``, ``(b, heads, Nk, e)``.
    table, index : torch.Tensor
        The row table, ``(R, Nk)`` bool and ``(heads, Nq)`` int64, on the device of ``q``; of
        the tokens in their order when ``tokens`` is given.
    cache : dict
        The block masks built so far, by device; the one for ``q``'s device is added on first use.
    return_attention : bool
        Also return the ``(b, heads, Nq, Nk)`` maps (computed densely: only for looking at them).
    tokens : tuple of torch.Tensor, optional
        :meth:`TokenOrder.tensors`: the tensors are renumbered into the order, and the output
        (and maps) put back.

    Raises
    ------
    FlexUnsupported
        On CPU, when the call needs a gradient (FlexAttention has no CPU backward).
    """
    from torch.nn.attention.flex_attention import flex_attention

    if (q.device.type == "cpu" and torch.is_grad_enabled()
            and (q.requires_grad or k.requires_grad or v.requires_grad)):
        raise FlexUnsupported("backend 'flex' cannot train on CPU (FlexAttention has no CPU "
                              "backward): use backend 'sparse' or 'dense', or torch.no_grad()")
    key = str(q.device)
    if key not in cache:
        cache[key] = _flex_mask(table, index)
    if tokens is not None:
        q, k, v = _to_tokens(q, k, v, tokens)
    with warnings.catch_warnings():  # eager CPU flex warns that it is not compiled
        warnings.simplefilter("ignore", UserWarning)
        o = flex_attention(q.contiguous(), k.contiguous(), v.contiguous(),
                           block_mask=cache[key][0], scale=1.0)
    attention = None
    if return_attention:
        logits = (q @ k.transpose(-1, -2)).masked_fill(~table[index], float("-inf"))
        attention = logits.softmax(dim=-1)
    if tokens is not None:
        o = o.index_select(2, tokens[2])
        if attention is not None:
            attention = attention.index_select(2, tokens[2]).index_select(3, tokens[3])
    return o, attention
