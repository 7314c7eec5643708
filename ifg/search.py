"""Search for sparse patterns with Full Information that are local on the 2-D grid.

The search samples, with a seeded generator and within a time limit, patterns from two families
built directly on the grid, scores each one, and keeps the best; every result is re-checked by
:func:`ifg.check.check`.

- **tiles**: the grid is cut into ``a x b`` tiles (and, for more steps, tiles of tiles). Step 1
  lets a query attend its own tile: either all of it (``full``) or, ``causal``, the pixels before
  it in an order inside the tile (``rowmajor``, ``snake`` or ``manhattan``), so that only the
  tile's last pixel carries the whole tile. Step ``t`` lets a query attend one carrier of every
  tile of level ``t - 1`` inside its own tile of level ``t`` (the whole grid at the last step):
  the tile's last pixel for causal tiles, else the pixel of the tile nearest to the query. Full
  Information holds by construction (and is checked).
- **windows** (two steps): step 1 is the square window of radius ``r`` around each query; step 2
  is completed by :func:`ifg.extend.extend` within a budget of keys per query.

Score: ``(edges / lower_bound_edges) * (distance / random_distance)``, where ``distance`` is the
mean over steps of :func:`ifg.locality.locality`'s mean distance and ``random_distance`` that of
two uniformly random pixels of the grid; halving the edges or the distance halves the score, and
the paper's ``ltr`` with ESA is scored the same way as the baseline.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from ifg.check import CheckReport, check, lower_bound_edges
from ifg.deadline import OutOfTime, check_seconds, time_limit
from ifg.enumerations import enumerations, grid_of
from ifg.errors import InvalidArgument, check_positive_int
from ifg.locality import locality
from ifg.memory import BYTES_PER_EDGE, check_fits, pattern_edges
from ifg.pattern import Pattern

__all__ = ["SearchResult", "Search", "search", "score", "tiled", "windowed", "random_distance"]

TILE_ORDERS = ("rowmajor", "snake", "manhattan")


@dataclass(frozen=True, eq=False)
class SearchResult:
    """One scored pattern.

    Attributes
    ----------
    pattern : Pattern
    description : str
        How it was built, e.g. ``"tiles 3x3 causal rowmajor"``.
    edges : int
        Total edges over the steps.
    bound_ratio : float
        ``edges / lower_bound_edges(N, P)``.
    distance : float
        Mean over steps of the mean query-key grid distance.
    neighbour_share : float
        Share of its 4-neighbours a query attends in step 1.
    max_keys_per_query : int
        The most keys one query attends in one step.
    score : float
        ``bound_ratio * distance / random_distance``; lower is better.
    report : CheckReport
        The re-check by :func:`ifg.check.check`.
    """

    pattern: Pattern
    description: str
    edges: int
    bound_ratio: float
    distance: float
    neighbour_share: float
    max_keys_per_query: int
    score: float
    report: CheckReport = field(repr=False)

    def to_dict(self) -> dict:
        """A JSON-ready dict (without the pattern's masks)."""
        return {"description": self.description, "edges": self.edges,
                "edges_per_step": self.pattern.edges, "bound_ratio": self.bound_ratio,
                "distance": self.distance, "neighbour_share": self.neighbour_share,
                "max_keys_per_query": self.max_keys_per_query, "score": self.score,
                "full_information": self.report.full_information}

    def __str__(self) -> str:
        return (f"{self.description:<32} edges {self.edges:>7,} ({self.bound_ratio:.2f}x bound)  "
                f"distance {self.distance:5.2f}  neighbours {100 * self.neighbour_share:3.0f}%  "
                f"max keys {self.max_keys_per_query:>3}  score {self.score:.3f}")


@dataclass(frozen=True, eq=False)
class Search:
    """What :func:`search` returns.

    Attributes
    ----------
    results : list of SearchResult
        The best patterns found, best score first; each has Full Information.
    pareto : list of SearchResult
        Those of all evaluated patterns that no other beats on both edges and distance, by edges.
    baseline : SearchResult or None
        ``ltr`` with ESA, scored the same way (square grids, two steps).
    evaluated : int
        Distinct candidates built and scored (the search stops early when its families run out).
    seconds : float
    seed : int
    """

    results: list
    pareto: list
    baseline: SearchResult | None
    evaluated: int
    seconds: float
    seed: int

    def summary(self) -> str:
        """A table of the best results, the Pareto front and the baseline."""
        lines = [f"{self.evaluated} candidates in {self.seconds:.1f} s (seed {self.seed})", "best:"]
        lines += [f"  {r}" for r in self.results]
        lines += ["Pareto front (edges vs distance):"] + [f"  {r}" for r in self.pareto]
        if self.baseline is not None:
            lines += ["baseline:", f"  {self.baseline}"]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"seed": self.seed, "evaluated": self.evaluated, "seconds": self.seconds,
                "results": [r.to_dict() for r in self.results],
                "pareto": [r.to_dict() for r in self.pareto],
                "baseline": None if self.baseline is None else self.baseline.to_dict()}


