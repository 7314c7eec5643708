"""Full Information, exact and fast, and the report of a pattern (SPEC section 3).

A pattern ``[M1, ..., MP]`` has Full Information when every input position reaches every output
position through the information-flow graph: the boolean product ``MP ... M1`` is all True.

How it is fast: Full Information does not change when all positions are renumbered the same way,
so the check works in the pattern's own 1-D order (:meth:`Pattern.own_steps`, which a laid-out
pattern keeps). There, a local step's rows are runs of consecutive keys, so the set each query
reaches is a short union of runs ``[start, end)``; composing a step means gathering the runs of
the positions a query attends and merging them, vectorised over blocks of queries small enough
to stay in the CPU's cache. Any mask is handled (a scattered row is simply many short runs).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

import numpy as np
import scipy.sparse as sp

from ifg.errors import InvalidArgument
from ifg.maskset import MaskSet
from ifg.memory import check_fits
from ifg.pattern import Pattern

#: runs of keys per query: ``ptr``, ``starts``, ``ends`` (see :func:`reachable_runs`)
_Runs = tuple[np.ndarray, np.ndarray, np.ndarray]

__all__ = ["CheckReport", "check", "full_information", "reachable_runs", "lower_bound_edges"]


@dataclass
class CheckReport:
    """What :func:`check` found. Positions are the pattern's own (row-major on its grid).

    Attributes
    ----------
    full_information, causal_full_information : bool
    missing_pairs, total_pairs : int
        (key, query) pairs with no path, out of N * N.
    causal_missing_pairs, causal_total_pairs : int
        The same over pairs with ``rank[k] <= rank[q]``, out of N (N + 1) / 2.
    witness : tuple (source, target) or None
        One input position (a key of step 1) with no path to one output position (a query of
        step P): for the causal check when ``causal`` was asked, else the bidirectional one.
    witness_reason : str
        Why there is no path, in words: which step lacks which edges.
    edges, max_keys_per_query, empty_rows : list, one entry per step
        ``empty_rows`` lists, per step, the queries that attend no key (a defect of its own).
    mean_keys_per_query : list of float
    lower_bound_edges : float
        ``P * N ** (1 + 1/P)``: edges of a balanced pattern at the smallest budget that allows
        Full Information (every query attends ``N ** (1/P)`` keys in each step).
    bound_ratio : float
        Total edges over that bound.
    seconds : float
    """

    pattern: str
    n: int
    grid: tuple | None
    enumeration: str
    steps: int
    causal: bool
    full_information: bool
    causal_full_information: bool
    missing_pairs: int
    total_pairs: int
    causal_missing_pairs: int
    causal_total_pairs: int
    witness: tuple | None
    witness_reason: str
    edges: list
    max_keys_per_query: list
    mean_keys_per_query: list
    empty_rows: list = field(default_factory=list)
    lower_bound_edges: float = 0.0
    bound_ratio: float = 0.0
    seconds: float = 0.0

    @property
    def holds(self) -> bool:
        """The property that was asked: causal Full Information when ``causal``, else Full."""
        return self.causal_full_information if self.causal else self.full_information

    def to_dict(self) -> dict:
        """A JSON-ready dict (the witness as ``{"source": k, "target": q}`` or None)."""
        d = asdict(self)
        d["grid"] = list(self.grid) if self.grid else None
        d["witness"] = (None if self.witness is None
                        else {"source": int(self.witness[0]), "target": int(self.witness[1])})
        return d


def lower_bound_edges(n: int, steps: int) -> float:
    """``P * N ** (1 + 1/P)``, the edges of a balanced pattern at the Full Information budget.

    Examples
    --------
    >>> lower_bound_edges(256, 2)
    8192.0
    """
    return float(steps * n ** (1 + 1 / steps))


def _own_order(pattern: Pattern) -> list[sp.csr_matrix]:
    """The steps renumbered into the pattern's 1-D order (where local rows are runs)."""
    return list(pattern.own_steps())


