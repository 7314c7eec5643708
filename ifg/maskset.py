"""The heads of one attention layer: per-head masks on a query grid and a key grid.

A :class:`MaskSet` is what ``masks.npz`` holds and what ``ylg.attention.Attention2d`` consumes.
Masks are designed square on the key grid (with ESA) and mapped to the query grid by a tiling
(SPEC section 5):

- ``official`` (the published model): query ``q`` uses the key-grid row ``q mod Nk``;
- ``aligned``: query ``(r, c)`` uses the key-grid row of pixel ``(r // f, c // f)``.
"""

from __future__ import annotations

import re

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any


import numpy as np
import scipy.sparse as sp

from ifg.enumerations import ENUMERATIONS, enumeration, grid_of
from ifg.errors import InvalidArgument, check_known
from ifg.pattern import Pattern

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["Head", "MaskSet", "TILINGS", "PRESETS", "tile", "untile", "layer", "preset",
           "parse_heads", "to_maskset"]

TILINGS = ("official", "aligned")

#: the paper's head order (SPEC section 6): (pattern, step) per head
YLG_HEADS = (("rtl", 1), ("rtl", 2), ("rtl", 1), ("rtl", 2),
             ("ltr", 1), ("ltr", 2), ("ltr", 1), ("ltr", 2))


@dataclass(frozen=True)
class Head:
    """One head: the pattern it takes its mask from and which step (1-based)."""

    pattern: str
    step: int


def _factor(query_grid: Sequence[int], key_grid: Sequence[int]) -> int:
    (hq, wq), (hk, wk) = query_grid, key_grid
    if hq % hk or wq % wk or hq // hk != wq // wk:
        raise InvalidArgument(
            f"tiling 'aligned' needs the query grid {hq}x{wq} to be the key grid {hk}x{wk} "
            "scaled by one integer factor")
    return hq // hk


