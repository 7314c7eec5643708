"""What a block-sparse kernel computes: ``B x B`` blocks of a mask in a token order.

A block-sparse kernel (FlexAttention's ``BlockMask``, block 128 by default) lays the queries and
keys out in a token order, cuts the ``N x N`` mask into ``B x B`` blocks and computes every block
that holds an allowed pair; a block where every pair is allowed needs no masking inside (a
"full" block). The token order is the pattern's enumeration (its ``rank``): renumbering changes
no path, only how the allowed pairs fall into blocks, which :func:`order` compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import scipy.sparse as sp

from ifg.enumerations import ENUMERATIONS, enumeration
from ifg.errors import InvalidArgument, check_positive_int
from ifg.pattern import Pattern

if TYPE_CHECKING:
    from ifg.maskset import MaskSet

__all__ = ["StepBlocks", "OrderReport", "block_counts", "mask_block_counts", "order", "ORDERS"]

#: the token orders :func:`order` ranks, by default
ORDERS = ("rowmajor", "snake", "manhattan", "hilbert", "zorder", "tiled")


@dataclass(frozen=True)
class StepBlocks:
    """One step's blocks: ``computed`` hold an allowed pair, ``full`` hold only allowed pairs,
    of ``total``."""

    computed: int
    full: int
    total: int

    def to_dict(self) -> dict:
        return asdict(self)


def block_counts(pattern: Pattern, block: int = 128, *,
                 rank: np.ndarray | None = None) -> list[StepBlocks]:
    """The ``block x block`` blocks of each step in a token order.

    Parameters
    ----------
    pattern : Pattern
    block : int
        The side B of a block (FlexAttention's default is 128). A last partial block counts as
        full when all of its pairs are allowed.
    rank : numpy.ndarray, optional
        ``rank[p]``: the token index of position p. Defaults to the pattern's own order (its
        enumeration; row-major for none).

    Returns
    -------
    list of StepBlocks
        One per step.

    Raises
    ------
    InvalidArgument
        For a block that is not a positive integer or a rank that is not a permutation.

    Examples
    --------
    >>> import ifg
    >>> block_counts(ifg.pattern("neighborhood:kernel=3", grid=(16, 16)), 16)
    [StepBlocks(computed=48, full=0, total=256)]
    """
    if not isinstance(pattern, Pattern):
        raise InvalidArgument(f"expected an ifg.Pattern, got {type(pattern).__name__}")
    block = check_positive_int("block", block)
    n = pattern.n
    if rank is None:
        rank = pattern.rank if pattern.rank is not None else np.arange(n)
    rank = np.asarray(rank, dtype=np.int64)
    if rank.shape != (n,) or not np.array_equal(np.sort(rank), np.arange(n)):
        raise InvalidArgument(f"rank must be a permutation of range({n})")
    return mask_block_counts(pattern.steps, block, rank, rank)


def mask_block_counts(masks: Sequence[sp.spmatrix], block: int, query_rank: np.ndarray,
                      key_rank: np.ndarray) -> list[StepBlocks]:
    """The ``block x block`` blocks of each ``(Nq, Nk)`` mask, queries and keys in the given
    orders (``query_rank[p]``: the token index of query position p; ``key_rank`` the same for
    keys): the count behind :func:`block_counts`, for masks whose queries and keys differ (a
    layer's heads, queries on the query grid and keys on the pooled key grid).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> mask_block_counts([sp.csr_matrix(np.eye(4, 2, dtype=bool))], 2, np.arange(4),
    ...                   np.arange(2))
    [StepBlocks(computed=1, full=0, total=2)]
    """
    nq, nk = masks[0].shape
    nbq, nbk = -(-nq // block), -(-nk // block)
    size_q = np.minimum(block, nq - np.arange(nbq) * block)
    size_k = np.minimum(block, nk - np.arange(nbk) * block)
    counts = []
    for mask in masks:
        step = sp.csr_matrix(mask)
        q = np.repeat(np.arange(nq), np.diff(step.indptr))
        cell = (query_rank[q] // block) * nbk + key_rank[step.indices] // block
        if nbq * nbk <= 1 << 24:
            per = np.bincount(cell, minlength=nbq * nbk)
            ids = np.flatnonzero(per)
            per = per[ids]
        else:
            ids, per = np.unique(cell, return_counts=True)
        area = size_q[ids // nbk] * size_k[ids % nbk]
        counts.append(StepBlocks(int(len(ids)), int((per == area).sum()), nbq * nbk))
    return counts


@dataclass
class OrderReport:
    """Token orders ranked by the blocks a block-sparse kernel computes, fewest first.

    ``orders`` holds one dict per order: ``enumeration``, ``computed`` and ``full`` (summed over
    the steps), ``total`` and ``steps`` (one :class:`StepBlocks` dict each); ``skipped`` the
    orders that cannot lay out the grid, with the reason."""

    pattern: str
    grid: tuple
    block: int
    orders: list
    skipped: list

    @property
    def best(self) -> dict:
        return self.orders[0]

    @property
    def rowmajor(self) -> dict | None:
        return next((o for o in self.orders if o["enumeration"] == "rowmajor"), None)

    @property
    def saved(self) -> float | None:
        """The share of row-major's computed blocks that the best order saves."""
        base = self.rowmajor
        if base is None or base["computed"] == 0:
            return None
        return 1 - self.best["computed"] / base["computed"]

    def to_dict(self) -> dict:
        return {"pattern": self.pattern, "grid": list(self.grid), "block": self.block,
                "orders": self.orders, "skipped": self.skipped,
                "best": self.best["enumeration"], "saved_vs_rowmajor": self.saved}

    def summary(self) -> str:
        width = max(len(o["enumeration"]) for o in self.orders)
        lines = [f"{self.pattern} on {self.grid[0]}x{self.grid[1]}, blocks of {self.block}: "
                 "computed blocks (summed over the steps), fewest first",
                 f"  {'order':<{width}}  {'computed':>9}  {'full':>7}  {'total':>9}"]
        for o in self.orders:
            lines.append(f"  {o['enumeration']:<{width}}  {o['computed']:>9,}  {o['full']:>7,}  "
                         f"{o['total']:>9,}")
        for s in self.skipped:
            lines.append(f"  {s['enumeration']:<{width}}  skipped: {s['reason']}")
        base, best = self.rowmajor, self.best
        if base is not None and self.saved is not None:
            if best["enumeration"] == "rowmajor" or best["computed"] == base["computed"]:
                lines.append("row-major is already among the best")
            else:
                lines.append(f"{best['enumeration']} computes {best['computed']:,} blocks "
                             f"against row-major's {base['computed']:,}: "
                             f"{self.saved:.1%} fewer")
        return "\n".join(lines)


