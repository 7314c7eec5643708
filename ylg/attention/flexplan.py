"""The plan of :func:`ylg.flex_attention` on CPU: a mask's queries cut into tiles of ``t`` that
each gather the union of their keys.

The query order is chosen among row-major runs, 2-D tiles of the grid, the order an ``ifg``
pattern or mask set was designed in (an ESA layout is compact again in its enumeration's
order), and the queries sorted by their first keys (:func:`key_order`), by the padded work each
gives. The tiles are padded to their largest union in groups: a few tiles that gather many keys
(those of global tokens) get a group of their own (:func:`split`) instead of padding every tile
to their size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from ylg.attention.plan import block_order, compile_head, pad_order, union_sizes

__all__ = ["Group", "FlexPlan", "key_order", "split", "make_plan"]


def orders(L: int, grid: tuple[int, int] | None, design: np.ndarray | None = None,
            mask: sp.csr_matrix | None = None) -> list[tuple[np.ndarray, int]]:
    """Candidate query orders and tile sizes: row-major runs; 2-D tiles of the grid (the given
    one, else a square one when ``L`` is a square); the order the masks were designed in
    (``design``, an enumeration's); and the queries sorted by their first keys (``mask``),
    which puts queries that share keys side by side when no order is known."""
    sizes = [t for t in (16, 32, 64, 128) if t <= max(16, L)]
    candidates = [(np.arange(L), t) for t in sizes]
    if grid is None and math.isqrt(L) ** 2 == L:
        grid = (math.isqrt(L),) * 2
    if grid is not None and grid[0] * grid[1] == L:
        for th, tw in ((4, 4), (4, 8), (8, 8), (8, 16), (16, 16)):
            if th <= grid[0] and tw <= grid[1]:
                candidates.append((block_order(grid, th, tw), th * tw))
    for order in (design, None if mask is None else key_order(mask)):
        if order is not None:
            candidates += [(order, t) for t in sizes]
    return candidates


def key_order(mask: sp.csr_matrix, first: int = 4) -> np.ndarray:
    """The queries sorted by their ``first`` smallest keys (a row with fewer sorts after those
    with more that share its keys), ties row-major.

    >>> key_order(sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [0, 1, 0]], dtype=bool))).tolist()
    [1, 0, 2]
    """
    mask = sp.csr_matrix(mask)
    mask.sort_indices()
    L, S = mask.shape
    counts = np.diff(mask.indptr)
    table = np.full((L, first), S, dtype=np.int64)
    for j in range(first):
        has = counts > j
        table[has, j] = mask.indices[mask.indptr[:-1][has] + j]
    return np.lexsort(table.T[::-1])


@dataclass
class Group:
    """Tiles ``start:stop`` of a plan, padded to their own largest union ``u``: ``keys``
    (Bm, Hm, n, u), each tile's gathered keys; ``blocked`` (Bm, Hm, n, t, u), True where a
    slot's query may not attend the key. ``rows`` caches the flattened query and key rows per
    batch size and heads, ``masks`` the 0/1 allowed mask per dtype."""

    start: int
    stop: int
    keys: torch.Tensor
    blocked: torch.Tensor
    rows: dict[tuple[int, int, int], tuple[torch.Tensor, torch.Tensor]] = \
        field(default_factory=dict)
    masks: dict[torch.dtype, torch.Tensor] = field(default_factory=dict)

    def allowed(self, dtype: torch.dtype) -> torch.Tensor:
        """``~blocked`` as 0/1 of ``dtype``, made once."""
        if dtype not in self.masks:
            self.masks[dtype] = (~self.blocked).to(dtype)
        return self.masks[dtype]


@dataclass
class FlexPlan:
    """A compiled mask for ``(B, H, L, S)``: the tiles of ``Bm * Hm`` distinct masks.

    ``order`` (nt*t,): each tile slot's query (padding repeats the last, fully blocked);
    ``inverse`` (L,): each query's slot; ``t``: queries a tile; ``groups``: consecutive runs
    of tiles, each padded to its own largest union (a few tiles that gather many keys, such as
    those of global tokens, do not pad all the others to their size); ``kv``: S.
    """

    order: torch.Tensor
    inverse: torch.Tensor
    t: int
    groups: list[Group]
    kv: int
    outputs: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)

    @property
    def slots(self) -> int:
        """Query-key slots a (batch, head) computes: the padded work."""
        return sum((g.stop - g.start) * self.t * g.keys.shape[-1] for g in self.groups)

    @property
    def keys_per_tile(self) -> int:
        """The largest union a tile gathers."""
        return max(g.keys.shape[-1] for g in self.groups)

    def row_indices(self, group: Group, B: int, H: int, Hkv: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of the flattened ``(B*H*L, E)`` queries for each slot of ``group``'s tiles, and
        of the flattened ``(B*Hkv*S, E)`` keys for each key they gather."""
        if (B, H, Hkv) not in group.rows:
            n, u = group.keys.shape[2:]
            L = len(self.inverse)
            b, h = torch.arange(B).view(B, 1, 1), torch.arange(H).view(1, H, 1)
            slots = self.order[group.start * self.t:group.stop * self.t]
            query = ((b * H + h) * L + slots.view(1, 1, -1)).view(-1)
            head = b.view(B, 1, 1, 1) * Hkv + h.view(1, H, 1, 1) // (H // Hkv)
            key = (head * self.kv + group.keys.expand(B, H, n, u)).reshape(-1)
            group.rows[(B, H, Hkv)] = (query, key)
        return group.rows[(B, H, Hkv)]

    def output_rows(self, B: int, H: int) -> torch.Tensor:
        """Each output row's slot among the flattened ``(B*H*nt*t, Ev)`` tile outputs."""
        if (B, H) not in self.outputs:
            b, h = torch.arange(B).view(B, 1, 1), torch.arange(H).view(1, H, 1)
            self.outputs[(B, H)] = ((b * H + h) * len(self.order)
                                    + self.inverse.view(1, 1, -1)).view(-1)
        return self.outputs[(B, H)]


