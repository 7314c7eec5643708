"""How long a slow job will take, in words a user reads at a glance (seconds or minutes)."""

from __future__ import annotations

__all__ = ["duration"]


def duration(seconds: float) -> str:
    """``"45 s"`` below a minute and a half, else whole minutes (``"8 min"``).

    Examples
    --------
    >>> duration(45.2), duration(89), duration(502)
    ('45 s', '89 s', '8 min')
    """
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