def order(pattern: Pattern | MaskSet, block: int = 128, *,
          enumerations: Sequence[str] = ORDERS) -> OrderReport:
    """Rank token orders by the blocks a block-sparse kernel computes for the pattern.

    The pattern's steps are kept as they are on the grid (positions row-major); each order
    renumbers the tokens, which changes the blocks and never the paths. For a mask set (a
    layer's heads) the order lays out the queries on the query grid and the keys on the key
    grid, and the blocks are summed over the heads.

    Parameters
    ----------
    pattern : Pattern or MaskSet
        With a 2-D grid.
    block : int
        The block side B.
    enumerations : sequence of str
        The orders to rank (default :data:`ORDERS`); those that cannot lay out the grid (Hilbert
        and Z-order need a square power-of-two side) are skipped with the reason.

    Returns
    -------
    OrderReport

    Raises
    ------
    InvalidArgument
        For a pattern without a grid, an unknown order, or no order that fits the grid.

    Examples
    --------
    >>> import ifg
    >>> r = order(ifg.pattern("neighborhood:kernel=3", grid=(16, 16)), 16)
    >>> r.best["enumeration"], r.best["computed"], r.rowmajor["computed"]
    ('rowmajor', 48, 48)
    """
    from ifg.maskset import MaskSet

    if isinstance(pattern, MaskSet):
        masks, label = list(pattern.masks), "mask set " + ",".join(
            f"{h.pattern}:{h.step}" for h in pattern.heads)
        grids = (tuple(pattern.query_grid), tuple(pattern.key_grid))
    elif isinstance(pattern, Pattern) and pattern.grid is not None:
        masks, label, grids = list(pattern.steps), pattern.name, (pattern.grid, pattern.grid)
    else:
        raise InvalidArgument("order needs an ifg.Pattern on a 2-D grid or a MaskSet")
    block = check_positive_int("block", block)
    rows, skipped = [], []
    for name in enumerations:
        if name not in ENUMERATIONS:
            from ifg.errors import check_known

            check_known("enumeration", name, ENUMERATIONS)
        try:
            rank = {g: enumeration(name, g) for g in set(grids)}  # one grid: laid out once
        except InvalidArgument as err:
            skipped.append({"enumeration": name, "reason": str(err)})
            continue
        steps = mask_block_counts(masks, block, rank[grids[0]], rank[grids[1]])
        rows.append({"enumeration": name, "computed": sum(s.computed for s in steps),
                     "full": sum(s.full for s in steps), "total": sum(s.total for s in steps),
                     "steps": [s.to_dict() for s in steps]})
    if not rows:
        raise InvalidArgument(f"no token order lays out the grid {grids[0][0]}x"
                              f"{grids[0][1]}")
    rows.sort(key=lambda o: (cast(int, o["computed"]), -cast(int, o["full"])))  # stable: ties keep the given order
    return OrderReport(label, grids[0], block, rows, skipped)