def split(unions: np.ndarray) -> tuple[int, int]:
    """Where to cut tiles sorted by union size into a light and a heavy group, and the keys
    the tiles then gather, padded: the cut of least padded work, ``len(unions)`` (no heavy
    group) unless the cut saves a quarter of it.

    >>> split(np.array([9, 9, 9, 9, 9, 9, 64])), split(np.array([9, 10, 11, 12]))
    ((6, 118), (4, 48))
    """
    n = len(unions)
    work = [i * int(unions[i - 1]) + (n - i) * int(unions[-1]) for i in range(1, n + 1)]
    cut = int(np.argmin(work)) + 1
    if work[cut - 1] >= 0.75 * work[-1]:
        cut = n
    return cut, work[cut - 1]


def make_plan(masks: list[sp.csr_matrix], Bm: int, Hm: int, grid: tuple[int, int] | None,
              dims: int, design: np.ndarray | None = None) -> FlexPlan:
    """Tile ``Bm * Hm`` masks ``(L, S)`` with the query order of least padded work (judged on
    the first two distinct masks, among :func:`orders`'); identical masks are compiled once.
    The tiles that gather the most keys go to a group of their own when that saves work
    (:func:`split`)."""
    L, S = masks[0].shape
    signatures = []
    for m in masks:
        m.sort_indices()
        signatures.append((m.indptr.tobytes(), m.indices.tobytes()))
    first: dict[tuple[bytes, bytes], sp.csr_matrix] = {}  # signature -> its first mask
    for sig, m in zip(signatures, masks):
        first.setdefault(sig, m)
    judged = list(first.values())[:2]
    best = None
    for order, t in orders(L, grid, design, judged[0]):
        sizes = np.sort(np.max([union_sizes(m, pad_order(order, t), t) for m in judged], axis=0))
        cost = split(sizes)[1] * (t * (dims + 8) + 2 * dims)  # products, softmax, gathers
        if best is None or cost < best[0]:
            best = (cost, order, t)
    assert best is not None  # there is at least one candidate
    _, order, t = best
    padded = pad_order(order, t)
    nt = len(padded) // t
    compiled = {sig: compile_head(m, order, t) for sig, m in first.items()}
    # each tile's union: the keys some query of the tile may attend, the most over the masks
    counts = np.max([a.any(axis=1).sum(axis=1) for _, a in compiled.values()], axis=0)
    tiles = np.argsort(counts, kind="stable")  # light tiles first, each run in query order
    cut, _ = split(counts[tiles])
    runs = [np.sort(tiles[:cut]), np.sort(tiles[cut:])]
    tiles = np.concatenate(runs)
    groups, start = [], 0
    for run in runs:
        if len(run) == 0:
            continue
        u = max(1, int(counts[run].max()))
        keys = np.zeros((len(masks), len(run), u), dtype=np.int64)
        allowed = np.zeros((len(masks), len(run), t, u), dtype=bool)
        for j, sig in enumerate(signatures):
            k, a = compiled[sig]
            width = min(u, k.shape[1])
            keys[j, :, :width] = k[run, :width]
            allowed[j, :, :, :width] = a[run, :, :width]
        groups.append(Group(start, start + len(run), torch.from_numpy(keys).view(Bm, Hm, -1, u),
                             torch.from_numpy(~allowed).view(Bm, Hm, -1, t, u)))
        start += len(run)
    position = np.arange(nt * t).reshape(nt, t)[tiles].reshape(-1)  # slot -> padded index
    slots, pad = padded[position], position >= L  # the repeats past L are padding
    inverse = np.empty(L, dtype=np.int64)
    inverse[slots[~pad]] = np.flatnonzero(~pad)
    for g in groups:  # padding slots attend nothing
        u = g.keys.shape[-1]
        g.blocked.view(Bm * Hm, -1, u)[:, torch.from_numpy(pad[g.start * t:g.stop * t])] = True
    return FlexPlan(torch.from_numpy(slots), torch.from_numpy(inverse), t, groups, S)