def _query_rows(query_grid: Sequence[int], key_grid: Sequence[int], tiling: str) -> np.ndarray:
    """For each query (row-major on the query grid), the key-grid mask row it uses."""
    check_known("tiling", tiling, TILINGS)
    nq = query_grid[0] * query_grid[1]
    nk = key_grid[0] * key_grid[1]
    if tiling == "official":
        return np.arange(nq) % nk
    f = _factor(query_grid, key_grid)  # aligned
    r, c = np.divmod(np.arange(nq), query_grid[1])
    return (r // f) * key_grid[1] + c // f


def tile(square: ArrayLike | sp.spmatrix, *, key_grid: tuple[int, int], query_grid: tuple[int, int],
         tiling: str = "official") -> sp.csr_matrix:
    """Map a square key-grid mask to the query grid.

    Parameters
    ----------
    square : scipy.sparse matrix, shape (Nk, Nk)
    key_grid, query_grid : tuple (h, w)
    tiling : {"official", "aligned"}

    Returns
    -------
    scipy.sparse.csr_matrix, shape (Nq, Nk), bool

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> tile(sp.eye(4, format="csr", dtype=bool), key_grid=(2, 2), query_grid=(4, 4)).shape
    (16, 4)
    """
    rows = _query_rows(tuple(query_grid), tuple(key_grid), tiling)
    return sp.csr_matrix(square)[rows].astype(bool)


def untile(mask: sp.spmatrix, *, key_grid: tuple[int, int], query_grid: tuple[int, int],
           tiling: str = "official") -> sp.csr_matrix:
    """The square key-grid mask that :func:`tile` mapped to ``mask`` (the rows it copied).

    Raises
    ------
    InvalidArgument
        When ``mask`` is not a tiling of one square mask (its copies disagree).
    """
    rows = _query_rows(tuple(query_grid), tuple(key_grid), tiling)
    nk = key_grid[0] * key_grid[1]
    first = np.full(nk, -1)
    first[rows[::-1]] = np.arange(len(rows))[::-1]  # the first query that uses each key row
    if (first < 0).any():
        raise InvalidArgument(f"the query grid {query_grid} does not cover every key-grid row "
                              f"under tiling {tiling!r}")
    square = sp.csr_matrix(mask)[first]
    if (tile(square, key_grid=key_grid, query_grid=query_grid, tiling=tiling) != mask).nnz:
        raise InvalidArgument(f"the mask is not a {tiling!r} tiling of one square mask")
    return square


@dataclass(frozen=True, eq=False)
class MaskSet:
    """The masks of one attention layer.

    Attributes
    ----------
    masks : tuple of scipy.sparse.csr_matrix
        One boolean ``(Nq, Nk)`` mask per head; rows are queries on ``query_grid``, columns keys on
        ``key_grid``, both row-major.
    query_grid, key_grid : tuple (h, w)
    enumeration : str
        The enumeration the square masks were laid out with.
    tiling : {"official", "aligned"}
    heads : tuple of Head
        Each head's pattern name and step.
    groups : tuple of tuple of int
        The heads that form each multi-step pattern, in step order (checked for Full Information).
    """

    masks: tuple
    query_grid: tuple
    key_grid: tuple
    enumeration: str
    tiling: str
    heads: tuple
    groups: tuple

    def __post_init__(self) -> None:
        nq = self.query_grid[0] * self.query_grid[1]
        nk = self.key_grid[0] * self.key_grid[1]
        if len(self.masks) != len(self.heads):
            raise InvalidArgument(f"{len(self.masks)} masks but {len(self.heads)} head labels")
        for h, m in enumerate(self.masks):
            if m.shape != (nq, nk):
                raise InvalidArgument(f"head {h} mask has shape {m.shape}, expected ({nq}, {nk})")
        for g in self.groups:
            if any(not 0 <= h < len(self.masks) for h in g):
                raise InvalidArgument(f"group {g} names a head outside 0..{len(self.masks) - 1}")

    @property
    def num_heads(self) -> int:
        return len(self.masks)

    @property
    def nq(self) -> int:
        return self.query_grid[0] * self.query_grid[1]

    @property
    def nk(self) -> int:
        return self.key_grid[0] * self.key_grid[1]

    def to_dense(self) -> np.ndarray:
        """All heads as one boolean array of shape ``(heads, Nq, Nk)``."""
        return np.stack([m.toarray() for m in self.masks])

    def key_masks(self) -> tuple:
        """Each head's square ``(Nk, Nk)`` mask on the key grid (undoing the tiling)."""
        return tuple(untile(m, key_grid=self.key_grid, query_grid=self.query_grid,
                            tiling=self.tiling) for m in self.masks)

    def group_pattern(self, g: int) -> Pattern:
        """The multi-step pattern formed by group ``g``, on the key grid, for the IFG check."""
        heads = self.groups[g]
        square = self.key_masks()
        name = "+".join(f"{self.heads[h].pattern}:{self.heads[h].step}" for h in heads)
        # the rank orders the causal check (k before q in the 1-D design); unknown names have none
        rank = (enumeration(self.enumeration, self.key_grid)
                if self.enumeration in ENUMERATIONS else None)
        return Pattern(tuple(square[h] for h in heads), grid=self.key_grid,
                       enumeration=self.enumeration, name=name, rank=rank)


def to_maskset(pattern: Pattern, *, query_grid: tuple[int, int] | None = None,
               tiling: str = "official") -> MaskSet:
    """One attention layer whose heads are the pattern's steps, in order, as one group.

    The pattern's grid is the key grid; each step is tiled onto the query grid
    (:func:`ifg.maskset.tile`). The heads are labelled with the pattern's name, reduced to
    letters, digits and ``_.-``, and steps ``1..P``. This is how an extension or a search
    result becomes a mask file (:func:`ifg.io.save`) for ``ylg train --masks``.

    Parameters
    ----------
    pattern : Pattern
        The steps, on their grid (the key grid).
    query_grid : tuple (h, w), optional
        Defaults to the key grid (a square layer); ``ylg``'s models pool keys 2x2, so their
        layers need twice the key grid.
    tiling : {"official", "aligned"}

    Returns
    -------
    MaskSet

    Raises
    ------
    InvalidArgument
        When the pattern has no grid, or the grids or tiling do not fit.

    Examples
    --------
    >>> from ifg import pattern
    >>> ms = to_maskset(pattern("ltr", 16), query_grid=(8, 8))
    >>> ms.num_heads, ms.masks[0].shape, ms.groups, ms.heads[1].step
    (2, (64, 16), ((0, 1),), 2)
    """
    if pattern.grid is None:
        raise InvalidArgument(f"a mask set lives on a 2-D grid, but the pattern {pattern.name!r} "
                              f"over N = {pattern.n} has none; build it with a grid")
    check_known("tiling", tiling, TILINGS)
    h, w = pattern.grid if query_grid is None else query_grid
    grid_of(h * w, (h, w))  # checks the query grid's sides
    qgrid = (int(h), int(w))
    masks = tuple(tile(s, key_grid=pattern.grid, query_grid=qgrid, tiling=tiling)
                  for s in pattern.steps)
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", pattern.name).strip("-") or "custom"
    heads = tuple(Head(label, t + 1) for t in range(pattern.num_steps))
    groups = (tuple(range(pattern.num_steps)),) if pattern.num_steps > 1 else ()
    return MaskSet(masks, qgrid, pattern.grid, pattern.enumeration, tiling, heads, groups)


def parse_heads(text: str) -> tuple:
    """Parse ``"ltr:1,ltr:2,..."`` into ``((pattern, step), ...)``.

    Examples
    --------
    >>> parse_heads("rtl:1, rtl:2")
    (('rtl', 1), ('rtl', 2))
    """
    heads = []
    for item in str(text).split(","):
        name, sep, step = item.strip().partition(":")
        if not sep or not step.strip().isdigit() or int(step) < 1:
            raise InvalidArgument(f"head {item.strip()!r} must read PATTERN:STEP, e.g. ltr:1")
        heads.append((name.strip(), int(step)))
    return tuple(heads)


def _groups(heads: Sequence[tuple[str, int]]) -> tuple[tuple[int, ...], ...]:
    """Runs of consecutive heads of one pattern with steps 1, 2, ..., P form a group."""
    groups: list[tuple[int, ...]] = []
    run: list[int] = []
    for h, (name, step) in enumerate(heads):
        if run and (heads[run[-1]][0] != name or step != heads[run[-1]][1] + 1):
            if len(run) > 1:
                groups.append(tuple(run))
            run = []
        if step == 1 or run:
            run.append(h)
    if len(run) > 1:
        groups.append(tuple(run))
    return tuple(groups)


def layer(heads: Sequence[tuple[str, int]], *, key_grid: tuple[int, int], query_grid: tuple[int, int] | None = None,
          enumeration: str = "manhattan", tiling: str = "official",
          builders: dict | None = None) -> MaskSet:
    """Build the masks of one attention layer from named patterns.

    Parameters
    ----------
    heads : sequence of (str, int)
        Each head's pattern name and step (1-based), e.g. :data:`YLG_HEADS`.
    key_grid : tuple (h, w)
        The (pooled) key grid the square masks are designed on.
    query_grid : tuple (h, w), optional
        Defaults to the key grid (a square layer).
    enumeration : str
        How the 1-D patterns are laid on the key grid (``manhattan`` is ESA).
    tiling : {"official", "aligned"}
    builders : dict, optional
        name -> function ``(nk, key_grid, enumeration) -> Pattern``, for patterns that are not
        in :func:`ifg.patterns`.

    Returns
    -------
    MaskSet

    Examples
    --------
    >>> ms = layer(YLG_HEADS, key_grid=(4, 4), query_grid=(8, 8))
    >>> ms.num_heads, ms.masks[0].shape, ms.groups[0]
    (8, (64, 16), (0, 1))
    """
    from ifg.spec import pattern

    key_grid = grid_of(key_grid[0] * key_grid[1], key_grid)
    query_grid = key_grid if query_grid is None else grid_of(query_grid[0] * query_grid[1],
                                                           query_grid)
    check_known("tiling", tiling, TILINGS)
    nk = key_grid[0] * key_grid[1]
    built = {}
    masks = []
    for name, step in heads:
        if name not in built:
            if builders and name in builders:
                built[name] = builders[name](nk, key_grid, enumeration)
            else:
                built[name] = pattern(name, nk, enumeration=enumeration, grid=key_grid)
        p = built[name]
        if not 1 <= step <= p.num_steps:
            raise InvalidArgument(f"pattern {name!r} has {p.num_steps} step(s), "
                                  f"head asks for step {step}")
        masks.append(tile(p.steps[step - 1], key_grid=key_grid, query_grid=query_grid,
                          tiling=tiling))
    heads = tuple(heads)
    return MaskSet(tuple(masks), query_grid, key_grid, enumeration, tiling,
                   tuple(Head(n, s) for n, s in heads), _groups(heads))


def _ylg(**kw: Any) -> MaskSet:
    return layer(YLG_HEADS, enumeration="manhattan", **kw)


def _ylg_no_esa(**kw: Any) -> MaskSet:
    return layer(YLG_HEADS, enumeration="rowmajor", **kw)


#: the ``ylg-strided`` ablation: the paper's 8 heads with the extended strided pattern
YLG_STRIDED_HEADS = (("strided-ext", 1), ("strided-ext", 2)) * 4


def _ylg_strided(**kw: Any) -> MaskSet:
    return layer(YLG_STRIDED_HEADS, enumeration="manhattan", **kw)


#: preset name -> (builder(key_grid=, query_grid=, tiling=), one-line description)
PRESETS = {
    "ylg": (_ylg, "the paper's 8 heads (rtl, rtl, ltr, ltr; two steps each) with ESA"),
    "ylg-no-esa": (_ylg_no_esa, "the same 8 heads laid out row-major (the 'no ESA' ablation)"),
    "ylg-strided": (_ylg_strided, "8 heads of strided extended to Full Information (ifg.extend), "
                                  "two steps each, with ESA"),
}


def preset(name: str, *, key_grid: tuple[int, int], query_grid: tuple[int, int] | None = None,
           tiling: str = "official") -> MaskSet:
    """A named layer: ``ylg``, ``ylg-no-esa``, ... (see :data:`PRESETS`).

    Examples
    --------
    >>> preset("ylg", key_grid=(16, 16), query_grid=(32, 32)).enumeration
    'manhattan'
    """
    check_known("preset", name, PRESETS)
    return PRESETS[name][0](key_grid=key_grid, query_grid=query_grid, tiling=tiling)
