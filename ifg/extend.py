"""Extension of a pattern to Full Information: add few edges, and say how few any could add.

:func:`extend` keeps the number of steps and only adds edges to them. It works in the pattern's
own 1-D order (Full Information and causality do not depend on the layout) and maps the edges it
added back to the pattern's positions. The fewest edges found by these wins:

- **greedy** (any size, any number of steps): repeatedly add the edge that gives the most missing
  pairs a path (the gain of an edge ``(a, b)`` in step ``t`` is ``A^T U B^T``: ``U`` the missing
  pairs, ``A`` the reach from layer ``t`` to the output, ``B`` from the input to layer
  ``t - 1``), several at once where their gains are independent (edges of the last step in
  different rows, of the first step in different columns); when no single edge helps, add the
  cheapest path for one missing pair. Then a reverse pass (two steps) drops the edges that turned
  out redundant. Without a budget it always succeeds; within a tight budget it can fail (it says
  so, and that it is not a proof).
- **hub** (not causal, and only where the budget allows one): a position ``h`` that every query
  attends in the last step and that attends every key in the first step: about ``2N`` edges, hard
  to beat without a budget.
- **exact** (two steps, small problems, only when the lower bound has not already proved the best
  answer optimal): an integer program solved by scipy's HiGHS. For each missing pair ``(q, k)``
  some middle position ``m`` must have ``M2[q, m]`` and ``M1[m, k]``, each present or added;
  minimise the added edges within the budget. Only a finished solve proves optimality; beyond
  ``EXACT_MAX_VARIABLES`` path variables, or past ``EXACT_SECONDS``, it is skipped.

The lower bound (:func:`lower_bound`) is proved, not estimated; see its docstring. When the answer
meets it, the answer is optimal whatever the method (``Extension.optimal``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ifg.check import _own_order, full_information, reachable_runs  # _own_order: extend works in the order the check works in
from ifg.deadline import OutOfTime, check_time, remaining, time_limit
from ifg.errors import InvalidArgument, check_positive_int
from ifg.memory import BYTES_PER_PAIR, check_fits
from ifg.pattern import Pattern

#: an edge to add: (step, query, key), the step 0-based, positions in the pattern's 1-D order
_Edge = tuple[int, int, int]

__all__ = ["Extension", "ExtensionInfeasible", "extend", "lower_bound", "strided_extension"]

#: the integer program is tried when it has at most this many path variables (pairs x middles)
EXACT_MAX_VARIABLES = 3_000
#: HiGHS limits for the exact solve (ten times the seconds with ``exact=True``); its linear
#: relaxation is weak on structured patterns, so only small problems are proved in time
EXACT_NODE_LIMIT = 2_000
EXACT_SECONDS = 3.0


class ExtensionInfeasible(InvalidArgument):
    """No extension exists within the budget (proved), or the greedy search found none."""


@dataclass(frozen=True, eq=False)
class Extension:
    """What :func:`extend` returns.

    Attributes
    ----------
    pattern : Pattern
        The extended pattern: the same steps, grid and enumeration, with the edges added.
    added : list of tuple (step, query, key)
        The added edges; ``step`` is 1-based, ``query`` and ``key`` are positions of the pattern
        (row-major on its grid).
    lower_bound : int
        A proved lower bound on the edges any extension (within the budget) must add.
    method : {"exact", "greedy", "hub"}
        How ``added`` was found; ``"exact"`` means it is optimal.
    causal : bool
    max_keys_per_query : int or None
        The budget that was kept, per query and step.
    original : Pattern
        The pattern that was extended.
    tried : dict
        Edges added by each method that ran, e.g. ``{"hub": 160, "greedy": 80}``.
    hub : int or None
        The hub's position when ``method`` is ``"hub"``.
    seconds : float
    """

    pattern: Pattern
    added: list
    lower_bound: int
    method: str
    causal: bool = False
    max_keys_per_query: int | None = None
    original: Pattern | None = field(default=None, repr=False)
    tried: dict = field(default_factory=dict)
    hub: int | None = None
    seconds: float = 0.0

    @property
    def optimal(self) -> bool:
        """Whether ``added`` is proved to be as small as possible."""
        return self.method == "exact" or len(self.added) == self.lower_bound

    @property
    def added_per_step(self) -> list:
        """The number of added edges in each step."""
        counts = [0] * self.pattern.num_steps
        for step, _, _ in self.added:
            counts[step - 1] += 1
        return counts

    @property
    def gap(self) -> float:
        """How far above optimal the answer can be, as a fraction of the lower bound."""
        if self.optimal:
            return 0.0
        return (len(self.added) - self.lower_bound) / max(self.lower_bound, 1)

    def summary(self, *, edges: bool = False) -> str:
        """Three lines: the problem, what was added, and how far from optimal it can be; with
        ``edges``, then each added edge, by step and query (``query <- keys``).

        Examples
        --------
        >>> from ifg.spec import pattern
        >>> print(extend(pattern("fixed", 81), max_keys_per_query=10).summary())
        fixed, N = 81, 2 steps, Full Information, at most 10 keys per query per step:
        added 396 edges (step 1: 0, step 2: 396) by greedy search
        optimal: any extension adds at least 396
        """
        o = self.original if self.original is not None else self.pattern
        what = "causal Full Information" if self.causal else "Full Information"
        budget = ("" if self.max_keys_per_query is None
                  else f", at most {self.max_keys_per_query} keys per query per step")
        head = f"{o.name}, N = {o.n}, {o.num_steps} steps, {what}{budget}:"
        if not self.added:
            return f"{head}\nnothing to add: it already has {what}"
        per = ", ".join(f"step {t + 1}: {c}" for t, c in enumerate(self.added_per_step))
        how = {"exact": "exact search", "greedy": "greedy search", "hub": "a hub"}[self.method]
        if self.hub is not None:
            how = (f"a hub: position {self.hub} attends every key in step 1 and every query "
                   f"attends it in step {o.num_steps}")
        if self.optimal:
            verdict = f"optimal: any extension adds at least {self.lower_bound}"
        else:
            verdict = (f"any extension adds at least {self.lower_bound}, so this is at most "
                       f"{100 * self.gap:.0f}% above optimal")
        if len(self.tried) > 1:
            verdict += " (tried " + ", ".join(f"{m} {c}" for m, c in self.tried.items()) + ")"
        text = f"{head}\nadded {len(self.added)} edges ({per}) by {how}\n{verdict}"
        return text + self._edge_lines() if edges else text

    def _edge_lines(self) -> str:
        lines = []
        for step in range(1, len(self.added_per_step) + 1):
            added = [(q, k) for s, q, k in self.added if s == step]
            if added:
                lines.append(f"\nstep {step}: {len(added)} added (query <- keys)")
            for q in sorted({q for q, _ in added}):
                lines.append(f"  {q:>5} <- " + ", ".join(str(k) for qq, k in added if qq == q))
        return "".join("\n" + line for line in lines)

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        o = self.original if self.original is not None else self.pattern
        return {
            "pattern": o.name, "n": o.n, "steps": o.num_steps,
            "grid": list(o.grid) if o.grid else None, "enumeration": o.enumeration,
            "causal": self.causal, "max_keys_per_query": self.max_keys_per_query,
            "method": self.method, "added_edges": len(self.added),
            "added_per_step": self.added_per_step, "lower_bound": int(self.lower_bound),
            "optimal": self.optimal, "edges": self.pattern.edges,
            "hub": self.hub, "tried": dict(self.tried),
            "added": [[int(s), int(q), int(k)] for s, q, k in self.added],
            "seconds": self.seconds,
        }


# ---------------------------------------------------------------------------------------------
# the pattern in its own 1-D order, where "causal" is simply k <= q


def _reached(steps: Sequence[sp.csr_matrix], n: int) -> np.ndarray:
    """Dense ``(N, N)`` bool: ``R[q, k]`` when key k has a path to query q (1-D order)."""
    ptr, starts, ends = reachable_runs(Pattern(tuple(steps)))
    q = np.repeat(np.arange(n), np.diff(ptr))
    width = n + 1
    delta = (np.bincount(q * width + starts, minlength=n * width)
             - np.bincount(q * width + ends, minlength=n * width))
    return np.cumsum(delta.reshape(n, width), axis=1)[:, :n] > 0


def _check_size(n: int) -> None:
    check_fits(f"extending a pattern over N = {n:,} positions (dense N x N arrays)",
               n * n * BYTES_PER_PAIR)


def _required(n: int, causal: bool) -> np.ndarray:
    return np.tril(np.ones((n, n), dtype=bool)) if causal else np.ones((n, n), dtype=bool)


def _caps(steps: Sequence[sp.csr_matrix], budget: int | None) -> list[np.ndarray]:
    big = np.iinfo(np.int64).max // 4
    return [(budget - np.diff(s.indptr)) if budget is not None
            else np.full(s.shape[0], big, dtype=np.int64) for s in steps]


def _chain(steps: Sequence[sp.csr_matrix]) -> sp.csr_matrix | None:
    """Boolean reach through ``steps`` (applied first to last) as CSR, or None for no step."""
    if not steps:
        return None
    m = steps[0].astype(np.float32)
    for s in steps[1:]:
        m = (s.astype(np.float32) @ m).astype(bool).astype(np.float32)
    return sp.csr_matrix(m)


def _add(step: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> sp.csr_matrix:
    n = step.shape[0]
    new = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n, n))
    return (step + new).astype(bool).tocsr()


# ---------------------------------------------------------------------------------------------
# the lower bound


def _row_bound(steps: Sequence[sp.csr_matrix], miss: np.ndarray,
               budget: int | None) -> np.ndarray:
    """Per query: edges the last step must gain (see :func:`lower_bound`)."""
    n = steps[0].shape[0]
    P = len(steps)
    capacity = n if budget is None else min(n, budget ** (P - 1))
    below = _chain(steps[:-1])
    reach = np.asarray(below.sum(axis=1)).ravel() if below is not None else np.ones(n)
    slack = np.maximum(capacity - reach, 0)
    last = steps[-1].astype(np.float64)
    room = last @ slack  # keys of a query's gap that its present middles could still take in
    gap = miss.sum(axis=1)
    need = np.ceil(np.maximum(gap - room, 0) / capacity).astype(np.int64)
    return need


def _matching(miss_rows: np.ndarray) -> int:
    from scipy.sparse.csgraph import maximum_bipartite_matching

    m = sp.csr_matrix(miss_rows)
    if m.nnz == 0:
        return 0
    match = maximum_bipartite_matching(m, perm_type="column")
    return int((match >= 0).sum())


def _bound(steps: Sequence[sp.csr_matrix], miss: np.ndarray, caps: Sequence[np.ndarray],
           budget: int | None) -> int:
    """The lower bound for the pattern in 1-D order; raises when the budget rules it out."""
    P = len(steps)
    total = int(miss.sum())
    if total == 0 or P == 1:
        return total
    need = _row_bound(steps, miss, budget)
    over = np.flatnonzero(need > caps[-1])
    if len(over):
        q = int(over[0])
        raise ExtensionInfeasible(
            f"no extension within max_keys_per_query={budget}: query {q} (1-D index) must attend "
            f"at least {int(need[q])} more keys in step {P} to reach its {int(miss[q].sum())} "
            f"missing keys, but only {int(caps[-1][q])} fit the budget")
    bound = int(need.sum())
    if P == 2:
        rest = miss.copy()
        rest[need > 0] = False
        bound += _matching(rest)
    return max(bound, 1)


def lower_bound(pattern: Pattern, *, causal: bool = False,
                max_keys_per_query: int | None = None) -> int:
    """A proved lower bound on the edges any extension to Full Information must add.

    Let ``U`` be the missing pairs ``(q, k)`` (key k has no path to query q) and ``K`` the budget
    (or N without one). Two arguments, over disjoint sets of edges, are added:

    1. *Rows of the last step.* In the extended pattern a query's keys are reached through the
       positions it attends in step P; each reaches at most ``C = min(N, K^(P-1))`` keys. A
       position q already attends reaches none of q's missing keys yet and can gain at most
       ``C - reach(m)`` of them. So q must gain at least
       ``r_q = ceil((|U_q| - sum_m (C - reach(m))) / C)`` edges in step P.
    2. *A vertex cover* (two steps only). Every added path ``k -> m -> q`` for a pair of ``U``
       adds a step-2 edge out of q or a step-1 edge into k; so over the rows with ``r_q = 0`` the
       queries and keys that gain an edge cover the missing pairs, and there are at least as many
       of them as a maximum matching of those pairs (König). Those edges are not counted in 1.

    With one step every missing pair is an edge to add; the bound is exact.

    Parameters
    ----------
    pattern : Pattern
    causal : bool
        Only pairs with ``rank[k] <= rank[q]`` must have a path.
    max_keys_per_query : int, optional
        The budget of keys per query in every step.

    Returns
    -------
    int

    Raises
    ------
    ExtensionInfeasible
        When argument 1 already shows that no extension fits the budget.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> lower_bound(pattern("fixed", 81), max_keys_per_query=10)
    396
    """
    budget = _check_budget(pattern, max_keys_per_query)
    n = pattern.n
    _check_size(n)
    steps = [sp.csr_matrix(s) for s in _own_order(pattern)]
    miss = _required(n, causal) & ~_reached(steps, n)
    return _bound(steps, miss, _caps(steps, budget), budget)


def _check_budget(pattern: object, budget: int | None) -> int | None:
    if not isinstance(pattern, Pattern):
        raise InvalidArgument(f"pattern must be an ifg.Pattern, got {type(pattern).__name__}")
    if budget is None:
        return None
    budget = check_positive_int("max_keys_per_query", budget)
    widest = [int(np.diff(s.indptr).max()) for s in pattern.steps]
    for t, w in enumerate(widest):
        if w > budget:
            raise InvalidArgument(
                f"max_keys_per_query={budget} is below what step {t + 1} of {pattern.name!r} "
                f"already has ({w} keys for one query); an extension only adds edges")
    return budget


# ---------------------------------------------------------------------------------------------
# greedy


def _gains(steps: Sequence[sp.csr_matrix], miss_f: np.ndarray, t: int) -> np.ndarray:
    """Gain of every edge ``(a, b)`` of step t (0-based): missing pairs it would connect."""
    x = miss_f
    below = _chain(steps[:t])
    if below is not None:
        x = np.asarray((below @ x.T).T)
    above = _chain(steps[t + 1:])
    if above is not None:
        x = np.asarray(above.T @ x)
    return x


def _allowed(n: int, causal: bool, cap: np.ndarray) -> np.ndarray:
    """Which new edges a step may take: rows under the budget, keys not after the query."""
    ok = np.broadcast_to((cap > 0)[:, None], (n, n))
    return ok & _required(n, causal) if causal else ok


def _cheapest_path(steps: Sequence[sp.csr_matrix], caps: Sequence[np.ndarray], causal: bool,
                   q: int, k: int) -> list[_Edge] | None:
    """Edges to add for the cheapest path from key k to query q (0-1 costs), or None."""
    n = steps[0].shape[0]
    big = 10 * (len(steps) + 2)
    dist = np.full(n, big, dtype=np.int64)
    dist[k] = 0
    preds = []
    idx = np.arange(n)
    for t, s in enumerate(steps):
        # through an edge that exists: the best key among each row's keys
        via = np.full(n, big, dtype=np.int64)
        via_pred = np.zeros(n, dtype=np.int64)
        if s.nnz:
            key = dist[s.indices] * n + s.indices
            rows = np.repeat(idx, np.diff(s.indptr))
            best = np.full(n, big * n, dtype=np.int64)
            np.minimum.at(best, rows, key)
            has = np.diff(s.indptr) > 0
            via[has] = best[has] // n
            via_pred[has] = best[has] % n
        # through an added edge: the best key anywhere (causal: at or before the row)
        key = dist * n + idx
        best = np.minimum.accumulate(key) if causal else np.full(n, key.min())
        new = best // n + 1
        new[caps[t] <= 0] = big
        take_new = new < via
        dist = np.minimum(np.where(take_new, new, via), big)
        preds.append((np.where(take_new, best % n, via_pred), take_new))
    if dist[q] >= big:
        return None
    path, x = [], q
    for t in range(len(steps) - 1, -1, -1):
        pred, take_new = preds[t]
        if take_new[x]:
            path.append((t, x, int(pred[x])))
        x = int(pred[x])
    return path


def _greedy(steps: Sequence[sp.csr_matrix], required: np.ndarray, caps: Sequence[np.ndarray],
            causal: bool, budget: int | None) -> list[_Edge]:
    """Greedy extension in 1-D order; returns the added (t, query, key) edges, t 0-based."""
    steps = list(steps)
    caps = [c.copy() for c in caps]
    n = steps[0].shape[0]
    P = len(steps)
    added: list[_Edge] = []
    while True:
        check_time()  # each round costs a few dense N x N products: the bound holds per round
        miss = required & ~_reached(steps, n)
        if not miss.any():
            break
        miss_f = miss.astype(np.float32)
        best_t, best_gain, best_g = None, 0.0, None
        for t in range(P - 1, -1, -1):  # ties go to the later step: it adds the fewest paths
            check_time()
            g = _gains(steps, miss_f, t)
            g = np.where(_allowed(n, causal, caps[t]), g, 0)
            top = float(g.max())
            if top > best_gain:
                best_t, best_gain, best_g = t, top, g
        if best_t is None:
            q, k = (int(v[0]) for v in np.nonzero(miss))
            path = _cheapest_path(steps, caps, causal, q, k)
            if path is None:
                raise ExtensionInfeasible(
                    f"the greedy extension found no way to give key {k} a path to query {q} "
                    f"(1-D indices) within max_keys_per_query={budget}: every row it could use "
                    "is at the budget. This is the heuristic's failure, not a proof (the lower "
                    "bound did not rule the budget out); without a budget it always succeeds")
            new = path
        else:
            assert best_g is not None  # set with best_t
            g = best_g
            if best_t == P - 1:  # rows are independent: each query's best middle
                cols = g.argmax(axis=1)
                gain = g[np.arange(n), cols]
                rows = np.flatnonzero(gain >= best_gain)
                new = [(best_t, int(r), int(cols[r])) for r in rows]
            elif best_t == 0:  # columns are independent: each key's best middle, within caps
                rows = g.argmax(axis=0)
                gain = g[rows, np.arange(n)]
                cols = np.flatnonzero(gain >= best_gain)
                new = []
                used: dict[int, int] = {}
                for c in cols:
                    r = int(rows[c])
                    if used.get(r, 0) < caps[0][r]:
                        used[r] = used.get(r, 0) + 1
                        new.append((0, r, int(c)))
            else:
                top_q, top_k = np.unravel_index(int(g.argmax()), g.shape)
                new = [(best_t, int(top_q), int(top_k))]
        for t in range(P):
            mine = [(r, c) for tt, r, c in new if tt == t]
            if mine:
                rr, cc = np.array(mine).T
                steps[t] = _add(steps[t], rr, cc)
                np.subtract.at(caps[t], rr, 1)
        added.extend(new)
    return _prune(steps, required, added) if P == 2 else added


def _prune(steps: Sequence[sp.csr_matrix], required: np.ndarray,
           added: Sequence[_Edge]) -> list[_Edge]:
    """Drop added edges (latest first) whose every required pair has another path (two steps)."""
    m1 = steps[0].toarray()
    m2 = steps[1].toarray()
    # (q, k): number of middles, as a sparse product (the paths that exist, not N^3 work)
    paths = (steps[1].astype(np.int32) @ steps[0].astype(np.int32)).toarray()
    keep = []
    for i, (t, a, b) in enumerate(reversed(added)):
        if i % 256 == 0:
            check_time()
        if t == 1:  # step 2 edge a -> b: pairs (a, k) for k in row b of M1
            ks = np.flatnonzero(m1[b])
            ks = ks[required[a, ks]]
            if (paths[a, ks] >= 2).all():
                m2[a, b] = False
                paths[a, np.flatnonzero(m1[b])] -= 1
                continue
        else:  # step 1 edge a -> b: pairs (q, b) for q in column a of M2
            qs = np.flatnonzero(m2[:, a])
            qs_req = qs[required[qs, b]]
            if (paths[qs_req, b] >= 2).all():
                m1[a, b] = False
                paths[qs, b] -= 1
                continue
        keep.append((t, a, b))
    return keep[::-1]


# ---------------------------------------------------------------------------------------------
# exact (two steps) and hub


def _exact_two_step(steps: Sequence[sp.csr_matrix], miss: np.ndarray, caps: Sequence[np.ndarray],
                    causal: bool, budget: int | None, max_variables: int | None,
                    seconds: float) -> tuple[list[_Edge] | None, float | None]:
    """Optimal added edges by integer programming, or (None, dual bound) when not proved."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = steps[0].shape[0]
    m1 = steps[0].toarray()
    m2 = steps[1].toarray()
    qs, ks = np.nonzero(miss)
    req = _required(n, causal)
    # candidate new edges: step 2 (q, m) for queries with a gap, step 1 (m, k) for keys in a gap
    # np.asarray: numpy's stubs type a reduction along an axis as possibly a scalar
    cand2 = ~m2 & req & (caps[1] > 0)[:, None] & np.asarray(miss.any(axis=1))[:, None]
    cand1 = ~m1 & req & (caps[0] > 0)[:, None] & np.asarray(miss.any(axis=0))[None, :]
    id2 = np.full((n, n), -1)
    id2[cand2] = np.arange(cand2.sum())
    id1 = np.full((n, n), -1)
    id1[cand1] = np.arange(cand1.sum()) + cand2.sum()
    nx = int(cand2.sum() + cand1.sum())
    ok2 = m2 | cand2  # (q, m)
    ok1 = m1 | cand1  # (m, k)
    valid = ok2[qs] & ok1[:, ks].T  # (pair, m)
    pair, mid = np.nonzero(valid)
    ny = len(pair)
    if (max_variables is not None and ny > max_variables) or nx == 0:
        return None, None
    stuck = np.flatnonzero(np.bincount(pair, minlength=len(qs)) == 0)
    if len(stuck):
        q, k = int(qs[stuck[0]]), int(ks[stuck[0]])
        raise ExtensionInfeasible(
            f"no extension within max_keys_per_query={budget}: no position can carry key {k} to "
            f"query {q} (1-D indices) without a row over the budget")
    yid = nx + np.arange(ny)
    rows, cols, vals = [], [], []
    lb, ub = [], []
    r = 0
    # every missing pair gets a path through some middle
    rows.append(r + pair)
    cols.append(yid)
    vals.append(np.ones(ny))
    lb += [1.0] * len(qs)
    ub += [np.inf] * len(qs)
    r += len(qs)
    # a path through an edge that is not there needs the edge added
    for need, ids in ((~m2[qs[pair], mid], id2[qs[pair], mid]),
                      (~m1[mid, ks[pair]], id1[mid, ks[pair]])):
        sel = np.flatnonzero(need)
        k = len(sel)
        rows += [r + np.arange(k), r + np.arange(k)]
        cols += [yid[sel], ids[sel]]
        vals += [np.ones(k), -np.ones(k)]
        lb += [-np.inf] * k
        ub += [0.0] * k
        r += k
    if budget is not None:
        for cand, ids, cap in ((cand2, id2, caps[1]), (cand1, id1, caps[0])):
            rr, cc = np.nonzero(cand)
            rows.append(r + rr)
            cols.append(ids[rr, cc])
            vals.append(np.ones(len(rr)))
            lb += [-np.inf] * n
            ub += list(cap.astype(float))
            r += n
    a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(r, nx + ny))
    c = np.concatenate([np.ones(nx), np.zeros(ny)])
    integrality = np.concatenate([np.ones(nx), np.zeros(ny)])
    res = milp(c, constraints=LinearConstraint(a, lb, ub), integrality=integrality,
               bounds=Bounds(0, 1),
               options={"node_limit": EXACT_NODE_LIMIT, "time_limit": seconds})
    dual = getattr(res, "mip_dual_bound", None)
    if res.status != 0 or res.x is None:
        return None, dual
    x = res.x[:nx] > 0.5
    out = []
    for cand, ids, t in ((cand2, id2, 1), (cand1, id1, 0)):
        rr, cc = np.nonzero(cand)
        pick = x[ids[rr, cc]]
        out += [(t, int(a_), int(b_)) for a_, b_ in zip(rr[pick], cc[pick])]
    return out, dual