def random_distance(grid: tuple[int, int]) -> float:
    """Mean Manhattan distance between two independent uniformly random pixels of a grid.

    Examples
    --------
    >>> round(random_distance((9, 9)), 3)
    5.926
    """
    h, w = grid
    return (h * h - 1) / (3 * h) + (w * w - 1) / (3 * w)


def score(pattern: Pattern, description: str = "") -> SearchResult:
    """Check and score one pattern the way :func:`search` does.

    Parameters
    ----------
    pattern : Pattern
        A pattern with a grid.
    description : str
        A label; defaults to the pattern's name and enumeration.

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> r = score(pattern("ltr", 81, enumeration="manhattan"))
    >>> r.edges, round(r.bound_ratio, 3), r.report.full_information
    (1206, 0.827, True)
    """
    if pattern.grid is None:
        raise InvalidArgument(f"score needs a pattern on a grid; {pattern.name!r} has none")
    loc = locality(pattern)
    report = check(pattern)
    edges = int(sum(pattern.edges))
    ratio = edges / lower_bound_edges(pattern.n, pattern.num_steps)
    distance = float(np.mean([s.mean_distance for s in loc]))
    return SearchResult(
        pattern=pattern, description=description or f"{pattern.name} ({pattern.enumeration})",
        edges=edges, bound_ratio=ratio, distance=distance,
        neighbour_share=loc[0].neighbour_share,
        max_keys_per_query=int(max(report.max_keys_per_query)),
        score=ratio * distance / max(random_distance(pattern.grid), 1e-12), report=report)


# ---------------------------------------------------------------------------------------------
# the tile family


def _order_in_tile(r: np.ndarray, c: np.ndarray, kind: str, a: int, b: int) -> np.ndarray:
    """Rank of each pixel inside its ``a x b`` tile, in the given order (larger is later)."""
    dr, dc = r % a, c % b
    if kind == "rowmajor":
        return dr * b + dc
    if kind == "snake":
        return dr * b + np.where(dr % 2 == 0, dc, b - 1 - dc)
    return (dr + dc) * a + dr  # manhattan


