"""The toolkit's one exception hierarchy.

Every error the libraries raise for bad input derives from :class:`YLGError`; the CLI maps it to
one line on stderr and exit code 2.
"""

from __future__ import annotations

from typing import Collection, SupportsIndex, cast

__all__ = ["YLGError", "InvalidArgument", "MaskFileError", "check_positive_int", "check_known"]


class YLGError(Exception):
    """Base class of every error the toolkit raises for bad input."""


class InvalidArgument(YLGError, ValueError):
    """An argument has a value the function cannot accept; the message names both."""


class MaskFileError(YLGError):
    """A mask file is unreadable or invalid; the message names the field."""


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int, or raise :class:`InvalidArgument` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not hasattr(value, "__index__"):
        raise InvalidArgument(f"{name} must be a positive integer, got {value!r}")
    value = int(cast(SupportsIndex, value))
    if value <= 0:
        raise InvalidArgument(f"{name} must be a positive integer, got {value}")
    return value


def check_known(what: str, name: str, known: Collection[str]) -> str:
    """Return ``name`` if it is one of ``known``; else raise :class:`InvalidArgument` that lists
    the known names and suggests the close ones.

    Examples
    --------
    >>> check_known("pattern", "ltr", ("ltr", "rtl"))
    'ltr'
    """
    if name in known:
        return name
    import difflib

    close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InvalidArgument(f"unknown {what} {name!r} (known: {', '.join(known)}){hint}")