def _hub(steps: Sequence[sp.csr_matrix], miss: np.ndarray,
         caps: Sequence[np.ndarray]) -> tuple[int, list[_Edge]] | None:
    """The cheapest hub that fits the caps: (position, added edges (t, query, key)), or None."""
    P = len(steps)
    if P < 2:
        return None
    qmiss = np.asarray(miss.any(axis=1))  # an array: numpy's stubs allow a scalar
    kmiss = np.asarray(miss.any(axis=0))
    last = steps[-1].toarray()
    first = steps[0].toarray()
    # cost of hub h: queries with a gap that do not attend h, keys in a gap that h lacks, and
    # the hub's self-edges in the steps between
    lack_q = ~last & qmiss[:, None]  # (q, h)
    lack_k = ~first & kmiss[None, :]  # (h, k)
    mids = [~s.diagonal().astype(bool) for s in steps[1:-1]]
    cost = lack_q.sum(axis=0) + lack_k.sum(axis=1) + sum(m.astype(int) for m in mids)
    feasible = (lack_k.sum(axis=1) <= caps[0])
    for t, m in enumerate(mids, start=1):
        feasible &= ~m | (caps[t] > 0)
    # every query that must gain the hub needs room in its last-step row
    blocked = (lack_q & (caps[-1] <= 0)[:, None]).any(axis=0)
    feasible &= ~blocked
    if not feasible.any():
        return None
    cost = np.where(feasible, cost, np.iinfo(np.int64).max)
    h = int(cost.argmin())
    added = [(P - 1, int(q), h) for q in np.flatnonzero(lack_q[:, h])]
    added += [(t, h, h) for t, m in enumerate(mids, start=1) if m[h]]
    added += [(0, h, int(k)) for k in np.flatnonzero(lack_k[h])]
    return h, added