def _carrier_step(grid: tuple[int, int], inner: tuple[int, int], outer: tuple[int, int],
                  last: np.ndarray | None = None) -> sp.csr_matrix:
    """Step where each query attends one pixel of every ``inner`` tile in its ``outer`` tile.

    ``last[tile]`` is the pixel to attend for tile ``tile`` (a causal tile's last pixel); without
    it, the pixel of the tile nearest to the query. Tiles are clipped to the grid.
    """
    h, w = grid
    (a, b), (A, B) = inner, outer
    n = h * w
    r, c = np.divmod(np.arange(n), w)
    i, j = np.divmod(np.arange((A // a) * (B // b)), B // b)  # inner tiles of an outer tile
    top = (r // A * A)[:, None] + i[None, :] * a  # (n, tiles): each inner tile's first row
    left = (c // B * B)[:, None] + j[None, :] * b
    ok = (top < h) & (left < w)
    q = np.broadcast_to(np.arange(n)[:, None], top.shape)[ok]
    top, left = top[ok], left[ok]
    if last is None:  # the nearest pixel of a rectangle: clamp the query into it
        k = (np.clip(r[q], top, np.minimum(top + a, h) - 1) * w
             + np.clip(c[q], left, np.minimum(left + b, w) - 1))
    else:
        k = last[(top // a) * -(-w // b) + left // b]
    return sp.csr_matrix((np.ones(len(q), dtype=bool), (q, k)), shape=(n, n))


def tiled(grid: tuple[int, int], sizes: Sequence[tuple[int, int]], *, step1: str = "full",
          order: str = "rowmajor", name: str | None = None) -> Pattern:
    """A tile pattern: step 1 inside tiles, then one carrier of every tile in ever larger tiles.

    Parameters
    ----------
    grid : tuple (h, w)
    sizes : sequence of (a, b)
        Tile sizes for steps 1 .. P-1, each dividing the next (the last step spans the grid), so
        the pattern has ``len(sizes) + 1`` steps.
    step1 : {"full", "causal"}
        ``full``: a query attends all of its tile; ``causal``: only the pixels before it in
        ``order`` inside the tile (then the tile's last pixel carries it).
    order : {"rowmajor", "snake", "manhattan"}
        The order inside a tile, for ``causal``.
    name : str, optional

    Returns
    -------
    Pattern
        Row-major positions on the grid; it has Full Information.

    Raises
    ------
    InvalidArgument
        For a bad grid, sizes that do not nest, or an unknown kind or order.

    Examples
    --------
    >>> p = tiled((9, 9), [(3, 3)], step1="causal")
    >>> p.edges, p.num_steps
    ([405, 729], 2)
    """
    h, w = (check_positive_int("grid height", grid[0]), check_positive_int("grid width", grid[1]))
    sizes = [(check_positive_int("tile height", a), check_positive_int("tile width", b))
             for a, b in sizes]
    if not sizes:
        raise InvalidArgument("sizes must name at least one tile size (a, b)")
    for (a, b), (A, B) in zip(sizes, sizes[1:]):
        if A % a or B % b:
            raise InvalidArgument(f"tile sizes must nest: {A}x{B} is not made of {a}x{b} tiles")
    if step1 not in ("full", "causal"):
        raise InvalidArgument(f"step1 must be 'full' or 'causal', got {step1!r}")
    if order not in TILE_ORDERS:
        raise InvalidArgument(f"unknown order inside tiles {order!r} "
                              f"(known: {', '.join(TILE_ORDERS)})")
    n = h * w
    r, c = np.divmod(np.arange(n), w)
    a, b = sizes[0]
    tiles_per_row = -(-w // b)
    tile = (r // a) * tiles_per_row + c // b
    same = tile[:, None] == tile[None, :]  # small grids only: the search works up to a few 1000s
    last = None
    if step1 == "causal":
        rank = _order_in_tile(r, c, order, a, b)
        same &= rank[None, :] <= rank[:, None]
        best = np.full(tile.max() + 1, -1, dtype=np.int64)
        np.maximum.at(best, tile, rank * n + np.arange(n))
        last = best % n
    steps = [sp.csr_matrix(same)]
    A, B = sizes[-1]
    outer_sizes = sizes[1:] + [(-(-h // A) * A, -(-w // B) * B)]  # the last step spans the grid
    for t, (inner, outer) in enumerate(zip(sizes, outer_sizes)):
        steps.append(_carrier_step((h, w), inner, outer, last if t == 0 else None))
    label = name or ("tiles " + "/".join(f"{a}x{b}" for a, b in sizes)
                     + (f" causal {order}" if step1 == "causal" else " full"))
    return Pattern(tuple(steps), grid=(h, w), name=label)


def windowed(grid: tuple[int, int], radius: int, *, max_keys_per_query: int | None = None,
             name: str | None = None) -> Pattern:
    """Two steps: the square window of a radius, then a second step completed by ``extend``.

    Parameters
    ----------
    grid : tuple (h, w)
    radius : int
        Step 1 lets a query attend the pixels within Chebyshev distance ``radius``.
    max_keys_per_query : int, optional
        The budget of the completion (at least the window's size); by default the number of
        windows that can cover the grid, or the window's size when that is larger.
    name : str, optional

    Returns
    -------
    Pattern

    Examples
    --------
    >>> from ifg.check import full_information
    >>> full_information(windowed((9, 9), 1))
    True
    """
    from ifg.extend import extend

    h, w = (check_positive_int("grid height", grid[0]), check_positive_int("grid width", grid[1]))
    radius = check_positive_int("radius", radius)
    n = h * w
    r, c = np.divmod(np.arange(n), w)
    near = ((np.abs(r[:, None] - r[None, :]) <= radius)
            & (np.abs(c[:, None] - c[None, :]) <= radius))
    side = 2 * radius + 1
    if max_keys_per_query is None:
        max_keys_per_query = max(math.ceil(n / side ** 2), side * side)
    empty = sp.csr_matrix((n, n), dtype=bool)
    base = Pattern((sp.csr_matrix(near), empty), grid=(h, w),
                   name=name or f"window r={radius} + extend {max_keys_per_query}")
    ext = extend(base, max_keys_per_query=max_keys_per_query, exact=False)
    return ext.pattern.with_steps(ext.pattern.steps, name=base.name)


# ---------------------------------------------------------------------------------------------
# the search


def _divisors(x: int) -> list[int]:
    return [d for d in range(1, x + 1) if x % d == 0]


def _sample_tiles(rng: np.random.Generator, grid: tuple[int, int],
                  steps: int) -> tuple[tuple[tuple[int, int], ...], str, str]:
    """Random nested tile sizes for ``steps - 1`` levels, a step-1 kind and an order."""
    h, w = grid
    n = h * w
    # aim the first tile at about N^(1/P) pixels, give or take a factor of 4
    target = n ** (1 / steps) * 2.0 ** rng.uniform(-2, 2)
    a = int(np.clip(round(math.sqrt(target) * 2.0 ** rng.uniform(-1, 1)), 1, h))
    b = int(np.clip(round(target / a), 1, w))
    sizes = [(a, b)]
    for _ in range(steps - 2):
        A0, B0 = sizes[-1]
        grow = n ** (1 / steps)
        u = int(np.clip(round(math.sqrt(grow) * 2.0 ** rng.uniform(-1, 1)), 1, -(-h // A0)))
        v = int(np.clip(round(grow / u), 1, -(-w // B0)))
        sizes.append((A0 * u, B0 * v))
    step1 = "causal" if rng.random() < 0.5 else "full"
    order = TILE_ORDERS[rng.integers(len(TILE_ORDERS))]
    return tuple(sizes), step1, order if step1 == "causal" else "rowmajor"


#: this many repeated candidates in a row means the family is exhausted for this grid
_EXHAUSTED = 2_000


def _named(name: str, n: int, enumeration: str, grid: tuple[int, int] | None) -> Pattern:
    from ifg.spec import pattern

    p = pattern(name, n, enumeration=enumeration, grid=grid)
    return p.with_steps(p.steps, name=f"{name} {enumeration}")


def _window_budget(rng: np.random.Generator, n: int, radius: int) -> int:
    """A budget for a window's completion: ltr's, or one or two windows' worth of coverage."""
    side = 2 * radius + 1
    cover = math.ceil(n / side ** 2)  # windows needed to cover the grid
    return max(side * side, [math.isqrt(n) + 1, cover, 2 * cover][rng.integers(3)])


def _pareto(results: Sequence[SearchResult]) -> list[SearchResult]:
    """Results that no other beats on both edges and distance, by edges."""
    front, best = [], math.inf
    for r in sorted(results, key=lambda r: (r.edges, r.distance)):
        if r.distance < best:
            front.append(r)
            best = r.distance
    return front


def search(n: int, *, steps: int = 2, seconds: float = 30.0, seed: int = 0,
           grid: tuple[int, int] | None = None,
           max_keys_per_query: int | None = None, max_candidates: int | None = None,
           top: int = 5, windows: bool = True,
           progress: Callable[[int, float, float], None] | None = None) -> Search:
    """Search for sparse patterns with Full Information that are local in 2-D.

    Parameters
    ----------
    n : int
        Number of positions; the grid is square unless given.
    steps : int
        Steps per pattern (2 or more; windows only for 2).
    seconds : float
        Time limit, a positive finite number: the search stops there, inside a candidate too
        (the candidate under way is dropped); scoring the baseline (square grids) follows.
    seed : int
        Seeds the generator: the same seed and the same number of candidates give the same
        results.
    grid : tuple (h, w), optional
    max_keys_per_query : int, optional
        Keep only patterns where no query attends more keys than this in a step.
    max_candidates : int, optional
        Stop after this many candidates (with ``seconds``, whichever comes first).
    top : int
        How many of the best results to return.
    windows : bool
        Also sample the windows family (slower: each candidate runs :func:`ifg.extend.extend`).
    progress : callable, optional
        Called after each candidate as ``progress(evaluated, seconds_elapsed, best_score)``.

    Returns
    -------
    Search

    Raises
    ------
    InvalidArgument
        For bad sizes, when N has no grid, or when its patterns would not fit in memory.

    Examples
    --------
    >>> s = search(81, seconds=10, max_candidates=12, seed=1)
    >>> all(r.report.full_information for r in s.results)
    True
    >>> s.results[0].score < s.baseline.score
    True
    """
    n = check_positive_int("n", n)
    steps = check_positive_int("steps", steps)
    if steps < 2:
        raise InvalidArgument(f"steps must be at least 2, got {steps}")
    grid = grid_of(n, grid)
    if grid is None:
        raise InvalidArgument(f"n = {n} is not a perfect square; give the grid (h, w)")
    seconds = check_seconds("seconds", seconds)  # NaN and infinity too: it is a bound
    if max_keys_per_query is not None:
        max_keys_per_query = check_positive_int("max_keys_per_query", max_keys_per_query)
    top = check_positive_int("top", top)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgument(f"seed must be a non-negative integer, got {seed!r}")
    # its candidates have about ltr's edges (windows run extend, which refuses what cannot fit)
    check_fits(f"a search over N = {n:,} positions", pattern_edges("ltr", n) * BYTES_PER_EDGE)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    seen, results = set(), []
    evaluated = repeats = 0
    best = math.inf
    # the paper's own family first: ltr and rtl under every enumeration the grid allows
    named = [("named", name, e) for name in ("ltr", "rtl") for e in enumerations()] if steps == 2 else []
    # the bound holds inside a candidate too (extend and the checks look at it between steps)
    with time_limit(seconds, f"the search over N = {n:,} positions"):
        while time.perf_counter() - t0 < seconds and repeats < _EXHAUSTED:
            if max_candidates is not None and evaluated >= max_candidates:
                break
            if named:
                key: tuple = named.pop(0)
                build: Callable[[], Pattern] = partial(_named, key[1], n, key[2], grid)
            elif windows and steps == 2 and rng.random() < 0.25:
                radius = int(rng.integers(1, max(2, min(grid) // 3) + 1))
                budget = max_keys_per_query or _window_budget(rng, n, radius)
                key = ("window", radius, budget)
                build = partial(windowed, grid, radius, max_keys_per_query=budget)
            else:
                sizes, step1, order = _sample_tiles(rng, grid, steps)
                key = ("tiles", sizes, step1, order)
                build = partial(tiled, grid, sizes, step1=step1, order=order)
            if key in seen:
                repeats += 1
                continue
            seen.add(key)
            repeats = 0
            evaluated += 1
            try:
                candidate = build()
                result = None if candidate is None else score(candidate, candidate.name)
            except InvalidArgument:  # a window whose completion misses its budget, an enumeration
                result = None        # that rejects this grid
            except OutOfTime:  # the time ran out inside this candidate: it is not counted
                evaluated -= 1
                break
            if result is not None and result.report.full_information and (
                    max_keys_per_query is None or result.max_keys_per_query <= max_keys_per_query):
                results.append(result)
                best = min(best, result.score)
            if progress is not None:
                progress(evaluated, time.perf_counter() - t0, best)
    results.sort(key=lambda r: (r.score, r.edges))
    baseline = None
    if steps == 2 and grid[0] == grid[1]:
        from ifg.spec import pattern

        baseline = score(pattern("ltr", n, enumeration="manhattan", grid=grid), "ltr with ESA")
    return Search(results[:top], _pareto(results), baseline, evaluated,
                  time.perf_counter() - t0, seed)
