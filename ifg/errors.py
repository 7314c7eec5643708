"""The toolkit's one exception hierarchy.

Every error the libraries raise for bad input derives from :class:`YLGError`; the CLI maps it to
one line on stderr and exit code 2.
"""

__all__ = ["YLGError", "InvalidArgument", "MaskFileError"]


class YLGError(Exception):
    """Base class of every error the toolkit raises for bad input."""


class InvalidArgument(YLGError, ValueError):
    """An argument has a value the function cannot accept; the message names both."""


class MaskFileError(YLGError):
    """A mask file is unreadable or invalid; the message names the field."""


def check_positive_int(name, value):
    """Return ``value`` as an int, or raise :class:`InvalidArgument` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not hasattr(value, "__index__"):
        raise InvalidArgument(f"{name} must be a positive integer, got {value!r}")
    value = int(value)
    if value <= 0:
        raise InvalidArgument(f"{name} must be a positive integer, got {value}")
    return value