# ---------------------------------------------------------------------------------------------


def extend(pattern: Pattern, *, causal: bool = False, max_keys_per_query: int | None = None,
           exact: bool | None = None, seconds: float | None = None) -> Extension:
    """Add few edges to a pattern's steps so that it has Full Information.

    Parameters
    ----------
    pattern : Pattern
        Any pattern; the number of steps is kept and no edge is removed.
    causal : bool
        Ask only for causal Full Information (pairs with ``rank[k] <= rank[q]``); then only
        causal edges (``rank[key] <= rank[query]``) are added, so a causal pattern stays causal.
    max_keys_per_query : int, optional
        The budget: no query attends more keys than this in any step of the result.
    exact : bool, optional
        The exact integer program (two steps only), tried when the greedy answer does not meet
        the lower bound: None tries it on small problems (at most ``EXACT_MAX_VARIABLES`` path
        variables, ``EXACT_SECONDS``), True at any size with ten times the time, False never.
    seconds : float, optional
        A time limit, checked inside the search (between its rounds): past it the greedy
        search stops, and the hub is the answer when there is one; else :class:`OutOfTime`.
        The search of an enclosing :func:`ifg.deadline.time_limit` (``search``) stops it too.

    Returns
    -------
    Extension
        The pattern, the added edges, the lower bound and the method; re-checked with
        :func:`ifg.check.full_information` before it is returned.

    Raises
    ------
    InvalidArgument
        For a budget below a row the pattern already has, or a pattern too large to extend in
        the memory available (its search holds dense N x N arrays).
    ExtensionInfeasible
        When no extension fits the budget (proved), or the greedy search found none.
    ifg.deadline.OutOfTime
        When ``seconds`` passed with no extension found.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> ext = extend(pattern("fixed", 81), max_keys_per_query=10)
    >>> len(ext.added) < 468, ext.lower_bound, ext.method
    (True, 396, 'greedy')
    >>> import numpy as np
    >>> alone = Pattern.from_dense([np.eye(9), np.eye(9)])  # every query attends only itself
    >>> extend(alone, exact=False).method  # without a budget a hub is hard to beat
    'hub'
    """
    from ifg.deadline import check_seconds

    if seconds is not None:
        seconds = check_seconds("seconds", seconds)
    what = (f"extending {pattern.name!r} over N = {pattern.n:,} positions"
            if isinstance(pattern, Pattern) else "extending")
    with time_limit(seconds, what):
        return _extend(pattern, causal, max_keys_per_query, exact)