def _csr_runs(m: sp.csr_matrix) -> _Runs:
    """Runs of consecutive keys of each row of a CSR matrix with sorted indices.

    Returns (ptr, starts, ends): row q's runs are ``starts[ptr[q]:ptr[q+1]]`` (half-open ends).
    """
    m = sp.csr_matrix(m)
    m.sort_indices()
    n = m.shape[0]
    idx = m.indices.astype(np.int64)
    if len(idx) == 0:
        return np.zeros(n + 1, dtype=np.int64), idx, idx
    # a run starts where the key is not the previous key + 1, or where a row starts
    new = np.ones(len(idx), dtype=bool)
    np.not_equal(idx[1:], idx[:-1] + 1, out=new[1:])
    new[m.indptr[:-1][np.diff(m.indptr) > 0]] = True
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(idx)) - 1
    starts, ends = idx[first], idx[last] + 1
    ptr = np.searchsorted(first, m.indptr).astype(np.int64)
    return ptr, starts, ends


#: queries are composed in blocks of about this many gathered runs: bounded memory, and each
#: block's arrays stay in the CPU's cache instead of streaming through memory pass after pass
_BLOCK_RUNS = 1 << 13


def _gathered(step: sp.csr_matrix, ptr: np.ndarray, starts: np.ndarray, ends: np.ndarray,
              n: int) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """For each block of queries of ``step``, the runs of the positions they attend, unmerged.

    Yields ``(q0, q1, q, s, e)``: queries ``q0 <= q0 + q < q1`` reach ``[s, e)`` (q local).
    """
    indptr, indices = step.indptr.astype(np.int64), step.indices
    per_position = np.diff(ptr)
    single = bool((per_position == 1).all())  # one run per position (ptr is 0..N): local steps
    if single:
        gathered = indptr  # runs gathered by the queries before q
    else:
        per_edge = per_position[indices]
        gathered = np.concatenate([[0], np.cumsum(per_edge)])[indptr]
    cuts: list[int] | np.ndarray = [0, n]
    if gathered[-1] > _BLOCK_RUNS:
        cuts = np.unique(np.concatenate([[0], np.searchsorted(
            gathered, np.arange(_BLOCK_RUNS, gathered[-1], _BLOCK_RUNS)), [n]]))
    for q0, q1 in zip(cuts[:-1], cuts[1:]):
        m = indices[indptr[q0]:indptr[q1]].astype(np.int64)  # int64 gathers are 3x faster
        if single:
            run = m
        else:
            c = per_edge[indptr[q0]:indptr[q1]]
            first = ptr[m] - np.cumsum(c) + c  # first run of each edge, minus the runs before it
            run = np.repeat(first, c) + np.arange(int(c.sum()))
        q = np.repeat(np.arange(q1 - q0), np.diff(gathered[q0:q1 + 1]))
        yield int(q0), int(q1), q, starts[run], ends[run]


def _compose(step: sp.csr_matrix, ptr: np.ndarray, starts: np.ndarray, ends: np.ndarray,
             n: int) -> _Runs:
    """Runs reached by each query of ``step`` through the runs of the positions it attends."""
    counts, out_starts, out_ends = [np.zeros(1, np.int64)], [], []
    total = 0
    for q0, q1, q, s, e in _gathered(step, ptr, starts, ends, n):
        mq, s, e = _merge(q, s, e, n)
        counts.append(np.bincount(mq, minlength=q1 - q0))
        out_starts.append(s)
        out_ends.append(e)
        total += len(s)
        if total > _RUNS_CHECKED_FROM:  # scattered reach: many short runs; will the rest fit?
            check_fits(f"the runs reached through a step over N = {n:,} positions",
                       16 * total * n / q1)
    return np.cumsum(np.concatenate(counts)), np.concatenate(out_starts), np.concatenate(out_ends)


#: above this many merged runs, composing checks that the rest it projects will fit in memory
_RUNS_CHECKED_FROM = 1 << 24


