"""Where and how a job runs: the device, the process group, seeds, threads and atomic writes.

Every command that touches a model (train, sample, walk, evaluate, invert, attention-map) picks
its device with :func:`resolve_device`; training joins the process group with
:func:`distributed` and derives all its random streams from :func:`seed_of`. Files that a
reader may see while they are written (checkpoints, caches, logs of record) are written with
:func:`atomic_write`: a temporary file in the same folder, renamed over the old one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Callable

import torch

from ifg.errors import InvalidArgument

__all__ = ["resolve_device", "distributed", "seed_of", "set_threads", "atomic_write"]


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N`` as a checked device.

    Parameters
    ----------
    name : str
    local_rank : int
        The CUDA device a bare ``cuda`` means (the process's rank on its machine).

    Returns
    -------
    torch.device

    Raises
    ------
    InvalidArgument
        For an unknown name, or CUDA asked for where there is none.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InvalidArgument(f"device must be auto, cpu, cuda or cuda:N, got {name!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidArgument(f"device {name!r} asked for, but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def distributed(device: torch.device) -> tuple:
    """Join the process group when launched by torchrun (``nccl`` on GPUs, ``gloo`` on CPU).

    Returns
    -------
    (int, int, int)
        This process's rank, the number of processes and its local rank; ``(0, 1, 0)`` when
        not launched by torchrun.

    Examples
    --------
    >>> distributed(torch.device("cpu"))  # a plain process
    (0, 1, 0)
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def seed_of(*parts) -> int:
    """A non-negative int64 seed that is a hash of ``parts`` (e.g. ``(seed, "step", t, rank)``).

    Each random stream of a run gets its own seed this way, so that a stream depends only on
    its name and numbers, never on what was drawn before it.

    Examples
    --------
    >>> seed_of(0, "init") == seed_of(0, "init"), seed_of(0, "init") == seed_of(1, "init")
    (True, False)
    """
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in torch (None: leave torch's choice).

    Examples
    --------
    >>> before = torch.get_num_threads(); set_threads(1); torch.get_num_threads()
    1
    >>> set_threads(before)
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0:
            raise InvalidArgument(f"threads must be a positive integer, got {threads!r}")
        torch.set_num_threads(threads)


def atomic_write(path, data: bytes | str | Callable, *, durable: bool = False) -> Path:
    """Write a file so that a reader sees the old file or the new one, never half of one.

    The content goes to a temporary file in the same folder (``.NAME.tmp-PID``), which is then
    renamed over ``path``; a process killed at any moment leaves at most that temporary file.

    Parameters
    ----------
    path : str or os.PathLike
        The folder is created if needed.
    data : bytes, str or callable
        The content (a str is written as UTF-8), or a function called with the open binary
        file that writes the content (``lambda f: torch.save(state, f)``).
    durable : bool
        Also ``fsync`` the file and its folder, so that the new file survives a power loss
        (checkpoints).

    Returns
    -------
    Path

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        with contextlib.suppress(OSError):  # make the rename itself durable
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    return path
