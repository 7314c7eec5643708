"""Files written so that a reader never sees half of one, and strict JSON (used by ifg, ylg,
the CLI and experiments)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["atomic_write", "finite", "dumps_strict"]


def atomic_write(path: str | os.PathLike[str], data: bytes | str | Callable[[BinaryIO], object],
                 *, durable: bool = False, mkdir: bool = True) -> Path:
    """Write a file so that a reader sees the old file or the new one, never half of one.

    The content goes to a temporary file in the same folder (``.NAME.tmp-PID-*``), which is then
    renamed over ``path``; a process killed at any moment leaves at most that temporary file.

    Parameters
    ----------
    path : str or os.PathLike
    data : bytes, str or callable
        The content (a str is written as UTF-8), or a function called with the open binary
        file that writes the content (``lambda f: torch.save(state, f)``).
    durable : bool
        Also ``fsync`` the file and its folder, so that the new file survives a power loss
        (checkpoints).
    mkdir : bool
        Create the folder if needed (else a missing folder is an error).

    Returns
    -------
    Path

    Raises
    ------
    OSError
        When the file cannot be written; the error names ``path``, not the temporary file.

    Examples
    --------
    >>> import tempfile
    >>> p = atomic_write(Path(tempfile.mkdtemp()) / "a" / "x.txt", "hello")
    >>> p.read_text(), sorted(q.name for q in p.parent.iterdir())
    ('hello', ['x.txt'])
    >>> atomic_write(p, lambda f: f.write(b"bye")).read_text()
    'bye'
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name beside the target: the same file system for the rename
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "xb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX
    except OSError as e:
        if e.filename is None or os.fspath(e.filename) == os.fspath(tmp):
            e.filename = str(path)  # the user knows the target, not the temporary name (a
        raise                       # failed write, a full disk, names no file at all)
    finally:
        with contextlib.suppress(OSError):  # nothing to remove, or no folder to remove it from
            tmp.unlink()
    if durable:
        with contextlib.suppress(OSError):  # make the rename itself durable
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    return path


def finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (strict JSON has no NaN).

    >>> finite({"a": float("nan"), "b": [1.5, float("inf")]})
    {'a': None, 'b': [1.5, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps_strict(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes NaN or Infinity (a non-finite float becomes null).

    >>> dumps_strict({"fid": float("nan"), "step": 3})
    '{"fid": null, "step": 3}'
    """
    return json.dumps(finite(value), allow_nan=False, **kwargs)
