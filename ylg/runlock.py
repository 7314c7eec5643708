"""A run folder belongs to one process at a time: an OS lock that dies with its holder.

Two ``ylg train`` started into the same folder, or two resumes of one run, would interleave
their logs and overwrite each other's checkpoints. :func:`run_lock` takes an exclusive
``fcntl.flock`` on ``RUN/.lock``: the kernel drops it when the process ends, however it ends
(kill -9 included), so a lock left by a dead run never blocks; the file keeps the holder's pid
so the refusal can name it. The lock follows the folder, not its spelling: a relative path,
an absolute one or a symlink to the same folder all meet the same lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ifg.errors import YLGError

__all__ = ["RunLocked", "run_lock"]

LOCK_NAME = ".lock"


class RunLocked(YLGError):
    """Another live process holds the run folder."""


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold ``run_dir`` for this process while the block runs (the folder is created).

    Parameters
    ----------
    run_dir : str or os.PathLike

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    RunLocked
        When another live process holds the folder; the message names its pid.

    Examples
    --------
    >>> import tempfile
    >>> with run_lock(tempfile.mkdtemp()) as lock:
    ...     lock.name
    '.lock'
    """
    import fcntl  # POSIX only; imported here so that the module imports everywhere

    run_dir = Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    failed = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise RunLocked(f"{str(run_dir)!r} is in use by another run (pid {holder}); wait "
                            "for it to end, or use another folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        except BaseException:
            failed = True
            raise
    finally:
        os.close(fd)  # releases the lock
        if failed and created and os.listdir(run_dir) == [LOCK_NAME]:
            path.unlink(missing_ok=True)  # a refused run leaves nothing behind
            run_dir.rmdir()
