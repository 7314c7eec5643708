"""Where and how a job runs: the device, the process group, seeds, threads and atomic writes.

Every command that touches a model (train, sample, walk, evaluate, invert, attention-map) picks
its device with :func:`resolve_device`; training joins the process group with
:func:`distributed` and derives all its random streams from :func:`seed_of`. Files that a
reader may see while they are written (checkpoints, caches, logs of record) are written with
:func:`atomic_write` (from :mod:`ifg.files`, re-exported here): a temporary file in the same
folder, renamed over the old one.
"""

from __future__ import annotations

import hashlib
import os

import torch

from ifg.errors import InvalidArgument
from ifg.files import atomic_write  # torch-free, so that ifg writes its mask files with it too

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


def distributed(device: torch.device) -> tuple[int, int, int]:
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


def seed_of(*parts: object) -> int:
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
