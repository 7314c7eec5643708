"""Depth: how many layers of a pattern before every key reaches every query.

The pattern's steps are applied in order, cyclically, one step per layer: after layer t the reach
is ``R_t = M_t R_(t-1)`` (``R_0`` the identity, ``M_t`` step ``(t - 1) mod P + 1``), and the depth
is the fewest layers with ``R_t`` all True (SPEC section 11). Two exact methods:

- ``kronecker``: when every step acts on rows and columns separately (``M = kron(A, B)``, as
  neighbourhoods, windows, axial steps and sliding tiles do), ``R_t = kron(A_t...A_1,
  B_t...B_1)``: two products of ``H x H`` and ``W x W`` masks a layer, found by factoring the
  steps themselves, so a mask from anywhere (a ``mask_mod``) gets it too; the causal pairs
  (row-major token order) are summed per axis as well;
- ``bitsets``: any other pattern: the reach as one bit per (query, key) pair, ``N * N / 8``
  bytes, each layer an OR of the rows of the keys each query attends, composed block by block
  of edges so that the temporaries stay bounded.

A reach that comes back unchanged after a whole cycle of P layers stays so for ever: the search
stops there and says that no depth reaches.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from ifg.errors import InvalidArgument, check_positive_int
from ifg.memory import check_fits
from ifg.pattern import Pattern

__all__ = ["DepthReport", "depth", "kronecker_factors"]


@dataclass
class DepthReport:
    """What :func:`depth` found.

    Attributes
    ----------
    layers : int or None
        The fewest layers after which every key reaches every query (every key ``k`` with
        ``rank[k] <= rank[q]`` with ``causal``); None when not within ``max_layers`` or never.
    coverage : list of float
        After each layer, the share of the (key, query) pairs (causal pairs with ``causal``)
        with a path.
    witness : tuple (key, query) or None
        A pair with no path after ``layers - 1`` layers (after the last layer tried when
        ``layers`` is None); ``witness_reason`` says why, in words.
    never : bool
        The reach stopped growing: no number of layers reaches every pair.
    method : str
        ``kronecker`` or ``bitsets`` (see the module).
    """

    pattern: str
    n: int
    grid: tuple | None
    steps: int
    causal: bool
    layers: int | None
    max_layers: int
    coverage: list
    witness: tuple | None
    witness_reason: str
    never: bool
    method: str
    seconds: float

    @property
    def holds(self) -> bool:
        """Whether every pair is reached within ``max_layers``."""
        return self.layers is not None

    def to_dict(self) -> dict:
        """A JSON-ready dict (the witness as ``{"key": k, "query": q}`` or None)."""
        d = asdict(self)
        d["grid"] = list(self.grid) if self.grid else None
        d["witness"] = (None if self.witness is None
                        else {"key": int(self.witness[0]), "query": int(self.witness[1])})
        return d

    def summary(self) -> str:
        """The report in a few lines."""
        grid = "x".join(map(str, self.grid)) if self.grid else "none"
        pairs = "causal pairs" if self.causal else "pairs"
        if self.layers is not None:
            verdict = f"{self.layers} layer(s): every key reaches every query"
        elif self.never:
            verdict = "never: the reach stops growing"
        else:
            verdict = f"not within {self.max_layers} layers"
        shown = [f"{c:.4g}" for c in self.coverage[:12]]
        if len(self.coverage) > 12:
            shown.append(f"... {self.coverage[-1]:.4g}")
        lines = [f"pattern    {self.pattern}",
                 f"positions  {self.n:,} (grid {grid}), {self.steps} step(s) applied cyclically",
                 f"depth      {verdict}",
                 f"coverage   {', '.join(shown)}  (share of {pairs} with a path, per layer)",
                 f"method     {self.method}, {self.seconds:.3f} s"]
        if self.witness is not None:
            lines += ["", "witness: " + self.witness_reason]
        return "\n".join(lines)


def kronecker_factors(step: sp.spmatrix, grid: tuple[int, int]
                      ) -> tuple[sp.csr_matrix, sp.csr_matrix] | None:
    """``(A, B)`` with ``step == kron(A, B)`` on the grid (A over rows, B over columns), or None.

    Examples
    --------
    >>> import ifg
    >>> a, b = kronecker_factors(ifg.pattern("neighborhood:kernel=3", grid=(4, 5)).steps[0],
    ...                          (4, 5))
    >>> a.shape, b.shape, a.nnz, b.nnz
    ((4, 4), (5, 5), 12, 15)
    >>> kronecker_factors(ifg.pattern("criss-cross", grid=(4, 4)).steps[0], (4, 4)) is None
    True
    """
    m = sp.csr_matrix(step, dtype=bool)
    m.sort_indices()
    h, w = grid
    if m.nnz == 0:
        return None
    q = int(np.flatnonzero(np.diff(m.indptr))[0])
    k = int(m.indices[m.indptr[q]])
    (r0, c0), (r1, c1) = divmod(q, w), divmod(k, w)
    rows = m[np.arange(h) * w + c0][:, np.arange(h) * w + c1]
    cols = m[r0 * w + np.arange(w)][:, r1 * w + np.arange(w)]
    if rows.nnz * cols.nnz != m.nnz:
        return None
    k_m = sp.kron(rows, cols, format="csr").astype(bool)
    k_m.sort_indices()
    if not (np.array_equal(k_m.indptr, m.indptr) and np.array_equal(k_m.indices, m.indices)):
        return None
    return sp.csr_matrix(rows), sp.csr_matrix(cols)


def depth(pattern: Pattern, *, max_layers: int | None = None, causal: bool = False,
          method: str = "auto") -> DepthReport:
    """The fewest layers after which every key reaches every query, the steps applied cyclically.

    Parameters
    ----------
    pattern : Pattern
    max_layers : int, optional
        Give up after this many layers; default ``2 * (h + w) + P`` on a grid, ``N + P`` without.
    causal : bool
        Ask only for pairs with ``rank[k] <= rank[q]`` (the pattern's token order).
    method : {"auto", "kronecker", "bitsets"}
        ``auto`` takes ``kronecker`` when every step factors (and, with ``causal``, the token
        order is row-major).

    Returns
    -------
    DepthReport

    Raises
    ------
    InvalidArgument
        For a bad argument, ``kronecker`` asked of a pattern whose steps do not factor, or bitsets
        that would not fit in memory.

    Examples
    --------
    >>> import ifg
    >>> r = depth(ifg.pattern("neighborhood:kernel=3", grid=(8, 8)))
    >>> r.layers, r.coverage[0]
    (6, 0.140625)
    >>> depth(ifg.pattern("swin:window=4", grid=(8, 8))).layers
    3
    >>> depth(ifg.pattern("neighborhood:kernel=3,dilation=2", grid=(8, 8))).never
    True
    """
    if not isinstance(pattern, Pattern):
        raise InvalidArgument(f"expected an ifg.Pattern, got {type(pattern).__name__}")
    if method not in ("auto", "kronecker", "bitsets"):
        raise InvalidArgument(f"method must be auto, kronecker or bitsets, got {method!r}")
    t0 = time.perf_counter()
    n, P = pattern.n, pattern.num_steps
    if max_layers is None:
        max_layers = 2 * sum(pattern.grid) + P if pattern.grid else n + P
    max_layers = check_positive_int("max_layers", max_layers)
    factors = None
    # causal pairs follow the token order: row-major keeps them a sum over the two axes
    if method != "bitsets" and pattern.grid is not None and (not causal or pattern.rank is None):
        factors = [kronecker_factors(s, pattern.grid) for s in pattern.steps]
        if any(f is None for f in factors):
            factors = None
    if method == "kronecker" and factors is None:
        raise InvalidArgument("method 'kronecker' needs a pattern on a grid whose every step is "
                              "a Kronecker product of a row and a column mask (and, when causal, "
                              "row-major token order)")
    if factors is not None:
        layers_iter = _kronecker_layers(factors, pattern.grid, causal)  # type: ignore[arg-type]
        name = "kronecker"
    else:
        layers_iter = _bitset_layers(pattern, causal)
        name = "bitsets"
    coverage: list[float] = []
    layers, never, seen = None, False, None
    for t, (covered, total, current, previous, stuck) in enumerate(layers_iter, start=1):
        coverage.append(covered / total)
        if covered == total:
            layers, seen = t, previous  # the witness: a pair the layer before lacks
            break
        if stuck or t == max_layers:
            never, seen = stuck, current
            break
    witness, reason = _witness(pattern, seen, layers, never, causal, len(coverage))
    return DepthReport(pattern=pattern.name, n=n, grid=pattern.grid, steps=P, causal=causal,
                       layers=layers, max_layers=max_layers, coverage=coverage, witness=witness,
                       witness_reason=reason, never=never, method=name,
                       seconds=time.perf_counter() - t0)


def _kronecker_layers(factors: list, grid: tuple[int, int], causal: bool = False
                      ) -> Iterator[tuple[int, int, tuple, tuple, bool]]:
    """Yields per layer: pairs covered, pairs in all, this layer's and the previous layer's reach
    (valid until the next layer), and whether the reach is stuck. ``causal`` counts the pairs
    with key <= query row-major (:func:`_causal_cover`)."""
    h, w = grid
    rows, cols = np.eye(h, dtype=bool), np.eye(w, dtype=bool)
    P = len(factors)
    history: list[tuple[np.ndarray, np.ndarray]] = []
    t = 0
    while True:
        a, b = factors[t % P]
        previous = (rows, cols)
        rows = (a.astype(np.float32) @ rows.astype(np.float32)) > 0
        cols = (b.astype(np.float32) @ cols.astype(np.float32)) > 0
        history.append((rows, cols))
        t += 1
        # checked at the end of each cycle, as the bitsets check it: the same report either way
        stuck = t % P == 0 and len(history) > P and all(
            np.array_equal(x, y) for x, y in zip(history[-1], history[-1 - P]))
        if len(history) > P:
            history.pop(0)
        if causal:
            n = h * w
            covered, total = int(_causal_cover(rows, cols).sum()), n * (n + 1) // 2
        else:
            covered, total = int(rows.sum()) * int(cols.sum()), h * h * w * w
        yield covered, total, ((rows, cols), "kronecker"), (previous, "kronecker"), stuck


def _causal_cover(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Per query ``(r, c)`` (an ``h x w`` array), the keys ``k <= q`` row-major it is reached by
    when the reach is ``kron(rows, cols)``: every key of an earlier row ``r' < r`` it reaches
    (``rows[r, r'] * cols[c].sum()``), and in its own row those with ``c' <= c``."""
    earlier = np.tril(rows, -1).sum(axis=1)  # (h,)
    same = np.diagonal(rows).astype(np.int64)  # (h,)
    return (earlier[:, None] * cols.sum(axis=1)[None, :]
            + same[:, None] * np.tril(cols).sum(axis=1)[None, :])


#: the gathered rows of one block of edges take at most this many bytes
_BLOCK_BYTES = 1 << 25


def _bitset_layers(pattern: Pattern, causal: bool) -> Iterator[tuple[int, int, tuple, tuple, bool]]:
    """The same as :func:`_kronecker_layers` over bitsets, in the pattern's own 1-D order."""
    steps = [sp.csr_matrix(s, dtype=bool) for s in pattern.own_steps()]
    n, P = pattern.n, len(steps)
    words = (n + 63) // 64
    monotone = all(s.diagonal().all() for s in steps)  # every step keeps what was reached
    copies = 2 if monotone else 3
    check_fits(f"the reach of {n:,} positions as bits ({copies} copies)",
               copies * n * words * 8 + _BLOCK_BYTES * 2)
    i = np.arange(n)
    reach = np.zeros((n, words), dtype=np.uint64)
    reach[i, i >> 6] = np.left_shift(np.uint64(1), (i & 63).astype(np.uint64))
    spare = np.empty_like(reach)
    total = n * (n + 1) // 2 if causal else n * n
    counts: list[int] = []
    snapshot = None if monotone else reach.copy()
    t = 0
    done = np.zeros(n, dtype=bool)  # rows with every key: they stay so when reach only grows
    while True:
        _compose_bits(steps[t % P], reach, spare, done if monotone else None)
        reach, spare = spare, reach  # spare holds the previous layer's reach now
        t += 1
        covered, done = _count(reach, causal)
        if monotone:  # reach only grows: the same count a cycle later means the same sets
            stuck = t % P == 0 and len(counts) >= P and counts[-P] == covered
            counts.append(covered)
        else:
            stuck = False
            if t % P == 0:
                assert snapshot is not None
                stuck = np.array_equal(snapshot, reach)
                snapshot[...] = reach
        yield covered, total, (reach, "bits"), (spare, "bits"), stuck


def _compose_bits(step: sp.csr_matrix, reach: np.ndarray, out: np.ndarray,
                  done: np.ndarray | None = None) -> None:
    """``out[q] = OR of reach[k] over the keys k that q attends``, edge block by edge block;
    rows in ``done`` are all ones (skipped: they hold every key already, and keep it)."""
    n, words = reach.shape
    rows_of = np.arange(n)
    if done is not None and done.any():
        rows_of = np.flatnonzero(~done)
        out[done] = ~np.uint64(0)
        step = step[rows_of]
    indptr = step.indptr.astype(np.int64)
    indices = step.indices.astype(np.int64)
    out[rows_of] = 0
    chunk = max(1, _BLOCK_BYTES // (8 * words))
    for e0 in range(0, int(indptr[-1]), chunk):
        e1 = min(e0 + chunk, int(indptr[-1]))
        r0 = int(np.searchsorted(indptr, e0, side="right")) - 1
        r1 = int(np.searchsorted(indptr, e1 - 1, side="right"))  # rows r0..r1-1 meet the chunk
        rows = np.arange(r0, r1)
        starts = np.maximum(indptr[r0:r1], e0)
        ends = np.minimum(indptr[r0 + 1:r1 + 1], e1)
        keep = starts < ends
        gathered = reach[indices[e0:e1]]  # (edges, words)
        out[rows_of[rows[keep]]] |= np.bitwise_or.reduceat(gathered, starts[keep] - e0, axis=0)
    if n % 64 and done is not None and done.any():  # the padding bits of a full row stay 0
        out[done, -1] &= np.uint64((1 << (n % 64)) - 1)


def _count(reach: np.ndarray, causal: bool) -> tuple[int, np.ndarray]:
    """Pairs reached (all, or those with key <= query in own order), and the rows that hold
    every key; block by block of rows."""
    n, words = reach.shape
    total = 0
    full = np.zeros(n, dtype=bool)
    rows = max(1, _BLOCK_BYTES // (8 * words))
    for q0 in range(0, n, rows):
        block = reach[q0:q0 + rows]
        counts = np.bitwise_count(block)
        per_row = counts.sum(axis=1, dtype=np.int64)
        full[q0:q0 + len(block)] = per_row == n
        if not causal:
            total += int(per_row.sum())
            continue
        q = np.arange(q0, q0 + len(block))
        word = q >> 6
        before = np.cumsum(counts, axis=1, dtype=np.int64)
        full_words = np.where(word > 0, before[np.arange(len(q)), np.maximum(word - 1, 0)], 0)
        bit = (q & 63).astype(np.uint64)
        low = np.where(bit == 63, np.uint64(~np.uint64(0)),
                       np.left_shift(np.uint64(1), np.minimum(bit + np.uint64(1),
                                                              np.uint64(63))) - np.uint64(1))
        partial = np.bitwise_count(block[np.arange(len(q)), word] & low)
        total += int(full_words.sum() + partial.sum(dtype=np.int64))
    return total, full


def _row(reach: tuple, q: int, pattern: Pattern) -> np.ndarray:
    """The keys (row-major) that reach query q (row-major), from a layer's reach."""
    data, kind = reach
    n = pattern.n
    if kind == "kronecker":
        rows, cols = data
        w = cols.shape[0]
        r, c = divmod(q, w)
        return np.kron(rows[r], cols[c]).astype(bool)
    own = int(pattern.rank[q]) if pattern.rank is not None else q
    bits = np.unpackbits(data[own].view(np.uint8), bitorder="little")[:n].astype(bool)
    return bits[pattern.rank] if pattern.rank is not None else bits


def _lacking(pattern: Pattern, reach: tuple, causal: bool) -> tuple[int, int] | None:
    """A (key, query) pair, row-major, with no path in ``reach``."""
    data, kind = reach
    n = pattern.n
    if kind == "kronecker" and causal:
        rows, cols = data
        w = cols.shape[0]
        cover = _causal_cover(rows, cols).ravel()
        lacking = np.flatnonzero(cover < np.arange(1, len(cover) + 1))
        if not len(lacking):
            return None
        q = int(lacking[0])
        keys = np.kron(rows[q // w], cols[q % w]).astype(bool)
        return int(np.flatnonzero(~keys[:q + 1])[0]), q
    if kind == "kronecker":
        rows, cols = data
        w = cols.shape[0]
        for axis, (m, other) in enumerate(((rows, cols), (cols, rows))):
            missing = np.argwhere(~m)
            if len(missing):
                i, j = (int(v) for v in missing[0])
                hits = np.argwhere(other)
                a, b = (int(v) for v in hits[0]) if len(hits) else (0, 0)
                if axis == 0:
                    return j * w + b, i * w + a
                return b * w + j, a * w + i
        return None
    order = pattern.order
    for own_q in range(n):
        bits = np.unpackbits(data[own_q].view(np.uint8), bitorder="little")[:n].astype(bool)
        wanted = np.arange(n) <= own_q if causal else np.ones(n, dtype=bool)
        gaps = np.flatnonzero(wanted & ~bits)
        if len(gaps):
            return int(order[gaps[0]]), int(order[own_q])
    return None


def _where(pattern: Pattern, p: int) -> str:
    if pattern.grid is None:
        return str(p)
    r, c = divmod(p, pattern.grid[1])
    return f"{p} ({r},{c})"


def _extent(pattern: Pattern, keys: np.ndarray) -> str:
    count = int(keys.sum())
    if pattern.grid is None or count == 0:
        return f"{count:,} of {pattern.n:,} keys"
    h, w = pattern.grid
    r, c = np.divmod(np.flatnonzero(keys), w)
    parts = []
    for what, v in (("rows", r), ("columns", c)):
        step = int(np.gcd.reduce(np.diff(np.unique(v)))) if len(np.unique(v)) > 1 else 1
        every = f" in steps of {step}" if step > 1 else ""  # a dilation group, not a block
        parts.append(f"{what} {v.min()}..{v.max()}{every}")
    return f"{count:,} of {pattern.n:,} keys, within {', '.join(parts)}"


def _witness(pattern: Pattern, reach: tuple | None, layers: int | None, never: bool,
             causal: bool, tried: int) -> tuple[tuple[int, int] | None, str]:
    if reach is None or pattern.n == 1:
        return None, ""
    pair = _lacking(pattern, reach, causal)
    if pair is None:
        return None, ""
    key, query = pair
    seen = _extent(pattern, _row(reach, query, pattern))
    head = f"no path from key {_where(pattern, key)} to query {_where(pattern, query)}"
    if layers is not None:
        return pair, (f"{head} after {layers - 1} layer(s): the query is reached by {seen}; "
                      f"layer {layers} (step {(layers - 1) % pattern.num_steps + 1}) completes "
                      "every path")
    if never:
        return pair, (f"{head} at any depth: after {tried} layers the query is reached by "
                      f"{seen}, and a whole cycle of {pattern.num_steps} step(s) adds nothing "
                      "more (the reach stopped growing)")
    return pair, (f"{head} after {tried} layers (the limit): the query is reached by {seen}; "
                  "raise the limit (--max-layers)")
