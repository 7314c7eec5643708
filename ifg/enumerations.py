"""2-D enumerations of a grid (the E of ESA) and laying a 1-D pattern out with one.

An enumeration of an ``h x w`` grid is a rank permutation: ``rank[p]`` is the 1-D index of the
row-major pixel ``p = r * w + c``. A 1-D pattern is applied to the image by the same permutation
on queries and keys: ``M2d[p, q] = M1d[rank[p], rank[q]]`` (SPEC section 4).
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np

from ifg.errors import InvalidArgument, check_positive_int, check_known
from ifg.memory import BYTES_PER_POSITION, check_fits


__all__ = ["ENUMERATIONS", "TILE_SIDE", "enumerations", "enumeration", "grid_of"]


def _rowmajor(h: int, w: int) -> np.ndarray:
    return np.arange(h * w)


def _manhattan(h: int, w: int) -> np.ndarray:
    r, c = np.divmod(np.arange(h * w), w)
    order = np.lexsort((r, r + c))  # by distance r + c from (0, 0), ties to the smaller row
    return _inverse(order)


def _snake(h: int, w: int) -> np.ndarray:
    r, c = np.divmod(np.arange(h * w), w)
    return r * w + np.where(r % 2 == 0, c, w - 1 - c)


def _require_power_of_two_square(name: str, h: int, w: int) -> None:
    if h != w or h & (h - 1):
        raise InvalidArgument(
            f"enumeration {name!r} needs a square grid with a power-of-two side, got {h}x{w}")


def _hilbert(h: int, w: int) -> np.ndarray:
    _require_power_of_two_square("hilbert", h, w)
    # the classic xy -> d conversion, vectorised over all pixels at once. The published code
    # (hilbertcurve 1.0.3: the first h*h cells of HilbertCurve(p=h, n=2), read as (row, col))
    # always takes its first step down a row; the classic curve with x the column does so only
    # when log2(h) is odd, so x is the row when log2(h) is even (the transpose)
    r, c = np.divmod(np.arange(h * w), w)
    x, y = (r.copy(), c.copy()) if (h.bit_length() - 1) % 2 == 0 else (c.copy(), r.copy())
    d = np.zeros(h * w, dtype=np.int64)
    s = h // 2
    while s > 0:
        rx = ((x & s) > 0).astype(np.int64)
        ry = ((y & s) > 0).astype(np.int64)
        d += s * s * ((3 * rx) ^ ry)
        # rotate the quadrant so the curve's sub-square has the canonical orientation
        flip = (ry == 0) & (rx == 1)
        x = np.where(flip, h - 1 - x, x)
        y = np.where(flip, h - 1 - y, y)
        swap = ry == 0
        x, y = np.where(swap, y, x), np.where(swap, x, y)
        s //= 2
    return d


def _zorder(h: int, w: int) -> np.ndarray:
    _require_power_of_two_square("zorder", h, w)
    r, c = np.divmod(np.arange(h * w), w)
    d = np.zeros(h * w, dtype=np.int64)
    for bit in range(int(np.log2(h)) if h > 1 else 0):
        d |= ((c >> bit) & 1) << (2 * bit) | ((r >> bit) & 1) << (2 * bit + 1)
    return d


#: the side of the tiles of the ``tiled`` enumeration
TILE_SIDE = 8


def _tiled(h: int, w: int) -> np.ndarray:
    r, c = np.divmod(np.arange(h * w), w)
    # tile by tile (row-major over tiles), row-major inside a tile; edge tiles may be partial
    order = np.lexsort((c % TILE_SIDE, r % TILE_SIDE, c // TILE_SIDE, r // TILE_SIDE))
    return _inverse(order)


def _inverse(perm: np.ndarray) -> np.ndarray:
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return inv


#: name -> (rank function of (h, w), one-line description)
ENUMERATIONS = {
    "rowmajor": (_rowmajor, "reshape order, row by row (no ESA)"),
    "manhattan": (_manhattan, "by Manhattan distance r + c from the corner, ties to the smaller "
                              "row (the paper's ESA)"),
    "snake": (_snake, "row by row, every other row reversed (boustrophedon)"),
    "hilbert": (_hilbert, "Hilbert curve from the corner, first step down, as published "
                          "(square, power-of-two side)"),
    "zorder": (_zorder, "Z-order / Morton curve (square, power-of-two side)"),
    "tiled": (_tiled, "8 x 8 tiles in row-major order, row-major inside each (a block-sparse "
                      "kernel's tiles; edge tiles may be partial)"),
}


def enumerations() -> dict:
    """The available enumerations, name -> one-line description.

    Examples
    --------
    >>> "manhattan" in enumerations()
    True
    """
    return {name: doc for name, (_, doc) in ENUMERATIONS.items()}


def _check_name(name: str) -> None:
    check_known("enumeration", name, ENUMERATIONS)


def enumeration(name: str, grid: tuple[int, int]) -> np.ndarray:
    """The rank permutation of an enumeration on a grid.

    Parameters
    ----------
    name : str
        One of :func:`enumerations`.
    grid : tuple (h, w)

    Returns
    -------
    numpy.ndarray of int64, shape (h * w,)
        ``rank[p]`` is the 1-D index of row-major pixel ``p``.

    Raises
    ------
    InvalidArgument
        For an unknown name, a bad grid, or a grid the enumeration cannot cover.

    Examples
    --------
    >>> enumeration("manhattan", (3, 3)).reshape(3, 3)
    array([[0, 1, 3],
           [2, 4, 6],
           [5, 7, 8]])
    """
    _check_name(name)
    h, w = _check_grid(grid)
    check_fits(f"the {name} enumeration of a {h}x{w} grid", h * w * BYTES_PER_POSITION)
    return ENUMERATIONS[name][0](h, w).astype(np.int64)


def _check_grid(grid: tuple[int, int]) -> tuple[int, int]:
    try:
        h, w = grid
    except (TypeError, ValueError):
        raise InvalidArgument(f"grid must be a pair (h, w), got {grid!r}") from None
    return check_positive_int("grid height", h), check_positive_int("grid width", w)


@overload
def grid_of(n: int, grid: tuple[int, int]) -> tuple[int, int]: ...


@overload
def grid_of(n: int, grid: None = None) -> tuple[int, int] | None: ...


def grid_of(n: int, grid: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """The grid of N positions: ``grid`` checked, else the square one, else None.

    Examples
    --------
    >>> grid_of(81), grid_of(10), grid_of(6, (2, 3))
    ((9, 9), None, (2, 3))
    """
    n = check_positive_int("n", n)
    if grid is not None:
        h, w = _check_grid(grid)
        if h * w != n:
            raise InvalidArgument(f"grid {h}x{w} has {h * w} positions, but n = {n}")
        return (h, w)
    s = int(math.isqrt(n))
    return (s, s) if s * s == n else None
