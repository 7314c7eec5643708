"""Reading a mask for :func:`ylg.flex_attention` and for ``ifg``'s analysis: a ``mask_mod``, a
torch ``BlockMask`` or an ``ifg`` Pattern or MaskSet, as the per-(batch, head) boolean CSR masks
``(L, S)`` the plan is compiled from, or as an ``ifg.Pattern`` on a grid
(:func:`from_mask_mod`, :func:`from_block_mask`).

A ``mask_mod`` is evaluated on index tensors that broadcast, ``b (B,1,1,1)``, ``h (1,H,1,1)``,
``q_idx (1,1,c,1)``, ``kv_idx (1,1,1,S)``, a chunk of ``c`` query rows at a time (at most
:data:`CHUNK` entries, small enough to stay in cache), so work on query or key indices alone is
done once per row or column, and the result's shape says whether the mask depends on the batch
or the head. A function that does not broadcast (a Python ``if`` on an index, say) is evaluated
through ``torch.vmap``, as torch's ``create_mask`` evaluates every mask_mod. From a ``BlockMask``
only its partial blocks are evaluated (full blocks are all allowed, absent blocks all blocked).
The memory is that of one chunk plus the allowed pairs, which are checked to fit as they come.

This is the one place a mask_mod is evaluated: ``ifg`` never imports torch, so the command line's
``--mask-mod`` comes here for its Pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ifg.errors import InvalidArgument, check_positive_int
from ifg.memory import BYTES_PER_EDGE, check_fits
from ifg.pattern import Pattern
from ylg.attention.kernels import one_thread

__all__ = ["CHUNK", "MaskMod", "call_mask_mod", "indices", "mask_mod_rows", "block_mask_rows",
           "maskset_rows", "from_mask_mod", "from_block_mask"]

#: the most mask entries (booleans) one ``mask_mod`` call evaluates: a chunk of 2**20 stays in
#: the cache and was the fastest of 2**16 ... 2**22 for a 7 x 7 window at 256 x 256
CHUNK = 1 << 20

MaskMod = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _label(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def _vmapped(mask_mod: MaskMod, b: torch.Tensor, h: torch.Tensor, q: torch.Tensor,
             kv: torch.Tensor, shape: tuple[int, ...]) -> Any:
    """``mask_mod`` one element at a time under ``torch.vmap``, on the indices broadcast to
    ``shape`` (for a function written for scalar indices, as torch's ``create_mask`` calls it)."""
    flat = [t.reshape(-1) for t in torch.broadcast_tensors(b, h, q, kv)]
    out = torch.vmap(mask_mod, in_dims=(0, 0, 0, 0))(*flat)
    return out.view(shape) if isinstance(out, torch.Tensor) else out


def call_mask_mod(mask_mod: MaskMod, b: torch.Tensor, h: torch.Tensor, q: torch.Tensor,
                   kv: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``mask_mod(b, h, q, kv)``, checked to be a boolean tensor that broadcasts to ``shape``;
    through ``torch.vmap`` when the function does not take broadcasting indices."""
    try:
        out = mask_mod(b, h, q, kv)
    except Exception as first:  # the user's function: any failure becomes one clear error
        try:
            out = _vmapped(mask_mod, b, h, q, kv, shape)
        except Exception:  # noqa: BLE001 - report the function's own first error
            raise InvalidArgument(f"mask_mod {_label(mask_mod)} raised {type(first).__name__}: "
                                  f"{first} (called with broadcasting int32 index tensors "
                                  f"b, h, q_idx, kv_idx, then under torch.vmap)") from None
    if not isinstance(out, torch.Tensor) or out.dtype != torch.bool:
        got = f"a {out.dtype} tensor" if isinstance(out, torch.Tensor) else type(out).__name__
        raise InvalidArgument(f"mask_mod {_label(mask_mod)} must return a boolean tensor, got "
                              f"{got}")
    if out.dim() > len(shape) or any(
            n not in (1, m) for n, m in zip(out.shape[::-1], shape[::-1])):
        raise InvalidArgument(f"mask_mod {_label(mask_mod)} returned shape {tuple(out.shape)} "
                              f"for index tensors that broadcast to {shape}")
    return out


def indices(B: int, H: int, rows: torch.Tensor, S: int, *, b0: int = 0, h0: int = 0
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index tensors that broadcast to ``(B, H, len(rows), S)``, int32 as torch's are; the batch
    and head indices start at ``b0`` and ``h0``."""
    i32 = torch.int32
    return (torch.arange(b0, b0 + B, dtype=i32).view(B, 1, 1, 1),
            torch.arange(h0, h0 + H, dtype=i32).view(1, H, 1, 1),
            rows.to(i32).view(1, 1, -1, 1), torch.arange(S, dtype=i32).view(1, 1, 1, S))


class _Pairs:
    """Allowed (row, column) pairs, gathered in two buffers that double as they fill.

    Not a list of small arrays, one a chunk: thousands of those, kept between the chunk's
    megabyte temporaries, fragment the C heap (a 7 x 7 window at 256 x 256 held 4.2 GB for
    25 MB of pairs); a few large buffers do not."""

    def __init__(self) -> None:
        self.rows = np.empty(1 << 16, dtype=np.int64)
        self.cols = np.empty(1 << 16, dtype=np.int32)
        self.n = 0

    def add(self, rows: torch.Tensor, cols: torch.Tensor) -> None:
        end = self.n + len(rows)
        if end > len(self.rows):
            size = max(end, 2 * len(self.rows))
            for name in ("rows", "cols"):
                old = getattr(self, name)
                new = np.empty(size, dtype=old.dtype)
                new[:self.n] = old[:self.n]
                setattr(self, name, new)
        self.rows[self.n:end] = rows.numpy()
        self.cols[self.n:end] = cols.numpy()
        self.n = end

    def csr(self, shape: tuple[int, int]) -> sp.csr_matrix:
        """The pairs as one boolean CSR matrix."""
        return sp.csr_matrix((np.ones(self.n, dtype=bool),
                              (self.rows[:self.n], self.cols[:self.n])), shape=shape)


def mask_mod_rows(mask_mod: MaskMod, B: int, H: int, L: int, S: int, *, b0: int = 0,
                   h0: int = 0) -> tuple[list[sp.csr_matrix], int, int]:
    """The allowed pairs of ``mask_mod`` over ``(B, H, L, S)``, a chunk of query rows at a time
    (batch indices ``b0 ...``, head indices ``h0 ...``).

    Returns the masks ``(L, S)`` of each ``(b, h)`` the mask depends on, batch-major, and how
    many batches and heads that is (``Bm`` is 1 or ``B``, ``Hm`` 1 or ``H``): the shape of the
    result on broadcasting indices says which the mask reads.

    Raises
    ------
    InvalidArgument
        For a function that raises or returns anything but a boolean tensor of the pairs' shape,
        or allowed pairs that would not fit in memory (projected from the rows read so far).
    """
    with one_thread(True):  # many small elementwise operations: see one_thread
        return _mask_mod_rows(mask_mod, B, H, L, S, b0, h0)


def _mask_mod_rows(mask_mod: MaskMod, B: int, H: int, L: int, S: int, b0: int, h0: int
                   ) -> tuple[list[sp.csr_matrix], int, int]:
    Bm, Hm = 1, 1
    while True:  # a chunk that reads b or h where the first did not starts over, with them
        pairs = _Pairs()
        start, restart = 0, False
        while start < L and not restart:
            stop = min(L, start + max(1, CHUNK // (S * (B * H if start == 0 else Bm * Hm))))
            out = call_mask_mod(mask_mod, *indices(B, H, torch.arange(start, stop), S, b0=b0,
                                                    h0=h0), (B, H, stop - start, S))
            out = out.view((1,) * (4 - out.dim()) + tuple(out.shape))
            restart = start > 0 and (out.shape[0] > Bm or out.shape[1] > Hm)
            Bm, Hm = max(Bm, out.shape[0]), max(Hm, out.shape[1])
            nz = out.expand(Bm, Hm, stop - start, S).nonzero()  # (n, 4): b, h, q, kv
            pairs.add((nz[:, 0] * Hm + nz[:, 1]) * L + nz[:, 2] + start, nz[:, 3])
            check_fits(f"the mask of {_label(mask_mod)} over {Bm * Hm} x {L:,} x {S:,} pairs "
                       f"(projected from {stop:,} of {L:,} queries)",
                       pairs.n * L / stop * BYTES_PER_EDGE)
            start = stop
        if not restart:
            break
    big = pairs.csr((Bm * Hm * L, S))
    return [big[i * L:(i + 1) * L] for i in range(Bm * Hm)], Bm, Hm


def block_mask_rows(block_mask: Any, B: int, H: int, *, only: tuple[int, int] | None = None
                    ) -> tuple[list[sp.csr_matrix], int, int]:
    """The allowed pairs of a torch ``BlockMask``: its full blocks, and its ``mask_mod``
    evaluated within its partial blocks only (a chunk of blocks at a time); of the one
    ``(batch, head)`` given as ``only`` (then ``Bm = Hm = 1``)."""
    with one_thread(True):  # many small elementwise operations: see one_thread
        return _block_mask_rows(block_mask, B, H, only)


def _block_mask_rows(block_mask: Any, B: int, H: int, only: tuple[int, int] | None
                     ) -> tuple[list[sp.csr_matrix], int, int]:
    L, S = block_mask.seq_lengths
    QB, KB = block_mask.BLOCK_SIZE
    kv_num, kv_idx = block_mask.kv_num_blocks, block_mask.kv_indices  # (Bb, Hb, nqb), (.., nkb)
    full_num, full_idx = block_mask.full_kv_num_blocks, block_mask.full_kv_indices
    Bb, Hb = kv_num.shape[0], kv_num.shape[1]
    if Bb not in (1, B) or Hb not in (1, H):
        raise InvalidArgument(f"block_mask was made for B={Bb}, H={Hb}, but the query has "
                              f"B={B}, H={H}")
    mask_mod = block_mask.mask_mod
    if only is None:  # does the mask_mod read b or h? one small call with broadcasting indices
        probe = call_mask_mod(mask_mod, *indices(B, H, torch.arange(min(L, QB)), min(S, KB)),
                               (B, H, min(L, QB), min(S, KB)))
        Bm = B if Bb > 1 or (probe.dim() == 4 and probe.shape[0] > 1) else 1
        Hm = H if Hb > 1 or (probe.dim() == 4 and probe.shape[1] > 1) else 1
    q_off, k_off = torch.arange(QB), torch.arange(KB)
    masks = []
    for b, h in [only] if only else [(b, h) for b in range(Bm) for h in range(Hm)]:
        found = _Pairs()
        for num, idx, partial in ((kv_num, kv_idx, True), (full_num, full_idx, False)):
            if num is None:
                continue
            num, idx = num[b % Bb, h % Hb].cpu(), idx[b % Bb, h % Hb].cpu()  # (nqb,), (nqb, m)
            qb = torch.arange(len(num)).view(-1, 1).expand(idx.shape)
            keep = torch.arange(idx.shape[1]).view(1, -1) < num.view(-1, 1)
            qb, kb = qb[keep], idx[keep].long()  # the blocks, (P,)
            step = max(1, CHUNK // (QB * KB))
            for s in range(0, len(qb), step):
                q = (qb[s:s + step] * QB).view(-1, 1, 1) + q_off.view(1, -1, 1)  # (p, QB, 1)
                kv = (kb[s:s + step] * KB).view(-1, 1, 1) + k_off.view(1, 1, -1)  # (p, 1, KB)
                inside = (q < L) & (kv < S)
                if partial:
                    shape = (len(q), QB, KB)
                    allowed = call_mask_mod(
                        mask_mod, torch.tensor(b, dtype=torch.int32),
                        torch.tensor(h, dtype=torch.int32), q.clamp(max=L - 1).int(),
                        kv.clamp(max=S - 1).int(), shape)
                    inside = inside & allowed
                p, i, j = inside.expand(len(q), QB, KB).nonzero().unbind(1)
                found.add(q[p, i, 0], kv[p, 0, j])
        masks.append(found.csr((L, S)))
    return (masks, 1, 1) if only else (masks, Bm, Hm)


def maskset_rows(source: Any, H: int
                 ) -> tuple[list[sp.csr_matrix], tuple[int, int] | None, np.ndarray | None]:
    """The per-head masks of an ``ifg`` Pattern (its steps) or MaskSet, their query grid, and
    the query order the masks were designed in (their enumeration's; None for row-major): a
    1-D design laid out by ESA is compact again in that order."""
    from ifg.maskset import MaskSet
    from ylg.attention.plan import design_order, query_order

    grid: tuple[int, ...] | None
    if isinstance(source, MaskSet):
        masks, grid = list(source.masks), tuple(source.query_grid)
        order = query_order(source)
    else:
        assert isinstance(source, Pattern)
        masks, grid, order = list(source.steps), source.grid, source.order
    if len(masks) not in (1, H):
        raise InvalidArgument(f"block_mask has {len(masks)} heads (masks), but the query has "
                              f"{H} heads: give one mask or one per head")
    return [sp.csr_matrix(m, dtype=bool) for m in masks], (None if grid is None else
                                                           (int(grid[0]), int(grid[1]))), \
        design_order(order)


def _grid(grid: tuple[int, int]) -> tuple[int, int, int]:
    h = check_positive_int("grid height", grid[0])
    w = check_positive_int("grid width", grid[1])
    return h, w, h * w


def from_mask_mod(mask_mods: MaskMod | Sequence[MaskMod], grid: tuple[int, int], *,
                  batch: int = 0, head: int = 0, name: str | None = None,
                  enumeration: str = "rowmajor") -> Pattern:
    """An ``ifg`` pattern whose steps are FlexAttention ``mask_mod`` functions on a grid.

    Parameters
    ----------
    mask_mods : callable or sequence of callables
        One per step (layer): ``mask_mod(b, h, q_idx, kv_idx) -> bool tensor``.
    grid : tuple (h, w)
        Tokens are the row-major pixels, ``N = h * w`` (queries and keys).
    batch, head : int
        The ``b`` and ``h`` passed to the functions.
    name : str, optional
        The pattern's label (default: the functions' names joined by ``/``).
    enumeration : str
        The token order recorded as the pattern's ``rank`` (for block counts).

    Raises
    ------
    InvalidArgument
        For a function that raises or returns anything but a boolean tensor of the pairs' shape,
        or a mask that would not fit in memory.

    Examples
    --------
    >>> def window(b, h, q, kv):
    ...     return ((q // 8 - kv // 8).abs() <= 1) & ((q % 8 - kv % 8).abs() <= 1)
    >>> p = from_mask_mod(window, (8, 8))
    >>> p.edges, p.name
    ([484], 'window')
    """
    from ifg.enumerations import enumeration as enumeration_rank

    fns = [mask_mods] if callable(mask_mods) else list(mask_mods)
    if not fns or not all(callable(f) for f in fns):
        raise InvalidArgument("mask_mods must be one or more callables")
    h, w, n = _grid(grid)
    steps = tuple(mask_mod_rows(f, 1, 1, n, n, b0=batch, h0=head)[0][0] for f in fns)
    rank = None if enumeration == "rowmajor" else enumeration_rank(enumeration, (h, w))
    return Pattern(steps, grid=(h, w), enumeration=enumeration,
                   name=name or "/".join(_label(f) for f in fns), rank=rank)


def from_block_mask(block_mask: Any, grid: tuple[int, int], *, batch: int = 0, head: int = 0,
                    name: str | None = None) -> Pattern:
    """The one-step ``ifg`` pattern a torch ``BlockMask`` computes, on a grid.

    What FlexAttention computes: every pair of a full block, and in a partial block the pairs
    its ``mask_mod`` allows. The token order is taken as row-major on ``grid``.

    Raises
    ------
    InvalidArgument
        For a block mask whose sequence lengths are not the grid's ``N``, a batch or head it was
        not made for, or a ``mask_mod`` that raises or returns a non-boolean.
    """
    h, w, n = _grid(grid)
    q_len, kv_len = (int(x) for x in block_mask.seq_lengths)
    if (q_len, kv_len) != (n, n):
        raise InvalidArgument(f"the block mask covers {q_len} queries and {kv_len} keys, but "
                              f"the grid {h}x{w} has {n} positions")
    Bb, Hb = (int(x) for x in block_mask.kv_num_blocks.shape[:2])
    if (Bb > 1 and not 0 <= batch < Bb) or (Hb > 1 and not 0 <= head < Hb):
        raise InvalidArgument(f"the block mask was made for {Bb} batches and {Hb} heads: "
                              f"batch {batch}, head {head} is not one of them")
    masks, _, _ = block_mask_rows(block_mask, Bb, Hb, only=(batch, head))
    return Pattern((masks[0],), grid=(h, w),
                   name=name or f"block-mask:{_label(block_mask.mask_mod)}")
