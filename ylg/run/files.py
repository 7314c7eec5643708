"""A run folder's own files, which may come from someone else: never written through a link,
and its log read bounded in size and depth, typed, from a regular file only.

A run folder handed over by a stranger (``ylg train --resume --out RUN``, ``ylg plot RUN``) may
hold links where its files should be (``RUN/log.jsonl -> ~/.bashrc``) or a FIFO, a device or a
huge file as its log. :func:`refuse_links` refuses a folder whose files are links, in one line;
:func:`append_line` never follows one; :func:`read_records` is the one reader of ``log.jsonl``.
"""

from __future__ import annotations

import json
import math
import errno
import os
import stat
from pathlib import Path
from typing import Any

from ifg.errors import YLGError

__all__ = ["RUN_FILES", "MAX_LOG_BYTES", "MAX_STEP", "refuse_links", "read_regular", "why_not_a_file",
           "append_line", "read_records"]

#: what ``ylg train`` writes into a run folder (``samples`` and ``tensorboard`` are folders)
RUN_FILES = (".lock", "log.jsonl", "config.json", "curves.png", "checkpoint.pt", "samples",
             "tensorboard")

#: the largest ``log.jsonl`` read (about 400,000 lines: a million steps logged every 3)
MAX_LOG_BYTES = 64 * 2**20

#: the largest step a log line may name (a float holds it exactly; matplotlib draws it)
MAX_STEP = 2**53

#: the longest text value kept from a log line
_MAX_TEXT = 1000


def refuse_links(run_dir: str | os.PathLike[str]) -> None:
    """Refuse a run folder whose files (:data:`RUN_FILES`) are symbolic links, in one line.

    The folder itself may be a link (it is the user's to name); its files are written by the
    run and a link among them would send those writes outside it.

    Examples
    --------
    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> (run / "log.jsonl").symlink_to("/etc/hostname")
    >>> refuse_links(run)
    Traceback (most recent call last):
    ...
    ifg.errors.YLGError: ...log.jsonl' is a symbolic link: a run folder's files must be its own ...
    """
    for name in RUN_FILES:
        path = Path(run_dir) / name
        if path.is_symlink():
            raise YLGError(f"{str(path)!r} is a symbolic link: a run folder's files must be its "
                           "own (remove the link, or use another folder)")


def read_regular(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of ``path``, a regular file (not a link, FIFO or device) of at most ``limit``
    bytes; opened without blocking or following a link, its size checked on the descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as err:
        if err.errno == errno.ELOOP:  # a link
            raise YLGError(f"{what} {str(path)!r} is a symbolic link; it must be a regular "
                           "file") from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise YLGError(f"{what} {str(path)!r} is not a regular file (a FIFO, device or "
                           "folder)")
        if st.st_size > limit:
            raise YLGError(f"{what} {str(path)!r} is {st.st_size:,} bytes, more than the "
                           f"{limit:,} bytes read")
        data = f.read(limit + 1)
    if len(data) > limit:  # grew while read
        raise YLGError(f"{what} {str(path)!r} is more than the {limit:,} bytes read")
    return data


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append ``line`` and a newline to ``path`` (created if missing), never through a link."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
                 0o644)
    try:
        with os.fdopen(fd, "a") as f:
            f.write(line + "\n")
    except OSError as err:  # a full disk names no file: name the log
        if err.filename is None:
            err.filename = os.fspath(path)
        raise


def _scalar(value: Any) -> bool:
    """Whether a log value is one a reader may use: null, a flag, short text, a number that a
    float holds (finite)."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) <= MAX_STEP
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= _MAX_TEXT


def _record(line: bytes) -> dict[str, Any] | None:
    """A log line as a typed record, or None for a line no run writes (torn, binary, too deep,
    not an object, no integer step)."""
    try:
        value = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(value, dict):
        return None
    step = value.get("step")
    if type(step) is not int or not 0 <= step <= MAX_STEP:
        return None
    record: dict[str, Any] = {}
    for key, v in value.items():
        if key == "eval" and isinstance(v, dict):
            record[key] = {k: x for k, x in v.items() if _scalar(x)}
        elif _scalar(v):
            record[key] = v
    return record


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    r"""The records of a run's ``log.jsonl``: each a dict with an integer ``step`` in
    [0, 2**53]; its values null, flags, short text, finite numbers, and ``eval`` a dict of
    those. A line that is none of that (torn by a kill, binary, nested too deep, a list) is
    skipped; what cannot be one is dropped from its record.

    Raises
    ------
    YLGError
        When the log is a link, not a regular file, or larger than :data:`MAX_LOG_BYTES`.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = p.write_text('{"step": 1, "loss_d": 2.0, "x": [1]}\n[1]\n{"step": "2"}\n{"step": 3')
    >>> read_records(p)
    [{'step': 1, 'loss_d': 2.0}]
    """
    data = read_regular(path, MAX_LOG_BYTES, "the log")
    return [r for r in map(_record, data.split(b"\n")) if r is not None]


def why_not_a_file(path: str | os.PathLike[str]) -> str:
    """Why ``path``, which is not a regular file, cannot be read as one: it does not exist, or
    it is something else (a folder, a FIFO, a device, a socket).

    >>> why_not_a_file("/no/such/file"), why_not_a_file("/dev/null")
    ('does not exist', 'is not a regular file (a device)')
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "does not exist"
    kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a file")
    return f"is not a regular file ({kind})"