def _extend(pattern: Pattern, causal: bool, max_keys_per_query: int | None,
            exact: bool | None) -> Extension:
    """:func:`extend`'s body, inside its time limit."""
    t0 = time.perf_counter()
    budget = _check_budget(pattern, max_keys_per_query)
    if exact and pattern.num_steps > 2:
        raise InvalidArgument(f"exact=True needs a pattern of one or two steps, got "
                              f"{pattern.num_steps}")
    n = pattern.n
    _check_size(n)
    steps = [sp.csr_matrix(s) for s in _own_order(pattern)]
    required = _required(n, causal)
    miss = required & ~_reached(steps, n)
    caps = _caps(steps, budget)
    bound = _bound(steps, miss, caps, budget)

    candidates: dict[str, list] = {}  # method -> added edges (t, query, key), 0-based t, 1-D order
    hub_position = None
    if bound == 0:
        candidates["exact"] = []
    elif pattern.num_steps == 1:  # every missing pair is an edge to add
        rows, cols = np.nonzero(miss)
        if (np.bincount(rows, minlength=n) > caps[0]).any():
            raise ExtensionInfeasible(
                f"no extension within max_keys_per_query={budget}: with one step every missing "
                "pair is an edge, and some query would need more keys than that")
        candidates["exact"] = [(0, int(r), int(c)) for r, c in zip(rows, cols)]
    else:
        if not causal:
            hub = _hub(steps, miss, caps)
            if hub is not None:
                hub_position, candidates["hub"] = hub
        try:
            candidates["greedy"] = _greedy(steps, required, caps, causal, budget)
        except ExtensionInfeasible:
            if not candidates and (exact is False or pattern.num_steps != 2):
                raise
        except OutOfTime:
            if not candidates:  # no hub to fall back on
                raise
            exact = False  # the hub it is: no time for the integer program
        best = min((len(e) for e in candidates.values()), default=None)
        # the integer program only when the bound has not already proved the answer optimal
        if pattern.num_steps == 2 and exact is not False and best != bound:
            limit = None if exact else EXACT_MAX_VARIABLES
            solved, dual = _exact_two_step(steps, miss, caps, causal, budget, limit,
                                           min(EXACT_SECONDS * (10 if exact else 1),
                                               max(remaining(), 0.01)))
            if solved is not None:
                candidates["exact"] = solved
            elif dual is not None and np.isfinite(dual):
                bound = max(bound, int(math.ceil(dual - 1e-6)))
        if not candidates:
            raise ExtensionInfeasible(
                f"neither the greedy search nor the exact program found an extension within "
                f"max_keys_per_query={budget}")
    # fewest edges; on a tie the exact answer, then the hub (the simpler one to describe)
    method = min(candidates, key=lambda m: (len(candidates[m]), ("exact", "hub", "greedy").index(m)))
    added_1d = candidates[method]
    if method == "exact":
        bound = len(added_1d)

    order = pattern.order
    new_steps = list(pattern.steps)
    for t in range(pattern.num_steps):
        mine = np.array([(a, b) for tt, a, b in added_1d if tt == t], dtype=np.int64)
        if len(mine):
            new_steps[t] = _add(new_steps[t], order[mine[:, 0]], order[mine[:, 1]])
    added = sorted((t + 1, int(order[a]), int(order[b])) for t, a, b in added_1d)
    result = pattern.with_steps(new_steps, name=f"{pattern.name}-ext" if added else None)
    if not full_information(result, causal=causal):  # an internal invariant, checked for real
        raise RuntimeError(f"extension of {pattern.name!r} by {method} lacks Full Information")
    return Extension(result, added, int(bound), method, causal, budget, pattern,
                     {m: len(e) for m, e in candidates.items()},
                     int(order[hub_position]) if method == "hub" else None,
                     time.perf_counter() - t0)


