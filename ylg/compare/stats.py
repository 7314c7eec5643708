"""Paired statistics over seeds: intervals, paired differences, p-values, seeds needed."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

__all__ = ["holm", "interval", "paired", "seeds_needed"]


def interval(values: npt.ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval.

    Returns ``(mean, half_width)``; the half-width is NaN for fewer than two values.

    Examples
    --------
    >>> m, h = interval([1.0, 2.0, 3.0])
    >>> m, round(h, 3)
    (2.0, 2.484)
    """
    from scipy.stats import t

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()) if len(x) else math.nan, math.nan
    half = t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def seeds_needed(differences: npt.ArrayLike, *, alpha: float = 0.05, power: float = 0.8,
                 limit: int = 10_000) -> int | None:
    """Paired seeds a two-sided t-test needs to resolve the measured mean difference.

    From the measured mean and spread of the per-seed differences: the smallest n with
    ``t(1 - alpha/2, n-1) + t(power, n-1) <= sqrt(n) |mean| / sd``. None when the mean is 0 or
    more than ``limit`` seeds would be needed.

    Examples
    --------
    >>> seeds_needed([0.1, 0.3, 0.2, -0.1])
    17
    >>> seeds_needed([1.0, 1.0, 1.0]) # no spread: two seeds tell it
    2
    """
    from scipy.stats import t

    d = np.asarray(differences, dtype=float)
    mean, sd = abs(d.mean()), d.std(ddof=1) if len(d) > 1 else math.nan
    if mean == 0 or not np.isfinite(sd):
        return None
    if sd == 0:
        return 2
    effect = mean / sd
    for n in range(2, limit + 1):
        if t.ppf(1 - alpha / 2, n - 1) + t.ppf(power, n - 1) <= math.sqrt(n) * effect:
            return n
    return None


def paired(a: npt.ArrayLike, b: npt.ArrayLike, *, alpha: float = 0.05
           ) -> dict[str, float | int | None]:
    """Paired comparison of ``b`` against ``a`` (same seeds, same order): ``b - a``.

    Returns
    -------
    dict
        ``difference`` (mean), ``interval`` (95 % half-width), ``p`` (paired t-test, two-sided;
        1.0 when every difference is 0, 0.0 when all are equal and not 0) and ``seeds_needed``
        (to resolve the difference at level ``alpha``).

    Examples
    --------
    >>> r = paired([1.0, 2.0, 3.0], [1.5, 2.4, 3.6])
    >>> round(r["difference"], 3), r["p"] < 0.05
    (0.5, True)
    """
    from scipy.stats import ttest_rel

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = b - a
    mean, half = interval(d)
    if len(d) < 2:
        p = math.nan
    elif np.all(d == d[0]):
        p = 1.0 if d[0] == 0 else 0.0
    else:
        p = float(ttest_rel(b, a).pvalue)
    return {"difference": mean, "interval": half, "p": p,
            "seeds_needed": seeds_needed(d, alpha=alpha)}


def holm(pvalues: Iterable[float | None]) -> list[float]:
    """Holm's step-down adjustment of p-values for several comparisons made at once.

    The k-th smallest of m p-values is multiplied by ``m - k + 1``; the adjusted values are made
    non-decreasing in that order and capped at 1. A comparison is resolved at level alpha when
    its adjusted p is below alpha, which keeps the chance of any false resolution below alpha.
    NaN (and None) stay NaN and do not count among the m.

    Examples
    --------
    >>> [round(p, 3) for p in holm([0.039, 0.018, 0.004, 0.077])]
    [0.078, 0.054, 0.016, 0.078]
    >>> holm([0.01])
    [0.01]
    """
    ps = [math.nan if p is None else float(p) for p in pvalues]
    order = sorted((p, i) for i, p in enumerate(ps) if not math.isnan(p))
    m, out, running = len(order), [math.nan] * len(ps), 0.0
    for k, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - k) * p))
        out[i] = running
    return out
