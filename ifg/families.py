"""The 2-D sparse attention families people run today (SPEC section 11).

Every family lives on an ``H x W`` grid, positions row-major (``p = r * W + c``, FlexAttention's
convention for images), and returns its steps as boolean CSR matrices (``step[q, k]``: query q
attends key k). Neighbourhoods, windows, axial steps and sliding tiles act on rows and columns
separately: each of their steps is the Kronecker product ``kron(A_rows, A_columns)`` of two 1-D
masks, one per axis, which is how they are built (vectorised, no loop over positions) and what
:func:`ifg.depth.depth` exploits.

=============== ============================================================================
family          query ``(r, c)`` attends key ``(r', c')`` iff
=============== ============================================================================
neighborhood    along each axis: the key is in the query's dilation group (``r' = r mod D``)
                and among the K positions of that group centred on the query, the window
                shifted inwards at the edges (NATTEN's ``na2d``); ``causal``: the K positions
                of the group ending at the query (NATTEN's ``is_causal``)
swin            step 1: the same ``W x W`` window; step 2: the same window after cutting each
                axis at ``S + m W`` (Swin's masked cyclic shift: no wrap-around)
axial           step 1: ``r' = r``; step 2: ``c' = c``
criss-cross     ``r' = r`` or ``c' = c`` (one step, CCNet)
sliding-tile    the key's ``T x T`` tile is among the ``M x M`` tiles centred on the query's
                tile, shifted inwards at the edges (Sliding Tile Attention)
global          the first G positions attend every key and every query attends them (BigBird)
random-keys     each query attends R distinct keys drawn uniformly (BigBird; seeded)
=============== ============================================================================

A size parameter takes one integer for both axes or ``AxB`` (rows x columns), as NATTEN's
``kernel_size`` and ``dilation`` take a pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ifg.errors import InvalidArgument
from ifg.memory import BYTES_PER_EDGE, check_fits

__all__ = ["FAMILIES", "Family", "Param", "families", "axis_neighborhood", "axis_windows",
           "axis_tiles"]

#: a value per axis: (rows, columns)
Pair = tuple[int, int]


@dataclass(frozen=True)
class Param:
    """One parameter of a family: its kind (``pair``, ``offset-pair`` (may be 0), ``int``,
    ``bool-pair``), default and help.

    ``default`` None means "derived from the others" (Swin's shift is ``window // 2``)."""

    kind: str
    default: object
    help: str


@dataclass(frozen=True)
class Family:
    """A 2-D family: ``build(grid, params, seed)`` returns its steps, row-major."""

    build: Callable[[Pair, dict, int], list[sp.csr_matrix]]
    params: dict
    doc: str
    anchor: str


def _axis_names(axis: int) -> str:
    return "rows" if axis == 0 else "columns"


def axis_neighborhood(length: int, kernel: int, dilation: int = 1, *,
                      causal: bool = False) -> sp.csr_matrix:
    """The 1-D neighbourhood mask along one axis (NATTEN's window of one dimension).

    Parameters
    ----------
    length : int
        Positions along the axis.
    kernel, dilation : int
        Window size K and dilation D; ``K * D <= length`` (as NATTEN requires).
    causal : bool
        The K positions of the query's dilation group ending at the query (fewer near the start).

    Returns
    -------
    scipy.sparse.csr_matrix of bool, shape (length, length)

    Examples
    --------
    >>> axis_neighborhood(5, 3).toarray().astype(int)
    array([[1, 1, 1, 0, 0],
           [1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 1, 1, 1],
           [0, 0, 1, 1, 1]])
    """
    i = np.arange(length)
    group, j = i % dilation, i // dilation  # dilation group and index within it
    group_len = (length - group + dilation - 1) // dilation
    if causal:
        start = np.maximum(j - kernel + 1, 0)
        stop = j + 1
    else:
        start = np.clip(j - kernel // 2, 0, group_len - kernel)
        stop = start + kernel
    counts = stop - start
    rows = np.repeat(i, counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    keys = (np.repeat(start, counts) + within) * dilation + np.repeat(group, counts)
    return _bool_csr(rows, keys, length)


def axis_windows(length: int, window: int, shift: int = 0) -> sp.csr_matrix:
    """The 1-D mask of non-overlapping windows cut at ``shift + m * window`` (no wrap-around).

    Examples
    --------
    >>> axis_windows(4, 2, 1).toarray().astype(int)
    array([[1, 0, 0, 0],
           [0, 1, 1, 0],
           [0, 1, 1, 0],
           [0, 0, 0, 1]])
    """
    segment = (np.arange(length) - shift) // window  # floor: positions before the shift are -1
    return _same_segment(segment)


def axis_tiles(length: int, tile: int, window: int) -> sp.csr_matrix:
    """The 1-D mask of sliding tiles: the key's tile is among the ``window`` tiles centred on the
    query's, shifted inwards at the edges.

    Examples
    --------
    >>> axis_tiles(6, 2, 1).nnz, axis_tiles(6, 2, 3).nnz
    (12, 36)
    """
    tiles = length // tile
    t = np.arange(length) // tile
    start = np.clip(t - window // 2, 0, tiles - window) * tile
    counts = np.full(length, window * tile)
    rows = np.repeat(np.arange(length), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return _bool_csr(rows, np.repeat(start, counts) + within, length)


def _same_segment(segment: np.ndarray) -> sp.csr_matrix:
    """Row i allows every j with ``segment[j] == segment[i]`` (segments are contiguous)."""
    n = len(segment)
    _, first, counts = np.unique(segment, return_index=True, return_counts=True)
    start = np.repeat(first, counts)
    size = np.repeat(counts, counts)
    rows = np.repeat(np.arange(n), size)
    within = np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)
    return _bool_csr(rows, np.repeat(start, size) + within, n)


def _bool_csr(rows: np.ndarray, cols: np.ndarray, n: int) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n, n))
    m.sum_duplicates()
    m.sort_indices()
    return m


def _kron(rows: sp.csr_matrix, cols: sp.csr_matrix, what: str) -> sp.csr_matrix:
    check_fits(what, rows.nnz * cols.nnz * BYTES_PER_EDGE)
    m = sp.kron(rows, cols, format="csr").astype(bool)
    m.sort_indices()
    return m


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgument(message)


def _neighborhood(grid: Pair, params: dict, seed: int) -> list[sp.csr_matrix]:
    kernel, dilation, causal = params["kernel"], params["dilation"], params["causal"]
    axes = []
    for axis in (0, 1):
        k, d, length = kernel[axis], dilation[axis], grid[axis]
        _need(k * d <= length, f"kernel {k} with dilation {d} needs {k * d} positions along "
              f"the {_axis_names(axis)}, but the grid {grid[0]}x{grid[1]} has {length}")
        axes.append(axis_neighborhood(length, k, d, causal=causal[axis]))
    return [_kron(axes[0], axes[1], f"neighborhood on a {grid[0]}x{grid[1]} grid")]


def _swin(grid: Pair, params: dict, seed: int) -> list[sp.csr_matrix]:
    window = params["window"]
    shift = params["shift"] if params["shift"] is not None else (window[0] // 2, window[1] // 2)
    plain, shifted = [], []
    for axis in (0, 1):
        w, s, length = window[axis], shift[axis], grid[axis]
        _need(length % w == 0, f"window {w} does not divide the {_axis_names(axis)} of the "
              f"grid {grid[0]}x{grid[1]} ({length})")
        _need(0 <= s < w, f"shift must be in 0..{w - 1} (below the window), got {s}")
        plain.append(axis_windows(length, w))
        shifted.append(axis_windows(length, w, s))
    what = f"swin on a {grid[0]}x{grid[1]} grid"
    return [_kron(plain[0], plain[1], what), _kron(shifted[0], shifted[1], what)]


def _ones(n: int) -> sp.csr_matrix:
    return sp.csr_matrix(np.ones((n, n), dtype=bool))


def _axial(grid: Pair, params: dict, seed: int) -> list[sp.csr_matrix]:
    h, w = grid
    what = f"axial on a {h}x{w} grid"
    eye = sp.identity
    return [_kron(eye(h, dtype=bool, format="csr"), _ones(w), what),
            _kron(_ones(h), eye(w, dtype=bool, format="csr"), what)]


def _criss_cross(grid: Pair, params: dict, seed: int) -> list[sp.csr_matrix]:
    row, col = _axial(grid, params, seed)
    m = (row + col).astype(bool).tocsr()
    m.sort_indices()
    return [m]


def _sliding_tile(grid: Pair, params: dict, seed: int) -> list[sp.csr_matrix]:
    tile, window = params["tile"], params["window"]
    axes = []
    for axis in (0, 1):
        t, m, length = tile[axis], window[axis], grid[axis]
        _need(length % t == 0, f"tile {t} does not divide the {_axis_names(axis)} of the grid "
              f"{grid[0]}x{grid[1]} ({length})")
        _need(m * t <= length, f"a window of {m} tiles of {t} needs {m * t} positions along the "
              f"{_axis_names(axis)}, but the grid {grid[0]}x{grid[1]} has {length}")
        axes.append(axis_tiles(length, t, m))
    return [_kron(axes[0], axes[1], f"sliding-tile on a {grid[0]}x{grid[1]} grid")]


def _global(grid: Pair, params: dict, seed: int) -> list[sp.csr_matrix]:
    n = grid[0] * grid[1]
    g = params["tokens"]
    _need(g <= n, f"tokens must be at most the {n} positions of the grid, got {g}")
    check_fits(f"{g} global tokens over {n:,} positions", 2 * g * n * BYTES_PER_EDGE)
    hubs = np.arange(g)
    rows = np.concatenate([np.repeat(hubs, n), np.repeat(np.arange(n), g)])
    cols = np.concatenate([np.tile(np.arange(n), g), np.tile(hubs, n)])
    return [_bool_csr(rows, cols, n)]


def _random_keys(grid: Pair, params: dict, seed: int) -> list[sp.csr_matrix]:
    n = grid[0] * grid[1]
    keys = params["keys"]
    check_fits(f"{keys} random keys per query over {n:,} positions", keys * n * BYTES_PER_EDGE)
    if keys > n:
        raise InvalidArgument(f"random-keys: {keys} keys per query, but the grid has only {n} "
                              f"positions")
    rng = np.random.default_rng(seed if params["seed"] is None else params["seed"])
    return [_bool_csr(np.repeat(np.arange(n), keys), _distinct_draws(rng, n, keys).ravel(), n)]


def _distinct_draws(rng: np.random.Generator, n: int, keys: int) -> np.ndarray:
    """``(n, keys)``: in each row ``keys`` distinct integers of ``range(n)``, uniform (as
    BigBird draws its random keys: without replacement). Duplicates in a row are drawn again
    until none is left; when ``keys`` is more than half of ``n``, each row is a random
    permutation's first ``keys``."""
    if 2 * keys > n:
        return np.argsort(rng.random((n, n)), axis=1)[:, :keys]
    draws = rng.integers(0, n, (n, keys))
    while True:
        ordered = np.sort(draws, axis=1)
        again = np.zeros_like(draws, dtype=bool)
        again[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
        if not again.any():
            return ordered
        ordered[again] = rng.integers(0, n, int(again.sum()))
        draws = ordered


_KERNEL = Param("pair", 7, "window size K along each axis (K or KhxKw)")
#: name -> Family; every family also takes ``layers`` (see :mod:`ifg.spec`)
FAMILIES = {
    "neighborhood": Family(_neighborhood, {
        "kernel": _KERNEL,
        "dilation": Param("pair", 1, "dilation D: the key is in the query's group mod D"),
        "causal": Param("bool-pair", False, "NATTEN's is_causal: true, false, or per axis 1x0"),
    }, "NATTEN's 2-D neighbourhood: the K x K keys of the query's dilation group centred on it, "
       "shifted inwards at the edges; one step", "NATTEN na2d"),
    "swin": Family(_swin, {
        "window": Param("pair", 7, "window side W (W or WhxWw); must divide the grid"),
        "shift": Param("offset-pair", None, "shift S of the second step (default W // 2)"),
    }, "Swin's windows, then the windows offset by S cut at the grid's edges; two steps",
       "Swin Transformer"),
    "axial": Family(_axial, {}, "the query's row, then its column; two steps", "axial attention"),
    "criss-cross": Family(_criss_cross, {}, "the query's row and column; one step",
                          "CCNet"),
    "sliding-tile": Family(_sliding_tile, {
        "tile": Param("pair", 8, "tile side T (T or ThxTw); must divide the grid"),
        "window": Param("pair", 3, "M: the M x M tiles centred on the query's tile"),
    }, "Sliding Tile Attention: the M x M tiles centred on the query's tile, shifted inwards "
       "at the edges; one step", "FastVideo STA"),
    "global": Family(_global, {
        "tokens": Param("int", 1, "G: positions 0..G-1 attend and are attended by all"),
    }, "BigBird's global tokens: the first G positions see and are seen by every position; "
       "one step (combine with +)", "BigBird"),
    "random-keys": Family(_random_keys, {
        "keys": Param("int", 3, "R: distinct keys drawn per query (without replacement)"),
        "seed": Param("int", None, "the draw's seed (default: the pattern's --seed)"),
    }, "BigBird's random keys: each query attends R keys drawn uniformly; one step (combine "
       "with +)", "BigBird"),
}


def families() -> dict:
    """The 2-D families, name -> one-line description.

    Examples
    --------
    >>> sorted(families())[:3]
    ['axial', 'criss-cross', 'global']
    """
    return {name: f.doc for name, f in FAMILIES.items()}
