"""The sparse backend's tile plan, compiled once from a layer's masks.

Queries are sorted by the enumeration rank of the key-grid mask row they use
(:func:`query_order`) and cut into tiles of ``t`` queries; for each head and tile the union of
the keys its queries may attend is gathered (:func:`compile_head`), padded to the largest union
``u`` of its head group (:func:`group_heads`). :class:`TilePlan` holds one group's indices and
in-tile mask as buffers; :mod:`ylg.attention.kernels` runs them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ifg.enumerations import enumeration
from ifg.errors import InvalidArgument
from ifg.maskset import tile

if TYPE_CHECKING:
    from ifg.maskset import MaskSet

__all__ = ["query_order", "design_order", "block_order", "layer_order", "pad_order",
           "compile_head", "best_tile", "group_heads", "TilePlan", "union_sizes",
           "largest_union"]


#: tile sizes the sparse backend considers (plus the pattern's own block, ratio * sqrt(Nk))
_TILE_CANDIDATES = (16, 32, 64, 128, 256)


def query_order(ms: MaskSet) -> np.ndarray:
    """Queries sorted by the enumeration rank of the key-grid mask row they use.

    Queries that share a row (the copies made by the tiling) land in one tile, and consecutive
    ranks are neighbours in the 1-D pattern, so a tile's queries need few distinct keys. An
    unknown enumeration or tiling falls back to row-major order: slower, never wrong.
    """
    try:
        rank = enumeration(ms.enumeration, ms.key_grid)
    except InvalidArgument:
        rank = np.arange(ms.nk)
    try:
        eye = sp.identity(ms.nk, dtype=bool, format="csr")
        rows = tile(eye, key_grid=ms.key_grid, query_grid=ms.query_grid, tiling=ms.tiling).indices
    except InvalidArgument:
        rows = np.arange(ms.nq) % ms.nk
    return np.argsort(rank[rows], kind="stable")


def design_order(order: np.ndarray) -> np.ndarray | None:
    """``order`` as the design order a plan should also try: None when it is row-major (the
    plan tries that anyway).

    >>> design_order(np.arange(3)), design_order(np.array([1, 0, 2]))
    (None, array([1, 0, 2]))
    """
    return None if np.array_equal(order, np.arange(len(order))) else order


def block_order(grid: tuple[int, int], side: int, width: int | None = None) -> np.ndarray:
    """The queries of a row-major grid in ``side x width`` blocks (``width`` defaults to
    ``side``; blocks row-major, and the queries of a block row-major): tiles of 16, 32, 64 ...
    queries are then compact 2-D patches.

    >>> block_order((4, 4), 2).tolist()
    [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15]
    """
    width = side if width is None else width
    y, x = np.divmod(np.arange(grid[0] * grid[1]), grid[1])
    return np.lexsort((x % width, y % side, x // width, y // side))


def layer_order(ms: MaskSet, masks: Sequence[sp.csr_matrix], dims: int,
                tile: int | None = None) -> np.ndarray:
    """The query order with the least padded work over the distinct heads: the enumeration's
    (:func:`query_order`), or 4 x 4 or 8 x 8 blocks of the query grid, which suit 2-D windows
    in row-major order (a 7 x 7 neighbourhood on 64 x 64 ran 2.3x faster in 4 x 4 blocks)."""
    distinct = list({(m.indptr.tobytes(), m.indices.tobytes()): m for m in masks}.values())
    candidates = [query_order(ms)] + [block_order(ms.query_grid, s) for s in (4, 8)
                                      if min(ms.query_grid) >= s]
    best: tuple[int, np.ndarray] | None = None
    for order in candidates:
        cost = 0
        for m in distinct:
            t, u = best_tile(m, order, dims, tile)
            cost += len(pad_order(order, t)) // t * u * (t + dims)
        if best is None or cost < best[0]:
            best = (cost, order)
    assert best is not None  # the enumeration's order is always a candidate
    return best[1]


def _tile_unions(mask: sp.csr_matrix, padded: np.ndarray, t: int) -> sp.csr_matrix:
    """The union of keys of each tile of ``t`` queries: a CSR matrix ``(tiles, Nk)``."""
    n = len(padded)
    # summing the rows of each tile is one sparse product with a (tiles, n) 0/1 matrix
    gather = sp.csr_matrix((np.ones(n, dtype=np.int32), (np.arange(n) // t, padded)),
                           shape=(n // t, mask.shape[0]))
    unions = (gather @ mask.astype(np.int32)).tocsr()
    unions.sort_indices()
    return unions


def union_sizes(mask: sp.csr_matrix, padded: np.ndarray, t: int) -> np.ndarray:
    """The keys each tile of ``t`` queries of the padded order (:func:`pad_order`) gathers."""
    return np.diff(_tile_unions(mask, padded, t).indptr)


def largest_union(mask: sp.csr_matrix, padded: np.ndarray, t: int) -> int:
    """The most keys a tile of ``t`` queries of the padded order (:func:`pad_order`) gathers."""
    return int(union_sizes(mask, padded, t).max())


def pad_order(order: np.ndarray, t: int) -> np.ndarray:
    """``order`` padded to a multiple of ``t`` by repeating its last query (kept valid)."""
    return np.concatenate([order, np.full(-len(order) % t, order[-1])])


def compile_head(mask: sp.csr_matrix, order: np.ndarray, t: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One head's tiles: the keys each tile gathers and which of them each query may attend.

    Parameters
    ----------
    mask : scipy.sparse.csr_matrix, (Nq, Nk) bool
    order : numpy.ndarray, (Nq,)
        The query order; tile ``i`` holds queries ``order[i*t:(i+1)*t]`` (padded, see
        :func:`pad_order`).
    t : int
        Queries per tile.

    Returns
    -------
    keys : numpy.ndarray, (nt, u) int64
        Each tile's union of keys, sorted; the padding after a short union points at key 0.
    allowed : numpy.ndarray, (nt, t, u) bool
        ``allowed[i, j, l]``: query ``j`` of tile ``i`` may attend the key in slot ``l``.
    """
    nk = mask.shape[1]
    padded = pad_order(order, t)
    nt = len(padded) // t
    unions = _tile_unions(mask, padded, t)
    counts = np.diff(unions.indptr)
    tiles = np.repeat(np.arange(nt), counts)
    keys = np.zeros((nt, int(counts.max())), dtype=np.int64)
    keys[tiles, np.arange(unions.nnz) - unions.indptr[tiles]] = unions.indices
    rows = mask[padded]
    rows.sort_indices()
    r = np.repeat(np.arange(len(padded)), np.diff(rows.indptr))
    # a (tile, key) pair's slot is its rank within the tile's sorted union
    codes = tiles * nk + unions.indices
    slot = np.searchsorted(codes, (r // t) * nk + rows.indices) - unions.indptr[r // t]
    allowed = np.zeros((nt, t, keys.shape[1]), dtype=bool)
    allowed[r // t, r % t, slot] = True
    return keys, allowed


def best_tile(mask: sp.csr_matrix, order: np.ndarray, dims: int, tile: int | None = None
               ) -> tuple[int, int]:
    """The tile size with the least padded work for one head (or ``tile`` when given), with the
    union size it gives: ``(t, u)``."""
    nq, nk = mask.shape
    ratio = max(1, round(nq / nk))
    candidates = ((tile,) if tile is not None else
                  sorted({c for c in _TILE_CANDIDATES + (ratio * math.isqrt(nk),)
                          if c <= max(_TILE_CANDIDATES[0], nq)}))
    best: tuple[int, int, int] | None = None
    for t in candidates:
        padded = pad_order(order, t)
        u = largest_union(mask, padded, t)
        cost = len(padded) // t * u * (t + dims)  # per tile: logits, gathered keys and values
        if best is None or cost < best[0]:
            best = (cost, t, u)
    assert best is not None  # there is at least one candidate
    return best[1:]


def group_heads(shapes: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Heads that share a tile size and have unions within 25% of each other run together
    (padded to the group's largest union); ``shapes`` is each head's ``(t, u)``."""
    groups: list[list[int]] = []
    for h in sorted(range(len(shapes)), key=lambda h: shapes[h]):
        t, u = shapes[h]
        if groups and shapes[groups[-1][0]][0] == t and u <= 1.25 * shapes[groups[-1][0]][1]:
            groups[-1].append(h)
        else:
            groups.append([h])
    return [sorted(g) for g in groups]


class TilePlan(nn.Module):
    """The sparse backend's buffers for a group of ``g`` heads with one tile size ``t`` and
    union size ``u`` (``nt`` tiles a head).

    Buffers, all indices into the layer's flattened tensors (head-major):

    - ``query_index`` (g*nt*t,): row ``head * Nq + query`` of each tile slot (padding repeats a
      real query, so that no row is empty);
    - ``key_index`` (g*nt*u,): row ``head * Nk + key`` of each tile's gathered keys (padding
      points at the head's key 0);
    - ``blocked`` (g, nt, u, t): True where the query may not attend the gathered key (keys
      first, the layout of the tile logits).

    They are derived from the masks, so they are not saved in a checkpoint.
    """

    query_index: torch.Tensor
    key_index: torch.Tensor
    blocked: torch.Tensor

    def __init__(self, heads: Sequence[int] | np.ndarray, order: np.ndarray,
                 compiled: Sequence[tuple[np.ndarray, np.ndarray]], nq: int, nk: int) -> None:
        super().__init__()
        t = compiled[0][1].shape[1]
        u = max(keys.shape[1] for keys, _ in compiled)
        heads = np.asarray(heads, dtype=np.int64).reshape(-1, 1, 1)
        keys = np.stack([np.pad(k, ((0, 0), (0, u - k.shape[1]))) for k, _ in compiled])
        allowed = np.stack([np.pad(a, ((0, 0), (0, 0), (0, u - a.shape[2])))
                            for _, a in compiled])
        padded = pad_order(order, t).reshape(1, -1, t)  # the same query order in every head
        buffers = {"query_index": (heads * nq + padded).ravel(),
                   "key_index": (heads * nk + keys).ravel(),
                   "blocked": np.ascontiguousarray(~allowed.transpose(0, 1, 3, 2))}
        for name, array in buffers.items():
            self.register_buffer(name, torch.from_numpy(array), persistent=False)
        self.tile, self.union, self.heads = t, u, heads.ravel().tolist()

    def extra_repr(self) -> str:
        return f"heads={self.heads}, tile={self.tile}, union={self.union}"