def _last_coverage(step: sp.csr_matrix, ptr: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                   n: int) -> tuple[np.ndarray, np.ndarray]:
    """Coverage (:func:`_coverage`) of the last step, counted block by block, never stored.

    Merging the runs costs about the runs gathered over the step's edges; a boolean sparse
    product per block (scipy's, no sort) costs about the keys gathered. Runs win unless they are
    short (scattered reach sets, as in a random pattern): the cheaper one is used.
    """
    full = np.zeros(n, dtype=np.int64)
    causal = np.zeros(n, dtype=np.int64)
    if _runs_are_cheaper(step, ptr, starts, ends, n):
        for q0, q1, q, s, e in _gathered(step, ptr, starts, ends, n):
            mq, s, e = _merge(q, s, e, n)
            full[q0:q1] += np.bincount(mq, weights=e - s, minlength=q1 - q0).astype(np.int64)
            clipped = np.clip(np.minimum(e, mq + q0 + 1) - s, 0, None)
            causal[q0:q1] += np.bincount(mq, weights=clipped, minlength=q1 - q0).astype(np.int64)
        return full, causal
    reach = _runs_to_csr(ptr, starts, ends, n)
    step = sp.csr_matrix(step, dtype=bool)
    rows = max(1, _PRODUCT_ENTRIES // n)  # a block's product has at most rows * N entries
    for q0 in range(0, n, rows):
        block = step[q0:q0 + rows] @ reach  # boolean: sums saturate at True
        block.eliminate_zeros()
        counts = np.diff(block.indptr)
        full[q0:q0 + len(counts)] = counts
        q = np.repeat(np.arange(q0, q0 + len(counts)), counts)
        causal[q0:q0 + len(counts)] = np.bincount(q[block.indices <= q] - q0,
                                                  minlength=len(counts))
    return full, causal


def _runs_are_cheaper(step: sp.csr_matrix, ptr: np.ndarray, starts: np.ndarray,
                      ends: np.ndarray, n: int) -> bool:
    runs_per_position = np.diff(ptr)
    if (runs_per_position == 1).all():  # as many runs as edges: never more than keys
        return True
    keys_per_position = np.bincount(np.repeat(np.arange(n), runs_per_position),
                                    weights=ends - starts, minlength=n)
    gathered_keys = keys_per_position[step.indices].sum()
    return (_RUN_COST * runs_per_position[step.indices].sum() <= gathered_keys
            or gathered_keys < _PRODUCT_ENTRIES)


#: the boolean products of :func:`_last_coverage` work on blocks of about this many entries
_PRODUCT_ENTRIES = 1 << 22
#: merging a gathered run costs about this many times a product's gathered key (measured on
#: ltr, relay-self and random at N = 16,384)
_RUN_COST = 8


def _runs_to_csr(ptr: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 n: int) -> sp.csr_matrix:
    """The boolean CSR matrix whose row q holds the keys of its runs."""
    lengths = ends - starts
    nnz = int(lengths.sum())
    check_fits(f"the reach of {n:,} positions", nnz * 32)  # int64 indices and temporaries
    per_row = np.bincount(np.repeat(np.arange(n), np.diff(ptr)), weights=lengths,
                          minlength=n).astype(np.int64)
    indices = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(nnz)
    indptr = np.concatenate([[0], np.cumsum(per_row)])
    return sp.csr_matrix((np.ones(nnz, dtype=bool), indices, indptr), shape=(n, n))


def _merge(q: np.ndarray, s: np.ndarray, e: np.ndarray, n: int) -> _Runs:
    """Merge the runs of each row: (q, start, end) triples -> (row, start, end) of merged runs.

    Keys are below ``n``; the runs of a row come in any order. The result is sorted by row, then
    start.
    """
    if len(q) == 0:
        return q, s, e
    # offsetting by q * width orders all rows in one array, so one pass serves every row
    width = n + 1
    key = q * width + s
    off_end = q * width + e
    if (key[1:] < key[:-1]).any():  # sorted already when a row's keys are (local steps)
        o = np.argsort(key, kind="stable")
        q, s, key, off_end = q[o], s[o], key[o], off_end[o]
    if (off_end[1:] < off_end[:-1]).any():  # else the running maximum of the ends is the end
        off_end = np.maximum.accumulate(off_end)
    # a gap before a run starts a merged run (adjacent runs merge); a row's first run always
    # does, its key exceeding every offset end of the rows before it
    new = np.empty(len(key), dtype=bool)
    new[0] = True
    np.greater(key[1:], off_end[:-1], out=new[1:])
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(key)) - 1
    mq = q[first]
    return mq, s[first], off_end[last] - mq * width


def _check_is_pattern(pattern: object) -> None:
    if not isinstance(pattern, Pattern):
        raise InvalidArgument(f"expected an ifg.Pattern or an ifg.MaskSet, got "
                              f"{type(pattern).__name__}")


