"""2-D locality of each step of a pattern on its grid.

Two numbers per step, both over the queries that attend at least one key:

- ``mean_distance``: the mean grid (Manhattan) distance ``|dr| + |dc|`` between a query and the
  keys it attends (averaged per query, then over queries);
- ``neighbour_share``: the share of a query's 4-neighbours on the grid that it attends (per
  query, then averaged; 2 to 4 neighbours depending on where the query sits).

What they show for the paper's ``ltr`` on a 16 x 16 grid (``docs/design.md`` has the table):
ESA brings the second step closer to the query (mean distance 12.08 row-major, 9.51 with ESA),
because the block ends it attends spread over the grid instead of lining its last column. The
first step, a run of 16 consecutive indices, is a row segment without ESA and an anti-diagonal
segment with it; by these two measures the anti-diagonal is not closer (3.75 -> 5.70, and 25% ->
17% of 4-neighbours), since consecutive pixels of an anti-diagonal are diagonal neighbours, two
steps apart. A Hilbert curve does make the first step local (1.93, 40%): its runs of 16 are
4 x 4 squares.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from ifg.errors import InvalidArgument
from ifg.pattern import Pattern

__all__ = ["StepLocality", "locality"]


@dataclass(frozen=True)
class StepLocality:
    """The locality of one step.

    Attributes
    ----------
    step : int
        1-based.
    mean_distance : float
        Mean Manhattan distance between a query and the keys it attends.
    neighbour_share : float
        Mean share of each query's 4-neighbours that it attends (NaN on a 1 x 1 grid).
    max_distance : int
        The largest distance between a query and a key it attends.
    """

    step: int
    mean_distance: float
    neighbour_share: float
    max_distance: int

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)

    def __str__(self) -> str:
        return (f"step {self.step}: mean distance {self.mean_distance:.2f}, "
                f"{100 * self.neighbour_share:.0f}% of 4-neighbours attended, "
                f"max distance {self.max_distance}")


def _step_locality(step: sp.csr_matrix, h: int, w: int) -> tuple[float, float, int]:
    """(mean distance, neighbour share, max distance) of one CSR step on an h x w grid."""
    n = h * w
    counts = np.diff(step.indptr)
    q = np.repeat(np.arange(n), counts)
    k = step.indices
    qr, qc = np.divmod(q, w)
    kr, kc = np.divmod(k, w)
    d = np.abs(qr - kr) + np.abs(qc - kc)
    has = counts > 0
    per_query = np.bincount(q, weights=d, minlength=n)[has] / counts[has]
    mean = float(per_query.mean()) if has.any() else float("nan")
    r, c = np.divmod(np.arange(n), w)
    neighbours = (r > 0).astype(int) + (r < h - 1) + (c > 0) + (c < w - 1)
    attended = np.bincount(q[d == 1], minlength=n)
    ok = has & (neighbours > 0)
    share = float((attended[ok] / neighbours[ok]).mean()) if ok.any() else float("nan")
    return mean, share, int(d.max()) if len(d) else 0


def locality(pattern: Pattern) -> list:
    """The 2-D locality of each step of a pattern, on the pattern's grid.

    Parameters
    ----------
    pattern : Pattern
        A pattern with a grid; positions are row-major on it.

    Returns
    -------
    list of StepLocality
        One per step.

    Raises
    ------
    InvalidArgument
        When the pattern has no grid.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> [round(s.mean_distance, 2) for s in locality(pattern("ltr", 256))]
    [3.75, 12.08]
    >>> [round(s.mean_distance, 2) for s in locality(pattern("ltr", 256, enumeration="manhattan"))]
    [5.7, 9.51]
    >>> print(locality(pattern("ltr", 256))[0])
    step 1: mean distance 3.75, 25% of 4-neighbours attended, max distance 15
    """
    if not isinstance(pattern, Pattern):
        raise InvalidArgument(f"pattern must be an ifg.Pattern, got {type(pattern).__name__}")
    if pattern.grid is None:
        raise InvalidArgument(
            f"locality needs a 2-D grid, but pattern {pattern.name!r} over n = {pattern.n} "
            "positions has none; build it with a grid (h, w)")
    h, w = pattern.grid
    return [StepLocality(t + 1, *_step_locality(sp.csr_matrix(s), h, w))
            for t, s in enumerate(pattern.steps)]
