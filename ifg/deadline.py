"""Time bounds that long computations check from inside (``search --seconds``, ``extend``).

:func:`time_limit` sets a deadline for the block (the earlier of an enclosing one and its
own); :func:`check_time` raises :class:`OutOfTime` once it has passed. The loops of
:func:`ifg.extend.extend` and :func:`ifg.search.search` call it between their steps, so a
bound holds within one step (about a second at N = 4,096), not one whole candidate.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from collections.abc import Iterator

from ifg.errors import YLGError

__all__ = ["OutOfTime", "time_limit", "check_time", "check_seconds", "remaining"]


class OutOfTime(YLGError):
    """A computation ran past its time limit; the message names what and the limit."""


_deadline: contextvars.ContextVar[tuple[float, str] | None] = contextvars.ContextVar(
    "ifg_deadline", default=None)


def check_seconds(name: str, seconds: object) -> float:
    """``seconds`` as a positive finite float, or :class:`~ifg.errors.InvalidArgument` naming
    ``name`` (NaN, infinity, zero, a negative number or not a number).

    >>> check_seconds("seconds", 2)
    2.0
    """
    from ifg.errors import InvalidArgument

    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not math.isfinite(seconds) or seconds <= 0:
        raise InvalidArgument(f"{name} must be a positive number of seconds, got {seconds!r}")
    return float(seconds)


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Bound the block to ``seconds`` (None: only an enclosing bound); ``what`` and the limit
    are named by :class:`OutOfTime`.

    >>> with time_limit(60, "a quick thing"):
    ...     check_time()
    """
    if seconds is None:
        yield
        return
    end = time.monotonic() + seconds
    outer = _deadline.get()
    if outer is not None and outer[0] <= end:
        yield
        return
    token = _deadline.set((end, f"{what} ran past its limit of {seconds:g} s"))
    try:
        yield
    finally:
        _deadline.reset(token)


def check_time() -> None:
    """Raise :class:`OutOfTime` when the innermost deadline has passed."""
    limit = _deadline.get()
    if limit is not None and time.monotonic() > limit[0]:
        raise OutOfTime(limit[1])


def remaining() -> float:
    """Seconds left before the innermost deadline (infinity without one)."""
    limit = _deadline.get()
    return math.inf if limit is None else max(0.0, limit[0] - time.monotonic())