def reachable_runs(pattern: Pattern) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output position, the input positions with a path to it, as merged runs.

    Works in the pattern's 1-D order (see :class:`ifg.Pattern` ``rank``).

    Parameters
    ----------
    pattern : Pattern

    Returns
    -------
    ptr, starts, ends : numpy.ndarray
        Query ``i`` (1-D order) is reached by keys ``starts[j] <= k < ends[j]`` for
        ``ptr[i] <= j < ptr[i + 1]`` (1-D order), runs sorted and disjoint.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> ptr, starts, ends = reachable_runs(pattern("ltr", 9))
    >>> bool((starts == 0).all() and (ends == 9).all())
    True
    """
    steps = _own_order(pattern)
    n = pattern.n
    ptr, starts, ends = _csr_runs(steps[0])
    for step in steps[1:]:
        ptr, starts, ends = _compose(step, ptr, starts, ends, n)
    return ptr, starts, ends


def _reach_counts(pattern: Pattern) -> tuple[np.ndarray, np.ndarray]:
    """Per output position (1-D order): inputs with a path to it, and those before it or it."""
    steps = _own_order(pattern)
    n = pattern.n
    ptr, starts, ends = _csr_runs(steps[0])
    if len(steps) == 1:
        return _coverage(ptr, starts, ends, n)
    for step in steps[1:-1]:
        ptr, starts, ends = _compose(step, ptr, starts, ends, n)
    return _last_coverage(steps[-1], ptr, starts, ends, n)


def _coverage(ptr: np.ndarray, starts: np.ndarray, ends: np.ndarray,
              n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query: keys reached, and keys reached with index <= the query (causal)."""
    q = np.repeat(np.arange(n), np.diff(ptr))
    full = np.bincount(q, weights=ends - starts, minlength=n).astype(np.int64)
    causal_len = np.clip(np.minimum(ends, q + 1) - starts, 0, None)
    causal = np.bincount(q, weights=causal_len, minlength=n).astype(np.int64)
    return full, causal


def _first_gap(steps: Sequence[sp.csr_matrix], i: int) -> int:
    """The smallest input (1-D order) with no path to output i, by pushing i back through the
    steps."""
    keys = np.array([i])
    for step in reversed(steps):
        keys = np.unique(step[keys].indices)
    gaps = np.flatnonzero(keys != np.arange(len(keys)))
    return int(gaps[0]) if len(gaps) else len(keys)


def _describe(pattern: Pattern, p: int | np.integer) -> str:
    if pattern.grid is None:
        return str(int(p))
    r, c = divmod(int(p), pattern.grid[1])
    return f"{int(p)} ({r},{c})"


def _listing(pattern: Pattern, positions: Iterable[int | np.integer], limit: int = 6) -> str:
    positions = [int(x) for x in positions]
    shown = ", ".join(_describe(pattern, p) for p in positions[:limit])
    more = f", ... ({len(positions)} in all)" if len(positions) > limit else ""
    return f"[{shown}{more}]" if positions else "nothing"


def _witness_reason(pattern: Pattern, source: int, target: int) -> str:
    """Say, in words, why ``source`` (input) has no path to ``target`` (output)."""
    steps = pattern.steps
    P = len(steps)
    if P == 1:
        return (f"no path from key {_describe(pattern, source)} to query "
                f"{_describe(pattern, target)}: the single step does not let the query attend "
                "the key")
    # positions in layer P-1 that reach the target, and in layer 1 that the source reaches
    back = np.zeros(pattern.n, dtype=bool)
    back[target] = True
    for t in range(P - 1, 0, -1):  # back through steps P..2
        back = np.asarray(steps[t][np.flatnonzero(back)].sum(axis=0)).ravel() > 0
    fwd = np.asarray(steps[0][:, [source]].toarray()).ravel()
    before = np.flatnonzero(back)
    after = np.flatnonzero(fwd)
    through = "in step 2" if P == 2 else f"back through steps {P}..2"
    if len(before) == 0:
        return (f"no path from key {_describe(pattern, source)} to query "
                f"{_describe(pattern, target)}: {through} the query attends no key at all "
                "(an empty row), so nothing reaches it")
    return (f"no path from key {_describe(pattern, source)} to query {_describe(pattern, target)}: "
            f"{through} the query reaches {_listing(pattern, before)}, but in step 1 none of these "
            f"attends key {_describe(pattern, source)}, which is attended only by "
            f"{_listing(pattern, after)}; step 1 lacks an edge from the key to one of the former, "
            f"or step 2 lacks an edge to one of the latter")


