"""The :class:`Pattern`: P square boolean attention masks over the same N positions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ifg.enumerations import enumeration, grid_of
from ifg.errors import InvalidArgument

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


__all__ = ["Pattern", "as_csr", "layout"]


def as_csr(matrix: ArrayLike | sp.spmatrix, n: int | None = None, *,
           name: str = "mask") -> sp.csr_matrix:
    """Return ``matrix`` as a canonical boolean CSR matrix (sorted indices, no explicit zeros).

    Parameters
    ----------
    matrix : array_like or scipy.sparse matrix
        A square boolean (or 0/1) matrix, ``matrix[q, k]`` True when query q attends key k.
    n : int, optional
        The expected side; checked when given.
    name : str
        Used in error messages.

    Returns
    -------
    scipy.sparse.csr_matrix
        dtype bool, shape ``(n, n)``.

    Raises
    ------
    InvalidArgument
        When the matrix is not two-dimensional, not square, or not of side ``n``.

    Examples
    --------
    >>> as_csr([[1, 0], [1, 1]]).nnz
    3
    """
    if sp.issparse(matrix):
        m = sp.csr_matrix(matrix)
    else:
        arr = np.asarray(matrix)
        if arr.ndim != 2:
            raise InvalidArgument(f"{name} must be a 2-D matrix, got shape {arr.shape}")
        m = sp.csr_matrix(arr != 0)
    if m.shape[0] != m.shape[1]:
        raise InvalidArgument(f"{name} must be square, got shape {m.shape}")
    if n is not None and m.shape[0] != n:
        raise InvalidArgument(f"{name} must have shape ({n}, {n}), got {m.shape}")
    m = m.astype(bool)
    m.eliminate_zeros()
    m.sum_duplicates()
    m.sort_indices()
    return m


@dataclass(frozen=True, eq=False)
class Pattern:
    """A P-step sparse attention pattern over N positions.

    Attributes
    ----------
    steps : tuple of scipy.sparse.csr_matrix
        P boolean ``(N, N)`` masks; ``steps[t][q, k]`` is True when query q attends key k in step
        t + 1. Positions are row-major pixel indices when the pattern has a grid.
    grid : tuple (h, w) or None
        The 2-D grid the positions live on, ``h * w == N``.
    enumeration : str
        The enumeration the 1-D pattern was laid out with (``"rowmajor"`` means no ESA).
    name : str
        A label for reports and figures.
    rank : numpy.ndarray or None
        ``rank[p]`` is the 1-D index of position p in the pattern's own order (the enumeration);
        None means the identity. The causal check asks for paths from k to q when
        ``rank[k] <= rank[q]``.

    Examples
    --------
    >>> p = Pattern.from_dense([[[1, 0], [1, 1]]], name="causal-2")
    >>> p.n, p.num_steps, p.edges
    (2, 1, [3])
    """

    steps: tuple[sp.csr_matrix, ...]
    grid: tuple[int, int] | None = None
    enumeration: str = "rowmajor"
    name: str = "custom"
    rank: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        steps = tuple(self.steps)
        if not steps:
            raise InvalidArgument("a pattern needs at least one step, got none")
        n = steps[0].shape[0] if hasattr(steps[0], "shape") else len(steps[0])
        steps = tuple(as_csr(s, n, name=f"step {t + 1}") for t, s in enumerate(steps))
        object.__setattr__(self, "steps", steps)
        if self.grid is not None:
            grid = tuple(int(g) for g in self.grid)
            if len(grid) != 2 or grid[0] * grid[1] != n or min(grid) <= 0:
                raise InvalidArgument(f"grid must be (h, w) with h * w = N = {n}, got {self.grid}")
            object.__setattr__(self, "grid", grid)
        if self.rank is not None:
            rank = np.asarray(self.rank, dtype=np.int64)
            if rank.shape != (n,) or not np.array_equal(np.sort(rank), np.arange(n)):
                raise InvalidArgument(f"rank must be a permutation of range({n})")
            object.__setattr__(self, "rank", rank)

    @property
    def n(self) -> int:
        """Number of positions N."""
        return self.steps[0].shape[0]

    @property
    def num_steps(self) -> int:
        """Number of steps P."""
        return len(self.steps)

    @property
    def edges(self) -> list:
        """Allowed (query, key) pairs in each step."""
        return [int(s.nnz) for s in self.steps]

    @property
    def order(self) -> np.ndarray:
        """``order[i]`` is the position at 1-D index i: the inverse of ``rank``."""
        if self.rank is None:
            return np.arange(self.n)
        return np.argsort(self.rank)

    @classmethod
    def from_dense(cls, masks: ArrayLike, *, grid: tuple[int, int] | None = None,
                   name: str = "custom", enumeration: str = "rowmajor",
                   rank: ArrayLike | None = None) -> "Pattern":
        """Build a pattern from boolean arrays.

        Parameters
        ----------
        masks : array_like, shape (P, N, N) or (N, N)
            ``masks[t][q, k]`` True when query q attends key k in step t + 1.
        grid : tuple (h, w), optional
        name, enumeration : str
        rank : array_like, optional
            See the class attributes.

        Returns
        -------
        Pattern

        Raises
        ------
        InvalidArgument
            When the masks are not square or not all of one size.

        Examples
        --------
        >>> import numpy as np
        >>> Pattern.from_dense(np.eye(4, dtype=bool), grid=(2, 2)).edges
        [4]
        """
        arr = np.asarray(masks)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
            raise InvalidArgument(f"masks must have shape (P, N, N), got {arr.shape}")
        return cls(tuple(arr), grid=grid, name=name, enumeration=enumeration,
                   rank=None if rank is None else np.asarray(rank))

    def own_steps(self) -> tuple:
        """The steps renumbered into the pattern's own 1-D order.

        ``S[i, j] = M[order[i], order[j]]`` for every step ``M``: the 1-D design before its layout
        on the grid, where the rows of a local step are runs of consecutive keys. Computed once;
        a pattern laid out by :func:`ifg.layout` already holds the steps it was laid out from.

        Returns
        -------
        tuple of scipy.sparse.csr_matrix

        Examples
        --------
        >>> from ifg import pattern
        >>> p = pattern("ltr", 9, enumeration="manhattan")
        >>> (p.own_steps()[1] != pattern("ltr", 9).steps[1]).nnz
        0
        """
        own = self.__dict__.get("_own_steps")
        if own is None:
            order = self.order
            own = self.steps if self.rank is None else tuple(
                as_csr(s[order][:, order]) for s in self.steps)
            object.__setattr__(self, "_own_steps", own)
        return own

    def to_dense(self) -> np.ndarray:
        """The masks as one boolean array of shape ``(P, N, N)``."""
        return np.stack([s.toarray() for s in self.steps])

    def with_steps(self, steps: Sequence, *, name: str | None = None) -> "Pattern":
        """A copy with other steps and the same grid, enumeration and rank."""
        return Pattern(tuple(steps), grid=self.grid, enumeration=self.enumeration,
                       name=self.name if name is None else name, rank=self.rank)

    def __repr__(self) -> str:
        return (f"Pattern(name={self.name!r}, n={self.n}, steps={self.num_steps}, "
                f"edges={self.edges}, grid={self.grid}, enumeration={self.enumeration!r})")


def layout(pattern: Pattern, name: str, grid: tuple[int, int] | None = None) -> Pattern:
    """Lay a 1-D pattern out on a grid with an enumeration (ESA's shift and apply).

    Parameters
    ----------
    pattern : Pattern
        A pattern in its own 1-D order (its ``rank`` is taken as the identity).
    name : str
        The enumeration.
    grid : tuple (h, w), optional
        Defaults to the pattern's grid, else the square grid of N positions.

    Returns
    -------
    Pattern
        ``M2d[p, q] = M1d[rank[p], rank[q]]`` for every step, with ``rank`` recorded.

    Raises
    ------
    InvalidArgument
        When N has no grid (not a perfect square and none given) or the enumeration rejects it.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> esa = layout(pattern("ltr", 9), "manhattan")
    >>> esa.enumeration, esa.edges
    ('manhattan', [18, 33])
    """
    grid = grid_of(pattern.n, grid if grid is not None else pattern.grid)
    if grid is None:
        raise InvalidArgument(
            f"enumeration {name!r} needs a 2-D grid, but n = {pattern.n} is not a perfect square; "
            "give the grid (h, w)")
    rank = enumeration(name, grid)
    steps = tuple(s[rank][:, rank] for s in pattern.steps)
    laid = Pattern(steps, grid=grid, enumeration=name, name=pattern.name, rank=rank)
    object.__setattr__(laid, "_own_steps", pattern.steps)  # the 1-D design, kept for the check
    return laid
