"""A run folder belongs to one process at a time: an OS lock that dies with its holder.

Two ``ylg train`` started into the same folder, or two resumes of one run, would interleave
their logs and overwrite each other's checkpoints. :func:`run_lock` takes an exclusive
``fcntl.flock`` on ``RUN/.lock``: the kernel drops it when the process ends, however it ends
(kill -9 included), so a lock left by a dead run never blocks; the file keeps the holder's pid
so the refusal can name it. The lock follows the folder, not its spelling: a relative path,
an absolute one or a symlink to the same folder all meet the same lock. A run that fails
removes the lock file if it made it, and the folder if it made it and nothing else is there;
a run that ends well removes the lock file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
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

    If the block raises, the folder is left as this call found it: the lock file is removed if
    this call made it, and the folder if this call made it and nothing else is in it. If the
    block ends well, the lock file is removed.

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
    from ylg.run.files import refuse_links

    refuse_links(run_dir)  # a link among the run's files would send its writes outside it
    path = run_dir / LOCK_NAME
    while True:
        fd, made = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunLocked(f"{str(run_dir)!r} is in use by another run (pid {holder}); wait "
                            "for it to end, or use another folder") from None
        if _names(path, fd):
            break
        os.close(fd)  # a refused run removed the file after we opened it: open it again
    failed = False
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        except BaseException:
            failed = True
            raise
    finally:
        # a refused run leaves the folder as it found it, a finished one leaves no lock file
        if made or not failed:
            path.unlink(missing_ok=True)  # while holding the lock: see _names
        os.close(fd)  # releases the lock
        if failed and created and not any(run_dir.iterdir()):
            run_dir.rmdir()


def _open(path: Path) -> tuple[int, bool]:
    """A descriptor of the lock file, and whether this call created it."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)  # a link put there is refused, never written
    while True:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | nofollow, 0o644), True
        except FileExistsError:
            pass
        try:
            fd = os.open(path, os.O_RDWR | nofollow | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:  # removed in between: create it
            continue
        except OSError as err:
            if err.errno == errno.ELOOP:  # a symbolic link
                raise YLGError(f"{str(path)!r} is a symbolic link: a run folder's files must "
                               "be its own (remove the link, or use another folder)") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise YLGError(f"{str(path)!r} is not a regular file (a FIFO, device or folder); "
                           "remove it, or use another folder")
        return fd, False


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file ``fd`` locks: a run that removed its lock file
    did so holding the lock, so a process that locked the removed file must open it again
    (else two processes would each hold a lock, on two different files)."""
    try:
        now, held = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)