@overload
def check(pattern: Pattern, *, causal: bool = False) -> CheckReport: ...


@overload
def check(pattern: MaskSet, *, causal: bool = False) -> list[CheckReport]: ...


def check(pattern: Pattern | MaskSet, *,
          causal: bool = False) -> CheckReport | list[CheckReport]:
    """Check a pattern for Full Information and report its sparsity.

    Parameters
    ----------
    pattern : Pattern or MaskSet
        A mask set (the heads of a layer, e.g. from :func:`ifg.io.load`) is checked group by
        group: each multi-step group of heads is a pattern on the key grid.
    causal : bool
        Whether the property asked for (``report.holds`` and the witness) is causal Full
        Information (paths only for ``rank[k] <= rank[q]``). Both are always computed.

    Returns
    -------
    CheckReport
        For a pattern; for a mask set, a list of them, one per group (empty without groups).

    Raises
    ------
    InvalidArgument
        When ``pattern`` is neither a Pattern nor a MaskSet.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> r = check(pattern("strided", 81))
    >>> r.full_information, r.causal_full_information, r.missing_pairs, r.total_pairs
    (False, True, 3240, 6561)
    >>> check(pattern("ltr", 81, enumeration="manhattan")).full_information
    True
    >>> from ifg.maskset import preset
    >>> [r.full_information for r in check(preset("ylg", key_grid=(4, 4), query_grid=(8, 8)))]
    [True, True, True, True]
    """
    if isinstance(pattern, MaskSet):
        return [check(pattern.group_pattern(g), causal=causal) for g in range(len(pattern.groups))]
    _check_is_pattern(pattern)
    t0 = time.perf_counter()
    n = pattern.n
    full, causal_cov = _reach_counts(pattern)
    idx = np.arange(n)
    missing = int(n * n - full.sum())
    causal_missing = int(n * (n + 1) // 2 - causal_cov.sum())

    witness, reason = None, ""
    order = pattern.order
    lacking = np.flatnonzero(causal_cov < idx + 1) if causal else np.flatnonzero(full < n)
    if len(lacking):
        i = int(lacking[0])
        k = _first_gap(_own_order(pattern), i)
        witness = (int(order[k]), int(order[i]))
        reason = _witness_reason(pattern, *witness)

    per_row = [np.diff(s.indptr) for s in pattern.steps]
    bound = lower_bound_edges(n, pattern.num_steps)
    return CheckReport(
        pattern=pattern.name, n=n, grid=pattern.grid, enumeration=pattern.enumeration,
        steps=pattern.num_steps, causal=causal,
        full_information=missing == 0, causal_full_information=causal_missing == 0,
        missing_pairs=missing, total_pairs=n * n,
        causal_missing_pairs=causal_missing, causal_total_pairs=n * (n + 1) // 2,
        witness=witness, witness_reason=reason,
        edges=pattern.edges,
        max_keys_per_query=[int(r.max()) for r in per_row],
        mean_keys_per_query=[float(r.mean()) for r in per_row],
        empty_rows=[np.flatnonzero(r == 0).tolist() for r in per_row],
        lower_bound_edges=bound, bound_ratio=float(sum(pattern.edges) / bound),
        seconds=time.perf_counter() - t0,
    )


def full_information(pattern: Pattern | MaskSet, *, causal: bool = False) -> bool:
    """Whether every input position has a path to every output position.

    Parameters
    ----------
    pattern : Pattern or MaskSet
        For a mask set: whether every multi-step group has it.
    causal : bool
        Ask it only for pairs ``rank[k] <= rank[q]``.

    Returns
    -------
    bool

    Raises
    ------
    InvalidArgument
        For a mask set without a multi-step group, or an argument of another type.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> full_information(pattern("fixed", 9)), full_information(pattern("fixed", 9), causal=True)
    (False, False)
    """
    if isinstance(pattern, MaskSet):
        if not pattern.groups:
            raise InvalidArgument("the mask set has no multi-step group of heads to check")
        return all(full_information(pattern.group_pattern(g), causal=causal)
                   for g in range(len(pattern.groups)))
    _check_is_pattern(pattern)
    n = pattern.n
    full, causal_cov = _reach_counts(pattern)
    if causal:
        return bool((causal_cov == np.arange(1, n + 1)).all())
    return bool((full == n).all())