def strided_extension(n: int, *, enumeration: str = "manhattan",
                      grid: tuple[int, int] | None = None) -> Pattern:
    """The strided pattern extended to Full Information (the paper's "YLG strided" variant).

    The paper's masks were never published. This extension is computed on the 1-D ``strided``
    pattern (stride ``s = floor(sqrt(N))``; step 1 the window ``i - s <= j <= i``, step 2 the
    keys ``j = i, i - s, i - 2s, ...``), which already reaches every key ``k <= q``. The keys
    after query ``i`` are covered with whole step-1 windows: in step 2, query i also attends
    ``i + t (s + 1)`` for ``t = 1, 2, ...`` while below ``N - 1``, and then ``N - 1``, whose windows
    tile ``(i, N - 1]``. That is
    ``sum_i ceil((N - 1 - i) / (s + 1))`` added edges, all in step 2 (360 at N = 81, 2,040 at
    N = 256). When ``N = s * s`` no query attends more than ``s + 1`` keys in either step, the
    budget of ``ltr``'s second step (otherwise up to ``s + 3``). At that budget it is exactly what
    :func:`extend` finds on ``strided`` (checked at N = 81 and 256 in the tests), written in
    closed form so that it is deterministic and fast at any N (milliseconds at N = 4,096). The
    result is laid out with the enumeration. It is the named pattern ``"strided-ext"``
    (``ifg.pattern("strided-ext", n)``, whose default enumeration is ``rowmajor``).

    Parameters
    ----------
    n : int
        Number of positions N (the key grid).
    enumeration : str
        ``"manhattan"`` (ESA, the default) or another enumeration; ``"rowmajor"`` keeps 1-D order.
    grid : tuple (h, w), optional
        Defaults to the square grid of N positions.

    Returns
    -------
    Pattern
        Named ``"strided-ext"``; it has Full Information.

    Examples
    --------
    >>> from ifg.check import full_information
    >>> p = strided_extension(81)
    >>> p.name, p.edges, full_information(p)
    ('strided-ext', [765, 765], True)
    """
    from ifg.spec import pattern

    return pattern("strided-ext", n, enumeration=enumeration, grid=grid)
