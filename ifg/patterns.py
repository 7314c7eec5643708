"""The named sparse attention patterns (SPEC section 2) and their registry.

Every builder takes N (and the grid, and a seed) and returns the steps in the pattern's own 1-D
order, as boolean CSR matrices, vectorised (no Python loop over positions). With
``s = floor(sqrt(N))`` and ``block(x) = x // s``:

=========== ====================================== ======================================
name        step 1 ``M1[i, j]``                    step 2 ``M2[i, j]``
=========== ====================================== ======================================
ltr         ``block(i)==block(j) and j <= i``      ``j == i or j % s == s-1``
rtl         ``block(i)==block(j) and j >= i``      ``j == i or j % s == 0`` (j + s <= N)
fixed       ``block(i)==block(j) and j <= i``      ``j % s == s-1 and j <= i``
strided     ``i - s <= j <= i``                    ``(i - j) % s == 0 and j <= i``
strided-ext as strided                             strided's, plus ``i + t (s + 1)`` and N - 1
dense       all                                    (one step)
local       ``|i - j| <= s // 2``                  (one step)
=========== ====================================== ======================================

The published code's other masks (its ``ylg/masks.py``), each a named pattern too; the published
code never used them in a model:

=========== =============================================================================
name        definition (published class)
=========== =============================================================================
circle-grid one step on the ``h x w`` grid: query ``(r, c)`` attends ``(r -+ 1, c)`` and
            ``(r, c -+ 1)``, rows and columns wrapping (a torus), not itself
            (``CircleGridMask``; the line that would add the query is commented out there).
            Needs a grid.
relay       step 1: the last position attends every other (``DirectRelayMask``); step 2:
            every other attends it (``ReverseRelayMask``). As published it is broken for
            attention: N - 1 empty rows in step 1 and one in step 2 (a softmax over nothing,
            which ``ylg.attention.Attention2d`` refuses), and the 2N - 1 pairs into or out
            of the relay have no path. Kept as published, for the check to show it.
relay-self  the repair: ``relay`` with every query also attending itself in both steps;
            no empty row, Full Information, 2N - 1 edges per step.
random      two steps, each ``ConstantDegreeRandomMask`` with degree ``s``: every key is
            attended by ``s`` queries drawn uniformly with replacement (fewer when a draw
            repeats; a query can draw none, an empty row). The published draw uses Python's
            unseeded ``random``; here ``pattern(..., seed=)`` makes it reproducible.
sliding     one step, ``SlidingMask`` of a square mask (overlap 1, so degree 2): query i
            attends i and ``(i + 1) mod N``. Its wrap-around computes ``nI - y`` where
            ``y - nI`` was meant, a negative index that numpy counts from the end; a square
            mask only ever wraps to exactly N, where both give 0, so the square mask is as
            intended (non-square ones, not built here, are not).
=========== =============================================================================

The published ``CircleMask`` (a 1-D ring of left and right neighbours) cannot run: it uses the
undefined names ``indices`` and ``last_indx``, and its parameter is spelled with a Greek capital
iota (``nΙ``), so ``nI`` is undefined too. It is not offered; ``circle-grid`` on a ``1 x N`` grid
is the ring with the query itself added (its up and down neighbours are the query).

``ltr`` and ``rtl`` have Full Information when ``s`` divides N (the paper's square grids); when the
last block is partial, it has no block end (``ltr``), and ``rtl``'s step 2 takes the starts of
complete blocks only (as the published ``RightRepetitiveMask`` does), so step 2 cannot reach it:
at N = 10 both miss 9 pairs.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ifg.enumerations import grid_of
from ifg.pattern import layout
from ifg.errors import InvalidArgument, check_known, check_positive_int
from ifg.memory import BYTES_PER_EDGE, check_fits, pattern_edges
from ifg.pattern import Pattern

__all__ = ["PATTERNS", "patterns", "named_pattern", "stride"]

#: a dense step over more positions than this is refused (N*N booleans in CSR)
MAX_DENSE_N = 16_384


def stride(n: int) -> int:
    """The stride ``s = floor(sqrt(N))`` of the 1-D patterns.

    Examples
    --------
    >>> stride(81), stride(80)
    (9, 8)
    """
    return int(math.isqrt(check_positive_int("n", n)))


def _csr(rows: np.ndarray, cols: np.ndarray, n: int) -> sp.csr_matrix:
    """Boolean CSR from (row, col) pairs; duplicates merge."""
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    m.sum_duplicates()
    m.data[:] = 1
    return m.astype(bool)


def _runs(starts: np.ndarray, stops: np.ndarray, n: int) -> sp.csr_matrix:
    """Boolean CSR whose row i allows the keys ``starts[i] <= j < stops[i]`` (one run a row)."""
    lengths = np.maximum(stops - starts, 0)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    # within-run offsets: position in the flat index minus the run's start in the flat index
    offsets = np.arange(indptr[-1]) - np.repeat(indptr[:-1], lengths)
    indices = np.repeat(starts, lengths) + offsets
    return sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, n))


def _columns_plus_diagonal(cols: np.ndarray, n: int) -> sp.csr_matrix:
    """Row i allows the shared sorted key set ``cols`` and i itself, built as CSR directly."""
    cols = np.asarray(cols, dtype=np.int64)
    c = len(cols)
    i = np.arange(n)
    pos = np.searchsorted(cols, i)  # where i goes in row i's sorted keys
    present = np.zeros(n, dtype=bool)
    if c:
        present = cols[np.minimum(pos, c - 1)] == i
    add = np.flatnonzero(~present)
    indices = np.insert(np.tile(cols.astype(np.int32), n), add * c + pos[add],
                        add.astype(np.int32))
    indptr = np.concatenate([[0], np.cumsum(c + ~present)])
    return sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, n))


def _block_bounds(n: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    s = stride(n)
    i = np.arange(n)
    start = (i // s) * s
    return s, i, start, np.minimum(start + s, n)


def _ltr(n: int, grid: tuple[int, int] | None = None,
         seed: int = 0) -> list[sp.csr_matrix]:
    s, i, start, _ = _block_bounds(n)
    return [_runs(start, i + 1, n), _columns_plus_diagonal(np.arange(s - 1, n, s), n)]


def _rtl(n: int, grid: tuple[int, int] | None = None,
         seed: int = 0) -> list[sp.csr_matrix]:
    s, i, _, stop = _block_bounds(n)
    # the starts of complete blocks only, as published (RightRepetitiveMask shifts the block ends
    # back by s - 1): a partial last block's start is no column, like ltr's missing block end
    return [_runs(i, stop, n), _columns_plus_diagonal(np.arange(0, n - s + 1, s), n)]


def _fixed(n: int, grid: tuple[int, int] | None = None,
           seed: int = 0) -> list[sp.csr_matrix]:
    s, i, start, _ = _block_bounds(n)
    ends = np.arange(s - 1, n, s)
    rows = np.repeat(i, len(ends))
    keys = np.tile(ends, n)
    ok = keys <= rows
    return [_runs(start, i + 1, n), _csr(rows[ok], keys[ok], n)]


def _strided(n: int, grid: tuple[int, int] | None = None,
             seed: int = 0) -> list[sp.csr_matrix]:
    s = stride(n)
    i = np.arange(n)
    step1 = _runs(np.maximum(i - s, 0), i + 1, n)
    counts = i // s + 1  # keys i, i - s, i - 2s, ... >= 0
    rows = np.repeat(i, counts)
    back = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return [step1, _csr(rows, rows - back * s, n)]


def _strided_ext(n: int, grid: tuple[int, int] | None = None,
                 seed: int = 0) -> list[sp.csr_matrix]:
    # closed form, see ifg.extend.strided_extension: query i also attends i + t (s + 1), t >= 1,
    # while below N - 1, and then N - 1, whose step-1 windows tile (i, N - 1]
    s = stride(n)
    step1, step2 = _strided(n)
    i = np.arange(n)
    counts = -(-(n - 1 - i) // (s + 1))  # ceil((N - 1 - i) / (s + 1))
    q = np.repeat(i, counts)
    t = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    added = _csr(q, np.minimum(q + t * (s + 1), n - 1), n)
    return [step1, (step2 + added).astype(bool).tocsr()]


def _dense(n: int, grid: tuple[int, int] | None = None,
           seed: int = 0) -> list[sp.csr_matrix]:
    if n > MAX_DENSE_N:
        raise InvalidArgument(f"a dense pattern over n = {n} positions is too large to build "
                              f"as a mask (limit {MAX_DENSE_N}); dense attention needs no mask")
    return [_runs(np.zeros(n, dtype=np.int64), np.full(n, n), n)]


def _local(n: int, grid: tuple[int, int] | None = None,
           seed: int = 0) -> list[sp.csr_matrix]:
    s = stride(n)
    i = np.arange(n)
    half = s // 2
    return [_runs(np.maximum(i - half, 0), np.minimum(i + half + 1, n), n)]


# The published code's other masks (its ``ylg/masks.py``), SPEC terms: see docs/design.md.


def _circle_grid(n: int, grid: tuple[int, int] | None = None,
                 seed: int = 0) -> list[sp.csr_matrix]:
    # CircleGridMask: the four neighbours on the torus (rows and columns wrap), not the query
    # itself (the published line that adds it is commented out)
    if grid is None:
        raise InvalidArgument(f"circle-grid lives on a 2-D grid, but n = {n} is not a perfect "
                              "square; give the grid (h, w)")
    h, w = grid
    r, c = np.divmod(np.arange(n), w)
    keys = np.stack([(r - 1) % h * w + c, r * w + (c - 1) % w,
                     (r + 1) % h * w + c, r * w + (c + 1) % w], axis=1)
    return [_csr(np.repeat(np.arange(n), 4), keys.ravel(), n)]


def _relay(n: int, grid: tuple[int, int] | None = None,
           seed: int = 0) -> list[sp.csr_matrix]:
    # DirectRelayMask then ReverseRelayMask: the last position (the relay) attends every other,
    # then every other attends the relay; as published, the relay attends not itself
    others, relay = np.arange(n - 1), np.full(n - 1, n - 1)
    return [_csr(relay, others, n), _csr(others, relay, n)]


def _relay_self(n: int, grid: tuple[int, int] | None = None,
                seed: int = 0) -> list[sp.csr_matrix]:
    i = np.arange(n)
    return [(step + _csr(i, i, n)).astype(bool).tocsr() for step in _relay(n)]


def _random(n: int, grid: tuple[int, int] | None = None,
            seed: int = 0) -> list[sp.csr_matrix]:
    # ConstantDegreeRandomMask, drawn twice: each key sends s edges to queries drawn uniformly
    # with replacement (a query can draw none: an empty row)
    s = stride(n)
    rng = np.random.default_rng(seed)
    keys = np.repeat(np.arange(n), s)
    return [_csr(rng.integers(0, n, len(keys)), keys, n) for _ in range(2)]


def _sliding(n: int, grid: tuple[int, int] | None = None,
             seed: int = 0) -> list[sp.csr_matrix]:
    # SlidingMask of a square mask (overlap 1, so degree 2): query i attends i and i + 1, and
    # the last query wraps to 0
    i = np.arange(n)
    return [_csr(np.repeat(i, 2), np.stack([i, (i + 1) % n], axis=1).ravel(), n)]


#: name -> (builder, one-line description); ``builder(n, grid, seed)`` returns the steps in the
#: pattern's own 1-D order (row-major on ``grid`` for a pattern defined on the grid)
PATTERNS = {
    "ltr": (_ltr, "YLG left to right: causal blocks, then every block end plus itself (Full "
                  "Information)"),
    "rtl": (_rtl, "YLG right to left: ltr with the index order reversed (Full Information)"),
    "fixed": (_fixed, "Sparse Transformers' fixed pattern (c = 1), causal; lacks Full Information"),
    "strided": (_strided, "Sparse Transformers' strided pattern, causal; Full Information only "
                          "causally"),
    "strided-ext": (_strided_ext, "strided extended to Full Information within ltr's budget "
                                  "(the paper's 'YLG strided', see ifg.strided_extension)"),
    "dense": (_dense, "every query attends every key (SAGAN); one step"),
    "local": (_local, "a 1-D window of half-width floor(s / 2) around each query; one step"),
    "circle-grid": (_circle_grid, "published CircleGridMask: the four torus neighbours on the "
                                  "grid, not the query; one step"),
    "relay": (_relay, "published DirectRelayMask then ReverseRelayMask through the last "
                      "position; empty rows, lacks Full Information"),
    "relay-self": (_relay_self, "relay with every query also attending itself: no empty row, "
                                "Full Information, 2N - 1 edges a step"),
    "random": (_random, "published ConstantDegreeRandomMask drawn twice: each key sent to s "
                        "random queries per step (seeded)"),
    "sliding": (_sliding, "published SlidingMask (overlap 1): query i attends i and i + 1, "
                          "wrapping; one step"),
}


def patterns() -> dict:
    """The named patterns, name -> one-line description.

    Examples
    --------
    >>> sorted(patterns())[:4]
    ['circle-grid', 'dense', 'fixed', 'local']
    """
    return {name: doc for name, (_, doc) in PATTERNS.items()}


def named_pattern(name: str, n: int, *, enumeration: str = "rowmajor",
                  grid: tuple[int, int] | None = None, seed: int = 0) -> Pattern:
    """The named pattern ``name`` (one of :func:`patterns`) over N positions, laid out in
    ``enumeration``: what :func:`ifg.pattern` builds for a name of this registry (it takes
    families and specifications too).

    Examples
    --------
    >>> p = named_pattern("ltr", 9)
    >>> p.edges
    [18, 33]
    >>> [list(map(int, p.steps[0][q].indices)) for q in (0, 4, 8)]
    [[0], [3, 4], [6, 7, 8]]
    """
    check_known("pattern", name, PATTERNS)
    n = check_positive_int("n", n)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgument(f"seed must be a non-negative integer, got {seed!r}")
    grid = grid_of(n, grid)
    check_fits(f"the pattern {name!r} over N = {n:,} positions",
               pattern_edges(name, n) * BYTES_PER_EDGE)
    steps = PATTERNS[name][0](n, grid, seed)
    base = Pattern(tuple(steps), grid=grid, enumeration="rowmajor", name=name)
    if enumeration == "rowmajor":
        return base
    return layout(base, enumeration, grid)
