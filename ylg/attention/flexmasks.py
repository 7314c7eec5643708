"""Reading a mask for :func:`ylg.flex_attention`: a ``mask_mod``, a torch ``BlockMask`` or an
``ifg`` Pattern or MaskSet, as the per-(batch, head) boolean CSR masks ``(L, S)`` the plan is
compiled from.

A ``mask_mod`` is evaluated on index tensors that broadcast, ``b (B,1,1,1)``, ``h (1,H,1,1)``,
``q_idx (1,1,c,1)``, ``kv_idx (1,1,1,S)``, a chunk of ``c`` query rows at a time (at most
:data:`CHUNK` entries), so work on query or key indices alone is done once per row or column, and
the result's shape says whether the mask depends on the batch or the head. From a ``BlockMask``
only its partial blocks are evaluated (full blocks are all allowed, absent blocks all blocked).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ifg.errors import InvalidArgument

__all__ = ["CHUNK", "MaskMod", "call_mask_mod", "indices", "mask_mod_rows", "block_mask_rows",
           "maskset_rows"]

#: the most mask entries (booleans) one ``mask_mod`` call evaluates
CHUNK = 1 << 22

MaskMod = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def call_mask_mod(mask_mod: MaskMod, b: torch.Tensor, h: torch.Tensor, q: torch.Tensor,
                   kv: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``mask_mod(b, h, q, kv)``, checked to be a boolean tensor that broadcasts to ``shape``."""
    name = getattr(mask_mod, "__name__", type(mask_mod).__name__)
    try:
        out = mask_mod(b, h, q, kv)
    except Exception as exc:  # the user's function: any failure becomes one clear error
        raise InvalidArgument(f"mask_mod {name} failed on the index tensors b, h, q_idx, "
                              f"kv_idx (broadcasting int32 tensors): "
                              f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(out, torch.Tensor) or out.dtype != torch.bool:
        got = out.dtype if isinstance(out, torch.Tensor) else type(out).__name__
        raise InvalidArgument(f"mask_mod {name} must return a boolean tensor, got {got}")
    if out.dim() > len(shape) or any(
            n not in (1, m) for n, m in zip(out.shape[::-1], shape[::-1])):
        raise InvalidArgument(f"mask_mod {name} returned shape {tuple(out.shape)} for index "
                              f"tensors that broadcast to {shape}")
    return out


def indices(B: int, H: int, rows: torch.Tensor, S: int
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index tensors that broadcast to ``(B, H, len(rows), S)``, int32 as torch's are."""
    i32 = torch.int32
    return (torch.arange(B, dtype=i32).view(B, 1, 1, 1),
            torch.arange(H, dtype=i32).view(1, H, 1, 1),
            rows.to(i32).view(1, 1, -1, 1), torch.arange(S, dtype=i32).view(1, 1, 1, S))


def mask_mod_rows(mask_mod: MaskMod, B: int, H: int, L: int, S: int
                   ) -> tuple[list[sp.csr_matrix], int, int]:
    """The allowed pairs of ``mask_mod`` over ``(B, H, L, S)``, a chunk of query rows at a time.

    Returns the masks ``(L, S)`` of each ``(b, h)`` the mask depends on, batch-major, and how
    many batches and heads that is (``Bm`` is 1 or ``B``, ``Hm`` 1 or ``H``): the shape of the
    result on broadcasting indices says which the mask reads.
    """
    Bm, Hm = 1, 1
    while True:  # a chunk that reads b or h where the first did not starts over, with them
        coords, start, restart = [], 0, False
        while start < L and not restart:
            stop = min(L, start + max(1, CHUNK // (S * (B * H if start == 0 else Bm * Hm))))
            out = call_mask_mod(mask_mod, *indices(B, H, torch.arange(start, stop), S),
                                 (B, H, stop - start, S))
            out = out.view((1,) * (4 - out.dim()) + tuple(out.shape))
            restart = start > 0 and (out.shape[0] > Bm or out.shape[1] > Hm)
            Bm, Hm = max(Bm, out.shape[0]), max(Hm, out.shape[1])
            nz = out.expand(Bm, Hm, stop - start, S).nonzero()  # (n, 4): b, h, q, kv
            nz[:, 2] += start
            coords.append(nz)
            start = stop
        if not restart:
            break
    pairs = torch.cat(coords).numpy()
    flat = (pairs[:, 0] * Hm + pairs[:, 1]) * L + pairs[:, 2]
    big = sp.csr_matrix((np.ones(len(pairs), dtype=bool), (flat, pairs[:, 3])),
                        shape=(Bm * Hm * L, S))
    return [big[i * L:(i + 1) * L] for i in range(Bm * Hm)], Bm, Hm


def block_mask_rows(block_mask: Any, B: int, H: int) -> tuple[list[sp.csr_matrix], int, int]:
    """The allowed pairs of a torch ``BlockMask``: its full blocks, and its ``mask_mod``
    evaluated within its partial blocks only (a chunk of blocks at a time)."""
    L, S = block_mask.seq_lengths
    QB, KB = block_mask.BLOCK_SIZE
    kv_num, kv_idx = block_mask.kv_num_blocks, block_mask.kv_indices  # (Bb, Hb, nqb), (.., nkb)
    full_num, full_idx = block_mask.full_kv_num_blocks, block_mask.full_kv_indices
    Bb, Hb = kv_num.shape[0], kv_num.shape[1]
    if Bb not in (1, B) or Hb not in (1, H):
        raise InvalidArgument(f"block_mask was made for B={Bb}, H={Hb}, but the query has "
                              f"B={B}, H={H}")
    mask_mod = block_mask.mask_mod
    # does the mask_mod read b or h? one small call with broadcasting indices tells
    probe = call_mask_mod(mask_mod, *indices(B, H, torch.arange(min(L, QB)), min(S, KB)),
                           (B, H, min(L, QB), min(S, KB)))
    Bm = B if Bb > 1 or (probe.dim() == 4 and probe.shape[0] > 1) else 1
    Hm = H if Hb > 1 or (probe.dim() == 4 and probe.shape[1] > 1) else 1
    q_off, k_off = torch.arange(QB), torch.arange(KB)
    masks = []
    for b in range(Bm):
        for h in range(Hm):
            pieces = []
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
                    pieces.append(torch.stack([q[p, i, 0], kv[p, 0, j]], 1))
            nz = torch.cat(pieces).numpy() if pieces else np.zeros((0, 2), dtype=np.int64)
            masks.append(sp.csr_matrix((np.ones(len(nz), dtype=bool), (nz[:, 0], nz[:, 1])),
                                       shape=(L, S)))
    return masks, Bm, Hm


def maskset_rows(source: Any, H: int) -> tuple[list[sp.csr_matrix], tuple[int, int] | None]:
    """The per-head masks of an ``ifg`` Pattern (its steps) or MaskSet, and their query grid."""
    from ifg.maskset import MaskSet
    from ifg.pattern import Pattern

    grid: tuple[int, ...] | None
    if isinstance(source, MaskSet):
        masks, grid = list(source.masks), tuple(source.query_grid)
    else:
        assert isinstance(source, Pattern)
        masks, grid = list(source.steps), source.grid
    if len(masks) not in (1, H):
        raise InvalidArgument(f"block_mask has {len(masks)} heads (masks), but the query has "
                              f"{H} heads: give one mask or one per head")
    return [sp.csr_matrix(m, dtype=bool) for m in masks], (None if grid is None else
                                                           (int(grid[0]), int(grid[1])))
