"""Where and how a job runs: the device, the process group, seeds, threads and atomic writes.

Every command that touches a model runs with the CPU threads of :func:`apply_threads`
(``ylg --threads``, ``$YLG_THREADS``); every command that touches a model (train, sample, walk, evaluate, invert, attention-map) picks
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

__all__ = ["resolve_device", "distributed", "seed_of", "set_threads", "choose_threads",
           "apply_threads", "THREADS_ENV", "atomic_write"]

#: the environment variable that sets ``ylg``'s CPU threads (as ``ylg --threads`` does)
THREADS_ENV = "YLG_THREADS"


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


def choose_threads(value: str | int | None = "auto", *, cpus: int | None = None,
                   load: float | None = None, default: int | None = None) -> int:
    """The torch CPU threads a job should use: ``value`` itself, or the ``auto`` rule.

    ``auto`` (also None or empty) takes torch's thread count (in a fresh process its default:
    one thread per CPU, or ``$OMP_NUM_THREADS``) less the CPUs the machine's 1-minute load
    average says are busy, and at least one: on an idle machine torch's own choice, beside other work one thread. Measured on a
    2-CPU machine (``benchmarks/bench_threads.py``, docs/benchmarks.md): beside one other
    2-thread process, torch's default of 2 threads made a training step 6x and an inversion
    step 12x slower than 1 thread (its threads wait on a descheduled peer at every parallel
    region); with the machine to itself, 2 threads were up to 1.6x faster.

    Parameters
    ----------
    value : str, int or None
        A positive integer (or its text), or ``auto``.
    cpus, load, default : optional
        The CPUs this process may use, the 1-minute load average and torch's default thread
        count (default: read from the machine; given in tests).

    Raises
    ------
    InvalidArgument
        For anything but a positive integer or ``auto``.

    Examples
    --------
    >>> choose_threads("3"), choose_threads(2)
    (3, 2)
    >>> choose_threads("auto", cpus=16, load=0.1, default=16)
    16
    >>> choose_threads("auto", cpus=16, load=3.6, default=16)
    12
    >>> choose_threads("auto", cpus=2, load=1.0, default=2)
    1
    >>> choose_threads("0")
    Traceback (most recent call last):
    ...
    ifg.errors.InvalidArgument: threads must be a positive integer or auto, got '0'
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        if cpus is None:
            cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
                else os.cpu_count() or 1
        if load is None:
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        default = torch.get_num_threads() if default is None else default
        return max(1, min(default, cpus - round(load)))
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = 0
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        number = 0
    if number <= 0:
        raise InvalidArgument(f"threads must be a positive integer or auto, got {value!r}")
    if number > MAX_THREADS:  # torch's count is a C int; no machine has more
        raise InvalidArgument(f"threads must be at most {MAX_THREADS:,} (or auto), got "
                              f"{value!r}")
    return number


#: the most threads a command may ask for
MAX_THREADS = 4096


def apply_threads(value: str | int | None = "auto") -> int:
    """Set torch's CPU threads from ``value`` (see :func:`choose_threads`); the count set.

    Also sets the inter-op threads where torch still allows it (only before its first parallel
    work; later calls keep the count torch has).

    Examples
    --------
    >>> before = torch.get_num_threads(); apply_threads("1")
    1
    >>> torch.get_num_threads()
    1
    >>> set_threads(before)
    """
    threads = choose_threads(value)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # "cannot set ... after parallel work has started": keep torch's
        pass
    return threads
